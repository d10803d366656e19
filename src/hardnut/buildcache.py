"""A content-addressed cache of Nuitka's output, so an unchanged rebuild skips the compile.

The key is a sha256 over everything that goes into a build:
  * the Nuitka command hardnut runs (argv with the build folder replaced by a placeholder) and the
    environment variables that steer compilers and Python (BUILD_ENV_VARS, prefixes BUILD_ENV_PREFIXES,
    and the profile's build.env), plus the resolved profile (every key, including [verify]; not
    app.output_dir, where the result goes);
  * every file under the profile's folder (path, mode, contents: sources and data files, which a profile
    may only take from its own folder), except the output folder, the cache, virtual environments and
    the usual caches/VCS folders (SKIP_DIRS);
  * Python (version, executable, prefix, platform), hardnut's and Nuitka's versions;
  * every installed distribution of this Python (the sha256 of its METADATA, which names it and its
    version, and of its RECORD file, so a reinstall with other contents changes the key even at the
    same version);
  * the C compiler (its path and `--version` output; $CC when set).
  * hardnut itself (version and a hash of its own modules).
A hit restores Nuitka's output (the dist folder or onefile executable, and its report) into the build
folder; the smoke run, the SBOM and the manifest then run as for a fresh compile, and the verify result
stored with the entry is reused (the artifact's bytes, the profile and hardnut are the same, so is the
result; a different verify function verifies again). The restored files are hashed first: when they are
not exactly the regular files and sha256 values that verify recorded, the entry is damaged, removed, and
the build compiles.

The cache folder is `HARDNUT_CACHE_DIR` or `<profile folder>/.hardnut-cache/builds`; after each store the
oldest entries (least recently used) are removed until it is under `HARDNUT_CACHE_MAX_MB` (default 2048).
`hardnut build --no-cache` neither reads nor writes it; deleting the folder is always safe. Its `files/`
subfolder keeps verify's per-file results for the next build (hardnut.filecache) and the last SBOM of each
app (hardnut.sbomcache), bounded and pruned with the entries.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from hardnut import __version__

FORMAT = 1
ENV_DIR = "HARDNUT_CACHE_DIR"
ENV_MAX_MB = "HARDNUT_CACHE_MAX_MB"
DEFAULT_MAX_MB = 2048
FILES_DIR = "files"  # verify's per-file results (hardnut.filecache), below the cache folder
FILES_TEMP_PREFIX = ".tmp-"  # a per-file result being written
FILES_JSON = "files.json"  # an entry's regular files: {path: [sha256, size]}, from the build's verify
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", ".hardnut-cache", ".pytest_cache", ".mypy_cache",
                       ".tox", ".nox", "node_modules"})
BUILD_ENV_VARS = frozenset({"CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "LIBS", "CPATH",
                            "C_INCLUDE_PATH", "LIBRARY_PATH", "LD_LIBRARY_PATH", "PATH", "SOURCE_DATE_EPOCH",
                            "MACOSX_DEPLOYMENT_TARGET", "SDKROOT", "INCLUDE", "LIB"})
BUILD_ENV_PREFIXES = ("NUITKA_", "PYTHON")  # not CCACHE_*: a compiler cache does not change the output


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tree(root: Path, skip: Iterable[Path]) -> list[tuple[str, int, str]]:
    """(relative path, mode, sha256 or link target) of every file and link below root, sorted; output
    folders (another app.output_dir holding a hardnut manifest, Nuitka's .build/.dist) are left out."""
    skip_real = {os.path.realpath(p) for p in skip}
    out = []
    for folder, dirs, files in os.walk(root):
        if folder != str(root) and any(n.endswith(".hardnut.json") for n in files):
            dirs[:] = []  # an output folder of an earlier hardnut build (its manifest is there): not an input
            continue
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith((".build", ".dist", ".onefile-build"))
                         and os.path.realpath(os.path.join(folder, d)) not in skip_real
                         and not os.path.isfile(os.path.join(folder, d, "pyvenv.cfg")))  # a venv: see distributions
        for name in sorted(files):
            full = Path(folder) / name
            rel = full.relative_to(root).as_posix()
            try:
                st = full.lstat()
                if full.is_symlink():
                    out.append((rel, st.st_mode, "link:" + os.readlink(full)))
                elif full.is_file():
                    out.append((rel, st.st_mode & 0o777, _file_digest(full)))
            except OSError as exc:
                out.append((rel, 0, f"unreadable:{exc.errno}"))
    return out


def installed_distributions() -> list[tuple[str, str]]:
    """(sha256 of METADATA or PKG-INFO, sha256 of RECORD) of every distribution importlib.metadata sees,
    sorted: the metadata holds the name and version, RECORD the hash of every installed file, so a
    reinstall with other contents changes the key even at the same version. The texts are hashed, not
    parsed (parsing 50 METADATA files as e-mail took 30 ms of every build), and read as hardnut.distfiles
    reads them (directly from a distribution's folder: 7-15 ms -> 3 ms of every build)."""
    from importlib import metadata

    from hardnut.distfiles import read_bytes

    def digest(data: Optional[bytes]) -> str:
        return hashlib.sha256(data or b"").hexdigest()

    out = set()
    for dist in metadata.distributions():
        try:
            meta, record = read_bytes(dist, "METADATA") or read_bytes(dist, "PKG-INFO"), read_bytes(dist, "RECORD")
        except Exception:  # an unreadable distribution must not end the build
            meta, record = b"?", b""
        out.add((digest(meta), digest(record)))
    return sorted(out)


def compiler_identity() -> dict[str, str]:
    from hardnut.doctor import c_compiler, command_version

    cc = os.environ.get("CC", "").strip()
    path = shutil.which(cc.split()[0]) if cc else c_compiler()
    if not path:
        return {"path": "", "version": "none"}
    try:
        proc = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        version = (proc.stdout or proc.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        version = command_version([path, "--version"]) or "unknown"
    return {"path": os.path.realpath(path), "version": version}


def build_env(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in sorted(environ.items()) if k in BUILD_ENV_VARS or k.startswith(BUILD_ENV_PREFIXES)}


def key_inputs(profile: Any, argv: Iterable[str], environ: dict[str, str], build_dir: Path) -> dict[str, Any]:
    """Everything the key is made of (see the module docstring), as plain JSON data."""
    from hardnut.doctor import dist_version

    placeholder = "<build>"
    argv_norm = [a.replace(str(build_dir), placeholder) for a in argv]
    skip = [profile.app.output_dir]
    profile_data = {k: v for k, v in asdict(profile).items() if k not in ("resolved",)}
    profile_data["app"].pop("output_dir", None)  # where the result goes is not an input
    return {
        "format": FORMAT,
        "hardnut": [__version__, _own_code_digest()],
        "nuitka": dist_version("nuitka") or "unknown",
        "python": [sys.version, sys.executable, sys.prefix, platform.platform(), sys.implementation.name],
        "argv": argv_norm,
        "env": {k: v.replace(str(build_dir), placeholder) for k, v in build_env(environ).items()},
        "profile": _jsonable(profile_data),
        "resolved": _jsonable({k: v for k, v in profile.resolved.items() if k != "app"}),
        "resolved_app": _jsonable({k: v for k, v in profile.resolved.get("app", {}).items() if k != "output_dir"}),
        "sources": _tree(Path(profile.root), skip),
        "distributions": installed_distributions(),
        "compiler": compiler_identity(),
    }


_OWN_DIGEST: Optional[str] = None


@functools.lru_cache(maxsize=None)
def code_identity(libraries: tuple[str, ...]) -> dict[str, Any]:
    """What a result kept between builds depends on besides its own inputs: hardnut (version and the hash
    of its own modules), the installed versions of `libraries` (None when absent) and Python. Shared by
    the per-file results (hardnut.filecache) and the kept SBOM (hardnut.sbomcache); computed once per
    process (callers copy it)."""
    from hardnut.doctor import dist_version

    versions = {}
    for name in libraries:
        try:
            versions[name] = dist_version(name)  # only the metadata's headers are parsed
        except Exception:  # broken metadata: the key still differs from a good one
            versions[name] = None
    return {"hardnut": [__version__, _own_code_digest()], "libraries": versions,
            "python": [sys.version, sys.implementation.name, sys.hexversion]}


def _own_code_digest() -> str:
    """sha256 over hardnut's own modules and data: a changed hardnut (even at the same version) misses.
    Computed once per process (the build key and the per-file cache of verify both use it)."""
    global _OWN_DIGEST
    if _OWN_DIGEST is None:
        here = Path(__file__).resolve().parent
        h = hashlib.sha256()
        for path in sorted(p for p in here.rglob("*") if p.suffix in (".py", ".json", ".toml") and p.is_file()):
            h.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
        _OWN_DIGEST = h.hexdigest()
    return _OWN_DIGEST


def result_document(result: Any) -> dict[str, Any]:
    """A VerifyResult as JSON data that `result_from_document` turns back into an equal VerifyResult: the
    JSON report itself (one serialisation of results in hardnut: hardnut.report.json_format)."""
    from hardnut.report.json_format import document

    return document(result)


def result_from_document(doc: dict[str, Any]) -> Any:
    from hardnut.report.json_format import parse

    return parse(doc, command=str(doc.get("command") or "verify"))


def _regular_file_hashes(result: Any) -> dict[str, list]:
    """{path: [sha256, size]} of the regular files on disk a VerifyResult lists (not symlinks, not
    onefile payload entries); {} without a result."""
    out: dict[str, list] = {}
    for rec in getattr(result, "files", None) or ():
        if rec.format != "symlink" and "!" not in rec.path and rec.sha256 and rec.mode is not None:
            out[rec.path] = [rec.sha256, rec.size]
    return out


def _listed_files(entry: Path) -> Optional[dict[str, list]]:
    """An entry's files.json ({path: [sha256, size]}); None when it has none (stored without a verify
    result: nothing is reused, verify reads the restored files itself). Raises ValueError when it is
    not such a mapping."""
    try:
        listed = json.loads((entry / FILES_JSON).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if not isinstance(listed, dict):
        raise ValueError(f"{FILES_JSON} is not a mapping")
    return listed


def _restored_files(target: Path) -> dict[str, list]:
    """{path: [sha256, size]} of the regular files of `target` (a folder, paths relative to it; or one
    file, under its name), as _regular_file_hashes records a build's: symlinks are left out."""
    from hardnut.artifact.digest import file_digest

    if not target.is_dir():
        return {target.name: [file_digest(target), target.stat().st_size]}
    out: dict[str, list] = {}
    for folder, _dirs, names in os.walk(target):
        for name in names:
            full = os.path.join(folder, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                out[os.path.relpath(full, target).replace(os.sep, "/")] = [file_digest(full), st.st_size]
    return out


def _remove(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target, ignore_errors=True)
    else:
        try:
            target.unlink()
        except OSError:
            pass


def cache_key(inputs: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


class BuildCache:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = Path(folder)
        self.max_bytes = max_bytes

    @classmethod
    def for_profile(cls, profile: Any, environ: Optional[dict[str, str]] = None) -> "BuildCache":
        environ = os.environ if environ is None else environ
        folder = Path(environ[ENV_DIR]) if environ.get(ENV_DIR) else Path(profile.root) / ".hardnut-cache" / "builds"
        try:
            max_mb = int(environ.get(ENV_MAX_MB, "") or DEFAULT_MAX_MB)
        except ValueError:
            max_mb = DEFAULT_MAX_MB
        return cls(folder, max(0, max_mb) * 1024 * 1024)

    def _entry(self, key: str) -> Path:
        return self.folder / key

    @property
    def files_folder(self) -> Path:
        """Where verify's per-file results are kept (hardnut.filecache); pruned with the entries."""
        return self.folder / FILES_DIR

    def sbom_template(self, profile: Any) -> Optional[Path]:
        """Where the last SBOM of this profile's app is kept (hardnut.sbomcache), among the per-file
        results (pruned with them); None when the cache stores nothing."""
        if self.max_bytes <= 0:
            return None
        owner = hashlib.sha256(f"{Path(profile.root).resolve()}\0{profile.app.name}".encode()).hexdigest()[:32]
        return self.files_folder / f"sbom-{owner}.json"

    def file_folder_for_verify(self) -> Optional[Path]:
        """The per-file result folder, created; None when the cache stores nothing (size 0) or the
        folder cannot be made (verify then runs without it)."""
        if self.max_bytes <= 0:
            return None
        try:
            self.files_folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            return None
        return self.files_folder

    def has(self, key: str) -> bool:
        """Whether an entry for `key` is stored (restore may still fail: it can be pruned meanwhile)."""
        return (self._entry(key) / "meta.json").is_file()

    def restore(self, key: str, target: Path, report: Path) -> bool:
        """Copy the cached output for `key` to `target` (folder or file) and its report to `report`.
        False when there is no such entry, it cannot be read, or its files are not the ones its build
        verified: an entry with a verify result lists its regular files' sha256 and size (files.json),
        and the copy must hold exactly those, so a reused verify result and the manifest made from it
        always describe the bytes that ship. A damaged entry (a file changed, removed or added in the
        cache folder, or linked from a damaged one) is removed; nothing is left at `target`."""
        entry = self._entry(key)
        meta = entry / "meta.json"
        if not meta.is_file():
            return False
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            listed = _listed_files(entry)
            src = entry / "output" / info["name"]
            if src.is_dir() and not src.is_symlink():
                shutil.copytree(src, target, symlinks=True)
            elif src.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
            else:
                return False
            if listed is not None and _restored_files(target) != listed:
                _remove(target)
                shutil.rmtree(entry, ignore_errors=True)
                return False
            if (entry / "report.xml").is_file():
                report.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(entry / "report.xml", report)
            os.utime(meta)  # least recently used goes first when pruning
            return True
        except (OSError, ValueError, KeyError, TypeError, shutil.Error):
            _remove(target)
            return False

    def verify_result(self, key: str, verifier: str) -> Optional[Any]:
        """The verify result stored with `key` by the same verify function, or None."""
        try:
            doc = json.loads((self._entry(key) / "verify.json").read_text(encoding="utf-8"))
            if doc.get("verifier") != verifier:
                return None
            return result_from_document(doc["result"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, target: Path, report: Optional[Path], inputs: dict[str, Any],
              verified: Optional[tuple[str, Any]] = None) -> None:
        """Keep a copy of Nuitka's output (and `verified`: the verify function's name and its result);
        best effort (a full disk must not fail the build). With a verify result, files the newest entry
        already holds with the same sha256 are hard-linked to it (see _linker): a rebuild after an edit
        copies the files it changed (the 12 MB program of the sample app's 20 MB dist). An entry's size
        counts its linked files in full, so the cache is pruned a little early, never late."""
        if self.max_bytes <= 0:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".store-", dir=self.folder))
        except OSError:
            return
        try:
            (tmp / "output").mkdir()
            hashes = _regular_file_hashes(verified[1] if verified is not None else None)
            if target.is_dir():
                shutil.copytree(target, tmp / "output" / target.name, symlinks=True,
                                copy_function=self._linker(target, hashes))
            else:
                shutil.copy2(target, tmp / "output" / target.name)
            if hashes:
                (tmp / FILES_JSON).write_text(json.dumps(hashes, sort_keys=True), encoding="utf-8")
            if report is not None and report.is_file():
                shutil.copy2(report, tmp / "report.xml")
            if verified is not None:
                (tmp / "verify.json").write_text(json.dumps(
                    {"verifier": verified[0], "result": result_document(verified[1])}, default=str), encoding="utf-8")
            (tmp / "inputs.json").write_text(json.dumps(inputs, indent=1, sort_keys=True, default=str),
                                             encoding="utf-8")
            size = sum(p.lstat().st_size for p in tmp.rglob("*") if not p.is_dir())
            (tmp / "meta.json").write_text(json.dumps({"name": target.name, "stored": time.time(), "bytes": size}),
                                           encoding="utf-8")
            entry = self._entry(key)
            if entry.exists():
                shutil.rmtree(entry, ignore_errors=True)
            os.replace(tmp, entry)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            return
        self.prune()

    def _linker(self, target: Path, hashes: dict[str, list]):
        """The copy function of a store: a file of `target` whose sha256 and size the verify of this build
        recorded (`hashes`), and that the newest stored entry holds at the same path with the same sha256,
        size and mode, is hard-linked to that entry's copy instead of copied again; anything else (or a
        link that fails: another file system, no hard links) is copied. Entries are never changed once
        stored, and a restore copies out of them, so the shared files are never written."""
        donor = None
        entry = self._newest_entry() if hashes else None  # the last build's, as a rule
        if entry is not None:
            try:
                meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
                listed = json.loads((entry / FILES_JSON).read_text(encoding="utf-8"))
                if isinstance(listed, dict):
                    donor = (entry / "output" / meta["name"], listed)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # an entry from before files.json, or damaged: everything is copied

        def copy(src: str, dst: str) -> str:
            if donor is not None:
                rel = Path(os.path.relpath(src, target)).as_posix()
                mine = hashes.get(rel)
                if mine is not None and mine == donor[1].get(rel):
                    kept = donor[0].joinpath(*rel.split("/"))
                    try:
                        st_src, st_kept = os.lstat(src), os.lstat(kept)
                        if stat.S_ISREG(st_kept.st_mode) and st_kept.st_size == st_src.st_size == mine[1] \
                                and stat.S_IMODE(st_kept.st_mode) == stat.S_IMODE(st_src.st_mode):
                            os.link(kept, dst)
                            return dst
                    except OSError:
                        pass  # copied below
            return shutil.copy2(src, dst)

        return copy

    def _newest_entry(self) -> Optional[Path]:
        """The complete entry used or stored last (its meta.json's mtime), without reading the others."""
        best: tuple[float, str] = (float("-inf"), "")
        try:
            with os.scandir(self.folder) as it:
                for item in it:
                    try:
                        best = max(best, (os.stat(os.path.join(item.path, "meta.json")).st_mtime, item.path))
                    except OSError:
                        continue
        except OSError:
            return None
        return Path(best[1]) if best[1] else None

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, folder) of every complete entry, oldest first."""
        return [(t, size, Path(path)) for t, size, path in self._entry_rows()]

    def _entry_rows(self) -> list[tuple[float, int, str]]:
        """entries() with the folders as strings (prune runs after every store: no Path per entry)."""
        out = []
        try:
            with os.scandir(self.folder) as it:
                items = [item.path for item in it]
        except OSError:
            return out
        for entry in items:
            meta = os.path.join(entry, "meta.json")
            try:
                with open(meta, "rb") as fh:
                    mtime = os.fstat(fh.fileno()).st_mtime
                    raw = fh.read()
            except OSError:  # not an entry (the per-file results' folder, a store being written)
                continue
            try:  # its size, written by store (meta.json itself not counted); walked for older entries
                size = int(json.loads(raw)["bytes"])
            except (ValueError, KeyError, TypeError):
                size = sum(p.lstat().st_size for p in Path(entry).rglob("*") if not p.is_dir())
            out.append((mtime, size, entry))
        return sorted(out)

    def file_entries(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, file) of every per-file result in files_folder, oldest first."""
        return [(t, size, Path(path)) for t, size, path in self._file_rows()]

    def _file_rows(self) -> list[tuple[float, int, str]]:
        """file_entries() with the files as strings."""
        out = []
        now = time.time()
        try:
            with os.scandir(self.files_folder) as it:
                for item in it:
                    try:
                        st = item.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    if item.name.startswith(FILES_TEMP_PREFIX) and now - st.st_mtime < 3600:
                        continue  # being written (an older one is the leftover of an interrupted write)
                    out.append((st.st_mtime, st.st_size, item.path))
        except OSError:
            pass
        return sorted(out)

    def prune(self, max_bytes: Optional[int] = None) -> list[Path]:
        """Remove the least recently used entries and per-file results (one order for both) until the
        cache is within `max_bytes`; also leftovers of interrupted stores. Returns what was removed."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        removed = []
        if self.folder.is_dir():
            for stale in self.folder.glob(".store-*"):
                try:
                    if time.time() - stale.stat().st_mtime > 3600:
                        shutil.rmtree(stale, ignore_errors=True)
                except OSError:
                    pass
        results = []
        for t, size, path in self._file_rows():
            if os.path.basename(path).startswith(FILES_TEMP_PREFIX):  # an interrupted write, an hour old
                try:
                    os.unlink(path)
                except OSError:
                    pass
            else:
                results.append((t, size, path, False))
        items = sorted([(t, size, path, True) for t, size, path in self._entry_rows()] + results)
        total = sum(item[1] for item in items)
        for _, size, path, is_entry in items:
            if total <= limit:
                break
            if is_entry:
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    continue
            removed.append(Path(path))
            total -= size
        return removed
