#!/usr/bin/env python3
"""Long fuzzing run: the mutators and oracles of tests/test_fuzz.py, for as many inputs or seconds as you like.

    python scripts/fuzz_long.py --seconds 3600                 # an hour, all kinds
    python scripts/fuzz_long.py --count 20000 --kinds elf,pe   # a fixed number of inputs
    python scripts/fuzz_long.py --seed 7 --dist /tmp/nt/out/app.dist --report /tmp/nt/out/report.xml

Seeds: the gcc/MinGW fixtures (scripts/make_fixtures.py), small onefile binaries with payloads written by
Nuitka's own compressor, the shipped profiles, plus any --dist folders (their small binaries) and
--report files. Every input that crashes or hangs is saved with its plan to --save (default
tests/fixtures/build/fuzz/findings/); small ones can then be copied to tests/fuzz_regressions/.
Exit status 1 when anything was found.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "src"))

import fuzz_helpers as fh  # noqa: E402

KINDS = ("elf", "pe", "onefile", "toml", "report")
TOML_OPS = (0, 1, 2, 5, 6, 7)
REPORT_OPS = (0, 1, 2, 5, 6, 7, 8, 11, 11, 11)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=0, help="inputs to run (0: until --seconds)")
    ap.add_argument("--seconds", type=float, default=600.0, help="stop after this long (default 600)")
    ap.add_argument("--seed", type=int, default=None, help="random seed (default: time based, printed)")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)}")
    ap.add_argument("--dist", action="append", default=[], type=Path, help="a dist folder for more binary seeds")
    ap.add_argument("--report", action="append", default=[], type=Path, help="a Nuitka report XML seed")
    ap.add_argument("--max-ops", type=int, default=4, help="mutations per input (default 4)")
    ap.add_argument("--save", type=Path, default=fh.FUZZ_BUILD / "findings")
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else int(time.time())
    rnd = random.Random(seed)
    kinds = [k for k in args.kinds.split(",") if k]
    pools: dict[str, list[fh.Seed]] = {k: [] for k in KINDS}
    for s in fh.all_binary_seeds(args.dist):
        pools["onefile" if s.kind.startswith("onefile") else s.kind].append(s)
    pools["toml"] = fh.toml_seeds()
    pools["report"] = [fh.report_seed(p) for p in args.report]
    program = fh.FUZZ_BUILD / "onefile" / "tinydist" / "prog"
    kinds = [k for k in kinds if pools.get(k)]
    if not kinds:
        print("no seeds for the requested kinds", file=sys.stderr)
        return 2
    print(f"seed {seed}; seeds: " + ", ".join(f"{k} {len(pools[k])}" for k in kinds), flush=True)

    work = Path(tempfile.mkdtemp(prefix="hardnut-fuzz-"))
    done: Counter = Counter()
    found: dict[str, dict] = {}
    start = time.monotonic()
    last_report = start
    try:
        while True:
            elapsed = time.monotonic() - start
            if (args.count and sum(done.values()) >= args.count) or (not args.count and elapsed >= args.seconds):
                break
            kind = rnd.choice(kinds)
            s = rnd.choice(pools[kind])
            ops = TOML_OPS if kind == "toml" else REPORT_OPS if kind == "report" else range(fh.N_OPS)
            plan = [(rnd.choice(ops), rnd.getrandbits(32), rnd.getrandbits(32), rnd.getrandbits(32))
                    for _ in range(rnd.randint(1, args.max_ops))]
            data = fh.mutate(s, plan)
            if kind == "toml":
                problem = fh.check_profile(data, work)
            elif kind == "report":
                problem = fh.check_report(data, work, program)
            else:
                problem = fh.check_verify(data, s.name, work)
                if problem is None and kind == "onefile":
                    problem = fh.check_payload(data, s.name, work)
            done[kind] += 1
            if problem:
                key = problem.strip().splitlines()[-1][:200]
                digest = hashlib.sha256(data).hexdigest()[:16]
                if key not in found:
                    args.save.mkdir(parents=True, exist_ok=True)
                    suffix = ".toml" if kind == "toml" else ".xml" if kind == "report" else ".bin"
                    (args.save / f"{kind}-{digest}{suffix}").write_bytes(data)
                    found[key] = {"kind": kind, "seed": s.name, "plan": plan, "file": f"{kind}-{digest}{suffix}",
                                  "problem": problem[-4000:], "size": len(data)}
                    (args.save / f"{kind}-{digest}.json").write_text(json.dumps(found[key], indent=1))
                    print(f"\n=== {kind} {fh.describe_plan(s, plan)} -> {args.save / found[key]['file']}\n"
                          f"{problem[-1500:]}", flush=True)
            if time.monotonic() - last_report > 30:
                last_report = time.monotonic()
                rate = sum(done.values()) / (last_report - start)
                print(f"[{last_report - start:6.0f} s] {sum(done.values())} inputs ({rate:.1f}/s) "
                      f"{dict(done)}; distinct problems: {len(found)}", flush=True)
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    total = sum(done.values())
    print(f"done: {total} inputs in {time.monotonic() - start:.0f} s {dict(done)}; seed {seed}; "
          f"distinct problems: {len(found)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
