"""Binary fixtures for the inspect / dependency / debug / hardening tests.

`binfix` (session) runs scripts/make_fixtures.py once into tests/fixtures/build/binaries (gitignored; the
script itself skips the build when nothing changed). `win_wheel` downloads a real MSVC-built Windows wheel
(markupsafe, win_amd64, CPython 3.11) with pip and unpacks it. Import the fixtures into a test module with
`from helpers_binaries import binfix, win_wheel  # noqa: F401`.
"""

from __future__ import annotations

import fcntl
import json
import struct
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

import pytest

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
BUILD = ROOT / "fixtures" / "build"
OUT = BUILD / "binaries"
SCRIPT = REPO / "scripts" / "make_fixtures.py"

NETWORK_ERRORS = ("NewConnectionError", "Max retries", "Temporary failure in name resolution",
                  "Network is unreachable", "ConnectionError", "Connection refused", "timed out",
                  "No matching distribution found", "Could not find a version")


@dataclass(frozen=True)
class Fixtures:
    root: Path
    manifest: dict

    def elf(self, name: str) -> Path:
        return self.root / "elf" / name

    def pe(self, name: str) -> Path:
        self.need("pe", "x86_64-w64-mingw32-gcc is not installed (scripts/test.sh installs mingw-w64)")
        return self.root / "pe" / name

    def dist(self, name: str) -> Path:
        if name.startswith("pe_"):
            self.need("pe", "x86_64-w64-mingw32-gcc is not installed (scripts/test.sh installs mingw-w64)")
        return self.root / "dists" / name

    def need(self, key: str, reason: str) -> None:
        if not self.manifest.get(key):
            pytest.skip(f"fixture not built: {reason}")


@pytest.fixture(scope="session")
def binfix() -> Fixtures:
    BUILD.mkdir(parents=True, exist_ok=True)
    with open(BUILD / ".binaries.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run([sys.executable, str(SCRIPT), str(OUT)], capture_output=True, text=True,
                              timeout=600)
    if proc.returncode != 0:
        pytest.fail(f"scripts/make_fixtures.py failed:\n{proc.stdout}\n{proc.stderr}")
    return Fixtures(OUT, json.loads((OUT / "manifest.json").read_text()))


def unpacked_wheel(requirement: str, platform: str, pattern: str) -> Path:
    """`pip download` a real wheel for another platform into the gitignored fixtures folder (once, under
    a lock: xdist workers share it) and unpack it; skips without network."""
    dest = BUILD / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wheels = sorted(dest.glob(pattern))
        if not wheels:
            proc = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--platform",
                 platform, "--python-version", "3.11", "-d", str(dest), requirement],
                capture_output=True, text=True, timeout=300)
            wheels = sorted(dest.glob(pattern))
            if proc.returncode != 0 or not wheels:
                if any(marker in proc.stderr for marker in NETWORK_ERRORS):
                    pytest.skip(f"no network to download {requirement} for {platform}: {proc.stderr.strip()[-200:]}")
                pytest.fail(f"pip download failed:\n{proc.stderr}")
        unpacked = dest / wheels[-1].stem
        if not unpacked.is_dir():
            with zipfile.ZipFile(wheels[-1]) as zf:
                zf.extractall(unpacked)
    return unpacked


@pytest.fixture(scope="session")
def win_wheel() -> Path:
    """The unpacked markupsafe win_amd64 wheel (its _speedups.*.pyd is built by MSVC)."""
    return unpacked_wheel("markupsafe", "win_amd64", "markupsafe-*-cp311-cp311-win_amd64.whl")


def pyd_of(wheel_dir: Path) -> Path:
    found = sorted(wheel_dir.rglob("*.pyd"))
    assert found, f"no .pyd in {wheel_dir}"
    return found[0]


# ---------------------------------------------------------------------------------- running checks


def run_binary_checks(target: Path, config=None, main_programs: Iterable[str] = ()):
    """Walk `target` and run the dependency, debug and hardening checks: (findings, ctx)."""
    from hardnut.artifact.walk import open_target
    from hardnut.checks import debug, dependency, hardening
    from hardnut.checks.base import CheckContext, VerifyConfig

    with open_target(Path(target)) as art:
        art.main_programs.update(main_programs)
        ctx = CheckContext(art, config or VerifyConfig())
        findings = []
        for module in (dependency, debug, hardening):
            findings.extend(module.run(ctx))
    return findings, ctx


def by_rule(findings, rule: str, path: Optional[str] = None):
    return [f for f in findings if f.rule == rule and (path is None or f.path == path)]


def rules_of(findings, path: str, prefix: str = "") -> dict[str, str]:
    """{rule id: severity label} of the findings for one path (rules starting with `prefix`)."""
    out: dict[str, str] = {}
    for f in findings:
        if f.path == path and f.rule.startswith(prefix):
            assert f.rule not in out, f"two {f.rule} findings for {path}: per-file aggregation broken"
            out[f.rule] = f.severity.label
    return out


# ------------------------------------------------------------------------------ corrupting copies


def truncated(src: Path, dest: Path, length: int) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(src.read_bytes()[:length])
    return dest


def patched(src: Path, dest: Path, offset: int, data: bytes) -> Path:
    raw = bytearray(src.read_bytes())
    raw[offset:offset + len(data)] = data
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(raw))
    return dest


def elf64_header_offsets() -> dict[str, tuple[int, str]]:
    """Field -> (offset, struct format) in a little-endian ELF64 header."""
    return {"e_phoff": (0x20, "<Q"), "e_shoff": (0x28, "<Q"), "e_phentsize": (0x36, "<H"),
            "e_phnum": (0x38, "<H"), "e_shentsize": (0x3A, "<H"), "e_shnum": (0x3C, "<H"),
            "e_shstrndx": (0x3E, "<H")}


def with_field(src: Path, dest: Path, field: str, value: int) -> Path:
    offset, fmt = elf64_header_offsets()[field]
    return patched(src, dest, offset, struct.pack(fmt, value))


def readelf(*args: str) -> str:
    return subprocess.run(["readelf", "-W", *args], capture_output=True, text=True, check=True).stdout
