"""Checks that run BEFORE the build, on what the profile would compile and bundle (`hardnut check-source`).

Three kinds of input, all read and never imported or run:
- the app's Python sources (the entry and its folder tree, hardnut.nuitka.project_options.app_sources):
  constructs the compiler cannot follow, `# nuitka-project:` comments, secrets;
- the data files app.include_data would bundle (filtered like Nuitka, hardnut.source.bundle): secrets,
  key and credential files, VCS folders;
- the dependency declarations (hardnut.source.deps): unpinned or unhashed requirements, and imported
  distributions nobody declares.

Findings carry the path relative to the profile's folder and a line number. Secret findings use the
secret engine's own rules (HN-SEC-…, category "secret", masked evidence, location-independent
fingerprints), so a baseline or suppression covers the same key in the sources and in the artifact.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from hardnut.checks.base import audit_key, rule_finding
from hardnut.errors import HardnutError
from hardnut.model import FileRecord, Finding, Rule, Severity, VerifyResult, mask, secret_fingerprint

DYNAMIC_IMPORT = Rule(
    "HN-SRC-001", "import by computed name", "source", Severity.LOW,
    "importlib.import_module(x) or __import__(x) with a name computed at run time. Nuitka follows "
    "imports it can see at compile time (a literal name is fine); a computed one it cannot, so the "
    "module is left out of the build and the import fails on the user's machine (the smoke run only "
    "catches it if it takes that path). List what can be loaded in app.include_modules, or the whole "
    "package in app.include_packages.",
    ("https://nuitka.net/user-documentation/common-issue-solutions.html",),
)
PATH_LOAD = Rule(
    "HN-SRC-002", "code loaded from a file path", "source", Severity.MEDIUM,
    "A module is loaded from a file path at run time (importlib.util.spec_from_file_location, "
    "SourceFileLoader, runpy.run_path, imp.load_source, zipimporter). That code is not compiled: it "
    "must ship as readable source or bytecode beside the binary, and whoever can write that path "
    "controls what the program runs. Import it normally so Nuitka compiles it.",
)
CODE_EXEC = Rule(
    "HN-SRC-003", "eval/exec of computed code", "source", Severity.MEDIUM,
    "eval(), exec() or compile() of a string that is not a literal. The text is compiled by the "
    "interpreter at run time, not by Nuitka, and if any part of it comes from input it is a code "
    "injection. Replace it with explicit code (a dispatch table, ast.literal_eval for data).",
    ("https://cwe.mitre.org/data/definitions/95.html",),
)
IMPORT_PATH = Rule(
    "HN-SRC-004", "import path changed at run time", "source", Severity.MEDIUM,
    "sys.path, sys.meta_path or sys.path_hooks is changed (append, insert, assignment) or "
    "site.addsitedir is called. In a compiled program imports were resolved at build time; a path "
    "added at run time only matters for modules that were left out, which are then loaded as plain, "
    "uncompiled files from that folder: module planting when the folder is writable by others "
    "(the working directory, a download or temp folder).",
    ("https://cwe.mitre.org/data/definitions/427.html",),
)
PROJECT_OPTION = Rule(
    "HN-SRC-005", "# nuitka-project: comment", "source", Severity.HIGH,
    "A `# nuitka-project:` comment in a source file. Nuitka adds these as compiler options and "
    "evaluates `nuitka-project-if` conditions as Python code on the build machine, so a source file "
    "(or a dependency vendored into the tree) changes how the release is built. hardnut build refuses "
    "them unless build.allow_project_options = true (then this finding is informational).",
    ("https://nuitka.net/user-documentation/user-manual.html#nuitka-project-options",),
)
UNPARSABLE = Rule(
    "HN-SRC-006", "source cannot be parsed", "source", Severity.LOW,
    "A Python file of the app does not parse (syntax error, null bytes, bad encoding, nesting too "
    "deep) or is too large to parse, so the import, eval and sys.path checks could not look at it "
    "(its bytes are still scanned for secrets). If the program imports it, Nuitka stops the build "
    "with the compiler's own error; if not, it is dead code worth deleting.",
)
SENSITIVE_FILE = Rule(
    "HN-SRC-010", "sensitive file would be bundled", "source", Severity.HIGH,
    "app.include_data would copy a file into the build that holds credentials by its nature: a .env "
    "file, a private key (id_rsa, *.key, *.p12/*.pfx, a PEM with a PRIVATE KEY block), a keystore or "
    "a credentials file (.netrc, .pypirc, .npmrc, .git-credentials, .pgpass). Everyone who gets the "
    "artifact gets the file. Exclude it with app.exclude_data or move it out of the included folder.",
    ("https://cwe.mitre.org/data/definitions/538.html",),
)
VCS_FOLDER = Rule(
    "HN-SRC-011", "VCS folder would be bundled", "source", Severity.HIGH,
    "app.include_data points at (or contains) a .git, .hg, .svn or .bzr folder, and Nuitka does not "
    "skip those: the repository's whole history, its remotes (often with tokens in the URL) and "
    "anything ever committed would ship. Add e.g. \"data/.git\" to app.exclude_data.",
    ("https://cwe.mitre.org/data/definitions/527.html",),
)
NOT_SCANNED = Rule(
    "HN-SRC-012", "file not fully scanned", "source", Severity.MEDIUM,
    "A source or data file could not be read, or only its first max_scan_bytes (verify.limits) "
    "were scanned for secrets, so it is not proven free of them.",
)
UNPINNED = Rule(
    "HN-SRC-020", "requirement not pinned", "source", Severity.MEDIUM,
    "A requirement allows more than one version (no == or ===, or a wildcard). The next build can "
    "bundle a different release of that package, including a compromised one, without any change in "
    "the repository. Pin exact versions (pip-compile, uv pip compile, a lock file). Ranges in "
    "pyproject.toml are reported only when no lock or requirements file pins them.",
    ("https://pip.pypa.io/en/stable/topics/repeatable-installs/",),
)
UNHASHED = Rule(
    "HN-SRC-021", "requirement without a hash", "source", Severity.HIGH,
    "source.require_hashes is true and a requirement or lock entry carries no hash. Without one, a "
    "replaced file on the index (or a mirror) is installed silently; with hashes pip refuses it "
    "(`pip install --require-hashes`). Generate them with `pip-compile --generate-hashes` or "
    "`uv pip compile --generate-hashes`.",
    ("https://pip.pypa.io/en/stable/topics/secure-installs/",),
)
UNDECLARED = Rule(
    "HN-SRC-022", "imported but not declared", "source", Severity.LOW,
    "The app imports a package that is installed in the build environment, so Nuitka bundles it, but "
    "no requirements, pyproject or lock file declares it. Which version ships depends on whatever "
    "happens to be installed on the build machine. Declare (and pin) it.",
)
DEPS_UNREADABLE = Rule(
    "HN-SRC-023", "dependency file unusable", "source", Severity.MEDIUM,
    "A requirements, pyproject or lock file could not be read or parsed (or a line of it), so the "
    "dependency checks could not judge what it declares.",
)

RULES = [DYNAMIC_IMPORT, PATH_LOAD, CODE_EXEC, IMPORT_PATH, PROJECT_OPTION, UNPARSABLE, SENSITIVE_FILE,
         VCS_FOLDER, NOT_SCANNED, UNPINNED, UNHASHED, UNDECLARED, DEPS_UNREADABLE]

MAX_PARSE_BYTES = 8 * 1024 * 1024

# Files that hold credentials by their nature: basename glob (case-insensitive) -> what it is.
SENSITIVE_NAMES: tuple[tuple[str, str], ...] = (
    (".env", "an environment file"),
    (".env.*", "an environment file"),
    ("*.env", "an environment file"),
    ("id_rsa", "an SSH private key"), ("id_dsa", "an SSH private key"), ("id_ecdsa", "an SSH private key"),
    ("id_ed25519", "an SSH private key"), ("id_ecdsa_sk", "an SSH private key"),
    ("id_ed25519_sk", "an SSH private key"),
    ("*.key", "a private key file"), ("*.p12", "a PKCS#12 key store"), ("*.pfx", "a PKCS#12 key store"),
    ("*.jks", "a Java key store"), ("*.keystore", "a key store"), ("*.ppk", "a PuTTY private key"),
    ("*.kdbx", "a KeePass database"), ("*.tfstate", "a Terraform state file"),
    (".netrc", "a credentials file"), ("_netrc", "a credentials file"), (".pypirc", "a credentials file"),
    (".npmrc", "a credentials file"), (".git-credentials", "a credentials file"),
    (".pgpass", "a credentials file"), (".htpasswd", "a password file"), (".dockercfg", "a credentials file"),
)
# Templates that carry names, not values.
SENSITIVE_TEMPLATES = (".env.example", ".env.sample", ".env.template", ".env.dist", "*.env.example")
PEM_SUFFIXES = (".pem", ".crt", ".cer")  # sensitive only when they hold a PRIVATE KEY block


class SourceCheckFailed(HardnutError):
    """check-source found something at or above fail_on before a build: exit code 1, like verify."""

    exit_code = 1

    def __init__(self, message: str, result: VerifyResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class _Scan:
    """What check-source collected: its findings, the files it read, declared dependencies, audited secrets."""

    findings: list[Finding] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    declared: list = field(default_factory=list)  # hardnut.source.deps.Declared, for [audit]
    audited: set = field(default_factory=set)  # audit_key of findings the detect-secrets baseline accepts


def _rel(path: Path, root: Path) -> str:
    try:
        return os.path.relpath(path, root).replace(os.sep, "/")
    except ValueError:  # another drive on Windows
        return str(path).replace(os.sep, "/")


# ----------------------------------------------------------------------------------------------
# the secret engine, called through this one place


class _Secrets:
    """Adapter to hardnut.secrets.engine: scan a file, return (rule, match) pairs; rules by id."""

    def __init__(self, gitleaks=None, baseline=None) -> None:
        from hardnut.secrets.engine import EngineUnavailable, shared_engine

        try:
            self.engine = shared_engine(gitleaks)
        except EngineUnavailable as exc:
            raise HardnutError(str(exc)) from None
        self.rules = self.engine.rule_map
        self.gitleaks = gitleaks
        self.baseline = baseline  # hardnut.secrets.detect_secrets.DetectSecretsBaseline

    def scan(self, path: Path, max_bytes: int):
        return self.engine.scan_file(path, max_bytes)


def _line_numbers(path: Path, offsets: list[int]) -> dict[int, int]:
    """1-based line of each byte offset, counting newlines in a streaming read."""
    out: dict[int, int] = {}
    wanted = sorted(set(offsets))
    if not wanted:
        return out
    line, pos, i = 1, 0, 0
    try:
        with open(path, "rb") as fh:
            while i < len(wanted):
                block = fh.read(1 << 20)
                if not block:
                    break
                end = pos + len(block)
                while i < len(wanted) and wanted[i] < end:
                    out[wanted[i]] = line + block.count(b"\n", 0, wanted[i] - pos)
                    i += 1
                line += block.count(b"\n")
                pos = end
    except OSError:
        pass
    return out


def _not_regular(path: Path) -> Optional[str]:
    """Why `path` is not read (a FIFO or device would block or never end), or None for a regular file.
    Symlinks are followed: what they point to is what a build would copy."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})"
    if not stat.S_ISREG(mode):
        return "not a regular file (FIFO, socket or device); not read"
    return None


def _read_bounded(path: Path, limit: int) -> Optional[bytes]:
    """The whole file, or None when it is larger than `limit` (read at most limit + 1 bytes)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data if len(data) <= limit else None


def _looks_binary(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return b"\0" in fh.read(8192)
    except OSError:
        return False


def _secret_findings(secrets: _Secrets, path: Path, shown: str, max_bytes: int, where: str,
                     scan: _Scan) -> None:
    result = secrets.scan(path, max_bytes)
    if result.error:
        scan.findings.append(rule_finding(NOT_SCANNED, shown, f"{where}: {result.error}; not scanned for secrets"))
        return
    if result.truncated:
        scan.findings.append(rule_finding(
            NOT_SCANNED, shown, f"{where}: only the first {result.scanned} of {result.size} bytes were scanned "
                                f"for secrets (verify.limits.max_scan_bytes)"))
    if not result.matches:
        return
    binary = _looks_binary(path)
    lines = {} if binary else _line_numbers(path, [m.offset for m in result.matches])
    if secrets.gitleaks is not None and secrets.gitleaks.skip_path(shown):
        return
    for m in result.matches:
        rule = secrets.rules.get(m.rule_id)
        if secrets.gitleaks is not None and rule is not None and secrets.gitleaks.path_allowed(
                rule, m.secret.encode("latin-1"), shown):
            continue
        name = rule.name if rule else m.rule_id
        note = f" ({m.note})" if m.note else ""
        if m.encoding == "utf-16le":
            note += " (UTF-16LE text)"
        finding = Finding(
            rule=m.rule_id, category="secret", severity=m.severity, path=shown,
            message=f"{name} in {where}{note}", line=lines.get(m.offset),
            offset=m.offset if binary else None, length=m.length if binary else None,
            evidence=mask(m.secret), fingerprint=secret_fingerprint(m.rule_id, m.secret))
        if secrets.baseline is not None:
            from hardnut.secrets.detect_secrets import line_in_file

            text = (line_in_file(path, m.offset, m.length, m.encoding == "utf-16le")
                    if secrets.baseline.exclude_lines else None)
            if secrets.baseline.suppresses(m.secret, text, shown):
                scan.audited.add(audit_key(finding))
        scan.findings.append(finding)


def _record(path: Path, shown: str, fmt: str, data: Optional[bytes] = None) -> Optional[FileRecord]:
    try:
        if data is None:
            digest = hashlib.sha256()
            size = 0
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
                    size += len(block)
            return FileRecord(shown, size, digest.hexdigest(), fmt)
        return FileRecord(shown, len(data), hashlib.sha256(data).hexdigest(), fmt)
    except OSError:
        return None


# ----------------------------------------------------------------------------------------------
# sources


def _source_findings(profile, sources: list[Path], secrets: Optional[_Secrets], scan: _Scan) -> dict[str, tuple[str, int]]:
    """Parse every source; returns top-level imports -> (shown path, line) of the first import."""
    from hardnut.nuitka.project_options import scan_file
    from hardnut.source.ast_checks import analyze

    root = profile.root
    limits = profile.verify.limits
    imports: dict[str, tuple[str, int]] = {}
    for path in sources:
        shown = _rel(path, root)
        problem = _not_regular(path)
        if problem:
            scan.findings.append(rule_finding(NOT_SCANNED, shown, problem))
            continue
        try:
            size = path.stat().st_size
            data = _read_bounded(path, MAX_PARSE_BYTES)
        except OSError as exc:
            scan.findings.append(rule_finding(NOT_SCANNED, shown, f"cannot be read ({exc.strerror or 'error'})"))
            continue
        record = _record(path, shown, "source", data)
        if record:
            scan.files.append(record)
        if data is None:
            scan.findings.append(rule_finding(UNPARSABLE, shown, f"{size} bytes: too large to parse "
                                                                 f"(limit {MAX_PARSE_BYTES})"))
        else:
            facts = analyze(data, shown)
            if facts.syntax_error:
                line, msg = facts.syntax_error
                scan.findings.append(rule_finding(UNPARSABLE, shown, f"does not parse: {msg}", line=line))
            for name, line in facts.imports.items():
                imports.setdefault(name, (shown, line))
            for use in facts.dynamic_imports:
                if use.literal is None:
                    scan.findings.append(rule_finding(
                        DYNAMIC_IMPORT, shown,
                        f"{use.what}({use.detail}): the module name is computed at run time, so Nuitka cannot "
                        f"follow it; list the possible modules in app.include_modules (or their package in "
                        f"app.include_packages)", line=use.line, evidence=f"{use.what}({use.detail})"))
            for use in facts.path_loads:
                scan.findings.append(rule_finding(
                    PATH_LOAD, shown, f"{use.what}({use.detail}): code loaded from a file path at run time is "
                                      f"not compiled by Nuitka; import it as a module instead",
                    line=use.line, evidence=f"{use.what}({use.detail})"))
            for use in facts.code_exec:
                scan.findings.append(rule_finding(
                    CODE_EXEC, shown, f"{use.what}({use.detail}): code text built at run time is compiled by "
                                      f"the interpreter, not Nuitka, and is an injection point",
                    line=use.line, evidence=f"{use.what}({use.detail})"))
            for use in facts.import_state:
                call = f"{use.what}({use.detail})" if use.detail else use.what
                scan.findings.append(rule_finding(
                    IMPORT_PATH, shown, f"{call}: the import path is changed at run time; modules missing "
                                        f"from the build would be loaded uncompiled from there",
                    line=use.line, evidence=call))
        for opt in scan_file(path):
            allowed = profile.build.allow_project_options
            scan.findings.append(rule_finding(
                PROJECT_OPTION, shown,
                f"'# {opt.kind}:' comment: Nuitka applies it as a build option"
                + (" (allowed by build.allow_project_options)" if allowed
                   else "; hardnut build refuses it unless build.allow_project_options = true"),
                line=opt.line, severity=Severity.INFO if allowed else PROJECT_OPTION.severity))
        if secrets is not None:
            _secret_findings(secrets, path, shown, limits.max_scan_bytes, "a source file", scan)
    return imports


# ----------------------------------------------------------------------------------------------
# data files


def _sensitive_kind(path: Path, name: str) -> Optional[str]:
    low = name.lower()
    if any(fnmatch.fnmatchcase(low, t) for t in SENSITIVE_TEMPLATES):
        return None
    for pattern, what in SENSITIVE_NAMES:
        if fnmatch.fnmatchcase(low, pattern):
            return what
    if low.endswith(PEM_SUFFIXES):
        try:
            with open(path, "rb") as fh:
                if b"PRIVATE KEY-----" in fh.read(1 << 20):
                    return "a PEM file with a private key"
        except OSError:
            pass
    return None


def _data_findings(profile, secrets: Optional[_Secrets], scan: _Scan) -> None:
    from hardnut.source.bundle import would_bundle

    root = profile.root
    limits = profile.verify.limits
    bundle = would_bundle(profile.app.include_data, profile.app.exclude_data, limits.max_files)
    if bundle.truncated:
        scan.findings.append(rule_finding(
            NOT_SCANNED, _rel(profile.path, root) if profile.path else ".",
            f"app.include_data would bundle more than {limits.max_files} files (verify.limits.max_files); "
            f"the rest was not checked"))
    for vcs, files in bundle.vcs_folders().items():
        src_dir = files[0].src
        depth = len(Path(files[0].dest).relative_to(vcs).parts)
        for _ in range(depth):
            src_dir = src_dir.parent
        scan.findings.append(rule_finding(
            VCS_FOLDER, _rel(src_dir, root),
            f"{len(files)} files of this {Path(vcs).name} folder would be bundled as {vcs}/; add \"{vcs}\" "
            f"to app.exclude_data"))
    for item in bundle.files:
        if item.vcs:
            continue  # reported above as one finding per folder
        shown = _rel(item.src, root)
        problem = _not_regular(item.src)
        if problem:
            scan.findings.append(rule_finding(NOT_SCANNED, shown, problem))
            continue
        record = _record(item.src, shown, "data")
        if record:
            scan.files.append(record)
        what = _sensitive_kind(item.src, Path(item.dest).name)
        if what:
            scan.findings.append(rule_finding(
                SENSITIVE_FILE, shown, f"{what} would be bundled as {item.dest}; exclude it with app.exclude_data"))
        if secrets is not None:
            _secret_findings(secrets, item.src, shown, limits.max_scan_bytes,
                             f"a data file the build would bundle as {item.dest}", scan)


# ----------------------------------------------------------------------------------------------
# dependencies


def _local_modules(entry: Path, sources: list[Path], root: Path) -> set[str]:
    names = set()
    for base in {entry.parent, root}:
        for path in sources:
            try:
                rel = path.relative_to(base).parts
            except ValueError:
                continue
            if rel:
                names.add(rel[0][:-3] if len(rel) == 1 and rel[0].endswith(".py") else rel[0])
    names.add(entry.stem)
    return names


def _dependency_findings(profile, imports: dict[str, tuple[str, int]], sources: list[Path], scan: _Scan) -> None:
    from hardnut.source.deps import discover, imported_distributions, read_declarations

    root, entry = profile.root, profile.app.entry
    files = list(profile.source.requirements) or discover(dict.fromkeys([entry.parent, root]))
    decl = read_declarations(files)
    scan.declared = decl.declared
    for p in decl.problems:
        scan.findings.append(rule_finding(DEPS_UNREADABLE, _rel(p.file, root), p.message, line=p.line))
    for path in decl.files:
        record = _record(path, _rel(path, root), "requirements")
        if record:
            scan.files.append(record)

    pinned_elsewhere = {d.name for d in decl.declared if d.pinned and d.kind in ("requirements", "constraint", "lock")}
    has_pins = decl.has_lock() or any(d.kind == "requirements" for d in decl.declared)
    for d in decl.declared:
        if d.local or d.pinned:
            continue
        if d.kind == "requirements" and d.name not in pinned_elsewhere:
            scan.findings.append(rule_finding(
                UNPINNED, _rel(d.file, root), f"{d.display}: not pinned to one version (use ==)", line=d.line))
        elif d.kind == "pyproject" and not has_pins:
            scan.findings.append(rule_finding(
                UNPINNED, _rel(d.file, root),
                f"{d.display}: a range in pyproject.toml and no lock or requirements file pins it", line=d.line))

    if profile.source.require_hashes:
        hashable = [d for d in decl.declared if d.kind in ("requirements", "lock") and not d.local]
        for d in hashable:
            if not d.hashed:
                scan.findings.append(rule_finding(
                    UNHASHED, _rel(d.file, root), f"{d.display}: no hash (source.require_hashes = true)",
                    line=d.line))
        if not hashable:
            where = _rel(profile.path, root) if profile.path else "."
            scan.findings.append(rule_finding(
                UNHASHED, where, "source.require_hashes = true, but no requirements or lock file with pinned "
                                 "entries was found (pyproject.toml cannot carry hashes)"))

    declared = decl.names()
    local = _local_modules(entry, sources, root)
    installed = imported_distributions(n for n in imports if n not in local)
    for name in sorted(installed):
        info = installed[name]
        if not info.distributions or any(d in declared for d, _, _ in info.distributions):
            continue
        shown, line = imports[name]
        dists = ", ".join(f"{shown_name} {v}".strip() for _, shown_name, v in info.distributions)
        sources_text = ", ".join(sorted({p.name for p in decl.files})) or "no requirements, pyproject or lock file"
        scan.findings.append(rule_finding(
            UNDECLARED, shown,
            f"imports '{name}' from {dists} (installed in the build environment, so it is bundled), "
            f"but it is not declared ({sources_text})", line=line))


# ----------------------------------------------------------------------------------------------
# entry points


def check_source(profile, *, secrets: bool = True) -> list[Finding]:
    """Every source finding for `profile` (unsuppressed, unsorted). Needs profile.app.entry.

    Reads files only; never imports or runs them. Bad input becomes findings, never exceptions
    (HardnutError only when the secret engine cannot start, e.g. a forced engine is missing)."""
    return _scan_profile(profile, secrets=secrets).findings


def _scan_profile(profile, *, secrets: bool = True) -> _Scan:
    from hardnut.nuitka.project_options import app_sources

    entry = profile.app.entry
    if entry is None:
        raise HardnutError("profile has no app.entry: check-source needs the script to compile")
    if not entry.is_file():
        raise HardnutError(f"app.entry {entry} does not exist")
    scan = _Scan()
    gitleaks = baseline = None
    if secrets:
        from hardnut.verify import load_detect_secrets, load_gitleaks

        gitleaks = load_gitleaks(profile.secrets.gitleaks_config)
        baseline = load_detect_secrets(profile.secrets.detect_secrets_baseline)
    engine = _Secrets(gitleaks, baseline) if secrets else None
    sources = list(dict.fromkeys(app_sources(entry)))
    imports = _source_findings(profile, sources, engine, scan)
    _data_findings(profile, engine, scan)
    _dependency_findings(profile, imports, sources, scan)
    return scan


def _order(f: Finding) -> tuple:
    return (-int(f.severity), f.category, f.rule, f.path, f.line or 0, f.message)


def source_result(profile, fail_on: Optional[Severity] = None,
                  log: Optional[Callable[[str], None]] = None) -> VerifyResult:
    """check_source wrapped like a verify result: the profile's suppressions applied, findings sorted,
    target = the profile's folder, files = the sources, data and dependency files that were read."""
    scan = _scan_profile(profile)
    facts: dict = {}
    if profile.audit.enabled:  # what pip-audit -r does: the pinned requirements against the advisories
        from hardnut.audit.command import audit_inventory
        from hardnut.audit.inventory import from_requirements
        from hardnut.checks.audit import audit_facts

        found, outcome = audit_inventory(from_requirements(scan.declared, profile.root), profile.audit, log=log,
                                         profile_path=str(profile.path) if profile.path else None)
        scan.findings += found
        facts["audit"] = audit_facts(outcome)
    kept, suppressed, seen = [], 0, set()
    for f in sorted(scan.findings, key=_order):
        key = (f.rule, f.path, f.line, f.offset, f.message)
        if key in seen:
            continue
        seen.add(key)
        if audit_key(f) in scan.audited or any(s.matches(f.rule, f.path, f.fingerprint) for s in profile.verify.suppress):
            suppressed += 1
            continue
        kept.append(f)
    files = sorted({r.path: r for r in scan.files}.values(), key=lambda r: r.path)
    return VerifyResult(target=str(profile.root), fail_on=fail_on if fail_on is not None else profile.verify.fail_on,
                        findings=kept, files=files, suppressed=suppressed, command="check-source", facts=facts)


def preflight_source(profile, log: Callable[[str], None]) -> Optional[VerifyResult]:
    """The check `hardnut build` runs first when source.check is true.

    Findings are logged with the text renderer; any at or above verify.fail_on stop the build with
    SourceCheckFailed (exit code 1): hardnut.build runs this beside Nuitka and stops the compile at once,
    nothing is put in place. Returns the result (None when disabled)."""
    if not profile.source.check:
        return None
    from hardnut.checks import all_rules
    from hardnut.report import renderer

    log("checking sources (source.check)")
    result = source_result(profile, log=log)
    if result.findings:
        for line in renderer("text")(result, all_rules(), False).rstrip("\n").splitlines()[1:]:
            log("  " + line)
    if result.verdict == "fail":
        bad = sum(1 for f in result.findings if f.severity >= result.fail_on)
        raise SourceCheckFailed(
            f"check-source: {bad} finding(s) at or above {result.fail_on.label}; the build was stopped "
            f"(fix them, suppress them in [verify.suppress], or set source.check = false)", result)
    return result
