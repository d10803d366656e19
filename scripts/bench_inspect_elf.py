"""CPU time of `hardnut.inspect.elf.inspect_elf` over every ELF file of a tree (default: the benchmark
corpus .bench-cache/corpus that scripts/bench_verify.py unpacks), in rounds; prints each round and the median.

    python scripts/bench_inspect_elf.py [DIR] [--rounds 5]

Compare two checkouts by running it with each one's src/ first on PYTHONPATH, rounds interleaved (the
machine is shared and noisy: compare medians)."""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from hardnut.inspect.elf import BinaryParseError, inspect_elf

REPO = Path(__file__).resolve().parent.parent


def elf_files(root: Path) -> list[Path]:
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                with open(path, "rb") as fh:
                    if fh.read(4) == b"\x7fELF":
                        found.append(path)
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", nargs="?", default=str(REPO / ".bench-cache" / "corpus"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    paths = elf_files(Path(args.root))
    if not paths:
        raise SystemExit(f"no ELF files under {args.root} (run scripts/bench_verify.py once to unpack the corpus)")
    for path in paths[:5]:  # imports and caches warm
        try:
            inspect_elf(path)
        except BinaryParseError:
            pass
    times = []
    for n in range(args.rounds):
        start = time.process_time()
        for path in paths:
            try:
                inspect_elf(path)
            except BinaryParseError:
                pass
        times.append(time.process_time() - start)
        print(f"round {n + 1}: {len(paths)} ELF files, {times[-1]:.3f} s CPU")
    print(f"median {statistics.median(times):.3f} s CPU ({len(paths)} files)")


if __name__ == "__main__":
    main()
