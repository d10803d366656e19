"""Vulnerability rules: turn an audit outcome (hardnut.audit.engine) into findings.

Runs outside the per-file check modules: `hardnut audit`, and `verify`/`build`/`check-source` when the
profile's `[audit] enabled` is true.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from hardnut.checks.base import rule_finding
from hardnut.model import Finding, Rule, Severity

if TYPE_CHECKING:  # the audit engine is imported where an audit runs (verify._audit)
    from hardnut.audit.engine import AuditOutcome

VULNERABLE = Rule(
    id="HN-VULN-001", name="known-vulnerability", category="vulnerability", severity=Severity.MEDIUM,
    explanation=(
        "A Python distribution the program bundles (or the Nuitka release that compiled it) is affected by a "
        "published advisory: its version lies in an affected range of an OSV record (PyPI ecosystem, PEP 440 "
        "comparison). The severity comes from the record's CVSS vector (base score: 9.0+ critical, 7.0+ high, "
        "4.0+ medium, else low), or its textual rating, else medium. Fix: rebuild with one of the fixed "
        "versions listed. An advisory that does not apply to how the program uses the package can be "
        "accepted in the profile: [audit] ignore = [{ id = '…', reason = '…', expires = 'YYYY-MM-DD' }]."),
    references=("https://osv.dev/", "https://ossf.github.io/osv-schema/", "https://github.com/pypa/advisory-database"),
)
PYTHON_EOL = Rule(
    id="HN-VULN-002", name="python-end-of-life", category="vulnerability", severity=Severity.HIGH,
    explanation=(
        "The CPython the program embeds belongs to a branch past its end of life: it receives no security "
        "fixes any more, so vulnerabilities found from now on stay open in every build. The dates are a data "
        "table (hardnut/policy/python-eol.json, from the Python Developer's Guide). Fix: build with a "
        "supported Python."),
    references=("https://devguide.python.org/versions/",),
)
EXPIRED_IGNORE = Rule(
    id="HN-VULN-003", name="expired-audit-ignore", category="vulnerability", severity=Severity.MEDIUM,
    explanation=(
        "An [audit] ignore entry of the profile is past its `expires` date. It no longer hides its advisory "
        "(which is reported again if it still applies): review it, then remove it or set a new date."),
)
RULES = [VULNERABLE, PYTHON_EOL, EXPIRED_IGNORE]


def vulnerability_findings(outcome: AuditOutcome, *, profile_path: Optional[str] = None) -> list[Finding]:
    out: list[Finding] = []
    for m in outcome.matches:
        adv, pkg = m.advisory, m.package
        aliases = f" ({', '.join(adv.aliases)})" if adv.aliases else ""
        fixed = f"; fixed in {', '.join(m.fixed)}" if m.fixed else "; no fixed version"
        summary = adv.summary or "no summary"
        out.append(rule_finding(
            VULNERABLE, pkg.where, f"{pkg.name} {pkg.version}: {adv.id}{aliases} {summary.rstrip('.')}{fixed}",
            severity=adv.severity, package=pkg.name, version=pkg.version, vulnerability=adv.id,
            aliases=adv.aliases, fixed=m.fixed, summary=summary,
        ))
    inv = outcome.inventory
    if outcome.eol is not None:
        branch, end = outcome.eol
        out.append(rule_finding(
            PYTHON_EOL, inv.python_where or inv.target,
            f"CPython {inv.python_version}: the {branch} branch reached its end of life on {end.isoformat()}",
            package="cpython", version=inv.python_version,
        ))
    for ignore in outcome.expired:
        out.append(rule_finding(
            EXPIRED_IGNORE, profile_path or "profile",
            f"[audit] ignore of {ignore.id} expired on {ignore.expires.isoformat() if ignore.expires else '?'} "
            f"(reason was: {ignore.reason})", vulnerability=ignore.id,
        ))
    return out


def audit_facts(outcome: AuditOutcome) -> dict:
    """Summary facts for the report's `facts.audit`."""
    inv = outcome.inventory
    return {
        "database": outcome.database,
        "packages": len(inv.audited()),
        "python": inv.python_version,
        "nuitka": inv.nuitka_version,
        "native_libraries": [{"name": n.name, "version": n.version, "path": n.path} for n in inv.natives],
        "vulnerabilities": len(outcome.matches),
        "ignored": [{"id": m.advisory.id, "package": m.package.name, "reason": i.reason} for m, i in outcome.ignored],
        "warnings": len(outcome.warnings),
    }
