"""hardnut.checks.build on the reports of real Nuitka onefile builds, and on variations of them."""

from __future__ import annotations

from pathlib import Path

import pytest

from hardnut.artifact.model import Artifact
from hardnut.artifact.walk import open_target
from hardnut.checks import build
from hardnut.checks.base import CheckContext, VerifyConfig

from helpers_onefile import onefile_build


def _run(report: Path | None) -> list:
    art = Artifact(target=Path("."), kind="dir", report_xml=report)
    return list(build.run(CheckContext(art, VerifyConfig())))


def _rules(findings) -> list[tuple[str, str]]:
    return sorted((f.rule, f.severity.label) for f in findings)


@pytest.fixture(scope="module")
def base_text():
    return onefile_build("compressed").report.read_text()


def _variant(tmp_path: Path, text: str, name: str = "app.report.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_real_compressed_build():
    b = onefile_build("compressed")
    with open_target(b.binary) as art:
        assert art.report_xml == b.report
        ctx = CheckContext(art, VerifyConfig())
        findings = list(build.run(ctx))
    assert _rules(findings) == [("HN-BUILD-001", "medium"), ("HN-BUILD-002", "medium"), ("HN-BUILD-006", "low"),
                                ("HN-BUILD-007", "low"), ("HN-BUILD-008", "low")]
    by_rule = {f.rule: f for f in findings}
    assert by_rule["HN-BUILD-001"].module == "__main__" and "(line 7)" in by_rule["HN-BUILD-001"].message
    assert "hardnut_fixture_missing" in by_rule["HN-BUILD-001"].message
    assert "xml.dom.minidom" in by_rule["HN-BUILD-002"].message and "--nofollow-import-to=xml.dom" in by_rule["HN-BUILD-002"].message
    assert all(f.path == "app.report.xml" and f.category == "build" for f in findings)
    assert ctx.facts["nuitka_mode"] == "onefile"
    assert build.get_report(ctx) is ctx.cache[build.CACHE_KEY]  # parsed once, shared


def test_real_cached_deployment_build():
    findings = _run(onefile_build("plain").report)
    assert _rules(findings) == [("HN-BUILD-001", "medium"), ("HN-BUILD-004", "info"), ("HN-BUILD-008", "low")]


def test_real_archive_build_default_unpack_folder_is_fine():
    rules = {f.rule for f in _run(onefile_build("archive").report)}
    assert "HN-BUILD-003" not in rules and "HN-BUILD-004" not in rules


def test_no_report_and_bad_report(tmp_path, base_text):
    assert _rules(_run(None)) == [("HN-BUILD-011", "info")]
    bad = _variant(tmp_path, base_text.replace("<nuitka-compilation-report", '<!DOCTYPE x [<!ENTITY a "b">]><nuitka-compilation-report', 1))
    assert _rules(_run(bad)) == [("HN-BUILD-010", "medium")]
    truncated = _variant(tmp_path, base_text[:5000], "t.report.xml")
    assert _rules(_run(truncated)) == [("HN-BUILD-010", "medium")]


SPEC = '<onefile cache_mode="temporary" unpack_dir="{TEMP}/onefile_{PID}_{TIME_US}_{RANDOM}" />'


@pytest.mark.parametrize("mode,spec,expected", [
    ("temporary", "{TEMP}/onefile_{PID}_{TIME_US}_{RANDOM}", None),
    ("cached", "{TEMP}/myapp", ("HN-BUILD-003", "high")),
    ("temporary", "{TEMP}/myapp_{PID}", ("HN-BUILD-003", "medium")),
    ("cached", "/tmp/myapp", ("HN-BUILD-003", "high")),
    ("cached", "/var/tmp/myapp/{VERSION}", ("HN-BUILD-003", "high")),
    ("cached", "C:\\Windows\\Temp\\myapp", ("HN-BUILD-003", "high")),
    ("cached", "{CACHE_DIR}/{COMPANY}/{PRODUCT}/{VERSION}", ("HN-BUILD-004", "info")),
    ("temporary", "{CACHE_DIR}/myapp_{PID}_{RANDOM}", None),
    ("cached", "/opt/myapp", ("HN-BUILD-004", "medium")),
    ("cached", "myapp_data", ("HN-BUILD-004", "low")),
    ("temporary", "myapp_{PID}_{RANDOM}", None),
])
def test_onefile_unpack_folder(tmp_path, base_text, mode, spec, expected):
    assert SPEC in base_text
    text = base_text.replace(SPEC, f'<onefile cache_mode="{mode}" unpack_dir="{spec}" />')
    found = [(f.rule, f.severity.label) for f in _run(_variant(tmp_path, text)) if f.rule in ("HN-BUILD-003", "HN-BUILD-004")]
    assert found == ([expected] if expected else [])


def _with_options(text: str, *options: str) -> str:
    extra = "".join(f'    <option value="{o}" />\n' for o in options)
    return text.replace("<command_line>\n", "<command_line>\n" + extra, 1)


def test_uac_deployment_and_downloads(tmp_path, base_text):
    text = _with_options(base_text, "--windows-uac-admin", "--windows-uac-uiaccess", "--deployment",
                         "--no-deployment-flag=self-execution")
    text = text.replace('    <option value="--assume-yes-for-downloads" />\n', "")
    found = _rules(f for f in _run(_variant(tmp_path, text)) if f.rule in
                   ("HN-BUILD-005", "HN-BUILD-006", "HN-BUILD-007"))
    assert found == [("HN-BUILD-005", "medium"), ("HN-BUILD-005", "medium"), ("HN-BUILD-006", "info")]


def test_incomplete_build(tmp_path, base_text):
    text = base_text.replace('completion="yes"', 'completion="error exit (1)"', 1)
    assert ("HN-BUILD-009", "medium") in _rules(_run(_variant(tmp_path, text)))


SCONS = '<scons_environment c_compiler="gcc" the_cc_name="gcc" the_compiler="gcc" />'


@pytest.mark.parametrize("attrs,severity,missing", [
    ('c_flags="-fstack-protector-strong -D_FORTIFY_SOURCE=2 -O2" ld_flags="-Wl,-z,relro -Wl,-z,now"', "info", []),
    ('c_flags="-fstack-protector-strong -D_FORTIFY_SOURCE=3" ld_flags="-Wl,-z,relro,-z,now"', "info", []),
    ('c_flags="-fstack-protector-strong -fno-stack-protector -D_FORTIFY_SOURCE=2" ld_flags="-Wl,-z,relro -Wl,-z,now"',
     "low", ["stack protector"]),
    ('c_flags="-fstack-protector -D_FORTIFY_SOURCE=1" ld_flags="-Wl,-z,relro"', "low",
     ["stack protector", "_FORTIFY_SOURCE", "now"]),
    ("", "low", ["stack protector", "_FORTIFY_SOURCE", "relro", "now"]),
])
def test_compiler_flags(tmp_path, base_text, attrs, severity, missing):
    assert SCONS in base_text
    text = base_text.replace(SCONS, SCONS.replace(" />", f" {attrs} />"))
    flags = [f for f in _run(_variant(tmp_path, text)) if f.rule == "HN-BUILD-008"]
    assert len(flags) == 1 and flags[0].severity.label == severity
    for name in ("stack protector", "_FORTIFY_SOURCE", "relro", "now"):
        listed = flags[0].message.split("present:")[0]
        assert (name in listed) == (name in missing) or severity == "info"


def test_msvc_flags_not_judged_here(tmp_path, base_text):
    text = base_text.replace(SCONS, '<scons_environment c_compiler="msvc" the_cc_name="cl" />')
    assert not [f for f in _run(_variant(tmp_path, text)) if f.rule == "HN-BUILD-008"]


def test_import_classes(tmp_path, base_text):
    third = ('  <module name="thirdpkg" kind="CompiledPythonPackage" usage="import" reason="import" '
             'source_path="${sys.prefix}/lib/python3.11/site-packages/thirdpkg/__init__.py" distribution="thirdpkg">\n'
             '    <module_usages>\n'
             '      <module_usage name="optional_speedup" finding="not-found" line="3" reason="import" />\n'
             '      <module_usage name="os.not_a_module" finding="not-found" line="4" reason="import fromlist" />\n'
             '      <module_usage name="socket" finding="excluded" line="5" reason="import" exclusion_reason="anti-bloat" />\n'
             '    </module_usages>\n  </module>\n')
    text = base_text.replace("  <module ", third + "  <module ", 1)
    found = {(f.rule, f.severity.label, f.module) for f in _run(_variant(tmp_path, text))
             if f.rule in ("HN-BUILD-001", "HN-BUILD-002")}
    assert found == {("HN-BUILD-001", "medium", "__main__"), ("HN-BUILD-001", "low", "thirdpkg"),
                     ("HN-BUILD-002", "medium", "__main__"), ("HN-BUILD-002", "low", "thirdpkg")}


_RESOURCE_MODULES = """
  <module name="pkgx" kind="CompiledPythonPackage" usage="import" reason="t" source_path="${sys.prefix}/lib/python3.11/site-packages/pkgx/__init__.py">
    <module_usages>
      <module_usage name="pkgx" finding="absolute" line="40" reason="importlib.resources.files call" />
      <module_usage name="pkgx.missing" finding="not-found" line="41" reason="importlib.resources.files call" />
    </module_usages>
  </module>
  <module name="zoneinfo._tzpath" kind="CompiledPythonModule" usage="stdlib" reason="t" source_path="${sys.prefix}/lib/python3.11/zoneinfo/_tzpath.py">
    <module_usages>
      <module_usage name="tzdata" finding="absolute" line="121" reason="importlib.resources.files call" />
    </module_usages>
  </module>
  <module name="tzdata" kind="CompiledPythonPackage" usage="import" reason="t" source_path="${sys.prefix}/lib/python3.11/site-packages/tzdata/__init__.py" />
"""


def _artifact_file(relpath: str):
    from hardnut.artifact.model import ArtifactFile

    return ArtifactFile(relpath=relpath, fs_path=Path("/nonexistent") / relpath, size=1, kind="data",
                        dist_root=Path("/nonexistent"))


@pytest.mark.parametrize("files, data_file, expected", [
    ((), "", {("pkgx", "medium"), ("zoneinfo._tzpath", "low")}),
    (("pkgx/_speedups.cpython-311-x86_64-linux-gnu.so", "pkgx/core.pyc"), "",
     {("pkgx", "medium"), ("zoneinfo._tzpath", "low")}),
    (("pkgx/cacert.pem", "tzdata/zoneinfo/UTC"), "", set()),
    (("app.bin!/pkgx/data/schema.json",), "", {("zoneinfo._tzpath", "low")}),
    ((), '<data_file name="pkgx/a.txt" source="x" size="1" reason="r" tags="" />', {("zoneinfo._tzpath", "low")}),
], ids=["none", "only-code", "both-present", "in-onefile-payload", "report-data-file"])
def test_package_files_read_at_run_time(tmp_path, base_text, files, data_file, expected):
    """HN-BUILD-012: a bundled package opened with importlib.resources.files() without any data file of
    its folder in the artifact (its files, payload entries, the report's data files); a package that is
    not bundled (pkgx.missing) is HN-BUILD-001's; the standard library's call (zoneinfo's tzdata fallback)
    is low."""
    text = base_text.replace("</nuitka-compilation-report>", _RESOURCE_MODULES + data_file
                             + "</nuitka-compilation-report>")
    art = Artifact(target=Path("."), kind="dir", report_xml=_variant(tmp_path, text),
                   files=[_artifact_file(f) for f in files])
    found = [f for f in build.run(CheckContext(art, VerifyConfig())) if f.rule == "HN-BUILD-012"]
    assert {(f.module, f.severity.label) for f in found} == expected
    for f in found:
        assert f.path == "app.report.xml" and "importlib.resources.files()" in f.message
    if ("pkgx", "medium") in expected:
        [pkgx] = [f for f in found if f.module == "pkgx"]
        assert "(line 40)" in pkgx.message and "under pkgx/" in pkgx.message
        assert "'--include-package-data=pkgx'" in pkgx.message
