"""Is an import guarded? Facts about one import statement in a Python source, read with `ast`.

Nuitka reports every import it could not resolve as "not-found", including the optional ones a package
guards itself (`try: import x` / `except ImportError:`). `guarded_import(source, line, name)` says
whether the import of `name` at `line` sits in the body of a `try` whose handlers catch the ImportError
(ImportError, ModuleNotFoundError, Exception, BaseException or a bare `except`): True, False, or None
when no import of that name is at that line (a different file or version than the report describes).
`fallback_for(source, line, name)` recognises the other common form, an import in the handler:
`try: import tomllib` / `except ImportError: import tomli as tomllib`; it runs only when the try's own
imports fail, and says which modules those are.
"""

from __future__ import annotations

import ast
from typing import Optional

CATCHES_IMPORT_ERROR = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"}
_TRY = (ast.Try,) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
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


def _catches(node: ast.AST) -> bool:
    """Whether a try statement has a handler that catches ImportError."""
    return any(_handler_names(h) & CATCHES_IMPORT_ERROR for h in node.handlers)


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
        if isinstance(node, _TRY):
            catches = _catches(node)
            for child in node.body:
                stack.append((child, guarded or catches))
            for child in node.handlers + node.orelse + node.finalbody:
                stack.append((child, guarded))
            continue
        for child in ast.iter_child_nodes(node):
            stack.append((child, guarded))
    return found


def fallback_for(source: bytes | ast.Module | None, line: int, name: str) -> Optional[tuple[str, ...]]:
    """When the import of `name` at `line` is in a handler that catches ImportError, of a `try` whose body
    is only absolute imports: the modules that body imports (the handler, and so this import, runs only
    when one of them cannot be imported). None otherwise."""
    tree = parse(source) if isinstance(source, bytes) else source
    if tree is None:
        return None
    for node in ast.walk(tree):
        if not isinstance(node, _TRY) or not _catches(node) or not node.body:
            continue
        if not all(isinstance(s, ast.Import) or (isinstance(s, ast.ImportFrom) and not s.level and s.module)
                   for s in node.body):
            continue
        for handler in node.handlers:
            if not _handler_names(handler) & CATCHES_IMPORT_ERROR:
                continue
            for inner in ast.walk(handler):
                if isinstance(inner, (ast.Import, ast.ImportFrom)) \
                        and inner.lineno <= line <= (inner.end_lineno or inner.lineno) and _imports_name(inner, name):
                    return tuple(a.name for s in node.body if isinstance(s, ast.Import) for a in s.names) + \
                        tuple(s.module for s in node.body if isinstance(s, ast.ImportFrom))
    return None
