"""What ships: the inventory an audit checks. Facts only, read from what hardnut already knows how to read.

- a dist folder or a onefile binary: Nuitka's report XML beside it (distributions, the Nuitka version,
  the Python version), every `*.dist-info/METADATA` shipped in it, the CPython version compiled into
  the main binary or libpython, and native libraries recognised by `hardnut.audit.natives`;
- a hardnut SBOM (`<name>.cdx.json`): its `pkg:pypi` components, the CPython component, the Nuitka
  tool and the native libraries it names;
- pinned requirements (for `check-source`): `hardnut.source.deps` declarations with `==` pins.
"""

from __future__ import annotations

import email.parser
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional


from hardnut.audit.natives import NativeLibrary, identify, python_branch, python_version_in
from hardnut.errors import HardnutError, UnreadableTarget
from hardnut.names import canonical_name

MAX_METADATA_BYTES = 1024 * 1024
MAX_SBOM_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Package:
    name: str  # as the source spells it
    version: str
    where: str  # path shown in findings: the file the fact came from
    ecosystem: str = "PyPI"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.ecosystem, str(canonical_name(self.name)), self.version)


@dataclass
class Inventory:
    target: str
    packages: list[Package] = field(default_factory=list)
    python_version: Optional[str] = None  # e.g. "3.11.7"
    python_where: str = ""
    nuitka_version: Optional[str] = None
    natives: list[NativeLibrary] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, pkg: Package) -> None:
        if pkg.version and all(p.key != pkg.key for p in self.packages):
            self.packages.append(pkg)

    def audited(self) -> list[Package]:
        """The packages to look up: the bundled ones, plus the Nuitka that built the program."""
        out = list(self.packages)
        if self.nuitka_version:
            out.append(Package("nuitka", self.nuitka_version, "(built with)"))
        return out


def _metadata(raw: bytes) -> tuple[str, str]:
    msg = email.parser.BytesHeaderParser().parsebytes(raw[:MAX_METADATA_BYTES])
    return str(msg.get("Name") or "").strip(), str(msg.get("Version") or "").strip()


def from_artifact(target: Path, limits=None) -> Inventory:
    """Inventory of a dist folder or a onefile binary (its payload included)."""
    from hardnut.artifact.walk import open_target
    from hardnut.limits import Limits

    limits = limits or Limits()
    with open_target(Path(target), limits) as art:
        return from_open_artifact(art, limits)


def from_open_artifact(art, limits) -> Inventory:
    """Inventory of an artifact already opened by hardnut.artifact.walk.open_target (verify reuses its walk)."""
    from hardnut.nuitka.report_xml import ReportError, parse_report

    inv = Inventory(str(art.target))
    if art.report_xml is not None:
        try:
            report = parse_report(art.report_xml)
        except ReportError as exc:
            inv.notes.append(f"Nuitka report {art.report_xml.name} not used: {exc}")
        else:
            where = art.report_xml.name
            for d in report.distributions:
                if d.name and d.version:
                    inv.add(Package(d.name, d.version, where))
            inv.nuitka_version = report.nuitka_version or None
            if report.python_version and report.python_version.count(".") >= 2:
                inv.python_version, inv.python_where = report.python_version, where
    names = [f.relpath for f in art.files]
    for f in art.files:
        if f.relpath.endswith(".dist-info/METADATA") and f.kind == "data" and f.size <= MAX_METADATA_BYTES:
            try:
                name, version = _metadata(f.fs_path.read_bytes())
            except OSError:
                continue
            if name and version:
                inv.add(Package(name, version, f.relpath))
        elif f.kind in ("elf", "pe"):
            lib = identify(f.relpath, f.fs_path, limits.max_scan_bytes)
            if lib is not None:
                inv.natives.append(lib)
    branch = python_branch(names) or (".".join(inv.python_version.split(".")[:2]) if inv.python_version else None)
    if branch or inv.python_version is None:
        candidates = [f for f in art.files if f.kind in ("elf", "pe")
                      and (f.relpath in art.main_programs or f.name.lower().startswith(("libpython", "python3")))]
        if not candidates:  # the main program: the largest binary outside extension modules
            candidates = sorted((f for f in art.files if f.kind in ("elf", "pe") and ".cpython-" not in f.name
                                 and not f.name.endswith((".so", ".dll")) and ".so." not in f.name),
                                key=lambda f: -f.size)[:2]
        for f in candidates:
            found = python_version_in(f.fs_path, branch, limits.max_scan_bytes)
            if found:
                inv.python_version, inv.python_where = found, f.relpath
                break
        else:
            if inv.python_version is None:
                inv.python_version, inv.python_where = branch, names[0] if names else ""
    inv.natives.sort(key=lambda n: (n.name, n.path))
    return inv


def from_sbom(path: Path) -> Inventory:
    """Inventory of a CycloneDX JSON SBOM (hardnut's own, or any with pkg:pypi purls)."""
    from packageurl import PackageURL

    from hardnut.safeio import read_regular

    try:
        doc = json.loads(read_regular(Path(path), MAX_SBOM_BYTES).decode("utf-8"))
    except FileNotFoundError:
        raise UnreadableTarget(f"SBOM not found: {path}") from None
    except OSError as exc:
        raise UnreadableTarget(f"cannot read SBOM {path}: {exc.strerror or exc}") from None
    except (ValueError, RecursionError) as exc:
        raise UnreadableTarget(f"SBOM {path} is not JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        raise UnreadableTarget(f"{path} is not a CycloneDX SBOM (no bomFormat 'CycloneDX')")
    inv = Inventory(str(path))
    where = Path(path).name
    tools = (doc.get("metadata") or {}).get("tools") or {}
    tool_list = tools.get("components", []) if isinstance(tools, dict) else tools
    for t in tool_list if isinstance(tool_list, list) else []:
        if isinstance(t, dict) and str(t.get("name", "")).lower() == "nuitka" and t.get("version"):
            inv.nuitka_version = str(t["version"])
    for c in doc.get("components") or []:
        if not isinstance(c, dict):
            continue
        purl_text = c.get("purl")
        if c.get("name") == "CPython" and c.get("version"):
            inv.python_version, inv.python_where = str(c["version"]), where
            continue
        if not isinstance(purl_text, str):
            continue
        try:
            purl = PackageURL.from_string(purl_text)
        except ValueError:
            inv.notes.append(f"component {c.get('name')!r}: unreadable purl")
            continue
        if purl.type == "pypi" and purl.version:
            inv.add(Package(str(c.get("name") or purl.name), purl.version, where))
        elif purl.type == "generic" and c.get("cpe"):
            cpe = str(c["cpe"]).split(":")
            product = ":".join(cpe[3:5]) if len(cpe) > 5 else ""
            inv.natives.append(NativeLibrary(purl.name, purl.version, str(c.get("bom-ref", purl.name)), product))
    return inv


def from_requirements(declared: Iterable, root: Path) -> Inventory:
    """Inventory of pinned requirements (`name==version`, lock entries) as hardnut.source.deps reads them."""
    inv = Inventory(str(root))
    for d in declared:
        if getattr(d, "version", None) and not d.local and d.kind in ("requirements", "constraint", "lock"):
            where = _shown_path(d.file, root) + (f":{d.line}" if d.line else "")
            inv.add(Package(d.name, d.version, where))
    return inv


def _shown_path(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return Path(path).name


def load(target: Path, limits=None) -> Inventory:
    target = Path(target)
    if not target.exists() and not target.is_symlink():
        raise UnreadableTarget(f"target not found: {target}")
    if target.is_file() and target.name.endswith(".json"):
        return from_sbom(target)
    try:
        return from_artifact(target, limits)
    except HardnutError:
        raise
    except OSError as exc:
        raise UnreadableTarget(f"cannot read {target}: {exc.strerror or exc}") from None
