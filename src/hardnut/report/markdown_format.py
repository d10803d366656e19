"""Markdown for job summaries ($GITHUB_STEP_SUMMARY) and PR comments."""

from __future__ import annotations

from hardnut.model import Rule, VerifyResult

MAX_ROWS = 100


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(result: VerifyResult, rules: dict[str, Rule], color: bool = False) -> str:
    icon = "✅" if result.verdict == "pass" else "❌"
    out = [f"## {icon} hardnut: {result.verdict} — `{_cell(result.target)}`", ""]
    counts = result.counts()
    out += ["| " + " | ".join(counts) + " |", "|" + "---|" * len(counts),
            "| " + " | ".join(str(n) for n in counts.values()) + " |", ""]
    audit = result.facts.get("audit")
    what = f"{audit['packages']} packages audited" if result.command == "audit" and audit else \
        f"{len(result.files)} files inspected"
    out.append(f"{what}; failing at **{result.fail_on.label}** or above"
               + (f"; {result.suppressed} suppressed" if result.suppressed else "")
               + (f"; needs glibc ≥ {result.facts['glibc_max']}" if result.facts.get("glibc_max") else "")
               + (f"; needs macOS ≥ {result.facts['macos_min']}" if result.facts.get("macos_min") else "") + ".")
    if result.findings:
        out += ["", "| severity | rule | path | message |", "|---|---|---|---|"]
        for f in result.findings[:MAX_ROWS]:
            where = f.path + (f":{f.line}" if f.line is not None else "")
            out.append(f"| {f.severity.label} | `{f.rule}` | `{_cell(where)}` | {_cell(f.message)} |")
        if len(result.findings) > MAX_ROWS:
            out.append(f"\n…and {len(result.findings) - MAX_ROWS} more (see the JSON or SARIF report).")
    return "\n".join(out) + "\n"
