"""`hardnut doctor`: is every tool a build needs here, and if not, how to get it."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Check:
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
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def c_compiler() -> Optional[str]:
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run_checks(onefile: bool = True) -> list[Check]:
    linux = sys.platform.startswith("linux")
    apt = "apt-get install -y"
    checks = [Check("python", True, f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})", "")]
    nv = dist_version("nuitka") if importlib.util.find_spec("nuitka") else None
    checks.append(Check("nuitka", nv is not None, nv or "not installed in this Python",
                        f"{sys.executable} -m pip install 'nuitka>=4.1,<5' ordered-set"))
    cc = c_compiler()
    cc_version = command_version([cc, "--version"]) if cc else None
    if sys.platform == "win32":
        checks.append(Check("c-compiler", bool(cc), cc_version or "MSVC or MinGW (Nuitka finds MSVC itself)",
                            "install Visual Studio Build Tools, or allow Nuitka to download MinGW", required=False))
    else:
        checks.append(Check("c-compiler", bool(cc), cc_version or "no cc/gcc/clang on PATH",
                            f"{apt} gcc" if linux else "xcode-select --install"))
    if linux:
        pe = shutil.which("patchelf")
        checks.append(Check("patchelf", bool(pe), command_version([pe, "--version"]) if pe else "not on PATH",
                            f"{apt} patchelf (standalone builds on Linux need it)"))
    ccache = shutil.which("ccache")
    checks.append(Check("ccache", bool(ccache), command_version([ccache, "--version"]) if ccache else "not on PATH",
                        f"{apt} ccache (optional: makes rebuilds much faster)" if linux else "install ccache (optional)",
                        required=False))
    zv = dist_version("zstandard")
    checks.append(Check("zstandard", zv is not None, zv or "not installed",
                        f"{sys.executable} -m pip install zstandard (onefile compression and payload inspection)",
                        required=onefile))
    return checks
