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


try:  # installed nowhere: the report lists it as not found
    import hardnut_fixture_missing
except ImportError:
    hardnut_fixture_missing = None
try:  # the "compressed" build excludes it with --nofollow-import-to
    import xml.dom.minidom as minidom
except ImportError:
    minidom = None


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
    # zstd stream, temporary unpack folder (no CRC32 per entry): Nuitka's default onefile; the report
    # records that downloads were allowed, an excluded import and that it is not a deployment build
    "compressed": ("--assume-yes-for-downloads", "--nofollow-import-to=xml.dom"),
    # raw payload, fixed cache folder (cached mode: CRC32 per entry), a deployment build
    "plain": ("--onefile-no-compression", "--onefile-tempdir-spec={CACHE_DIR}/hardnut-fixture-plain",
              "--deployment"),
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
            sys.executable, "-m", "nuitka", "--mode=onefile",
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


def rodata_end(binary: Path, offset: int) -> int:
    """File offset where the section holding `offset` ends (room for a planted payload)."""
    from elftools.elf.elffile import ELFFile

    with open(binary, "rb") as fh:
        for sec in ELFFile(fh).iter_sections():
            if sec["sh_type"] != "SHT_NOBITS" and sec["sh_offset"] <= offset < sec["sh_offset"] + sec["sh_size"]:
                return sec["sh_offset"] + sec["sh_size"]
    raise AssertionError(f"offset {offset} is in no section of {binary}")


def nuitka_payload(dist: Path, first: str, *, compressed: bool = False, archive: bool = False,
                   checksums: bool = False, win_sep: bool = False) -> bytes:
    """A payload blob ("KA..." + trailer) for folder `dist`, written by Nuitka's own onefile compressor
    (the code every onefile build runs), with `first` (relative) as the start binary."""
    from nuitka.tools.onefile_compressor.OnefileCompressor import attachOnefilePayload

    out = dist.parent / (dist.name + ".payload")
    if out.exists():
        out.unlink()
    attachOnefilePayload(
        dist_dir=str(dist), onefile_output_filename=str(out), start_binary=str(dist / first),
        include_start_binary=True, expect_compression=compressed, as_archive=archive,
        use_compression_cache=False, file_checksums=checksums, win_path_sep=win_sep, low_memory=True,
        job_limit=1, expected_files=None)
    blob = out.read_bytes()
    out.unlink()
    return blob


def windows_payload(entries: list[tuple[str, bytes]], checksums: bool = False) -> bytes:
    """A payload as Nuitka writes it on Windows (OnefileCompressor.py with isWin32Windows()): names
    UTF-16LE with '\\' separators, no flags byte, padding to 8 before the u64 trailer. Nuitka's writer
    picks the encoding from the host OS, so on Linux this mirrors that branch by hand."""
    import struct
    import zlib

    body = bytearray(b"KAX")
    for name, data in entries:
        body += (name.replace("/", "\\") + "\0").encode("utf-16le")
        body += struct.pack("<Q", len(data))
        if checksums:
            body += struct.pack("<I", zlib.crc32(data) or 1)
        body += data
    body += "\0".encode("utf-16le")
    body += bytes((8 - len(body) % 8) % 8)
    return bytes(body) + struct.pack("<Q", len(body))


def posix_payload(entries: list[tuple[str, bytes | str, int]], checksums: bool = False) -> bytes:
    """A raw payload in Nuitka's POSIX layout (OnefileCompressor._attachOnefilePayloadFile), for entries
    its writer cannot produce from a real folder (it skips symlinks to folders): (name, data, flags)
    with flags 1 = executable, 2 = symlink (data is then the link target)."""
    import struct
    import zlib

    body = bytearray(b"KAX")
    for name, data, flags in entries:
        body += name.encode() + b"\0" + bytes([flags])
        if flags & 2:
            body += str(data).encode() + b"\0"
            continue
        assert isinstance(data, bytes)
        body += struct.pack("<Q", len(data))
        if checksums:
            body += struct.pack("<I", zlib.crc32(data) or 1)
        body += data
    body += b"\0"
    return bytes(body) + struct.pack("<Q", len(body))


def plant(binary: Path, dest: Path, blob: bytes) -> Path:
    """A copy of the real onefile `binary` whose linked-in payload is replaced by `blob` (same offset)."""
    from hardnut.artifact import onefile

    info = onefile.find_payload(binary, "elf")
    assert info is not None, f"no payload found in {binary}"
    room = rodata_end(binary, info.offset) - info.offset
    assert len(blob) <= room, f"planted payload of {len(blob)} bytes does not fit in {room}"
    return copy_with(binary, dest, info.offset, blob + bytes(min(64, room - len(blob))))


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
