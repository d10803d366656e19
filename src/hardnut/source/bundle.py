"""Which data files a build would bundle: the profile's app.include_data, filtered like Nuitka does.

Mirrors Nuitka 4.x (nuitka/freezer/IncludedDataFiles.py):
- a directory (`--include-data-dir`) is walked without following symlinks; `__pycache__` and
  site-packages-like folders are skipped, as are `py.typed`, `.DS_Store` (not on macOS), code suffixes
  (.py, .pyc, .so, .pyd, .dll, .dylib, .exe, .bin, extension module suffixes) and versioned shared
  libraries (libfoo.so.1.2);
- a single file (`--include-data-files`) is taken whatever its suffix, unless its destination lies in
  an ignored folder or has an ignored name;
- `--noinclude-data-files` (app.exclude_data) drops a file when `fnmatch(dest, pattern)` or when the
  destination lies at or below the pattern taken as a path.
VCS folders (.git, .hg, .svn, .bzr) are NOT skipped by Nuitka: their files are bundled too, which is
exactly what this module reports.
"""

from __future__ import annotations

import fnmatch
import importlib.machinery
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Optional

IGNORED_SUFFIXES = tuple(dict.fromkeys((
    ".py", ".pyw", ".pyc", ".pyo", ".pyi", ".so", ".pyd", ".pyx", ".dll", ".dylib", ".exe", ".bin",
    *importlib.machinery.EXTENSION_SUFFIXES,
)))
IGNORED_DIRS = ("__pycache__", "site-packages", "dist-packages", "vendor-packages")
IGNORED_NAMES = ("py.typed",) + (() if sys.platform == "darwin" else (".DS_Store",))
VERSIONED_SHLIB = re.compile(r"\.(?:so|dylib)(?:\.\d+)+$")
VCS_DIRS = (".git", ".hg", ".svn", ".bzr")


@dataclass(frozen=True)
class BundledFile:
    """A file a build will bundle as data: where it is now, where it goes in the dist."""

    src: Path  # where the file is now
    dest: str  # its path inside the dist, '/' separated
    vcs: Optional[str] = None  # dest of the VCS folder it lies in, if any


@dataclass
class Bundle:
    """The data files a profile bundles, as Nuitka will copy them."""

    files: list[BundledFile] = field(default_factory=list)
    excluded: int = 0  # files dropped by app.exclude_data
    truncated: bool = False  # stopped at max_files

    def vcs_folders(self) -> dict[str, list[BundledFile]]:
        out: dict[str, list[BundledFile]] = {}
        for f in self.files:
            if f.vcs:
                out.setdefault(f.vcs, []).append(f)
        return out


def _norm(name: str) -> str:
    return os.path.normcase(name)


def excluded_by(dest: str, patterns: tuple[str, ...]) -> Optional[str]:
    """The first exclude_data pattern that drops `dest`, as Nuitka's addIncludedDataFile decides."""
    native = os.path.normpath(dest)
    for pattern in patterns:
        if fnmatch.fnmatch(native, pattern):
            return pattern
        below = os.path.relpath(os.path.abspath(native), os.path.abspath(pattern))
        if below.split(os.sep, 1)[0] != "..":
            return pattern
    return None


def _ignored_dir_element(dest: str) -> bool:
    parts = {_norm(p) for p in os.path.normpath(dest).split(os.sep)}
    return any(_norm(d) in parts for d in IGNORED_DIRS)


def _vcs_of(dest: str) -> Optional[str]:
    parts = PurePosixPath(dest).parts
    for i, part in enumerate(parts[:-1]):
        if part in VCS_DIRS:
            return "/".join(parts[: i + 1])
    return None


def would_bundle(include_data, exclude_data: tuple[str, ...], max_files: int = 100_000) -> Bundle:
    """The data files `include_data` (profile DataInclude items) puts into the dist."""
    bundle = Bundle()
    ignored_names = {_norm(n) for n in IGNORED_NAMES}
    ignored_dirs = {_norm(d) for d in IGNORED_DIRS}

    def add(src: Path, dest: str) -> bool:
        if len(bundle.files) >= max_files:
            bundle.truncated = True
            return False
        if excluded_by(dest, exclude_data):
            bundle.excluded += 1
            return True
        bundle.files.append(BundledFile(src, dest, _vcs_of(dest)))
        return True

    for item in include_data:
        src, dest = Path(item.src), str(PurePosixPath(item.dest))
        if not item.is_dir:
            if _ignored_dir_element(dest) or _norm(PurePosixPath(dest).name) in ignored_names:
                continue
            if not add(src, dest):
                return bundle
            continue
        for root, dirs, names in os.walk(src, onerror=None):
            dirs.sort()
            dirs[:] = [d for d in dirs if _norm(d) not in ignored_dirs]
            rel_root = Path(root).relative_to(src)
            for name in sorted(names):
                low = _norm(name)
                if low in ignored_names or low.endswith(IGNORED_SUFFIXES) or VERSIONED_SHLIB.search(low):
                    continue
                rel = PurePosixPath(*rel_root.parts, name)
                if not add(Path(root) / name, str(PurePosixPath(dest) / rel)):
                    return bundle
    return bundle
