"""The build cache: its key changes with every kind of build input (and only then), entries are stored,
restored and pruned by size, and a real rebuild of unchanged inputs reuses the compile."""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
from pathlib import Path

import pytest

from hardnut.build import command_for
from hardnut.buildcache import BuildCache, cache_key, key_inputs
from hardnut.profile import load_profile

APP = "import json, pathlib\nprint(json.loads((pathlib.Path(__file__).parent / 'config.json').read_text()))\n"
PROFILE = """[app]
entry = "app.py"
name = "app"
include_data = [{ src = "config.json", dest = "config.json" }]

[build]
jobs = 2
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "app.py").write_text(APP)
    (root / "config.json").write_text('{"greeting": "hello"}\n')
    (root / "hardnut.toml").write_text(PROFILE)
    site = tmp_path / "site"
    _fake_distribution(site, "1.0")
    monkeypatch.syspath_prepend(str(site))
    cc = tmp_path / "bin" / "hardnut-test-cc"
    _fake_compiler(cc, "9.1")
    monkeypatch.setenv("CC", str(cc))
    monkeypatch.delenv("CFLAGS", raising=False)
    return root


def _fake_distribution(site: Path, version: str) -> None:
    for old in site.glob("hardnut_cache_probe-*.dist-info"):
        for p in old.iterdir():
            p.unlink()
        old.rmdir()
    info = site / f"hardnut_cache_probe-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hardnut-cache-probe\nVersion: {version}\n")
    (info / "RECORD").write_text(f"hardnut_cache_probe-{version}.dist-info/METADATA,,\n")


def _fake_compiler(path: Path, version: str) -> None:
    """A stand-in C compiler that only answers --version (its identity is what the key records)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho 'testcc (hardnut) {version}'\n")
    path.chmod(0o755)


def _key(root: Path) -> str:
    profile = load_profile(root / "hardnut.toml")
    build_dir = root / "out" / ".hardnut-build-1" / "nuitka"
    cmd = command_for(profile, build_dir)
    return cache_key(key_inputs(profile, cmd.argv, cmd.environment(os.environ), build_dir))


def test_every_input_kind_changes_the_key(project, tmp_path, monkeypatch):
    base = _key(project)
    assert _key(project) == base, "the key must be deterministic"
    (project / "dist").mkdir()  # app.output_dir by default
    (project / "dist" / "app.bin").write_bytes(b"output is not an input")
    (project / "__pycache__").mkdir()
    (project / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"cache")
    assert _key(project) == base, "outputs and caches are not inputs"

    def changed(what: str, change, undo) -> None:
        change()
        try:
            assert _key(project) != base, f"changing {what} must miss the cache"
        finally:
            undo()
        assert _key(project) == base, f"undoing the change of {what} must hit again"

    app = (project / "app.py").read_text()
    changed("a source file", lambda: (project / "app.py").write_text(app + "# edit\n"),
            lambda: (project / "app.py").write_text(app))
    changed("a new source file", lambda: (project / "helper.py").write_text("X = 1\n"),
            lambda: (project / "helper.py").unlink())
    changed("a file's mode", lambda: (project / "app.py").chmod(0o755), lambda: (project / "app.py").chmod(0o644))
    data = (project / "config.json").read_text()
    changed("a data file", lambda: (project / "config.json").write_text(data.replace("hello", "hallo")),
            lambda: (project / "config.json").write_text(data))
    toml = (project / "hardnut.toml").read_text()
    changed("a profile key", lambda: (project / "hardnut.toml").write_text(toml.replace("jobs = 2", "jobs = 3")),
            lambda: (project / "hardnut.toml").write_text(toml))
    changed("a [verify] profile key", lambda: (project / "hardnut.toml").write_text(toml + "\n[verify]\nfail_on = \"medium\"\n"),
            lambda: (project / "hardnut.toml").write_text(toml))
    changed("build.env", lambda: (project / "hardnut.toml").write_text(toml + "env = { APP_MODE = \"x\" }\n"),
            lambda: (project / "hardnut.toml").write_text(toml))
    changed("an environment variable", lambda: os.environ.__setitem__("CFLAGS", "-O3"),
            lambda: os.environ.pop("CFLAGS"))
    site = Path(sys.path[0])
    changed("an installed distribution's version", lambda: _fake_distribution(site, "1.1"),
            lambda: _fake_distribution(site, "1.0"))
    record = next(site.glob("hardnut_cache_probe-*.dist-info")) / "RECORD"
    listed = record.read_text()
    changed("an installed distribution's files at the same version (its RECORD)",
            lambda: record.write_text(listed + "hardnut_cache_probe/__init__.py,sha256=x,1\n"),
            lambda: record.write_text(listed))
    cc = Path(os.environ["CC"])
    changed("the compiler", lambda: _fake_compiler(cc, "9.2"), lambda: _fake_compiler(cc, "9.1"))


def _tree(root: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(root).as_posix(): (stat.S_IMODE(p.stat().st_mode), p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_store_restore_and_prune(tmp_path):
    cache = BuildCache(tmp_path / "cache", max_bytes=int(2.5 * 1024 * 1024))
    outputs = []
    for i in range(3):
        dist = tmp_path / f"build{i}" / "app.dist"
        (dist / "lib").mkdir(parents=True)
        (dist / "app").write_bytes(os.urandom(1024 * 1024))
        (dist / "app").chmod(0o755)
        (dist / "lib" / "x.so").write_bytes(b"lib%d" % i)
        (dist.parent / "app.report.xml").write_text(f"<report n='{i}'/>")
        cache.store(f"key{i}", dist, dist.parent / "app.report.xml", {"n": i})
        outputs.append(dist)
        os.utime(tmp_path / "cache" / f"key{i}" / "meta.json", (1000 + i, 1000 + i))
    for _, size, entry in cache.entries():  # the size stored with the entry is what it holds on disk
        assert size == sum(p.lstat().st_size for p in entry.rglob("*") if p.is_file() and p.name != "meta.json")
    cache.prune()
    assert not cache.restore("key0", tmp_path / "r0" / "app.dist", tmp_path / "r0" / "r.xml"), "oldest pruned"
    assert sum(size for _, size, _ in cache.entries()) <= cache.max_bytes
    target = tmp_path / "r2" / "app.dist"
    assert cache.restore("key2", target, tmp_path / "r2" / "app.report.xml")
    assert _tree(target) == _tree(outputs[2])
    assert (tmp_path / "r2" / "app.report.xml").read_text() == "<report n='2'/>"
    assert not cache.restore("missing", tmp_path / "r3" / "app.dist", tmp_path / "r3" / "r.xml")
    assert cache.prune(0) and not cache.entries()


@pytest.mark.nuitka
def test_unchanged_rebuild_reuses_the_compile(planted_cli_build, planted_standalone, planted_build_cache, tmp_path):
    """The session's planted CLI build stored its compile; the same inputs built into another folder restore
    it (no Nuitka run) and give the same files; --no-cache (cache=None) would compile."""
    from hardnut.build import run_build

    profile = load_profile(planted_cli_build.work / "strict.toml")
    profile = dataclasses.replace(profile, app=dataclasses.replace(profile.app, output_dir=tmp_path / "again"))
    lines: list[str] = []
    outcome = run_build(profile, lines.append, cache=planted_build_cache)
    assert any("reusing the cached compile" in line for line in lines), lines
    assert outcome.seconds == 0 and outcome.smoke.ok
    assert _tree(outcome.dist) == _tree(planted_standalone)


def test_verify_result_is_stored_with_the_entry(tmp_path):
    from hardnut.model import FileRecord, Finding, Severity, VerifyResult

    result = VerifyResult(target="x.dist", fail_on=Severity.HIGH, suppressed=2, facts={"glibc_max": "2.17"},
                          findings=[Finding("HN-SEC-001", "secret", Severity.CRITICAL, "app", "AWS key AKIA…(20)",
                                            offset=12, length=20, evidence="AKIA…(20)")],
                          files=[FileRecord("app", 10, "ab" * 32, "elf")])
    cache = BuildCache(tmp_path / "cache", max_bytes=1 << 30)
    out = tmp_path / "app.bin"
    out.write_bytes(b"\x7fELF")
    cache.store("k", out, None, {}, ("cli._verify_built", result))
    assert cache.verify_result("k", "cli._verify_built") == result
    assert cache.verify_result("k", "another.verifier") is None
    assert cache.verify_result("missing", "cli._verify_built") is None


def _stand_in_compile(monkeypatch, folder: Path, seconds: float) -> None:
    """The build's compile command replaced by a child that writes Nuitka's outputs (an executable in
    app.dist, the report) after `seconds` (read from a file, so the command and the cache key stay the
    same), and appends a line to folder/started.log when it starts: this tests when run_build starts,
    stops and skips the compile (the real compile is tested with real Nuitka in
    test_unchanged_rebuild_reuses_the_compile)."""
    import hardnut.build as build_mod

    (folder / "seconds").write_text(str(seconds))
    real = build_mod.command_for

    def command_for_stand_in(profile, build_dir):
        cmd = real(profile, build_dir)
        script = (f"import pathlib, time, sys\nf = pathlib.Path({str(folder)!r})\n"
                  f"open(f / 'started.log', 'a').write('started\\n')\n"
                  f"time.sleep(float((f / 'seconds').read_text()))\nb = pathlib.Path(sys.argv[1])\n"
                  f"(b / 'app.dist').mkdir()\n(b / 'app.dist' / 'app').write_text('#!/bin/sh\\n')\n"
                  f"(b / 'app.dist' / 'app').chmod(0o755)\n(b / 'app.report.xml').write_text('<report/>')\n")
        return dataclasses.replace(cmd, argv=(sys.executable, "-c", script, str(build_dir)))

    monkeypatch.setattr(build_mod, "command_for", command_for_stand_in)


def test_a_hit_stops_the_compile_started_beside_the_key(project, tmp_path, monkeypatch):
    """The compile starts before the cache key is known (computed beside it); a hit stops it and restores
    the stored output; when the entry cannot be restored after all, the compile runs again to the end."""
    from hardnut.build import run_build

    started = tmp_path / "started.log"
    profile = load_profile(project / "hardnut.toml")
    profile = dataclasses.replace(profile, verify=dataclasses.replace(
        profile.verify, smoke=dataclasses.replace(profile.verify.smoke, enabled=False)))
    cache = BuildCache(tmp_path / "cache", max_bytes=1 << 30)
    _stand_in_compile(monkeypatch, tmp_path, 0.5)
    first = run_build(profile, lambda line: None, cache=cache)
    assert first.seconds > 0 and len(cache.entries()) == 1
    (first.dist / "app").write_text("#!/bin/sh\n# changed after the build: the cache keeps its own copy\n")

    _stand_in_compile(monkeypatch, tmp_path, 60)  # would take a minute: a hit must stop it
    lines: list[str] = []
    again = run_build(profile, lines.append, cache=cache)
    assert any("reusing the cached compile" in line for line in lines), lines
    assert again.seconds == 0 and (again.dist / "app").read_text() == "#!/bin/sh\n"
    assert started.read_text().count("started") in (1, 2)  # the stopped compile may not have got that far

    monkeypatch.setattr(BuildCache, "restore", lambda self, key, target, report: False)  # pruned meanwhile
    _stand_in_compile(monkeypatch, tmp_path, 0.2)
    lines.clear()
    third = run_build(profile, lines.append, cache=cache)
    assert not any("reusing the cached compile" in line for line in lines), lines
    assert any("could not be restored" in line and "compiling" in line for line in lines), lines
    assert third.seconds > 0 and (third.dist / "app").read_text() == "#!/bin/sh\n"


def test_installed_distributions_by_folder_or_by_text(tmp_path, monkeypatch):
    """A distribution in a folder is hashed from its files' bytes, one elsewhere (in a zip: no folder)
    from the text importlib.metadata reads."""
    import hashlib
    import zipfile

    from hardnut.buildcache import installed_distributions

    def sha(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    site = tmp_path / "site"
    _fake_distribution(site, "1.0")
    monkeypatch.syspath_prepend(str(site))
    info = site / "hardnut_cache_probe-1.0.dist-info"
    folder_entry = (sha((info / "METADATA").read_bytes()), sha((info / "RECORD").read_bytes()))
    before = set(installed_distributions())
    assert folder_entry in before
    meta, record = "Metadata-Version: 2.1\nName: zipped-probe\nVersion: 2.0\n", "zipped_probe/__init__.py,,\n"
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_probe-2.0.dist-info/METADATA", meta)
        zf.writestr("zipped_probe-2.0.dist-info/RECORD", record)
    monkeypatch.syspath_prepend(str(archive))
    assert set(installed_distributions()) - before == {(sha(meta.encode()), sha(record.encode()))}


def test_store_links_what_the_last_entry_holds(tmp_path):
    """A store hard-links the files the newest entry holds with the same sha256, size and mode (per the
    build's verify result) and copies the rest; restoring either entry gives its own bytes."""
    from hardnut.verify import VerifyOptions, verify_target

    def dist(folder: Path, program: bytes) -> Path:
        (folder / "lib").mkdir(parents=True)
        (folder / "app").write_bytes(program)
        (folder / "app").chmod(0o755)
        (folder / "lib" / "libx.so.1").write_bytes(b"shared library bytes " * 500)
        (folder / "data.txt").write_text("same data\n")
        (folder / "mode.txt").write_text("same bytes, other mode\n")
        os.symlink("libx.so.1", folder / "lib" / "libx.so")
        return folder

    cache = BuildCache(tmp_path / "cache", max_bytes=1 << 30)
    first = dist(tmp_path / "b1" / "app.dist", b"program one " * 100)
    cache.store("k1", first, None, {}, ("v", verify_target(first, VerifyOptions())))
    second = dist(tmp_path / "b2" / "app.dist", b"program two " * 100)
    (second / "mode.txt").chmod(0o600)
    cache.store("k2", second, None, {}, ("v", verify_target(second, VerifyOptions())))
    one, two = (cache.folder / k / "output" / "app.dist" for k in ("k1", "k2"))

    def same_file(rel: str) -> bool:
        return os.stat(one / rel).st_ino == os.stat(two / rel).st_ino

    assert same_file("lib/libx.so.1") and same_file("data.txt")
    assert not same_file("app") and not same_file("mode.txt")  # changed bytes; another mode
    assert (two / "lib" / "libx.so").is_symlink()
    for key, source in (("k1", first), ("k2", second)):
        back = tmp_path / f"restored-{key}" / "app.dist"
        assert cache.restore(key, back, tmp_path / f"restored-{key}" / "r.xml")
        assert _tree(back) == _tree(source)
    # without a verify result (verify.run off) or with an entry that lists nothing, everything is copied
    third = dist(tmp_path / "b3" / "app.dist", b"program one " * 100)
    cache.store("k3", third, None, {})
    assert os.stat(cache.folder / "k3" / "output" / "app.dist" / "data.txt").st_nlink == 1
    fourth = dist(tmp_path / "b4" / "app.dist", b"program one " * 100)
    cache.store("k4", fourth, None, {}, ("v", verify_target(fourth, VerifyOptions())))  # newest is k3: no list
    assert os.stat(cache.folder / "k4" / "output" / "app.dist" / "data.txt").st_nlink == 1
    # a listed hash that does not match the newest entry's: copied
    fifth = dist(tmp_path / "b5" / "app.dist", b"program one " * 100)
    result = verify_target(fifth, VerifyOptions())
    result.files = [dataclasses.replace(r, sha256="0" * 64) if r.path == "data.txt" else r for r in result.files]
    cache.store("k5", fifth, None, {}, ("v", result))
    five, four = (cache.folder / k / "output" / "app.dist" for k in ("k5", "k4"))
    assert os.stat(five / "data.txt").st_ino != os.stat(four / "data.txt").st_ino
    assert os.stat(five / "lib" / "libx.so.1").st_ino == os.stat(four / "lib" / "libx.so.1").st_ino


@pytest.mark.parametrize("damage", ["changed", "truncated", "removed", "added", "linked", "onefile"])
def test_a_damaged_entry_is_not_restored(tmp_path, damage):
    """An entry whose files are not the ones its build verified (files.json) is not restored: the stored
    verify result, and the manifest made from it, must describe the bytes that ship. It is removed, and
    nothing is left at the target; an intact entry restores. "linked": a later entry hard-linked the
    file from an entry that was then damaged."""
    from hardnut.verify import VerifyOptions, verify_target

    cache = BuildCache(tmp_path / "cache", max_bytes=1 << 30)
    if damage == "onefile":
        built = tmp_path / "b1" / "app.bin"
        built.parent.mkdir()
        built.write_bytes(b"\x7fELF" + b"program " * 200)
    else:
        built = tmp_path / "b1" / "app.dist"
        (built / "lib").mkdir(parents=True)
        (built / "app").write_bytes(b"program " * 200)
        (built / "lib" / "libx.so.1").write_bytes(b"shared library bytes " * 50)
        os.symlink("libx.so.1", built / "lib" / "libx.so")
    cache.store("k1", built, None, {}, ("v", verify_target(built, VerifyOptions())))
    key = "k1"
    if damage == "linked":
        cache.store("k2", built, None, {}, ("v", verify_target(built, VerifyOptions())))
        assert os.stat(cache.folder / "k2" / "output" / "app.dist" / "app").st_nlink == 2
        key = "k2"
    intact = tmp_path / "intact" / built.name
    assert cache.restore(key, intact, tmp_path / "intact" / "r.xml")
    assert _tree(intact) == _tree(built)

    stored = cache.folder / "k1" / "output" / built.name
    program = stored if damage == "onefile" else stored / "app"
    if damage in ("changed", "linked", "onefile"):
        data = bytearray(program.read_bytes())
        data[10] ^= 1  # same size, one bit
        program.write_bytes(bytes(data))
    elif damage == "truncated":
        program.write_bytes(program.read_bytes()[:-1])
    elif damage == "removed":
        (stored / "lib" / "libx.so.1").unlink()
    elif damage == "added":
        (stored / "lib" / "planted.so").write_bytes(b"not built")
    target = tmp_path / "again" / built.name
    assert not cache.restore(key, target, tmp_path / "again" / "r.xml")
    assert not target.exists() and not target.is_symlink()
    assert not (cache.folder / key).exists(), "a damaged entry is removed"
    assert not cache.restore(key, target, tmp_path / "again" / "r.xml")
