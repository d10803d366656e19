"""Native libraries and the CPython runtime recognised inside shipped binaries (facts, no policy).

The table of libraries is data (`hardnut/policy/native-libraries.json`): a file-name pattern says which
library a file is, version patterns over its bytes say which release. Only files whose name matches are
read, at most `limits.max_scan_bytes` bytes each, through mmap.
"""

from __future__ import annotations

import json
import mmap
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Optional


@dataclass(frozen=True)
class NativeLibrary:
    """A native library recognised in an artifact (OpenSSL, SQLite, ...), with its version when its bytes say it."""

    name: str  # "openssl", "sqlite", ...
    version: Optional[str]
    path: str  # relpath in the artifact
    cpe_product: str  # "vendor:product"

    @property
    def purl(self) -> str:
        from packageurl import PackageURL

        return PackageURL(type="generic", name=self.name, version=self.version or None).to_string()

    @property
    def cpe(self) -> str:
        return cpe23(self.cpe_product, self.version)


def cpe23(vendor_product: str, version: Optional[str]) -> str:
    v = (version or "*").replace(":", "\\:")
    return f"cpe:2.3:a:{vendor_product}:{v}:*:*:*:*:*:*:*"


@dataclass(frozen=True)
class _Classifier:
    """How to recognise one native library: file name patterns, version patterns, its CPE product."""

    name: str
    files: tuple[re.Pattern, ...]
    versions: tuple[re.Pattern, ...]
    cpe: str


@lru_cache(maxsize=None)
def classifiers() -> tuple[_Classifier, ...]:
    data = json.loads(resources.files("hardnut").joinpath("policy", "native-libraries.json").read_text("utf-8"))
    return tuple(_Classifier(e["name"], tuple(re.compile(p, re.IGNORECASE) for p in e["files"]),
                             tuple(re.compile(p.encode("latin-1")) for p in e["versions"]), e["cpe"])
                 for e in data["libraries"])


def classify_name(basename: str) -> Optional[_Classifier]:
    for c in classifiers():
        if any(p.search(basename) for p in c.files):
            return c
    return None


def _search(path: Path, patterns: Iterable[re.Pattern], max_bytes: int) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            try:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # empty file
                return None
            with mm:
                view = mm if len(mm) <= max_bytes else mm[:max_bytes]
                for pattern in patterns:
                    m = pattern.search(view)
                    if m:
                        return m.group(1).decode("ascii", "replace")
    except OSError:
        return None
    return None


def identify(relpath: str, fs_path: Path, max_bytes: int) -> Optional[NativeLibrary]:
    """The library a shipped file is (by name), with its version when the bytes say it."""
    base = relpath.rsplit("/", 1)[-1]
    c = classify_name(base)
    if c is None:
        return None
    version = _search(fs_path, c.versions, max_bytes) if c.versions else None
    return NativeLibrary(c.name, version, relpath, c.cpe)


# ----------------------------------------------------------------------------------------------
# CPython


_ABI_TAG = re.compile(r"\.cpython-3(\d{1,2})[a-z]*-|^libpython3\.(\d{1,2})[a-z]*\.(so|dylib)|^python3(\d{1,2})\.dll$")


def python_branch(names: Iterable[str]) -> Optional[str]:
    """'3.11' from shipped file names: extension modules' ABI tags, libpython's soname, pythonXY.dll."""
    for name in names:
        m = _ABI_TAG.search(name.rsplit("/", 1)[-1])
        if m:
            minor = next(g for g in m.groups() if g and g.isdigit())
            return f"3.{int(minor)}"
    return None


def python_version_in(path: Path, branch: Optional[str], max_bytes: int) -> Optional[str]:
    """The exact CPython version (e.g. '3.11.7') compiled into a binary of branch `branch`: PY_VERSION as
    its own C string (libpython), else the CPython source folder `Python-3.11.7` that the build
    configuration (sysconfig data, kept by a static libpython) names."""
    b = (re.escape(branch.encode()) if branch else rb"3\.\d{1,2}") + rb"\.\d{1,2}(?:(?:a|b|rc)\d{1,2})?"
    patterns = (re.compile(rb"\x00(" + b + rb")\+?\x00"),) if branch else ()
    patterns += (re.compile(rb"/Python-(" + b + rb")[/\x00 '\"]"),)
    return _search(path, patterns, max_bytes)
