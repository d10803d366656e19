"""hardnut audit without a build: OSV records (real ones from tests/data/osv), range evaluation, ignores,
the end-of-life table, the CLI's exit codes and every report format, on real hardnut SBOMs."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import hardnut_cli
from hardnut.audit import osv
from hardnut.model import Severity

OSV = Path(__file__).resolve().parent / "data" / "osv"


def record(*ranges, versions=(), rid="TEST-1", **extra) -> dict:
    return {"id": rid, "summary": "test", "affected": [{
        "package": {"ecosystem": "PyPI", "name": "Demo_Pkg"},
        "ranges": [{"type": "ECOSYSTEM", "events": list(r)} for r in ranges],
        "versions": list(versions)}], **extra}


def affected(rec: dict, version: str) -> bool:
    return osv.parse_record(rec).matching("PyPI", "demo-pkg", version) is not None


# ----------------------------------------------------------------------------------------------- ranges


@pytest.mark.parametrize("version, expected", [
    ("0.9", False), ("1.0", True), ("1.4.2", True), ("1.5", False), ("1.5.1", False),
    ("1.5rc1", True),  # a pre-release of the fixed version comes before it
    ("1.0rc1", False),  # ... and a pre-release of the introducing version before that
    ("1.4.post1", True), ("1.5.post1", False),  # post-releases sort after their release
    ("1.4+ubuntu1", True), ("1.5+local", False),  # local versions are judged by their public version
    ("1.5.dev0", True),
])
def test_introduced_fixed(version, expected):
    assert affected(record([{"introduced": "1.0"}, {"fixed": "1.5"}]), version) is expected


@pytest.mark.parametrize("version, expected", [
    ("2.0", True), ("2.3", True), ("2.3+build7", True), ("2.3.post1", False), ("2.4", False), ("1.9", False),
])
def test_last_affected_is_inclusive(version, expected):
    assert affected(record([{"introduced": "2.0"}, {"last_affected": "2.3"}]), version) is expected


@pytest.mark.parametrize("version, expected", [
    ("0.1", True), ("1.26.17", True), ("1.26.18", False), ("1.99", False), ("2.0.0", True), ("2.0.6", True),
    ("2.0.7", False), ("2.0.7a1", True),
])
def test_multiple_ranges_and_events(version, expected):
    rec = record([{"introduced": "0"}, {"fixed": "1.26.18"}], [{"introduced": "2.0.0"}, {"fixed": "2.0.7"}])
    assert affected(rec, version) is expected


def test_one_range_with_two_openings():
    rec = record([{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}, {"fixed": "2.1"}])
    assert [v for v in ("0.5", "1.0", "1.5", "2.0", "2.0.9", "2.1") if affected(rec, v)] == ["0.5", "2.0", "2.0.9"]


def test_versions_list_and_git_ranges():
    rec = record(versions=["0.3", "1.0.0", "not-pep440"])
    rec["affected"][0]["ranges"] = [{"type": "GIT", "repo": "x", "events": [{"introduced": "0"}, {"fixed": "abc"}]}]
    assert affected(rec, "1.0") and affected(rec, "0.3.0") and affected(rec, "not-pep440")
    assert not affected(rec, "0.4")


def test_names_are_normalised_and_ecosystem_must_match():
    adv = osv.parse_record(record([{"introduced": "0"}]))
    assert adv.matching("PyPI", "demo.pkg", "1") and adv.matching("PyPI", "DEMO__pkg", "1")
    assert adv.matching("npm", "demo-pkg", "1") is None


def test_cvss_severity_and_fallbacks():
    crit = record([{"introduced": "0"}], severity=[{"type": "CVSS_V3",
                                                     "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
    adv = osv.parse_record(crit)
    assert adv.severity == Severity.CRITICAL and adv.score == 9.8
    named = record([{"introduced": "0"}], database_specific={"severity": "LOW"})
    assert osv.parse_record(named).severity == Severity.LOW
    broken = record([{"introduced": "0"}], severity=[{"type": "CVSS_V3", "score": "CVSS:3.1/garbage"}])
    assert osv.parse_record(broken).severity == Severity.MEDIUM


# ----------------------------------------------------------------------------------------------- real records


def test_real_records_load_from_yaml_and_json_trees():
    db = osv.load([OSV / "pypa", OSV / "psf"])
    assert db.warnings == [] and db.records == len(list(OSV.rglob("PYSEC-*.yaml"))) + len(list(OSV.rglob("PSF-*.json")))
    ids = [a.id for a, _ in db.query("PyPI", "urllib3", "1.24.2")]
    assert ids == ["PYSEC-2019-132", "PYSEC-2020-148", "PYSEC-2021-108", "PYSEC-2023-192", "PYSEC-2023-212"]
    assert db.query("PyPI", "urllib3", "1.26.18") == []
    assert {a.id: h.fixed() for a, h in db.query("PyPI", "Jinja2", "2.10")} == {
        "PYSEC-2019-217": ("2.10.1",), "PYSEC-2021-66": ("2.11.3",)}
    # psf/advisory-database's CPython records carry GIT ranges only: loaded, never matched by version
    assert "PSF-2024-7" in db.by_id and db.by_id["PSF-2024-7"].affected == ()
    nuitka = db.query("PyPI", "Nuitka", "0.8.4")
    assert [(a.id, h.fixed()) for a, h in nuitka] == [("PYSEC-2022-209", ("0.9",))]
    assert db.query("PyPI", "nuitka", "4.3.3") == []


def test_zip_export_is_read_in_place(tmp_path):
    """An all.zip like osv.dev's (one <ID>.json per record): read member by member, never extracted."""
    export = tmp_path / "all.zip"
    import yaml

    with zipfile.ZipFile(export, "w") as zf:
        for path in sorted((OSV / "pypa").rglob("*.yaml")):
            zf.writestr(path.stem + ".json", json.dumps(yaml.safe_load(path.read_text()), default=str))
        zf.writestr("BROKEN-1.json", "{not json")
    db = osv.load([export])
    assert db.records == len(list((OSV / "pypa").rglob("*.yaml")))
    assert len(db.warnings) == 1 and "BROKEN-1.json" in db.warnings[0]
    assert {a.id for a, _ in db.query("PyPI", "certifi", "2022.12.6")} == {"PYSEC-2022-42986", "PYSEC-2023-135"}
    assert {a.id for a, _ in db.query("PyPI", "certifi", "2022.12.7")} == {"PYSEC-2023-135"}
    assert list(tmp_path.iterdir()) == [export]


def test_malformed_and_withdrawn_records(tmp_path):
    tree = tmp_path / "vulns" / "demo-pkg"
    tree.mkdir(parents=True)
    (tree / "GOOD-1.json").write_text(json.dumps(record([{"introduced": "0"}], rid="GOOD-1")))
    (tree / "GONE-1.json").write_text(json.dumps(record([{"introduced": "0"}], rid="GONE-1",
                                                        withdrawn="2024-01-01T00:00:00Z")))
    (tree / "BAD-1.yaml").write_text("id: BAD-1\naffected: [{package: {name: x, ecosystem: PyPI}, ranges: 7")
    (tree / "BAD-2.json").write_text(json.dumps({"id": "BAD-2", "affected": [{"package": {
        "name": "demo-pkg", "ecosystem": "PyPI"}, "ranges": [{"type": "ECOSYSTEM", "events": [{"bogus": "1"}]}]}]}))
    (tree / "BAD-3.json").write_text(json.dumps(["not", "a", "record"]))
    db = osv.load([tmp_path])
    assert [a.id for a, _ in db.query("PyPI", "demo-pkg", "1.0")] == ["GOOD-1"]
    assert sorted(w.split(":")[0].split()[-1] for w in db.warnings) == [
        "vulns/demo-pkg/BAD-1.yaml", "vulns/demo-pkg/BAD-2.json", "vulns/demo-pkg/BAD-3.json"]


@pytest.mark.parametrize("make", ["missing", "text", "empty-dir"])
def test_unusable_database_is_a_clear_error(tmp_path, make):
    path = tmp_path / "db"
    if make == "text":
        path.write_text("hello")
    elif make == "empty-dir":
        path.mkdir()
    with pytest.raises(osv.DatabaseError):
        osv.load([path])


# ----------------------------------------------------------------------------------------------- CLI on SBOMs


def _sbom(tmp_path: Path, dists: dict[str, str], python: str = "3.12.7", nuitka: str = "4.3.3") -> Path:
    """A real hardnut SBOM (hardnut.sbom.build_bom), as `hardnut build` writes it."""
    from hardnut.sbom import ReportFacts, build_bom, to_json
    from hardnut.nuitka.report_xml import Distribution

    facts = ReportFacts(nuitka_version=nuitka, mode="standalone", python_version=python,
                        distributions=[Distribution(n, v, "pip") for n, v in dists.items()])
    path = tmp_path / "app.cdx.json"
    path.write_text(to_json(build_bom("app", facts, [])))
    return path


def _run(*args: str) -> tuple[int, dict]:
    proc = hardnut_cli("audit", *args, "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_cli_on_an_sbom_exit_codes_and_fields(tmp_path):
    sbom = _sbom(tmp_path, {"urllib3": "1.26.17", "certifi": "2024.8.30", "jinja2": "3.1.4"})
    rc, doc = _run(str(sbom), "--db", str(OSV / "pypa"), "--fail-on", "medium")
    assert rc == 1 and doc["verdict"] == "fail"
    [f] = doc["findings"]
    assert f["category"] == "vulnerability" and f["rule"] == "HN-VULN-001"
    assert (f["package"], f["version"], f["vulnerability"], f["fixed"]) == (
        "urllib3", "1.26.17", "PYSEC-2023-212", ["1.26.18", "2.0.7"])
    assert f["aliases"] == ["CVE-2023-45803", "GHSA-g4mx-q9vg-27p4"] and f["severity"] == "medium"
    assert f["summary"] and "\n" not in f["summary"]
    rc, doc = _run(str(sbom), "--db", str(OSV / "pypa"), "--fail-on", "high")
    assert rc == 0 and doc["verdict"] == "pass"


def test_cli_errors_exit_2(tmp_path):
    sbom = _sbom(tmp_path, {"urllib3": "1.26.17"})
    for args, message in [
        ((str(sbom), "--offline"), "--offline needs an advisory database"),
        ((str(sbom), "--db", str(tmp_path / "nope.zip")), "advisory database not found"),
        ((str(tmp_path / "missing"), "--db", str(OSV / "pypa")), "target not found"),
    ]:
        proc = hardnut_cli("audit", *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    bad = tmp_path / "bad.cdx.json"
    bad.write_text('{"bomFormat": "SPDX"}')
    proc = hardnut_cli("audit", str(bad), "--db", str(OSV / "pypa"))
    assert proc.returncode == 2 and "not a CycloneDX SBOM" in proc.stderr


def test_python_end_of_life_is_a_finding(tmp_path):
    sbom = _sbom(tmp_path, {}, python="3.8.18")
    rc, doc = _run(str(sbom), "--db", str(OSV / "pypa"))
    [f] = doc["findings"]
    assert f["rule"] == "HN-VULN-002" and f["severity"] == "high" and "2024-10-07" in f["message"] and rc == 1
    from hardnut.audit.engine import python_eol

    assert python_eol("3.13.1", dt.date(2026, 11, 30)) is None
    assert python_eol("3.10.4", dt.date(2026, 11, 1)) == ("3.10", dt.date(2026, 10, 31))
    assert python_eol("3.10.4", dt.date(2026, 10, 31)) is None


def test_ignores_with_expiry(tmp_path):
    sbom = _sbom(tmp_path, {"urllib3": "1.24.2"})
    profile = tmp_path / "audit.toml"
    profile.write_text(f'''[audit]
db = ["{OSV / "pypa"}"]
offline = true
ignore = [
  {{ id = "PYSEC-2019-132", reason = "we never pass user input to request params", expires = "2999-01-01" }},
  {{ id = "CVE-2023-45803", reason = "no redirects followed" }},
  {{ id = "PYSEC-2021-108", reason = "reviewed once", expires = "2020-01-01" }},
]
''')
    rc, doc = _run(str(sbom), "-p", str(profile))
    got = {(f["rule"], f.get("vulnerability")) for f in doc["findings"]}
    assert got == {("HN-VULN-001", "PYSEC-2020-148"), ("HN-VULN-001", "PYSEC-2021-108"),
                   ("HN-VULN-001", "PYSEC-2023-192"), ("HN-VULN-003", "PYSEC-2021-108")}
    assert doc["suppressed"] == 2
    assert {i["id"] for i in doc["facts"]["audit"]["ignored"]} == {"PYSEC-2019-132", "PYSEC-2023-212"}


@pytest.mark.parametrize("toml, message", [
    ('[audit]\nignore = [{ id = "X-1" }]\n', "needs a non-empty reason"),
    ('[audit]\nignore = [{ id = "X-1", reason = "r", expires = "soon" }]\n', "expires must be a date"),
    ('[audit]\nignore = [{ id = "X-1", reason = "r", until = 2027-01-01 }]\n', "unknown key 'until'"),
    ('[audit]\nenabled = "yes"\n', "must be true or false"),
    ('[audit]\nmirror = "x"\n', "unknown key audit.mirror"),
])
def test_profile_audit_table_is_validated(tmp_path, toml, message):
    from hardnut.errors import ProfileError
    from hardnut.profile import load_profile

    path = tmp_path / "hardnut.toml"
    path.write_text(toml)
    with pytest.raises(ProfileError, match=message):
        load_profile(path, require_entry=False)


def test_native_toml_dates_are_accepted(tmp_path):
    from hardnut.profile import load_profile

    path = tmp_path / "hardnut.toml"
    path.write_text('[audit]\nenabled = true\ndb = ["osv"]\nignore = [{ id = "X-1", reason = "r", expires = 2027-03-01 }]\n')
    audit = load_profile(path, require_entry=False).audit
    assert audit.enabled and audit.db == ((tmp_path / "osv").resolve(),)
    assert audit.ignore[0].expires == dt.date(2027, 3, 1)


@pytest.mark.parametrize("fmt", ["text", "sarif", "junit", "markdown"])
def test_every_format_shows_the_vulnerability(tmp_path, fmt):
    sbom = _sbom(tmp_path, {"urllib3": "1.26.17"})
    proc = hardnut_cli("audit", str(sbom), "--db", str(OSV / "pypa"), "--format", fmt, "--fail-on", "medium")
    assert proc.returncode == 1, proc.stderr
    assert "PYSEC-2023-212" in proc.stdout
    if fmt == "sarif":
        res = json.loads(proc.stdout)["runs"][0]["results"][0]
        assert res["properties"]["category"] == "vulnerability"
        assert res["properties"]["vulnerability"] == "PYSEC-2023-212" and res["properties"]["fixed"] == ["1.26.18", "2.0.7"]
    if fmt == "junit":
        assert 'classname="hardnut.vulnerability"' in proc.stdout


def test_check_source_audits_pinned_requirements(tmp_path):
    (tmp_path / "app.py").write_text("import urllib3\n")
    (tmp_path / "requirements.txt").write_text("urllib3==1.26.17\ncertifi>=2020\n")
    (tmp_path / "hardnut.toml").write_text(f'''[app]
entry = "app.py"
[audit]
enabled = true
db = ["{OSV / "pypa"}"]
''')
    proc = hardnut_cli("check-source", "-p", str(tmp_path / "hardnut.toml"), "--format", "json", cwd=tmp_path)
    doc = json.loads(proc.stdout)
    vulns = [f for f in doc["findings"] if f["rule"] == "HN-VULN-001"]
    assert [(f["package"], f["vulnerability"], f["path"]) for f in vulns] == [
        ("urllib3", "PYSEC-2023-212", "requirements.txt:1")]


def test_cli_warns_about_a_malformed_record_and_goes_on(tmp_path):
    db = tmp_path / "db"
    shutil.copytree(OSV / "pypa" / "vulns" / "urllib3", db / "urllib3")
    (db / "urllib3" / "PYSEC-9999-1.yaml").write_text("id: PYSEC-9999-1\naffected:\n- package: {name: urllib3, "
                                                       "ecosystem: PyPI}\n  ranges: [{type: ECOSYSTEM, events: [7]}]\n")
    sbom = _sbom(tmp_path, {"urllib3": "1.26.17"})
    proc = hardnut_cli("audit", str(sbom), "--db", str(db), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert "warning: skipped malformed advisory urllib3/PYSEC-9999-1.yaml" in proc.stderr
    assert [f["vulnerability"] for f in json.loads(proc.stdout)["findings"]] == ["PYSEC-2023-212"]


def test_single_record_file_and_oversized_members(tmp_path, monkeypatch):
    one = OSV / "pypa" / "vulns" / "nuitka" / "PYSEC-2022-209.yaml"
    assert [a.id for a, _ in osv.load([one]).query("PyPI", "nuitka", "0.6.0")] == ["PYSEC-2022-209"]
    monkeypatch.setattr(osv, "MAX_RECORD_BYTES", 2000)
    export = tmp_path / "all.zip"
    with zipfile.ZipFile(export, "w") as zf:
        zf.writestr("SMALL-1.json", json.dumps(record([{"introduced": "0"}], rid="SMALL-1")))
        zf.writestr("HUGE-1.json", json.dumps(record([{"introduced": "0"}], rid="HUGE-1", details="x" * 5000)))
    db = osv.load([export])
    assert list(db.by_id) == ["SMALL-1"] and "HUGE-1.json" in db.warnings[0] and "larger than" in db.warnings[0]


def _json_values():
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                        max_leaves=12)


def test_any_shape_of_record_is_parsed_or_refused_never_a_crash():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    base = record([{"introduced": "0"}, {"fixed": "1.0"}])
    paths = [("affected",), ("affected", 0), ("affected", 0, "package"), ("affected", 0, "ranges"),
             ("affected", 0, "ranges", 0), ("affected", 0, "ranges", 0, "events"),
             ("affected", 0, "ranges", 0, "events", 0), ("affected", 0, "versions"), ("aliases",), ("summary",),
             ("severity",), ("database_specific",), ("id",), ("withdrawn",)]

    @settings(max_examples=150, deadline=None)
    @given(st.sampled_from(paths), _json_values())
    def check(path, value):
        rec = json.loads(json.dumps(base))
        node = rec
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        try:
            adv = osv.parse_record(rec)
        except osv.RecordError:
            return
        for version in ("0.5", "1.0", "not a version"):
            adv.matching("PyPI", "demo-pkg", version)

    check()
