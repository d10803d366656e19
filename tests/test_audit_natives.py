"""Native library classifiers (src/hardnut/policy/native-libraries.json) on the real libraries of this
machine: the version read from each library's bytes equals the version its Debian package declares."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from hardnut.audit.natives import identify, python_branch

LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
# (file, Debian package, library name as hardnut reports it)
CASES = [
    ("libcrypto.so.3", "libssl3", "openssl"),
    ("libsqlite3.so.0", "libsqlite3-0", "sqlite"),
    ("libz.so.1", "zlib1g", "zlib"),
    ("libexpat.so.1", "libexpat1", "expat"),
    ("libbz2.so.1.0", "libbz2-1.0", "bzip2"),
    ("liblzma.so.5", "liblzma5", "xz"),
    ("libtinfo.so.6", "libtinfo6", "ncurses"),
    ("libtcl8.6.so", "libtcl8.6", "tcl"),
    ("libtk8.6.so", "libtk8.6", "tk"),
    ("libreadline.so.8", "libreadline8", "readline"),
    ("libgdbm.so.6", "libgdbm6", "gdbm"),
]


def _debian_version(package: str) -> str:
    if shutil.which("dpkg-query") is None:
        pytest.skip("not a Debian system")
    proc = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"{package} is not installed")
    # 1:1.2.13.dfsg-1 -> 1.2.13 ; 3.0.19-1~deb12u2 -> 3.0.19 ; 6.4-4 -> 6.4
    return re.match(r"(?:\d+:)?(\d+(?:\.\d+)+[a-z]?)", proc.stdout).group(1)


@pytest.mark.parametrize("filename, package, name", CASES)
def test_version_read_from_the_library_matches_its_package(filename, package, name):
    path = (LIBDIR / filename).resolve()
    if not path.is_file():
        pytest.skip(f"{filename} is not installed")
    expected = _debian_version(package)
    lib = identify(f"app.dist/{filename}", path, 64 * 1024 * 1024)
    assert lib is not None and lib.name == name
    assert lib.version == expected, (lib.version, expected)
    assert lib.cpe.startswith("cpe:2.3:a:") and f":{expected}:" in lib.cpe
    assert lib.purl == f"pkg:generic/{name}@{expected}"


def test_names_without_version_text_and_unknown_files():
    ffi = (LIBDIR / "libffi.so.8").resolve()
    if ffi.is_file():
        lib = identify("libffi.so.8", ffi, 1 << 26)
        assert lib is not None and lib.name == "libffi" and lib.version is None
        assert lib.cpe == "cpe:2.3:a:libffi_project:libffi:*:*:*:*:*:*:*:*"
    assert identify("libfoo.so.1", Path("/dev/null"), 1024) is None
    assert identify("libssl-3-x64.dll", Path("/dev/null"), 1024).name == "openssl"


def test_python_branch_from_file_names():
    assert python_branch(["x/_ssl.cpython-311-x86_64-linux-gnu.so"]) == "3.11"
    assert python_branch(["libpython3.12.so.1.0"]) == "3.12"
    assert python_branch(["python313.dll"]) == "3.13"
    assert python_branch(["_ssl.so", "app"]) is None
