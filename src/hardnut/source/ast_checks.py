"""Facts about one Python source file, read with `ast` (never imported, never run).

`analyze(data, filename)` returns a `SourceFacts`: the imports it makes, and the constructs a compiler
cannot follow at build time (imports by computed name, modules loaded from file paths, eval/exec of
computed code, changes to the import path). No judgement here: hardnut.checks.source turns facts into
findings.

Names are resolved through the file's own import statements, so `import importlib as il;
il.import_module(x)` and `from importlib import import_module as load; load(x)` are both seen. The
resolution is per file and ignores scopes (a conservative, cheap approximation).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Optional, Union

# Calls that import a module by name: qualified name -> index of the name argument.
IMPORT_BY_NAME = {
    "importlib.import_module": 0,
    "__import__": 0,
    "builtins.__import__": 0,
    "importlib.__import__": 0,
    "runpy.run_module": 0,
    "pkgutil.resolve_name": 0,
}

# Calls that load code from a file path or a directory scan: the compiler sees no module at all.
LOAD_FROM_PATH = {  # qualified name -> (index, keyword) of the path argument
    "importlib.util.spec_from_file_location": (1, "location"),
    "importlib.util.spec_from_loader": (1, "loader"),
    "importlib.machinery.SourceFileLoader": (1, "path"),
    "importlib.machinery.SourcelessFileLoader": (1, "path"),
    "importlib.machinery.ExtensionFileLoader": (1, "path"),
    "imp.load_source": (1, "pathname"),
    "imp.load_module": (1, "file"),
    "imp.load_compiled": (1, "pathname"),
    "imp.load_dynamic": (1, "path"),
    "runpy.run_path": (0, "path_name"),
    "zipimport.zipimporter": (0, "path"),
}

CODE_EXEC = {"eval", "exec", "compile", "builtins.eval", "builtins.exec", "builtins.compile"}

# Import-system state that, when changed at run time, makes imports resolve somewhere the build did not.
IMPORT_STATE = ("sys.path", "sys.meta_path", "sys.path_hooks")
MUTATORS = ("append", "insert", "extend", "__setitem__", "__iadd__")
PATH_CALLS = {"site.addsitedir"}

BUILTIN_NAMES = {"eval", "exec", "compile", "__import__"}


@dataclass(frozen=True)
class Use:
    """One construct at one place: what was called or changed, and a safe description of the argument.

    `detail` is built from identifiers and node kinds only (never from string contents), so it can be
    printed without leaking a literal from the source."""

    line: int
    what: str  # qualified name, e.g. "importlib.import_module", "sys.path.insert", "sys.path = …"
    detail: str = ""  # e.g. "name", "<f-string>", "'plugins.csv'" (literal module names only)
    literal: Optional[str] = None  # the module name, when it is a constant string


@dataclass
class SourceFacts:
    """What the AST of a source file shows: its imports, dynamic imports, code loaded from a path or from
    text, the import state it changes."""

    imports: dict[str, int] = field(default_factory=dict)  # top-level module name -> first line (absolute)
    dynamic_imports: list[Use] = field(default_factory=list)  # import by name (literal or computed)
    path_loads: list[Use] = field(default_factory=list)  # code loaded from a file path
    code_exec: list[Use] = field(default_factory=list)  # eval/exec/compile of computed text
    import_state: list[Use] = field(default_factory=list)  # sys.path & co. changed
    syntax_error: Optional[tuple[int, str]] = None  # (line, message) when the file does not parse


def const_str(node: Optional[ast.AST]) -> Optional[str]:
    """The value of a constant string expression (a literal, or literals joined with +), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = const_str(node.left), const_str(node.right)
        if left is not None and right is not None:
            return left + right
    return None


def describe(node: Optional[ast.AST]) -> str:
    """A short, leak-free description of an argument: identifiers as written, everything else by kind."""
    if node is None:
        return "<none>"
    dotted = _dotted(node)
    if dotted:
        return dotted
    kinds = {
        ast.JoinedStr: "<f-string>", ast.Call: "<call result>", ast.BinOp: "<expression>",
        ast.Subscript: "<subscript>", ast.Constant: "<constant>", ast.Starred: "<*args>",
    }
    return kinds.get(type(node), "<expression>")


def _dotted(node: ast.AST) -> Optional[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class _Aliases(ast.NodeVisitor):
    """Local names bound by imports (anywhere in the file), and builtins shadowed by definitions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.shadowed: set[str] = set()

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.names[a.asname] = a.name
            else:
                top = a.name.split(".", 1)[0]
                self.names[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return
        for a in node.names:
            if a.name != "*":
                self.names[a.asname or a.name] = f"{node.module}.{a.name}"

    def _define(self, name: str) -> None:
        if name in BUILTIN_NAMES:
            self.shadowed.add(name)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._define(node.name)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._define(node.name)
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self._define(node.id)


class _Collector(ast.NodeVisitor):
    def __init__(self, aliases: _Aliases, facts: SourceFacts) -> None:
        self.aliases = aliases
        self.facts = facts

    def qualname(self, node: ast.AST) -> Optional[str]:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in self.aliases.names:
            base = self.aliases.names[head]
        elif head in BUILTIN_NAMES and head not in self.aliases.shadowed:
            base = head
        else:
            return None  # a local variable or something never imported: not one of ours
        return f"{base}.{rest}" if rest else base

    # imports ----------------------------------------------------------------------------------
    def _import(self, name: str, line: int) -> None:
        top = name.split(".", 1)[0]
        if top and top not in self.facts.imports:
            self.facts.imports[top] = line

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._import(a.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._import(node.module, node.lineno)

    # calls ------------------------------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualname(node.func)
        if name is not None:
            self._call(name, node)
        self.generic_visit(node)

    def _call(self, name: str, node: ast.Call) -> None:
        line = node.lineno
        if name in IMPORT_BY_NAME:
            arg = _argument(node, IMPORT_BY_NAME[name], ("name", "mod_name"))
            literal = const_str(arg)
            if literal is not None and name == "importlib.import_module" and literal.startswith("."):
                package = const_str(_argument(node, 1, ("package",)))
                literal = _resolve_relative(literal, package)
            detail = repr(literal) if literal is not None else describe(arg)
            self.facts.dynamic_imports.append(Use(line, name, detail, literal))
            if literal:
                self._import(literal, line)
        elif name in LOAD_FROM_PATH:
            index, keyword = LOAD_FROM_PATH[name]
            self.facts.path_loads.append(Use(line, name, describe(_argument(node, index, (keyword,)))))
        elif name in CODE_EXEC:
            arg = _argument(node, 0, ("source", "object"))
            if const_str(arg) is None:
                self.facts.code_exec.append(Use(line, name, describe(arg)))
        elif name in PATH_CALLS:
            self.facts.import_state.append(Use(line, name, describe(_argument(node, 0, ()))))
        else:
            base, _, method = name.rpartition(".")
            if base in IMPORT_STATE and method in MUTATORS:
                self.facts.import_state.append(Use(line, name, describe(_argument(node, -1, ()))))

    # assignments to sys.path & co. ---------------------------------------------------------------
    def _target(self, target: ast.AST, line: int, op: str) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._target(elt, line, op)
            return
        inner = target.value if isinstance(target, ast.Subscript) else target
        name = self.qualname(inner)
        if name in IMPORT_STATE:
            what = f"{name}[…] {op} …" if isinstance(target, ast.Subscript) else f"{name} {op} …"
            self.facts.import_state.append(Use(line, what))

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._target(t, node.lineno, "=")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._target(node.target, node.lineno, "+=" if isinstance(node.op, ast.Add) else "op=")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self._target(node.target, node.lineno, "=")
        self.generic_visit(node)


def _argument(node: ast.Call, index: int, keywords: tuple[str, ...]) -> Optional[ast.AST]:
    for kw in node.keywords:
        if kw.arg in keywords:
            return kw.value
    if index == -1:
        return node.args[-1] if node.args else None
    return node.args[index] if len(node.args) > index else None


def _resolve_relative(name: str, package: Optional[str]) -> Optional[str]:
    if not package:
        return None
    level = len(name) - len(name.lstrip("."))
    parts = package.split(".")
    if level > len(parts):
        return None
    base = ".".join(parts[: len(parts) - level + 1])
    rest = name[level:]
    return f"{base}.{rest}" if rest else base


def analyze(data: Union[bytes, str], filename: str = "<source>") -> SourceFacts:
    """Parse `data` (bytes honour PEP 263 coding cookies) and collect its facts.

    Never raises for bad input: a file that does not parse (syntax error, null bytes, undecodable
    text, nesting deep enough to exhaust the parser) returns facts with `syntax_error` set."""
    facts = SourceFacts()
    try:
        tree = ast.parse(data, filename=filename)
    except SyntaxError as exc:
        facts.syntax_error = (exc.lineno or 1, exc.msg or "invalid syntax")
        return facts
    except (ValueError, UnicodeError) as exc:  # null bytes, bad encoding
        facts.syntax_error = (1, f"cannot be parsed ({type(exc).__name__})")
        return facts
    except (RecursionError, MemoryError):
        facts.syntax_error = (1, "nesting too deep to parse")
        return facts
    try:
        aliases = _Aliases()
        aliases.visit(tree)
        _Collector(aliases, facts).visit(tree)
    except RecursionError:
        facts.syntax_error = (1, "nesting too deep to analyse")
    return facts
