"""Dependency rules: is everything the binaries need inside the artifact (or a system library)? And which
glibc does the artifact need?

Also home of the helpers the three binary check modules (dependency, debug, hardening) share: parsing
every binary once per context (`binary_facts`, `prepare`) and telling the main program(s) from bundled
third-party files (`main_programs`).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Iterable, Optional, Union

from hardnut.artifact.model import ArtifactFile
from hardnut.checks.base import CheckContext, rule_finding
from hardnut.checks.walk import LIMIT, UNREADABLE
from hardnut.inspect import inspector, is_facts, lddtree
from hardnut.inspect.elf import BinaryLimitError, BinaryParseError, ElfFacts, parse_glibc_version
from hardnut.model import Finding, Rule, Severity
from hardnut.timebudget import FileTimeout, within

if TYPE_CHECKING:
    from hardnut.inspect.macho import MachoFacts
    from hardnut.inspect.pe import PeFacts

UNRESOLVED = Rule(
    "HN-DEP-001", "unresolved library", "dependency", Severity.HIGH,
    "A binary needs a shared library (ELF DT_NEEDED) or DLL (PE import) that is neither inside the "
    "artifact on the loader's search path nor a system library. On a clean target machine the program "
    "fails to start, or silently picks up whatever version happens to be installed. ELF names are "
    "looked up through the file's RUNPATH (or RPATH when there is no RUNPATH) with $ORIGIN expanded, then "
    "the dist root, then the system allowlist (auditwheel's manylinux policy: the glibc family, libgcc_s, "
    "libstdc++, libz...), then, for a file without RUNPATH, the RPATH of the bundled files that load it, up "
    "the chain (as glibc does; how a wheel's bundled libraries find each other); PE names in the importing "
    "file's folder, the dist root, the `*.libs` folders beside the importer's package folders (delvewheel's, "
    "added by the package with os.add_dll_directory()) and the Windows system DLL list, else a DLL of that "
    "name another bundled file loads (Windows reuses a loaded DLL: Qt's plugins and Qt6Core.dll). A library "
    "with the right name but another machine or ELF class does not count. A missing "
    "delay-loaded DLL is reported at medium: it only fails when first used. Bundle the library, or list "
    "it in verify.allow_external if the target system really provides it.",
    ("https://github.com/pypa/auditwheel/blob/main/src/auditwheel/lddtree.py",
     "https://man7.org/linux/man-pages/man8/ld.so.8.html",
     "https://learn.microsoft.com/windows/win32/dlls/dynamic-link-library-search-order"),
)
ALLOWED_EXTERNAL = Rule(
    "HN-DEP-002", "external library allowed by configuration", "dependency", Severity.INFO,
    "A library the artifact does not bundle and that is not a system library, accepted because it matches "
    "verify.allow_external. Listed so the release notes can state what the target must provide.",
)
GLIBC_BASELINE = Rule(
    "HN-DEP-003", "glibc baseline", "dependency", Severity.INFO,
    "The highest GLIBC_x.y symbol version any ELF file of the artifact requires (from .gnu.version_r). "
    "The artifact only runs on systems with at least that glibc (manylinux_2_<y> or newer). Build on an "
    "older distribution (or in a manylinux container) to lower it.",
    ("https://github.com/pypa/manylinux",),
)
GLIBC_TOO_NEW = Rule(
    "HN-DEP-004", "needs a newer glibc than allowed", "dependency", Severity.MEDIUM,
    "A file requires a GLIBC_x.y symbol version newer than verify.require_glibc_max. It will not load on "
    "the oldest systems the release is meant to support ('version `GLIBC_2.34' not found'). Build on an "
    "older distribution, or raise require_glibc_max deliberately.",
)

HOST_INSTALL_NAME = Rule(
    "HN-DEP-005", "Mach-O install name points into the build machine", "dependency", Severity.HIGH,
    "A Mach-O file loads a library by an absolute install name that is neither a macOS system library "
    "(/usr/lib, /System/Library) nor inside the artifact: a Homebrew (/opt/homebrew, /usr/local/Cellar, "
    "/usr/local/opt), MacPorts (/opt/local), python.org framework, Xcode or build/home folder path. The "
    "program only starts where that software happens to be installed, in the same version, and anyone who "
    "can write there can plant code. Bundle the library and rewrite the name to @rpath/... or "
    "@loader_path/... (delocate, install_name_tool -change). The prefixes are data: "
    "policy/macos-system-libs.json.",
    ("https://developer.apple.com/library/archive/documentation/DeveloperTools/Conceptual/DynamicLibraries/"
     "100-Articles/RunpathDependentLibraries.html",
     "https://github.com/matthew-brett/delocate"),
)
MACOS_BASELINE = Rule(
    "HN-DEP-006", "macOS baseline", "dependency", Severity.INFO,
    "The highest minimum macOS version any Mach-O slice of the artifact declares (LC_BUILD_VERSION minos, or "
    "LC_VERSION_MIN_MACOSX): the analogue of the glibc floor. The artifact does not load on older macOS. "
    "Set MACOSX_DEPLOYMENT_TARGET when building to lower it.",
    ("https://developer.apple.com/documentation/xcode/building-and-running-an-app#Specify-a-deployment-target",),
)
MACOS_TOO_NEW = Rule(
    "HN-DEP-007", "needs a newer macOS than allowed", "dependency", Severity.MEDIUM,
    "A Mach-O slice declares a minimum macOS version newer than verify.require_macos_min: dyld refuses to "
    "load it on the oldest macOS the release is meant to support. Rebuild with a lower "
    "MACOSX_DEPLOYMENT_TARGET (or a wheel built for it), or raise require_macos_min deliberately.",
    ("https://developer.apple.com/documentation/xcode/building-and-running-an-app#Specify-a-deployment-target",
     "https://github.com/apple-oss-distributions/cctools/blob/main/include/mach-o/loader.h"),
)

RULES = [UNRESOLVED, ALLOWED_EXTERNAL, GLIBC_BASELINE, GLIBC_TOO_NEW, HOST_INSTALL_NAME, MACOS_BASELINE,
         MACOS_TOO_NEW]

Facts = Union[ElfFacts, "PeFacts", "MachoFacts"]
BINARY_KINDS = ("elf", "pe", "macho")
_LABEL = {"elf": "ELF", "pe": "PE", "macho": "Mach-O"}


# --------------------------------------------------------------------------------- shared helpers


def binary_facts(ctx: CheckContext, f: ArtifactFile) -> Optional[Facts]:
    """The file's ElfFacts/PeFacts/MachoFacts, parsed once per context (cache key "<kind>:<relpath>").
    None when it is not a binary, was too large, or could not be parsed (see `prepare`)."""
    if f.kind not in BINARY_KINDS:
        return None
    key = f"{f.kind}:{f.relpath}"
    if key in ctx.cache:
        return ctx.cache[key]
    err_key = f"{f.kind}-error:{f.relpath}"
    if err_key in ctx.cache:
        return None
    limits = ctx.config.limits
    if f.size > limits.max_file_size:
        ctx.cache[err_key] = None  # the walk already reported it (HN-WALK-004)
        return None
    inspect = inspector(f.kind)
    try:
        # cooperative deadline inside the parser, and the SIGALRM backstop around it
        return ctx.cached(key, lambda: within(
            limits.file_timeout, inspect, f.fs_path, what=f.relpath,
            max_scan_bytes=limits.max_scan_bytes, timeout=limits.file_timeout))
    except FileTimeout:
        ctx.cache[err_key] = BinaryLimitError(f"parsing took longer than limits.file_timeout "
                                              f"({limits.file_timeout:g} s)")
        return None
    except BinaryParseError as exc:
        ctx.cache[err_key] = exc
        return None


def prepare(ctx: CheckContext) -> list[Finding]:
    """Parse every binary (cached). The first call per context returns one finding per binary that could
    not be read (HN-WALK-003, or HN-WALK-004 when a limit stopped it); later calls return []."""
    if ctx.cache.get("binaries:prepared"):
        return []
    ctx.cache["binaries:prepared"] = True
    out: list[Finding] = []
    for f in ctx.files():
        if f.kind not in BINARY_KINDS or binary_facts(ctx, f) is not None:
            continue
        exc = ctx.cache.get(f"{f.kind}-error:{f.relpath}")
        if exc is None:
            continue
        label = _LABEL[f.kind]
        if isinstance(exc, BinaryLimitError):
            out.append(rule_finding(LIMIT, f.relpath, f"{label} binary not fully inspected: {exc}"))
        else:
            out.append(rule_finding(UNREADABLE, f.relpath, f"unreadable {label} binary: {exc}"))
    return out


def main_programs(ctx: CheckContext) -> frozenset[str]:
    """The artifact's own program(s), as opposed to bundled third-party files.

    ctx.artifact.main_programs when known (plus the executables at the root of their onefile payloads);
    otherwise every ELF/PE/Mach-O executable at the root of the dist, directly under a 'BIN!/' payload
    root, or in a '.app/Contents/MacOS/' folder."""
    key = "binaries:main-programs"
    if key in ctx.cache:
        return ctx.cache[key]
    declared = set(ctx.artifact.main_programs)
    result = set(declared)
    for f in ctx.files():
        if f.kind not in BINARY_KINDS:
            continue
        _group, local = lddtree.split_group(f.relpath)
        if "/" in local and not (f.kind == "macho" and local.rsplit("/", 1)[0].endswith(".app/Contents/MacOS")):
            continue
        if declared and not (f.payload_of and f.payload_of in declared):
            continue
        facts = binary_facts(ctx, f)
        if facts is not None and facts.is_executable:
            result.add(f.relpath)
    ctx.cache[key] = frozenset(result)
    return ctx.cache[key]


def binaries(ctx: CheckContext) -> Iterable[tuple[ArtifactFile, Facts]]:
    """(file, facts) for every parseable ELF/PE file, in walk order."""
    for f in ctx.files():
        facts = binary_facts(ctx, f)
        if facts is not None:
            yield f, facts


def stable_fingerprint(rule: Rule, path: str, key: str = "") -> str:
    """A fingerprint that survives rebuilds: rule, path and a stable key, not the message (whose counts
    and offsets change from build to build)."""
    basis = "\0".join((rule.id, path, key))
    return hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def examples(items: Iterable[Any], limit: int = 3) -> str:
    items = list(items)
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


# ----------------------------------------------------------------------------------------- the check


def run(ctx: CheckContext) -> Iterable[Finding]:
    out = prepare(ctx)
    nodes: list[lddtree.Node] = []
    for f, facts in binaries(ctx):
        if isinstance(facts, ElfFacts):
            nodes.append(lddtree.elf_node(f.relpath, facts))
        elif is_facts(facts, "macho"):
            nodes.extend(lddtree.macho_nodes(f.relpath, facts))
        else:
            nodes.append(lddtree.pe_node(f.relpath, facts))
    links = [lddtree.Link(f.relpath, f.link_target) for f in ctx.files("symlink") if f.link_target]
    deps = lddtree.resolve(nodes, links, allow_external=tuple(ctx.config.allow_external))

    system: set[str] = set()
    allowed: dict[str, list[str]] = {}
    archs = {(n.relpath, n.fmt): n.arch for n in nodes}
    missing: dict[tuple[str, str], list[lddtree.Dependency]] = {}  # Mach-O: one finding for all slices
    for d in deps:
        if d.status == lddtree.SYSTEM:
            system.add(d.library)
        elif d.status == lddtree.ALLOWED:
            allowed.setdefault(d.library, []).append(d.importer)
        elif d.status == lddtree.MISSING:
            missing.setdefault((d.importer, d.library), []).append(d)
    macho_paths = {n.relpath for n in nodes if n.fmt == "macho"}
    for (importer, _lib), group in missing.items():
        if importer in macho_paths:
            out.append(_unresolved_macho(ctx, group))
        else:
            out.extend(_unresolved(d) for d in group)
    for lib in sorted(allowed):
        importers = allowed[lib]
        out.append(rule_finding(
            ALLOWED_EXTERNAL, importers[0],
            f"{lib} is not bundled; accepted by verify.allow_external (needed by {examples(importers)})",
            library=lib, fingerprint=stable_fingerprint(ALLOWED_EXTERNAL, "", lib)))
    ctx.facts["system_libraries"] = sorted(system, key=str.lower)
    out.extend(_glibc(ctx))
    out.extend(_macos_min(ctx))
    return out


def _unresolved_macho(ctx: CheckContext, group: list[lddtree.Dependency]) -> Finding:
    d = group[0]
    facts = ctx.cache.get(f"macho:{d.importer}")
    all_archs = facts.archs if facts is not None else ()
    n_missing = len(group)
    where = ""
    if len(all_archs) > 1:
        where = " (all slices)" if n_missing == len(all_archs) else f" ({n_missing} of {len(all_archs)} slices)"
    if d.library.startswith("/"):
        from hardnut.inspect.lddtree import load_policy

        origin = load_policy("macos").host_origin(d.library)
        what = f"an absolute path into {origin}" if origin else "an absolute path outside the macOS system folders"
        return rule_finding(
            HOST_INSTALL_NAME, d.importer,
            f"{d.importer} loads {d.library}{where}: {what}, not in the artifact",
            library=d.library, severity=Severity.MEDIUM if d.delay else HOST_INSTALL_NAME.severity,
            fingerprint=stable_fingerprint(HOST_INSTALL_NAME, d.importer, d.library))
    finding = _unresolved(d)
    kind = "weak dylib" if d.delay else "dylib"
    msg = finding.message.replace(f"needs delay-loaded DLL {d.library}", f"needs {kind} {d.library}")
    msg = msg.replace(f"needs library {d.library}", f"needs {kind} {d.library}{where}")
    return rule_finding(UNRESOLVED, d.importer, msg, library=d.library, severity=finding.severity,
                        fingerprint=finding.fingerprint)


def _parse_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _macos_min(ctx: CheckContext) -> list[Finding]:
    out: list[Finding] = []
    best: Optional[tuple[tuple[int, ...], str, str, str]] = None  # (version, file, arch, text)
    limit_text = ctx.config.require_macos_min
    limit = _parse_version(limit_text) if limit_text else None
    for f, facts in binaries(ctx):
        if not is_facts(facts, "macho"):
            continue
        too_new = []
        for sl in facts.slices:
            if sl.min_os is None or sl.platform not in (None, 1):
                continue
            v = _parse_version(sl.min_os)
            if best is None or v > best[0]:
                best = (v, f.relpath, sl.arch, sl.min_os)
            if limit is not None and v > limit:
                too_new.append(f"{sl.arch} {sl.min_os}")
        if too_new:
            out.append(rule_finding(
                MACOS_TOO_NEW, f.relpath,
                f"{f.relpath} needs macOS {examples(too_new)}, newer than require_macos_min {limit_text}",
                fingerprint=stable_fingerprint(MACOS_TOO_NEW, f.relpath)))
    if best is not None:
        ctx.facts["macos_min"] = best[3]
        out.insert(0, rule_finding(
            MACOS_BASELINE, best[1], f"the artifact runs on macOS {best[3]} or newer: {best[1]} ({best[2]}) "
            f"declares minimum {best[3]}", fingerprint=stable_fingerprint(MACOS_BASELINE, "")))
    return out


def _unresolved(d: lddtree.Dependency) -> Finding:
    kind = "delay-loaded DLL" if d.delay else "library"
    msg = f"{d.importer} needs {kind} {d.library}, which is not in the artifact and is not a system library"
    if d.mismatched:
        msg += f"; {examples(d.mismatched)} has the name but another machine/class"
    if d.elsewhere:
        msg += f"; {examples(d.elsewhere)} has the name but is not on the search path"
    if d.searched:
        msg += f" (searched: {'; '.join(d.searched)})"
    return rule_finding(UNRESOLVED, d.importer, msg, library=d.library,
                        severity=Severity.MEDIUM if d.delay else UNRESOLVED.severity,
                        fingerprint=stable_fingerprint(UNRESOLVED, d.importer, d.library))


def _glibc(ctx: CheckContext) -> list[Finding]:
    out: list[Finding] = []
    best: Optional[tuple[tuple[int, ...], str, str, str]] = None  # (version, file, library, name)
    limit = parse_glibc_version(f"GLIBC_{ctx.config.require_glibc_max}") if ctx.config.require_glibc_max else None
    for f, facts in binaries(ctx):
        if not isinstance(facts, ElfFacts):
            continue
        file_best: Optional[tuple[tuple[int, ...], str, str]] = None
        for lib, versions in facts.version_needs:
            for v in versions:
                parsed = parse_glibc_version(v)
                if parsed is not None and (file_best is None or parsed > file_best[0]):
                    file_best = (parsed, lib, v)
        if file_best is None:
            continue
        if best is None or file_best[0] > best[0]:
            best = (file_best[0], f.relpath, file_best[1], file_best[2])
        if limit is not None and file_best[0] > limit:
            needed = ".".join(map(str, file_best[0]))
            out.append(rule_finding(
                GLIBC_TOO_NEW, f.relpath,
                f"{f.relpath} needs glibc {needed} ({file_best[2]} from {file_best[1]}), newer than "
                f"require_glibc_max {ctx.config.require_glibc_max}", library=file_best[1],
                fingerprint=stable_fingerprint(GLIBC_TOO_NEW, f.relpath)))
    if best is not None:
        version = ".".join(map(str, best[0]))
        ctx.facts["glibc_max"] = version
        tag = f", manylinux_{best[0][0]}_{best[0][1]}" if best[0] >= (2, 5) else ""
        out.insert(0, rule_finding(
            GLIBC_BASELINE, best[1],
            f"the artifact runs on glibc {version} or newer{tag}: {best[1]} requires {best[3]} from {best[2]}",
            library=best[2], fingerprint=stable_fingerprint(GLIBC_BASELINE, "")))
    return out
