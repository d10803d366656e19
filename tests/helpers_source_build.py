"""A real standalone Nuitka build of sample_apps/planted_source, for the bundle-mirror and SBOM tests.

A copy of the sample gets extra data files that probe Nuitka's include/exclude rules (ignored suffixes,
folders and names, a versioned shared library, a .git folder, exclude_data globs and folders, a .py
file included as a single data file). It is built once through hardnut.build.run_build with the CLI's
own `_after_build` (so the SBOM is written and moved like in `hardnut build`) into
tests/fixtures/build/planted-source/ (gitignored) and reused while its inputs are unchanged.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
SAMPLE = REPO / "sample_apps" / "planted_source"
WORK = ROOT / "fixtures" / "build" / "planted-source"

# data files beside the sample's own: path under the app folder -> content
PROBES = {
    "data/skip.py": "print('a .py file in a data dir: Nuitka skips it')\n",
    "data/stub.pyi": "x: int\n",
    "data/UPPER.PY": "suffix checks are case-sensitive on Linux: shipped\n",
    "data/py.typed": "",
    "data/libfoo.so.1.2": "versioned shared library name: skipped\n",
    "data/__pycache__/cached.txt": "ignored folder\n",
    "data/site-packages/vendored.txt": "ignored folder\n",
    "data/.git/HEAD": "ref: refs/heads/main\n",
    "data/.git/config": "[remote \"origin\"]\n\turl = https://example.invalid/planted.git\n",
    "data/sub/notes.bak": "excluded by '*.bak' (fnmatch's * crosses '/')\n",
    "data/sub/kept.txt": "kept\n",
    "data/.env.example": "DATABASE_URL=\n",
}
EXTRA_INCLUDES = [("plugins/csv_export.py", "extra/plugin_source.py"), ("requirements.txt", "extra/reqs.txt")]


@dataclass(frozen=True)
class SourceBuild:
    app: Path  # the built copy of the sample
    profile: object  # the Profile it was built with
    dist: Path
    report: Path
    sbom: Path
    manifest: Path


def _stamp() -> str:
    from nuitka.Version import getNuitkaVersion

    h = hashlib.sha256()
    for path in sorted(SAMPLE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(SAMPLE)).encode() + b"\0" + path.read_bytes())
    for path in ("src/hardnut/sbom.py", "src/hardnut/build.py", "src/hardnut/cli.py"):
        h.update((REPO / path).read_bytes())
    h.update(json.dumps([PROBES, EXTRA_INCLUDES, getNuitkaVersion(), sys.version]).encode())
    return h.hexdigest()


def _profile(app: Path):
    from hardnut.profile import DataInclude, load_profile

    profile = load_profile(app / "hardnut.toml")
    extra = tuple(DataInclude((app / src).resolve(), dest, False) for src, dest in EXTRA_INCLUDES)
    return dataclasses.replace(
        profile,
        app=dataclasses.replace(profile.app, output_dir=WORK / "out", include_data=profile.app.include_data + extra),
        build=dataclasses.replace(profile.build, allow_project_options=True),  # the planted comment is benign
        verify=dataclasses.replace(profile.verify, run=False),
    )


def build_source_sample() -> SourceBuild:
    from hardnut.build import run_build
    from hardnut.cli import _after_build

    WORK.mkdir(parents=True, exist_ok=True)
    with open(WORK.parent / ".planted-source.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        app = WORK / "app"
        stamp = _stamp()
        name = "planted_source"
        out = WORK / "out"
        result_paths = (out / f"{name}.dist", out / f"{name}.report.xml", out / f"{name}.cdx.json",
                        out / f"{name}.hardnut.json")
        if (WORK / "stamp").is_file() and (WORK / "stamp").read_text() == stamp and all(p.exists() for p in result_paths):
            return SourceBuild(app, _profile(app), *result_paths)
        shutil.rmtree(WORK, ignore_errors=True)
        shutil.copytree(SAMPLE, app, ignore=shutil.ignore_patterns("dist", "__pycache__"))
        for rel, text in PROBES.items():
            (app / rel).parent.mkdir(parents=True, exist_ok=True)
            (app / rel).write_text(text)
        profile = _profile(app)
        outcome = run_build(profile, lambda line: None, extra_steps=_after_build)
        assert Path(outcome.extra["sbom"]) == result_paths[2], outcome.extra
        (WORK / "stamp").write_text(stamp)
        return SourceBuild(app, profile, *result_paths)


_cache: list[SourceBuild] = []


def source_build() -> SourceBuild:
    if not _cache:
        try:
            _cache.append(build_source_sample())
        except Exception as exc:  # BuildFailed carries Nuitka's output tail
            tail = getattr(exc, "tail", "")
            pytest.fail(f"cannot build sample_apps/planted_source: {exc}\n{tail}")
    return _cache[0]


if __name__ == "__main__":
    print(build_source_sample())
