"""Is an import guarded? Facts about one import statement in a Python source, read with `ast`.

Nuitka reports every import it could not resolve as "not-found", including the optional ones a package
guards itself (`try: import x` / `except ImportError:`). `guarded_import(source, line, name)` says
whether the import of `name` at `line` sits in the body of a `try` whose handlers catch the ImportError
(ImportError, ModuleNotFoundError, Exception, BaseException or a bare `except`): True, False, or None
when no import of that name is at that line (a different file or version than the report describes).
"""

from __future__ import annotations

import ast
from typing import Optional

CATCHES_IMPORT_ERROR = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
MAX_SOURCE_BYTES = 4 * 1024 * 1024


def _handler_names(handler: ast.ExceptHandler) -> set[str]:
    if handler.type is None:
        return {"BaseException"}
    nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    names = set()
    for node in nodes:
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):  # builtins.ImportError
            names.add(node.attr)
    return names


def _imports_name(node: ast.AST, name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    if isinstance(node, ast.Import):
        return any(a.name == name or name.startswith(a.name + ".") or a.name.startswith(name + ".")
                   for a in node.names)
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        if module and (module == name or name.startswith(module + ".") or name.endswith("." + module)
                       or module.endswith("." + name) or module.startswith(name + ".")):
            return True
        return any(a.name == last for a in node.names)  # from . import name / from pkg import submodule
    return False


def parse(source: bytes) -> Optional[ast.Module]:
    """The module's syntax tree, or None (too large, or not Python this interpreter parses)."""
    if len(source) > MAX_SOURCE_BYTES:
        return None
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def guarded_import(source: bytes | ast.Module | None, line: int, name: str) -> Optional[bool]:
    """True when the import of `name` at `line` is inside a try body that catches ImportError."""
    tree = parse(source) if isinstance(source, bytes) else source
    if tree is None:
        return None
    found: Optional[bool] = None
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, guarded = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)) and node.lineno <= line <= (node.end_lineno or node.lineno):
            if _imports_name(node, name):
                if guarded:
                    return True
                found = False
        try_types = (ast.Try,) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
        if isinstance(node, try_types):
            catches = any(_handler_names(h) & CATCHES_IMPORT_ERROR for h in node.handlers)
            for child in node.body:
                stack.append((child, guarded or catches))
            for child in node.handlers + node.orelse + node.finalbody:
                stack.append((child, guarded))
            continue
        for child in ast.iter_child_nodes(node):
            stack.append((child, guarded))
    return found
