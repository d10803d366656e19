"""Profile loading: good, bad, extends, cycles, every key's validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hardnut.errors import ProfileError
from hardnut.model import Severity
from hardnut.profile import list_templates, load_profile, load_template, merge
from hardnut.profile.schema import SCHEMA, SMOKE_KEYS

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str, name: str = "hardnut.toml") -> Path:
    (tmp_path / "app.py").write_text("print('hi')\n")
    path = tmp_path / name
    path.write_text(text)
    return path


def test_minimal_profile_defaults(tmp_path):
    p = load_profile(write(tmp_path, '[app]\nentry = "app.py"\n'))
    assert p.app.entry == (tmp_path / "app.py").resolve()
    assert p.app.name == "app"
    assert p.app.mode == "standalone"
    assert p.app.output_dir == (tmp_path / "dist").resolve()
    assert p.build.hardening is True and p.build.deployment is True and p.build.allow_downloads is False
    assert p.build.timeout == 3600 and p.build.jobs == 0
    assert p.verify.fail_on == Severity.HIGH
    assert p.verify.smoke.args == ("--help",) and p.verify.smoke.timeout == 30


def test_release_template_chain(tmp_path):
    p = load_profile(write(tmp_path, '[profile]\nextends = "release"\n[app]\nentry = "app.py"\nname = "tool"\n'))
    assert p.build.python_flags == ("no_docstrings", "no_asserts", "isolated", "safe_path")
    assert p.verify.fail_on == Severity.MEDIUM
    assert [Path(c).name for c in p.chain] == ["base.toml", "release.toml", "hardnut.toml"]
    assert "*.env" in p.app.exclude_data  # inherited from base


@pytest.mark.parametrize("template", ["release", "onefile-release", "base"])
def test_templates_keep_certificate_bundles_and_drop_private_keys(tmp_path, template):
    """The templates' exclude_data, applied as Nuitka applies --noinclude-data-files: a CA bundle ships
    (without certifi's cacert.pem, requests cannot verify any HTTPS server: a Nuitka build of a requests app
    with `*.pem` excluded failed its smoke run), private keys by their usual names and .env files do not."""
    from hardnut.source.bundle import excluded_by

    p = load_profile(write(tmp_path, f'[profile]\nextends = "{template}"\n[app]\nentry = "app.py"\nname = "t"\n'))
    for kept in ("certifi/cacert.pem", "pip/_vendor/certifi/cacert.pem", "botocore/cacert.pem",
                 "certs/ca-bundle.pem", "tls/chain.pem", "data/greetings.json", "keyring/cert.pem"):
        assert excluded_by(kept, p.app.exclude_data) is None, kept
    for dropped in ("privkey.pem", "archive/privkey1.pem", "certs/server-key.pem", "tls/key.pem",
                    "ssl/private/server.pem", "client.private.pem", "app.key", "id_rsa", "id_rsa.pub", ".env",
                    "conf/prod.env", "pkg/__pycache__/m.cpython-311.pyc"):
        assert excluded_by(dropped, p.app.exclude_data) is not None, dropped


def test_extends_lists_replaced_tables_merged():
    base = {"build": {"python_flags": ["a", "b"], "jobs": 2}, "verify": {"smoke": {"args": ["x"], "timeout": 5}}}
    over = {"build": {"python_flags": ["c"]}, "verify": {"smoke": {"timeout": 9}}}
    merged = merge(base, over)
    assert merged["build"] == {"python_flags": ["c"], "jobs": 2}
    assert merged["verify"]["smoke"] == {"args": ["x"], "timeout": 9}
    assert base["build"]["python_flags"] == ["a", "b"]  # inputs untouched


def test_extends_relative_path_and_cycle(tmp_path):
    (tmp_path / "team.toml").write_text('[profile]\nextends = "./hardnut.toml"\n[build]\njobs = 3\n')
    path = write(tmp_path, '[profile]\nextends = "./team.toml"\n[app]\nentry = "app.py"\n')
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(path)
    (tmp_path / "team.toml").write_text('[profile]\nextends = "base"\n[build]\njobs = 3\n')
    assert load_profile(path).build.jobs == 3


def test_self_extends_is_a_cycle(tmp_path):
    path = write(tmp_path, '[profile]\nextends = "hardnut.toml"\n[app]\nentry = "app.py"\n')
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(path)


def test_unknown_template(tmp_path):
    with pytest.raises(ProfileError, match="no template named 'nope'"):
        load_profile(write(tmp_path, '[profile]\nextends = "nope"\n[app]\nentry = "app.py"\n'))


@pytest.mark.parametrize("text, message", [
    ('[app]\nentry = "app.py"\nfoo = 1\n', r"unknown key app\.foo \(line 3\)"),
    ('[app]\nentry = "app.py"\n[bogus]\nx = 1\n', r"unknown table \[bogus\] \(line 3\)"),
    ('[app]\nentry = "app.py"\nmode = "folder"\n', "standalone"),
    ('[app]\nentry = "app.py"\n[build]\nhardening = "yes"\n', r"build\.hardening \(line 4\): must be true or false"),
    ('[app]\nentry = "app.py"\n[build]\njobs = "2"\n', "must be an integer"),
    ('[app]\nentry = "app.py"\n[build]\ntimeout = 0\n', "positive"),
    ('[app]\nentry = "app.py"\n[build]\nlto = "maybe"\n', "auto"),
    ('[app]\nentry = "app.py"\n[build]\npython_flags = ["no_secrets"]\n', "unknown flag"),
    ('[app]\nentry = "app.py"\ninclude_packages = ["--include-plugin=evil"]\n', "not a module name"),
    ('[app]\nentry = "app.py"\ninclude_modules = ["os; rm -rf"]\n', "not a module name"),
    ('[app]\nentry = "app.py"\nnofollow = ["a b"]\n', "not a module name"),
    ('[app]\nentry = "app.py"\n[build]\nextra_args = ["--debug"]\n', "refused"),
    ('[app]\nentry = "app.py"\n[build]\nextra_args = ["--unstripped"]\n', "refused"),
    ('[app]\nentry = "app.py"\n[build]\nextra_args = ["--user-plugin=x.py"]\n', "refused"),
    ('[app]\nentry = "app.py"\n[build]\nextra_args = ["--output-dir=/tmp"]\n', "set by the profile"),
    ('[app]\nentry = "app.py"\n[build]\nextra_args = ["--assume-yes-for-downloads"]\n', "set by the profile"),
    ('[app]\nentry = "app.py"\n[build]\nextra_args = ["other.py"]\n', "no positional"),
    ('[app]\nentry = "app.py"\n[build]\nenv = { "A-B" = "x" }\n', "environment variable name"),
    ('[app]\nentry = "app.py"\n[verify]\nfail_on = "severe"\n', "unknown severity"),
    ('[app]\nentry = "app.py"\n[verify]\nsmoke = { argz = [] }\n', "unknown key 'argz'"),
    ('[app]\nentry = "app.py"\n[verify]\nsuppress = [{ rule = "HN-DBG-001" }]\n', "reason"),
    ('[app]\nentry = "app.py"\n[verify.limits]\nmax_files = -1\n', "positive"),
    ('[app]\nentry = "app.py"\n[verify.limits]\nmax_cats = 1\n', "unknown limit"),
    ('[app]\nentry = "app.py"\n[verify]\nrequire_glibc_max = "new"\n', "2.28"),
    ('[app]\nentry = "app.py"\n[verify]\nrequire_macos_min = "Big Sur"\n', "11.0"),
    ('[app]\nentry = "app.py"\n[verify]\nrequire_signed = "yes"\n', "true, false or a list"),
    ('[app]\nentry = "app.py"\n[verify]\nrequire_signed = ["*.exe", 3]\n', "true, false or a list"),
    ('[app]\nentry = "missing.py"\n', "does not exist"),
    ('[app]\nname = "x"\n', "app.entry.*required"),
    ('[app]\nentry = "app.py"\nname = "../evil"\n', "not a valid executable name"),
    ('[app]\nentry = "app.py"\ninclude_data = [{ src = "app.py", dest = "../../etc" }]\n', "stay inside"),
    ('[app]\nentry = "app.py"\ninclude_data = [{ src = "app.py=x", dest = "a" }]\n', "may not contain"),
    ('[app]\nentry = "app.py"\ninclude_data = [{ src = "nope", dest = "a" }]\n', "does not exist"),
    ('[app]\nentry = "app.py"\ninclude_data = ["data"]\n', "src"),
    ('[app\nentry = "app.py"\n', "malformed TOML"),
])
def test_bad_profiles_are_one_clear_error(tmp_path, text, message):
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, text))
    assert re.search(message, str(info.value)), str(info.value)
    assert "\n" not in str(info.value)


def test_signature_and_macos_keys(tmp_path):
    from hardnut.verify import VerifyOptions

    p = load_profile(write(tmp_path, '[app]\nentry = "app.py"\n[verify]\nrequire_macos_min = "11.0"\n'
                                      'require_signed = ["*.exe", "*.dll"]\n'))
    assert p.verify.require_macos_min == "11.0" and p.verify.require_signed == ("*.exe", "*.dll")
    config = VerifyOptions.from_profile(p).config
    assert config.require_macos_min == "11.0" and config.require_signed == ("*.exe", "*.dll")
    assert load_profile(write(tmp_path, '[app]\nentry = "app.py"\n[verify]\nrequire_signed = true\n')
                        ).verify.require_signed == ("*",)
    assert load_profile(write(tmp_path, '[app]\nentry = "app.py"\n')).verify.require_signed == ()


def test_pyproject_tool_table(tmp_path):
    write(tmp_path, '[project]\nname = "x"\n[tool.hardnut.app]\nentry = "app.py"\nmode = "onefile"\n',
          name="pyproject.toml")
    p = load_profile(cwd=tmp_path)
    assert p.app.mode == "onefile"


def test_default_profile_lookup_prefers_hardnut_toml(tmp_path):
    write(tmp_path, '[tool.hardnut.app]\nentry = "app.py"\nmode = "onefile"\n', name="pyproject.toml")
    write(tmp_path, '[app]\nentry = "app.py"\n')
    assert load_profile(cwd=tmp_path).app.mode == "standalone"


def test_no_profile_found(tmp_path):
    with pytest.raises(ProfileError, match="no profile"):
        load_profile(cwd=tmp_path)


def test_suppressions_and_limits(tmp_path):
    p = load_profile(write(tmp_path, '[app]\nentry = "app.py"\n[verify]\nsuppress = [{ rule = "HN-DBG-002", '
                                     'path = "lib*.so*", reason = "vendor lib" }]\n[verify.limits]\nmax_files = 10\n'))
    s = p.verify.suppress[0]
    assert s.matches("HN-DBG-002", "libfoo.so.1", "f") and not s.matches("HN-DBG-002", "app", "f")
    assert p.verify.limits.max_files == 10


def test_every_template_loads_and_describes_itself():
    names = {n for n, _ in list_templates()}
    assert {"base", "release", "onefile-release", "ci-verify", "debug"} <= names
    for name, description in list_templates():
        assert description, name
        load_template(name)
    assert load_template("onefile-release").app.mode == "onefile"
    assert load_template("debug").verify.fail_on == Severity.CRITICAL
    assert "NOT for release" in dict(list_templates())["debug"]


def test_docs_document_every_profile_key():
    readme = (REPO / "docs" / "profile.md").read_text(encoding="utf-8")
    for table, keys in SCHEMA.items():
        for key in keys:
            assert f"`{key}`" in readme, f"docs/profile.md misses {table}.{key}"
    for key in SMOKE_KEYS:
        assert f"`{key}`" in readme, f"docs/profile.md misses verify.smoke.{key}"


@pytest.mark.parametrize("text, message", [
    ('[app]\nentry = "app.py"\n[build]\nenv = { LD_PRELOAD = "./evil.so" }\n', "LD_PRELOAD is refused"),
    ('[app]\nentry = "app.py"\n[build]\nenv = { PYTHONPATH = "." }\n', "PYTHONPATH is refused"),
    ('[app]\nentry = "app.py"\ninclude_data = [{ src = "/etc", dest = "etc" }]\n', "leaves the profile's folder"),
    ('[app]\nentry = "app.py"\ninclude_data = [{ src = "..", dest = "up" }]\n', "leaves the profile's folder"),
])
def test_profile_cannot_reach_outside_or_load_code(tmp_path, text, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(write(tmp_path, text))
