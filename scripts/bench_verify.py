#!/usr/bin/env python3
"""Benchmark the whole `hardnut verify DIST` (every check, in a subprocess, as a user runs it) against GNU
`grep -raE` with hardnut's provider patterns over the same bytes.

The corpus is the unpacked contents of real manylinux wheels at pinned versions (WHEELS, ~430 MB /
~9,000 files), downloaded with pip and unpacked once into .bench-cache/ (gitignored). With a warm page
cache it times, each --runs times (median):

  * grep -raEc -f <provider patterns as ERE> over the corpus;
  * `hardnut verify CORPUS --format json -o FILE` with the default engine (hyperscan when installed);
  * the same with the fallback engine forced (HARDNUT_SECRETS_ENGINE=aho-corasick: what installs where
    hyperscan has no wheel) and, with --pure, the pure-Python `re` engine;
  * with --scale: verify on a corpus of 4 hard-linked copies (4x the bytes) against the 1x time;
  * with --dist DIST (repeatable): verify of a small real dist, and `hardnut --version`.

and prints the times, the ratios to grep (each round's, and their median and spread: grep and hardnut run
interleaved, round by round, so a ratio compares runs under the same load) and each run's peak resident
memory (the largest single process: wait4's ru_maxrss covers the process and the worker processes it
reaped). hardnut runs with its bytecode compiled, as pip installs it.

    python scripts/bench_verify.py [--runs 3] [--scale] [--pure] [--dist DIST ...] [--no-fallback]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = REPO / ".bench-cache"

# (requirement, platform): real manylinux wheels with many shared objects
WHEELS = [
    ("numpy==1.26.4", "manylinux2014_x86_64"),
    ("scipy==1.11.4", "manylinux2014_x86_64"),
    ("pandas==2.1.4", "manylinux2014_x86_64"),
    ("pyarrow==14.0.2", "manylinux2014_x86_64"),
    ("cryptography==41.0.7", "manylinux2014_x86_64"),
    ("lxml==4.9.4", "manylinux2014_x86_64"),
    ("pillow==10.1.0", "manylinux2014_x86_64"),
    ("grpcio==1.60.0", "manylinux2014_x86_64"),
]


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


def human(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


# ------------------------------------------------------------------------------------------- corpus


def download(req: str, platform: str | tuple[str, ...]) -> Path:
    """The wheel of `req` for `platform` (or the first of several platform tags pip finds one for)."""
    platforms = (platform,) if isinstance(platform, str) else platform
    folder = CACHE / "wheels" / f"{req.replace('==', '-')}-{platforms[0]}"
    found = sorted(folder.glob("*.whl"))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        *(arg for p in platforms for arg in ("--platform", p)), "--python-version", "3.11",
                        "-d", str(folder), req], check=True)
        found = sorted(folder.glob("*.whl"))
    if not found:
        raise SystemExit(f"pip download of {req} gave no wheel")
    return found[-1]


def build_corpus(dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for req, platform in WHEELS:
        wheel = download(req, platform)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(tmp / req.split("==")[0])
    tmp.rename(dest)


def scaled_corpus(base: Path, copies: int) -> Path:
    """`copies` hard-linked copies of the corpus (same bytes read again, no extra disk)."""
    dest = base.with_name(f"{base.name}-x{copies}")
    if dest.is_dir():
        return dest
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for i in range(copies):
        shutil.copytree(base, tmp / f"copy{i}", copy_function=os.link, symlinks=True)
    tmp.rename(dest)
    return dest


def corpus_stats(root: Path) -> tuple[int, int]:
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    return len(files), sum(p.stat().st_size for p in files)


def warm(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file() and not p.is_symlink():
            with open(p, "rb") as fh:
                while fh.read(1 << 22):
                    pass


# ------------------------------------------------------------------------------------------- timing


def timed(argv: list[str], env: dict[str, str], ok_codes=(0, 1)) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB of the largest process of the tree, CPU seconds of the tree)."""
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out_f, stderr=err_f, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps it: rusage of the process and its reaped workers
        elapsed = time.perf_counter() - t
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if code not in ok_codes:
        raise SystemExit(f"{' '.join(argv[:4])}... exited {code}: {err.decode(errors='replace')[-800:]}")
    return elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


CPU: dict[str, float] = {}
SPREAD: dict[str, str] = {}


def median_run(argv: list[str], env: dict[str, str], runs: int, ok_codes=(0, 1), label: str = "") -> tuple[float, float]:
    """Median wall seconds and the highest peak RSS over `runs` runs; the median CPU seconds go to CPU[label]
    (on a shared machine wall time depends on the neighbours, CPU time much less)."""
    times, peaks, cpus = [], [], []
    for _ in range(runs):
        s, rss, cpu = timed(argv, env, ok_codes)
        times.append(s)
        peaks.append(rss)
        cpus.append(cpu)
    CPU[label] = statistics.median(cpus)
    SPREAD[label] = f"runs {min(times):.2f}-{max(times):.2f} s"
    return statistics.median(times), max(peaks)


def hardnut_argv(target: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "hardnut", "verify", str(target), "--format", "json", "-o", str(out)]


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CACHE / "corpus")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", action="store_true", help="also time 4x the bytes (hard-linked copies)")
    ap.add_argument("--no-fallback", action="store_true", help="skip the forced fallback engine (aho-corasick) run")
    ap.add_argument("--pure", action="store_true", help="also force the pure-Python `re` engine")
    ap.add_argument("--dist", type=Path, nargs="+", action="extend", default=[],
                    help="small real dists to time verify on (e.g. a Nuitka standalone dist)")
    return ap.parse_args(argv)


def main() -> int:
    args = parse_args()
    env = dict(os.environ, PYTHONPATH=str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
               LC_ALL="C")
    env.pop("HARDNUT_SECRETS_ENGINE", None)
    # time hardnut as installed: with its modules' bytecode compiled (pip compiles it on install)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "src")], check=True, env=env)
    if not args.corpus.is_dir():
        build_corpus(args.corpus)
    n, size = corpus_stats(args.corpus)
    warm(args.corpus)
    print(f"corpus: {args.corpus}: {n} files, {human(size)} ({len(WHEELS)} pinned manylinux wheels)")
    out_dir = Path(tempfile.mkdtemp(prefix="hardnut-bench-"))
    patterns = out_dir / "patterns.ere"
    patterns.write_text("\n".join(ERE_PATTERNS) + "\n")
    grep = ["grep", "-raEc", "-f", str(patterns)]

    ok = True
    # Interleaved rounds: each round times grep, then hardnut, then each forced fallback, so that every
    # ratio compares runs made under the same load (the machine may be shared); the median and the
    # spread (lowest-highest) of the per-round ratios are printed.
    fallbacks = [] if args.no_fallback else [("aho-corasick", "fallback engine forced: aho-corasick", 5)]
    if args.pure:
        fallbacks.append(("re", "pure-Python engine forced: re", None))
    engines = [("hardnut", "default engine", 2, env)] + [(e, label, target, dict(env, HARDNUT_SECRETS_ENGINE=e))
                                                        for e, label, target in fallbacks]
    rounds: list[dict[str, tuple[float, float, float]]] = []
    for i in range(args.runs):
        row = {"grep": timed(grep + [str(args.corpus)], env)}
        for name, _label, _target, env_e in engines:
            row[name] = timed(hardnut_argv(args.corpus, out_dir / "r.json"), env_e)
        rounds.append(row)
        print(f"round {i + 1}: " + ", ".join(f"{k} {w:.2f} s wall / {c:.2f} s CPU" for k, (w, _r, c) in row.items())
              + "; " + ", ".join(f"{k} {row[k][0] / row['grep'][0]:.2f}x grep" for k in row if k != "grep"),
              flush=True)

    def summary(name: str) -> tuple[float, float, float]:
        walls = [r[name][0] for r in rounds]
        CPU[name] = statistics.median(r[name][2] for r in rounds)
        return statistics.median(walls), max(r[name][1] for r in rounds), 0.0

    g_s, g_rss, _ = summary("grep")
    print(f"grep -raEc ({len(ERE_PATTERNS)} provider patterns): {g_s:.2f} s wall, {CPU['grep']:.2f} s CPU, "
          f"peak {g_rss:.0f} MB (median of {args.runs})")
    h_s = 0.0
    for name, label, target, _env in engines:
        e_s, e_rss, _ = summary(name)
        ratios = sorted(r[name][0] / r["grep"][0] for r in rounds)
        ratio = statistics.median(ratios)
        if name == "hardnut":
            h_s = e_s
        if target is not None:
            ok &= ratio <= target and e_rss < 300
        goal = f"target <= {target}x, < 300 MB" if target is not None else "no target"
        print(f"hardnut verify ({label}): {e_s:.2f} s wall, {CPU[name]:.2f} s CPU, peak {e_rss:.0f} MB, "
              f"{ratio:.2f}x grep's wall time (per round {ratios[0]:.2f}-{ratios[-1]:.2f}x; {goal})")
    if args.scale:
        big = scaled_corpus(args.corpus, 4)
        warm(big)
        gb_s, _ = median_run(grep + [str(big)], env, max(1, args.runs // 2), label="grep 4x")
        hb_s, hb_rss = median_run(hardnut_argv(big, out_dir / "r.json"), env, max(1, args.runs // 2),
                                  label="hardnut 4x")
        cpu_ratio = CPU["hardnut 4x"] / CPU["hardnut"]
        ok &= min(hb_s / h_s, cpu_ratio) <= 4.4 and hb_rss < 300
        print(f"4x the bytes: hardnut {hb_s:.2f} s wall = {hb_s / h_s:.2f}x the 1x time, {CPU['hardnut 4x']:.2f} s CPU "
              f"= {cpu_ratio:.2f}x the 1x CPU (target <= 4.4x; {SPREAD['hardnut 4x']}), peak {hb_rss:.0f} MB; grep {gb_s:.2f} s "
              f"({hb_s / gb_s:.2f}x grep's wall time)")
    for dist in args.dist:
        dn, dsize = corpus_stats(dist)
        warm(dist)
        d_s, d_rss = median_run(hardnut_argv(dist, out_dir / "r.json"), env, args.runs, label=str(dist))
        ok &= d_s < 1
        print(f"small dist {dist.name} ({dn} files, {human(dsize)}): verify {d_s:.2f} s wall, {CPU[str(dist)]:.2f} s "
              f"CPU (target < 1 s; {SPREAD[str(dist)]}), peak {d_rss:.0f} MB")
    v_s, _ = median_run([sys.executable, "-m", "hardnut", "--version"], env, max(3, args.runs), ok_codes=(0,),
                        label="version")
    ok &= v_s < 0.2
    print(f"hardnut --version: {v_s:.3f} s wall, {CPU['version']:.3f} s CPU (target < 0.2 s; {SPREAD['version']})")
    shutil.rmtree(out_dir, ignore_errors=True)
    print(f"targets: {'met' if ok else 'NOT all met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
