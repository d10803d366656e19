"""Real Nuitka onefile binaries for the onefile / report / build-check tests.

Built once into tests/fixtures/build/onefile/<variant>/ (gitignored) with the installed Nuitka and reused
by later sessions while the app source, the options and the Nuitka version are unchanged (a stamp file
records them). Builds run one at a time (a lock file), each takes about a minute.

The lead may later replace `onefile_build` with a shared conftest fixture (`planted_onefile`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
BUILD_ROOT = ROOT / "fixtures" / "build" / "onefile"

APP_SOURCE = '''\
"""hardnut onefile fixture."""
import os
import sys


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "data", "greeting.txt"), encoding="utf-8") as fh:
        print(fh.read().strip(), sys.argv[1:])


if __name__ == "__main__":
    main()
'''

DATA_FILE = "hello from the hardnut onefile fixture\n"

# variant -> extra Nuitka options
VARIANTS: dict[str, tuple[str, ...]] = {
    # zstd stream, temporary unpack folder (no CRC32 per entry): Nuitka's default onefile
    "compressed": (),
    # raw payload, fixed cache folder (cached mode: CRC32 per entry)
    "plain": ("--onefile-no-compression", "--onefile-tempdir-spec={CACHE_DIR}/hardnut-fixture-plain"),
    # archive mode: each entry compressed on its own
    "archive": ("--onefile-as-archive",),
}


@dataclass(frozen=True)
class OnefileBuild:
    variant: str
    binary: Path  # the onefile executable
    report: Path  # Nuitka's --report XML
    folder: Path


def _nuitka_version() -> str:
    from nuitka.Version import getNuitkaVersion

    return getNuitkaVersion()


def _stamp(variant: str) -> str:
    basis = json.dumps([APP_SOURCE, DATA_FILE, VARIANTS[variant], _nuitka_version(), sys.version], sort_keys=True)
    return hashlib.sha256(basis.encode()).hexdigest()


def build_onefile(variant: str) -> OnefileBuild:
    """Build (or reuse) one variant; raises RuntimeError with Nuitka's output tail on failure."""
    folder = BUILD_ROOT / variant
    result = OnefileBuild(variant, folder / "out" / "app.bin", folder / "out" / "app.report.xml", folder)
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with open(BUILD_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = _stamp(variant)
        stamp_file = folder / "stamp"
        if result.binary.is_file() and result.report.is_file() and stamp_file.is_file() \
                and stamp_file.read_text() == stamp:
            return result
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "src" / "data").mkdir(parents=True)
        (folder / "src" / "app.py").write_text(APP_SOURCE)
        (folder / "src" / "data" / "greeting.txt").write_text(DATA_FILE)
        cmd = [
            sys.executable, "-m", "nuitka", "--mode=onefile", "--assume-yes-for-downloads",
            "--output-dir=" + str(folder / "out"), "--output-filename=app.bin",
            "--report=" + str(result.report), "--remove-output",
            "--include-data-files=" + str(folder / "src" / "data" / "greeting.txt") + "=data/greeting.txt",
            *VARIANTS[variant], str(folder / "src" / "app.py"),
        ]
        proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=1800)
        if proc.returncode != 0 or not result.binary.is_file():
            tail = (proc.stdout + proc.stderr)[-3000:]
            raise RuntimeError(f"Nuitka onefile build '{variant}' failed ({proc.returncode}):\n{tail}")
        (folder / "build.log").write_text(proc.stdout + proc.stderr)
        stamp_file.write_text(stamp)
        return result


_cache: dict[str, OnefileBuild] = {}


def onefile_build(variant: str) -> OnefileBuild:
    """Session-cached build; skips the test when Nuitka cannot build here."""
    if variant not in _cache:
        try:
            _cache[variant] = build_onefile(variant)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
            pytest.fail(f"cannot build the onefile fixture: {exc}")
    return _cache[variant]


def payload_region(binary: Path) -> tuple[int, int]:
    """(offset, length) of the payload in `binary`, via hardnut's own locator (for mutation tests)."""
    from hardnut.artifact import onefile

    info = onefile.find_payload(binary, "elf")
    assert info is not None, f"no payload found in {binary}"
    return info.offset, info.length


def copy_with(binary: Path, dest: Path, patch_at: int, data: bytes) -> Path:
    """A copy of `binary` with `data` written over the bytes at `patch_at`."""
    raw = bytearray(binary.read_bytes())
    raw[patch_at:patch_at + len(data)] = data
    dest.write_bytes(bytes(raw))
    os.chmod(dest, 0o755)
    return dest


if __name__ == "__main__":  # build all variants: python tests/helpers_onefile.py [variant...]
    for name in sys.argv[1:] or list(VARIANTS):
        print(build_onefile(name))
