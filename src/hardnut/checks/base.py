"""What every check receives, and the shape of a check module.

A check module defines `RULES` (a list of `Rule`) and `run(ctx) -> Iterable[Finding]`. It reads facts
from `ctx` (never re-parses TOML, never walks the file system itself) and turns them into findings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from hardnut.artifact.model import Artifact, ArtifactFile
from hardnut.limits import Limits
from hardnut.model import Finding, Rule


@dataclass
class VerifyConfig:
    """The verify-relevant part of a profile (or of CLI flags when verifying without one)."""

    allow_external: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    allow_dirs: tuple[str, ...] = ()  # leftover checks: extra shipped folders that are fine
    require_glibc_max: Optional[str] = None  # e.g. "2.28": findings when a file needs newer
    require_macos_min: Optional[str] = None  # e.g. "11.0": findings when a Mach-O slice needs newer
    # files that must carry a valid code signature: () none, ("*",) all, or fnmatch globs on artifact paths
    require_signed: tuple[str, ...] = ()
    python_flags: tuple[str, ...] = ()  # build.python_flags of the profile (exposure checks)
    own_packages: tuple[str, ...] = ()  # the app's own modules/packages (include_packages/modules)
    source_roots: tuple[Path, ...] = ()  # where the app's sources are (the profile's folder)
    gitleaks: Optional[Any] = None  # hardnut.secrets.gitleaks.GitleaksConfig: custom rules, allowlists
    detect_secrets: Optional[Any] = None  # hardnut.secrets.detect_secrets.DetectSecretsBaseline


@dataclass
class CheckContext:
    """What every check of one verify shares: the artifact, the configuration, facts cached per file, summary
    facts."""

    artifact: Artifact
    config: VerifyConfig
    # per-file facts, filled lazily by the inspect layer and cached: relpath -> facts object
    cache: dict[str, Any] = field(default_factory=dict)
    # summary facts checks want to report (e.g. "glibc_max": "2.34")
    facts: dict[str, Any] = field(default_factory=dict)
    # folder of verify's per-file result cache (hardnut.filecache), set by `hardnut build` only
    file_cache: Optional[Path] = None

    def files(self, kind: Optional[str] = None) -> Iterable[ArtifactFile]:
        for f in self.artifact.files:
            if kind is None or f.kind == kind:
                yield f

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = compute()
        return self.cache[key]


def audit_key(f: Finding) -> tuple:
    """Identifies one secret finding that a detect-secrets baseline accepts (the check knows the
    secret, the suppression step only the finding)."""
    return (f.rule, f.path, f.offset, f.line, f.fingerprint)


def rule_finding(rule: Rule, path: str, message: str, **extra: Any) -> Finding:
    """A finding with the rule's id, category and default severity (overridable via `severity=`)."""
    severity = extra.pop("severity", rule.severity)
    return Finding(rule=rule.id, category=rule.category, severity=severity, path=path, message=message, **extra)
