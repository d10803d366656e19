"""Each output format on a fixed result: structure a consumer relies on (SARIF for GitHub, JUnit, JSON)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from hardnut.checks import all_rules
from hardnut.model import Finding, Severity, VerifyResult, mask, secret_fingerprint
from hardnut.report import FORMATS, renderer

SECRET = "ghp_" + "Q" * 36


def result() -> VerifyResult:
    return VerifyResult("dist/app.dist", Severity.HIGH, [
        Finding("HN-SEC-003", "secret", Severity.CRITICAL, "app.bin!/lib/x.so", "GitHub token", offset=4096,
                length=40, module="app.settings", evidence=mask(SECRET),
                fingerprint=secret_fingerprint("HN-SEC-003", SECRET)),
        Finding("HN-DEP-001", "dependency", Severity.HIGH, "sub dir/lib a.so", "needs libmissing.so.1",
                library="libmissing.so.1"),
        Finding("HN-SRC-001", "source", Severity.LOW, "app.py", "import by computed name", line=7),
    ])


def test_sarif_shape_github_needs():
    from hardnut.report.sarif_format import render

    doc = json.loads(render(result(), all_rules(), min_severity=Severity.INFO))
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == sorted({"HN-SEC-003", "HN-DEP-001", "HN-SRC-001"})
    for rule in run["tool"]["driver"]["rules"]:
        assert rule["shortDescription"]["text"] and float(rule["properties"]["security-severity"]) >= 0
    for res in run["results"]:
        assert res["ruleId"] == rule_ids[res["ruleIndex"]]
        assert res["message"]["text"] and res["level"] in ("error", "warning", "note")
        loc = res["locations"][0]["physicalLocation"]
        assert " " not in loc["artifactLocation"]["uri"]
        assert "region" not in loc or loc["region"]["startLine"] >= 1
        assert res["partialFingerprints"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["HN-SEC-003"]["properties"]["offset"] == 4096
    assert by_rule["HN-SRC-001"]["locations"][0]["physicalLocation"]["region"] == {"startLine": 7}


def test_junit_counts_failures_at_fail_on():
    root = ET.fromstring(renderer("junit")(result(), all_rules(), False))
    suite = root.find("testsuite")
    assert suite.get("failures") == "2"  # critical + high fail at high; the low one does not
    failed = {c.get("name").split()[0] for c in suite.iter("testcase") if c.find("failure") is not None}
    assert failed == {"HN-SEC-003", "HN-DEP-001"}


def test_json_contract_fields():
    doc = json.loads(renderer("json")(result(), all_rules(), False))
    assert {"target", "verdict", "fail_on", "findings", "files"} <= set(doc)
    sec = doc["findings"][0]
    assert {"rule", "category", "severity", "path", "message", "offset", "length", "module"} <= set(sec)
    assert doc["findings"][1]["library"] == "libmissing.so.1"


def test_no_format_prints_the_secret():
    for fmt in FORMATS:
        out = renderer(fmt)(result(), all_rules(), fmt == "text")
        assert SECRET not in out and SECRET[:12] not in out, fmt


def test_text_collapses_many_findings_below_fail_on():
    many = [Finding("HN-DBG-011", "debug", Severity.INFO, f"lib{i}.so", "bundled file carries DWARF")
            for i in range(10)]
    res = VerifyResult("d", Severity.MEDIUM, many + result().findings)
    out = renderer("text")(res, all_rules(), False)
    assert "HN-DBG-011   10 files:" in out and "lib9.so" not in out
    assert "needs libmissing.so.1" in out  # at or above fail_on: always one line each


def test_sarif_exports_what_fails_plus_medium_and_groups_the_rest_per_rule():
    """237 low notes for third-party libraries must not flood code scanning."""
    from hardnut.report.sarif_format import render

    lows = [Finding("HN-ELF-002", "hardening", Severity.LOW, f"lib/lib{i}.so", f"partial RELRO in lib{i}")
            for i in range(30)]
    mediums = [Finding("HN-ELF-001", "hardening", Severity.MEDIUM, f"lib/m{i}.so", f"no canary {i}") for i in range(3)]
    res = VerifyResult("dist", Severity.HIGH, result().findings + lows + mediums)
    run = json.loads(renderer("sarif")(res, all_rules(), False))["runs"][0]
    ids = [r["ruleId"] for r in run["results"]]
    assert "HN-ELF-002" not in ids and "HN-SRC-001" not in ids  # low: below the default
    assert ids.count("HN-ELF-001") == 1  # three mediums below the failing level: one grouped result
    group = next(r for r in run["results"] if r["ruleId"] == "HN-ELF-001")
    assert group["properties"]["grouped"] == 3 and len(group["locations"]) == 3
    assert ids.count("HN-SEC-003") == 1 and ids.count("HN-DEP-001") == 1
    assert run["properties"]["min_severity"] == "medium" and run["properties"]["not_exported"] == 31
    run = json.loads(render(res, all_rules(), min_severity=Severity.LOW))["runs"][0]
    lows_out = [r for r in run["results"] if r["ruleId"] == "HN-ELF-002"]
    assert len(lows_out) == 1 and lows_out[0]["properties"]["grouped"] == 30 and len(lows_out[0]["locations"]) == 20
    for r in run["results"]:
        assert r["ruleId"] == run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"]
