"""Wall and CPU time of `verify_target` on a tree without the per-file result cache of `hardnut build`
(hardnut.filecache), with it cold (an empty folder) and warm (filled by the previous run), in rounds;
prints each round and the medians. Every round verifies a fresh copy of the tree in a new folder, as a
build does (its temporary folder changes every build).

    python scripts/bench_filecache.py DIR [--rounds 5] [--previous PREV]

--previous PREV: "warm" starts from the cache that verifying PREV left (the dist of the build before DIR's,
e.g. one source line changed: only the files that differ miss), instead of the one DIR's own cold run left.

DIR: e.g. the dist folder of `hardnut build -p sample_apps/hello/hardnut.toml` (a real Nuitka standalone
dist) or .bench-cache/corpus (large: worker processes). One verify is run first to warm up the imports."""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from hardnut.checks import perfile
from hardnut.verify import VerifyOptions, verify_target


def timed(target: Path, cache) -> tuple[float, float]:
    """(wall, CPU of this process) seconds of one verify; worker processes' CPU is not counted."""
    start, cpu = time.perf_counter(), time.process_time()
    verify_target(target, VerifyOptions(file_cache=cache))
    return time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--previous", help="the previous build's dist: its results seed the warm cache")
    args = parser.parse_args()
    root = Path(args.root)
    with tempfile.TemporaryDirectory(prefix="bench-filecache-") as tmp:
        work = Path(tmp)
        copy = work / "copy"
        shutil.copytree(root, copy, symlinks=True)
        timed(copy, None)  # imports, the engine's database
        rows = {"none": [], "cold": [], "warm": []}
        for i in range(args.rounds):
            cache = work / f"cache{i}"
            cache.mkdir()
            for mode in ("none", "cold", "warm"):
                if mode == "warm" and args.previous:
                    shutil.rmtree(cache)
                    cache.mkdir()
                    verify_target(Path(args.previous), VerifyOptions(file_cache=cache))
                target = work / f"{mode}{i}"
                copy.rename(target)
                hits = perfile.FILE_CACHE_STATS["hits"]
                rows[mode].append(timed(target, None if mode == "none" else cache))
                target.rename(copy)
                got = perfile.FILE_CACHE_STATS["hits"] - hits
                wall, cpu = rows[mode][-1]
                print(f"round {i + 1} {mode:5s} {wall:.3f} s wall, {cpu:.3f} s CPU"
                      + (f"  ({got} hits)" if mode != "none" else ""), flush=True)
            shutil.rmtree(cache)
        print("medians: " + "; ".join(f"{mode} {statistics.median(w for w, _ in v):.3f} s wall, "
                                      f"{statistics.median(c for _, c in v):.3f} s CPU" for mode, v in rows.items()))


if __name__ == "__main__":
    main()
