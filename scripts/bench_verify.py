#!/usr/bin/env python3
"""Benchmark hardnut's secrets check against GNU grep on a large folder of real binaries.

Builds (or reuses) a corpus folder: copies of Nuitka dists plus the regular *.so files of
/usr/lib/x86_64-linux-gnu, ~320 MB by default. Then, with a warm page cache, times

  * hardnut's secrets check (hardnut.checks.secrets.run on the walked folder: raw scan of every
    file in ASCII and UTF-16LE, constants-blob decoding, archives), with 2 worker processes and
    with 1;
  * `LC_ALL=C grep -aEc -r -f <provider patterns as ERE>` over the same folder (ASCII only;
    --with-generic adds the generic-assignment rule);

and prints both times, their ratio and the peak resident memory (resource.getrusage of this
process and of its worker processes; grep's own via wait4, run first while this process is small).

    python scripts/bench_verify.py [--corpus DIR] [--size-mb 320] [--dist DIST [DIST ...]] [--rebuild]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

DEFAULT_DISTS = [
    REPO / "tests" / "fixtures" / "build" / "planted-standalone" / "planted.dist",
    Path("/tmp/nt/out/app.dist"),
]
SYSTEM_LIBS = Path("/usr/lib/x86_64-linux-gnu")


def ci(word: str) -> str:
    """A caseless ERE for a literal word (grep -i would apply to every pattern)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else ("\\." if c == "." else c) for c in word)


# The provider rules of hardnut.secrets.rules, translated to ERE (no look-arounds, no group
# names; prefix/keyword structure and lengths kept, except that the JWT's upper length bounds are
# dropped: GNU grep's DFA takes minutes on {8,8000}).
ERE_PATTERNS = [
    r"(A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
    ci("secret") + r"[_.-]?" + ci("access") + r"[_.-]?" + ci("key") + r"[\"']?[ \t]{0,4}(=|:=|:|=>)[ \t]{0,4}[\"']?[A-Za-z0-9/+]{40}",
    r"gh[pousr]_[A-Za-z0-9]{36}",
    r"github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
    r"glpat-[A-Za-z0-9_-]{20,300}",
    r"(xox[abposre]|xoxe\.xox[bp])-([0-9]{1,14}-){1,3}[A-Za-z0-9]{8,220}|xapp-[0-9]-[A-Z0-9]{8,14}-[0-9]{8,16}-[A-Za-z0-9]{32,80}",
    ci("hooks.slack.com") + r"/(services|workflows|triggers)/[A-Za-z0-9_-]{8,40}/[A-Za-z0-9_/+-]{16,100}",
    r"[sr]k_live_[A-Za-z0-9]{24,247}",
    r"AIza[0-9A-Za-z_-]{35}",
    r"sk-((proj|svcacct|admin)-)?[A-Za-z0-9_-]{16,200}T3BlbkFJ[A-Za-z0-9_-]{16,200}|sk-(proj|svcacct|admin)-[A-Za-z0-9_-]{40,300}",
    r"sk-ant-(api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,120}AA",
    ci("accountkey") + r"[ \t]{0,4}=[ \t]{0,4}[A-Za-z0-9+/]{86}==",
    r"npm_[A-Za-z0-9]{36}",
    r"pypi-AgE(IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,1000}",
    r"SK[0-9a-f]{32}",
    r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}",
    r"-----BEGIN ([A-Z0-9]{2,12} ){0,3}PRIVATE KEY( BLOCK)?-----",
    r"PuTTY-User-Key-File-[23]: ",
    r"[A-Za-z][A-Za-z0-9+.-]{1,30}://[!$-&(-.0-9;=A-Z^-~]{1,128}:[!$-&(-.0-9;=A-Z^-~]{3,128}@",
]


# hardnut's generic rule as ERE: only with --with-generic (GNU grep's DFA struggles with it)
GENERIC_ERE = (
    "(" + "|".join(ci(w) for w in ("password", "passwd", "pass", "pwd", "secret", "token", "apikey", "api_key",
                                    "api-key", "access_key", "private_key", "auth", "credential"))
    + r")[A-Za-z0-9_.-]{0,24}[\"']?[ \t]{0,4}(=|:=|:|=>)[ \t]{0,4}[\"'`]?[!-~]{8,200}"
)


def human(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def build_corpus(dest: Path, size_mb: int, dists: list[Path]) -> None:
    """Copies of the Nuitka dists (about 40 % of the target), then system .so files."""
    target = size_mb * 1024 * 1024
    dest.mkdir(parents=True, exist_ok=True)
    total = 0
    dists = [d for d in dists if d.is_dir()]
    copy = 0
    while dists and total < target * 0.4:
        d = dists[copy % len(dists)]
        out = dest / f"dist{copy:02d}-{d.name}"
        shutil.copytree(d, out, symlinks=True)
        total += sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and not p.is_symlink())
        copy += 1
    libs = dest / "syslibs"
    libs.mkdir(exist_ok=True)
    for p in sorted(SYSTEM_LIBS.glob("*.so*")):
        if total >= target:
            break
        if p.is_symlink() or not p.is_file():
            continue
        shutil.copy2(p, libs / p.name)
        total += p.stat().st_size
    print(f"corpus: {dest} ({copy} dist copies + {len(list(libs.iterdir()))} system libraries)")


def corpus_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()]


def warm(files: list[Path]) -> int:
    total = 0
    for p in files:
        with open(p, "rb") as fh:
            while block := fh.read(1 << 20):
                total += len(block)
    return total


def run_grep(root: Path, patterns: Path) -> tuple[float, int, int, float]:
    """(seconds, matching lines, files with matches, peak RSS in MB of grep itself)."""
    env = dict(os.environ, LC_ALL="C")
    t = time.perf_counter()
    proc = subprocess.Popen(["grep", "-aEc", "-r", "-f", str(patterns), str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - t
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # already reaped
    if code not in (0, 1):
        raise SystemExit(f"grep failed: {err.decode(errors='replace').strip()}")
    counts = [int(line.rsplit(b":", 1)[1]) for line in out.splitlines() if b":" in line]
    return elapsed, sum(counts), sum(1 for c in counts if c), usage.ru_maxrss / 1024


def run_scan(root: Path, workers: int) -> tuple[float, int, str]:
    from hardnut.artifact.walk import open_target
    from hardnut.checks import secrets as secrets_check
    from hardnut.checks.base import CheckContext, VerifyConfig

    os.environ["HARDNUT_SECRETS_WORKERS"] = str(workers)
    with open_target(root) as art:
        ctx = CheckContext(art, VerifyConfig())
        t = time.perf_counter()
        findings = list(secrets_check.run(ctx))
        elapsed = time.perf_counter() - t
        name = ctx.cache["secrets:engine"].name
    return elapsed, len(findings), name


def maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("/tmp/hardnut-bench/corpus"))
    ap.add_argument("--size-mb", type=int, default=320)
    ap.add_argument("--dist", type=Path, nargs="+", action="extend", metavar="DIST",
                    help="Nuitka dist folder(s) to copy: --dist A B, or --dist A --dist B")
    ap.add_argument("--rebuild", action="store_true", help="delete and rebuild the corpus")
    ap.add_argument("--with-generic", action="store_true",
                    help="also give grep the generic-assignment pattern (slow: GNU grep's DFA struggles)")
    return ap.parse_args(argv)


def main() -> int:
    args = parse_args()

    if args.rebuild and args.corpus.exists():
        shutil.rmtree(args.corpus)
    if not args.corpus.exists() or not any(args.corpus.iterdir()):
        build_corpus(args.corpus, args.size_mb, args.dist or DEFAULT_DISTS)
    files = corpus_files(args.corpus)
    size = warm(files)
    print(f"corpus: {len(files)} files, {human(size)} (page cache warmed)")

    # grep first, while this process is still small: a forked child starts with the parent's RSS
    patterns = args.corpus.parent / "patterns.ere"
    ere = ERE_PATTERNS + ([GENERIC_ERE] if args.with_generic else [])
    patterns.write_text("\n".join(ere) + "\n")
    grep_s, grep_lines, grep_files, grep_rss = run_grep(args.corpus, patterns)
    what = "provider + generic" if args.with_generic else "provider"
    print(f"grep -aE ({len(ere)} {what} patterns, ASCII only): {grep_s:.2f} s, {grep_lines} matching lines "
          f"in {grep_files} files, peak RSS {grep_rss:.0f} MB")

    serial_s, serial_n, engine = run_scan(args.corpus, workers=1)
    print(f"hardnut secrets, 1 process ({engine}): {serial_s:.2f} s, {serial_n} findings")
    par_s, par_n, _ = run_scan(args.corpus, workers=2)
    self_rss, workers_rss = maxrss_mb(resource.RUSAGE_SELF), maxrss_mb(resource.RUSAGE_CHILDREN)
    if workers_rss <= grep_rss:
        workers_rss = float("nan")  # no worker outgrew grep: not measurable this way
    print(f"hardnut secrets, 2 processes ({engine}): {par_s:.2f} s, {par_n} findings")
    print(f"hardnut peak RSS: {self_rss:.0f} MB (main process), {workers_rss:.0f} MB (largest worker)")

    print(f"throughput: hardnut {size / par_s / 1e6:.0f} MB/s (2 proc), {size / serial_s / 1e6:.0f} MB/s "
          f"(1 proc); grep {size / grep_s / 1e6:.0f} MB/s")
    print(f"ratio hardnut/grep: {par_s / grep_s:.2f}x (2 processes), {serial_s / grep_s:.2f}x (1 process)")
    peak = max(x for x in (self_rss, workers_rss) if x == x)  # ignore nan
    ok = par_s <= 3 * grep_s and peak < 300
    print(f"target (<= 3x grep, peak < 300 MB): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
