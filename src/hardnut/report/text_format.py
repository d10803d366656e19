"""Text for people: findings grouped by severity, one line each, and a summary line."""

from __future__ import annotations

import click

from hardnut.model import Rule, Severity, VerifyResult

COLORS = {
    Severity.CRITICAL: "magenta", Severity.HIGH: "red", Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan", Severity.INFO: "white",
}


COLLAPSE_ABOVE = 3


def finding_line(f, color: bool) -> str:
    where = f.path
    if f.line is not None:
        where += f":{f.line}"
    elif f.offset is not None:
        where += f"@0x{f.offset:x}"
    extra = f" [{f.module}]" if f.module else ""
    label = f"{f.severity.label.upper():8}"
    if color:
        label = click.style(label, fg=COLORS[f.severity], bold=f.severity >= Severity.HIGH)
    return f"  {label} {f.rule:12} {where}{extra}: {f.message}"


def render(result: VerifyResult, rules: dict[str, Rule], color: bool = False) -> str:
    lines = [f"hardnut {result.command} {result.target}"]
    for sev in sorted(Severity, reverse=True):
        group = [f for f in result.findings if f.severity == sev]
        if not group:
            continue
        lines.append(f"{sev.label} ({len(group)}):")
        if sev >= result.fail_on or result.command == "audit":
            lines.extend(finding_line(f, color) for f in group)
            continue
        # Below the failing level, a rule with many findings gets one summary line (JSON/SARIF list them all).
        by_rule: dict[str, list] = {}
        for f in group:
            by_rule.setdefault(f.rule, []).append(f)
        for rule_id, found in by_rule.items():
            if len(found) <= COLLAPSE_ABOVE:
                lines.extend(finding_line(f, color) for f in found)
            else:
                name = rules[rule_id].name if rule_id in rules else ""
                paths = ", ".join(f.path for f in found[:3])
                lines.append(f"  {sev.label.upper():8} {rule_id:12} {len(found)} files: {name} ({paths}, …)")
    counts = ", ".join(f"{n} {label}" for label, n in result.counts().items() if n)
    glibc = result.facts.get("glibc_max")
    facts = f"; needs glibc >= {glibc}" if glibc else ""
    macos = result.facts.get("macos_min")
    facts += f"; needs macOS >= {macos}" if macos else ""
    suppressed = f", {result.suppressed} suppressed" if result.suppressed else ""
    verdict = result.verdict.upper()
    if color:
        verdict = click.style(verdict, fg="green" if result.verdict == "pass" else "red", bold=True)
    audit = result.facts.get("audit")
    what = f"{audit['packages']} packages" if result.command == "audit" and audit else f"{len(result.files)} files"
    lines.append(
        f"{verdict}: {what}, {len(result.findings)} findings"
        f" ({counts or 'none'}{suppressed}), failing at {result.fail_on.label} or above{facts}"
    )
    return "\n".join(lines) + "\n"
