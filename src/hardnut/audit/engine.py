"""The audit itself: an inventory, an advisory source and the ignores in; matches out (facts, no policy).

`hardnut.checks.audit` turns the outcome into findings; the CLI, `verify` and `build` call `run_audit`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

from hardnut.audit.inventory import Inventory, Package
from hardnut.audit.osv import Advisory, Affected
from hardnut.errors import HardnutError
from hardnut.profile import AuditIgnore as Ignore


class NoDatabase(HardnutError):
    """No advisory data could be had: no --db and no network, or --offline without --db."""


@dataclass(frozen=True)
class Match:
    package: Package
    advisory: Advisory
    fixed: tuple[str, ...]


@dataclass
class AuditOutcome:
    inventory: Inventory
    matches: list[Match] = field(default_factory=list)
    ignored: list[tuple[Match, Ignore]] = field(default_factory=list)
    expired: list[Ignore] = field(default_factory=list)
    eol: Optional[tuple[str, dt.date]] = None  # (branch, end of life) when the bundled CPython is past it
    warnings: list[str] = field(default_factory=list)
    database: str = ""  # which advisory data was used, for the report's facts


class AdvisorySource(Protocol):
    description: str
    warnings: list[str]

    def candidates(self, packages: Sequence[Package]) -> dict[tuple[str, str, str], list[Advisory]]:
        """The advisories that may concern each package (by Package.key); matching is done here."""


class LocalSource:
    """Advisories from `--db` exports and folders (hardnut.audit.osv.load)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        from hardnut.audit import osv

        self.paths = tuple(Path(p) for p in paths)
        for p in self.paths:  # an unusable source is an error before any work
            if not p.exists():
                raise osv.DatabaseError(f"advisory database not found: {p}")
        self.warnings: list[str] = []
        self.description = "OSV records from " + ", ".join(p.name for p in self.paths)

    def candidates(self, packages):
        from hardnut.audit import osv

        db = osv.load(self.paths, wanted=[p.name for p in packages])
        self.warnings = db.warnings
        self.description = f"{db.records} OSV records from " + ", ".join(p.name for p in self.paths)
        return {p.key: db.advisories_for(p.ecosystem, p.name) for p in packages}


@lru_cache(maxsize=None)
def eol_table() -> dict[str, dt.date]:
    data = json.loads(resources.files("hardnut").joinpath("policy", "python-eol.json").read_text("utf-8"))
    return {k: dt.date.fromisoformat(v) for k, v in data["branches"].items()}


def python_eol(version: Optional[str], today: dt.date) -> Optional[tuple[str, dt.date]]:
    if not version:
        return None
    branch = ".".join(version.split(".")[:2])
    end = eol_table().get(branch)
    if end is None and branch.startswith(("2.", "3.")) and branch < "3.5" and len(branch) == 3:
        end = dt.date(2020, 1, 1)  # anything older than the table: long gone
    return (branch, end) if end is not None and end < today else None


def run_audit(inventory: Inventory, source: AdvisorySource, ignores: Sequence[Ignore] = (),
              today: Optional[dt.date] = None) -> AuditOutcome:
    today = today or dt.date.today()
    out = AuditOutcome(inventory, database=source.description)
    packages = inventory.audited()
    found = source.candidates(packages)
    out.warnings = list(source.warnings)
    out.database = source.description
    active = [i for i in ignores if not i.expired(today)]
    out.expired = [i for i in ignores if i.expired(today)]
    for pkg in packages:
        for adv in sorted(found.get(pkg.key, ()), key=lambda a: a.id):
            hit: Optional[Affected] = adv.matching(pkg.ecosystem, pkg.name, pkg.version)
            if hit is None or adv.withdrawn:
                continue
            m = Match(pkg, adv, hit.fixed())
            ignore = next((i for i in active if i.covers(adv)), None)
            if ignore is not None:
                out.ignored.append((m, ignore))
            else:
                out.matches.append(m)
    out.eol = python_eol(inventory.python_version, today)
    return out


def open_source(db_paths: Sequence[Path], offline: bool, *, cache_dir: Optional[Path] = None,
                log: Optional[Callable[[str], None]] = None) -> AdvisorySource:
    """`--db` paths when given; else the OSV API (unless offline). Raises NoDatabase / DatabaseError."""
    if db_paths:
        return LocalSource(db_paths)
    if offline:
        raise NoDatabase("--offline needs an advisory database: pass --db PATH (see docs/audit.md)")
    from hardnut.audit.online import OnlineSource

    return OnlineSource(cache_dir=cache_dir, log=log)
