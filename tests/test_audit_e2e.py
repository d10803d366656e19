"""`hardnut audit` on a real Nuitka build that bundles an old urllib3 (known advisories) and a current
certifi (its advisories are fixed), against real pypa/psf advisory records (tests/data/osv)."""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BUILD_ROOT, hardnut_cli

REPO = Path(__file__).resolve().parents[1]
OSV = REPO / "tests" / "data" / "osv"
WHEELS = ("urllib3==1.24.1", "certifi==2024.8.30")
APP = '''"""Tiny app bundling an old urllib3 (known advisories) and a current certifi (none)."""
import certifi
import urllib3

print("urllib3", urllib3.__version__, "certifi", certifi.__version__)
'''
PROFILE = f'''[profile]
extends = "base"
[app]
entry = "app.py"
name = "vulnapp"
[verify]
fail_on = "critical"
smoke = {{ args = [], expect_exit = 0, timeout = 60 }}
[audit]
enabled = true
offline = true
db = ["{OSV / "pypa"}"]
'''
# What the fixtures say about urllib3 1.24.1, read from the records by hand: every advisory whose
# ECOSYSTEM range holds 1.24.1, with its fixed versions. PYSEC-2017-98 (1.17 to 1.18.1),
# PYSEC-2018-32 (fixed 1.23), PYSEC-2020-149 (from 1.25.2), PYSEC-2021-59 (from 1.26.0) do not apply.
EXPECTED = {
    "PYSEC-2019-132": ["1.24.3"],
    "PYSEC-2019-133": ["1.24.2"],
    "PYSEC-2020-148": ["1.25.9"],
    "PYSEC-2021-108": ["1.26.5"],
    "PYSEC-2023-192": ["1.26.17", "2.0.6"],
    "PYSEC-2023-207": ["1.24.2"],
    "PYSEC-2023-212": ["1.26.18", "2.0.7"],
}


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def vulnapp() -> Path:
    """The dist folder of the tiny app, built once through `hardnut build` and kept under
    tests/fixtures/build/audit-vulnapp (rebuilt when the app, the wheels or Nuitka change)."""
    import nuitka.Version

    root = BUILD_ROOT / "audit-vulnapp"
    root.mkdir(parents=True, exist_ok=True)
    code = b"".join(p.read_bytes() for p in sorted((REPO / "src" / "hardnut").rglob("*.py")))
    stamp = hashlib.sha256("\n".join((APP, PROFILE, *WHEELS, nuitka.Version.getNuitkaVersion())).encode()
                           + code).hexdigest()
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        dist = root / "app" / "dist" / "vulnapp.dist"
        if (root / "stamp").is_file() and (root / "stamp").read_text() == stamp and dist.is_dir():
            return dist
        wheels = root / "wheels"
        if len(list(wheels.glob("*.whl"))) < len(WHEELS):
            proc = _pip("download", "--no-deps", "--only-binary=:all:", "-d", str(wheels), *WHEELS)
            if proc.returncode != 0:
                pytest.fail(f"pip download failed:\n{proc.stderr}")
        app = root / "app"
        shutil.rmtree(app, ignore_errors=True)
        app.mkdir()
        # the packages sit beside the entry script: on Nuitka's import path, never in the shared venv
        proc = _pip("install", "--no-deps", "--no-index", "--target", str(app), *map(str, sorted(wheels.glob("*.whl"))))
        if proc.returncode != 0:
            pytest.fail(f"pip install --target failed:\n{proc.stderr}")
        (app / "app.py").write_text(APP)
        (app / "hardnut.toml").write_text(PROFILE)
        proc = hardnut_cli("build", "-p", str(app / "hardnut.toml"), "-q", "--format", "json", "-o",
                           str(root / "build.json"), cwd=app)
        if proc.returncode != 0:
            pytest.fail(f"hardnut build failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-3000:]}")
        (root / "stamp").write_text(stamp)
        return dist


def _audit(*args: str) -> tuple[int, dict]:
    proc = hardnut_cli("audit", *args, "--format", "json", "--fail-on", "critical")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.nuitka
def test_audit_of_a_real_build_reports_exactly_the_applicable_advisories(vulnapp):
    rc, doc = _audit(str(vulnapp), "--db", str(OSV / "pypa"), "--db", str(OSV / "psf"))
    vulns = [f for f in doc["findings"] if f["rule"] == "HN-VULN-001"]
    assert {f["vulnerability"]: f["fixed"] for f in vulns} == EXPECTED
    assert {(f["package"], f["version"]) for f in vulns} == {("urllib3", "1.24.1")}  # certifi 2024.8.30: none
    by_id = {f["vulnerability"]: f for f in vulns}
    assert by_id["PYSEC-2023-192"]["severity"] == "high"  # CVSS:3.1 vector, base score 8.1
    assert by_id["PYSEC-2023-192"]["aliases"] == ["CVE-2023-43804", "GHSA-v845-jxx5-vc9f"]
    assert by_id["PYSEC-2019-132"]["severity"] == "medium"  # no vector in the record
    facts = doc["facts"]["audit"]
    assert facts["nuitka"] and facts["python"].count(".") == 2
    assert rc == 0  # --fail-on critical


@pytest.mark.nuitka
def test_audit_of_the_build_sbom_matches_the_dist(vulnapp):
    sbom = vulnapp.parent / "vulnapp.cdx.json"
    _, doc = _audit(str(sbom), "--db", str(OSV / "pypa"))
    assert {f["vulnerability"] for f in doc["findings"] if f["rule"] == "HN-VULN-001"} == set(EXPECTED)
    data = json.loads(sbom.read_text())
    cpython = [c for c in data["components"] if c["name"] == "CPython"]
    assert cpython and cpython[0]["cpe"].startswith("cpe:2.3:a:python:python:3.")
    natives = {c["name"]: c for c in data["components"] if c.get("purl", "").startswith("pkg:generic/")
               and c["name"] != "cpython"}
    assert natives["openssl"]["version"] and natives["openssl"]["cpe"].startswith("cpe:2.3:a:openssl:openssl:3.")


@pytest.mark.nuitka
def test_metadata_shipped_in_the_dist_is_read_without_a_report(vulnapp, tmp_path):
    """Without the report XML the dist-info METADATA Nuitka may ship is the only source: copy the dist
    alone and add a dist-info for a patched urllib3: no advisory applies."""
    dist = tmp_path / "vulnapp.dist"
    shutil.copytree(vulnapp, dist, symlinks=True)
    info = dist / "urllib3-2.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: urllib3\nVersion: 2.2.3\n")
    _, doc = _audit(str(dist), "--db", str(OSV / "pypa"))
    assert [f for f in doc["findings"] if f["rule"] == "HN-VULN-001"] == []
    assert doc["facts"]["audit"]["packages"] >= 1
    # the CPython version then comes from the binary itself, for the audit and for the SBOM
    python = doc["facts"]["audit"]["python"]
    assert python == _audit(str(vulnapp), "--db", str(OSV / "pypa"))[1]["facts"]["audit"]["python"]
    from hardnut.sbom import write_sbom

    sbom = json.loads(write_sbom(dist, None, tmp_path / "x.cdx.json").read_text())
    assert [c["version"] for c in sbom["components"] if c["name"] == "CPython"] == [python]


@pytest.mark.nuitka
def test_build_with_audit_enabled_reports_and_writes_the_sbom_vulnerabilities(vulnapp):
    """`hardnut build` with [audit] enabled: its verify step holds the findings, the SBOM the section."""
    doc = json.loads((vulnapp.parents[2] / "build.json").read_text())
    found = {f["vulnerability"] for f in doc["verify"]["findings"] if f["rule"] == "HN-VULN-001"}
    assert found == set(EXPECTED)
    sbom = json.loads((vulnapp.parent / "vulnapp.cdx.json").read_text())
    vulns = {v["id"]: v for v in sbom["vulnerabilities"]}
    assert set(vulns) == set(EXPECTED)
    v = vulns["PYSEC-2023-192"]
    assert v["affects"] == [{"ref": "pkg:pypi/urllib3@1.24.1", "versions": [{"status": "affected", "version": "1.24.1"}]}]
    assert v["ratings"][0]["severity"] == "high" and v["ratings"][0]["score"] == 8.1
    assert {r["id"] for r in v["references"]} == {"CVE-2023-43804", "GHSA-v845-jxx5-vc9f"}
    from hardnut.sbom import validate_json

    assert validate_json(json.dumps(sbom)) is None


@pytest.mark.nuitka
def test_verify_runs_the_audit_when_the_profile_enables_it(vulnapp, tmp_path):
    profile = tmp_path / "ci.toml"
    profile.write_text(f'''[verify]
fail_on = "high"
[audit]
enabled = true
offline = true
db = ["{OSV / "pypa"}", "{OSV / "psf"}"]
ignore = [{{ id = "CVE-2023-43804", reason = "cookies are never set by the app", expires = "2999-12-31" }}]
''')
    proc = hardnut_cli("verify", str(vulnapp), "-p", str(profile), "--format", "json")
    doc = json.loads(proc.stdout)
    found = {f["vulnerability"] for f in doc["findings"] if f["rule"] == "HN-VULN-001"}
    assert found == set(EXPECTED) - {"PYSEC-2023-192"}  # ignored by its CVE alias
    assert doc["facts"]["audit"]["ignored"][0]["id"] == "PYSEC-2023-192" and doc["suppressed"] >= 1
    assert proc.returncode == (1 if any(f["severity"] in ("high", "critical") for f in doc["findings"]) else 0)
