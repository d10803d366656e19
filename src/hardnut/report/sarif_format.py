"""SARIF 2.1.0 as GitHub code scanning accepts it (one run, rules with security-severity)."""

from __future__ import annotations

import json
from urllib.parse import quote

from hardnut import __version__
from hardnut.model import VULNERABILITY_FIELDS, Rule, Severity, VerifyResult

LEVEL = {Severity.CRITICAL: "error", Severity.HIGH: "error", Severity.MEDIUM: "warning",
         Severity.LOW: "note", Severity.INFO: "note"}
SECURITY_SEVERITY = {Severity.CRITICAL: "9.5", Severity.HIGH: "8.0", Severity.MEDIUM: "5.5",
                     Severity.LOW: "3.0", Severity.INFO: "0.0"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _rule(rule: Rule) -> dict:
    out = {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.name.replace("-", " ").split()),
        "shortDescription": {"text": rule.name},
        "fullDescription": {"text": rule.explanation},
        "help": {"text": rule.explanation},
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {"tags": ["security", rule.category],
                       "security-severity": SECURITY_SEVERITY[rule.severity]},
    }
    if rule.references:
        out["helpUri"] = rule.references[0]
    return out


def document(result: VerifyResult, rules: dict[str, Rule]) -> dict:
    used = sorted({f.rule for f in result.findings})
    rule_list = [rules[r] for r in used if r in rules]
    index = {r.id: i for i, r in enumerate(rule_list)}
    results = []
    for f in result.findings:
        location: dict = {"physicalLocation": {"artifactLocation": {"uri": quote(f.path, safe="/!:@")}}}
        if f.line is not None:
            location["physicalLocation"]["region"] = {"startLine": f.line}
        # Byte offsets into binaries go in properties: GitHub code scanning wants line-based regions.
        res = {
            "ruleId": f.rule,
            "level": LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [location],
            "partialFingerprints": {"hardnutFingerprint/v1": f.fingerprint},
            "properties": {"severity": f.severity.label, "category": f.category},
        }
        if f.rule in index:
            res["ruleIndex"] = index[f.rule]
        for key in ("library", "module", "evidence", "offset", "length"):
            if getattr(f, key) is not None:
                res["properties"][key] = getattr(f, key)
        for key, value in f.to_dict().items():  # vulnerability findings: package, version, aliases, fixed...
            if key in VULNERABILITY_FIELDS:
                res["properties"][key] = value
        results.append(res)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "hardnut", "version": __version__, "semanticVersion": __version__,
                "informationUri": "https://pypi.org/project/hardnut/", "rules": [_rule(r) for r in rule_list],
            }},
            "results": results,
            "properties": {"verdict": result.verdict, "fail_on": result.fail_on.label},
        }],
    }


def render(result: VerifyResult, rules: dict[str, Rule], color: bool = False) -> str:
    return json.dumps(document(result, rules), indent=2, ensure_ascii=False) + "\n"
