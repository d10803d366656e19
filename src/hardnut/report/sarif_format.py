"""SARIF 2.1.0 as GitHub code scanning accepts it (one run, rules with security-severity), from the
failing level plus medium by default (`--sarif-min-severity`), low findings grouped per rule."""

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


MAX_GROUP_LOCATIONS = 20  # locations listed on one grouped result


def default_min_severity(fail_on: Severity) -> Severity:
    """What is exported when the user does not choose: everything that fails, plus medium."""
    return min(fail_on, Severity.MEDIUM)


def _location(path: str, line=None) -> dict:
    location: dict = {"physicalLocation": {"artifactLocation": {"uri": quote(path, safe="/!:@")}}}
    if line is not None:
        location["physicalLocation"]["region"] = {"startLine": line}
    return location


def _group_fingerprint(rule_id: str) -> str:
    import hashlib

    return hashlib.sha256(f"hardnut-group\0{rule_id}".encode()).hexdigest()[:32]


def document(result: VerifyResult, rules: dict[str, Rule], min_severity: Severity | None = None) -> dict:
    """Findings at or above `min_severity` (default `default_min_severity(fail_on)`). Findings that fail
    the verdict are one result each; below the failing level, a rule with several findings is one
    result listing where (so third-party libraries' notes do not flood code scanning)."""
    lowest = default_min_severity(result.fail_on) if min_severity is None else min_severity
    exported = [f for f in result.findings if f.severity >= lowest]
    groups: dict[str, list] = {}
    for f in exported:
        if f.severity < result.fail_on:
            groups.setdefault(f.rule, []).append(f)
    grouped = {rule for rule, members in groups.items() if len(members) > 1}
    used = sorted({f.rule for f in exported})
    rule_list = [rules[r] for r in used if r in rules]
    index = {r.id: i for i, r in enumerate(rule_list)}
    results = []
    done: set[str] = set()
    for f in exported:
        if f.rule in grouped and f.severity < result.fail_on:
            if f.rule in done:
                continue
            done.add(f.rule)
            members = groups[f.rule]
            paths = list(dict.fromkeys(m.path for m in members))
            shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
            res = {
                "ruleId": f.rule,
                "level": LEVEL[max(m.severity for m in members)],
                "message": {"text": f"{len(members)} findings in {len(paths)} files ({shown}); first: {f.message}"},
                "locations": [_location(p) for p in paths[:MAX_GROUP_LOCATIONS]],
                "partialFingerprints": {"hardnutFingerprint/v1": _group_fingerprint(f.rule)},
                "properties": {"severity": max(m.severity for m in members).label, "category": f.category,
                               "grouped": len(members),
                               "fingerprints": sorted({m.fingerprint for m in members})},
            }
        else:
            # Byte offsets into binaries go in properties: GitHub code scanning wants line-based regions.
            res = {
                "ruleId": f.rule,
                "level": LEVEL[f.severity],
                "message": {"text": f.message},
                "locations": [_location(f.path, f.line)],
                "partialFingerprints": {"hardnutFingerprint/v1": f.fingerprint},
                "properties": {"severity": f.severity.label, "category": f.category},
            }
            for key in ("library", "module", "evidence", "offset", "length"):
                if getattr(f, key) is not None:
                    res["properties"][key] = getattr(f, key)
            for key, value in f.to_dict().items():  # vulnerability findings: package, version, aliases, fixed...
                if key in VULNERABILITY_FIELDS:
                    res["properties"][key] = value
        if f.rule in index:
            res["ruleIndex"] = index[f.rule]
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
            "properties": {"verdict": result.verdict, "fail_on": result.fail_on.label,
                           "min_severity": lowest.label,
                           "not_exported": len(result.findings) - len(exported)},
        }],
    }


def render(result: VerifyResult, rules: dict[str, Rule], color: bool = False,
           min_severity: Severity | None = None) -> str:
    return json.dumps(document(result, rules, min_severity), indent=2, ensure_ascii=False) + "\n"
