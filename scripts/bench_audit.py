#!/usr/bin/env python3
"""Benchmark `hardnut audit` of a 50-distribution SBOM against a full PyPI OSV export.

The export: osv.dev's `PyPI/all.zip` when reachable (--download); otherwise one is made, in the same
shape (one `<ID>.json` per record in a zip), from a checkout of pypa/advisory-database (`--tree`,
or a bare git mirror via `--git-dir`: its `vulns/**.yaml` converted to JSON). `--scale N` adds N copies
of every record under new ids and package names (`<name>-copyK`), so the export reaches the size of
today's full PyPI export (tens of thousands of records) even from an older snapshot; the copies are
never matched by the SBOM's packages but must be read, parsed and indexed like the real ones.

The SBOM is a real hardnut SBOM (hardnut.sbom.build_bom) of 50 distributions taken from the export,
each at a version inside one of its affected ranges. Timed: the whole `hardnut audit SBOM --db ZIP
--format json` process (cold Python start included), best of --runs.

    python scripts/bench_audit.py [--zip PATH] [--tree DIR | --git-dir DIR] [--scale 0] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
ALL_ZIP = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
DEFAULT_GIT = Path("/work/.mirror/pypa+advisory-database/repo")


def download(dest: Path) -> bool:
    try:
        with urllib.request.urlopen(ALL_ZIP, timeout=30) as resp, open(dest, "wb") as fh:
            while chunk := resp.read(1 << 20):
                fh.write(chunk)
        return True
    except OSError as exc:
        print(f"osv.dev export not reachable ({exc}); building one from pypa/advisory-database")
        return False


def yaml_records_from_git(git_dir: Path):
    names = subprocess.run(["git", "--git-dir", str(git_dir), "ls-tree", "-r", "--name-only", "HEAD", "vulns"],
                           capture_output=True, text=True, check=True).stdout.split()
    names = [n for n in names if n.endswith(".yaml")]
    # one `git cat-file --batch` process for every blob
    proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    def feed() -> None:  # from a thread: a full pipe would otherwise block both sides
        proc.stdin.write("".join(f"HEAD:{n}\n" for n in names).encode())
        proc.stdin.close()

    threading.Thread(target=feed, daemon=True).start()
    for name in names:
        header = proc.stdout.readline().split()
        size = int(header[2])
        data = proc.stdout.read(size)
        proc.stdout.read(1)
        yield name, data
    proc.wait()


def yaml_records_from_tree(tree: Path):
    for path in sorted(tree.rglob("*.yaml")):
        yield str(path.relative_to(tree)), path.read_bytes()


def make_export(records, dest: Path, scale: int) -> int:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    count = 0
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, raw in records:
            try:
                doc = yaml.load(raw, Loader=loader)
            except yaml.YAMLError:
                continue
            if not isinstance(doc, dict) or "id" not in doc:
                continue
            zf.writestr(f"{doc['id']}.json", json.dumps(doc, default=str))
            count += 1
            for k in range(1, scale + 1):
                copy = json.loads(json.dumps(doc, default=str))
                copy["id"] = f"{doc['id']}-COPY{k}"
                for a in copy.get("affected") or []:
                    if isinstance(a, dict) and isinstance(a.get("package"), dict):
                        a["package"]["name"] = f"{a['package'].get('name')}-copy{k}"
                zf.writestr(f"{copy['id']}.json", json.dumps(copy))
                count += 1
    return count


def pick_distributions(export: Path, n: int = 50) -> dict[str, str]:
    """n real package names of the export, each at a version an advisory names as affected."""
    from hardnut.audit import osv

    picked: dict[str, str] = {}
    with zipfile.ZipFile(export) as zf:
        for info in zf.infolist():
            if "-COPY" in info.filename:
                continue
            try:
                adv = osv.parse_record(json.loads(zf.read(info)))
            except (osv.RecordError, ValueError):
                continue
            for a in adv.affected:
                versions = sorted(filter(None, map(osv.parse_version, a.versions)))
                if a.ecosystem == "PyPI" and versions and a.name not in picked:
                    picked[a.name] = str(versions[len(versions) // 2])
            if len(picked) >= n:
                break
    return dict(list(picked.items())[:n])


def write_sbom(dists: dict[str, str], dest: Path) -> None:
    from hardnut.nuitka.report_xml import Distribution
    from hardnut.sbom import ReportFacts, build_bom, to_json

    facts = ReportFacts(nuitka_version="4.3.3", mode="standalone", python_version="3.12.7",
                        distributions=[Distribution(k, v, "pip") for k, v in dists.items()])
    dest.write_text(to_json(build_bom("bench", facts, [])))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zip", type=Path, help="an existing OSV export (all.zip) to use as is")
    ap.add_argument("--download", action="store_true", help="try osv.dev's PyPI all.zip first")
    ap.add_argument("--tree", type=Path, help="a checkout of pypa/advisory-database")
    ap.add_argument("--git-dir", type=Path, default=DEFAULT_GIT, help="a bare mirror of pypa/advisory-database")
    ap.add_argument("--scale", type=int, default=0, help="extra renamed copies of every record")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="hardnut-bench-audit-"))
    export = args.zip or work / "all.zip"
    if args.zip is None and not (args.download and download(export)):
        records = yaml_records_from_tree(args.tree) if args.tree else yaml_records_from_git(args.git_dir)
        started = time.perf_counter()
        count = make_export(records, export, args.scale)
        print(f"export: {count} records, {export.stat().st_size / 1e6:.1f} MB zip "
              f"(made in {time.perf_counter() - started:.1f} s)")
    with zipfile.ZipFile(export) as zf:
        total = sum(1 for i in zf.infolist() if i.filename.endswith(".json"))
    dists = pick_distributions(export)
    sbom = work / "bench.cdx.json"
    write_sbom(dists, sbom)
    print(f"SBOM: {len(dists)} distributions; export: {total} records")

    times, cpus = [], []
    for _ in range(args.runs):
        started = time.perf_counter()
        before = os.times()
        proc = subprocess.run([sys.executable, "-m", "hardnut", "audit", str(sbom), "--db", str(export),
                               "--format", "json", "--fail-on", "critical"], capture_output=True, text=True,
                              env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - started)
        after = os.times()
        cpus.append(after.children_user + after.children_system - before.children_user - before.children_system)
        if proc.returncode not in (0, 1):
            print(proc.stderr)
            return 2
    doc = json.loads(proc.stdout)
    vulns = sum(1 for f in doc["findings"] if f["rule"] == "HN-VULN-001")
    best = min(times)
    print(f"hardnut audit: {vulns} vulnerability findings; best of {args.runs}: {best:.2f} s "
          f"(runs: {', '.join(f'{t:.2f}' for t in times)}); CPU time of the process: best {min(cpus):.2f} s; "
          f"target < 10 s: {'OK' if best < 10 else 'MISSED'}")
    return 0 if best < 10 else 1


if __name__ == "__main__":
    sys.exit(main())
