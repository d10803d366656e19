"""Load a TOML build profile once into a frozen, validated `Profile`.

Nothing downstream reads TOML again: the build, verify and source commands receive this object.
"""

from __future__ import annotations

import copy
import datetime as dt
import fnmatch
import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hardnut.errors import ProfileError
from hardnut.limits import Limits
from hardnut.model import Severity
from hardnut.profile.schema import IGNORE_KEYS, PYTHON_FLAGS, SCHEMA, SMOKE_KEYS, SUPPRESS_KEYS

MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
NOFOLLOW_RE = re.compile(r"^[A-Za-z_*][A-Za-z0-9_*]*(\.[A-Za-z_*][A-Za-z0-9_*]*)*$")


@dataclass(frozen=True)
class DataInclude:
    """A data file or folder a profile bundles (app.include_data)."""

    src: Path  # absolute
    dest: str  # relative, '/' separated
    is_dir: bool


@dataclass(frozen=True)
class Smoke:
    """The smoke run a build makes of its program ([verify] smoke)."""

    args: tuple[str, ...] = ("--help",)
    expect_exit: int = 0
    timeout: int = 30
    enabled: bool = True


@dataclass(frozen=True)
class Suppression:
    """A finding accepted in the profile ([[verify.suppress]]): rule, path pattern and reason."""

    rule: str
    reason: str
    path: str = "*"
    fingerprint: Optional[str] = None

    def matches(self, rule: str, path: str, fingerprint: str) -> bool:
        if self.rule not in ("*", rule):
            return False
        if self.fingerprint and self.fingerprint != fingerprint:
            return False
        return fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class AuditIgnore:
    """An accepted advisory ([audit] ignore): by OSV id or any alias, until `expires` (inclusive)."""

    id: str
    reason: str
    expires: Optional[dt.date] = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today

    def covers(self, advisory) -> bool:
        return self.id == advisory.id or self.id in advisory.aliases


@dataclass(frozen=True)
class AuditConfig:
    """The [audit] table: whether verify audits what it ships, and with which advisory data."""

    enabled: bool = False
    db: tuple[Path, ...] = ()
    offline: bool = False
    ignore: tuple[AuditIgnore, ...] = ()


@dataclass(frozen=True)
class AppConfig:
    """The [app] table: the entry script, name, mode, output folder, included packages and data."""

    entry: Optional[Path]
    name: str
    mode: str
    output_dir: Path
    include_packages: tuple[str, ...]
    include_modules: tuple[str, ...]
    include_data: tuple[DataInclude, ...]
    exclude_data: tuple[str, ...]
    nofollow: tuple[str, ...]
    onefile_tempdir: Optional[str]


@dataclass(frozen=True)
class BuildConfig:
    """The [build] table: Nuitka's options, hardening, jobs, environment and timeout."""

    python_flags: tuple[str, ...]
    hardening: bool
    lto: str
    deployment: bool
    allow_downloads: bool
    allow_project_options: bool
    jobs: int
    timeout: int
    extra_args: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    reproducible: bool = False


@dataclass(frozen=True)
class VerifySettings:
    """The [verify] table: what fails, what is allowed and required, the smoke run, limits, suppressions."""

    fail_on: Severity
    allow_external: tuple[str, ...]
    require_glibc_max: Optional[str]
    run: bool
    smoke: Smoke
    suppress: tuple[Suppression, ...]
    limits: Limits
    require_macos_min: Optional[str] = None
    require_signed: tuple[str, ...] = ()  # ("*",) for `true`


@dataclass(frozen=True)
class SourceConfig:
    """The [source] table: check-source before the build, and how dependencies must be pinned."""

    require_hashes: bool
    requirements: tuple[Path, ...]
    check: bool


@dataclass(frozen=True)
class SecretsConfig:
    """The [secrets] table: a gitleaks config and a detect-secrets baseline to apply."""

    gitleaks_config: Optional[Path] = None  # a .gitleaks.toml (custom rules, allowlists)
    detect_secrets_baseline: Optional[Path] = None  # a detect-secrets .secrets.baseline (audited values)


@dataclass(frozen=True)
class Profile:
    """A resolved build profile: every table, the files it was merged from, and its folder."""

    path: Optional[Path]  # the file it was read from (None: defaults only)
    root: Path  # folder that relative paths are resolved against
    chain: tuple[str, ...]  # the files merged, the profile's own last
    app: AppConfig
    build: BuildConfig
    verify: VerifySettings
    source: SourceConfig
    resolved: dict[str, Any] = field(repr=False, default_factory=dict)  # merged TOML data, for manifests
    audit: AuditConfig = field(default_factory=AuditConfig)  # merged TOML data, for manifests
    secrets: "SecretsConfig" = field(default_factory=lambda: SecretsConfig())


# ----------------------------------------------------------------------------------------------
# reading and merging


def templates_dir() -> Path:
    """The shipped templates: inside the installed package, or the repository's profiles/ folder."""
    packaged = Path(__file__).resolve().parent.parent / "_profiles"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "profiles"


def list_templates() -> list[tuple[str, str]]:
    out = []
    for path in sorted(templates_dir().glob("*.toml")):
        data = _read_toml(path)
        out.append((path.stem, str(data.get("profile", {}).get("description", ""))))
    return out


MAX_PROFILE_BYTES = 1024 * 1024


def _read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file. Only a regular file of at most MAX_PROFILE_BYTES is read (an `extends`
    pointing at /dev/zero, a FIFO or a huge file is an error, not a hang)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ProfileError(f"profile not found: {path}") from None
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ProfileError(f"cannot read profile {path}: not a regular file")
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read(MAX_PROFILE_BYTES + 1)
    except OSError as exc:
        raise ProfileError(f"cannot read profile {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(raw) > MAX_PROFILE_BYTES:
        raise ProfileError(f"cannot read profile {path}: larger than {MAX_PROFILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProfileError(f"cannot read profile {path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: malformed TOML: {exc}") from None
    except RecursionError:
        raise ProfileError(f"{path}: malformed TOML: arrays or tables nested too deeply") from None


def _resolve_extends(ref: str, base_dir: Path) -> Path:
    if not isinstance(ref, str) or not ref.strip():
        raise ProfileError("profile.extends must be a template name or a relative path")
    if not ref.isprintable():
        raise ProfileError(f"profile.extends: {ref!r} holds control characters")
    if "/" in ref or "\\" in ref or ref.endswith(".toml"):
        return (base_dir / ref).resolve()
    path = templates_dir() / f"{ref}.toml"
    if not path.is_file():
        names = ", ".join(n for n, _ in list_templates())
        raise ProfileError(f"profile.extends: no template named {ref!r} (templates: {names})")
    return path.resolve()


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key (recursively); every other value, lists included, is replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load_chain(path: Path, data: dict[str, Any], seen: tuple[Path, ...]) -> tuple[dict[str, Any], tuple[Path, ...]]:
    path = path.resolve()
    if path in seen:
        cycle = " -> ".join(p.name for p in seen + (path,))
        raise ProfileError(f"profile.extends cycle: {cycle}")
    profile_table = data.get("profile", {})
    if not isinstance(profile_table, dict):
        raise ProfileError(f"{path}: [profile] must be a table")
    ref = profile_table.get("extends")
    if ref is None:
        return data, (path,)
    parent_path = _resolve_extends(ref, path.parent)
    parent_data = _read_toml(parent_path)
    _check_unknown(parent_data, parent_path)
    merged_parent, chain = _load_chain(parent_path, parent_data, seen + (path,))
    return merge(merged_parent, data), chain + (path,)


# ----------------------------------------------------------------------------------------------
# validation


def _line_of(path: Optional[Path], key: str) -> str:
    if path is None:
        return ""
    try:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(rf"^\s*{re.escape(key)}\s*=", line) or re.match(rf"^\s*\[+\s*[\w.]*{re.escape(key)}\s*\]", line):
                return f" (line {number})"
    except OSError:
        pass
    return ""


def _shown(text: str) -> str:
    """A name from the profile, safe in a one-line message: unprintable characters escaped."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in str(text))


def _check_unknown(data: dict[str, Any], path: Optional[Path]) -> None:
    where = f"{path}: " if path else ""
    for table, value in data.items():
        if table not in SCHEMA:
            raise ProfileError(f"{where}unknown table [{_shown(table)}]{_line_of(path, table)} "
                               f"(known: {', '.join(SCHEMA)})")
        if not isinstance(value, dict):
            raise ProfileError(f"{where}[{table}] must be a table")
        for key in value:
            if key not in SCHEMA[table]:
                raise ProfileError(f"{where}unknown key {table}.{_shown(key)}{_line_of(path, key)} "
                                   f"(known: {', '.join(SCHEMA[table])})")


class _Validator:
    def __init__(self, data: dict[str, Any], path: Optional[Path]) -> None:
        self.data = data
        self.path = path

    def fail(self, key: str, message: str) -> ProfileError:
        where = f"{self.path}: " if self.path else ""
        return ProfileError(f"{where}{key}{_line_of(self.path, key.rsplit('.', 1)[-1])}: {message}")

    def get(self, table: str, key: str) -> Any:
        kind, default, _ = SCHEMA[table][key]
        value = self.data.get(table, {}).get(key, copy.deepcopy(default))
        full = f"{table}.{key}"
        if value is None:
            return None
        if kind == "str" and not isinstance(value, str):
            raise self.fail(full, f"must be a string, not {type(value).__name__}")
        if kind == "bool" and not isinstance(value, bool):
            raise self.fail(full, f"must be true or false, not {type(value).__name__}")
        if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
            raise self.fail(full, f"must be an integer, not {type(value).__name__}")
        if kind in ("list[str]", "list[module]"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(full, "must be a list of strings")
            for v in value:
                _no_control(self, full, v)
        if kind == "bool|list[str]":
            if isinstance(value, bool):
                return value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(full, "must be true, false or a list of glob strings")
            for v in value:
                _no_control(self, full, v)
        if kind == "table:str":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise self.fail(full, "must be a table of strings")
        return value


def _no_control(v: _Validator, key: str, value: str) -> None:
    if any(ord(c) < 32 for c in value):
        raise v.fail(key, "control characters are not allowed")


# Variables that make Nuitka's Python or the toolchain load code from elsewhere (plus LD_*/DYLD_*).
REFUSED_ENV = frozenset({
    "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONUSERBASE", "PYTHONEXECUTABLE",
    "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "NUITKA_PLUGINS", "NUITKA_USER_PLUGINS",
})

REFUSED_EXTRA = {
    "--debug": "keeps debug checks and symbols",
    "--unstripped": "keeps debug information in the binary",
    "--python-debug": "uses a debug Python",
    "--trace-execution": "traces every line at run time",
    "--no-deployment-flag": "weakens deployment mode",
    "--user-plugin": "runs arbitrary plugin code at build time",
    "--debug-self-forking": "debug mode",
    "--debug-address-sanitizer": "debug build",
    "--debugger": "debug build",
    "--experimental": "experimental code paths",
}
MANAGED_EXTRA = (
    "--mode", "--standalone", "--onefile", "--module", "--output-dir", "--output-filename", "--report",
    "--python-flag", "--main", "--lto", "--jobs", "--deployment", "--assume-yes-for-downloads",
    "--include-package", "--include-module", "--include-data-dir", "--include-data-files", "--include-data-file",
    "--noinclude-data-files", "--nofollow-import-to", "--onefile-tempdir-spec", "--remove-output", "--reproducible",
)


def check_extra_args(args: list[str], fail) -> None:
    """Refuse positional arguments, options that undo hardening, and options the profile manages.

    Nuitka's option parser (optparse) accepts any unambiguous prefix of a long option (`--unstrip`
    is `--unstripped`), so a prefix of a refused or managed option is refused as well."""
    for arg in args:
        name = arg.split("=", 1)[0]
        if not arg.startswith("--") or name == "--":
            raise fail("build.extra_args", f"{arg!r}: only --long-options are allowed (no positional arguments)")
        refused = [o for o in REFUSED_EXTRA if o.startswith(name)]
        if refused:
            full = name if name in REFUSED_EXTRA else refused[0]
            shown = name if name == full else f"{name!r} (Nuitka reads it as {full})"
            raise fail("build.extra_args", f"{shown} is refused in a hardened build ({REFUSED_EXTRA[full]})")
        managed = [o for o in MANAGED_EXTRA if o.startswith(name)]
        if managed:
            shown = name if name in MANAGED_EXTRA else f"{name!r} (Nuitka reads it as {managed[0]})"
            raise fail("build.extra_args", f"{shown} is set by the profile itself; use the profile key instead")


def _data_include(v: _Validator, root: Path, item: Any, index: int) -> DataInclude:
    key = f"app.include_data[{index}]"
    if not isinstance(item, dict) or set(item) - {"src", "dest"} or "src" not in item:
        raise v.fail("app.include_data", f"entry {index + 1} must be {{ src = '…', dest = '…' }}")
    src, dest = item["src"], item.get("dest", item["src"])
    if not isinstance(src, str) or not isinstance(dest, str) or not src or not dest:
        raise v.fail("app.include_data", f"entry {index + 1}: src and dest must be non-empty strings")
    for value in (src, dest):
        _no_control(v, key, value)
        if "=" in value or value.startswith("-"):
            raise v.fail("app.include_data", f"entry {index + 1}: {value!r} may not contain '=' or start with '-'")
    pure = PurePosixPath(dest.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts:
        raise v.fail("app.include_data", f"entry {index + 1}: dest must be relative and stay inside the dist")
    src_path = (root / src).resolve()
    if os.path.isabs(src) or not (src_path == root.resolve() or root.resolve() in src_path.parents):
        raise v.fail("app.include_data", f"entry {index + 1}: src {src!r} leaves the profile's folder; a profile "
                                         f"may only bundle files of its own project")
    if not src_path.exists():
        raise v.fail("app.include_data", f"entry {index + 1}: {src} does not exist")
    return DataInclude(src_path, str(pure), src_path.is_dir())


def validate(data: dict[str, Any], root: Path, path: Optional[Path], chain: tuple[str, ...],
             require_entry: bool) -> Profile:
    _check_unknown(data, path)
    v = _Validator(data, path)

    entry_s = v.get("app", "entry")
    entry: Optional[Path] = None
    if entry_s is not None:
        _no_control(v, "app.entry", entry_s)
        entry = (root / entry_s).resolve()
        if require_entry and not entry.is_file():
            raise v.fail("app.entry", f"{entry_s} does not exist")
    elif require_entry:
        raise v.fail("app.entry", "is required: the script to compile")
    name = v.get("app", "name") or (entry.stem if entry else "app")
    if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$", name):
        raise v.fail("app.name", f"{name!r} is not a valid executable name")
    mode = v.get("app", "mode")
    if mode not in ("standalone", "onefile"):
        raise v.fail("app.mode", f'must be "standalone" or "onefile", not {mode!r}')
    output_dir = (root / v.get("app", "output_dir")).resolve()
    mods = {}
    for key, regex in (("include_packages", MODULE_RE), ("include_modules", MODULE_RE), ("nofollow", NOFOLLOW_RE)):
        values = v.get("app", key)
        for m in values:
            if not regex.match(m):
                raise v.fail(f"app.{key}", f"{m!r} is not a module name")
        mods[key] = tuple(values)
    raw_data = data.get("app", {}).get("include_data", [])
    if not isinstance(raw_data, list):
        raise v.fail("app.include_data", "must be a list of { src, dest } tables")
    include_data = tuple(_data_include(v, root, item, i) for i, item in enumerate(raw_data)) if require_entry else ()
    exclude_data = tuple(v.get("app", "exclude_data"))
    onefile_tempdir = v.get("app", "onefile_tempdir")

    flags = v.get("build", "python_flags")
    for flag in flags:
        if flag not in PYTHON_FLAGS:
            raise v.fail("build.python_flags", f"unknown flag {flag!r} (one of: {', '.join(sorted(PYTHON_FLAGS))})")
    lto = v.get("build", "lto")
    if lto not in ("auto", "yes", "no"):
        raise v.fail("build.lto", f'must be "auto", "yes" or "no", not {lto!r}')
    jobs, timeout = v.get("build", "jobs"), v.get("build", "timeout")
    if jobs < 0:
        raise v.fail("build.jobs", "must be 0 (all cores) or more")
    if timeout <= 0:
        raise v.fail("build.timeout", "must be a positive number of seconds")
    allow_downloads = v.get("build", "allow_downloads")
    extra = v.get("build", "extra_args")
    check_extra_args(extra, v.fail)
    env = v.get("build", "env")
    for k in env:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k):
            raise v.fail("build.env", f"{k!r} is not an environment variable name")
        if k in REFUSED_ENV or k.startswith(("LD_", "DYLD_")):
            raise v.fail("build.env", f"{k} is refused: it would load other code into Nuitka or the compiler")
    build = BuildConfig(
        python_flags=tuple(flags), hardening=v.get("build", "hardening"), lto=lto,
        deployment=v.get("build", "deployment"), allow_downloads=allow_downloads,
        allow_project_options=v.get("build", "allow_project_options"), jobs=jobs, timeout=timeout,
        extra_args=tuple(extra), env=tuple(sorted(env.items())), reproducible=v.get("build", "reproducible"),
    )

    try:
        fail_on = Severity.parse(v.get("verify", "fail_on"))
    except ValueError as exc:
        raise v.fail("verify.fail_on", str(exc)) from None
    smoke = _smoke(v, data.get("verify", {}).get("smoke", {}))
    suppress = _suppressions(v, data.get("verify", {}).get("suppress", []))
    limits = _limits(v, data.get("verify", {}).get("limits", {}))
    glibc = v.get("verify", "require_glibc_max")
    if glibc is not None and not re.match(r"^\d+\.\d+$", glibc):
        raise v.fail("verify.require_glibc_max", f'must look like "2.28", not {glibc!r}')
    macos = v.get("verify", "require_macos_min")
    if macos is not None and not re.match(r"^\d+(\.\d+){0,2}$", macos):
        raise v.fail("verify.require_macos_min", f'must look like "11.0", not {macos!r}')
    signed = v.get("verify", "require_signed")
    require_signed = ("*",) if signed is True else (() if signed is False else tuple(signed))
    verify = VerifySettings(
        fail_on=fail_on, allow_external=tuple(v.get("verify", "allow_external")), require_glibc_max=glibc,
        run=v.get("verify", "run"), smoke=smoke, suppress=suppress, limits=limits,
        require_macos_min=macos, require_signed=require_signed,
    )
    source = SourceConfig(
        require_hashes=v.get("source", "require_hashes"),
        requirements=tuple((root / r).resolve() for r in v.get("source", "requirements")),
        check=v.get("source", "check"),
    )
    app = AppConfig(
        entry=entry, name=name, mode=mode, output_dir=output_dir,
        include_packages=mods["include_packages"], include_modules=mods["include_modules"],
        include_data=include_data, exclude_data=exclude_data, nofollow=mods["nofollow"],
        onefile_tempdir=onefile_tempdir,
    )
    gl = v.get("secrets", "gitleaks_config")
    ds = v.get("secrets", "detect_secrets_baseline")
    secrets = SecretsConfig(gitleaks_config=(root / gl).resolve() if gl else None,
                            detect_secrets_baseline=(root / ds).resolve() if ds else None)
    audit = AuditConfig(
        enabled=v.get("audit", "enabled"), db=tuple((root / d).resolve() for d in v.get("audit", "db")),
        offline=v.get("audit", "offline"), ignore=_ignores(v, data.get("audit", {}).get("ignore", [])),
    )
    return Profile(path=path, root=root, chain=chain, app=app, build=build, verify=verify, source=source,
                   resolved=data, audit=audit, secrets=secrets)


def _ignores(v: _Validator, raw: Any) -> tuple[AuditIgnore, ...]:
    if not isinstance(raw, list):
        raise v.fail("audit.ignore", "must be a list of { id, reason, expires } tables")
    out = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise v.fail("audit.ignore", f"entry {i} must be a table")
        unknown = set(item) - set(IGNORE_KEYS)
        if unknown:
            raise v.fail("audit.ignore", f"entry {i}: unknown key {_shown(sorted(unknown)[0])!r} "
                                         f"(known: {', '.join(IGNORE_KEYS)})")
        ident, reason, expires = item.get("id"), item.get("reason"), item.get("expires")
        if not isinstance(ident, str) or not ident.strip() or any(ord(c) < 32 for c in ident):
            raise v.fail("audit.ignore", f"entry {i}: needs an id (an OSV id or alias, e.g. PYSEC-2023-74)")
        if not isinstance(reason, str) or not reason.strip():
            raise v.fail("audit.ignore", f"entry {i} ({_shown(ident)}): needs a non-empty reason")
        if isinstance(expires, str):
            try:
                expires = dt.date.fromisoformat(expires)
            except ValueError:
                raise v.fail("audit.ignore", f"entry {i}: expires must be a date like 2027-03-01") from None
        elif isinstance(expires, dt.datetime):
            expires = expires.date()
        elif expires is not None and not isinstance(expires, dt.date):
            raise v.fail("audit.ignore", f"entry {i}: expires must be a date like 2027-03-01")
        out.append(AuditIgnore(ident.strip(), reason.strip(), expires))
    return tuple(out)


def _smoke(v: _Validator, raw: Any) -> Smoke:
    if not isinstance(raw, dict):
        raise v.fail("verify.smoke", "must be a table { args = [...], expect_exit = 0, timeout = 30 }")
    for key in raw:
        if key not in SMOKE_KEYS:
            raise v.fail("verify.smoke", f"unknown key {key!r} (known: {', '.join(SMOKE_KEYS)})")
    args = raw.get("args", ["--help"])
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise v.fail("verify.smoke", "args must be a list of strings")
    for key in ("expect_exit", "timeout"):
        if key in raw and (not isinstance(raw[key], int) or isinstance(raw[key], bool)):
            raise v.fail("verify.smoke", f"{key} must be an integer")
    if "enabled" in raw and not isinstance(raw["enabled"], bool):
        raise v.fail("verify.smoke", "enabled must be true or false")
    timeout = raw.get("timeout", 30)
    if timeout <= 0:
        raise v.fail("verify.smoke", "timeout must be positive")
    return Smoke(tuple(args), raw.get("expect_exit", 0), timeout, raw.get("enabled", True))


def _suppressions(v: _Validator, raw: Any) -> tuple[Suppression, ...]:
    if not isinstance(raw, list):
        raise v.fail("verify.suppress", "must be a list of { rule, path, reason } tables")
    out = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise v.fail("verify.suppress", f"entry {i} must be a table")
        unknown = set(item) - set(SUPPRESS_KEYS)
        if unknown:
            raise v.fail("verify.suppress", f"entry {i}: unknown key {sorted(unknown)[0]!r}")
        if not all(isinstance(x, str) for x in item.values()):
            raise v.fail("verify.suppress", f"entry {i}: values must be strings")
        if not item.get("rule") or not item.get("reason", "").strip():
            raise v.fail("verify.suppress", f"entry {i}: needs a rule and a non-empty reason")
        out.append(Suppression(item["rule"], item["reason"], item.get("path", "*"), item.get("fingerprint")))
    return tuple(out)


def _limits(v: _Validator, raw: Any) -> Limits:
    if not isinstance(raw, dict):
        raise v.fail("verify.limits", "must be a table")
    defaults = Limits()
    kwargs = {}
    for key, value in raw.items():
        if key not in Limits.keys():
            raise v.fail("verify.limits", f"unknown limit {key!r} (known: {', '.join(Limits.keys())})")
        expected = type(getattr(defaults, key))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (expected is int and not isinstance(value, int)):
            raise v.fail(f"verify.limits.{key}", f"must be a {expected.__name__}")
        if isinstance(value, float) and not math.isfinite(value):
            raise v.fail(f"verify.limits.{key}", "must be a finite number")
        if value <= 0:
            raise v.fail(f"verify.limits.{key}", "must be positive")
        kwargs[key] = expected(value)
    return Limits(**kwargs)


# ----------------------------------------------------------------------------------------------
# entry points


def load_profile(path: Optional[Path] = None, *, require_entry: bool = True, cwd: Optional[Path] = None) -> Profile:
    """Read `path` (default: ./hardnut.toml, else [tool.hardnut] in ./pyproject.toml), resolve `extends`,
    validate, and return the frozen profile. Raises ProfileError with one clear line."""
    cwd = Path(cwd or os.getcwd())
    if path is None:
        if (cwd / "hardnut.toml").is_file():
            path = cwd / "hardnut.toml"
        elif (cwd / "pyproject.toml").is_file() and "hardnut" in _read_toml(cwd / "pyproject.toml").get("tool", {}):
            path = cwd / "pyproject.toml"
        else:
            raise ProfileError("no profile: pass -p PROFILE, or create ./hardnut.toml (`hardnut init`)")
    path = Path(path)
    if path.is_dir():
        path = path / "hardnut.toml"
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        tool = data.get("tool", {}).get("hardnut")
        if not isinstance(tool, dict):
            raise ProfileError(f"{path}: no [tool.hardnut] table")
        data = tool
    try:
        _check_unknown(data, path)
        merged, chain = _load_chain(path, data, ())
        return validate(merged, path.resolve().parent, path.resolve(), tuple(str(p) for p in chain), require_entry)
    except RecursionError:
        raise ProfileError(f"{path}: values nested too deeply") from None


def load_template(name: str) -> Profile:
    """A template on its own (for `verify -p ci-verify` style use)."""
    path = _resolve_extends(name, Path.cwd())
    return load_profile(path, require_entry=False)


def default_profile() -> Profile:
    return validate({}, Path.cwd(), None, (), require_entry=False)


__all__ = [
    "AppConfig", "AuditConfig", "AuditIgnore", "BuildConfig", "DataInclude", "Profile", "Smoke", "SourceConfig", "Suppression",
    "VerifySettings", "check_extra_args", "default_profile", "list_templates", "load_profile",
    "load_template", "merge", "templates_dir", "validate",
]
