"""`hardnut doctor`: is every tool a build needs here, and if not, how to get it."""

from __future__ import annotations

import importlib.util
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Check:
    """One `hardnut doctor` line: a tool or library, whether it was found, what was found and how to get it."""

    name: str
    found: bool
    detail: str
    fix: str
    required: bool = True


def command_version(cmd: list[str]) -> Optional[str]:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else ""


def dist_version(name: str) -> Optional[str]:
    """The installed version of distribution `name` (what importlib.metadata.version says), or None.
    Only the header block of its metadata is parsed (hardnut.distfiles): importlib.metadata parses the
    whole file, long description included (2.7 ms for Nuitka's, twice per build; 0.5 ms so)."""
    from importlib import metadata

    from hardnut.distfiles import headers

    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    version = headers(dist)["Version"]
    return version if version is not None else dist.version


def c_compiler() -> Optional[str]:
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_checks(onefile: bool = True, details: bool = True) -> list[Check]:
    """Every tool a build needs, found or not. `details=False` (the build's preflight, which only asks
    what is missing) leaves out the versions, which cost a subprocess or a metadata parse each."""
    linux = sys.platform.startswith("linux")
    apt = "apt-get install -y"
    checks = [Check("python", True, f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})", "")]

    def module_version(name: str) -> Optional[str]:
        if importlib.util.find_spec(name) is None:
            return None
        return dist_version(name) if details else "installed"

    def version(path: Optional[str]) -> Optional[str]:
        return command_version([path, "--version"]) if path and details else None

    nv = module_version("nuitka")
    checks.append(Check("nuitka", nv is not None, nv or "not installed in this Python",
                        f"{sys.executable} -m pip install 'nuitka>=4.1,<5' ordered-set"))
    cc = c_compiler()
    cc_version = version(cc)
    if sys.platform == "win32":
        checks.append(Check("c-compiler", bool(cc), cc_version or "MSVC or MinGW (Nuitka finds MSVC itself)",
                            "install Visual Studio Build Tools, or allow Nuitka to download MinGW", required=False))
    else:
        checks.append(Check("c-compiler", bool(cc), cc_version or cc or "no cc/gcc/clang on PATH",
                            f"{apt} gcc" if linux else "xcode-select --install"))
    if linux:
        pe = shutil.which("patchelf")
        checks.append(Check("patchelf", bool(pe), version(pe) if pe else "not on PATH",
                            f"{apt} patchelf (standalone builds on Linux need it)"))
    ccache = shutil.which("ccache")
    checks.append(Check("ccache", bool(ccache), version(ccache) if ccache else "not on PATH",
                        f"{apt} ccache (optional: makes rebuilds much faster)" if linux else "install ccache (optional)",
                        required=False))
    zv = module_version("zstandard")
    checks.append(Check("zstandard", zv is not None, zv or "not installed",
                        f"{sys.executable} -m pip install zstandard (onefile compression and payload inspection)",
                        required=onefile))
    return checks
