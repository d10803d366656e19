"""The profile -> Nuitka argv/environment mapping, key by key (pure functions, no build)."""

from __future__ import annotations

from pathlib import Path

from hardnut.nuitka.argv import hardening_env, nuitka_command, produced_paths, toolchain
from hardnut.nuitka.project_options import scan_app
from hardnut.profile import load_profile

BUILD = Path("/tmp/out/.hardnut-build-x/nuitka")


def profile(tmp_path: Path, body: str):
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "cfg.json").write_text("{}")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n' + body)
    return load_profile(tmp_path / "hardnut.toml")


def cmd(p, platform="linux", env=None):
    return nuitka_command(p, python="/py", build_dir=BUILD, platform=platform, base_env=env or {})


def test_defaults(tmp_path):
    c = cmd(profile(tmp_path, ""))
    argv = list(c.argv)
    assert argv[:3] == ["/py", "-m", "nuitka"]
    assert "--mode=standalone" in argv
    assert f"--output-dir={BUILD}" in argv
    assert "--output-filename=app" in argv
    assert f"--report={BUILD}/app.report.xml" in argv
    assert "--update-check=never" in argv and "--deployment" in argv and "--lto=auto" in argv
    assert "--assume-yes-for-downloads" not in argv and c.stdin_devnull
    assert not any(a.startswith("--jobs") for a in argv)
    assert argv[-1] == str(tmp_path / "app.py")
    env = dict(c.env)
    assert "-fstack-protector-strong" in env["CFLAGS"] and "-D_FORTIFY_SOURCE=2" in env["CFLAGS"]
    assert env["LDFLAGS"] == "-Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack"


def test_every_app_key(tmp_path):
    p = profile(tmp_path, 'name = "tool"\nmode = "onefile"\ninclude_packages = ["pkg.sub"]\n'
                          'include_modules = ["mod"]\ninclude_data = [{ src = "data", dest = "share/data" }, '
                          '{ src = "cfg.json", dest = "cfg.json" }]\nexclude_data = ["*.env"]\n'
                          'nofollow = ["tests.*"]\nonefile_tempdir = "{CACHE_DIR}/tool/{VERSION}"\n')
    argv = list(cmd(p).argv)
    assert "--mode=onefile" in argv and "--output-filename=tool" in argv
    assert "--include-package=pkg.sub" in argv and "--include-module=mod" in argv
    assert f"--include-data-dir={tmp_path / 'data'}=share/data" in argv
    assert f"--include-data-files={tmp_path / 'cfg.json'}=cfg.json" in argv
    assert "--noinclude-data-files=*.env" in argv
    assert "--nofollow-import-to=tests.*" in argv
    assert "--onefile-tempdir-spec={CACHE_DIR}/tool/{VERSION}" in argv


def test_every_build_key(tmp_path):
    p = profile(tmp_path, '[build]\npython_flags = ["no_docstrings", "isolated"]\nhardening = false\nlto = "no"\n'
                          'deployment = false\nallow_downloads = true\njobs = 3\nextra_args = ["--show-scons"]\n'
                          'env = { CC = "clang" }\n')
    c = cmd(p)
    argv = list(c.argv)
    assert "--python-flag=no_docstrings" in argv and "--python-flag=isolated" in argv
    assert "--lto=no" in argv and "--jobs=3" in argv and "--show-scons" in argv
    assert "--deployment" not in argv
    assert "--assume-yes-for-downloads" in argv and not c.stdin_devnull
    env = dict(c.env)
    assert "CFLAGS" not in env and "LDFLAGS" not in env
    assert env["CC"] == "clang"
    assert argv.index("--show-scons") < len(argv) - 1  # extra args never after the entry


def test_hardening_appends_to_user_flags(tmp_path):
    env = hardening_env({"CFLAGS": "-O1 -fstack-protector-strong", "LDFLAGS": "-L/opt"}, "elf")
    assert env["CFLAGS"].split() == ["-O1", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2",
                                     "-fstack-clash-protection"]
    assert env["LDFLAGS"].startswith("-L/opt -Wl,-z,relro")


def test_toolchains(tmp_path):
    assert toolchain("linux") == "elf" and toolchain("win32") == "msvc" and toolchain("win32", "mingw") == "mingw"
    assert toolchain("darwin") == "macho"
    c = cmd(profile(tmp_path, ""), platform="win32")
    assert "--output-filename=app.exe" in c.argv
    assert "/DYNAMICBASE" in dict(c.env)["LDFLAGS"] and "/guard:cf" in dict(c.env)["CFLAGS"]


def test_produced_paths(tmp_path):
    p = profile(tmp_path, 'name = "tool"\n')
    exe, dist = produced_paths(p, BUILD, "linux")
    assert dist == BUILD / "app.dist" and exe == BUILD / "app.dist" / "tool"


def test_no_value_becomes_a_separate_option(tmp_path):
    """Every profile-derived value sits inside one --option=value argument."""
    p = profile(tmp_path, 'include_data = [{ src = "data", dest = "x --debug" }]\n')
    argv = list(cmd(p).argv)
    assert "--debug" not in argv
    assert all(a.startswith("--") or a in ("/py", "-m", "nuitka") for a in argv[:-1])


def test_project_option_comments_found(tmp_path):
    (tmp_path / "app.py").write_text("# nuitka-project: --include-plugin=x\nimport os\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n  #nuitka-project-if: {OS} == 'Linux':\n")
    found = scan_app(tmp_path / "app.py")
    assert [(f.path.name, f.line, f.kind) for f in found] == [
        ("app.py", 1, "nuitka-project"), ("m.py", 2, "nuitka-project-if")]


def test_app_sources_skip_output_caches_and_envs(tmp_path):
    """Only the app's own tree: hardnut's build cache (earlier builds' files), output and build folders,
    virtual environments and VCS folders are not walked; symlinked folders are not followed."""
    import os

    from hardnut.nuitka.project_options import app_sources

    (tmp_path / "app.py").write_text("print(1)\n")
    wanted = ["a/b/c.py", "a/z.py", "pkg/__init__.py", "pkg/x.py", "zz.py"]
    skipped = [".hardnut-cache/builds/k/output/app.dist/m.py", "dist/app.dist/m.py", "app.build/m.py",
               "x.onefile-build/m.py", ".venv/lib/site.py", "venv/m.py", ".git/hooks/h.py", "pkg/__pycache__/x.py",
               "node_modules/n.py", "build/lib/m.py", "deep/.tox/t.py", "deep/out.dist/m.py"]
    for rel in wanted + skipped + ["notes.txt", "pkg/data.json"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    os.symlink(tmp_path / "pkg", tmp_path / "linked")
    got = [p.relative_to(tmp_path).as_posix() for p in app_sources(tmp_path / "app.py")]
    assert got == ["app.py"] + wanted


def test_secret_env_values_masked_when_shown(tmp_path):
    token = "tok_" + "Z9" * 12
    c = cmd(profile(tmp_path, f'[build]\nenv = {{ SIGNING_TOKEN = "{token}", CC = "clang" }}\n'))
    assert dict(c.env)["SIGNING_TOKEN"] == token  # Nuitka gets the real value
    shown = c.shown_env()
    assert token not in shown["SIGNING_TOKEN"] and shown["CC"] == "clang"
