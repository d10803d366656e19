"""Debug rules: debug information, symbol tables and build-host paths left in the shipped binaries.

The main program (see checks.dependency.main_programs) is held to a strict standard: it is what the
release built. Bundled third-party files are reported separately and lower: CPython's own extension
modules and many wheels ship with DWARF and their builders' paths, which the release cannot fix without
rebuilding them. One finding per file per rule, with at most three examples.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Iterable, Optional

from hardnut.checks.base import CheckContext, rule_finding
from hardnut.checks.dependency import binaries, examples, main_programs, prepare, stable_fingerprint
from hardnut.checks.walk import LIMIT
from hardnut.inspect import is_facts
from hardnut.inspect.elf import ElfFacts, StringHit
from hardnut.model import Finding, Rule, Severity

if TYPE_CHECKING:
    from hardnut.inspect.macho import MachoFacts
    from hardnut.inspect.pe import PeFacts

MAIN_DEBUG_INFO = Rule(
    "HN-DBG-001", "debug information in the main program", "debug", Severity.HIGH,
    "The main program carries DWARF sections (.debug_* / .zdebug_*; in PE files as MinGW writes them). "
    "They map machine code back to source files, functions, types and line numbers, make reverse "
    "engineering the compiled Python code much easier, and usually contain build-host paths. Nuitka's "
    "--debug / --unstripped or -g in CFLAGS leave them in; build without them, or strip the binary "
    "(strip --strip-debug, or -s with MinGW).",
)
MAIN_SYMBOLS = Rule(
    "HN-DBG-002", "main program not stripped", "debug", Severity.MEDIUM,
    "The main program has a full symbol table (ELF .symtab, a COFF symbol table in a PE, local symbols in "
    "a Mach-O symbol table). It names "
    "every function, including static ones, which documents the program's structure for anyone "
    "inspecting it. It is not needed at run time (the dynamic symbol table is separate); strip it.",
)
MAIN_BUILD_PATHS = Rule(
    "HN-DBG-003", "build-host paths in the main program", "debug", Severity.HIGH,
    "The main program contains absolute paths of the machine that built it: DWARF DW_AT_comp_dir values, "
    "or strings such as /home/<user>/..., /root/..., /tmp/<dir>/..., /build/..., /usr/src/... or "
    "C:\\Users\\<user>\\.... They disclose user names and the build layout and make the build "
    "irreproducible. They come from debug info, __FILE__, or a statically linked interpreter's "
    "configuration (sysconfig prefix); build in a neutral folder and use -ffile-prefix-map. The finding "
    "points at the first path's offset in the file.",
    ("https://reproducible-builds.org/docs/build-path/",),
)
MAIN_PDB_PATH = Rule(
    "HN-DBG-004", "PDB path in the main program", "debug", Severity.MEDIUM,
    "The main program's debug directory has a CodeView record naming a PDB file. The path shows where the "
    "program was built (often C:\\Users\\<user>\\...) and tells anyone analysing the binary which symbol "
    "file to look for. Link with /PDBALTPATH:%_PDB% (MSVC) or without --pdb (MinGW) to keep only the file "
    "name. The finding points at the path's offset.",
    ("https://learn.microsoft.com/cpp/build/reference/pdbaltpath-use-alternate-pdb-path",),
)
MAIN_RUNTIME_PATHS = Rule(
    "HN-DBG-005", "Python installation paths in the main program", "debug", Severity.LOW,
    "The main program contains absolute paths of the Python installation it was built with: its prefix "
    "(e.g. /root/.pyenv/versions/3.11.7, with lib/python3.X below it) and CPython's own build tree "
    "(e.g. /tmp/python-build.../Python-3.11.7). A statically linked libpython bakes them in (getpath, "
    "sysconfig data, frozen modules); they disclose the build machine's Python layout and user, but only "
    "a Python built with a neutral prefix (python-build-standalone, manylinux /opt/python) avoids them, "
    "hence low. Paths count as the Python installation's when they lie under a prefix that the file also "
    "names with /lib/python3.X, or inside a Python-3.X.Y / python3.X-... source tree.",
)
BUNDLED_DEBUG_INFO = Rule(
    "HN-DBG-011", "debug information in a bundled file", "debug", Severity.INFO,
    "A bundled third-party binary (extension module, shared library, DLL) carries DWARF, a symbol table or "
    "a PDB reference. Common and mostly harmless: CPython's own extension modules ship like this. Strip "
    "bundled files if size or disclosure matters.",
)
BUNDLED_BUILD_PATHS = Rule(
    "HN-DBG-012", "build-host paths in a bundled file", "debug", Severity.LOW,
    "A bundled third-party binary contains absolute build-host paths (DW_AT_comp_dir or strings). Usually "
    "its upstream builder's paths (e.g. /tmp/python-build.../ from pyenv), but a path under your own "
    "home folder means a file you built yourself was bundled unstripped. The finding points at the first "
    "path's offset in the file.",
)

DEBUG_MAP = Rule(
    "HN-DBG-006", "Mach-O debug map names build-host objects", "debug", Severity.LOW,
    "The symbol table of a Mach-O file holds N_OSO debug-map entries: the absolute paths of the object "
    "files it was linked from (e.g. /Users/<user>/project/build/foo.o), so that dsymutil or lldb can find "
    "their DWARF later. They disclose the build machine's user and layout. strip -S (or ld -S) removes them; "
    "ship the DWARF in a separate .dSYM instead. Low for the main program, info for bundled files (most "
    "macOS wheels carry their CI runner's paths). The finding points at the first path's offset.",
    ("https://github.com/apple-oss-distributions/cctools/blob/main/include/mach-o/stab.h",
     "https://reproducible-builds.org/docs/build-path/"),
)
DSYM_SHIPPED = Rule(
    "HN-DBG-007", "dSYM bundle shipped", "debug", Severity.MEDIUM,
    "A .dSYM folder (DWARF for a Mach-O file, made by dsymutil) is in the artifact. It maps machine code back "
    "to source files, functions and lines, and names the build machine's paths. Keep dSYMs for crash "
    "symbolication on your side; do not ship them.",
    ("https://developer.apple.com/documentation/xcode/building-your-app-to-include-debugging-information",),
)

DEBUG_FILE = Rule(
    "HN-DBG-008", "separate debug file shipped", "debug", Severity.HIGH,
    "A separate debug file ships with the artifact: an ELF that holds DWARF but no code, as `objcopy "
    "--only-keep-debug` writes (.debug), or split DWARF (.dwo, .dwp). It carries the complete debug "
    "information of the program it belongs to (source file names, types, build-host paths), which "
    "stripping the program was meant to keep out, and is never needed at run time. Rated the same "
    "whatever its name; hardening rules do not apply to it (it is not loadable code).",
)

RULES = [MAIN_DEBUG_INFO, MAIN_SYMBOLS, MAIN_BUILD_PATHS, MAIN_PDB_PATH, MAIN_RUNTIME_PATHS, BUNDLED_DEBUG_INFO,
         BUNDLED_BUILD_PATHS, DEBUG_MAP, DSYM_SHIPPED, DEBUG_FILE]

# Python installation prefix: what precedes /lib/python3.X (or lib64) in a path
_PY_LIBDIR = re.compile(r"^(/.*?)/lib(?:64)?/python3\.\d+(?:/|$)")
# a CPython source/build tree: Python-3.11.7 (python-build, pyenv), python3.11-3.11.2 (Debian)
_PY_SOURCE_TREE = re.compile(r"/(?:Python-3\.\d+[^/]*|python3\.\d+-[^/]+)(?:/|$)")
# example paths in CPython's frozen stdlib modules (zipimport's docstring)
_CPYTHON_STRINGS = ("/tmp/myimport.zip",)


def run(ctx: CheckContext) -> Iterable[Finding]:
    out = prepare(ctx)
    mains = main_programs(ctx)
    out.extend(_dsyms(ctx))
    for f, facts in binaries(ctx):
        path = f.relpath
        main = path in mains
        if isinstance(facts, ElfFacts) and facts.dwarf_limit:
            out.append(rule_finding(LIMIT, path, f"{path}: DWARF not read: {facts.dwarf_limit}"))
        debug_secs = facts.debug_sections
        if is_facts(facts, "macho"):
            out.extend(_debug_map(path, facts, main))
            symbols = any(s.local_symbols for s in facts.slices)  # `strip` / `strip -x` remove them
        else:
            symbols = facts.has_symtab if isinstance(facts, ElfFacts) else facts.has_coff_symbols
        pdbs = facts.pdb_paths if is_facts(facts, "pe") else ()
        paths = _paths(facts)
        if isinstance(facts, ElfFacts) and facts.debug_only:
            out.append(rule_finding(DEBUG_FILE, path, f"{path} is a separate debug file: {_dwarf(facts)}",
                                    fingerprint=stable_fingerprint(DEBUG_FILE, path)))
            if paths:
                out.append(_paths_finding(BUNDLED_BUILD_PATHS, path, paths, facts))
            continue
        if main:
            if debug_secs:
                out.append(rule_finding(MAIN_DEBUG_INFO, path, f"{path} carries debug information: {_dwarf(facts)}",
                                        fingerprint=stable_fingerprint(MAIN_DEBUG_INFO, path)))
            if symbols:
                table = ".symtab" if isinstance(facts, ElfFacts) else (
                    "local symbols in its symbol table" if is_facts(facts, "macho") else "a COFF symbol table")
                out.append(rule_finding(MAIN_SYMBOLS, path, f"{path} is not stripped: it has {table}"))
            own, runtime = split_runtime_paths(paths)
            if own:
                out.append(_paths_finding(MAIN_BUILD_PATHS, path, own, facts))
            if runtime:
                out.append(_paths_finding(MAIN_RUNTIME_PATHS, path, runtime, facts))
            for pdb in pdbs[:1]:
                out.append(rule_finding(MAIN_PDB_PATH, path, f"{path} names its PDB file: {pdb.text}",
                                        offset=pdb.offset, length=pdb.length, evidence=pdb.text,
                                        fingerprint=stable_fingerprint(MAIN_PDB_PATH, path, pdb.text)))
        else:
            parts = []
            if debug_secs:
                parts.append(_dwarf(facts))
            if symbols:
                parts.append("a COFF symbol table" if is_facts(facts, "pe") else "a symbol table")
            if pdbs:
                parts.append(f"a PDB path ({pdbs[0].text})")
            if parts:
                first = pdbs[0] if pdbs and not debug_secs and not symbols else None
                out.append(rule_finding(
                    BUNDLED_DEBUG_INFO, path, f"{path} (bundled) carries {'; '.join(parts)}",
                    offset=first.offset if first else None, length=first.length if first else None,
                    fingerprint=stable_fingerprint(BUNDLED_DEBUG_INFO, path)))
            if paths:
                out.append(_paths_finding(BUNDLED_BUILD_PATHS, path, paths, facts))
    return out


def _debug_map(path: str, facts: MachoFacts, main: bool) -> list[Finding]:
    hits = list({h.text: h for s in facts.slices for h in s.oso_paths}.values())
    if not hits:
        return []
    first = min(hits, key=lambda h: h.offset)
    who = "" if main else " (bundled)"
    return [rule_finding(
        DEBUG_MAP, path, f"{path}{who} has {len(hits)}{'+' if len(hits) >= 32 else ''} N_OSO debug-map "
        f"entr{'ies' if len(hits) != 1 else 'y'} naming build-host objects, e.g. {examples([h.text for h in hits], 2)}",
        severity=DEBUG_MAP.severity if main else Severity.INFO, offset=first.offset, length=first.length,
        evidence=first.text, fingerprint=stable_fingerprint(DEBUG_MAP, path))]


def _dsyms(ctx: CheckContext) -> list[Finding]:
    """One finding per shipped .dSYM folder (found through the files inside it)."""
    seen: dict[str, int] = {}
    for f in ctx.files():
        parts = f.relpath.split("/")
        for i, part in enumerate(parts[:-1]):
            if part.endswith(".dSYM"):
                folder = "/".join(parts[:i + 1])
                seen[folder] = seen.get(folder, 0) + 1
                break
    return [rule_finding(DSYM_SHIPPED, folder, f"{folder} ships DWARF debug information ({n} file{'s' if n != 1 else ''})",
                         fingerprint=stable_fingerprint(DSYM_SHIPPED, folder)) for folder, n in sorted(seen.items())]


def _dwarf(facts: ElfFacts | PeFacts) -> str:
    secs = facts.debug_sections
    text = f"DWARF ({len(secs)} section{'s' if len(secs) != 1 else ''}: {examples(secs)})"
    error = getattr(facts, "dwarf_error", None)
    if error:
        text += f" that could not be read ({error}), so build-host paths in it were not checked"
    units = getattr(facts, "dwarf_units", ())
    names = [u.name for u in units if u.name]
    if names:
        more = "+" if getattr(facts, "dwarf_more_units", False) else ""
        text += f", compilation units such as {examples(names, 2)}{more}"
    return text


def _paths(facts: ElfFacts | PeFacts) -> list[tuple[str, Optional[int], Optional[int]]]:
    """(path, offset, length): DW_AT_comp_dir values first, then paths found in strings; distinct."""
    seen: dict[str, tuple[str, Optional[int], Optional[int]]] = {}
    for unit in getattr(facts, "dwarf_units", ()):
        comp_dir = unit.comp_dir or ""
        if comp_dir.startswith(("/", "\\")) or comp_dir[1:3] in (":\\", ":/"):  # absolute only
            length = len(comp_dir.encode("utf-8", "surrogateescape")) if unit.comp_dir_offset is not None else None
            seen.setdefault(comp_dir, (comp_dir, unit.comp_dir_offset, length))
    hit: StringHit
    for hit in facts.build_paths:
        seen.setdefault(hit.text, (hit.text, hit.offset, hit.length))
    return list(seen.values())


def split_runtime_paths(paths: list[tuple[str, Optional[int], Optional[int]]]):
    """(own paths, Python installation paths): see MAIN_RUNTIME_PATHS for the attribution."""
    prefixes = {m.group(1) for p, _o, _l in paths if (m := _PY_LIBDIR.match(p))}
    own, runtime = [], []
    for item in paths:
        text = item[0]
        if (any(text == pre or text.startswith(pre + "/") for pre in prefixes)
                or _PY_SOURCE_TREE.search(text) or text.startswith(_CPYTHON_STRINGS)):
            runtime.append(item)
        else:
            own.append(item)
    return own, runtime


def _paths_finding(rule: Rule, path: str, paths: list[tuple[str, Optional[int], Optional[int]]],
                   facts: ElfFacts | PeFacts) -> Finding:
    with_offset = [p for p in paths if p[1] is not None]
    first = min(with_offset, key=lambda p: p[1] or 0) if with_offset else None
    where = f" (first at offset {first[1]:#x})" if first else ""
    what = "Python installation path" if rule is MAIN_RUNTIME_PATHS else "build-host path"
    noun = what if len(paths) == 1 else what + "s"
    more = " (the string scan stopped at limits.max_scan_bytes)" if facts.scan_truncated else ""
    return rule_finding(
        rule, path, f"{path} contains {len(paths)} distinct {noun}{where}, e.g. {examples([p[0] for p in paths])}{more}",
        offset=first[1] if first else None, length=first[2] if first else None, evidence=paths[0][0],
        fingerprint=stable_fingerprint(rule, path))
