"""A team's .gitleaks.toml in hardnut: custom rules (regex, keywords, entropy, secretGroup) and
allowlists (regexes, stopwords, paths) apply to every secret scan - data files, UTF-16LE text,
binaries (verify) and sources (check-source) - via --gitleaks-config or the profile's
[secrets] gitleaks_config; unsupported parts are named, bad configs exit 2 with one line."""

from __future__ import annotations

import json
import shutil
import string
import sys
from pathlib import Path

import pytest

from conftest import hardnut_cli
from hardnut.secrets.engine import Engine
from hardnut.secrets.gitleaks import GitleaksConfigError, go_to_python, load
from helpers_secrets import Fakes

F = Fakes(21)
ACME = "acme_" + F.text(24, string.ascii_lowercase + string.digits)
CORP = "CORP-" + F.text(20, "ABCDEF0123456789")
STRIPE_ALLOWED = "sk_live_AllowListedTestValue" + F.text(20)
STRIPE = "sk_live_" + F.text(30, string.ascii_letters)
NUMKEY = F.text(4, string.digits) + "-ZKEY-" + F.text(12, string.ascii_uppercase)

CONFIG = r"""
title = "team"
[extend]
useDefault = true

[[rules]]
id = "acme-token"
description = "ACME internal service token"
regex = '''(?i)acme[_-]?token\s*[:=]\s*['"]?(acme_[a-z0-9]{24})'''
secretGroup = 1
keywords = ["acme"]
entropy = 3.0
[[rules.allowlists]]
stopwords = ["acme_000"]

[[rules]]
id = "corp-key"
regex = '''CORP-[A-F0-9]{20}'''

[[rules]]
id = "num-key"
regex = '''[0-9]{4}-ZKEY-[A-Z]{12}'''

[[rules]]
id = "pem-files"
path = '''\.pem$'''

[allowlist]
regexes = ['''sk_live_AllowListedTestValue[0-9A-Za-z]+''']
stopwords = ["notasecret"]
paths = ['''(^|/)fixtures/''']
"""


@pytest.fixture()
def config(tmp_path) -> Path:
    p = tmp_path / ".gitleaks.toml"
    p.write_text(CONFIG)
    return p


def test_config_is_read(config):
    cfg = load(config)
    assert [r.id for r in cfg.rules] == ["gitleaks:acme-token", "gitleaks:corp-key", "gitleaks:num-key"]
    assert cfg.rules[0].secret_group == 1 and cfg.rules[0].keywords == (b"acme",)
    assert any("path-only" in n for n in cfg.notes) and any("[extend]" in n for n in cfg.notes)
    assert go_to_python(r"(?i)x[[:alnum:]]+\z") == r"(?i)x[A-Za-z0-9]+\Z"
    assert go_to_python(r"key(?i)abc") == "key(?i:abc)"


def test_bad_configs_are_clear_errors(tmp_path):
    for text, words in (("[[rules]]\nid='x'\nregex='(unclosed'\n", "regex"), ("not toml ===", "TOML"),
                        ("[[rules]]\nid='x'\nregex='a(b)'\nsecretGroup=3\n", "secretGroup")):
        p = tmp_path / "bad.toml"
        p.write_text(text)
        with pytest.raises(GitleaksConfigError, match=words):
            load(p)


def test_engine_applies_rules_and_allowlists(config):
    engine = Engine(gitleaks=load(config))
    text = (f'acme_token = "{ACME}"\nid {CORP}\nstripe {STRIPE_ALLOWED}\nstripe2 {STRIPE}\n'
            f'password = "notasecret{F.text(20)}"\nnum {NUMKEY}\n')
    assert Engine(gitleaks=load(config)).unkeyed  # num-key has no literal prefix: full pass
    got = {(m.rule_id, m.secret) for m in engine.scan_buffer(text.encode())}
    assert got == {("gitleaks:acme-token", ACME), ("gitleaks:corp-key", CORP), ("HN-SEC-008", STRIPE),
                   ("gitleaks:num-key", NUMKEY)}
    wide = {(m.rule_id, m.encoding) for m in engine.scan_buffer(f'acme_token = "{ACME}"'.encode("utf-16-le"))}
    assert wide == {("gitleaks:acme-token", "utf-16le")}
    # streamed in small blocks (keyword-less rules too): same result as one buffer
    import io
    from hardnut.secrets import engine as engine_mod
    old = engine_mod.CHUNK
    try:
        engine_mod.CHUNK = 64
        data = (b"x" * 100 + text.encode()) * 3
        streamed = engine.scan_stream(io.BytesIO(data), len(data)).matches
    finally:
        engine_mod.CHUNK = old
    assert streamed == engine.scan_buffer(data)


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    (dist / "fixtures").mkdir(parents=True)
    (dist / "config.txt").write_text(f'acme_token = "{ACME}"\nstripe {STRIPE_ALLOWED}\n')
    (dist / "fixtures" / "f.txt").write_text(f"{STRIPE}\n")
    (dist / "wide.txt").write_bytes(f"corp key {CORP}".encode("utf-16-le"))
    exe = dist / "tool"  # a real ELF/PE binary with the custom token inside
    shutil.copy(Path(sys.executable).resolve(), exe)
    with open(exe, "ab") as fh:
        fh.write(b"\x00" + f"ACME_TOKEN: {ACME}".encode() + b"\x00")
    return dist


def test_verify_with_gitleaks_config(tmp_path, config):
    dist = _dist(tmp_path)
    res = hardnut_cli("verify", str(dist), "--gitleaks-config", str(config), "--format", "json", "--fail-on", "critical")
    assert res.returncode == 0, res.stderr
    assert "path-only rules are not supported" in res.stderr
    found = {(f["rule"], f["path"]) for f in json.loads(res.stdout)["findings"] if f["category"] == "secret"}
    assert found == {("gitleaks:acme-token", "config.txt"), ("gitleaks:corp-key", "wide.txt"),
                     ("gitleaks:acme-token", "tool")}
    assert ACME not in res.stdout and CORP not in res.stdout and ACME not in res.stderr
    # the same config from the profile key, path relative to the profile
    (tmp_path / "hardnut.toml").write_text('[secrets]\ngitleaks_config = ".gitleaks.toml"\n')
    res2 = hardnut_cli("verify", str(dist), "-p", str(tmp_path / "hardnut.toml"), "--format", "json")
    assert {(f["rule"], f["path"]) for f in json.loads(res2.stdout)["findings"] if f["category"] == "secret"} == found


def test_check_source_with_gitleaks_config(tmp_path, config):
    (tmp_path / "app.py").write_text(f'ACME_TOKEN = "{ACME}"\nprint(1)\n')
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n')
    res = hardnut_cli("check-source", "-p", str(tmp_path / "hardnut.toml"), "--gitleaks-config", str(config),
                      "--format", "json")
    rules = [f["rule"] for f in json.loads(res.stdout)["findings"]]
    assert "gitleaks:acme-token" in rules and ACME not in res.stdout


def test_bad_config_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nid='x'\nregex='(unclosed'\n")
    res = hardnut_cli("verify", str(tmp_path), "--gitleaks-config", str(bad))
    assert res.returncode == 2 and "gitleaks config" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_rules_lists_secret_rules_with_provider_and_example():
    res = hardnut_cli("rules", "--category", "secret", "--format", "json")
    rows = json.loads(res.stdout)
    assert rows and all(r["category"] == "secret" for r in rows)
    assert all(r["example"] for r in rows if r["id"] < "HN-SEC-200")
    assert {"GitHub", "GitLab", "Shopify", "Databricks"} <= {r.get("provider") for r in rows}
    text = hardnut_cli("rules", "--category", "secret").stdout
    assert "glrt-" in text and "HN-SEC-100" in text
    assert hardnut_cli("rules", "--category", "nope").returncode == 2
