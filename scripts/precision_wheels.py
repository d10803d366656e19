#!/usr/bin/env python3
"""Precision on real, clean binaries: `hardnut verify` over the unpacked contents of real wheels at pinned
versions, run as a user runs it (a subprocess, every check, the JSON report):

  * linux (default): 64 manylinux wheels (~1.1 GB / ~6,800 files of ELF): crypto libraries with
    self-test keys, database drivers whose docstrings hold DSN examples, auditwheel-repaired packages
    with their own .libs, compilers and runtimes, media and bioinformatics libraries;
  * windows: 40 win_amd64 wheels of the same kind (~600 MB of PE, MSVC-built; delvewheel's .libs, SDL);
  * macos: 38 macOS arm64 wheels (~1 GB of Mach-O);
  * all: the three.

None of these wheels leaks a secret or misses a library it needs at run time, so every high or critical
finding is a false alarm until proven otherwise. The few that are proven true are listed (*_EXPECTED)
with the reason; any other one is printed (masked, as the report masks it) and the script exits 1.

    python scripts/precision_wheels.py [--platform linux|windows|macos|all] [--report FILE]

Wheels are downloaded with pip once into .bench-cache/ (as scripts/bench_verify.py's) and unpacked
into .bench-cache/precision-corpus*/.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_verify import CACHE, download  # noqa: E402

LINUX = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
WINDOWS = ("win_amd64",)
MACOS = ("macosx_14_0_arm64", "macosx_12_0_arm64", "macosx_11_0_arm64")
LINUX_WHEELS = (
    "aiohttp==3.14.5", "apsw==3.54.1.0", "argon2-cffi-bindings==26.2.0", "asyncpg==0.32.0", "bcrypt==5.0.0",
    "cffi==2.1.1", "duckdb==2.0.1", "fiona==1.10.1", "greenlet==3.5.6", "h5py==3.16.0", "lightgbm==4.7.0",
    "llvmlite==0.50.0", "lz4==4.4.5", "msgpack==1.2.4", "netcdf4==1.7.5.1.post1", "numba==0.68.1",
    "onnxruntime==1.32.0", "orjson==3.13.0", "paramiko==5.1.0", "polars==2.1.0", "psutil==7.2.2",
    "pycryptodome==4.4.0", "pycryptodomex==3.24.2", "pynacl==1.6.2", "pyproj==3.7.2", "pyyaml==6.0.4",
    "pyzmq==27.3.0", "regex==2026.11.19", "rpds-py==2026.9.1", "safetensors==0.8.0", "scikit-learn==1.9.1",
    "sentencepiece==0.2.3", "shapely==2.2.0", "sqlalchemy==2.1.9", "tables==3.11.1", "tokenizers==0.23.3",
    "uvloop==0.23.0",
    # a second batch: media, databases, serialisation, bioinformatics
    "av==18.1.0", "bitarray==3.12.3", "blosc2==4.14.1", "brotli==1.2.1", "cbor2==6.3.0", "ckzg==2.1.8",
    "google-crc32c==1.9.0", "grpcio-tools==1.85.1", "httptools==0.9.0", "jiter==0.19.0", "kiwisolver==1.5.1",
    "markupsafe==3.0.4", "matplotlib==3.11.2", "numexpr==2.14.2", "opencv-python-headless==5.0.0.93",
    "protobuf==7.36.2", "psycopg2-binary==2.9.13", "psycopg-binary==3.3.9", "pydantic-core==2.50.5",
    "pymongo==4.20.1", "pyodbc==5.5.0", "pysam==0.24.1", "tiktoken==0.14.0", "ujson==6.1.0",
    "websockets==17.4", "xxhash==4.1.0", "zstandard==0.25.0",
)
# the same packages where they have Windows / macOS wheels, the MSVC runtime's, and a few more with DLLs
_BOTH = (
    "aiohttp==3.14.5", "cffi==2.1.1", "cryptography==50.0.2", "duckdb==2.0.1", "fiona==1.10.1",
    "greenlet==3.5.6", "grpcio==1.85.3", "h5py==3.16.0", "llvmlite==0.50.0", "lxml==6.1.3", "lz4==4.4.5",
    "msgpack==1.2.4", "numpy==1.26.4", "onnxruntime==1.32.0", "orjson==3.13.0", "pillow==13.0.0",
    "psutil==7.2.2", "pycryptodome==4.4.0", "pyproj==3.7.2", "pyyaml==6.0.4", "pyzmq==27.3.0",
    "regex==2026.11.19", "shapely==2.2.0",
)
WINDOWS_WHEELS = _BOTH + ("lightgbm==4.7.0", "msvc-runtime==14.44.35112", "numba==0.68.1", "sqlalchemy==2.1.9",
                          "av==18.1.0", "bcrypt==5.0.0", "cython==3.3.1", "kiwisolver==1.5.1", "matplotlib==3.11.2",
                          "psycopg2-binary==2.9.13", "psycopg-binary==3.3.9", "pydantic-core==2.50.5",
                          "pygame==2.6.1", "pymongo==4.20.1", "sounddevice==0.5.6", "tiktoken==0.14.0",
                          "zstandard==0.25.0")
MACOS_WHEELS = _BOTH + ("scipy==1.17.1", "av==18.1.0", "bcrypt==5.0.0", "cython==3.3.1", "kiwisolver==1.5.1",
                        "matplotlib==3.11.2", "opencv-python-headless==5.0.0.93", "psycopg2-binary==2.9.13",
                        "psycopg-binary==3.3.9", "pydantic-core==2.50.5", "pygame==2.6.1", "pymongo==4.20.1",
                        "pysam==0.24.1", "tiktoken==0.14.0", "zstandard==0.25.0")

# (rule, the path as the report gives it or None for any, what the message says or None): high findings
# that are true, each checked by hand, with the reason
Expected = tuple[str, "str | None", "str | None", str]
LINUX_EXPECTED: tuple[Expected, ...] = (
    ("HN-DEP-001", "lightgbm/lightgbm/lib/lib_lightgbm.so", None,
     "needs libgomp.so.1, which the wheel does not bundle (LightGBM's docs: install the system's libgomp)"),
    ("HN-DEP-001", "numba/numba/np/ufunc/omppool.cpython-311-x86_64-linux-gnu.so", None,
     "needs libgomp.so.1.0.0, not bundled: numba's OpenMP threading layer only loads where one is installed"),
    ("HN-DEP-001", "numba/numba/np/ufunc/tbbpool.cpython-311-x86_64-linux-gnu.so", None,
     "needs libtbb.so.12, not bundled: numba's TBB threading layer needs the tbb wheel"),
    ("HN-ELF-007", "shapely/shapely/_geos.cpython-311-x86_64-linux-gnu.so", None,
     "the wheel's extension module keeps RUNPATH /usr/local/lib64 from its build machine"),
    ("HN-DEP-001", "pyodbc/pyodbc.cpython-311-x86_64-linux-gnu.so", None,
     "needs libodbc.so.2, not bundled: pyodbc's docs have users install unixODBC"),
)
WINDOWS_EXPECTED: tuple[Expected, ...] = (
    ("HN-DEP-001", None, r"(?i)needs library (vcruntime140(_1)?|msvcp140(_1)?|vcomp140|python3|python311)\.dll,",
     "a wheel uses the MSVC runtime and python DLL of the Python it is installed into (a Nuitka dist bundles "
     "them; the msvc-runtime wheel keeps its copies under .data/)"),
    ("HN-DEP-001", "numba/numba/np/ufunc/tbbpool.cp311-win_amd64.pyd", None,
     "needs tbb12.dll, not bundled: numba's TBB threading layer needs the tbb wheel"),
)
SETS = {"linux": (LINUX, LINUX_WHEELS, LINUX_EXPECTED), "windows": (WINDOWS, WINDOWS_WHEELS, WINDOWS_EXPECTED),
        "macos": (MACOS, MACOS_WHEELS, ())}


def build_corpus(dest: Path, platforms: tuple[str, ...], wheels: tuple[str, ...]) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for req in wheels:
        with zipfile.ZipFile(download(req, platforms)) as zf:
            zf.extractall(tmp / req.split("==")[0])
    tmp.rename(dest)


def expected_why(finding: dict, expected: tuple[Expected, ...]) -> "str | None":
    for rule, path, message, why in expected:
        if finding["rule"] == rule and (path is None or finding["path"] == path) \
                and (message is None or re.search(message, finding["message"])):
            return why
    return None


def sweep(name: str, report: "Path | None") -> int:
    """Verify one platform's corpus; the number of unexpected high or critical findings."""
    platforms, wheels, expected = SETS[name]
    tag = hashlib.sha256(" ".join(wheels).encode()).hexdigest()[:8]  # another list, another folder
    corpus = CACHE / f"precision-corpus-{name}-{tag}"
    if not corpus.is_dir():
        build_corpus(corpus, platforms, wheels)
    files = [p for p in corpus.rglob("*") if p.is_file() and not p.is_symlink()]
    print(f"{name}: {corpus}: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.0f} MB "
          f"({len(wheels)} pinned {platforms[0]} wheels)")
    with tempfile.TemporaryDirectory() as tmp:
        out = report or Path(tmp) / "verify.json"
        env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "hardnut", "verify", str(corpus), "--format", "json",
                               "-o", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"hardnut verify exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
        print(f"hardnut verify: {time.perf_counter() - t:.1f} s, verdict {json.loads(out.read_text())['verdict']}")
        findings = json.loads(out.read_text())["findings"]
    counts = collections.Counter((f["severity"], f["rule"]) for f in findings)
    order = ("critical", "high", "medium", "low", "info")
    for (severity, rule), n in sorted(counts.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        print(f"{n:6d} {severity:8} {rule}")
    high = [f for f in findings if f["severity"] in ("critical", "high")]
    explained = collections.Counter(why for f in high if (why := expected_why(f, expected)) is not None)
    for _rule, _path, _message, why in expected:
        print(f"expected, {explained.get(why, 0)} found: {why}")
    unexpected = [f for f in high if expected_why(f, expected) is None]
    for f in unexpected:
        print(f"UNEXPECTED {f['severity']} {f['rule']} {f['path']}: {f['message'][:300]}")
    print(f"{name}: {len(high)} high or critical findings, {len(unexpected)} unexpected")
    return len(unexpected)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--platform", choices=(*SETS, "all"), default="linux",
                    help="whose wheels: manylinux (ELF), win_amd64 (PE), macOS arm64 (Mach-O), or all three")
    ap.add_argument("--report", type=Path, help="keep hardnut's JSON report here (one platform)")
    args = ap.parse_args()
    names = list(SETS) if args.platform == "all" else [args.platform]
    unexpected = sum(sweep(name, args.report if len(names) == 1 else None) for name in names)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
