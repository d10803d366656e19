"""Shared fixtures: real Nuitka builds made once per test session through hardnut's own pipeline.

Builds go to tests/fixtures/build/ (gitignored). Nothing here mocks Nuitka.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD_ROOT = REPO / "tests" / "fixtures" / "build"
SAMPLES = REPO / "sample_apps"


def shared_once(tmp_path_factory, name: str, make):
    """`make(folder)` once per test run, also when pytest-xdist runs the tests in several workers: the first
    worker to get here runs it (the others wait on a lock) and its JSON-serialisable result is handed to
    every worker. Used for the real builds the session fixtures make."""
    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared"
    root.mkdir(exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = root / f"{name}.json"
        if done.is_file():
            return json.loads(done.read_text())
        folder = root / name
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        value = make(folder)
        done.write_text(json.dumps(value))
        return value


def hardnut_cli(*args: str, cwd: Path | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
    """Run the real `hardnut` command line in a subprocess (text output captured)."""
    return subprocess.run([sys.executable, "-m", "hardnut", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _build_sample(name: str, mode: str, dest: Path, cache=None):
    """Build sample_apps/<name> with its own profile, into `dest`, via hardnut.build.run_build."""
    from hardnut.build import run_build
    from hardnut.profile import load_profile

    profile = load_profile(SAMPLES / name / "hardnut.toml")
    app = dataclasses.replace(profile.app, mode=mode, output_dir=dest)
    verify = dataclasses.replace(profile.verify, run=False)
    profile = dataclasses.replace(profile, app=app, verify=verify)
    if dest.exists():
        shutil.rmtree(dest)
    return run_build(profile, lambda line: None, cache=cache)


@dataclasses.dataclass
class CliBuild:
    """One `hardnut build` through the real command line: its folder, the finished process (stdout is the
    JSON result), that result, and the private TMPDIR it ran with."""

    work: Path
    result: subprocess.CompletedProcess
    doc: dict
    tmp: Path


STRICT = '[profile]\nextends = "hardnut.toml"\n[verify]\nrun = true\n[source]\ncheck = false\n'


@pytest.fixture(scope="session")
def planted_build_cache(tmp_path_factory):
    """A build cache for this test run only: the planted CLI build stores its compile there and
    tests/test_buildcache.py rebuilds from it."""
    from hardnut.buildcache import BuildCache

    folder = shared_once(tmp_path_factory, "build-cache", lambda folder: str(folder))
    return BuildCache(Path(folder), max_bytes=1 << 30)


@pytest.fixture(scope="session")
def planted_cli_build(tmp_path_factory, planted_build_cache) -> CliBuild:
    """sample_apps/planted built standalone by `hardnut build --format json` with verification on (its
    profile plus strict.toml), once per test run: the real pipeline's outputs (dist, report XML, SBOM,
    manifest) for every test that needs a planted standalone build (see planted_standalone). The compile
    is stored in the run's build cache (planted_build_cache)."""

    def make(base: Path) -> dict:
        work = base / "planted"
        shutil.copytree(SAMPLES / "planted", work, ignore=shutil.ignore_patterns("dist", "*.build", "__pycache__"))
        (work / "strict.toml").write_text(STRICT)
        tmp = base / "tmp"
        tmp.mkdir()
        res = subprocess.run([sys.executable, "-m", "hardnut", "build", "-p", str(work / "strict.toml"), "--format",
                              "json"], cwd=work, capture_output=True, text=True, timeout=1800,
                             stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(tmp),
                                                            "HARDNUT_CACHE_DIR": str(planted_build_cache.folder)})
        assert res.returncode in (0, 1), res.stderr[-3000:]  # 1: the planted secrets fail the verdict, as meant
        return {"work": str(work), "tmp": str(tmp), "args": res.args, "returncode": res.returncode,
                "stdout": res.stdout, "stderr": res.stderr}

    got = shared_once(tmp_path_factory, "planted-cli", make)
    res = subprocess.CompletedProcess(got["args"], got["returncode"], got["stdout"], got["stderr"])
    return CliBuild(Path(got["work"]), res, json.loads(res.stdout), Path(got["tmp"]))


@pytest.fixture(scope="session")
def planted_standalone(planted_cli_build) -> Path:
    """sample_apps/planted built standalone: the dist folder; `<name>.report.xml`, the manifest and the
    SBOM sit beside it. The same build as planted_cli_build (one Nuitka build serves both).

    Each test session builds into its own folder (ccache keeps rebuilds fast), so sessions never collide."""
    return Path(planted_cli_build.doc["dist"])


@pytest.fixture(scope="session")
def planted_onefile(tmp_path_factory) -> Path:
    """sample_apps/planted built as one compressed onefile executable."""
    return Path(shared_once(tmp_path_factory, "planted-onefile",
                            lambda folder: str(_build_sample("planted", "onefile", folder / "out").artifact)))


def _build_exposed(dest: Path, root: Path = SAMPLES / "exposed", python_flags: tuple[str, ...] = ()) -> Path:
    """sample_apps/exposed (or a copy at `root`) built standalone with `python_flags`: the dist folder."""
    from hardnut.build import run_build
    from hardnut.profile import load_profile

    profile = load_profile(root / "hardnut.toml")
    profile = dataclasses.replace(
        profile, app=dataclasses.replace(profile.app, output_dir=dest),
        build=dataclasses.replace(profile.build, python_flags=python_flags),
        verify=dataclasses.replace(profile.verify, run=False))
    return run_build(profile, lambda line: None).dist


@pytest.fixture(scope="session")
def exposed_plain(tmp_path_factory) -> Path:
    """sample_apps/exposed without python flags: docstrings and assert messages kept."""
    return Path(shared_once(tmp_path_factory, "exposed-plain", lambda folder: str(_build_exposed(folder))))


@pytest.fixture(scope="session")
def exposed_release(tmp_path_factory) -> Path:
    """sample_apps/exposed with no_docstrings and no_asserts (otherwise as exposed_plain)."""
    return Path(shared_once(tmp_path_factory, "exposed-release", lambda folder: str(
        _build_exposed(folder, python_flags=("no_docstrings", "no_asserts")))))


EXPOSED_VARIANT_SECRET = "ghp_Zq8vN3xLk2Rt7Yw1Pm4Hs6Jd9Fb0Gc5Ae8Ui"  # FAKE GitHub token (bad checksum)


@pytest.fixture(scope="session")
def exposed_variant(tmp_path_factory) -> Path:
    """exposed_plain with one string constant of exposed_app.core changed into a (fake) token."""

    def make(folder: Path) -> str:
        src = folder / "src" / "exposed"
        shutil.copytree(SAMPLES / "exposed", src, ignore=shutil.ignore_patterns("dist", "*.build", "__pycache__"))
        core = src / "exposed_app" / "core.py"
        text = core.read_text(encoding="utf-8")
        old = '"Greetings from the exposed core, version one"'
        assert text.count(old) == 1
        core.write_text(text.replace(old, f'"{EXPOSED_VARIANT_SECRET}"'), encoding="utf-8")
        return str(_build_exposed(folder / "out", root=src))

    return Path(shared_once(tmp_path_factory, "exposed-variant", make))
