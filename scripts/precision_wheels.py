#!/usr/bin/env python3
"""Precision on real, clean binaries: `hardnut verify` over the unpacked contents of 37 real manylinux
wheels at pinned versions (WHEELS: ~660 MB / ~5,000 files; crypto libraries with self-test keys,
database drivers whose docstrings hold DSN examples, auditwheel-repaired packages with their own .libs,
compilers and runtimes), run as a user runs it (a subprocess, every check, the JSON report).

None of these wheels leaks a secret or misses a library it needs at run time, so every high or critical
finding is a false alarm until proven otherwise. The few that are proven true are listed in EXPECTED with
the reason; any other one is printed (masked, as the report masks it) and the script exits 1.

    python scripts/precision_wheels.py [--report FILE]

Wheels are downloaded with pip once into .bench-cache/ (as scripts/bench_verify.py's) and unpacked
into .bench-cache/precision-corpus/.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
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

PLATFORM = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
WHEELS = (
    "aiohttp==3.14.5", "apsw==3.54.1.0", "argon2-cffi-bindings==26.2.0", "asyncpg==0.32.0", "bcrypt==5.0.0",
    "cffi==2.1.1", "duckdb==2.0.1", "fiona==1.10.1", "greenlet==3.5.6", "h5py==3.16.0", "lightgbm==4.7.0",
    "llvmlite==0.50.0", "lz4==4.4.5", "msgpack==1.2.4", "netcdf4==1.7.5.1.post1", "numba==0.68.1",
    "onnxruntime==1.32.0", "orjson==3.13.0", "paramiko==5.1.0", "polars==2.1.0", "psutil==7.2.2",
    "pycryptodome==4.4.0", "pycryptodomex==3.24.2", "pynacl==1.6.2", "pyproj==3.7.2", "pyyaml==6.0.4",
    "pyzmq==27.3.0", "regex==2026.11.19", "rpds-py==2026.9.1", "safetensors==0.8.0", "scikit-learn==1.9.1",
    "sentencepiece==0.2.3", "shapely==2.2.0", "sqlalchemy==2.1.9", "tables==3.11.1", "tokenizers==0.23.3",
    "uvloop==0.23.0",
)

# (rule, path as the report gives it): high findings that are true, each checked by hand
EXPECTED = {
    ("HN-DEP-001", "lightgbm/lightgbm/lib/lib_lightgbm.so"):
        "needs libgomp.so.1, which the wheel does not bundle (LightGBM's docs: install the system's libgomp)",
    ("HN-DEP-001", "numba/numba/np/ufunc/omppool.cpython-311-x86_64-linux-gnu.so"):
        "needs libgomp.so.1.0.0, not bundled: numba's OpenMP threading layer only loads where one is installed",
    ("HN-DEP-001", "numba/numba/np/ufunc/tbbpool.cpython-311-x86_64-linux-gnu.so"):
        "needs libtbb.so.12, not bundled: numba's TBB threading layer needs the tbb wheel",
    ("HN-ELF-007", "shapely/shapely/_geos.cpython-311-x86_64-linux-gnu.so"):
        "the wheel's extension module keeps RUNPATH /usr/local/lib64 from its build machine",
}


def build_corpus(dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for req in WHEELS:
        with zipfile.ZipFile(download(req, PLATFORM)) as zf:
            zf.extractall(tmp / req.split("==")[0])
    tmp.rename(dest)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", type=Path, help="keep hardnut's JSON report here")
    args = ap.parse_args()
    corpus = CACHE / "precision-corpus"
    if not corpus.is_dir():
        build_corpus(corpus)
    files = [p for p in corpus.rglob("*") if p.is_file() and not p.is_symlink()]
    print(f"corpus: {corpus}: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.0f} MB "
          f"({len(WHEELS)} pinned manylinux wheels)")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.report or Path(tmp) / "verify.json"
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
    unexpected = [f for f in high if (f["rule"], f["path"]) not in EXPECTED]
    seen = {(f["rule"], f["path"]) for f in high}
    for key, why in sorted(EXPECTED.items()):
        print(f"expected {'(found)' if key in seen else '(NOT found)'} {key[0]} {key[1]}: {why}")
    for f in unexpected:
        print(f"UNEXPECTED {f['severity']} {f['rule']} {f['path']}: {f['message'][:300]}")
    print(f"{len(high)} high or critical findings, {len(unexpected)} not among the {len(EXPECTED)} expected")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
