#!/usr/bin/env python3
"""Benchmark `hardnut build` against raw Nuitka on a sample app: cold, warm, a rebuild after an edit,
and unchanged.

The app is copied to a scratch folder first (its sources get edited). Raw Nuitka runs exactly the command
and environment hardnut would run (hardnut.build.command_for), into a fresh build folder. Each run's wall
time and CPU time (of the whole process tree, from wait4) is printed, with hardnut's overhead over raw Nuitka:

  cold       a fresh, empty ccache (CCACHE_DIR) for each of the two; hardnut with --no-cache
  warm       the ccache the cold hardnut build filled, a fresh Nuitka build folder; hardnut's first build
             with that ccache: an empty build cache (HARDNUT_CACHE_DIR), the store is part of the time
             (--runs such builds, each with its own empty build cache; raw Nuitka once)
  edited     a rebuild after a source edit (a new string constant in the entry module, before its main
             guard, a different one for each build, so each compiles that module's C file and links):
             raw Nuitka and hardnut alternate, --runs times each; hardnut keeps its build cache (a miss
             for the artifact, the unchanged files' verify results are reused) - a developer's next build
  unchanged  hardnut again, nothing changed: the build cache restores the compile (target: at most 10%
             of raw Nuitka's warm rebuild)

Raw Nuitka's own time varies by up to 45% from one warm run to the next on a shared machine, more than
hardnut's overhead: so the script also prints, per hardnut run, its wall time minus the compile's (which
`hardnut build --format json` reports as `seconds`), as a share of that compile, and the same for CPU time
(its process tree's minus the compile's, `cpu_seconds`), and that CPU time again without the app's own smoke
run (`smoke.cpu_seconds`: the program the profile's verify.smoke runs, not hardnut's work).

    python scripts/bench_build.py [--app sample_apps/hello] [--runs 3]
    python scripts/bench_build.py --app scripts/bench_apps/hardnut_cli --edited-only --ccache DIR --runs 3

The second form is for an app whose cold compile takes long (hardnut's own command line: ~15 min cold on
two cores): hardnut's first build with the given warm ccache, then its rebuilds after an edit, in-run only.
"""

from __future__ import annotations

import argparse
import json
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


def median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--app", type=Path, default=REPO / "sample_apps" / "hello")
    ap.add_argument("--runs", type=int, default=3, help="rebuilds after an edit, each of raw Nuitka and hardnut")
    ap.add_argument("--edited-only", action="store_true",
                    help="for an app whose cold compile takes long: only hardnut's first build (warm) and its "
                         "rebuilds after an edit, with the in-run figures (no raw Nuitka runs)")
    ap.add_argument("--ccache", type=Path, help="use this (warm) ccache folder instead of fresh ones")
    args = ap.parse_args()

    from hardnut.build import command_for
    from hardnut.profile import load_profile

    scratch = Path(tempfile.mkdtemp(prefix="hardnut-bench-build-"))
    app = scratch / "app"
    shutil.copytree(args.app, app, ignore=shutil.ignore_patterns("dist", "build", ".hardnut-cache", "__pycache__"))
    profile = load_profile(app / "hardnut.toml")
    entry = profile.app.entry
    original = entry.read_text(encoding="utf-8")
    base = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    base.pop("HARDNUT_CACHE_DIR", None)
    base.pop("PYTHONDONTWRITEBYTECODE", None)  # hardnut as installed: its modules' bytecode compiled
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True, env=base)
    hardnut = [sys.executable, "-m", "hardnut", "build", "-p", str(app / "hardnut.toml"), "-q"]
    rows: dict[str, list[tuple[float, float]]] = {}
    edits = iter(range(1, 10**6))

    def edit() -> None:
        # before the main guard: code after `sys.exit(main())` is dead and Nuitka drops it (same binary)
        line = f'BENCH_EDIT = "edit {next(edits)}"\n'
        at = original.find('\nif __name__ == "__main__":')
        text = original + "\n" + line if at < 0 else original[:at + 1] + line + original[at + 1:]
        entry.write_text(text, encoding="utf-8")

    def raw(label: str, ccache: Path) -> None:
        build_dir = scratch / f"raw-{label}"
        cmd = command_for(profile, build_dir)
        build_dir.mkdir(parents=True)
        env = cmd.environment(dict(base, CCACHE_DIR=str(ccache)))
        rows.setdefault(f"raw {label}", []).append(timed(list(cmd.argv), env, profile.root))
        shutil.rmtree(build_dir, ignore_errors=True)

    inrun: dict[str, list[tuple[float, float]]] = {}  # label -> (hardnut's wall, its Nuitka compile's wall)
    inrun_cpu: dict[str, list[tuple[float, float]]] = {}  # label -> (hardnut's tree CPU, its compile's CPU)
    smoke_cpu: dict[str, list[float]] = {}  # label -> the CPU time of the app's own smoke run (its profile's)

    def ours(label: str, ccache: Path, *extra: str, cache: Path | None = None) -> None:
        env = dict(base, CCACHE_DIR=str(ccache))
        if cache is not None:
            env["HARDNUT_CACHE_DIR"] = str(cache)
        out = scratch / "build.json"
        wall, cpu = timed(hardnut + ["--format", "json", "-o", str(out)] + list(extra), env, REPO)
        rows.setdefault(f"hardnut {label}", []).append((wall, cpu))
        doc = json.loads(out.read_text())
        inrun.setdefault(label, []).append((wall, doc["seconds"]))
        if doc.get("cpu_seconds") is not None:
            inrun_cpu.setdefault(label, []).append((cpu, doc["cpu_seconds"]))
            smoke_cpu.setdefault(label, []).append(doc.get("smoke", {}).get("cpu_seconds") or 0.0)

    ccache = args.ccache or scratch / "ccache-hardnut"
    try:
        if args.edited_only:
            ours("warm", ccache, cache=scratch / "build-cache")
            for _ in range(args.runs):
                edit()
                ours("edited", ccache, cache=scratch / "build-cache")
        else:
            raw("cold", args.ccache or scratch / "ccache-raw")
            ours("cold", ccache, "--no-cache")
            raw("warm", ccache)
            ours("warm", ccache, cache=scratch / "build-cache")
            for i in range(1, args.runs):  # more first builds, each with its own empty build cache
                ours("warm", ccache, cache=scratch / f"warm-cache-{i}")
                shutil.rmtree(scratch / f"warm-cache-{i}", ignore_errors=True)
            for _ in range(args.runs):
                edit()
                raw("edited", ccache)
                edit()
                ours("edited", ccache, cache=scratch / "build-cache")
            ours("unchanged", ccache, cache=scratch / "build-cache")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for name, runs in rows.items():
        each = "" if len(runs) == 1 else "   runs: " + ", ".join(f"{w:.1f}/{c:.1f}" for w, c in runs)
        print(f"{name:18} {median([w for w, _ in runs]):7.1f} s wall {median([c for _, c in runs]):7.1f} s CPU{each}")
    for label in ("cold", "warm", "edited") if not args.edited_only else ():
        raws, ours_ = rows[f"raw {label}"], rows[f"hardnut {label}"]
        rw, rc = median([w for w, _ in raws]), median([c for _, c in raws])
        hw, hc = median([w for w, _ in ours_]), median([c for _, c in ours_])
        pairs = "" if len(raws) == 1 else " (per pair: " + ", ".join(
            f"{100 * (h[0] / r[0] - 1):+.0f}%/{100 * (h[1] / r[1] - 1):+.0f}%" for r, h in zip(raws, ours_)) + ")"
        print(f"{label}: hardnut adds {100 * (hw / rw - 1):+.0f}% wall, {100 * (hc / rc - 1):+.0f}% CPU "
              f"(target <= +5%){pairs}")
    # free of Nuitka's run-to-run spread: hardnut's run minus the same run's compile, wall and CPU time
    for what, table, told in (("wall", inrun, "its run minus its Nuitka compile, which it reports to 0.1 s"),
                              ("CPU", inrun_cpu, "its process tree minus its Nuitka compile's, which it reports "
                                                 "as cpu_seconds")):
        for label in ("cold", "warm", "edited"):
            if label not in table:
                continue
            own = [ours_s - compile_s for ours_s, compile_s in table[label]]
            share = [100 * (ours_s - compile_s) / compile_s for ours_s, compile_s in table[label]]
            print(f"{label}, in-run: hardnut's own {what} time ({told}) {median(own):.2f} s = "
                  f"{median(share):.1f}% of that compile (runs: {', '.join(f'{x:.1f}%' for x in share)})")
            if what == "CPU" and any(smoke_cpu.get(label, ())):
                # the smoke run is the app's own program, run because its profile asks (verify.smoke)
                own = [o - s for o, s in zip(own, smoke_cpu[label])]
                share = [100 * o / c for o, (_, c) in zip(own, table[label])]
                print(f"{label}, in-run: the same without the app's smoke run (its own CPU time, median "
                      f"{median(smoke_cpu[label]):.2f} s) {median(own):.2f} s = {median(share):.1f}% of that compile "
                      f"(runs: {', '.join(f'{x:.1f}%' for x in share)})")
    if args.edited_only:
        return 0
    (rw, rc), (uw, uc) = rows["raw warm"][0], rows["hardnut unchanged"][0]
    print(f"unchanged rebuild: {100 * uw / rw:.0f}% of raw Nuitka's warm wall time, {100 * uc / rc:.0f}% of its CPU "
          f"(target <= 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
