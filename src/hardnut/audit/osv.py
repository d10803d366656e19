"""OSV advisory records: reading them, and deciding whether a version is affected.

Sources (`--db PATH`, repeatable):
- an OSV ecosystem export as osv.dev publishes it (`PyPI/all.zip`: one `<ID>.json` per record), read
  member by member from the zip, never extracted to disk;
- a folder tree of records in JSON or YAML (the layout of pypa/advisory-database `vulns/<pkg>/<ID>.yaml`
  and psf/advisory-database `advisories/python/<ID>.json`).

Matching follows the OSV schema (https://ossf.github.io/osv-schema/): an `affected` entry applies to a
package when the version is listed in `versions`, or lies in an `ECOSYSTEM` (or `SEMVER`) range:
events sorted by version, `introduced` opens, `fixed` closes (exclusive), `last_affected` closes
(inclusive). Versions compare with PEP 440 semantics (`packaging`): pre-releases sort before their
release, post-releases after it; a local version (`1.0+ubuntu1`) is judged as its public version.
`GIT` ranges cannot be evaluated without the repository and are ignored. Withdrawn records are skipped.
A malformed record is skipped with a warning; a source that cannot be read at all is a `DatabaseError`.
"""

from __future__ import annotations

import json
import os
import stat
import zipfile
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterable, Iterator, Optional

from packaging.version import InvalidVersion, Version

from hardnut.errors import HardnutError
from hardnut.model import Severity
from hardnut.names import canonical_name

MAX_RECORD_BYTES = 4 * 1024 * 1024  # one advisory record
MAX_RECORDS = 1_000_000  # records per source
MAX_TOTAL_BYTES = 4 * 1024**3  # uncompressed bytes of all records of one source
RECORD_SUFFIXES = (".json", ".yaml", ".yml")


class DatabaseError(HardnutError):
    """An advisory source cannot be used at all (missing, unreadable, not a zip or folder of records)."""


class RecordError(ValueError):
    """One record is malformed; the caller skips it with a warning."""


@dataclass(frozen=True)
class Affected:
    ecosystem: str
    name: str  # canonical (PEP 503) for PyPI, lower-cased otherwise
    ranges: tuple[tuple[tuple[str, str], ...], ...]  # ECOSYSTEM/SEMVER ranges: ((event, version), ...)
    versions: frozenset[str]  # explicit versions, as the record spells them (parsed on first need)

    def fixed(self) -> tuple[str, ...]:
        out = []
        for events in self.ranges:
            out += [value for kind, value in events if kind == "fixed"]
        return tuple(sorted(set(out), key=_sort_key))

    def matches(self, version: str) -> bool:
        if version in self.versions:
            return True
        v = parse_version(version)
        if v is None:
            return False
        return any(_in_range(v, events) for events in self.ranges) or _public(v) in self._parsed_versions

    @cached_property
    def _parsed_versions(self) -> frozenset:
        return frozenset(_public(v) for v in map(parse_version, self.versions) if v is not None)


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    severity: Severity
    score: Optional[float]  # CVSS base score when the record has a vector
    affected: tuple[Affected, ...]
    withdrawn: bool = False
    modified: str = ""
    source: str = ""  # where it was read from, for messages
    vector: str = ""  # the CVSS vector the score came from
    raw: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    def matching(self, ecosystem: str, name: str, version: str) -> Optional[Affected]:
        """The affected entry that makes `name==version` vulnerable, or None."""
        key = package_key(ecosystem, name)
        for a in self.affected:
            if (a.ecosystem.lower(), a.name) == key and a.matches(version):
                return a
        return None


# ----------------------------------------------------------------------------------------------
# versions and ranges


def parse_version(text: str) -> Optional[Version]:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def _public(v: Version) -> Version:
    return Version(v.public) if v.local else v


def _sort_key(text: str) -> tuple:
    v = parse_version(text)
    return (0, v, "") if v is not None else (1, Version("0"), text)


def _in_range(v: Version, events: tuple[tuple[str, str], ...]) -> bool:
    v = _public(v)
    affected = False
    for kind, value in events:  # already sorted by version (introduced "0" first)
        bound = Version("0") if value == "0" else parse_version(value)
        if bound is None:
            continue
        if kind == "introduced":
            if v >= bound:
                affected = True
        elif kind == "fixed":
            if v >= bound:
                affected = False
        elif kind == "last_affected":
            if v > bound:
                affected = False
    return affected


def package_key(ecosystem: str, name: str) -> tuple[str, str]:
    eco = str(ecosystem).split(":", 1)[0].lower()
    return (eco, str(canonical_name(name)) if eco == "pypi" else str(name).lower())


# ----------------------------------------------------------------------------------------------
# severity


def severity_of(record: dict) -> tuple[Severity, Optional[float], str]:
    """From a CVSS v3/v4 vector in `severity` (base score computed by the `cvss` library), else from a
    textual `database_specific.severity` (GitHub's LOW/MODERATE/HIGH/CRITICAL), else medium."""
    best: Optional[float] = None
    vector = ""
    entries = list(record.get("severity") or [])
    for a in record.get("affected") or []:
        if isinstance(a, dict):
            entries += list(a.get("severity") or [])
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        score = cvss_score(str(entry.get("type", "")), str(entry.get("score", "")))
        if score is not None and (best is None or score > best):
            best, vector = score, str(entry.get("score"))
    if best is not None:
        return score_severity(best), best, vector
    text = (record.get("database_specific") or {}).get("severity") if isinstance(record.get("database_specific"), dict) else None
    named = {"critical": Severity.CRITICAL, "high": Severity.HIGH, "moderate": Severity.MEDIUM,
             "medium": Severity.MEDIUM, "low": Severity.LOW}
    if isinstance(text, str) and text.lower() in named:
        return named[text.lower()], None, ""
    return Severity.MEDIUM, None, ""


def cvss_score(kind: str, vector: str) -> Optional[float]:
    try:
        if kind == "CVSS_V3" or vector.startswith("CVSS:3"):
            from cvss import CVSS3

            return float(CVSS3(vector).scores()[0])
        if kind == "CVSS_V4" or vector.startswith("CVSS:4"):
            from cvss import CVSS4

            return float(CVSS4(vector).base_score)
    except Exception:  # the cvss library raises its own errors for malformed vectors
        return None
    return None


def score_severity(score: float) -> Severity:
    """CVSS v3 qualitative rating: 9.0+ critical, 7.0+ high, 4.0+ medium, 0.1+ low, 0 none (info)."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.INFO


# ----------------------------------------------------------------------------------------------
# one record


def _strs(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, (str, int, float)) for x in value):
        raise RecordError(f"{what} must be a list of strings")
    return [str(x) for x in value]


def parse_record(data: Any, source: str = "") -> Advisory:
    """An `Advisory` from one decoded OSV record. Raises RecordError when it is malformed."""
    try:
        return _parse_record(data, source)
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as exc:
        if isinstance(exc, RecordError):
            raise
        raise RecordError(f"unexpected structure ({type(exc).__name__})") from None


def _parse_record(data: Any, source: str) -> Advisory:
    if not isinstance(data, dict):
        raise RecordError("not an OSV record (expected a mapping)")
    rid = data.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise RecordError("no 'id'")
    affected = []
    raw_affected = data.get("affected") or []
    if not isinstance(raw_affected, list):
        raise RecordError("'affected' must be a list")
    for a in raw_affected:
        if not isinstance(a, dict):
            raise RecordError("an 'affected' entry is not a mapping")
        pkg = a.get("package") or {}
        if not isinstance(pkg, dict):
            raise RecordError("'package' must be a mapping")
        if not pkg.get("name") or not pkg.get("ecosystem"):
            continue  # e.g. psf/advisory-database's CPython records: GIT ranges only
        ranges = []
        if not isinstance(a.get("ranges") or [], list):
            raise RecordError("'ranges' must be a list")
        for r in a.get("ranges") or []:
            if not isinstance(r, dict) or not isinstance(r.get("events", []), list):
                raise RecordError("a range is not a mapping with a list of events")
            if r.get("type") not in ("ECOSYSTEM", "SEMVER"):
                continue
            events = []
            for ev in r["events"]:
                if not isinstance(ev, dict) or len(ev) != 1:
                    raise RecordError("an event must have exactly one key")
                (kind, value), = ev.items()
                if kind not in ("introduced", "fixed", "last_affected", "limit"):
                    raise RecordError(f"unknown event {kind!r}")
                if kind != "limit":
                    events.append((kind, str(value)))
            order = {"introduced": 0, "fixed": 1, "last_affected": 2}
            events.sort(key=lambda e: (_sort_key("0" if e[1] == "0" else e[1]), order[e[0]]))
            ranges.append(tuple(events))
        versions = set(_strs(a.get("versions"), "'versions'"))
        eco, name = package_key(str(pkg["ecosystem"]), str(pkg["name"]))
        affected.append(Affected(str(pkg["ecosystem"]).split(":", 1)[0], name, tuple(ranges), frozenset(versions)))
    summary = data.get("summary") or ""
    if not isinstance(summary, str) or not isinstance(data.get("details") or "", str):
        raise RecordError("'summary' and 'details' must be strings")
    summary = " ".join((summary or _first_sentence(data.get("details") or "")).split())
    if len(summary) > 120:
        summary = summary[:119].rstrip() + "…"
    severity, score, vector = severity_of(data)
    return Advisory(
        id=rid.strip(), aliases=tuple(_strs(data.get("aliases"), "'aliases'")), summary=summary,
        severity=severity, score=score, affected=tuple(affected), withdrawn=bool(data.get("withdrawn")),
        modified=str(data.get("modified") or ""), source=source, vector=vector, raw=data,
    )


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    end = text.find(". ")
    return text[: end + 1] if 0 < end < 200 else text


def decode(raw: bytes, name: str) -> Any:
    """JSON or YAML (by file name) to Python data. Raises RecordError."""
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordError(f"larger than {MAX_RECORD_BYTES} bytes")
    try:
        if name.lower().endswith(".json"):
            return json.loads(raw.decode("utf-8"))
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        return yaml.load(raw.decode("utf-8"), Loader=loader)  # noqa: S506 - a safe loader
    except (UnicodeDecodeError, ValueError) as exc:
        raise RecordError(f"not valid {'JSON' if name.endswith('.json') else 'YAML'}: {exc}") from None
    except RecursionError:
        raise RecordError("nested too deeply") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise RecordError(f"not valid YAML: {type(exc).__name__}") from None


# ----------------------------------------------------------------------------------------------
# databases


@dataclass
class Database:
    """Advisories indexed by (ecosystem, canonical name)."""

    index: dict[tuple[str, str], list[Advisory]] = field(default_factory=dict)
    by_id: dict[str, Advisory] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    records: int = 0
    sources: list[str] = field(default_factory=list)

    def add(self, adv: Advisory) -> None:
        if adv.withdrawn:
            return
        old = self.by_id.get(adv.id)
        if old is not None and old.modified >= adv.modified:
            return
        self.by_id[adv.id] = adv
        if old is not None:
            for lst in self.index.values():
                if old in lst:
                    lst.remove(old)
        for key in {(a.ecosystem.lower(), a.name) for a in adv.affected}:
            self.index.setdefault(key, []).append(adv)

    def advisories_for(self, ecosystem: str, name: str) -> list[Advisory]:
        return list(self.index.get(package_key(ecosystem, name), ()))

    def query(self, ecosystem: str, name: str, version: str) -> list[tuple[Advisory, Affected]]:
        out = []
        for adv in self.advisories_for(ecosystem, name):
            hit = adv.matching(ecosystem, name, version)
            if hit is not None:
                out.append((adv, hit))
        return sorted(out, key=lambda p: p[0].id)

    def add_raw(self, raw: Optional[bytes], name: str, where: str, wanted: Optional["Prefilter"] = None) -> None:
        if wanted is not None and raw is not None and not wanted.may_concern(raw):
            self.records += 1  # cannot name a wanted package: not decoded at all
            return
        try:
            if raw is None:
                raise RecordError(f"larger than {MAX_RECORD_BYTES} bytes")
            adv = parse_record(decode(raw, name), where)
        except RecordError as exc:
            self.warnings.append(f"skipped malformed advisory {where}: {exc}")
            return
        self.records += 1
        self.add(adv)


def _iter_zip(path: Path) -> Iterator[tuple[str, Optional[bytes]]]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatabaseError(f"advisory database {path} is not a readable zip: {exc}") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir() and i.filename.lower().endswith(RECORD_SUFFIXES)]
        if len(infos) > MAX_RECORDS:
            raise DatabaseError(f"advisory database {path} has more than {MAX_RECORDS} records")
        if sum(min(i.file_size, MAX_RECORD_BYTES) for i in infos) > MAX_TOTAL_BYTES:
            raise DatabaseError(f"advisory database {path} unpacks to more than {MAX_TOTAL_BYTES} bytes")
        for info in infos:
            if info.file_size > MAX_RECORD_BYTES:
                yield info.filename, None  # refused as too large by add_raw
                continue
            try:
                with zf.open(info) as fh:
                    data = fh.read(MAX_RECORD_BYTES + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, EOFError) as exc:
                raise DatabaseError(f"advisory database {path}: cannot read {info.filename}: {exc}") from None
            yield info.filename, data


def _iter_tree(root: Path) -> Iterator[tuple[str, Optional[bytes]]]:
    count = total = 0
    for folder, dirs, files in os.walk(root):  # never follows symlinked folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.lower().endswith(RECORD_SUFFIXES) or name.startswith("."):
                continue
            path = Path(folder) / name
            try:
                st = path.lstat()
                if not stat.S_ISREG(st.st_mode):
                    continue
                with open(path, "rb") as fh:
                    data = fh.read(MAX_RECORD_BYTES + 1)
            except OSError:
                continue
            count += 1
            total += len(data)
            if count > MAX_RECORDS or total > MAX_TOTAL_BYTES:
                raise DatabaseError(f"advisory database {root} has more than {MAX_RECORDS} records or "
                                    f"{MAX_TOTAL_BYTES} bytes")
            yield str(path.relative_to(root)), data


class Prefilter:
    """A cheap byte-level test that a raw record may name one of the wanted packages: the record,
    lower-cased with '_' and '.' folded to '-', contains a wanted canonical name. False positives are
    parsed and matched properly; a record that cannot contain any wanted name is never decoded, so a
    full ecosystem export costs little more than reading it."""

    _FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ_.", b"abcdefghijklmnopqrstuvwxyz--")

    def __init__(self, names: Iterable[str]) -> None:
        import re

        alternatives = b"|".join(re.escape(n) for n in sorted({str(canonical_name(n)).encode() for n in names},
                                                                 key=len, reverse=True))
        # `"name": "x"` (JSON) or `name: x` / `name: 'x'` (YAML), after folding
        self.pattern = re.compile(rb"""name["']?\s*:\s*["']?(?:""" + alternatives + rb""")["'\s,}]""")
        self.empty = not alternatives

    def may_concern(self, raw: bytes) -> bool:
        return not self.empty and self.pattern.search(raw.translate(self._FOLD)) is not None


def _iter_one(path: Path) -> Iterator[tuple[str, Optional[bytes]]]:
    try:
        with open(path, "rb") as fh:
            yield path.name, fh.read(MAX_RECORD_BYTES + 1)
    except OSError as exc:
        raise DatabaseError(f"cannot read advisory {path}: {exc.strerror or exc}") from None


def load(paths: Iterable[Path], wanted: Optional[Iterable[str]] = None) -> Database:
    """Read every source into one Database. Raises DatabaseError for a source that is unusable.

    `wanted`: package names; records that cannot concern any of them are counted but not decoded
    (so malformed ones among them are not reported either)."""
    db = Database()
    pre = Prefilter(wanted) if wanted is not None else None
    for path in paths:
        path = Path(path)
        if path.is_dir():
            it = _iter_tree(path)
        elif path.is_file():
            if not zipfile.is_zipfile(path):
                if path.name.lower().endswith(RECORD_SUFFIXES):
                    it = _iter_one(path)
                else:
                    raise DatabaseError(f"advisory database {path} is neither a zip, a folder nor an OSV record")
            else:
                it = _iter_zip(path)
        else:
            raise DatabaseError(f"advisory database not found: {path}")
        before = db.records
        for name, raw in it:
            db.add_raw(raw, name, f"{path.name}:{name}" if path.is_file() else name, pre)
        if db.records == before:
            raise DatabaseError(f"advisory database {path} holds no readable OSV records")
        db.sources.append(str(path))
    return db
