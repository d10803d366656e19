"""JSON: `target`, `verdict`, `fail_on`, `findings`, `files` (names are a contract: keep them)."""

from __future__ import annotations

import json

from hardnut import __version__
from hardnut.model import Rule, VerifyResult


def document(result: VerifyResult) -> dict:
    return {
        "tool": {"name": "hardnut", "version": __version__},
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
