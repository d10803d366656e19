"""JUnit XML: one test case per rule; a rule fails when it has findings at or above fail_on."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hardnut.model import Rule, VerifyResult


def render(result: VerifyResult, rules: dict[str, Rule], color: bool = False) -> str:
    by_rule: dict[str, list] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    failing = {r for r, fs in by_rule.items() if any(f.severity >= result.fail_on for f in fs)}
    ids = sorted(set(rules) | set(by_rule))
    suite = ET.Element("testsuite", name="hardnut verify", tests=str(len(ids)), failures=str(len(failing)),
                       errors="0", skipped="0")
    ET.SubElement(ET.SubElement(suite, "properties"), "property", name="target", value=result.target)
    for rid in ids:
        rule = rules.get(rid)
        case = ET.SubElement(suite, "testcase", classname=f"hardnut.{rule.category if rule else 'other'}",
                             name=f"{rid} {rule.name if rule else ''}".strip())
        found = by_rule.get(rid, [])
        text = "\n".join(f"{f.severity.label} {f.path}: {f.message}" for f in found)
        if rid in failing:
            fail = ET.SubElement(case, "failure", message=f"{len(found)} finding(s) at or above {result.fail_on.label}",
                                 type=rid)
            fail.text = text
        elif found:
            ET.SubElement(case, "system-out").text = text
    root = ET.Element("testsuites", name="hardnut", tests=suite.get("tests"), failures=suite.get("failures"))
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
