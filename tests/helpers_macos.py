"""Real Mach-O and signed-PE files for the macOS / code-signature tests and the fuzz seeds.

`real_wheels()` downloads (once, with pip, into tests/fixtures/build/wheels, gitignored) and unpacks:
pillow (macosx_11_0_arm64: bundled dylibs linked by @loader_path, ad-hoc signed), markupsafe
(universal2: a fat file with an unsigned x86_64 and a linker-signed arm64 slice), psutil
(macosx_10_9_x86_64), msvc-runtime (win_amd64: Microsoft-signed DLLs) and ninja (universal2: a fat
MH_EXECUTE program). Returns {name: folder}, or
skips when there is no network.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers_binaries import BUILD, NETWORK_ERRORS

WHEELS = BUILD / "wheels"
SPECS = {
    "pillow": ("macosx_11_0_arm64", "pillow==11.1.0"),
    "markupsafe-universal2": ("macosx_10_9_universal2", "markupsafe==3.0.2"),
    "psutil": ("macosx_10_12_x86_64", "psutil==6.1.1"),
    "msvc-runtime": ("win_amd64", "msvc-runtime==14.42.34433"),
    "ninja": ("macosx_10_9_universal2", "ninja==1.11.1.1"),
}


def _download(name: str, platform: str, spec: str) -> Path:
    dest = WHEELS / "unpacked" / name
    if dest.is_dir():
        return dest
    project, version = spec.split("==")
    pattern = f"*-{version}-*{platform.split('_')[-1]}*.whl"
    wheels = [w for w in WHEELS.glob(pattern) if w.name.lower().startswith(project.replace("-", "_"))]
    if not wheels:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--platform", platform,
             "--python-version", "3.11", "-d", str(WHEELS), spec], capture_output=True, text=True, timeout=300)
        wheels = [w for w in WHEELS.glob(pattern) if w.name.lower().startswith(project.replace("-", "_"))]
        if proc.returncode != 0 or not wheels:
            if any(marker in proc.stderr for marker in NETWORK_ERRORS):
                pytest.skip(f"no network to download {spec}: {proc.stderr.strip()[-200:]}")
            pytest.fail(f"pip download {spec} failed:\n{proc.stderr}")
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(sorted(wheels)[-1]) as zf:
        zf.extractall(tmp)
    tmp.rename(dest)
    return dest


def real_wheels() -> dict[str, Path]:
    WHEELS.mkdir(parents=True, exist_ok=True)
    with open(WHEELS / ".macos.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {name: _download(name, *spec) for name, spec in SPECS.items()}


@pytest.fixture(scope="session")
def wheels() -> dict[str, Path]:
    return real_wheels()


def msvc_dlls(root: Path) -> Path:
    return next(root.glob("*.data/data"))
