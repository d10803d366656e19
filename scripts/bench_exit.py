#!/usr/bin/env python3
"""How long a hardnut command's process takes to end after its last atexit handler (the interpreter's
teardown), as run, and with `gc.freeze()` at the end of `hardnut.cli.main` made a no-op (the state
before it was added). Interleaved runs, medians in milliseconds.

    python scripts/bench_exit.py [--runs 8] -- build -p sample_apps/hello/hardnut.toml -q
    python scripts/bench_exit.py -- verify sample_apps/hello/dist/hello.dist --format json -o /dev/null

The command runs in the current folder with the current environment; a build should hit the build cache
(run it once first) so the runs are short.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import atexit, gc, os, sys, time
atexit.register(lambda: os.write(2, b"\\nHN-EXIT-T=%r\\n" % time.perf_counter()))  # registered first: runs last
if {no_freeze!r}:
    gc.freeze = lambda: None
sys.argv = ["hardnut"] + {args!r}
from hardnut.cli import main
main()
"""


def teardown(args: list[str], no_freeze: bool) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-c", CHILD.format(no_freeze=no_freeze, args=args)],
                          capture_output=True, text=True, env=env)
    end = time.perf_counter()  # CLOCK_MONOTONIC: the same clock in both processes
    marks = [line for line in proc.stderr.splitlines() if line.startswith("HN-EXIT-T=")]
    if not marks:
        raise SystemExit(f"hardnut {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return end - float(marks[-1].split("=", 1)[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("args", nargs=argparse.REMAINDER, help="the hardnut command, after --")
    ns = ap.parse_args()
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    if not args:
        ap.error("give the hardnut command after --")
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(ns.runs):
        for no_freeze in (False, True):
            times[no_freeze].append(teardown(args, no_freeze))
    for no_freeze, label in ((False, "as shipped (gc.freeze at the end)"), (True, "without gc.freeze")):
        vals = sorted(times[no_freeze])
        print(f"{label:36} teardown median {1000 * statistics.median(vals):5.1f} ms "
              f"(runs {', '.join(f'{1000 * v:.0f}' for v in vals)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
