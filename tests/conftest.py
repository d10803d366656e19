"""Shared fixtures: real Nuitka builds made once per test session through hardnut's own pipeline.

Builds go to tests/fixtures/build/ (gitignored). Nothing here mocks Nuitka.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BUILD_ROOT = REPO / "tests" / "fixtures" / "build"
SAMPLES = REPO / "sample_apps"


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


@pytest.fixture(scope="session")
def planted_build_cache(tmp_path_factory):
    """A build cache for this session only (tests/test_buildcache.py rebuilds from it)."""
    from hardnut.buildcache import BuildCache

    return BuildCache(tmp_path_factory.mktemp("build-cache"), max_bytes=1 << 30)


@pytest.fixture(scope="session")
def planted_standalone(tmp_path_factory, planted_build_cache) -> Path:
    """sample_apps/planted built standalone: the dist folder; `<name>.report.xml` sits beside it.

    Each test session builds into its own folder (ccache keeps rebuilds fast), so sessions never collide;
    the compile is stored in the session's build cache."""
    outcome = _build_sample("planted", "standalone", tmp_path_factory.mktemp("planted-standalone"),
                            cache=planted_build_cache)
    return outcome.dist


@pytest.fixture(scope="session")
def planted_onefile(tmp_path_factory) -> Path:
    """sample_apps/planted built as one compressed onefile executable."""
    outcome = _build_sample("planted", "onefile", tmp_path_factory.mktemp("planted-onefile"))
    return outcome.artifact
