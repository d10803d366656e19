"""What Nuitka's compilation report says about how the artifact was built.

Reads `ctx.artifact.report_xml` (the `--report` XML found beside the dist) once, through
hardnut.nuitka.report_xml, cached in ctx.cache under "nuitka_report"; `get_report(ctx)` gives it to
other checks. Without a report only HN-BUILD-011 (info) is reported.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Iterable, Optional

from hardnut.checks.base import CheckContext, rule_finding
from hardnut.model import Finding, Rule, Severity
from hardnut.nuitka.report_xml import Module, NuitkaReport, ReportError, parse_report

NOT_FOUND = Rule(
    "HN-BUILD-001", "import not found at build time", "build", Severity.MEDIUM,
    "The program's own code imports a module Nuitka could not find, so it is not in the artifact: the "
    "import fails at run time unless it is guarded. Imports from third-party packages are reported at "
    "low; not at all when the package guards them with try/except ImportError (read from its source when "
    "that is on this machine, as at build time), when they are the fallback of a module in the build, "
    "or when the module is for another platform than the one "
    "built for (psutil._psutil_windows on Linux). A guarded import in the program's own code is info, and so "
    "is a fallback whose first choice is in the build (`try: import tomllib` / `except ImportError: import "
    "tomli`). "
    "The standard library's imports are not reported, nor 'from x import name' where name is an "
    "attribute of an included module.",
)
EXCLUDED = Rule(
    "HN-BUILD-002", "imported module excluded from the build", "build", Severity.MEDIUM,
    "A module the program's own code imports was excluded from the build (--nofollow-import-to, or an "
    "anti-bloat rule). The import raises ImportError at run time unless guarded; check the exclusion is "
    "intended. Third-party importers are reported at low.",
)
ONEFILE_SHARED = Rule(
    "HN-BUILD-003", "onefile unpacks to a shared, predictable folder", "build", Severity.HIGH,
    "The onefile binary unpacks its payload into a shared, world-writable location ({TEMP}, /tmp, "
    "/var/tmp, /dev/shm, C:\\Windows\\Temp) under a name another local user can predict. The bootstrap "
    "reuses a folder that already exists, so an attacker can plant DLLs, extension modules or replace "
    "files there before the program starts (high for a fixed name or cached mode; medium when only "
    "{PID}/{TIME} vary). Use the default '{TEMP}/onefile_{PID}_{TIME_US}_{RANDOM}' or a per-user "
    "{CACHE_DIR} location.",
    ("https://nuitka.net/doc/user-manual.html#onefile-finding-files",),
)
ONEFILE_FIXED = Rule(
    "HN-BUILD-004", "onefile unpack folder is fixed", "build", Severity.LOW,
    "The onefile unpack folder is not per-run: an absolute fixed path shared by all users (medium), a "
    "folder beside the executable (low, needs write access there), or a per-user cache folder in cached "
    "mode (info: files persist and are reused when their CRC32 matches).",
)
UAC = Rule(
    "HN-BUILD-005", "Windows UAC elevation requested", "build", Severity.MEDIUM,
    "The build asked for a UAC manifest with administrator rights (--windows-uac-admin) or UI access "
    "(--windows-uac-uiaccess). Every start then runs elevated or bypasses UI isolation, which turns any "
    "flaw in the program or its unpack folder into a privilege escalation.",
)
NOT_DEPLOYMENT = Rule(
    "HN-BUILD-006", "not a deployment build", "build", Severity.LOW,
    "The build did not use --deployment, so it keeps Nuitka's development helpers (e.g. self-execution "
    "and '-c' checks with hints for developers). Build releases with --deployment; partial opt-outs via "
    "--no-deployment-flag are listed at info.",
)
DOWNLOADS = Rule(
    "HN-BUILD-007", "tool downloads allowed during the build", "build", Severity.LOW,
    "The build ran with --assume-yes-for-downloads: Nuitka may fetch tools (compilers, ccache, "
    "dependency walkers...) from the internet without asking. Provision and pin build tools instead so "
    "the build is reproducible and its supply chain reviewed.",
)
COMPILER_FLAGS = Rule(
    "HN-BUILD-008", "hardening flags in the compiler settings", "build", Severity.LOW,
    "Which hardening flags reached the C compiler and linker according to the report (CFLAGS/LDFLAGS as "
    "Nuitka's scons saw them): stack protector, _FORTIFY_SOURCE, -z relro and -z now. Missing ones are "
    "low (the toolchain's defaults may still apply; the HN-ELF checks verify the binary itself); all "
    "present is info.",
)
INCOMPLETE = Rule(
    "HN-BUILD-009", "report of an incomplete build", "build", Severity.MEDIUM,
    "The report says the compilation did not complete (error exit, exception, interrupted). The artifact "
    "beside it may be stale or partial, and the report's facts may not describe it.",
)
BAD_REPORT = Rule(
    "HN-BUILD-010", "unreadable Nuitka report", "build", Severity.MEDIUM,
    "The Nuitka report XML beside the artifact could not be read: malformed, too large, not a Nuitka "
    "report, or using DTD/entity features (refused). Build facts could not be checked.",
)
NO_REPORT = Rule(
    "HN-BUILD-011", "no Nuitka report", "build", Severity.INFO,
    "No Nuitka --report XML was found beside the artifact (hardnut looks for '*.report.xml' in the "
    "target folder and its parent), so the build checks did not run. Build with --report to enable them.",
)
PACKAGE_DATA = Rule(
    "HN-BUILD-012", "package files read at run time are not bundled", "build", Severity.MEDIUM,
    "Code in the artifact opens files of a bundled package with importlib.resources.files(PACKAGE) (Nuitka's "
    "report records each such call with a constant name), but the artifact holds no data file in that "
    "package's folder: the program fails when it opens one. Example: certifi's cacert.pem left out, and "
    "requests can verify no HTTPS server. Include the files (build.extra_args "
    "'--include-package-data=PACKAGE', or app.include_data) and check that app.exclude_data does not drop "
    "them. Reported at low when the standard library makes the call (zoneinfo's fallback to the tzdata "
    "package, used only without a system time zone database).",
)

RULES = [NOT_FOUND, EXCLUDED, ONEFILE_SHARED, ONEFILE_FIXED, UAC, NOT_DEPLOYMENT, DOWNLOADS, COMPILER_FLAGS,
         INCOMPLETE, BAD_REPORT, NO_REPORT, PACKAGE_DATA]

CACHE_KEY = "nuitka_report"
_SHARED_PREFIXES = ("{TEMP}", "/tmp/", "/var/tmp/", "/dev/shm/", "/private/tmp/")
_SHARED_WINDOWS = re.compile(r"^[A-Za-z]:[\\/](windows[\\/]temp|temp|tmp)[\\/]|^%(temp|tmp)%", re.IGNORECASE)
_PER_RUN = ("{PID}", "{TIME}", "{TIME_US}", "{RANDOM}")


def get_report(ctx: CheckContext) -> Optional[NuitkaReport]:
    """The parsed report of ctx.artifact.report_xml (None without one, or when unreadable)."""
    value = _load(ctx)
    return value if isinstance(value, NuitkaReport) else None


def _load(ctx: CheckContext):
    def compute():
        path = ctx.artifact.report_xml
        if path is None:
            return None
        try:
            return parse_report(path)
        except ReportError as exc:
            return exc

    return ctx.cached(CACHE_KEY, compute)


def run(ctx: CheckContext) -> Iterable[Finding]:
    value = _load(ctx)
    if value is None:
        return [rule_finding(NO_REPORT, ".", "no Nuitka --report XML beside the artifact; build checks skipped")]
    where = ctx.artifact.report_xml.name if ctx.artifact.report_xml else "report"
    if isinstance(value, ReportError):
        return [rule_finding(BAD_REPORT, where, str(value))]
    report: NuitkaReport = value
    ctx.facts.setdefault("nuitka_version", report.nuitka_version)
    ctx.facts.setdefault("nuitka_mode", report.mode)
    findings: list[Finding] = []
    if not report.completed:
        findings.append(rule_finding(INCOMPLETE, where, f"the report says the build did not complete "
                                                        f"(completion: {report.completion})"))
    findings += _imports(report, where)
    findings += _package_data(report, ctx.artifact.files, where)
    findings += _onefile(report, where)
    uac = report.uac
    if uac.admin:
        findings.append(rule_finding(UAC, where, "the executable requests administrator rights (--windows-uac-admin)"))
    if uac.uiaccess:
        findings.append(rule_finding(UAC, where, "the executable requests UI access (--windows-uac-uiaccess)"))
    if not report.deployment:
        findings.append(rule_finding(NOT_DEPLOYMENT, where, "built without --deployment"))
    elif report.no_deployment_flags:
        findings.append(rule_finding(NOT_DEPLOYMENT, where, "deployment build with parts disabled: "
                                     + ", ".join(report.no_deployment_flags), severity=Severity.INFO))
    if report.downloads_allowed:
        findings.append(rule_finding(DOWNLOADS, where, "built with --assume-yes-for-downloads"))
    flags = _compiler_flags(report, where)
    if flags is not None:
        findings.append(flags)
    return findings


_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyi", ".so", ".pyd", ".dll", ".dylib")


def _package_data(report: NuitkaReport, files, where: str) -> list[Finding]:
    """HN-BUILD-012: importlib.resources.files(PACKAGE) calls whose bundled PACKAGE has no data file in
    the artifact (its files, payload entries included, and the data files the report lists)."""
    calls: dict[str, list[tuple[Module, Optional[int]]]] = {}
    for module in report.modules:
        for usage in module.usages:
            if usage.reason.endswith(".files call") and usage.reason.startswith(("importlib.resources",
                                                                                   "importlib_resources")):
                calls.setdefault(usage.name, []).append((module, usage.line))
    if not calls:
        return []
    present: set[str] = set()  # folders holding a data file: "certifi", "a/b", ...
    names = [f.relpath.rsplit("!/", 1)[-1] for f in files] + [d.name.replace("\\", "/") for d in report.data_files]
    for name in names:
        if "/" in name and not name.lower().endswith(_CODE_SUFFIXES):
            folder = name.rsplit("/", 1)[0]
            while folder:
                present.add(folder)
                folder = folder.rpartition("/")[0]
    out = []
    for package, sites in sorted(calls.items()):
        target = report.module(package)
        if target is None or not package or package.replace(".", "/") in present:
            continue  # not bundled (HN-BUILD-001 reports a missing import), or its files are there
        stdlib_only = all(m.is_stdlib for m, _ in sites)
        shown = ", ".join(f"{m.name} (line {line})" if line else m.name for m, line in sites[:3])
        more = f" and {len(sites) - 3} more" if len(sites) > 3 else ""
        out.append(rule_finding(
            PACKAGE_DATA, where, f"{shown}{more} open files of package {package} with importlib.resources.files(), "
            f"but the artifact has no data file under {package.replace('.', '/')}/ (include them: build.extra_args "
            f"'--include-package-data={package}'; check that app.exclude_data does not drop them)",
            severity=Severity.LOW if stdlib_only else PACKAGE_DATA.severity, module=sites[0][0].name))
    return out


def _attribute_import(report: NuitkaReport, name: str) -> bool:
    """'from pkg import attr' records pkg.attr as not found when attr is not a module."""
    parent = name.rsplit(".", 1)[0] if "." in name else None
    return parent is not None and report.module(parent) is not None


def _importer_class(module: Module) -> Optional[Severity]:
    if module.is_stdlib:
        return None
    if module.is_user_code:
        return Severity.MEDIUM
    return Severity.LOW


def _nofollow(report: NuitkaReport, name: str) -> Optional[str]:
    """The --nofollow-import-to pattern that excludes module `name` (Nuitka does not mark imports of
    user-excluded modules as 'excluded' in the report; they just are not among its modules)."""
    for pattern in report.option_values("--nofollow-import-to"):
        for candidate in [name] + [name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)]:
            if fnmatch.fnmatchcase(candidate, pattern):
                return pattern
    return None


# Name parts that mark a module as one platform's (psutil._psutil_windows, winreg, _scproxy...): on
# another platform Nuitka cannot find it, and the package only imports it there.
PLATFORM_TOKENS = {
    "windows": {"windows", "win32", "win64", "winreg", "winapi", "msvcrt", "nt", "pywintypes", "pythoncom",
                "win32api", "win32con", "win32file", "win32process", "wmi", "comtypes", "winrt"},
    "darwin": {"osx", "darwin", "macos", "scproxy", "objc", "appkit", "cocoa", "corefoundation"},
    "linux": {"linux"},
    "bsd": {"bsd", "freebsd", "openbsd", "netbsd"},
    "sunos": {"sunos", "solaris"},
    "aix": {"aix"},
}
_OS_NAMES = {"linux": "linux", "windows": "windows", "darwin": "darwin", "freebsd": "bsd", "openbsd": "bsd",
             "netbsd": "bsd", "sunos": "sunos", "aix": "aix"}


def for_other_platform(name: str, os_name: str) -> bool:
    """`name` names a module of another platform than the one built for (the report's os_name)."""
    own = _OS_NAMES.get(os_name.strip().lower())
    if own is None:
        return False
    tokens = {t for part in name.lower().split(".") for t in part.split("_") if t}
    return any(tokens & words for platform, words in PLATFORM_TOKENS.items() if platform != own)


class _Guards:
    """Whether an importing module guards an import with try/except ImportError, read from its source
    when that is on this machine (at build time it is); each file parsed once."""

    def __init__(self) -> None:
        self.trees: dict[str, object] = {}

    def _tree(self, module: Module):
        """The module's syntax tree (None: no source here, too large or unparsable); parsed once."""
        from hardnut.nuitka.report_xml import local_source
        from hardnut.source import guards

        if module.source_path not in self.trees:
            path = local_source(module.source_path)
            tree = None
            if path is not None:
                try:
                    if path.stat().st_size <= guards.MAX_SOURCE_BYTES:
                        tree = guards.parse(path.read_bytes())
                except OSError:
                    tree = None
            self.trees[module.source_path] = tree
        return self.trees[module.source_path]

    def guarded(self, module: Module, usage) -> Optional[bool]:
        from hardnut.source import guards

        tree = self._tree(module) if usage.line else None
        return guards.guarded_import(tree, usage.line, usage.name) if tree is not None else None

    def fallback(self, module: Module, usage) -> Optional[tuple[str, ...]]:
        """The modules whose failed import this import stands in for (hardnut.source.guards.fallback_for)."""
        from hardnut.source import guards

        tree = self._tree(module) if usage.line else None
        return guards.fallback_for(tree, usage.line, usage.name) if tree is not None else None


def _imports(report: NuitkaReport, where: str) -> list[Finding]:
    missing: dict[str, list[tuple[Module, Optional[int], Severity]]] = {}
    excluded: dict[str, list[tuple[Module, Optional[int], str]]] = {}
    guards = _Guards()
    for module in report.modules:
        severity = _importer_class(module)
        if severity is None:
            continue
        for usage in module.usages:
            if usage.finding == "not-found":
                if usage.reason == "import fromlist" and _attribute_import(report, usage.name):
                    continue
                if report.module(usage.name) is not None:
                    continue
                if for_other_platform(usage.name, report.os_name):
                    continue
                level, note = severity, ""  # this import's: the next import of the module starts again
                if guards.guarded(module, usage):
                    if not module.is_user_code:
                        continue  # a package's optional import: it handles the ImportError itself
                    level, note = Severity.INFO, " (guarded by try/except ImportError)"
                elif (first_choice := guards.fallback(module, usage)) and \
                        all(report.module(m) is not None for m in first_choice):
                    # `try: import tomllib` / `except ImportError: import tomli`: tomllib is in the artifact,
                    # so the handler never runs
                    if not module.is_user_code:
                        continue
                    level, note = Severity.INFO, f" (a fallback for {', '.join(first_choice)}, which is in the build)"
                missing.setdefault(usage.name, []).append((module, usage.line, level, note))
            elif usage.finding == "excluded":
                excluded.setdefault(usage.name, []).append((module, usage.line, usage.exclusion_reason or ""))
            elif report.module(usage.name) is None and (pattern := _nofollow(report, usage.name)):
                excluded.setdefault(usage.name, []).append((module, usage.line, f"--nofollow-import-to={pattern}"))
    out = []
    for name, users in sorted(missing.items()):
        severity = max(sev for _, _, sev, _ in users)
        first, line, _, note = users[0]
        note = note if severity == Severity.INFO else ""
        out.append(rule_finding(
            NOT_FOUND, where, f"'{name}' is imported by {_names(m for m, _, _, _ in users)}{_at(line)} but was not "
                              f"found at build time{note}", severity=severity, module=first.name))
    for name, users in sorted(excluded.items()):
        severity = max(_importer_class(m) or Severity.LOW for m, _, _ in users)
        first, line, reason = users[0]
        out.append(rule_finding(
            EXCLUDED, where, f"'{name}' is imported by {_names(m for m, _, _ in users)}{_at(line)} but excluded "
                             f"from the build ({reason or 'no reason given'})", severity=severity, module=first.name))
    return out


def _at(line: Optional[int]) -> str:
    # the line is in the importing module's source, not in the report: keep it out of Finding.line,
    # which reports render as path:line
    return f" (line {line})" if line else ""


def _names(modules: Iterable[Module]) -> str:
    names = sorted({m.name for m in modules})
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _onefile(report: NuitkaReport, where: str) -> list[Finding]:
    of = report.onefile
    if of is None:
        return []
    spec = of.unpack_dir.replace("\\", "/")
    cached = of.cache_mode == "cached"
    per_run = [v for v in _PER_RUN if v in spec]
    shared = spec.startswith(_SHARED_PREFIXES) or bool(_SHARED_WINDOWS.match(spec))
    desc = f"onefile unpack folder '{of.unpack_dir}' ({of.cache_mode} mode)"
    if shared:
        if cached or not per_run:
            return [rule_finding(ONEFILE_SHARED, where, f"{desc}: fixed name in a shared temporary folder")]
        if "{RANDOM}" not in per_run:
            return [rule_finding(ONEFILE_SHARED, where, f"{desc}: predictable name ({', '.join(per_run)} only) "
                                 "in a shared temporary folder", severity=Severity.MEDIUM)]
        return []
    if spec.startswith(("{CACHE_DIR}", "{HOME}")):
        if cached:
            return [rule_finding(ONEFILE_FIXED, where, f"{desc}: per-user cache folder, files persist and are reused",
                                 severity=Severity.INFO)]
        return []
    if spec.startswith("/") or re.match(r"^[A-Za-z]:/", spec):
        if per_run and not cached:
            return []
        return [rule_finding(ONEFILE_FIXED, where, f"{desc}: fixed absolute path shared by every user",
                             severity=Severity.MEDIUM)]
    if per_run and not cached:
        return []
    return [rule_finding(ONEFILE_FIXED, where, f"{desc}: unpacks beside the executable")]


def _has(flags: tuple[str, ...], *patterns: str) -> bool:
    return any(re.fullmatch(p, f) for f in flags for p in patterns)


def _compiler_flags(report: NuitkaReport, where: str) -> Optional[Finding]:
    comp = report.compiler
    if comp is None:
        return None
    name = f"{comp.c_compiler} {comp.the_cc_name}".lower()
    if not any(k in name for k in ("gcc", "clang", "zig", "mingw")) or "clang-cl" in name:
        return None  # MSVC / clang-cl: the PE checks look at /GS, CFG, ASLR in the binary
    cflags, ldflags = comp.compile_flags, comp.link_flags
    # the last stack-protector switch wins; "-fstack-protector" alone guards few functions
    stack = [f for f in cflags if f.startswith(("-fstack-protector", "-fno-stack-protector"))]
    link = ",".join(ldflags).replace("-Wl,", "").replace(" ", ",")
    present = {
        "stack protector": bool(stack) and stack[-1] in ("-fstack-protector-strong", "-fstack-protector-all"),
        "_FORTIFY_SOURCE": _has(cflags, r"-D_FORTIFY_SOURCE=[23]") and not _has(cflags, r"-U_FORTIFY_SOURCE"),
        "relro": "relro" in link.split(",") and "norelro" not in link.split(","),
        "now": "now" in link.split(",") or _has(ldflags, r"-Wl,-z,now"),
    }
    missing = [k for k, v in present.items() if not v]
    if not missing:
        return rule_finding(COMPILER_FLAGS, where, "stack protector, _FORTIFY_SOURCE, relro and now reached the "
                            "compiler and linker", severity=Severity.INFO)
    have = [k for k, v in present.items() if v]
    return rule_finding(COMPILER_FLAGS, where, "not in the compiler/linker flags: " + ", ".join(missing)
                        + (f" (present: {', '.join(have)})" if have else ""))
