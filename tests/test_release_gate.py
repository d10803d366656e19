"""The release gate gives the same verdict in CI as at build: verify adopts the verify settings the
manifest recorded, file modes and symlinks are part of the manifest, an empty target fails, writing a
baseline succeeds. Real ELF files (copies of the system's `true`), no Nuitka build needed."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from conftest import hardnut_cli
from hardnut.manifest import compare, file_records

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions and symlinks")


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "app.dist"
    dist.mkdir()
    shutil.copy2(shutil.which("true") or sys.executable, dist / "app")
    os.chmod(dist / "app", 0o755)
    (dist / "readme.txt").write_text("hello\n")
    os.chmod(dist / "readme.txt", 0o644)
    return dist


def _manifest(dist: Path, resolved: dict) -> Path:
    doc = {"tool": {"name": "hardnut", "version": "test"}, "mode": "standalone", "target": dist.name,
           "artifact": f"{dist.name}/app", "profile": {"path": None, "extends_chain": [], "resolved": resolved},
           "files": [r.to_dict() for r in file_records(dist)]}
    path = dist.parent / "app.hardnut.json"
    path.write_text(json.dumps(doc))
    return path


def test_verify_with_manifest_uses_the_builds_verify_settings(tmp_path):
    """A suppression and fail_on from the project's profile (recorded in the manifest) apply in CI too."""
    dist = _dist(tmp_path)
    resolved = {"app": {"entry": "app.py"}, "verify": {
        "fail_on": "medium", "suppress": [{"rule": "HN-BUILD-011", "reason": "no report in this test"}]}}
    manifest = _manifest(dist, resolved)
    res = hardnut_cli("verify", str(dist), "--manifest", str(manifest), "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    assert doc["fail_on"] == "medium"
    assert doc["suppressed"] == 1 and "HN-BUILD-011" not in {f["rule"] for f in doc["findings"]}
    # -p still wins over the manifest's settings, and --fail-on over both
    res = hardnut_cli("verify", str(dist), "--manifest", str(manifest), "-p", "ci-verify", "--fail-on", "low",
                      "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["fail_on"] == "low" and "HN-BUILD-011" in {f["rule"] for f in doc["findings"]}


@posix_only
def test_manifest_records_modes_and_flags_a_lost_execute_bit(tmp_path):
    dist = _dist(tmp_path)
    (dist / "lib").mkdir()
    os.symlink("../readme.txt", dist / "lib" / "link.txt")
    manifest = _manifest(dist, {})
    entries = {e["path"]: e for e in json.loads(manifest.read_text())["files"]}
    assert entries["app"]["mode"] == "0755" and entries["readme.txt"]["mode"] == "0644"
    assert entries["lib/link.txt"]["link_target"] == "../readme.txt"
    assert compare(entries.values(), file_records(dist)) == []
    os.chmod(dist / "readme.txt", 0o640)  # a stricter umask on download is not a change
    assert compare(entries.values(), file_records(dist)) == []
    os.chmod(dist / "app", 0o644)  # what an artifact upload/download without an archive does
    res = hardnut_cli("verify", str(dist), "--manifest", str(manifest), "--format", "json")
    assert res.returncode == 1, res.stderr
    found = [f for f in json.loads(res.stdout)["findings"] if f["rule"] == "HN-MAN-001"]
    assert [(f["path"], f["severity"]) for f in found] == [("app", "critical")]
    assert "execute permission was lost" in found[0]["message"]
    os.chmod(dist / "app", 0o755)
    os.chmod(dist / "readme.txt", 0o666)
    assert [f.message for f in compare(entries.values(), file_records(dist))] == [
        "permissions changed since the build (0644 -> 0666): group or others may now write it"]
    os.chmod(dist / "readme.txt", 0o644)
    os.unlink(dist / "lib" / "link.txt")
    os.symlink("../app", dist / "lib" / "link.txt")
    assert [f.message for f in compare(entries.values(), file_records(dist))] == [
        "symlink changed since the build (../readme.txt -> ../app)"]


def test_empty_target_fails(tmp_path):
    empty = tmp_path / "download"
    empty.mkdir()
    res = hardnut_cli("verify", str(empty), "--fail-on", "critical", "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert doc["verdict"] == "fail" and [f["rule"] for f in doc["findings"] if f["severity"] == "critical"] == [
        "HN-WALK-006"]


def test_missing_program_fails_when_the_profile_builds_one(tmp_path):
    dist = tmp_path / "app.dist"
    dist.mkdir()
    (dist / "data.txt").write_text("only data\n")
    profile = tmp_path / "hardnut.toml"
    profile.write_text('[app]\nentry = "app.py"\nname = "app"\n')
    (tmp_path / "app.py").write_text("print(1)\n")
    res = hardnut_cli("verify", str(dist), "-p", str(profile), "--format", "json")
    assert res.returncode == 1, res.stderr
    found = [f for f in json.loads(res.stdout)["findings"] if f["rule"] == "HN-WALK-006"]
    assert found and found[0]["path"].startswith("app") and found[0]["severity"] == "critical"
    # with the program present the rule is quiet
    shutil.copy2(shutil.which("true") or sys.executable, dist / ("app.exe" if os.name == "nt" else "app"))
    res = hardnut_cli("verify", str(dist), "-p", str(profile), "--format", "json")
    assert "HN-WALK-006" not in {f["rule"] for f in json.loads(res.stdout)["findings"]}


def test_write_baseline_exits_0(tmp_path):
    dist = _dist(tmp_path)
    baseline = tmp_path / "baseline.json"
    res = hardnut_cli("verify", str(dist), "--fail-on", "info", "--write-baseline", str(baseline))
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads(baseline.read_text())["findings"]
    # and the baseline then suppresses them
    res = hardnut_cli("verify", str(dist), "--fail-on", "info", "--baseline", str(baseline))
    assert res.returncode == 0, res.stdout


def _imports(module_file: Path) -> set[str]:
    """Every hardnut module a file imports, at top level or inside functions."""
    import ast

    out = set()
    for node in ast.walk(ast.parse(module_file.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hardnut"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("hardnut"))
    return out


def test_manifest_does_not_import_build():
    """Data flows build -> manifest: the manifest module knows nothing of the build pipeline."""
    src = Path(__file__).resolve().parents[1] / "src" / "hardnut"
    assert "hardnut.build" not in _imports(src / "manifest.py")
    assert "hardnut.manifest" in _imports(src / "build.py")


def test_one_verify_many_formats(tmp_path):
    dist = _dist(tmp_path)
    out = {fmt: tmp_path / f"report.{fmt}" for fmt in ("sarif", "markdown", "json")}
    args = [a for fmt, path in out.items() for a in ("--format", fmt, "-o", str(path))]
    res = hardnut_cli("verify", str(dist), *args, "--format", "text", "--fail-on", "info")
    assert res.returncode == 1 and "FAIL" in res.stdout, res.stderr
    doc = json.loads(out["json"].read_text())
    sarif = json.loads(out["sarif"].read_text())
    assert doc["verdict"] == "fail" and sarif["runs"][0]["properties"]["verdict"] == "fail"
    assert "hardnut" in out["markdown"].read_text()
    # the SARIF holds every level that fails (info here)
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {f["rule"] for f in doc["findings"]}
    res = hardnut_cli("verify", str(dist), "--format", "json", "--format", "sarif")
    assert res.returncode == 2 and "at most one --format" in res.stderr
    # each -o belongs to the --format just before it, wherever the stdout format stands
    res = hardnut_cli("verify", str(dist), "--format", "text", "--format", "json", "-o", str(tmp_path / "a.out"),
                      "--format=sarif", "-o" + str(tmp_path / "b.out"))
    assert res.stdout.startswith("hardnut verify") and json.loads((tmp_path / "a.out").read_text())["target"]
    assert json.loads((tmp_path / "b.out").read_text())["version"] == "2.1.0"
    res = hardnut_cli("verify", str(dist), "-o", str(tmp_path / "c.out"), "--format", "json")  # -o first
    assert res.returncode == 0 and json.loads((tmp_path / "c.out").read_text())["verdict"] == "pass"
    res = hardnut_cli("verify", str(tmp_path / "missing"), "--format", "sarif", "-o", str(tmp_path / "x.sarif"))
    assert res.returncode == 2 and res.stderr.count("target not found") == 1 and not (tmp_path / "x.sarif").exists()


def test_report_renders_a_saved_result_without_checking_again(tmp_path):
    dist = _dist(tmp_path)
    saved = tmp_path / "result.json"
    res = hardnut_cli("verify", str(dist), "--format", "json", "-o", str(saved), "--format", "text")
    assert res.returncode == 0, res.stderr
    shutil.rmtree(dist)  # nothing is read again
    out_md, out_sarif = tmp_path / "r.md", tmp_path / "r.sarif"
    res = hardnut_cli("report", str(saved), "--format", "markdown", "-o", str(out_md), "--format", "sarif", "-o",
                      str(out_sarif), "--format", "text")
    assert res.returncode == 0 and "PASS: 2 files" in res.stdout, res.stderr
    assert json.loads(out_sarif.read_text())["runs"][0]["properties"]["verdict"] == "pass"
    res = hardnut_cli("report", str(saved), "--fail-on", "info", "--format", "json")
    assert res.returncode == 1 and json.loads(res.stdout)["findings"] == json.loads(saved.read_text())["findings"]
    (tmp_path / "other.json").write_text('{"hello": 1}')
    res = hardnut_cli("report", str(tmp_path / "other.json"))
    assert res.returncode == 2 and "not a hardnut verify or build JSON result" in res.stderr


def test_action_verifies_once_and_installs_the_fast_engine():
    import re
    import subprocess

    root = Path(__file__).resolve().parents[1]
    text = (root / "action.yml").read_text()
    assert '[build,fast]"' in text
    step = text[text.index("- name: Run hardnut"):text.index("- name: Upload SARIF")]
    script = step.split("run: |\n", 1)[1]
    script = "\n".join(line[8:] for line in script.splitlines())
    assert len(re.findall(r"^\s*hardnut (?:\"\$@\"|verify|report)", script, re.M)) == 2  # report() and build's report
    assert "--format sarif -o \"$sarif\" --format markdown -o \"$summary\"" in script
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n"], input=script, text=True).returncode == 0
