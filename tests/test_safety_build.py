"""Build safety: no profile value can inject a Nuitka option; a build only ever replaces what hardnut made;
Nuitka runs without a shell; its whole process tree dies on timeout and on Ctrl-C; temporary folders go.

The injection tests read the exact argv with `hardnut build --dry-run` (what is run, byte for byte).
The rest runs real Nuitka builds of a tiny app (one full build, one interrupted, one timed out; ccache
keeps them quick). tests/test_build_e2e.py already covers a foreign file in output_dir surviving a
build and a failed rebuild keeping the last good artifact; this file adds hardnut's own output names
held by foreign files, Ctrl-C, the process tree and the system temp folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import BUILD_ROOT, hardnut_cli
from hardnut.errors import ProfileError
from hardnut.profile import load_profile

# ------------------------------------------------------------------------------ option injection

HOSTILE = ["--debug", "pkg --debug", "pkg=x", "-o", "../x", "pkg;id", "pkg\n--debug", "", " pkg", "$(id)",
           "--user-plugin=/tmp/evil.py", "pkg --user-plugin=/tmp/evil.py"]


def _profile(tmp_path: Path, text: str):
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / "x.txt").write_text("x\n")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n' + text)
    return load_profile(tmp_path / "hardnut.toml")


@pytest.mark.parametrize("key", ["include_packages", "include_modules", "nofollow"])
@pytest.mark.parametrize("value", HOSTILE)
def test_module_lists_refuse_anything_but_names(tmp_path, key, value):
    with pytest.raises(ProfileError, match=f"app.{key}"):
        _profile(tmp_path, f"{key} = [{json.dumps(value)}]\n")


@pytest.mark.parametrize("src, dest", [
    ("data", "--debug"), ("data", "a=b"), ("data", "../outside"), ("data", "/abs"), ("data", "x\n--debug"),
    ("--debug", "d"), ("data=x", "d"), ("data", "-o"), ("data", "a/../../b"),
])
def test_data_entries_refuse_options_and_escapes(tmp_path, src, dest):
    with pytest.raises(ProfileError, match="app.include_data"):
        _profile(tmp_path, f"include_data = [{{ src = {json.dumps(src)}, dest = {json.dumps(dest)} }}]\n")


@pytest.mark.parametrize("table, text", [
    ("app", 'name = "x --debug"'), ("app", 'name = "-rf"'), ("build", 'python_flags = ["--debug"]'),
    ("build", 'python_flags = ["no_site --unstripped"]'), ("build", 'extra_args = ["app.py"]'),
    ("build", 'extra_args = ["--"]'), ("build", 'extra_args = ["--unstrip"]'),
    ("build", 'extra_args = ["--python-deb"]'), ("build", 'extra_args = ["--output-di=/tmp"]'),
    ("build", 'extra_args = ["--include-data-di=/root=keys"]'), ("build", 'extra_args = ["--no-deploy"]'),
    ("build", 'env = { "A B" = "1" }'), ("app", 'exclude_data = ["*.env\\n--debug"]'),
])
def test_other_values_refuse_options(tmp_path, table, text):
    """Including abbreviations: Nuitka's parser takes any unambiguous prefix (`--unstrip` is --unstripped)."""
    section = "" if table == "app" else f"[{table}]\n"
    with pytest.raises(ProfileError):
        _profile(tmp_path, section + text + "\n")


def test_every_value_lands_in_exactly_one_argument(tmp_path):
    """Values that pass validation (globs, a temp-dir spec with spaces) each stay one `--option=value`
    argument: the dry-run argv has exactly the options hardnut emits, the profile's values verbatim."""
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("x\n")
    (tmp_path / "hardnut.toml").write_text(
        '[app]\nentry = "app.py"\nmode = "onefile"\n'
        'include_packages = ["pkg", "pkg.sub"]\ninclude_modules = ["mod_a"]\nnofollow = ["tests.*", "*.conftest"]\n'
        'include_data = [{ src = "data", dest = "data" }, { src = "data/x.txt", dest = "x --debug.txt" }]\n'
        'exclude_data = ["--debug", "a b --unstripped", "*.env"]\n'
        'onefile_tempdir = "{CACHE_DIR}/x --debug"\n'
        '[build]\npython_flags = ["no_docstrings"]\nextra_args = ["--enable-plugin=anti-bloat"]\n'
        'env = { CC = "gcc --debug" }\n')
    res = hardnut_cli("build", "--dry-run", "--format", "json", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    argv = doc["argv"]
    assert argv[1:3] == ["-m", "nuitka"] and argv[-1] == str((tmp_path / "app.py").resolve())
    options = argv[3:-1]
    assert all(a.startswith("--") for a in options)
    by_name: dict[str, list[str]] = {}
    for a in options:
        name, _, value = a.partition("=")
        by_name.setdefault(name, []).append(value)
    assert by_name["--include-package"] == ["pkg", "pkg.sub"]
    assert by_name["--include-module"] == ["mod_a"]
    assert by_name["--nofollow-import-to"] == ["tests.*", "*.conftest"]
    assert by_name["--noinclude-data-files"] == ["--debug", "a b --unstripped", "*.env"]
    assert by_name["--onefile-tempdir-spec"] == ["{CACHE_DIR}/x --debug"]
    assert by_name["--include-data-files"] == [f"{(tmp_path / 'data' / 'x.txt').resolve()}=x --debug.txt"]
    assert "--debug" not in by_name and "--unstripped" not in by_name and "--user-plugin" not in by_name
    expected = {"--mode", "--output-dir", "--output-filename", "--report", "--update-check", "--progress-bar", "--lto",
                "--deployment", "--python-flag", "--include-package", "--include-module", "--include-data-dir",
                "--include-data-files", "--noinclude-data-files", "--nofollow-import-to", "--onefile-tempdir-spec",
                "--enable-plugin"}
    assert set(by_name) <= expected, set(by_name) - expected
    assert doc["env"]["CC"] == "gcc --debug" and doc["stdin"] == "/dev/null"


def test_profile_env_cannot_drop_the_hardening_flags(tmp_path):
    (tmp_path / "app.py").write_text("print('hi')\n")
    (tmp_path / "hardnut.toml").write_text(
        '[app]\nentry = "app.py"\n[build]\nenv = { CFLAGS = "-O0 -fno-stack-protector", LDFLAGS = "-Wl,-z,execstack" }\n')
    res = hardnut_cli("build", "--dry-run", "--format", "json", cwd=tmp_path)
    env = json.loads(res.stdout)["env"]
    assert "-fstack-protector-strong" in env["CFLAGS"].split() and "-Wl,-z,noexecstack" in env["LDFLAGS"].split()


# ------------------------------------------------------------------------------- real builds

APP = '''"""tiny app for hardnut's build safety tests"""
import sys


def main():
    print("tiny", len(sys.argv))


if __name__ == "__main__":
    main()
'''

PROFILE = '''[app]
entry = "tiny.py"
name = "tiny"
output_dir = "dist"

[build]
python_flags = ["no_docstrings"]
timeout = 900

[verify]
smoke = { args = [], expect_exit = 0, timeout = 60 }

[source]
check = false
'''


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


# The builds here get a private TMPDIR, so leftovers are theirs (not another run's on this machine).
TMP = BUILD_ROOT / "safety-build-tmp"


def _env() -> dict[str, str]:
    TMP.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(TMP)}


def _hardnut_temp() -> set[str]:
    """hardnut's temporary folders (hardnut-onefile-*, hardnut-smoke-*...) in the builds' temp folder."""
    return {p.name for p in TMP.iterdir() if p.name.startswith(("hardnut-", ".hardnut"))} if TMP.is_dir() else set()


def _cli_build(work: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hardnut", "build", *args], cwd=work, capture_output=True,
                          text=True, timeout=1800, stdin=subprocess.DEVNULL, env=_env())


FOREIGN = {"NOTES.txt": "mine\n", "tiny.txt": "mine too\n", "other/keep.bin": "x\n",
           "tiny.hardnut.json": '{"tool": {"name": "someone-else"}, "note": "not hardnut\'s"}\n'}


@pytest.fixture(scope="module")
def project():
    """A tiny app built once into an output_dir that already holds foreign files, one of them under
    hardnut's manifest name. If hardnut refuses because of that file (the safe answer), the file is
    moved away for the real build and the refusal is recorded."""
    work = BUILD_ROOT / "safety-build"
    if work.exists():
        shutil.rmtree(work)
    (work / "dist").mkdir(parents=True)
    (work / "tiny.py").write_text(APP)
    (work / "hardnut.toml").write_text(PROFILE)
    for name, text in FOREIGN.items():
        (work / "dist" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "dist" / name).write_text(text)
    temp_before = _hardnut_temp()
    res = _cli_build(work, "--format", "json", "-o", str(work / "result.json"))
    outcome = {"first": res, "after_first": {n: (work / "dist" / n).read_text() for n in FOREIGN}}
    if res.returncode == 2 and "not made by hardnut" in res.stderr:
        os.replace(work / "dist" / "tiny.hardnut.json", work / "foreign-manifest.json")
        res = _cli_build(work, "--format", "json", "-o", str(work / "result.json"))
    assert res.returncode in (0, 1), res.stderr[-3000:]
    return work, outcome, temp_before


@pytest.mark.nuitka
def test_build_keeps_foreign_files(project):
    work, outcome, _ = project
    for name in ("NOTES.txt", "tiny.txt", "other/keep.bin"):
        assert (work / "dist" / name).read_text() == FOREIGN[name], f"the build changed {name}"


@pytest.mark.nuitka
def test_foreign_manifest_is_refused_not_overwritten(project):
    work, outcome, _ = project
    assert outcome["after_first"]["tiny.hardnut.json"] == FOREIGN["tiny.hardnut.json"]


@pytest.mark.parametrize("name", ["tiny.dist/app.py", "tiny.report.xml", "tiny.cdx.json"])
def test_foreign_outputs_are_refused_before_building(tmp_path, name):
    """hardnut's own output names held by files it did not make: refused before Nuitka starts."""
    (tmp_path / "tiny.py").write_text(APP)
    (tmp_path / "hardnut.toml").write_text(PROFILE)
    target = tmp_path / "dist" / name
    target.parent.mkdir(parents=True)
    target.write_text("mine\n")
    res = hardnut_cli("build", cwd=tmp_path, timeout=120)
    assert res.returncode == 2 and "not made by hardnut" in res.stderr, res.stderr[-2000:]
    assert target.read_text() == "mine\n"
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == [name.split("/")[0]]


@pytest.mark.nuitka
def test_build_leaves_no_temporary_folders(project):
    work, _, temp_before = project
    assert (work / "dist" / "tiny.dist" / "tiny").is_file()
    assert not [p for p in (work / "dist").iterdir() if p.name.startswith(".hardnut-build-")]
    assert _hardnut_temp() <= temp_before, "hardnut-onefile-*/hardnut-smoke-* left in the temp folder"
    assert not (work / "dist" / "tiny.dist" / "tiny.build").exists()


class TreeWatch:
    """Polls /proc for every descendant of `pid` (and its session), so a kill can be checked later."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.seen: dict[int, tuple[int, str, list[str]]] = {}  # pid -> (session, exe, argv)
        self.parent: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _stat(pid: int):
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
            fields = raw[raw.rindex(")") + 2:].split()
            return int(fields[1]), int(fields[3])  # ppid, session
        except (OSError, ValueError):
            return None

    def _run(self) -> None:
        while not self.stop.is_set():
            family = {self.pid} | set(self.seen)
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) in self.seen:
                    continue
                st = self._stat(int(entry))
                if st and st[0] in family:
                    try:
                        exe = os.path.realpath(f"/proc/{entry}/exe")
                        argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
                    except OSError:
                        continue
                    self.seen[int(entry)] = (st[1], exe, [a.decode(errors="replace") for a in argv if a])
                    self.parent[int(entry)] = st[0]
            time.sleep(0.05)

    def children(self) -> list[tuple[int, str, list[str]]]:
        """Direct children still running, with their command line read again now: on a loaded machine
        the watcher can first see a child between fork and exec (it then shows its parent's command
        line), or a short-lived one (a compiler version probe) that has exited since."""
        out = []
        for pid in self.seen:
            if self.parent.get(pid) != self.pid:
                continue
            try:
                exe = os.readlink(f"/proc/{pid}/exe")  # fails for exited (zombie) processes
                argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
            except OSError:
                continue
            if argv:
                out.append((pid, os.path.realpath(exe), argv))
        return out

    def survivors(self) -> list[str]:
        """Descendants, or members of their sessions, still alive (zombies excluded)."""
        self.stop.set()
        self.thread.join()
        sessions = {sid for sid, _, _ in self.seen.values() if sid != os.getsid(0)}
        alive = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            st = self._stat(pid)
            if st is None:
                continue
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and (pid in self.seen or st[1] in sessions):
                alive.append(f"{pid} {' '.join(self.seen.get(pid, (0, '', ['?']))[2])[:120]}")
        return alive


# Without Nuitka's and ccache's caches the tiny app takes long enough to be caught mid-compile.
UNCACHED = '[profile]\nextends = "hardnut.toml"\n[build]\nextra_args = ["--disable-cache=all", "--disable-ccache"]\n'
# Without ccache only: Nuitka's bytecode cache (warm since the project fixture's build) makes the Python level
# quick, and the C compilers still run long enough to be interrupted.
NO_CCACHE = '[profile]\nextends = "hardnut.toml"\n[build]\nextra_args = ["--disable-cache=ccache", "--disable-ccache"]\n'


def _default_sigint() -> None:
    # as from a terminal: a test runner started in the background of a non-interactive shell ignores
    # SIGINT, its children inherit that, and Python then leaves Ctrl-C ignored (no KeyboardInterrupt)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_build(work: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hardnut", "build", "-v", *args], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            start_new_session=True, env=_env(), preexec_fn=_default_sigint)


@pytest.mark.nuitka
# Ctrl-C while scons and the C compilers run (the deepest tree); SIGTERM as soon as Nuitka is busy
# compiling Python (same handler, and the test does not wait a whole Python-level compile twice).
@pytest.mark.parametrize("sig, phase", [(signal.SIGINT, "Nuitka-Scons"), (signal.SIGTERM, "Nuitka:")],
                         ids=["ctrl-c", "sigterm"])
def test_interrupt_stops_the_whole_tree_and_keeps_the_artifact(project, sig, phase):
    """Ctrl-C (SIGINT) and a CI job being cancelled (SIGTERM) while Nuitka compiles."""
    work, _, _ = project
    dist = work / "dist" / "tiny.dist"
    before = _tree_hashes(dist)
    manifest = (work / "dist" / "tiny.hardnut.json").read_bytes()
    temp_before = _hardnut_temp()
    (work / "tiny.py").write_text(APP + "\n# changed: a real rebuild\nVALUE = 2\n")
    (work / "uncached.toml").write_text(NO_CCACHE if phase == "Nuitka-Scons" else UNCACHED)
    proc = _start_build(work, "-p", str(work / "uncached.toml"))
    watch = TreeWatch(proc.pid)
    lines: list[str] = []
    deadline = time.monotonic() + 600
    try:
        for line in proc.stderr:  # Nuitka's output, streamed by -v
            lines.append(line)
            if phase in line or time.monotonic() > deadline:
                break
        time.sleep(2.0)  # scons and the compilers are running now
        assert proc.poll() is None, "the build finished before it could be interrupted:\n" + "".join(lines[-20:])
        children = watch.children()
        assert children, "no child process seen"
        # besides verify's helper process (started beside the compile: hardnut.secrets.engine.Helper),
        # Nuitka itself is the only child: the Python interpreter running nuitka (`-m nuitka`, which
        # re-executes itself as `.../nuitka/__main__.py`), no shell in between
        nuitka = [c for c in children if "_helper_entry" not in " ".join(c[2])]
        assert len(nuitka) == 1 and len(children) <= 2, children
        pid, exe, argv = nuitka[0]
        assert exe == os.path.realpath(sys.executable), (exe, argv)
        assert argv[1:3] == ["-m", "nuitka"] or any(a.endswith("nuitka/__main__.py") for a in argv[1:6]), argv
        os.kill(proc.pid, sig)
        rest = proc.stderr.read()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        (work / "tiny.py").write_text(APP)
    assert code in (3, 130, 143), rest[-2000:]
    assert "Traceback" not in rest
    assert watch.survivors() == [], "processes of the interrupted build survived"
    assert len(watch.seen) > 1
    if phase == "Nuitka-Scons":  # interrupted while scons and the C compilers ran, not after
        ran = " ".join(" ".join(argv) for _, _, argv in watch.seen.values())
        assert "scons" in ran.lower() and ("cc1" in ran or "gcc" in ran), ran[-2000:]
    assert _tree_hashes(dist) == before, "the previous artifact changed"
    assert (work / "dist" / "tiny.hardnut.json").read_bytes() == manifest
    assert not [p for p in (work / "dist").iterdir() if p.name.startswith(".hardnut-build-")]
    assert _hardnut_temp() <= temp_before


@pytest.mark.nuitka
def test_timeout_stops_the_whole_tree(project):
    """Complements test_build_e2e's timeout test: every process of the tree, in its own session, is gone."""
    work, _, _ = project
    profile = work / "slow.toml"
    profile.write_text(UNCACHED.replace("[build]\n", "[build]\ntimeout = 15\n") + '[app]\noutput_dir = "dist-slow"\n')
    (work / "tiny.py").write_text(APP + "\nVALUE = 3\n")
    try:
        proc = _start_build(work, "-p", str(profile))
        watch = TreeWatch(proc.pid)
        _, err = proc.communicate(timeout=300)
    finally:
        (work / "tiny.py").write_text(APP)
    assert proc.returncode == 3 and "did not finish within 15 s" in err, err[-2000:]
    assert watch.survivors() == []
    assert not (work / "dist-slow").exists() or list((work / "dist-slow").iterdir()) == []
