"""Small things a user trips over: `hardnut init` writes valid TOML where the user meant it, written
files follow the umask, NO_COLOR="" keeps colour, the build shows a heartbeat, the benchmark's --dist."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import REPO, hardnut_cli


def test_init_escapes_windows_paths_and_quotes(tmp_path):
    res = hardnut_cli("init", "--entry", "src\\app.py", str(tmp_path / "a.toml"))
    assert res.returncode == 0, res.stderr
    assert tomllib.loads((tmp_path / "a.toml").read_text())["app"]["entry"] == "src\\app.py"
    res = hardnut_cli("init", "--entry", 'my "tool".py', str(tmp_path / "b.toml"))
    assert res.returncode == 0, res.stderr
    app = tomllib.loads((tmp_path / "b.toml").read_text())["app"]
    assert app["entry"] == 'my "tool".py' and app["name"] == "my__tool_"


def test_init_folder_with_trailing_slash_and_entry_relative_to_cwd(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("print(1)\n")
    res = hardnut_cli("init", "--entry", "src/app.py", "newproj/", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    written = tmp_path / "newproj" / "hardnut.toml"
    assert written.is_file()
    assert tomllib.loads(written.read_text())["app"]["entry"] == "../src/app.py"
    res = hardnut_cli("build", "--dry-run", "-p", str(written), cwd=tmp_path)  # the entry resolves
    assert res.returncode == 0, res.stderr


@pytest.mark.skipif(os.name == "nt", reason="POSIX umask")
def test_written_files_follow_the_umask(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    (art / "a.txt").write_text("x\n")
    script = ("import os, sys; os.umask(0o022); from hardnut.cli import main; sys.argv = ['hardnut'] + sys.argv[1:]; "
              "main()")
    for args, out in ((["verify", str(art), "--format", "json", "-o", str(tmp_path / "r.json")], tmp_path / "r.json"),
                      (["init", str(tmp_path / "p.toml")], tmp_path / "p.toml")):
        subprocess.run([sys.executable, "-c", script, *args], capture_output=True, timeout=120)
        assert stat.S_IMODE(out.stat().st_mode) == 0o644, args


def test_empty_no_color_keeps_colour(monkeypatch):
    from hardnut.cli import use_color

    class Tty:
        def isatty(self):
            return True

    monkeypatch.setenv("NO_COLOR", "")
    assert use_color(Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert not use_color(Tty())


def test_long_child_gets_a_heartbeat(tmp_path):
    from hardnut.build import progress
    from hardnut.nuitka.runner import run_streaming

    ticks: list[float] = []
    res = run_streaming([sys.executable, "-c", "import time; time.sleep(1.6)"], env=os.environ, cwd=tmp_path,
                        timeout=60, on_tick=ticks.append, tick=0.4)
    assert res.returncode == 0 and len(ticks) >= 2 and ticks == sorted(ticks)
    build = tmp_path / "app.build"
    build.mkdir()
    assert progress(tmp_path) == ""
    for i in range(4):
        (build / f"module.m{i}.c").write_text("int x;\n")
    assert progress(tmp_path) == "4 C files generated"
    (build / "module.m0.o").write_bytes(b"")
    assert progress(tmp_path) == "1 of 4 C files compiled"


def test_a_cancelled_child_tree_is_stopped_at_once(tmp_path):
    """What stops a compile when check-source, running beside it, fails: the whole tree, within a moment."""
    import threading
    import time

    from hardnut.nuitka.runner import Cancelled, run_streaming

    marker = tmp_path / "grandchild-still-running"
    (tmp_path / "late.py").write_text(f"import time\ntime.sleep(1.5)\nopen({str(marker)!r}, 'w').close()\n")
    script = ("import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, {str(tmp_path / 'late.py')!r}])\n"
              "print('started', flush=True)\ntime.sleep(30)\n")
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    start = time.monotonic()
    with pytest.raises(Cancelled) as info:
        run_streaming([sys.executable, "-c", script], env=os.environ, cwd=tmp_path, timeout=60, cancel=cancel,
                      on_tick=lambda s: None, tick=5.0)
    assert time.monotonic() - start < 5 and "started" in info.value.tail
    time.sleep(2)
    assert not marker.exists()  # the grandchild went with its group
    res = run_streaming([sys.executable, "-c", "print('ok')"], env=os.environ, cwd=tmp_path, timeout=60,
                        cancel=threading.Event())
    assert res.returncode == 0 and res.tail == "ok"


def test_bench_verify_takes_several_dists():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_verify", REPO / "scripts" / "bench_verify.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_args(["--dist", "A", "B", "--dist", "C"]).dist == [Path("A"), Path("B"), Path("C")]


def test_preflight_refuses_a_missing_tool_without_asking_versions(tmp_path, monkeypatch):
    """The build's preflight only asks which required tools are missing (no `--version` subprocesses);
    a missing Nuitka or C compiler still stops the build before anything runs, with the fix."""
    import importlib.util
    import shutil

    from hardnut import doctor
    from hardnut.build import preflight
    from hardnut.errors import ToolMissing
    from hardnut.profile import load_profile

    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n')
    profile = load_profile(tmp_path / "hardnut.toml")
    asked = []
    monkeypatch.setattr(doctor, "command_version", lambda cmd: asked.append(cmd) or "v")
    preflight(profile)  # everything is here
    assert asked == []
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "nuitka" else real_find_spec(name, *a))
    with pytest.raises(ToolMissing, match="nuitka is missing: .*pip install"):
        preflight(profile)
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name in ("cc", "gcc", "clang") else real_which(name, *a, **k))
    if sys.platform != "win32":
        with pytest.raises(ToolMissing, match="c-compiler is missing"):
            preflight(profile)
    monkeypatch.setattr(shutil, "which", real_which)
    shown = {c.name: c.detail for c in doctor.run_checks(details=True)}  # `hardnut doctor` shows versions
    assert shown["c-compiler"] == "v" and asked


def test_output_to_a_device_or_pipe_is_written_not_replaced(tmp_path):
    """`-o /dev/null`, `-o /dev/stdout` or a FIFO: the report is written into it; the atomic write's
    rename would have put a regular file in place of the device (as root, /dev/null itself)."""
    import threading

    art = tmp_path / "art"
    art.mkdir()
    (art / "a.txt").write_text("x\n")
    link = tmp_path / "null-link"
    link.symlink_to(os.devnull)
    res = hardnut_cli("verify", str(art), "--format", "json", "-o", str(link))
    assert res.returncode == 0, res.stderr
    assert link.is_symlink() and stat.S_ISCHR(link.stat().st_mode)
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    res = hardnut_cli("verify", str(art), "--format", "json", "-o", str(fifo))
    reader.join(timeout=60)
    assert res.returncode == 0, res.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and json.loads(got[0])["verdict"] == "pass"


def test_manifest_versions_read_from_the_key_inputs_match_asking_again(monkeypatch):
    """A build with the cache takes Nuitka's and the compiler's versions from its key's inputs (no second
    `cc --version`); the manifest says the same as when they are asked for."""
    from hardnut.build import tool_versions
    from hardnut.buildcache import compiler_identity
    from hardnut.doctor import dist_version

    monkeypatch.delenv("CC", raising=False)
    inputs = {"nuitka": dist_version("nuitka") or "unknown", "compiler": compiler_identity()}
    assert tool_versions(inputs) == tool_versions()
    assert tool_versions({"compiler": {"path": ""}}) == tool_versions()  # incomplete inputs: asked again


def test_waiting_for_a_long_child_does_not_poll_it(monkeypatch, tmp_path):
    """The wait for Nuitka ends on the end of its output or on a cancel, not by polling the child every
    10 ms (that cost 14 ms of CPU per second of compile: 2.2 s of a 160 s one). Counted, not timed."""
    import subprocess
    import threading

    from hardnut.nuitka.runner import run_streaming

    polls = []
    real = subprocess.Popen.poll
    monkeypatch.setattr(subprocess.Popen, "poll", lambda self: polls.append(1) or real(self))
    res = run_streaming([sys.executable, "-c", "import time; time.sleep(2)"], env=os.environ, cwd=tmp_path,
                        timeout=60, cancel=threading.Event(), on_tick=lambda s: None, tick=60)
    assert res.returncode == 0
    assert len(polls) <= 10, len(polls)  # once per 0.5 s at most; it was 200 for these 2 s


def test_dist_version_as_importlib_metadata():
    """doctor.dist_version parses only the metadata's headers: the same version for every installed
    distribution, None for one that is not installed."""
    from importlib import metadata

    from hardnut.doctor import dist_version

    names = {d.metadata["Name"] for d in metadata.distributions()}
    assert len(names) > 10
    for name in names:
        assert dist_version(name) == metadata.version(name), name
    assert dist_version("hardnut-no-such-distribution") is None
