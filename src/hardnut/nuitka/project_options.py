"""Find `# nuitka-project:` comments: Nuitka adds them as options and eval()s `nuitka-project-if`
conditions at build time, so a source file can run code on the build machine."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

# The same pattern Nuitka uses (nuitka/options/OptionParsing.py: getNuitkaProjectOptions).
PROJECT_RE = re.compile(rb"^\s*#(\s*)nuitka-project(.*?):(.*)")


@dataclass(frozen=True)
class ProjectOption:
    """A `# nuitka-project:` comment of an app's source (Nuitka applies it at build time)."""

    path: Path
    line: int
    kind: str  # "nuitka-project", "nuitka-project-if", "nuitka-project-set", ...
    text: str


def scan_file(path: Path, max_bytes: int = 8 * 1024 * 1024) -> list[ProjectOption]:
    if not path.is_file():  # a FIFO or device named *.py would block the read
        return []
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes)
    except OSError:
        return []
    out = []
    for number, line in enumerate(data.splitlines(), 1):
        m = PROJECT_RE.match(line)
        if m:
            kind = "nuitka-project" + m.group(2).decode("utf-8", "replace").strip()
            out.append(ProjectOption(path, number, kind, line.decode("utf-8", "replace").strip()[:200]))
    return out


SKIP_DIRS = frozenset({".venv", "venv", ".git", "__pycache__", "dist", "build", "node_modules", ".tox", ".nox",
                       ".hardnut-cache"})


def app_sources(entry: Path) -> Iterable[Path]:
    """The entry script and the Python files of its own folder tree (not virtual envs, build output or
    hardnut's build cache, which holds earlier builds' files: skipped folders are not walked at all),
    sorted by path; symlinked folders are not followed."""
    yield entry
    root = entry.parent
    found = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith((".build", ".dist", ".onefile-build"))]
        found.extend(Path(folder, n) for n in names if n.endswith(".py"))
    for path in sorted(found):
        if path != entry:
            yield path


def scan_app(entry: Path) -> list[ProjectOption]:
    found: list[ProjectOption] = []
    for path in app_sources(entry):
        found.extend(scan_file(path))
    return found
