"""Data flows one way inside hardnut.artifact: no module imports one that (directly or not) imports it."""

from __future__ import annotations

import ast
from pathlib import Path

ARTIFACT = Path(__file__).resolve().parents[1] / "src" / "hardnut" / "artifact"


def _graph() -> dict[str, set[str]]:
    mods = {}
    for p in ARTIFACT.rglob("*.py"):
        rel = p.relative_to(ARTIFACT.parent.parent).with_suffix("")
        mods[".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)] = p
    graph = {}
    for name, p in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(p.read_text())):  # function-level imports count too
            if isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
                deps.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name and not name.startswith(d + ".")}
    return graph


def test_artifact_modules_import_one_way():
    graph = _graph()
    assert "hardnut.artifact.onefile.search" in graph and "hardnut.artifact.walk" in graph

    def reaches(a: str, b: str, seen: set[str]) -> bool:
        return any(d == b or (d not in seen and not seen.add(d) and reaches(d, b, seen)) for d in graph[a])

    cycles = sorted((a, b) for a in graph for b in graph[a] if reaches(b, a, set()))
    assert not cycles, f"import cycles: {cycles}"


def test_onefile_has_one_module_per_concern():
    sizes = {p.name: len(p.read_text().splitlines()) for p in (ARTIFACT / "onefile").glob("*.py")}
    assert {"blob.py", "search.py", "extract.py"} <= set(sizes)
    assert max(sizes.values()) < 600, sizes
