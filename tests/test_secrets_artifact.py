"""The secrets check on real Nuitka builds of sample_apps/planted (standalone and onefile): every
planted FAKE secret is found with the right rule, module, path and offset; no output shows one in
full; the parts of the dist that are not planted (CPython runtime, stdlib bytecode, extension
modules) give no high or critical secret finding."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hardnut.artifact.walk import open_target
from hardnut.checks import secrets as secrets_check
from hardnut.checks.base import CheckContext, VerifyConfig
from hardnut.limits import Limits
from hardnut.model import Severity, secret_fingerprint
from helpers_secrets import Fakes, check, planted_manifest

PLANTED_FILES = {"config.json", ".env"}


def _run_check(target: Path):
    with open_target(target) as art:
        ctx = CheckContext(art, VerifyConfig())
        findings = list(secrets_check.run(ctx))
        files = {f.relpath: f.fs_path.read_bytes() for f in art.files if f.kind in ("elf", "pe", "data")}
    return findings, files


def _main_relpath(files: dict[str, bytes], prefix: str = "") -> str:
    [main] = [p for p in files if p.startswith(prefix) and p[len(prefix):] in ("planted.bin", "planted.exe", "planted")]
    return main


@pytest.fixture(scope="module")
def standalone(planted_standalone):
    return _run_check(planted_standalone)


def _expect_all_planted(findings, files, prefix: str) -> None:
    main = _main_relpath(files, prefix)
    by_key = {(f.rule, f.path, f.offset): f for f in findings}
    missing = []
    for item in planted_manifest():
        where = item["where"]
        path = main if item["file"] == "@main" else prefix + item["file"]
        data = files[path]
        value = item["value"].encode()
        offset = data.find(value)
        check(offset >= 0 and data.find(value, offset + 1) < 0, f"{where}: planted value not unique in {path}")
        f = by_key.get((item["rule"], path, offset))
        if f is None:
            missing.append(f"{item['rule']} {where} ({path})")
            continue
        check(f.length == len(value), f"{where}: length {f.length} != {len(value)}")
        check(f.module == item["module"], f"{where}: module {f.module} != {item['module']}")
        check(f.category == "secret", f"{where}: category {f.category}")
        check(f.fingerprint == secret_fingerprint(item["rule"], item["value"]), f"{where}: fingerprint")
    check(not missing, "not found: " + "; ".join(missing))


def test_every_planted_secret_found_standalone(standalone):
    findings, files = standalone
    _expect_all_planted(findings, files, "")


def test_clean_parts_have_no_high_findings(standalone):
    findings, files = standalone
    main = _main_relpath(files)
    planted_modules = {i["module"] for i in planted_manifest() if i["module"]}
    bad = []
    for f in findings:
        if f.severity < Severity.HIGH:
            continue
        planted = f.path in PLANTED_FILES or (f.path == main and f.module in planted_modules)
        if not planted:
            bad.append(f"{f.rule} {f.path} offset={f.offset} module={f.module} {f.evidence}")
    assert not bad, bad
    # and the runtime files were really scanned: the dist has CPython's extension modules
    assert sum(1 for p in files if p.endswith(".so") or p.endswith(".pyd")) >= 5


def test_provider_rule_wins_and_file_rules(standalone):
    findings, files = standalone
    env = files[".env"]
    [aws] = [i["value"] for i in planted_manifest() if i["file"] == ".env" and i["rule"] == "HN-SEC-002"]
    at = env.find(aws.encode())
    check(at > 0, "planted .env AWS secret not in the dist's .env")
    assert [f.rule for f in findings if f.path == ".env" and f.offset == at] == ["HN-SEC-002"]
    assert [f.rule for f in findings if f.path == ".env" and f.offset is None] == ["HN-SEC-201"]


def test_no_output_contains_a_secret(standalone, planted_standalone, tmp_path):
    findings, _ = standalone
    values = [i["value"] for i in planted_manifest()]
    texts = [json.dumps([f.to_dict() for f in findings])]
    for fmt in ("text", "json", "sarif", "junit", "markdown"):
        proc = subprocess.run([sys.executable, "-m", "hardnut", "verify", str(planted_standalone), "--format", fmt],
                              capture_output=True, text=True, timeout=900)
        assert proc.returncode in (0, 1), proc.stderr[-2000:]
        texts += [proc.stdout, proc.stderr]
    assert "HN-SEC-003" in texts[1]  # the CLI report includes the secret findings
    for i, text in enumerate(texts):
        for value in values:
            for part in value.split("\n"):
                if len(part) >= 12:
                    check(part[4:] not in text, f"output #{i}: a planted secret appears in full")


def test_every_planted_secret_found_in_onefile(planted_onefile):
    findings, files = _run_check(planted_onefile)
    prefix = planted_onefile.name + "!/"
    assert any(p.startswith(prefix) for p in files), "the onefile payload was not expanded"
    _expect_all_planted(findings, files, prefix)


# -- archives, key files, limits: a small dist assembled here ---------------------------------

def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path.read_bytes()


def test_archives_key_files_and_limits(tmp_path):
    f = Fakes(3)
    token, stripe = f.github(), "sk_live_" + f.text(32)
    dist = tmp_path / "dist"
    (dist / "data").mkdir(parents=True)
    (dist / "data" / "id_rsa").write_text(f.pem("RSA"))
    (dist / "data" / "client.p12").write_bytes(b"\x30\x82\x01\x00" + bytes(64))
    (dist / ".env.example").write_text("GITHUB_TOKEN=\n")
    inner = _zip(tmp_path / "inner.zip", {"conf/.env": f"STRIPE_KEY={stripe}\n".encode()})
    _zip(dist / "data" / "bundle.whl", {"pkg/settings.py": f'TOKEN = "{token}"\n'.encode(), "pkg/inner.zip": inner,
                                        "pkg/bomb.bin": b"\0" * (8 * 1024 * 1024)})
    with open_target(dist) as art:
        findings = list(secrets_check.run(CheckContext(art, VerifyConfig())))
    got = {(x.rule, x.path, x.severity) for x in findings}
    check(("HN-SEC-003", "data/bundle.whl!/pkg/settings.py", Severity.CRITICAL) in got, "token in a wheel")
    check(("HN-SEC-008", "data/bundle.whl!/pkg/inner.zip!/conf/.env", Severity.CRITICAL) in got, "nested archive")
    check(("HN-SEC-201", "data/bundle.whl!/pkg/inner.zip!/conf/.env", Severity.MEDIUM) in got, ".env in archive")
    check(("HN-SEC-300", "data/bundle.whl!/pkg/bomb.bin", Severity.HIGH) in got, "compression-ratio guard")
    check(("HN-SEC-018", "data/id_rsa", Severity.CRITICAL) in got, "PEM key file content")
    check(("HN-SEC-200", "data/id_rsa", Severity.HIGH) in got, "private key file")
    check(("HN-SEC-200", "data/client.p12", Severity.HIGH) in got, "key store")
    check(("HN-SEC-201", ".env.example", Severity.LOW) in got, "dotenv template is low")
    [tok] = [x for x in findings if x.rule == "HN-SEC-003"]
    member = zipfile.ZipFile(dist / "data" / "bundle.whl").read("pkg/settings.py")
    check(member[tok.offset:tok.offset + tok.length] == token.encode(), "offset inside the archive member")

    # nesting deeper than the limit, and a scan limit smaller than a file
    tight = VerifyConfig(limits=Limits(max_archive_depth=1, max_scan_bytes=64))
    with open_target(dist) as art:
        limited = list(secrets_check.run(CheckContext(art, tight)))
    msgs = {(x.rule, x.path) for x in limited}
    check(("HN-SEC-300", "data/bundle.whl!/pkg/inner.zip") in msgs, "depth limit reported")
    check(("HN-SEC-300", "data/id_rsa") in msgs, "scan limit reported")
    check(not any(x.rule == "HN-SEC-008" for x in limited), "nothing scanned beyond the depth limit")


def test_hostile_archive_does_not_raise(tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    good = _zip(tmp_path / "a.zip", {"x.txt": b"hello " * 100})
    (dist / "broken.zip").write_bytes(good[: len(good) // 2])
    (dist / "junk.whl").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with open_target(dist) as art:
        findings = list(secrets_check.run(CheckContext(art, VerifyConfig())))
    assert {x.rule for x in findings} <= {"HN-SEC-300"}
    assert {x.path for x in findings} == {"broken.zip", "junk.whl"}
