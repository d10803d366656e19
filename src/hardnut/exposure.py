"""What a reverse engineer recovers from a Nuitka program: facts and summary for `hardnut exposure`.

A consumer of facts other layers already produce, not a parser of its own:
* the decoded constants blob of every Nuitka binary in the target (`hardnut.inspect.constants_blob`):
  per compiled module its string constants, identifiers, bytes constants and code objects;
* Nuitka's compilation report beside the dist (`hardnut.nuitka.report_xml`): how each module got in
  (compiled, or shipped as bytecode - "UncompiledPythonModule" - and why);
* the walked artifact (`hardnut.artifact.walk`, onefile payloads included): `.py`/`.pyi` source files
  and `.pyc` files shipped as files;
* the app's sources, when found (the profile's root, which is Nuitka's `${cwd}` for hardnut builds):
  they say which constants are docstrings and assert messages, so what `no_docstrings` / `no_asserts`
  would remove is measured on the decoded constants, not guessed. Without sources, docstring-like
  constants (several lines, or a sentence) are counted with `basis: "heuristic"`.

Constant classes, per compiled module: `identifiers` (names: functions, classes, attributes,
arguments), `docstrings`, `assert_messages`, `paths` (file-path-like strings), `strings` (every
other str), `bytes`; `line_info` counts code objects (each holds a name, a first line number and
argument names). Samples are shortened, and a constant the secret engine flags is shown masked
(`hardnut.model.mask`) - everywhere: text, JSON and HTML.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
import inspect as _pyinspect
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional

from hardnut.model import mask

CLASSES = ("identifiers", "docstrings", "assert_messages", "paths", "strings", "bytes")
SAMPLES = 5  # samples per class and module
SAMPLE_CHARS = 60
MAX_SOURCE_BYTES = 4 * 1024 * 1024  # a source file larger than this is not parsed for docstrings

_PATH = re.compile(r"^(?:[A-Za-z]:[\\/]|/|~/|\.\.?/)[^\s\x00]*$|^[\w.\-/\\]+\.(?:py|pyc|pyi|so|dll|pyd|json|toml|"
                   r"ya?ml|ini|cfg|txt|xml|db|sqlite|pem|key|crt|env)$")
_SENTENCE = re.compile(r"^[A-Z`\"'(][^\n]{20,}[.!?:]$")


@dataclass
class ConstantClass:
    """How many constants of one class (identifiers, paths, URLs, ...) a program holds, their bytes, a few
    samples."""

    count: int = 0
    bytes: int = 0
    samples: list[str] = field(default_factory=list)

    def add(self, shown: str, size: int) -> None:
        if self.tally(size):
            self.samples.append(shown)

    def tally(self, size: int) -> bool:
        """Count one constant of `size` bytes; True when its sample is still wanted."""
        self.count += 1
        self.bytes += size
        return len(self.samples) < SAMPLES

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "bytes": self.bytes, "samples": list(self.samples)}


@dataclass
class CompiledModule:
    """A compiled module of a program and what its constants expose."""

    name: str
    binary: str  # relpath of the binary whose constants blob holds it
    own: bool  # one of the app's own modules
    classes: dict[str, ConstantClass] = field(default_factory=lambda: {c: ConstantClass() for c in CLASSES})
    line_info: int = 0  # code objects: name + first line number + argument names each
    docstrings_basis: str = "heuristic"  # "source" when the module's source said which constants are docstrings
    secrets_masked: int = 0
    secret_samples: list[str] = field(default_factory=list)  # masked, whatever class the constant is in
    complete: bool = True

    @property
    def recoverable_bytes(self) -> int:
        return sum(c.bytes for c in self.classes.values())

    @property
    def strings_total(self) -> int:
        return sum(c.count for k, c in self.classes.items() if k not in ("identifiers", "bytes"))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "binary": self.binary, "own": self.own, "complete": self.complete,
                "recoverable_bytes": self.recoverable_bytes, "line_info": self.line_info,
                "docstrings_basis": self.docstrings_basis, "secrets_masked": self.secrets_masked,
                "secret_samples": list(self.secret_samples), **{k: c.to_dict() for k, c in self.classes.items()}}


@dataclass
class ShippedModule:
    """A module a reader gets as Python bytecode or source, not as compiled C."""

    name: str
    form: str  # "bytecode" or "source"
    how: str  # how it got there (Nuitka's report: usage/reason; or "file in the dist")
    path: str = ""  # the file in the artifact, for .py/.pyc files
    own: bool = False
    stdlib: bool = False  # Nuitka's report says it is part of the standard library

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "form": self.form, "how": self.how, "path": self.path, "own": self.own,
                "stdlib": self.stdlib}


@dataclass
class FlagEffect:
    """What a Python flag (no_docstrings, no_asserts) removes, or would remove, from a program's constants."""

    flag: str
    enabled: bool  # the build already used it
    removes_count: int
    removes_bytes: int
    basis: str  # "source" or "heuristic" (see module docstring)
    modules: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"flag": self.flag, "enabled": self.enabled, "removes_count": self.removes_count,
                "removes_bytes": self.removes_bytes, "basis": self.basis, "modules": self.modules}


@dataclass
class Exposure:
    """What an attacker can read out of a program: its compiled modules' constants by class, and what flags would
    remove."""

    target: str
    binaries: list[str] = field(default_factory=list)
    compiled: list[CompiledModule] = field(default_factory=list)
    shipped: list[ShippedModule] = field(default_factory=list)
    extensions: int = 0
    data_files: list[str] = field(default_factory=list)  # shipped as-is (Nuitka's report: data files)
    flags: list[FlagEffect] = field(default_factory=list)
    python_flags: tuple[str, ...] = ()
    own_patterns: tuple[str, ...] = ()
    report: Optional[str] = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        docs = sum(m.classes["docstrings"].count for m in self.compiled)
        return {
            "compiled": len(self.compiled),
            "bytecode": sum(1 for s in self.shipped if s.form == "bytecode"),
            "source": sum(1 for s in self.shipped if s.form == "source"),
            "extension_modules": self.extensions,
            "data_files": len(self.data_files),
            "strings": sum(m.strings_total for m in self.compiled),
            "identifiers": sum(m.classes["identifiers"].count for m in self.compiled),
            "recoverable_bytes": sum(m.recoverable_bytes for m in self.compiled),
            "docstrings": docs,
            "docstrings_present": docs > 0,
            "own_modules": [m.name for m in self.compiled if m.own]
            + [s.name for s in self.shipped if s.own],
            "secrets_masked": sum(m.secrets_masked for m in self.compiled),
        }

    def to_dict(self) -> dict[str, Any]:
        from hardnut import __version__

        return {
            "tool": {"name": "hardnut", "version": __version__},
            "target": self.target,
            "report": self.report,
            "binaries": self.binaries,
            "python_flags": list(self.python_flags),
            "own_patterns": list(self.own_patterns),
            "summary": self.summary(),
            "flags": [f.to_dict() for f in self.flags],
            "modules": [m.to_dict() for m in self.compiled],
            "shipped": [s.to_dict() for s in self.shipped],
            "data_files": self.data_files,
            "notes": self.notes,
        }


# ----------------------------------------------------------------------------------------------
# sources: which constants are docstrings and assert messages


@dataclass(frozen=True)
class SourceFacts:
    """The app's docstrings and assert messages, read from its sources to recognise them in constants."""

    docstrings: frozenset[bytes]
    asserts: frozenset[bytes]


def source_facts(text: str) -> Optional[SourceFacts]:
    """Docstrings (raw and cleaned, as Python versions store them) and assert messages of a source."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    docs: set[bytes] = set()
    asserts: set[bytes] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                doc = body[0].value.value
                docs.update(_encoded(doc, _pyinspect.cleandoc(doc)))
        elif isinstance(node, ast.Assert) and isinstance(node.msg, ast.Constant) and isinstance(node.msg.value, str):
            asserts.update(_encoded(node.msg.value))
    return SourceFacts(frozenset(docs), frozenset(asserts))


def _encoded(*texts: str) -> list[bytes]:
    return [t.encode("utf-8", "surrogatepass") for t in texts]


def module_source(name: str, report_path: str, roots: Iterable[Path]) -> Optional[Path]:
    """The source file of module `name`: the report's source path with ${cwd} resolved against each
    root, else the module's dotted path below each root."""
    candidates = []
    rel = report_path.replace("\\", "/")
    for root in roots:
        if rel.startswith("${cwd}/"):
            candidates.append(root / rel[len("${cwd}/"):])
        dotted = name.replace(".", "/")
        candidates += [root / (dotted + ".py"), root / dotted / "__init__.py"]
    if rel and not rel.startswith("${") and os.path.isabs(rel):
        candidates.append(Path(rel))
    for c in candidates:
        try:
            if c.is_file() and c.stat().st_size <= MAX_SOURCE_BYTES:
                return c
        except OSError:
            continue
    return None


def _read_facts(path: Path) -> Optional[SourceFacts]:
    from hardnut.safeio import read_regular

    try:
        return source_facts(read_regular(path, MAX_SOURCE_BYTES).decode("utf-8", "replace"))
    except OSError:
        return None


def own_modules(root: Path, names: Iterable[str]) -> tuple[str, ...]:
    """Of the profile's include_packages/include_modules, those whose source lies in the app's folder
    (`root`): the app's own code, not third-party packages it bundles. "__main__" always."""
    own = ["__main__"]
    for name in names:
        base = Path(root) / name.replace(".", "/")
        if base.is_dir() or base.with_suffix(".py").is_file():
            own.append(name)
    return tuple(own)


def looks_like_docstring(text: str) -> bool:
    """Heuristic when no source is at hand: several lines of prose, or one sentence."""
    t = text.strip()
    if "\n" in t and " " in t and len(t) >= 20:
        return True
    return bool(_SENTENCE.match(t)) and t.count(" ") >= 3


def looks_like_path(text: str) -> bool:
    return 2 < len(text) < 4096 and ("/" in text or "\\" in text or "." in text) and bool(_PATH.match(text))


# ----------------------------------------------------------------------------------------------
# collecting


def matches_any(name: str, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if fnmatch.fnmatchcase(name, p) or name == p or name.startswith(p + "."):
            return True
    return False


def shorten(text: str, limit: int = SAMPLE_CHARS) -> str:
    shown = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return shown if len(shown) <= limit else shown[:limit - 1] + "…"


@lru_cache(maxsize=1)
def _engine():
    from hardnut.secrets.engine import Engine

    return Engine()


def secret_offsets(blob) -> set[int]:
    """File offsets of the blob's string constants that hold something the secret engine flags: the
    constants one by one, and name/value pairs (as `hardnut verify` scans them)."""
    engine = _engine()
    strings = [(s.offset, s.raw) for m in blob.modules for s in m.strings if s.length >= 8]
    pairs = [(name.raw, value.offset, value.raw) for m in blob.modules for name, value in m.pairs(min_value=8)]
    matches = engine.scan_strings(strings) + engine.scan_pairs(pairs)
    if not matches:
        return set()
    spans = sorted((s.offset, s.offset + s.length) for m in blob.modules for s in m.strings)
    starts = [a for a, _ in spans]
    flagged = set()
    for m in matches:
        i = bisect.bisect_right(starts, m.offset) - 1
        if i >= 0 and m.offset < spans[i][1]:
            flagged.add(spans[i][0])
    return flagged


def classify_module(part, binary: str, own: bool, facts: Optional[SourceFacts], secret_at: set[int]) -> CompiledModule:
    mod = CompiledModule(part.name, binary, own, line_info=part.code_objects, complete=part.complete)
    mod.docstrings_basis = "source" if facts is not None else "heuristic"
    classes = mod.classes
    for s in part.strings:
        # a constant's text is decoded, and its sample shortened, only when needed: a program holds
        # tens of thousands of constants (42,000 in a requests app), most of them identifiers and bytes
        # whose class needs no text, and each class keeps only SAMPLES samples
        kind, text = s.kind, None
        if kind == "bytes":
            cls = "bytes"
        elif kind == "attr":
            cls = "identifiers"
        else:
            text = s.text
            if facts is not None and s.raw in facts.docstrings:
                cls = "docstrings"
            elif facts is not None and s.raw in facts.asserts:
                cls = "assert_messages"
            elif looks_like_path(text):
                cls = "paths"
            elif facts is None and looks_like_docstring(text):
                cls = "docstrings"
            else:
                cls = "strings"
        if s.offset in secret_at:
            shown = mask(s.text if text is None else text)
            mod.secrets_masked += 1
            if len(mod.secret_samples) < SAMPLES:
                mod.secret_samples.append(shown)
            classes[cls].add(shown, s.length)
            continue
        c = classes[cls]
        if c.tally(s.length):
            c.samples.append(shorten(s.text if text is None else text))
    return mod


def collect(target: Path, *, source_roots: Iterable[Path] = (), own: Iterable[str] = (),
            python_flags: Iterable[str] = (), limits=None, module_filter: Iterable[str] = ()) -> Exposure:
    """Walk `target` (a dist folder, a onefile binary or one binary) and gather its exposure."""
    from hardnut.artifact.walk import open_target

    with open_target(Path(target), limits) as art:
        return from_artifact(art, source_roots=source_roots, own=own, python_flags=python_flags, limits=limits,
                             module_filter=module_filter)


def from_artifact(art, *, source_roots: Iterable[Path] = (), own: Iterable[str] = (),
                  python_flags: Iterable[str] = (), limits=None, module_filter: Iterable[str] = (),
                  blobs: Optional[dict] = None, report=None, samples: bool = True) -> Exposure:
    """The exposure of a walked artifact. `blobs` (relpath -> ConstantsBlob or None) and `report`
    (a parsed NuitkaReport) reuse what verify's checks already decoded; `samples=False` skips the
    secret engine (no samples are shown then)."""
    from hardnut.inspect.constants_blob import BlobError, read_constants_blob
    from hardnut.nuitka.report_xml import ReportError, parse_report

    roots = [Path(r) for r in source_roots]
    own_patterns = tuple(own)
    module_filter = tuple(module_filter)
    exp = Exposure(target=str(art.target))
    if art.report_xml is not None:
        exp.report = art.report_xml.name
        if report is None:
            try:
                report = parse_report(art.report_xml)
            except ReportError as exc:
                exp.notes.append(f"Nuitka report not used: {exc}")
    flags = set(python_flags)
    if report is not None:
        flags.update(report.option_values("--python-flag"))
        exp.extensions = sum(1 for m in report.modules if m.kind == "PythonExtensionModule")
        exp.data_files = sorted(d.name for d in report.data_files)
    exp.python_flags = tuple(sorted(flags))
    user = {m.name for m in report.modules if m.is_user_code} if report is not None else set()
    if not own_patterns:
        own_patterns = tuple(sorted(user)) or ("__main__",)
    exp.own_patterns = own_patterns

    def is_own(name: str) -> bool:
        return matches_any(name, own_patterns) or name in user

    facts_cache: dict[str, Optional[SourceFacts]] = {}

    def facts_for(name: str) -> Optional[SourceFacts]:
        if name not in facts_cache:
            rm = report.module(name) if report is not None else None
            found = module_source(name, rm.source_path if rm is not None else "", roots)
            facts_cache[name] = _read_facts(found) if found else None
        return facts_cache[name]

    for f in art.files:
        if f.kind not in ("elf", "pe"):
            continue
        key = f"constants_blob:{f.relpath}"
        if blobs is not None and key in blobs:
            blob = blobs[key]
        else:
            try:
                blob = read_constants_blob(f.fs_path, f.kind, limits.max_scan_bytes if limits else None)
            except BlobError as exc:
                exp.notes.append(f"{f.relpath}: {exc}")
                continue
        if blob is None:
            continue
        exp.binaries.append(f.relpath)
        secret_at = secret_offsets(blob) if samples else set()
        for part in blob.modules:
            if part.module is None:
                continue
            if module_filter and not matches_any(part.name, module_filter):
                continue
            mod = classify_module(part, f.relpath, is_own(part.name), facts_for(part.name), secret_at)
            if not samples:
                for c in mod.classes.values():
                    c.samples.clear()
                mod.secret_samples.clear()
            exp.compiled.append(mod)
            if not part.complete:
                exp.notes.append(f"{f.relpath}: module {part.name} decoded partly ({part.note})")
    if report is not None:
        for m in report.modules:
            if m.kind.startswith("UncompiledPython") and (not module_filter or matches_any(m.name, module_filter)):
                how = f"Nuitka included it as bytecode ({m.usage}{': ' + m.reason if m.reason else ''})"
                exp.shipped.append(ShippedModule(m.name, "bytecode", how, "", is_own(m.name), m.is_stdlib))
    for f in art.files:
        low = f.relpath.lower()
        form = "source" if low.endswith((".py", ".pyi", ".pyw")) else "bytecode" if low.endswith(".pyc") else None
        if form is None:
            continue
        name = _module_name_of(f.relpath)
        if module_filter and not matches_any(name, module_filter):
            continue
        exp.shipped.append(ShippedModule(name, form, "file in the dist (data file or package data)",
                                         f.relpath, is_own(name)))
    exp.compiled.sort(key=lambda m: (not m.own, -m.recoverable_bytes, m.name))
    exp.shipped.sort(key=lambda s: (not s.own, s.stdlib, s.form, s.name))
    exp.flags = flag_effects(exp)
    return exp


def _module_name_of(relpath: str) -> str:
    inner = relpath.split("!/")[-1]
    stem = inner.rsplit(".", 1)[0]
    if stem.endswith("/__init__"):
        stem = stem[: -len("/__init__")]
    stem = re.sub(r"/__pycache__/([^/]+)\.[^/.]+-\d+$", r"/\1", stem)  # pkg/__pycache__/m.cpython-311 -> pkg/m
    return stem.replace("/", ".")


def flag_effects(exp: Exposure) -> list[FlagEffect]:
    """What no_docstrings and no_asserts would remove, from the classified constants."""
    out = []
    for flag, cls in (("no_docstrings", "docstrings"), ("no_asserts", "assert_messages")):
        mods = [m for m in exp.compiled if m.classes[cls].count]
        basis = "source" if mods and all(m.docstrings_basis == "source" for m in mods) else (
            "heuristic" if mods else "source")
        if cls == "assert_messages":
            basis = "source"  # assert messages are only ever recognised from the source
        out.append(FlagEffect(flag, flag in exp.python_flags, sum(m.classes[cls].count for m in mods),
                              sum(m.classes[cls].bytes for m in mods), basis, [m.name for m in mods]))
    return out
