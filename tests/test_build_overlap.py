"""hardnut build runs the smoke run and verify at the same time (hardnut.build.smoke_and_verify): the
verdict must still be the one verify gives after the smoke run. Real child processes (shell scripts as
the program); verify is a recording function, since what is tested is the ordering, not the checks."""

from __future__ import annotations

import os
import stat
import threading
import time
from pathlib import Path

import pytest

from hardnut.build import smoke_and_verify, tree_state
from hardnut.profile import load_profile


def _setup(tmp_path: Path, script: str, timeout: int = 30):
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "hardnut.toml").write_text(
        '[app]\nentry = "app.py"\nname = "app"\n\n[verify]\n'
        f'smoke = {{ args = ["--check"], expect_exit = 0, timeout = {timeout} }}\n')
    dist = tmp_path / "app.dist"
    dist.mkdir()
    (dist / "lib.so").write_bytes(b"\x7fELF" + b"\0" * 60)
    exe = dist / "app"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return load_profile(tmp_path / "hardnut.toml"), exe, dist


class Recorder:
    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.delay, self.fail = delay, fail

    def __call__(self, target: Path, profile) -> list[str]:
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("verify broke")
        seen = sorted(p.name for p in target.iterdir())
        self.calls.append(seen)
        return seen


def test_overlapped_and_the_artifact_unchanged_verifies_once(tmp_path):
    profile, exe, dist = _setup(tmp_path, "sleep 1\nexit 0\n")
    verify = Recorder(delay=1.0)
    start = time.monotonic()
    smoke, result = smoke_and_verify(profile, exe, dist, verify, lambda line: None)
    assert smoke.ok and smoke.ran and smoke.exit_code == 0
    assert result == ["app", "lib.so"] and len(verify.calls) == 1
    assert time.monotonic() - start < 1.8  # the two seconds overlapped (one after the other: over 2 s)


def test_a_program_that_writes_into_its_artifact_is_verified_as_it_left_it(tmp_path):
    # the file appears after verify has listed the folder: only the second verify can see it
    profile, exe, dist = _setup(tmp_path, 'sleep 0.4\necho cache > "$(dirname "$0")/written.cache"\nexit 0\n')
    logged: list[str] = []
    smoke, result = smoke_and_verify(profile, exe, dist, Recorder(), logged.append)
    assert smoke.ok
    assert result == ["app", "lib.so", "written.cache"]
    assert any("smoke run changed files in the artifact" in line for line in logged)


def test_a_changed_file_of_the_same_size_is_seen(tmp_path):
    profile, exe, dist = _setup(tmp_path, 'sleep 0.2\nprintf "\\177ELF%060d" 1 > "$(dirname "$0")/lib.so"\nexit 0\n')
    before = tree_state(dist)
    verify = Recorder()
    smoke, _ = smoke_and_verify(profile, exe, dist, verify, lambda line: None)
    assert smoke.ok and tree_state(dist) != before and len(verify.calls) == 2


def test_a_failed_smoke_run_gives_no_result(tmp_path):
    profile, exe, dist = _setup(tmp_path, "exit 4\n")
    smoke, result = smoke_and_verify(profile, exe, dist, Recorder(), lambda line: None)
    assert not smoke.ok and smoke.exit_code == 4 and result is None


def test_when_verify_fails_the_program_is_stopped(tmp_path):
    marker = tmp_path / "still-running"
    profile, exe, dist = _setup(tmp_path, f'sleep 1.5\ntouch "{marker}"\n')
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="verify broke"):
        smoke_and_verify(profile, exe, dist, Recorder(delay=0.3, fail=True), lambda line: None)
    assert time.monotonic() - start < 1.4
    time.sleep(2)
    assert not marker.exists()
    assert threading.active_count() < 10


def test_tree_state_covers_a_single_file_and_links(tmp_path):
    f = tmp_path / "one"
    f.write_bytes(b"x")
    assert [row[0] for row in tree_state(f)] == [""]
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "sub" / "a").write_bytes(b"a")
    os.symlink("sub/a", d / "link")
    assert [row[0] for row in tree_state(d)] == ["", "link", "sub", "sub/a"]
    assert tree_state(tmp_path / "missing") == []
