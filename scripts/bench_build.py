#!/usr/bin/env python3
"""Benchmark `hardnut build` against raw Nuitka on a sample app: cold, warm and unchanged.

Raw Nuitka runs exactly the command and environment hardnut would run (hardnut.build.command_for),
into a fresh build folder. Each run's wall time and CPU time (of the whole process tree, from wait4)
is printed, with hardnut's overhead over raw Nuitka:

  cold       a fresh, empty ccache (CCACHE_DIR) for each of the two; hardnut with --no-cache
  warm       the ccache the cold hardnut build filled, a fresh Nuitka build folder; hardnut stores its
             compile in an empty build cache (HARDNUT_CACHE_DIR) - the store is part of the time
  unchanged  hardnut again, nothing changed: the build cache restores the compile (target: at most 10%
             of raw Nuitka's warm rebuild)

    python scripts/bench_build.py [--app sample_apps/hello]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process tree); exits on failure."""
    with tempfile.TemporaryFile() as log:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):  # hardnut build exits 1 when verify fails: still a build
            log.seek(0)
            raise SystemExit(f"{argv[:3]} exited {code}:\n{log.read().decode(errors='replace')[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", type=Path, default=REPO / "sample_apps" / "hello")
    args = ap.parse_args()

    from hardnut.build import command_for
    from hardnut.profile import load_profile

    profile = load_profile(args.app / "hardnut.toml")
    scratch = Path(tempfile.mkdtemp(prefix="hardnut-bench-build-"))
    base = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    base.pop("HARDNUT_CACHE_DIR", None)
    base.pop("PYTHONDONTWRITEBYTECODE", None)  # hardnut as installed: its modules' bytecode compiled
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True, env=base)
    hardnut = [sys.executable, "-m", "hardnut", "build", "-p", str(args.app / "hardnut.toml"), "-q"]
    rows = {}

    def raw(label: str, ccache: Path) -> None:
        build_dir = scratch / f"raw-{label}"
        cmd = command_for(profile, build_dir)
        build_dir.mkdir(parents=True)
        env = cmd.environment(dict(base, CCACHE_DIR=str(ccache)))
        rows[f"raw {label}"] = timed(list(cmd.argv), env, profile.root)
        shutil.rmtree(build_dir, ignore_errors=True)

    def ours(label: str, ccache: Path, *extra: str, cache: Path | None = None) -> None:
        env = dict(base, CCACHE_DIR=str(ccache))
        if cache is not None:
            env["HARDNUT_CACHE_DIR"] = str(cache)
        rows[f"hardnut {label}"] = timed(hardnut + list(extra), env, REPO)

    try:
        raw("cold", scratch / "ccache-raw")
        ours("cold", scratch / "ccache-hardnut", "--no-cache")
        raw("warm", scratch / "ccache-hardnut")
        ours("warm", scratch / "ccache-hardnut", cache=scratch / "build-cache")
        ours("unchanged", scratch / "ccache-hardnut", cache=scratch / "build-cache")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, (wall, cpu) in rows.items():
        print(f"{name:18} {wall:7.1f} s wall {cpu:7.1f} s CPU")
    for label in ("cold", "warm"):
        (rw, rc), (hw, hc) = rows[f"raw {label}"], rows[f"hardnut {label}"]
        print(f"{label}: hardnut adds {100 * (hw / rw - 1):+.0f}% wall, {100 * (hc / rc - 1):+.0f}% CPU "
              f"(target <= +5%)")
    (rw, rc), (uw, uc) = rows["raw warm"], rows["hardnut unchanged"]
    print(f"unchanged rebuild: {100 * uw / rw:.0f}% of raw Nuitka's warm wall time, {100 * uc / rc:.0f}% of its CPU "
          f"(target <= 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
