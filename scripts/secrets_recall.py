#!/usr/bin/env python3
"""Recall and false-positive rate of hardnut's secret rules on a corpus, planted three ways.

    python scripts/secrets_recall.py                       # held-out peers' corpus (secrets_corpus.py)
    python scripts/secrets_recall.py --own                 # hardnut's own samples (tests/secret_samples.py)
    python scripts/secrets_recall.py --per-rule --misses 5 # per peer rule, with a few masked misses

Each sample is planted
* as text: the sample's UTF-8 bytes, scanned like a data file;
* as UTF-16LE: the same text encoded UTF-16LE (Windows resources, .NET strings);
* as compiled constants: the text stored the way Nuitka's constants blob stores a `str` constant
  (tag 'u', UTF-8, NUL terminator; see hardnut/inspect/constants_blob.py), all samples in one
  blob-like buffer scanned the way `checks.secrets` scans a binary: raw bytes plus the decoded
  strings one by one (`Engine.scan_strings`).
A true-positive sample counts as found when any finding (any rule, severity >= --min-severity)
lies inside it; a negative sample counts as a false positive when any finding lies inside it.
Targets (issue 9): recall >= 90% in each plant, false positives <= 5%. Exit code 1 if missed.
Nothing here prints a sample in full: misses are shown masked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "tests"))

from hardnut.model import Severity, mask  # noqa: E402
from hardnut.secrets.engine import Engine  # noqa: E402

PLANTS = ("text", "utf16", "constants")


def found_text(engine: Engine, text: str, min_sev: Severity) -> bool:
    return any(m.severity >= min_sev for m in engine.scan_buffer(text.encode("utf-8", "surrogatepass")))


def found_utf16(engine: Engine, text: str, min_sev: Severity) -> bool:
    return any(m.severity >= min_sev for m in engine.scan_buffer(text.encode("utf-16-le", "surrogatepass")))


def found_constants(engine: Engine, texts: list[str], min_sev: Severity) -> list[bool]:
    parts, spans, pos = [], [], 0
    for t in texts:
        raw = t.encode("utf-8", "surrogatepass")
        if b"\x00" in raw:  # Nuitka stores such strings with an explicit length ('v'); same bytes
            raw = raw.replace(b"\x00", b" ")
        parts.append(b"u" + raw + b"\x00")
        spans.append((pos + 1, pos + 1 + len(raw)))
        pos += len(raw) + 2
    blob = b"".join(parts)
    matches = engine.scan_buffer(blob) + engine.scan_strings([(s, blob[s:e]) for s, e in spans])
    hit = [False] * len(texts)
    starts = [s for s, _ in spans]
    import bisect
    for m in matches:
        if m.severity < min_sev:
            continue
        i = bisect.bisect_right(starts, m.offset) - 1
        if i >= 0 and m.offset + m.length <= spans[i][1]:
            hit[i] = True
    return hit


def load(args) -> list[dict]:
    if args.own:
        from secret_samples import corpus_rows
        return corpus_rows()
    path = Path(args.corpus)
    if not path.exists():
        sys.exit(f"error: {path} not found: run scripts/secrets_corpus.py first")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main() -> int:
    ap = argparse.ArgumentParser(description="secret rules: recall / false positives per plant")
    ap.add_argument("--corpus", default=str(REPO / ".secrets-corpus" / "heldout.jsonl"))
    ap.add_argument("--own", action="store_true", help="hardnut's own samples instead of the peers'")
    ap.add_argument("--source", action="append", help="only these sources (gitleaks, detect-secrets, trufflehog)")
    ap.add_argument("--per-rule", action="store_true")
    ap.add_argument("--misses", type=int, default=0, help="show N masked misses / false positives per rule")
    ap.add_argument("--min-severity", default="low")
    ap.add_argument("--recall-target", type=float, default=0.90)
    ap.add_argument("--fp-target", type=float, default=0.05)
    args = ap.parse_args()
    min_sev = Severity.parse(args.min_severity)
    rows = load(args)
    if args.source:
        rows = [r for r in rows if r["source"] in args.source]
    engine = Engine()
    hits = {p: [False] * len(rows) for p in PLANTS}
    for i, r in enumerate(rows):
        hits["text"][i] = found_text(engine, r["text"], min_sev)
        hits["utf16"][i] = found_utf16(engine, r["text"], min_sev)
    hits["constants"] = found_constants(engine, [r["text"] for r in rows], min_sev)

    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        groups[(r["source"], r["rule"])].append(i)
    ok = True
    print(f"engine {engine.name}; {len(rows)} samples; severity >= {min_sev.label}")
    for source in sorted({r["source"] for r in rows}) + ["ALL"]:
        idx = [i for i, r in enumerate(rows) if source in ("ALL", r["source"])]
        tps = [i for i in idx if rows[i]["kind"] == "tp"]
        fps = [i for i in idx if rows[i]["kind"] == "fp"]
        line = [f"{source:15} tp={len(tps):5} fp-samples={len(fps):4}"]
        for p in PLANTS:
            rec = sum(hits[p][i] for i in tps) / max(1, len(tps))
            fpr = sum(hits[p][i] for i in fps) / max(1, len(fps))
            line.append(f"{p}: recall {rec:6.1%} FP {fpr:5.1%}")
            if source == "ALL" and (rec < args.recall_target or fpr > args.fp_target):
                ok = False
        print("  ".join(line))
    if args.per_rule:
        print("\nper rule (text plant): recall, false positives")
        for (source, rule), idx in sorted(groups.items()):
            tps = [i for i in idx if rows[i]["kind"] == "tp"]
            fps = [i for i in idx if rows[i]["kind"] == "fp"]
            rec = sum(hits["text"][i] for i in tps)
            fp = sum(hits["text"][i] for i in fps)
            if tps and rec == len(tps) and not fp and not args.misses:
                continue
            print(f"  {source:14} {rule:45} recall {rec}/{len(tps)}  fp {fp}/{len(fps)}"
                  + (f"  u16 {sum(hits['utf16'][i] for i in tps)}  const {sum(hits['constants'][i] for i in tps)}"))
            shown = 0
            for i in tps:
                if not hits["text"][i] and shown < args.misses:
                    print(f"      miss: {_masked(rows[i]['text'])}")
                    shown += 1
            shown = 0
            for i in fps:
                if hits["text"][i] and shown < args.misses:
                    print(f"      fp:   {_masked(rows[i]['text'])}")
                    shown += 1
    print("targets met" if ok else f"targets NOT met (recall >= {args.recall_target:.0%}, FP <= {args.fp_target:.0%})")
    return 0 if ok else 1


def _masked(text: str) -> str:
    """Show the shape of a sample without its secret: long runs of token characters are masked."""
    import re
    return re.sub(r"[A-Za-z0-9+/_\-=.]{12,}", lambda m: mask(m.group()), text.replace("\n", "\\n"))[:160]


if __name__ == "__main__":
    sys.exit(main())
