"""What an app declares as its dependencies, read from requirement, project and lock files.

`read_declarations(paths)` parses requirements*.txt (pip's line format, `-r`/`-c` followed),
pyproject.toml ([project] and Poetry's tables), uv.lock, poetry.lock, Pipfile.lock and pylock.toml
(PEP 751) into `Declared` records: canonical name, where (file, line), whether the version is pinned
exactly and whether a hash pins the content. `imported_distributions(imports)` maps top-level import
names to the distributions installed in the running (= build) environment.

Facts only; hardnut.checks.source decides what is a finding. Display strings never contain URLs
(they can carry credentials): a direct reference is shown as "<name> @ <url>".
"""

from __future__ import annotations

import inspect
import json
import os
import re
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from hardnut.names import canonical_name

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_INCLUDE_DEPTH = 8

LOCK_NAMES = ("uv.lock", "poetry.lock", "Pipfile.lock", "pylock.toml")
LOCAL_SOURCES = ("editable", "virtual", "directory", "path")  # the project itself, not a pinned download

_COMMIT = re.compile(r"@[0-9a-fA-F]{40}(?:[#&]|$)")
_URL_HASH = re.compile(r"#(?:.*&)?(?:sha256|sha384|sha512)=[0-9a-fA-F]+")
_ARCHIVE = re.compile(r"\.(?:whl|tar\.gz|tgz|tar\.bz2|zip)(?:[#?]|$)", re.I)
_COMMENT = re.compile(r"(^|\s+)#.*$")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9_.\-]+)")


@dataclass(frozen=True)
class Declared:
    """A dependency an app declares (requirements, pyproject, lock file), and how it is pinned."""

    name: str  # canonical (PEP 503) distribution name
    file: Path
    line: Optional[int]
    kind: str  # "requirements", "constraint", "pyproject", "lock"
    pinned: bool  # exactly one version (==/=== without wildcard, a lock entry, a commit, an archive)
    hashed: bool  # a content hash pins the download (--hash, lock file hashes, #sha256= in a URL)
    display: str  # safe to print: name, extras and specifier, never a URL
    local: bool = False  # the project itself / a local path: no pin or hash expected
    version: Optional[str] = None  # the pinned version (`==1.2.3`, a lock entry), for `[audit]`


@dataclass
class DepProblem:
    """A declaration that could not be read or is not pinned as required."""

    file: Path
    line: Optional[int]
    message: str


@dataclass
class Declarations:
    """Every dependency declaration of an app's folder, with the problems found reading them."""

    files: list[Path] = field(default_factory=list)
    declared: list[Declared] = field(default_factory=list)
    problems: list[DepProblem] = field(default_factory=list)
    project_names: set[str] = field(default_factory=set)  # [project].name etc.: the app itself

    def names(self, kinds: Iterable[str] = ("requirements", "pyproject", "lock")) -> set[str]:
        kinds = tuple(kinds)
        return {d.name for d in self.declared if d.kind in kinds} | self.project_names

    def has_lock(self) -> bool:
        return any(d.kind == "lock" for d in self.declared) or any(
            p.name in LOCK_NAMES or _is_pylock(p) for p in self.files)


def _is_pylock(path: Path) -> bool:
    return path.name == "pylock.toml" or (path.name.startswith("pylock.") and path.name.endswith(".toml"))


def discover(folders: Iterable[Path]) -> list[Path]:
    """Requirement, project and lock files directly inside `folders` (no recursion), sorted per folder."""
    out: list[Path] = []
    for folder in folders:
        try:
            entries = sorted(p for p in folder.iterdir() if p.is_file())
        except OSError:
            continue
        for p in entries:
            n = p.name
            if (n.startswith("requirements") and n.endswith(".txt")) or n == "pyproject.toml" \
                    or n in LOCK_NAMES or _is_pylock(p):
                if p not in out:
                    out.append(p)
    return out


def _read(path: Path, result: Declarations) -> Optional[str]:
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            result.problems.append(DepProblem(path, None, "not a regular file; not read"))
            return None
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            result.problems.append(DepProblem(path, None, f"larger than {MAX_FILE_BYTES} bytes; not read"))
            return None
        return data.decode("utf-8", "replace")
    except OSError as exc:
        result.problems.append(DepProblem(path, None, f"cannot be read ({exc.strerror or type(exc).__name__})"))
        return None


def _line_of(text: str, pattern: str) -> Optional[int]:
    m = re.search(pattern, text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


# ------------------------------------------------------------------------------------------------
# requirements.txt (pip's format)


def _logical_lines(text: str) -> Iterable[tuple[int, str]]:
    """(first physical line number, line) with comments stripped and backslash continuations joined."""
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _COMMENT.sub("", raw)
        if not buf:
            start = number
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        if buf.strip():
            yield start, buf.strip()
        buf = ""
    if buf.strip():
        yield start, buf.strip()


def _split_options(line: str) -> tuple[str, list[str]]:
    """pip's break_args_options: the requirement is everything before the first token starting with '-'."""
    tokens = line.split(" ")
    args: list[str] = []
    options = tokens[:]
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            options = tokens[i:]
            break
        args.append(token)
    else:
        options = []
    return " ".join(args).strip(), [o for o in options if o]


def _has_hash(options: list[str]) -> bool:
    return any(o == "--hash" or o.startswith("--hash=") for o in options)


def _direct(url: str) -> tuple[bool, bool]:
    """(pinned, hashed) for a direct reference."""
    hashed = bool(_URL_HASH.search(url))
    pinned = hashed or bool(_COMMIT.search(url)) or (not url.startswith(("git+", "hg+", "svn+", "bzr+"))
                                                     and bool(_ARCHIVE.search(url)))
    return pinned, hashed


def _is_local(text: str) -> bool:
    return text.startswith((".", "/", "file:")) or bool(re.match(r"^[A-Za-z]:[\\/]", text))


def _requirement(text: str, options: list[str], path: Path, line: int, kind: str,
                 result: Declarations) -> None:
    from packaging.requirements import InvalidRequirement, Requirement  # here: 20 ms to import

    hashed = _has_hash(options)
    try:
        req = Requirement(text)
    except InvalidRequirement:
        if _is_local(text) or "://" in text or text.startswith(("git+", "hg+", "svn+", "bzr+")):
            egg = _EGG.search(text)
            local = _is_local(text)
            if egg is None:
                if not local:
                    result.problems.append(DepProblem(path, line, "direct reference without a name (#egg=)"))
                return
            name = canonical_name(egg.group(1))
            pinned, url_hashed = _direct(text)
            result.declared.append(Declared(name, path, line, kind, pinned or local, hashed or url_hashed,
                                            f"{name} @ <url>", local=local))
            return
        result.problems.append(DepProblem(path, line, "not a valid requirement (PEP 508)"))
        return
    name = canonical_name(req.name)
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    if req.url:
        local = req.url.startswith("file:")
        pinned, url_hashed = _direct(req.url)
        result.declared.append(Declared(name, path, line, kind, pinned or local, hashed or url_hashed,
                                        f"{name}{extras} @ <url>", local=local))
        return
    pins = [s.version for s in req.specifier if s.operator == "===" or (s.operator == "==" and "*" not in s.version)]
    result.declared.append(Declared(name, path, line, kind, bool(pins), hashed, f"{name}{extras}{req.specifier}",
                                    version=pins[0] if len(pins) == 1 else None))


def read_requirements(path: Path, result: Declarations, kind: str = "requirements", depth: int = 0,
                      seen: Optional[set[Path]] = None) -> None:
    seen = seen if seen is not None else set()
    try:
        key = path.resolve()
    except OSError:
        key = path
    if key in seen:
        return
    seen.add(key)
    text = _read(path, result)
    if text is None:
        return
    if path not in result.files:
        result.files.append(path)
    for line, content in _logical_lines(text):
        if content.startswith("-"):
            m = re.match(r"^(--requirement|--constraint|--editable|-r|-c|-e)\s*=?\s*(\S.*)$", content)
            if not m:
                continue  # a global option: --index-url, --hash-only lines, --pre...
            flag, value = m.group(1), m.group(2).strip()
            if flag in ("-e", "--editable"):
                text_part, options = _split_options(value)
                _requirement(text_part, options, path, line, kind, result)
                continue
            nested = (path.parent / value).resolve() if not Path(value).is_absolute() else Path(value)
            if depth >= MAX_INCLUDE_DEPTH:
                result.problems.append(DepProblem(path, line, "requirement files nested too deeply; not followed"))
                continue
            if not nested.is_file():
                result.problems.append(DepProblem(path, line, f"included file {Path(value).name} not found"))
                continue
            read_requirements(nested, result, "constraint" if flag in ("-c", "--constraint") else kind,
                              depth + 1, seen)
            continue
        text_part, options = _split_options(content)
        if text_part:
            _requirement(text_part, options, path, line, kind, result)


# ------------------------------------------------------------------------------------------------
# pyproject.toml and lock files


def _toml(path: Path, result: Declarations) -> tuple[Optional[dict], str]:
    text = _read(path, result)
    if text is None:
        return None, ""
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        result.problems.append(DepProblem(path, None, f"malformed TOML ({exc})"))
        return None, text


def read_pyproject(path: Path, result: Declarations) -> None:
    data, text = _toml(path, result)
    if data is None:
        return
    result.files.append(path)
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    if isinstance(project.get("name"), str):
        result.project_names.add(canonical_name(project["name"]))
    deps = project.get("dependencies", [])
    if isinstance(deps, list):
        for dep in deps:
            if not isinstance(dep, str):
                continue
            line = _line_of(text, re.escape(dep.strip()))
            _requirement(dep.strip(), [], path, line or _line_of(text, r"^\s*dependencies\s*="), "pyproject", result)
    poetry = data.get("tool", {}).get("poetry", {}) if isinstance(data.get("tool"), dict) else {}
    if isinstance(poetry, dict):
        if isinstance(poetry.get("name"), str):
            result.project_names.add(canonical_name(poetry["name"]))
        pdeps = poetry.get("dependencies", {})
        if isinstance(pdeps, dict):
            for name, spec in pdeps.items():
                if name.lower() == "python":
                    continue
                version = spec if isinstance(spec, str) else (spec.get("version", "") if isinstance(spec, dict) else "")
                pinned = bool(re.fullmatch(r"\s*={0,2}\s*\d[\w.!+-]*\s*", version or "")) and "*" not in version
                line = _line_of(text, rf"^\s*{re.escape(name)}\s*=")
                result.declared.append(Declared(canonical_name(name), path, line, "pyproject", pinned, False,
                                                f"{canonical_name(name)} {version or '*'}".strip()))


def _lock_entry(result: Declarations, path: Path, text: str, name: object, hashed: bool, local: bool,
                version: object = "") -> None:
    if not isinstance(name, str) or not name:
        return
    line = _line_of(text, rf'^\s*name\s*=\s*"{re.escape(name)}"') or _line_of(text, rf'"{re.escape(name)}"\s*:')
    cname = canonical_name(name)
    result.declared.append(Declared(cname, path, line, "lock", True, hashed,
                                    f"{cname}=={version}" if version else cname, local=local,
                                    version=str(version) if version and isinstance(version, (str, int, float)) else None))


def read_uv_lock(path: Path, result: Declarations) -> None:
    data, text = _toml(path, result)
    if data is None:
        return
    result.files.append(path)
    for pkg in data.get("package", []) if isinstance(data.get("package"), list) else []:
        if not isinstance(pkg, dict):
            continue
        source = pkg.get("source", {}) if isinstance(pkg.get("source"), dict) else {}
        local = any(k in source for k in LOCAL_SOURCES)
        sdist = pkg.get("sdist", {}) if isinstance(pkg.get("sdist"), dict) else {}
        wheels = pkg.get("wheels", []) if isinstance(pkg.get("wheels"), list) else []
        hashed = bool(sdist.get("hash")) or any(isinstance(w, dict) and w.get("hash") for w in wheels)
        if re.search(r"#[0-9a-f]{40}$", str(source.get("git", ""))):
            hashed = True  # uv records the resolved commit after '#'
        _lock_entry(result, path, text, pkg.get("name"), hashed, local, pkg.get("version", ""))


def read_poetry_lock(path: Path, result: Declarations) -> None:
    data, text = _toml(path, result)
    if data is None:
        return
    result.files.append(path)
    legacy = data.get("metadata", {}).get("files", {}) if isinstance(data.get("metadata"), dict) else {}
    for pkg in data.get("package", []) if isinstance(data.get("package"), list) else []:
        if not isinstance(pkg, dict):
            continue
        source = pkg.get("source", {}) if isinstance(pkg.get("source"), dict) else {}
        local = source.get("type") in ("directory", "file") and not source.get("url", "").startswith("http")
        files = pkg.get("files")
        if not isinstance(files, list) and isinstance(legacy, dict):
            files = legacy.get(pkg.get("name"), [])
        hashed = any(isinstance(f, dict) and f.get("hash") for f in files or [])
        if source.get("type") == "git" and re.fullmatch(r"[0-9a-f]{40}", str(source.get("resolved_reference", ""))):
            hashed = True
        _lock_entry(result, path, text, pkg.get("name"), hashed, local, pkg.get("version", ""))


def read_pipfile_lock(path: Path, result: Declarations) -> None:
    text = _read(path, result)
    if text is None:
        return
    try:
        data = json.loads(text)
    except ValueError as exc:
        result.problems.append(DepProblem(path, None, f"malformed JSON ({exc})"))
        return
    result.files.append(path)
    default = data.get("default", {}) if isinstance(data, dict) else {}
    for name, entry in (default.items() if isinstance(default, dict) else ()):
        if not isinstance(entry, dict):
            continue
        local = "path" in entry or bool(entry.get("editable"))
        hashed = bool(entry.get("hashes")) or bool(re.fullmatch(r"[0-9a-f]{40}", str(entry.get("ref", ""))))
        version = str(entry.get("version", "")).lstrip("=")
        _lock_entry(result, path, text, name, hashed, local, version)


def read_pylock(path: Path, result: Declarations) -> None:
    data, text = _toml(path, result)
    if data is None:
        return
    result.files.append(path)
    for pkg in data.get("packages", []) if isinstance(data.get("packages"), list) else []:
        if not isinstance(pkg, dict):
            continue
        local = "directory" in pkg
        parts = [pkg.get("sdist"), pkg.get("archive"), *(pkg.get("wheels") or [])]
        hashed = any(isinstance(p, dict) and isinstance(p.get("hashes"), dict) and p["hashes"] for p in parts)
        vcs = pkg.get("vcs")
        if isinstance(vcs, dict) and re.fullmatch(r"[0-9a-f]{40}", str(vcs.get("commit-id", ""))):
            hashed = True
        _lock_entry(result, path, text, pkg.get("name"), hashed, local, pkg.get("version", ""))


def read_declarations(paths: Iterable[Path]) -> Declarations:
    """Parse every file (by its name); unreadable or malformed files become `problems`, never exceptions."""
    result = Declarations()
    seen: set[Path] = set()
    for path in paths:
        path = Path(path)
        name = path.name
        if not path.is_file():
            result.problems.append(DepProblem(path, None, "not found"))
            continue
        if name == "pyproject.toml":
            read_pyproject(path, result)
        elif name == "uv.lock":
            read_uv_lock(path, result)
        elif name == "poetry.lock":
            read_poetry_lock(path, result)
        elif name == "Pipfile.lock":
            read_pipfile_lock(path, result)
        elif _is_pylock(path):
            read_pylock(path, result)
        else:
            read_requirements(path, result, seen=seen)
    return result


# ------------------------------------------------------------------------------------------------
# the build environment


@dataclass(frozen=True)
class Installed:
    """The installed distributions that provide a top-level import name."""

    import_name: str
    distributions: tuple[tuple[str, str, str], ...]  # (canonical name, name as published, version)


def _top_level_names(dist) -> set[str]:
    """The top-level import names a distribution installs: its top_level.txt, else the first component
    of each file it installs (a module file's name without its suffixes), as importlib.metadata's
    packages_distributions infers them (Python 3.12's rule, which also counts extension modules).
    RECORD's paths are read with csv, as importlib.metadata reads them, without making a path object
    per file (dist.files: 20 ms for 25 distributions; egg-info distributions, which have no RECORD,
    still go through it)."""
    from hardnut.distfiles import read_text

    declared = (read_text(dist, "top_level.txt") or "").split()
    if declared:
        return set(declared)
    record = read_text(dist, "RECORD")
    if record is not None:
        import csv

        paths = [row[0] for row in csv.reader(record.splitlines()) if row]
    else:
        paths = [f.as_posix() for f in dist.files or ()]
    names = set()
    for path in paths:
        first, sep, _ = path.partition("/")
        name = first if sep else inspect.getmodulename(first) or first
        if "." not in name:
            names.add(name)
    return names


def _providers(metadata, wanted: set[str]) -> dict[str, list[str]]:
    """{import name: [published names of the distributions providing it]} for the `wanted` names only.
    metadata.packages_distributions() parsed every distribution's METADATA for its name (e-mail parsing,
    30-50 ms for 70 distributions on every build); here only the providers' headers are parsed
    (hardnut.distfiles)."""
    from hardnut.distfiles import headers

    out: dict[str, list[str]] = {}
    try:
        for dist in metadata.distributions():
            try:
                found = _top_level_names(dist) & wanted
                published = headers(dist)["Name"] if found else None
                for name in sorted(found) if published else ():
                    out.setdefault(name, []).append(published)
            except Exception:  # a broken distribution must not end the check (nor hide the others)
                continue
    except Exception:
        return {}
    return out


def imported_distributions(import_names: Iterable[str]) -> dict[str, Installed]:
    """Top-level import names that come from an installed distribution of the running Python (the one
    that runs Nuitka), with that distribution's name and version. Standard-library names are left out
    (and when only those are asked for, the environment is not read at all)."""
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    wanted = [name for name in import_names if name not in stdlib and name != "__future__"]
    if not wanted:
        return {}
    from importlib import metadata

    from hardnut.distfiles import headers

    mapping = _providers(metadata, set(wanted))
    versions: dict[str, Optional[tuple[str, str]]] = {}

    def version_of(published: str) -> tuple[str, str]:
        """(name as published, version) of the distribution found first on sys.path (each read once)."""
        key = canonical_name(published)
        if key not in versions:
            versions[key] = None
            try:
                md = headers(metadata.distribution(published))
                name = md["Name"] if md else None
                if name:
                    versions[key] = (name, md["Version"] or "")
            except Exception:
                pass
        return versions[key] or (published, "")

    out: dict[str, Installed] = {}
    for name in wanted:
        if name not in mapping:
            continue
        dists = tuple(sorted({(canonical_name(d), *version_of(d)) for d in mapping[name]}))
        out[name] = Installed(name, dists)
    return out
