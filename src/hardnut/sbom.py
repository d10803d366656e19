"""A CycloneDX 1.6 SBOM (JSON) of what a build bundled.

Components:
- every Python distribution Nuitka recorded in its compilation report (`<distributions>` /
  `<distribution name= version= installer=>`), with its version and a purl `pkg:pypi/<name>@<version>`;
- the Python runtime the program embeds (`<python python_version=...>`), as a framework component;
- every native file of the artifact (ELF or PE, onefile payload entries included, found by the
  artifact walk, not by the report), as a `file` component with its SHA-256, and, when the report
  says so, the distribution it came from (property `hardnut:distribution`).
The program itself is the BOM's metadata component; hardnut and Nuitka are listed as tools.
- native libraries recognised by hardnut.audit.natives (OpenSSL, SQLite, zlib, …: soname and version
  text), as `library` components with version, purl `pkg:generic/<name>@<version>` and a CPE, each
  owning its files; the CPython component carries a CPE too (so Grype, OSV-Scanner or
  Dependency-Track can match them);
- when an audit ran (`[audit] enabled`), a `vulnerabilities` section: one entry per advisory, with its
  aliases, rating and the affected component.

`build_bom(...)` is pure; `write_sbom(target, report_xml, out_path)` reads the report and walks the
target (I/O at the edge) and writes the file atomically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from hardnut import __version__
from hardnut.errors import HardnutError
from hardnut.names import canonical_name
from hardnut.nuitka.report_xml import Distribution

SPEC = "1.6"
# how Nuitka's report spells the Python installation's own folders (lib-dynload, DLLs)
RUNTIME_PREFIXES = ("${sys.real_prefix}", "${sys.base_prefix}")


class SbomError(HardnutError):
    """The report XML is malformed or the SBOM cannot be written."""


@dataclass(frozen=True)
class NativeFile:
    """A native (ELF, PE, Mach-O) file of an artifact, for its SBOM component: path, hash, owner, library."""

    path: str  # relative to the target, '/' separated, 'BIN!/inner' inside a onefile payload
    sha256: str
    size: int
    format: str  # "elf" or "pe"
    distribution: Optional[str] = None  # distribution name from the report, when known
    library: Optional[object] = None  # hardnut.audit.natives.NativeLibrary when recognised


@dataclass
class ReportFacts:
    """What the SBOM needs from Nuitka's report."""

    nuitka_version: str = ""
    mode: str = ""
    python_version: str = ""
    python_flavor: str = ""  # not in report_xml's model; kept for callers that know it
    distributions: list[Distribution] = field(default_factory=list)
    file_distribution: dict[str, str] = field(default_factory=dict)  # dest path -> distribution name
    runtime_files: set[str] = field(default_factory=set)  # dest paths copied from the Python installation


# ----------------------------------------------------------------------------------------------
# reading (the one place that touches the report XML)


def read_report(path: Path) -> ReportFacts:
    """The facts the SBOM needs, from Nuitka's --report XML (parsed by hardnut.nuitka.report_xml).
    Raises SbomError for a missing, malformed or refused (DOCTYPE, oversized) report."""
    from hardnut.nuitka.report_xml import ReportError, parse_report

    try:
        report = parse_report(Path(path))
    except ReportError as exc:
        raise SbomError(f"cannot use Nuitka report {Path(path).name}: {exc}") from None
    facts = ReportFacts(nuitka_version=report.nuitka_version, mode=report.mode,
                        python_version=report.python_version)
    facts.distributions = [d for d in report.distributions if d.name]
    module_dist = {m.name: m.distributions[0] for m in report.modules if m.distributions}
    for f in report.included:
        dest = f.dest_path.replace("\\", "/")
        if not dest or f.ignored:
            continue
        if f.kind == "extension":
            stem = f.name.split(".", 1)[0]
            module = f"{f.package}.{stem}" if f.package else stem
            if module in module_dist:
                facts.file_distribution[dest] = module_dist[module]
        if f.source_path.startswith(RUNTIME_PREFIXES) and "-packages" not in f.source_path:
            facts.runtime_files.add(dest)
    return facts


def prepare(template: Optional[Path] = None) -> None:
    """Do ahead of an SBOM what its first one would do once (`hardnut build` calls this beside Nuitka's
    compile): import cyclonedx-python-lib's model and JSON output and compile the native-library patterns.
    (A warm-up render of a small BOM, which also set up the serializer's per-class tables, moved ~20 ms of
    wall time off the end of a build but cost 30-40 ms of CPU on every build: the time target is CPU too.)
    With a kept SBOM at `template` (hardnut.sbomcache) the next one is likely patched from it: the library
    is not imported (50-100 ms of CPU); it is when the SBOM has to be rendered after all."""
    from hardnut import sbomcache
    from hardnut.audit.natives import classifiers

    classifiers()
    if sbomcache.usable(template):
        return
    import cyclonedx.model.bom  # noqa: F401 - imported here, beside the compile, instead of after it
    import cyclonedx.model.component  # noqa: F401
    import cyclonedx.output.json  # noqa: F401
    import packageurl  # noqa: F401


def native_files(target: Path, limits=None, files=None) -> list[NativeFile]:
    """ELF/PE files of the target (a dist folder or a onefile binary, whose payload is walked too).

    `files`: the FileRecords a verify of this target with the same limits listed (hardnut build passes
    them): for a dist folder without onefile payloads they are the walk's files, so it is not walked again."""
    from hardnut.artifact.walk import open_target
    from hardnut.audit.natives import identify
    from hardnut.limits import Limits

    scan = (limits or Limits()).max_scan_bytes
    target = Path(target)
    if files is not None and target.is_dir() and not target.is_symlink() \
            and not any(r.format == "onefile" or "!" in r.path for r in files):
        return sorted((NativeFile(r.path, r.sha256, r.size, r.format,
                                  library=identify(r.path, target.joinpath(*r.path.split("/")), scan))
                       for r in files if r.format in ("elf", "pe", "macho")), key=lambda n: n.path)
    with open_target(Path(target), limits) as art:
        return sorted((NativeFile(f.relpath, f.sha256, f.size, f.kind, library=identify(f.relpath, f.fs_path, scan))
                       for f in art.files if f.kind in ("elf", "pe", "macho")), key=lambda n: n.path)


# ----------------------------------------------------------------------------------------------
# the BOM (pure)


def purl_for(dist: Distribution) -> str:
    from packageurl import PackageURL

    return PackageURL(type="pypi", name=canonical_name(dist.name), version=dist.version or None).to_string()


def _native_components(files: list[NativeFile]):
    """One library component per recognised native library (files of one library share it; a version
    read from one file, e.g. libcrypto, stands for its unversioned sibling, libssl)."""
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    from hardnut.audit.natives import cpe23

    groups: dict[str, list] = {}
    for f in files:
        if f.library is not None:
            groups.setdefault(f.library.name, []).append(f.library)
    out = {}
    for name, libs in sorted(groups.items()):
        versions = sorted({lib.version for lib in libs if lib.version})
        for version in versions or [None]:
            comp = Component(type=ComponentType.LIBRARY, name=name, version=version,
                             purl=PackageURL(type="generic", name=name, version=version),
                             cpe=cpe23(libs[0].cpe_product, version), bom_ref=f"native:{name}@{version or 'unknown'}")
            for lib in libs:
                if lib.version == version or (lib.version is None and len(versions) <= 1):
                    out[lib.path] = comp
    return out


def _vulnerabilities(bom, audit, refs: dict[str, object]) -> None:
    """The CycloneDX vulnerabilities section from an AuditOutcome (hardnut.audit.engine)."""
    from decimal import Decimal

    from cyclonedx.model import XsUri
    from cyclonedx.model.impact_analysis import ImpactAnalysisAffectedStatus
    from cyclonedx.model.vulnerability import (BomTarget, BomTargetVersionRange, Vulnerability, VulnerabilityRating,
                                               VulnerabilityReference, VulnerabilityScoreSource, VulnerabilitySeverity,
                                               VulnerabilitySource)

    osv = VulnerabilitySource(name="OSV", url=XsUri("https://osv.dev/"))
    for m in audit.matches:
        adv, pkg = m.advisory, m.package
        target = refs.get(canonical_name(pkg.name))
        rating = VulnerabilityRating(source=osv, severity=VulnerabilitySeverity(adv.severity.label))
        if adv.score is not None:
            rating = VulnerabilityRating(
                source=osv, score=Decimal(str(adv.score)), severity=VulnerabilitySeverity(adv.severity.label),
                method=VulnerabilityScoreSource.CVSS_V4 if adv.vector.startswith("CVSS:4")
                else VulnerabilityScoreSource.CVSS_V3_1 if adv.vector.startswith("CVSS:3.1")
                else VulnerabilityScoreSource.CVSS_V3, vector=adv.vector or None)
        references = [VulnerabilityReference(id=a, source=VulnerabilitySource(
            name="NVD" if a.startswith("CVE-") else "GitHub" if a.startswith("GHSA-") else "OSV")) for a in adv.aliases]
        affects = []
        if target is not None:
            affects = [BomTarget(ref=target.bom_ref.value, versions=[BomTargetVersionRange(
                version=pkg.version, status=ImpactAnalysisAffectedStatus.AFFECTED)])]
        bom.vulnerabilities.add(Vulnerability(
            bom_ref=f"vuln:{adv.id}:{canonical_name(pkg.name)}@{pkg.version}", id=adv.id, source=osv,
            references=references, ratings=[rating], description=adv.summary or None,
            recommendation=f"Upgrade {pkg.name} to {' or '.join(m.fixed)}" if m.fixed else None, affects=affects))


def build_bom(app_name: str, facts: ReportFacts, files: Iterable[NativeFile], *, app_version: Optional[str] = None,
              audit=None):
    """The cyclonedx Bom for one build (`audit`: an AuditOutcome for the vulnerabilities section)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    tools = [Component(type=ComponentType.APPLICATION, name="hardnut", version=__version__,
                       bom_ref="tool:hardnut")]
    if facts.nuitka_version:
        tools.append(Component(type=ComponentType.APPLICATION, name="Nuitka", version=facts.nuitka_version,
                               bom_ref="tool:nuitka",
                               purl=PackageURL(type="pypi", name="nuitka", version=facts.nuitka_version)))
    app_props = [Property(name="hardnut:nuitka-mode", value=facts.mode)] if facts.mode else []
    app = Component(type=ComponentType.APPLICATION, name=app_name, version=app_version, bom_ref=f"app:{app_name}",
                    properties=app_props)
    bom = Bom(metadata=BomMetaData(component=app))
    for tool in tools:
        bom.metadata.tools.components.add(tool)

    direct = []
    by_name: dict[str, Component] = {}
    for dist in sorted(facts.distributions, key=lambda d: canonical_name(d.name)):
        purl = PackageURL(type="pypi", name=canonical_name(dist.name), version=dist.version or None)
        props = [Property(name="hardnut:installer", value=dist.installer)] if dist.installer else []
        if dist.vendored:
            props.append(Property(name="hardnut:vendored", value="true"))
        comp = Component(type=ComponentType.LIBRARY, name=dist.name, version=dist.version or None, purl=purl,
                         bom_ref=purl.to_string(), properties=props)
        if canonical_name(dist.name) in by_name:
            continue
        by_name[canonical_name(dist.name)] = comp
        bom.components.add(comp)
        direct.append(comp)
    runtime = None
    if facts.python_version:
        runtime = Component(type=ComponentType.FRAMEWORK, name="CPython", version=facts.python_version,
                            bom_ref=f"runtime:cpython@{facts.python_version}",
                            purl=PackageURL(type="generic", name="cpython", version=facts.python_version),
                            cpe=f"cpe:2.3:a:python:python:{facts.python_version}:*:*:*:*:*:*:*",
                            properties=[Property(name="hardnut:python-flavor", value=facts.python_flavor)]
                            if facts.python_flavor else [])
        bom.components.add(runtime)
        direct.append(runtime)
    files = list(files)
    natives = _native_components(files)
    for comp in {id(c): c for c in natives.values()}.values():
        bom.components.add(comp)
        direct.append(comp)
    for f in files:
        dist = f.distribution or facts.file_distribution.get(f.path)
        owner = by_name.get(canonical_name(dist)) if dist else natives.get(f.path)
        props = [Property(name="hardnut:format", value=f.format), Property(name="hardnut:size", value=str(f.size))]
        if dist:
            props.append(Property(name="hardnut:distribution", value=dist))
        elif runtime is not None and f.path in facts.runtime_files:
            owner = runtime
            props.append(Property(name="hardnut:origin", value="python-runtime"))
        comp = Component(type=ComponentType.FILE, name=f.path, bom_ref=f"file:{f.path}",
                         hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)], properties=props)
        bom.components.add(comp)
        if owner is not None:
            bom.register_dependency(owner, [comp])
        else:
            direct.append(comp)
    bom.register_dependency(app, direct)
    if audit is not None:
        refs = dict(by_name)
        if facts.nuitka_version:
            refs["nuitka"] = tools[1]
        _vulnerabilities(bom, audit, refs)
    return bom


def to_json(bom) -> str:
    from cyclonedx.output import make_outputter
    from cyclonedx.schema import OutputFormat, SchemaVersion

    return make_outputter(bom, OutputFormat.JSON, SchemaVersion.V1_6).output_as_string(indent=2) + "\n"


def validate_json(text: str) -> Optional[str]:
    """None when `text` is valid CycloneDX 1.6 JSON, else the first schema error (for tests and doctors)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    return None if error is None else str(error)


def write_sbom(target: Path, report_xml: Optional[Path], out_path: Path, *, app_name: Optional[str] = None,
               limits=None, audit=None, files=None, template: Optional[Path] = None) -> Path:
    """Write the SBOM of `target` (dist folder or onefile binary) to `out_path`; returns out_path.

    Without a report the SBOM still lists the native files (no distributions, no runtime). `files`: see
    native_files. `template` (`hardnut build` with its cache): where the last SBOM of this app is kept
    (hardnut.sbomcache); when only files' hashes changed since, that rendering is reused with the new ones,
    else this SBOM is rendered and kept there. Not with an audit (its section is always rendered)."""
    from hardnut.verify import write_atomic

    target = Path(target)
    facts = read_report(report_xml) if report_xml is not None else ReportFacts()
    name = app_name or (target.name[: -len(".dist")] if target.name.endswith(".dist") else target.stem)
    if not facts.python_version:  # no report: the CPython version compiled into the binaries
        from hardnut.audit.inventory import from_artifact

        facts.python_version = (from_artifact(target, limits).python_version or "") if target.exists() else ""
    natives = native_files(target, limits, files)
    if template is not None and audit is None:
        from hardnut import sbomcache

        key, hashes = sbomcache.shape(name, facts, natives)
        text = sbomcache.patched(template, key, hashes)
        if text is None:
            text = to_json(build_bom(name, facts, natives))
            sbomcache.remember(template, key, text)
    else:
        text = to_json(build_bom(name, facts, natives, audit=audit))
    try:
        write_atomic(Path(out_path), text)
    except OSError as exc:
        raise SbomError(f"cannot write {out_path}: {exc.strerror or exc}") from None
    return Path(out_path)


def default_path(output_dir: Path, name: str) -> Path:
    return Path(output_dir) / f"{name}.cdx.json"


__all__ = ["Distribution", "NativeFile", "ReportFacts", "SbomError", "build_bom", "default_path", "native_files",
           "purl_for", "read_report", "to_json", "validate_json", "write_sbom"]
