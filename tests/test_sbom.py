"""CycloneDX SBOMs of real Nuitka builds, validated with cyclonedx-python-lib's strict JSON validator."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

import pytest

from hardnut.errors import HardnutError
from hardnut.sbom import SbomError, read_report, validate_json, write_sbom

def _native_files(root: Path) -> dict[str, str]:
    """relpath -> sha256 of every ELF/PE file below root, found independently of hardnut's walk."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            head = path.read_bytes()[:4]
            if head == b"\x7fELF" or head[:2] == b"MZ":
                out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _report_distributions(report: Path) -> set[tuple[str, str]]:
    root = ET.parse(report).getroot()
    return {(d.get("name"), d.get("version")) for d in root.iter("distribution")}


def _components(doc: dict) -> dict[str, dict]:
    return {c["bom-ref"]: c for c in doc["components"]}


@pytest.mark.nuitka
def test_sbom_of_planted_standalone(planted_standalone, tmp_path):
    dist = planted_standalone
    report = next(dist.parent.glob("*.report.xml"))
    out = write_sbom(dist, report, tmp_path / "planted.cdx.json")
    text = out.read_text(encoding="utf-8")
    assert validate_json(text) is None
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    comps = _components(doc)
    files = {c["name"]: c for c in comps.values() if c["type"] == "file"}
    expected = _native_files(dist)
    assert expected and set(files) == set(expected)
    for name, digest in expected.items():
        assert files[name]["hashes"] == [{"alg": "SHA-256", "content": digest}]
    python = ET.parse(report).getroot().find("python").get("python_version")
    assert comps[f"runtime:cpython@{python}"]["version"] == python
    dists = {(c["name"], c.get("version")) for c in comps.values()
             if c["type"] == "library" and c["purl"].startswith("pkg:pypi/")}
    assert dists == _report_distributions(report)
    # native libraries the dist ships are named, versioned and carry a CPE (hardnut.audit.natives)
    natives = {c["name"]: c for c in comps.values() if c["type"] == "library" and c["purl"].startswith("pkg:generic/")}
    assert natives and all(c["cpe"].startswith("cpe:2.3:a:") for c in natives.values())
    assert comps[f"runtime:cpython@{python}"]["cpe"] == f"cpe:2.3:a:python:python:{python}:*:*:*:*:*:*:*"
    tools = {t["name"]: t["version"] for t in doc["metadata"]["tools"]["components"]}
    assert tools["Nuitka"] == version("nuitka")


@pytest.mark.nuitka
def test_sbom_written_by_the_build_lists_distributions_with_purls():
    """hardnut's own build pipeline (CLI _after_build + run_build's move) put the SBOM beside the dist."""
    from helpers_source_build import source_build

    build = source_build()
    assert build.sbom.parent == build.dist.parent and build.sbom.is_file()
    text = build.sbom.read_text(encoding="utf-8")
    assert validate_json(text) is None
    doc = json.loads(text)
    comps = _components(doc)
    markupsafe = f"pkg:pypi/markupsafe@{version('markupsafe')}"
    assert comps[markupsafe]["purl"] == markupsafe and comps[markupsafe]["name"] == "MarkupSafe"
    assert ("MarkupSafe", version("markupsafe")) in _report_distributions(build.report)
    speedups = [n for n in _native_files(build.dist) if n.startswith("markupsafe/_speedups")]
    assert len(speedups) == 1
    deps = {d["ref"]: set(d.get("dependsOn", ())) for d in doc["dependencies"]}
    assert f"file:{speedups[0]}" in deps[markupsafe]
    assert markupsafe in deps["app:planted_source"]
    manifest = json.loads(build.manifest.read_text())
    assert manifest["sbom"]["path"] == "planted_source.cdx.json"  # relative to the manifest
    assert manifest["sbom"]["sha256"] == hashlib.sha256(build.sbom.read_bytes()).hexdigest()


@pytest.mark.nuitka
def test_sbom_of_a_onefile_binary_lists_payload_files(tmp_path):
    from helpers_onefile import onefile_build

    build = onefile_build("archive")
    doc = json.loads(write_sbom(build.binary, build.report, tmp_path / "one.cdx.json").read_text())
    assert validate_json(json.dumps(doc)) is None
    names = {c["name"] for c in doc["components"] if c["type"] == "file"}
    assert build.binary.name in names
    inner = {n for n in names if n.startswith(build.binary.name + "!/")}
    assert inner, sorted(names)[:10]


@pytest.mark.nuitka
def test_validator_rejects_a_broken_sbom(planted_standalone, tmp_path):
    dist = planted_standalone
    doc = json.loads(write_sbom(dist, next(dist.parent.glob("*.report.xml")), tmp_path / "x.json").read_text())
    broken = json.loads(json.dumps(doc))
    broken["components"][0]["hashes"] = [{"alg": "SHA-256", "content": "not-hex"}]
    assert validate_json(json.dumps(broken)) is not None
    del doc["bomFormat"]
    assert validate_json(json.dumps(doc)) is not None


@pytest.mark.parametrize("content", [
    "<not-closed",
    "<?xml version='1.0'?><something-else/>",
    "<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
    "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>"
    "<!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'><!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'>"
    "<!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'><!ENTITY h '&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;'>]>"
    "<nuitka-compilation-report nuitka_version='&h;'/>",
])
def test_bad_reports_are_clear_errors(tmp_path, content):
    report = tmp_path / "bad.report.xml"
    report.write_text(content)
    with pytest.raises(SbomError) as err:
        read_report(report)
    assert isinstance(err.value, HardnutError) and "bad.report.xml" in str(err.value)


def test_native_files_from_verify_records_equal_the_walk(tmp_path):
    """hardnut build hands the SBOM the file list its verify made: the same native files (paths, hashes,
    formats, libraries) as walking the target again; a target with onefile payloads is walked anyway."""
    import subprocess

    from helpers_binaries import NETWORK_ERRORS
    from helpers_golden import wheels_target
    from hardnut.sbom import native_files
    from hardnut.verify import VerifyOptions, verify_target

    try:
        target = wheels_target(tmp_path / "wheels")
    except subprocess.CalledProcessError as exc:
        if any(marker in (exc.stderr or "") for marker in NETWORK_ERRORS):
            pytest.skip("no network to download the pinned wheels")
        raise
    for step in ("with a onefile payload", "without"):
        files = verify_target(target, VerifyOptions()).files
        assert any(r.format == "onefile" for r in files) == (step == "with a onefile payload")
        walked = native_files(target)
        assert {n.format for n in walked} >= {"elf", "pe"}
        assert native_files(target, files=files) == walked, step
        for r in files:
            if r.format == "onefile":
                (target / r.path).unlink()
