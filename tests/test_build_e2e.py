"""A real hardened Nuitka build of sample_apps/hello through `hardnut build`, then run and inspected."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from conftest import SAMPLES, hardnut_cli

pytestmark = pytest.mark.nuitka


@pytest.fixture(scope="module")
def hello_build(tmp_path_factory):
    work = tmp_path_factory.mktemp("hello") / "hello-release"
    shutil.copytree(SAMPLES / "hello", work, ignore=shutil.ignore_patterns("dist", "*.build", "__pycache__"))
    (work / "dist").mkdir()
    (work / "dist" / "NOTES.txt").write_text("not hardnut's: must survive every build\n")
    res = hardnut_cli("build", "--format", "json", "-o", str(work / "result.json"), cwd=work)
    assert res.returncode == 0, res.stderr[-3000:]
    return work, json.loads((work / "result.json").read_text())


def _elf_facts(path: Path) -> dict:
    with open(path, "rb") as fh:
        elf = ELFFile(fh)
        segments = [s["p_type"] for s in elf.iter_segments()]
        flags = flags1 = 0
        symbols = set()
        for section in elf.iter_sections():
            if isinstance(section, DynamicSection):
                for tag in section.iter_tags():
                    if tag.entry.d_tag == "DT_FLAGS":
                        flags = tag.entry.d_val
                    elif tag.entry.d_tag == "DT_FLAGS_1":
                        flags1 = tag.entry.d_val
            if section.name == ".dynsym":
                symbols = {s.name for s in section.iter_symbols()}
        return {"relro": "PT_GNU_RELRO" in segments, "bind_now": bool(flags & 0x8) or bool(flags1 & 0x1),
                "symbols": symbols, "stack": [s for s in elf.iter_segments() if s["p_type"] == "PT_GNU_STACK"]}


def test_build_result_json(hello_build):
    work, doc = hello_build
    artifact, dist = Path(doc["artifact"]), Path(doc["dist"])
    assert artifact == (work / "dist" / "hello.dist" / "hello").resolve()
    assert dist == artifact.parent and artifact.is_file()
    smoke = dict(doc["smoke"])
    # the smoke run's wall and CPU time: the app's own (scripts/bench_build.py reports hardnut's CPU without it)
    assert smoke.pop("seconds") > 0 and smoke.pop("cpu_seconds") > 0
    assert smoke == {"ran": True, "exit_code": 0, "ok": True}
    # the compile's wall and CPU time (Nuitka's process tree: turning the standard library into C takes seconds)
    assert doc["seconds"] > 0 and doc["cpu_seconds"] > 1.0
    assert doc["verify"]["target"] == str(dist)
    assert doc["verdict"] == "pass", json.dumps(doc["verify"]["findings"][:10], indent=1)
    assert Path(doc["manifest"]).is_file() and Path(doc["report"]).is_file()
    leftovers = [p.name for p in (work / "dist").iterdir()]
    assert sorted(leftovers) == sorted(["hello.dist", "hello.report.xml", "hello.hardnut.json", "NOTES.txt"]
                                       + ([Path(doc["sbom"]).name] if doc.get("sbom") else []))


def test_built_program_runs(hello_build):
    _, doc = hello_build
    out = subprocess.run([doc["artifact"], "nut", "--lang", "de"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert out.returncode == 0 and out.stdout.strip() == "<p>Hallo nut!</p>"
    out = subprocess.run([doc["artifact"], "--check"], capture_output=True, text=True, timeout=60)
    assert "speedups=yes" in out.stdout  # the C extension was bundled and loads


def test_hardened_elf(hello_build):
    _, doc = hello_build
    facts = _elf_facts(Path(doc["artifact"]))
    assert facts["relro"] and facts["bind_now"], "full RELRO"
    assert "__stack_chk_fail" in facts["symbols"], "stack canary"
    assert any(s.endswith("_chk") and s.startswith("__") and s != "__stack_chk_fail" for s in facts["symbols"]), \
        "FORTIFY"
    assert facts["stack"] and not facts["stack"][0]["p_flags"] & 0x1, "non-executable stack"


def test_no_docstrings_in_release(hello_build):
    _, doc = hello_build
    data = Path(doc["artifact"]).read_bytes()
    assert b"This docstring must not survive a release build" not in data
    assert b"Greet someone, HTML-escaped." in data  # ordinary constants are there


def test_manifest_matches_artifact(hello_build):
    work, doc = hello_build
    manifest = json.loads(Path(doc["manifest"]).read_text())
    assert manifest["tool"]["name"] == "hardnut" and manifest["verification"]["verdict"] == "pass"
    by_path = {f["path"]: f for f in manifest["files"]}
    exe = Path(doc["artifact"])
    assert by_path["hello"]["sha256"] == hashlib.sha256(exe.read_bytes()).hexdigest()
    res = hardnut_cli("verify", doc["dist"], "--manifest", doc["manifest"], "--format", "json")
    assert not [f for f in json.loads(res.stdout)["findings"] if f["rule"] == "HN-MAN-001"]


def test_failed_rebuild_keeps_last_good_artifact(hello_build):
    work, doc = hello_build
    exe = Path(doc["artifact"])
    before = hashlib.sha256(exe.read_bytes()).hexdigest()
    entry = work / "hello.py"
    good = entry.read_text()
    try:
        entry.write_text(good + "\ndef broken(:\n")
        res = hardnut_cli("build", cwd=work)
        assert res.returncode == 3, res.stderr[-2000:]
        assert "build failed" in res.stderr and "last lines" in res.stderr
    finally:
        entry.write_text(good)
    assert hashlib.sha256(exe.read_bytes()).hexdigest() == before
    assert (work / "dist" / "NOTES.txt").is_file()
    assert not [p for p in (work / "dist").iterdir() if p.name.startswith(".hardnut-build-")]


def test_timeout_stops_the_build(hello_build):
    work, doc = hello_build
    profile = work / "slow.toml"
    profile.write_text('[profile]\nextends = "hardnut.toml"\n[build]\ntimeout = 2\n[app]\noutput_dir = "dist2"\n')
    res = hardnut_cli("build", "-p", str(profile), cwd=work, timeout=120)
    assert res.returncode == 3 and "did not finish within 2 s" in res.stderr
    leftovers = list((work / "dist2").iterdir()) if (work / "dist2").exists() else []
    assert leftovers == []
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(work / "dist2") not in ps  # no Nuitka/scons process of that build survives
