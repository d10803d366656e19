"""check-source: the planted_source sample, hostile sources, bundled-data rules (against a real Nuitka
build), masking, the CLI command and the build pre-check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import SAMPLES, hardnut_cli
from hardnut.checks.source import check_source, source_result
from hardnut.profile import load_profile
from hardnut.source.ast_checks import analyze
from hardnut.source.bundle import would_bundle

SAMPLE = SAMPLES / "planted_source"
# the FAKE secrets planted in the sample (never printed by hardnut, only by this test on failure)
PLANTED_SECRETS = ("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", "sk_live_Cy6wG0dSx7TcceLnndf8S99Bkxd01evu",
                   "FKZ6KIg1X8YTl5vfy1qngXyA")
EXCLUDED_SECRET = "AKIAU6XPWTH3UQUKQTCG"  # in data/private/, which exclude_data drops


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def sample(tmp_path) -> Path:
    app = tmp_path / "app"
    shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    return app


def found(profile) -> set[tuple[str, str, object]]:
    return {(f.rule, f.path, f.line) for f in check_source(profile)}


# ------------------------------------------------------------------------------------------- the sample


def test_planted_sample_every_finding_at_its_line():
    app = SAMPLE / "app.py"
    expected = {
        ("HN-SEC-003", "app.py", line_of(app, "GITHUB_TOKEN =")),
        ("HN-SEC-008", "data/settings.json", line_of(SAMPLE / "data" / "settings.json", "sk_live_")),
        ("HN-SEC-020", "data/.env", line_of(SAMPLE / "data" / ".env", "DATABASE_URL")),
        ("HN-SRC-005", "app.py", line_of(app, "# nuitka-project:")),
        ("HN-SRC-010", "data/.env", None),
        ("HN-SRC-021", "requirements.txt", 2), ("HN-SRC-021", "requirements.txt", 3),
        ("HN-SRC-020", "requirements.txt", 2),
        ("HN-SRC-002", "plugins/loader.py", line_of(SAMPLE / "plugins" / "loader.py", "spec_from_file_location")),
        ("HN-SRC-003", "app.py", line_of(app, "return eval(")),
        ("HN-SRC-004", "app.py", line_of(app, "sys.path.insert")),
        ("HN-SRC-001", "app.py", line_of(app, 'import_module(f"plugins')),
        ("HN-SRC-001", "app.py", line_of(app, "return __import__(name)")),
        ("HN-SRC-022", "app.py", line_of(app, "import markupsafe")),
    }
    assert found(load_profile(SAMPLE / "hardnut.toml")) == expected


def test_literal_imports_and_literal_eval_are_fine():
    facts = analyze(b'import importlib\nimportlib.import_module("json")\n__import__("csv")\neval("1 + 1")\n'
                    b'importlib.import_module("." + "sub", package="pkg")\n')
    assert [u.literal for u in facts.dynamic_imports] == ["json", "csv", "pkg.sub"]
    assert facts.code_exec == [] and set(facts.imports) == {"importlib", "json", "csv", "pkg"}


def test_aliases_shadowing_and_import_state_variants():
    src = b"""
import importlib as il
from importlib import import_module as load
from sys import path as search_path
import sys, site
il.import_module(name)
load(prefix + name)
search_path.append(folder)
sys.path[:0] = [folder]
sys.path += [folder]
sys.meta_path.insert(0, finder)
site.addsitedir(folder)
def eval(x):
    return x
eval(user_input)
exec(code, {})
"""
    facts = analyze(src)
    assert [(u.line, u.what, u.detail) for u in facts.dynamic_imports] == [
        (6, "importlib.import_module", "name"), (7, "importlib.import_module", "<expression>")]
    assert [(u.line, u.what) for u in facts.import_state] == [
        (8, "sys.path.append"), (9, "sys.path[…] = …"), (10, "sys.path += …"), (11, "sys.meta_path.insert"),
        (12, "site.addsitedir")]
    assert [(u.line, u.what, u.detail) for u in facts.code_exec] == [(16, "exec", "code")]  # eval is shadowed


@pytest.mark.parametrize("content, message", [
    (b"def broken(:\n    pass\n", "does not parse: invalid syntax"),
    (b"x = 1\n\x00\n", "does not parse: source code string cannot contain null bytes"),
    (b"x = " + b"(" * 300 + b")" * 300 + b"\n", "does not parse: too many nested parentheses"),
    (b"x = " + b"-" * 200_000 + b"1\n", "does not parse: nesting too deep to parse"),
    (b"# -*- coding: utf-8 -*-\nname = '\xff\xfe'\n", "does not parse: (unicode error)"),
    (b"# -*- coding: no-such-codec -*-\n", "does not parse: unknown encoding"),
])
def test_hostile_sources_become_findings(sample, content, message):
    (sample / "plugins" / "hostile.py").write_bytes(content)
    findings = [f for f in check_source(load_profile(sample / "hardnut.toml")) if f.path == "plugins/hostile.py"]
    assert [f.rule for f in findings] == ["HN-SRC-006"]
    assert findings[0].message.startswith(message), findings[0].message
    assert findings[0].line is not None


def test_huge_source_is_reported_not_parsed(sample):
    from hardnut.checks import source

    big = sample / "plugins" / "huge.py"
    big.write_bytes(b"x = 1\n" * (source.MAX_PARSE_BYTES // 6 + 1))
    findings = [f for f in check_source(load_profile(sample / "hardnut.toml")) if f.path == "plugins/huge.py"]
    assert [f.rule for f in findings] == ["HN-SRC-006"] and "too large to parse" in findings[0].message


# ------------------------------------------------------------------------------------------- bundled data


def test_exclude_data_is_honoured(sample):
    profile = load_profile(sample / "hardnut.toml")
    assert not [f for f in check_source(profile) if "private" in f.path]
    text = (sample / "hardnut.toml").read_text().replace('exclude_data = ["data/private", "*.bak"]',
                                                        'exclude_data = ["*.bak"]')
    (sample / "hardnut.toml").write_text(text)
    hits = [f for f in check_source(load_profile(sample / "hardnut.toml")) if f.path == "data/private/notes.txt"]
    assert [f.rule for f in hits] == ["HN-SEC-001"] and hits[0].line == 2


def test_vcs_folders_and_key_files(sample):
    data = sample / "data"
    (data / ".git" / "objects").mkdir(parents=True)
    (data / ".git" / "config").write_text('[remote "origin"]\n\turl = https://example.invalid/x.git\n')
    (data / ".git" / "objects" / "ab").write_bytes(b"x" * 10)
    (data / "keys").mkdir()
    (data / "keys" / "id_ed25519").write_text("not even a key: the name alone is enough\n")
    (data / "keys" / "id_ed25519.pub").write_text("ssh-ed25519 AAAA public\n")
    (data / "keys" / "server.pem").write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    (data / "keys" / "ca-bundle.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    (data / ".env.example").write_text("DATABASE_URL=\n")
    (data / "Store.P12").write_bytes(b"\x30\x82")
    profile = load_profile(sample / "hardnut.toml")
    got = {(f.rule, f.path) for f in check_source(profile) if f.rule in ("HN-SRC-010", "HN-SRC-011")}
    assert got == {("HN-SRC-011", "data/.git"), ("HN-SRC-010", "data/.env"), ("HN-SRC-010", "data/keys/id_ed25519"),
                   ("HN-SRC-010", "data/keys/server.pem"), ("HN-SRC-010", "data/Store.P12")}
    vcs = [f for f in check_source(profile) if f.rule == "HN-SRC-011"][0]
    assert vcs.message.startswith("2 files of this .git folder would be bundled as data/.git/")
    text = (sample / "hardnut.toml").read_text().replace('"*.bak"]', '"*.bak", "data/.git", "*.pem"]')
    (sample / "hardnut.toml").write_text(text)
    got = {(f.rule, f.path) for f in check_source(load_profile(sample / "hardnut.toml"))}
    assert ("HN-SRC-011", "data/.git") not in got and ("HN-SRC-010", "data/keys/server.pem") not in got


@pytest.mark.nuitka
def test_bundle_prediction_matches_a_real_nuitka_build():
    """would_bundle() predicts exactly the data files Nuitka put into the dist: skipped suffixes, folders
    and names, versioned .so, .git kept, exclude_data globs and folders, single files of any suffix."""
    from helpers_source_build import source_build

    build = source_build()
    shipped = {p.relative_to(build.dist).as_posix() for top in ("data", "extra")
               for p in (build.dist / top).rglob("*") if p.is_file()}
    predicted = {f.dest for f in would_bundle(build.profile.app.include_data, build.profile.app.exclude_data).files}
    assert shipped == predicted
    assert "data/.git/config" in shipped and "extra/plugin_source.py" in shipped and "data/UPPER.PY" in shipped
    assert not {"data/skip.py", "data/libfoo.so.1.2", "data/sub/notes.bak", "data/private/notes.txt"} & shipped


# ------------------------------------------------------------------------------------------- output


def test_no_secret_in_any_format(tmp_path):
    for fmt in ("text", "json", "sarif", "junit", "markdown"):
        out = tmp_path / f"report.{fmt}"
        res = hardnut_cli("check-source", "-p", str(SAMPLE / "hardnut.toml"), "--format", fmt, "-o", str(out))
        assert res.returncode == 1, res.stderr
        text = out.read_text(encoding="utf-8") + res.stdout + res.stderr
        leaked = [s[:4] for s in PLANTED_SECRETS + (EXCLUDED_SECRET,) if s in text]
        assert not leaked, f"{fmt}: secrets starting with {leaked} printed in full"
    doc = json.loads((tmp_path / "report.json").read_text())
    token = [f for f in doc["findings"] if f["rule"] == "HN-SEC-003"][0]
    assert token["evidence"] == "ghp_…(40 chars)" and token["line"] == line_of(SAMPLE / "app.py", "GITHUB_TOKEN")
    assert doc["target"] == str(SAMPLE) and doc["verdict"] == "fail"
    assert {f["path"] for f in doc["files"]} >= {"app.py", "plugins/loader.py", "data/settings.json",
                                                  "requirements.txt"}


def test_cli_exit_codes_and_fail_on(tmp_path):
    res = hardnut_cli("check-source", "--format", "json", cwd=SAMPLES / "hello")
    assert res.returncode == 0, res.stderr
    assert [f["rule"] for f in json.loads(res.stdout)["findings"]] == ["HN-SRC-022"]  # markupsafe, low
    res = hardnut_cli("check-source", "--fail-on", "low", cwd=SAMPLES / "hello")
    assert res.returncode == 1 and "HN-SRC-022" in res.stdout
    res = hardnut_cli("check-source", "-p", str(tmp_path / "missing.toml"))
    assert res.returncode == 2 and "profile not found" in res.stderr and "Traceback" not in res.stderr
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "gone.py"\n')
    res = hardnut_cli("check-source", cwd=tmp_path)
    assert res.returncode == 2 and "gone.py does not exist" in res.stderr


def test_suppressions_apply(sample):
    with open(sample / "hardnut.toml", "a") as fh:
        fh.write('suppress = [{ rule = "HN-SRC-001", path = "app.py", reason = "plugins listed in include_packages" }]\n')
    result = source_result(load_profile(sample / "hardnut.toml"))
    assert result.suppressed == 2 and not [f for f in result.findings if f.rule == "HN-SRC-001"]


def test_build_stops_on_source_findings(sample):
    app = sample / "app.py"
    app.write_text(app.read_text().replace("# nuitka-project: --include-package=plugins\n", ""))
    res = hardnut_cli("build", cwd=sample, timeout=120)
    assert res.returncode == 1, res.stderr[-2000:]
    assert "check-source: " in res.stderr and "the build was stopped" in res.stderr
    assert "Nuitka was stopped" not in res.stderr  # the reason is reported, not the stop
    assert "HN-SEC-003" in res.stderr and "ghp_T86D" not in res.stderr
    assert not (sample / "dist").exists() or not any((sample / "dist").iterdir())


def test_fifos_and_dangling_links_do_not_block(sample):
    import os

    os.mkfifo(sample / "plugins" / "pipe.py")
    os.mkfifo(sample / "data" / "pipe.json")
    (sample / "data" / "dangling.txt").symlink_to(sample / "nowhere")
    (sample / "requirements.txt").unlink()
    os.mkfifo(sample / "requirements.txt")
    res = hardnut_cli("check-source", "--format", "json", cwd=sample, timeout=60)
    assert res.returncode == 1, res.stderr
    got = {(f["rule"], f["path"]) for f in json.loads(res.stdout)["findings"]}
    assert {("HN-SRC-012", "plugins/pipe.py"), ("HN-SRC-012", "data/pipe.json"), ("HN-SRC-012", "data/dangling.txt"),
            ("HN-SRC-021", "hardnut.toml")} <= got  # the FIFO requirements.txt is not taken as one
