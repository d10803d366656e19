"""hardnut.checks.leftovers on a real Nuitka dist (the payload of a real onefile build), clean and with
one planted leftover of each kind."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hardnut.artifact import onefile
from hardnut.artifact.walk import open_target
from hardnut.checks import leftovers
from hardnut.checks.base import CheckContext, VerifyConfig
from hardnut.model import Severity

from helpers_onefile import nuitka_payload, onefile_build, plant


@pytest.fixture(scope="module")
def real_dist(tmp_path_factory) -> Path:
    """The dist folder Nuitka packed into the real compressed onefile build."""
    dest = tmp_path_factory.mktemp("real") / "app.dist"
    onefile.unpack(onefile_build("compressed").binary, dest)
    return dest


@pytest.fixture()
def dist(real_dist, tmp_path) -> Path:
    copy = tmp_path / "app.dist"
    shutil.copytree(real_dist, copy, symlinks=True)
    return copy


def _findings(target: Path, config: VerifyConfig | None = None) -> list:
    with open_target(target) as art:
        return list(leftovers.run(CheckContext(art, config or VerifyConfig())))


def _write(root: Path, rel: str, data: bytes | str = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def _key(tmp_path: Path, *extra: str) -> bytes:
    out = tmp_path / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", *extra, "-out", str(out)], check=True,
                   capture_output=True)
    data = out.read_bytes()
    out.unlink()
    return data


def test_real_dist_is_clean(real_dist):
    assert _findings(real_dist) == []


def test_real_onefile_is_clean():
    assert _findings(onefile_build("compressed").binary) == []


def test_each_rule_fires_once(dist, tmp_path):
    key = _key(tmp_path)
    assert b"-----BEGIN PRIVATE KEY-----" in key
    cert = subprocess.run(["openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "/dev/null",
                           "-subj", "/CN=hardnut", "-days", "1"], check=True, capture_output=True).stdout
    planted = {
        "HN-LEFT-001": ["app_source.py"],
        "HN-LEFT-002": ["stray.pyc"],
        "HN-LEFT-003": ["pkg/__pycache__/a.cpython-311.pyc", "pkg/__pycache__/b.cpython-311.pyc"],
        "HN-LEFT-004": ["pkg/a.pyi", "pkg/sub/b.pyi"],
        "HN-LEFT-005": ["csrc/module.c", "csrc/helper.cpp"],
        "HN-LEFT-006": ["objs/module.o", "objs/libx.a"],
        "HN-LEFT-007": [".env"],
        "HN-LEFT-008": ["deploy/id_ed25519"],
        "HN-LEFT-009": [".git/HEAD", ".git/objects/ab/cdef0123", ".git/config"],
        "HN-LEFT-010": ["app.build/module.__main__.c", "app.build/scons-debug.py", "app.build/__constants.const"],
        "HN-LEFT-011": ["pkg/tests/test_pkg.py", "pkg/tests/conftest.py", "pkg/tests/data/id_rsa_fixture.txt"],
        "HN-LEFT-012": [".DS_Store"],
        "HN-LEFT-013": [".github/workflows/release.yml"],
    }
    for rule, files in planted.items():
        for rel in files:
            _write(dist, rel, key if rel.endswith("id_ed25519") else b"x")
    _write(dist, "certifi/cacert.pem", cert)  # a CA bundle: fine
    _write(dist, "pkg-1.0.dist-info/RECORD", "pkg/__init__.py,,\n")  # metadata: fine
    findings = _findings(dist)
    by_rule: dict[str, list] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    assert sorted(by_rule) == sorted(planted), [f.to_dict() for f in findings]
    assert all(len(v) == 1 for v in by_rule.values()), {k: [f.path for f in v] for k, v in by_rule.items()}
    got = {k: (v[0].path, v[0].severity.label) for k, v in by_rule.items()}
    assert got == {
        "HN-LEFT-001": ("app_source.py", "medium"),
        "HN-LEFT-002": ("stray.pyc", "medium"),
        "HN-LEFT-003": ("pkg/__pycache__", "medium"),
        "HN-LEFT-004": ("pkg", "info"),
        "HN-LEFT-005": ("csrc", "medium"),
        "HN-LEFT-006": ("objs", "medium"),
        "HN-LEFT-007": (".env", "high"),
        "HN-LEFT-008": ("deploy/id_ed25519", "high"),
        "HN-LEFT-009": (".git", "high"),
        "HN-LEFT-010": ("app.build", "high"),
        "HN-LEFT-011": ("pkg/tests", "low"),
        "HN-LEFT-012": (".DS_Store", "low"),
        "HN-LEFT-013": (".github", "low"),
    }
    assert "(3 files)" in by_rule["HN-LEFT-009"][0].evidence
    assert all(f.category == "leftover" for f in findings)
    assert key.decode().splitlines()[1] not in str([f.to_dict() for f in findings])


def test_key_files_by_content(dist, tmp_path):
    plain_key = _key(tmp_path)
    encrypted = _key(tmp_path, "-aes256", "-pass", "pass:correct-horse")
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    _write(dist, "keys/server.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + plain_key)
    _write(dist, "keys/enc.key", encrypted)
    _write(dist, "keys/opaque.key", os.urandom(48))
    _write(dist, "keys/store.p12", os.urandom(64))
    _write(dist, "home/.netrc", "machine example.com login me password pw\n")
    _write(dist, "conf/.env.example", "API_KEY=\n")
    got = sorted((f.path, f.severity.label) for f in _findings(dist))
    assert got == [("conf/.env.example", "low"), ("home/.netrc", "high"), ("keys/enc.key", "high"),
                   ("keys/opaque.key", "medium"), ("keys/server.pem", "critical"), ("keys/store.p12", "high")]


def test_headers_and_import_libraries_are_low(dist):
    _write(dist, "include/api.h")
    _write(dist, "include/more.hpp")
    _write(dist, "libs/python3.lib")
    got = sorted((f.rule, f.path, f.severity.label) for f in _findings(dist))
    assert got == [("HN-LEFT-005", "include", "low"), ("HN-LEFT-006", "libs", "low")]


def test_folder_droppings_and_build_files(dist):
    _write(dist, ".idea/workspace.xml")
    _write(dist, "notes.txt~")
    _write(dist, ".main.py.swp")
    _write(dist, "scons-report.txt")
    _write(dist, "requirements.txt", "click\n")
    got = sorted((f.rule, f.path) for f in _findings(dist))
    assert got == [("HN-LEFT-010", "scons-report.txt"), ("HN-LEFT-012", ".idea"), ("HN-LEFT-012", ".main.py.swp"),
                   ("HN-LEFT-012", "notes.txt~"), ("HN-LEFT-013", "requirements.txt")]


def test_allow_dirs(dist):
    _write(dist, "pkg/tests/test_x.py")
    _write(dist, "plugins/extra/tool.py")
    config = VerifyConfig(allow_dirs=("pkg/tests", "plugins/*"))
    assert _findings(dist, config) == []
    assert len(_findings(dist)) == 2


def test_many_droppings_are_summarised(dist):
    for i in range(60):
        _write(dist, f"d{i:02}/.DS_Store")
    findings = _findings(dist)
    assert len(findings) == leftovers.MAX_PER_RULE + 1
    assert "10 more files" in findings[-1].message


def test_intended_python_data_file_is_low(dist, tmp_path):
    report = onefile_build("compressed").report.read_text()
    report = report.replace('name="data/greeting.txt"', 'name="data/hook.py"', 1)
    (tmp_path / "app.report.xml").write_text(report)
    _write(dist, "data/hook.py")
    _write(dist, "other.py")
    got = sorted((f.path, f.severity.label) for f in _findings(dist))
    assert got == [("data/hook.py", "low"), ("other.py", "medium")]


def test_leftovers_inside_a_onefile_payload(real_dist, tmp_path):
    dist = tmp_path / "dist"
    shutil.copytree(real_dist, dist, symlinks=True)
    _write(dist, ".env", "TOKEN=x\n")
    _write(dist, ".git/HEAD", "ref: refs/heads/main\n")
    blob = nuitka_payload(dist, "app.bin", compressed=True)
    binary = plant(onefile_build("plain").binary, tmp_path / "app.bin", blob)  # room for a level-3 stream
    got = sorted((f.rule, f.path, f.severity) for f in _findings(binary))
    assert got == [("HN-LEFT-007", "app.bin!/.env", Severity.HIGH), ("HN-LEFT-009", "app.bin!/.git", Severity.HIGH)]
