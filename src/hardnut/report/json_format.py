"""JSON: `target`, `verdict`, `fail_on`, `findings`, `files` (names are a contract: keep them).

`parse` reads such a document back (for `hardnut report`: one check, every format rendered from it)."""

from __future__ import annotations

import json

from hardnut import __version__
from typing import Any

from hardnut.model import FileRecord, Finding, Rule, Severity, VerifyResult


def document(result: VerifyResult) -> dict:
    return {
        "tool": {"name": "hardnut", "version": __version__},
        "command": result.command,
        "target": result.target,
        "verdict": result.verdict,
        "fail_on": result.fail_on.label,
        "counts": result.counts(),
        "suppressed": result.suppressed,
        "facts": result.facts,
        "findings": [f.to_dict() for f in result.findings],
        "files": [r.to_dict() for r in result.files],
    }


def render(result: VerifyResult, rules: dict[str, Rule], color: bool = False) -> str:
    return json.dumps(document(result), indent=2, ensure_ascii=False) + "\n"


FINDING_KEYS = ("library", "offset", "length", "module", "line", "evidence", "package", "version", "vulnerability",
                "summary")
LIST_KEYS = ("aliases", "fixed")  # vulnerability findings: lists in JSON, tuples in a Finding


def parse(doc: dict[str, Any], command: str = "verify") -> VerifyResult:
    """The VerifyResult a `document` was made from. Raises ValueError/KeyError/TypeError on anything else."""
    findings = []
    for f in doc["findings"]:
        extra = {k: f[k] for k in FINDING_KEYS if f.get(k) is not None}
        extra.update({k: tuple(str(v) for v in f[k]) for k in LIST_KEYS if isinstance(f.get(k), list)})
        for k in ("offset", "length", "line"):
            if k in extra and (not isinstance(extra[k], int) or isinstance(extra[k], bool)):
                raise ValueError(f"finding {k} is not an integer")
        findings.append(Finding(str(f["rule"]), str(f["category"]), Severity.parse(f["severity"]), str(f["path"]),
                                str(f["message"]), fingerprint=str(f.get("fingerprint") or ""), **extra))
    files = [FileRecord(str(r["path"]), int(r["size"]), str(r["sha256"]), str(r.get("format", "data")),
                        r.get("mode"), r.get("link_target"), r.get("signed"), r.get("signature"))
             for r in doc.get("files", [])]
    facts = doc.get("facts") or {}
    if not isinstance(facts, dict):
        raise ValueError("facts is not an object")
    return VerifyResult(target=str(doc["target"]), fail_on=Severity.parse(doc["fail_on"]), findings=findings,
                        files=files, suppressed=int(doc.get("suppressed", 0)), facts=facts, command=command)
