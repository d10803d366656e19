"""The build manifest catches one changed byte, one added and one removed file (real standalone build)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import hardnut_cli
from hardnut.manifest import compare, file_records, read_manifest

pytestmark = pytest.mark.nuitka


@pytest.fixture
def copy_and_manifest(planted_standalone, tmp_path):
    dist = planted_standalone
    manifest = next(dist.parent.glob("*.hardnut.json"))
    copy = tmp_path / dist.name
    shutil.copytree(dist, copy, symlinks=True)
    return copy, manifest


def _tamper(copy: Path) -> tuple[str, str, str]:
    """Flip one byte in the middle of the largest ELF, add a file, remove a shared library."""
    elves = sorted((p for p in copy.rglob("*") if p.is_file() and p.read_bytes()[:4] == b"\x7fELF"),
                   key=lambda p: -p.stat().st_size)
    changed, removed = elves[0], elves[-1]
    raw = bytearray(changed.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    changed.write_bytes(bytes(raw))
    removed.unlink()
    (copy / "added.txt").write_text("not built by hardnut\n")
    rel = lambda p: p.relative_to(copy).as_posix()  # noqa: E731
    return rel(changed), "added.txt", rel(removed)


def test_compare_finds_changed_added_removed(copy_and_manifest):
    copy, manifest = copy_and_manifest
    expected = read_manifest(manifest)["files"]
    assert compare(expected, file_records(copy)) == []  # an exact copy matches
    changed, added, removed = _tamper(copy)
    findings = compare(expected, file_records(copy))
    got = {f.path: f.message for f in findings}
    assert set(got) == {changed, added, removed}
    assert got[changed].startswith("file changed since the build (size ")
    assert got[added].startswith("file not in the manifest was added")
    assert got[removed] == "file listed in the manifest is missing from the artifact"
    assert {f.rule for f in findings} == {"HN-MAN-001"} and all(f.severity.label == "critical" for f in findings)


def test_verify_manifest_cli(copy_and_manifest):
    copy, manifest = copy_and_manifest
    res = hardnut_cli("verify", str(copy), "--manifest", str(manifest), "--format", "json", timeout=600)
    assert res.returncode in (0, 1), res.stderr
    got = json.loads(res.stdout)
    assert not [f for f in got["findings"] if f["rule"] == "HN-MAN-001"]
    # the manifest's recorded settings give the verdict the project's own profile gives (not the defaults)
    profile = Path(__file__).resolve().parents[1] / "sample_apps" / "planted" / "hardnut.toml"
    res = hardnut_cli("verify", str(copy), "-p", str(profile), "--format", "json", timeout=600)
    want = json.loads(res.stdout)
    assert (got["verdict"], got["fail_on"], got["counts"], got["suppressed"]) == \
        (want["verdict"], want["fail_on"], want["counts"], want["suppressed"])
    assert all(e.get("mode") for e in read_manifest(manifest)["files"] if "!/" not in e["path"]
               and e["format"] != "symlink")
    changed, added, removed = _tamper(copy)
    res = hardnut_cli("verify", str(copy), "--manifest", str(manifest), "--format", "json", timeout=600)
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert {f["path"] for f in doc["findings"] if f["rule"] == "HN-MAN-001"} == {changed, added, removed}
    assert doc["verdict"] == "fail"


def test_unusable_manifest_is_exit_2(copy_and_manifest, tmp_path):
    copy, _ = copy_and_manifest
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"tool": {"name": "other"}, "files": []}))
    res = hardnut_cli("verify", str(copy), "--manifest", str(bogus))
    assert res.returncode == 2 and "not a hardnut manifest" in res.stderr and "Traceback" not in res.stderr
