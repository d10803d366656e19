"""Wiring for `hardnut audit` and for the audit step of `verify`, `build` and `check-source`:
inventory -> advisory source -> engine -> rules -> a VerifyResult the report formats render."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

from hardnut.audit.engine import AuditOutcome, open_source, run_audit
from hardnut.audit.inventory import Inventory
from hardnut.model import Finding, Severity, VerifyResult

Log = Callable[[str], None]


def audit_inventory(inventory: Inventory, audit_config, *, db: Sequence[Path] = (), offline: Optional[bool] = None,
                    log: Optional[Log] = None, profile_path: Optional[str] = None,
                    source=None) -> tuple[list[Finding], AuditOutcome]:
    """Findings and the outcome for one inventory. `db`/`offline` from the CLI win over the profile's."""
    from hardnut.checks.audit import vulnerability_findings

    log = log or (lambda line: None)
    if source is None:
        paths = tuple(db) or tuple(audit_config.db)
        off = audit_config.offline if offline is None else (offline or audit_config.offline)
        source = open_source(paths, off, log=log)
    outcome = run_audit(inventory, source, audit_config.ignore)
    outcome.warnings[:0] = inventory.notes
    if not inventory.packages:
        outcome.warnings.insert(0, f"no Python distribution versions found for {inventory.target} (neither in a "
                                   f"Nuitka report beside it nor as *.dist-info/METADATA): only the rest was audited")
    for w in outcome.warnings[:20]:
        log(f"hardnut: warning: {w}")
    if len(outcome.warnings) > 20:
        log(f"hardnut: warning: …and {len(outcome.warnings) - 20} more")
    return vulnerability_findings(outcome, profile_path=profile_path), outcome


def audit_result(target: Path, profile, fail_on: Severity, *, db: Sequence[Path] = (), offline: Optional[bool] = None,
                 log: Optional[Log] = None) -> tuple[VerifyResult, AuditOutcome]:
    from hardnut.audit.inventory import load
    from hardnut.checks.audit import audit_facts

    inventory = load(Path(target), profile.verify.limits)
    findings, outcome = audit_inventory(inventory, profile.audit, db=db, offline=offline, log=log,
                                        profile_path=str(profile.path) if profile.path else None)
    findings.sort(key=lambda f: (-int(f.severity), f.rule, f.package or "", f.vulnerability or "", f.path))
    result = VerifyResult(target=str(target), fail_on=fail_on, findings=findings, suppressed=len(outcome.ignored),
                          facts={"audit": audit_facts(outcome)}, command="audit")
    return result, outcome
