"""Golden verify reports: the JSON report of deterministic real inputs, recorded once, compared after every
change to how verify works (speed work must not change results).

Targets (every byte pinned, so the reports are the same on every machine):
  wheels     the unpacked contents of real manylinux wheels (pinned versions, see WHEELS), with an
             old-style onefile payload (blob + u64 trailer, as Nuitka < 4.1 appended it) attached to a
             copy of one of their shared objects: payload entries are another real .so, a planted AWS
             key and a nested folder; plus the markupsafe win_amd64 wheel (an MSVC-built .pyd)
  binaries   the gcc/mingw fixtures of scripts/make_fixtures.py (compared only when every fixture file
             has the sha256 recorded in the golden: their bytes depend on the compilers and build folder)

    python tests/helpers_golden.py --write      (re-record; only when a result change is intended)
"""

from __future__ import annotations

import fcntl
import json
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
GOLDEN = ROOT / "golden"
WHEEL_CACHE = ROOT / "fixtures" / "build" / "wheels"

# (pip requirement, --platform)
WHEELS = [
    ("cryptography==41.0.7", "manylinux2014_x86_64"),
    ("lxml==4.9.4", "manylinux2014_x86_64"),
    ("markupsafe==2.1.5", "win_amd64"),
]
PLANTED_KEY = b"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzz9q3hR2bQ\nAKIAZ7QW3ERT5YU2IO4P\n"


def download(req: str, platform: str) -> Path:
    """The wheel of `req` for `platform`, downloaded once into its own cache folder."""
    folder = WHEEL_CACHE / f"{req.replace('==', '-')}-{platform}"
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    with open(WHEEL_CACHE / f".{folder.name}.lock", "w") as lock:  # test workers download one at a time
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = sorted(folder.glob("*.whl"))
        if not found:
            folder.mkdir(parents=True, exist_ok=True)
            subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--platform",
                            platform, "--python-version", "3.11", "-d", str(folder), req],
                           check=True, capture_output=True, text=True, timeout=600)
            found = sorted(folder.glob("*.whl"))
    if not found:
        raise RuntimeError(f"pip download of {req} ({platform}) produced no wheel")
    return found[-1]


def posix_payload(entries: list[tuple[str, bytes, int]]) -> bytes:
    """An uncompressed onefile blob in the current POSIX layout (name, flags, size, data), with trailer."""
    body = bytearray(b"KAX")
    for name, data, flags in entries:
        body += name.encode() + b"\0" + bytes([flags]) + struct.pack("<Q", len(data)) + data
    body += b"\0"
    return bytes(body) + struct.pack("<Q", len(body))


def wheels_target(dest: Path) -> Path:
    """Unpack the pinned wheels into dest/<wheel stem>/ and add dest/app.bin (a .so with a payload)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for req, platform in WHEELS:
        wheel = download(req, platform)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(dest / wheel.stem.split("-")[0].lower())
    sos = sorted((dest / "cryptography").rglob("*.so"))
    host = sos[0].read_bytes()
    inner = sorted((dest / "lxml").rglob("*.so"))[0].read_bytes()
    blob = posix_payload([("inner/module.so", inner, 1), ("conf/settings.ini", PLANTED_KEY, 0),
                          ("app.py", b"print('hello')\n", 0)])
    app = dest / "app.bin"
    app.write_bytes(host + blob)
    app.chmod(0o755)
    return dest


def report(target: Path) -> dict:
    """verify's JSON report of `target` (default options), without the fields that name the machine."""
    from hardnut.report.json_format import document
    from hardnut.verify import VerifyOptions, verify_target

    doc = document(verify_target(target, VerifyOptions()))
    doc.pop("tool", None)
    doc.pop("target", None)
    for f in doc.get("files", ()):
        f.pop("mode", None)  # what the unpacking machine's umask made of the file, not a result
    return doc


def record_all(tmp: Path) -> None:
    sys.path.insert(0, str(REPO / "src"))
    GOLDEN.mkdir(exist_ok=True)
    doc = report(wheels_target(tmp / "wheels"))
    (GOLDEN / "wheels.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    out = ROOT / "fixtures" / "build" / "binaries"
    subprocess.run([sys.executable, str(REPO / "scripts" / "make_fixtures.py"), str(out)], check=True,
                   capture_output=True)
    docs = {}
    for sub in ("elf", "pe", *(f"dists/{d.name}" for d in sorted((out / "dists").iterdir()))):
        if (out / sub).is_dir():
            docs[sub] = report(out / sub)
    (GOLDEN / "binaries.json").write_text(json.dumps(docs, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    import tempfile

    if sys.argv[1:] != ["--write"]:
        raise SystemExit(__doc__)
    with tempfile.TemporaryDirectory() as tmp:
        record_all(Path(tmp))
