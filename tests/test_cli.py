"""The command line's contract: commands, exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import os
import pytest

from conftest import hardnut_cli


def test_profiles_and_init(tmp_path):
    res = hardnut_cli("profiles")
    assert res.returncode == 0
    names = [line.split()[0] for line in res.stdout.splitlines()]
    assert {"base", "release", "onefile-release", "ci-verify", "debug"} <= set(names)
    res = hardnut_cli("init", "--template", "onefile-release", "--entry", "tool.py", str(tmp_path))
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "hardnut.toml").read_text()
    assert 'extends = "onefile-release"' in text and 'entry = "tool.py"' in text
    res = hardnut_cli("init", str(tmp_path))
    assert res.returncode == 2 and "exists" in res.stderr and "Traceback" not in res.stderr
    res = hardnut_cli("init", "--template", "nope", str(tmp_path / "x.toml"))
    assert res.returncode == 2 and "no template" in res.stderr


def test_init_output_loads_and_dry_runs(tmp_path):
    (tmp_path / "tool.py").write_text("print('x')\n")
    assert hardnut_cli("init", "--entry", "tool.py", cwd=tmp_path).returncode == 0
    res = hardnut_cli("build", "--dry-run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "-m nuitka" in res.stdout and "--python-flag=no_docstrings" in res.stdout
    assert "LDFLAGS='-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack'" in res.stdout
    assert res.stdout.rstrip().endswith("< /dev/null")
    res = hardnut_cli("build", "--dry-run", "--format", "json", cwd=tmp_path)
    doc = json.loads(res.stdout)
    assert doc["argv"][1:3] == ["-m", "nuitka"] and "CFLAGS" in doc["env"]


def test_doctor_lists_every_tool():
    res = hardnut_cli("doctor")
    names = [line.split()[0] for line in res.stdout.splitlines() if line and not line.startswith(" ")]
    assert names == ["python", "nuitka", "c-compiler", "patchelf", "ccache", "zstandard"]
    assert res.returncode in (0, 2)


def test_rules_and_explain():
    res = hardnut_cli("rules", "--format", "json")
    rules = json.loads(res.stdout)
    assert rules and all(r["explanation"] and r["category"] for r in rules)
    first = rules[0]["id"]
    res = hardnut_cli("explain", first.lower())
    assert res.returncode == 0 and first in res.stdout
    res = hardnut_cli("explain", "HN-NOPE-999")
    assert res.returncode == 2 and "no rule" in res.stderr
    res = hardnut_cli("explain", rules[1]["id"], first)  # several at once, in the order given
    assert res.returncode == 0 and res.stdout.index(rules[1]["id"]) < res.stdout.index(f"\n{first}:")
    res = hardnut_cli("explain", first, "HN-NOPE-999")  # all or nothing
    assert res.returncode == 2 and not res.stdout


@pytest.mark.parametrize("profile_text, message", [
    ("[app\n", "malformed TOML"),
    ('[app]\nentry = "app.py"\ncolour = "red"\n', "unknown key app.colour"),
])
def test_bad_profile_exit_2_one_line(tmp_path, profile_text, message):
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "hardnut.toml").write_text(profile_text)
    res = hardnut_cli("build", cwd=tmp_path)
    assert res.returncode == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_project_options_refused_before_building(tmp_path):
    (tmp_path / "app.py").write_text("# nuitka-project-if: __import__('os').system('id') == 0:\nprint(1)\n")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n')
    res = hardnut_cli("build", cwd=tmp_path)
    assert res.returncode == 2 and "app.py:1" in res.stderr and "allow_project_options" in res.stderr
    assert not (tmp_path / "dist").exists()


def test_refuses_to_replace_foreign_output(tmp_path):
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n')
    (tmp_path / "dist" / "app.dist").mkdir(parents=True)
    (tmp_path / "dist" / "app.dist" / "precious.txt").write_text("mine")
    res = hardnut_cli("build", cwd=tmp_path)
    assert res.returncode == 2 and "not made by hardnut" in res.stderr
    assert (tmp_path / "dist" / "app.dist" / "precious.txt").read_text() == "mine"


def test_verify_missing_target_exit_2(tmp_path):
    res = hardnut_cli("verify", str(tmp_path / "nope"))
    assert res.returncode == 2 and "not found" in res.stderr and "Traceback" not in res.stderr


def test_verify_clean_folder_formats(tmp_path):
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "README.txt").write_text("hello\n")
    for fmt in ("text", "json", "sarif", "junit", "markdown"):
        out = tmp_path / f"report.{fmt}"
        res = hardnut_cli("verify", str(tmp_path / "art"), "--format", fmt, "-o", str(out))
        assert res.returncode == 0, res.stderr
        assert out.read_text()
    doc = json.loads((tmp_path / "report.json").read_text())
    assert doc["verdict"] == "pass" and doc["fail_on"] == "high"
    assert doc["files"][0]["path"] == "README.txt" and len(doc["files"][0]["sha256"]) == 64
    sarif = json.loads((tmp_path / "report.sarif").read_text())
    assert sarif["version"] == "2.1.0"


def test_verify_exit_1_and_baseline(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    os.symlink("/etc/passwd", art / "passwd")
    res = hardnut_cli("verify", str(art), "--format", "json")
    doc = json.loads(res.stdout)
    assert res.returncode == 1 and doc["verdict"] == "fail"
    assert any(f["rule"] == "HN-WALK-001" and f["severity"] == "high" for f in doc["findings"])
    base = tmp_path / "baseline.json"
    hardnut_cli("verify", str(art), "--write-baseline", str(base))
    res = hardnut_cli("verify", str(art), "--baseline", str(base), "--format", "json")
    assert res.returncode == 0 and json.loads(res.stdout)["suppressed"] >= 1
    res = hardnut_cli("verify", str(art), "--fail-on", "critical")
    assert res.returncode == 0
    (tmp_path / "bad.json").write_text("{")
    res = hardnut_cli("verify", str(art), "--baseline", str(tmp_path / "bad.json"))
    assert res.returncode == 2 and "baseline" in res.stderr


def test_output_file_not_half_written(tmp_path):
    out = tmp_path / "no-such-dir-is-a-file"
    out.write_text("x")
    res = hardnut_cli("verify", str(tmp_path), "-o", str(out / "report.json"))
    assert res.returncode == 2 and "cannot write" in res.stderr
    assert out.read_text() == "x"
