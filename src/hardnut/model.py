"""The data every layer shares: severities, rules, findings and file records.

Plain, frozen dataclasses: checks produce them, reports format them, nothing mutates them.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass, field
from typing import Any, Optional

CATEGORIES = ("dependency", "debug", "leftover", "hardening", "secret", "build", "source", "vulnerability")


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (one of: {names})") from None

    @property
    def label(self) -> str:
        return self.name.lower()


SEVERITY_NAMES = tuple(s.label for s in Severity)


@dataclass(frozen=True)
class Rule:
    """A check's identity and documentation; `hardnut rules` lists them."""

    id: str
    name: str
    category: str
    severity: Severity
    explanation: str
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"rule {self.id}: unknown category {self.category}")


def mask(secret: str) -> str:
    """Evidence for a secret that never shows it: first 4 characters, an ellipsis, the length."""
    secret = str(secret)
    head = secret[:4] if len(secret) >= 12 else secret[:2]
    return f"{head}…({len(secret)} chars)"


def secret_fingerprint(rule_id: str, secret: str | bytes) -> str:
    """Location-independent: the same key leaked in two builds gives one fingerprint."""
    raw = secret.encode("utf-8", "surrogateescape") if isinstance(secret, str) else secret
    return hashlib.sha256(rule_id.encode() + b"\0" + raw).hexdigest()[:32]


VULNERABILITY_FIELDS = ("package", "version", "vulnerability", "aliases", "fixed", "summary")


@dataclass(frozen=True)
class Finding:
    """One result of a rule: where (path, offset), how severe, what (a message that never holds a secret in
    full)."""

    rule: str
    category: str
    severity: Severity
    path: str
    message: str
    library: Optional[str] = None
    offset: Optional[int] = None
    length: Optional[int] = None
    module: Optional[str] = None
    line: Optional[int] = None
    evidence: Optional[str] = None  # already masked where it concerns a secret
    fingerprint: str = ""
    # vulnerability findings (`hardnut audit`): what is affected, by which advisory, fixed where
    package: Optional[str] = None
    version: Optional[str] = None
    vulnerability: Optional[str] = None  # the OSV id, e.g. PYSEC-2019-132
    aliases: tuple[str, ...] = ()  # CVE / GHSA ids
    fixed: tuple[str, ...] = ()  # versions that fix it
    summary: Optional[str] = None  # one line

    def __post_init__(self) -> None:
        if not self.fingerprint:
            basis = "\0".join((self.rule, self.path, self.library or "", self.message))
            object.__setattr__(
                self, "fingerprint", hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:32]
            )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "category": self.category,
            "severity": self.severity.label,
            "path": self.path,
            "message": self.message,
        }
        for key in ("library", "offset", "length", "module", "line", "evidence"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["fingerprint"] = self.fingerprint
        for key in VULNERABILITY_FIELDS:
            value = getattr(self, key)
            if value is not None and value != ():
                out[key] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class FileRecord:
    """One regular file (or symlink) of the target, as listed in reports and manifests."""

    path: str  # relative to the target, '/' separators, 'BINARY!/inner' inside a onefile payload
    size: int
    sha256: str
    format: str  # "elf", "pe", "macho", "onefile", "zip", "symlink", "data"
    mode: Optional[str] = None  # permission bits in octal ("0755") of a file on disk; None inside a payload
    link_target: Optional[str] = None  # what a symlink says
    signed: Optional[bool] = None  # PE/Mach-O only: carries a code signature
    signature: Optional[dict[str, Any]] = None  # {"type", "signer", "valid", ...} when signed

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "size": self.size, "sha256": self.sha256, "format": self.format}
        if self.mode is not None:
            out["mode"] = self.mode
        if self.link_target is not None:
            out["link_target"] = self.link_target
        if self.signed is not None:
            out["signed"] = self.signed
        if self.signature is not None:
            out["signature"] = dict(self.signature)
        return out


@dataclass
class VerifyResult:
    """What a verify found in one target: its findings (suppressed ones counted only), its files and summary
    facts."""

    target: str
    fail_on: Severity
    findings: list[Finding] = field(default_factory=list)
    files: list[FileRecord] = field(default_factory=list)
    suppressed: int = 0
    facts: dict[str, Any] = field(default_factory=dict)  # e.g. max GLIBC version
    command: str = "verify"  # which command produced it: "verify", "check-source" or "audit"
    audit: Any = field(default=None, repr=False, compare=False)  # the AuditOutcome when an audit ran (not serialised)

    @property
    def verdict(self) -> str:
        return "fail" if any(f.severity >= self.fail_on for f in self.findings) else "pass"

    def counts(self) -> dict[str, int]:
        out = {s.label: 0 for s in reversed(Severity)}
        for f in self.findings:
            out[f.severity.label] += 1
        return out
