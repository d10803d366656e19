"""Resolve what every binary of an artifact needs, without looking at the build host (in the spirit of
auditwheel's lddtree.py, but pure: it only sees the artifact's own file list).

ELF, for each DT_NEEDED of a file:
  1. its DT_RUNPATH entries, or its DT_RPATH entries when it has no DT_RUNPATH (the loader ignores RPATH
     when RUNPATH is present); $ORIGIN / ${ORIGIN} expand to the file's own folder inside the artifact.
     Absolute entries and entries that leave the artifact are never looked up on this machine;
  2. the dist root (Nuitka puts libraries beside the main program, whose RPATH is $ORIGIN);
  3. the system allowlist (policy/linux-system-libs.json);
  4. verify.allow_external (exact names or fnmatch patterns).
PE, for each import and delay import (case-insensitive, as Windows is; a name without an extension
means '.dll', as for the loader):
  1. the importing file's folder; 2. the dist root; 3. policy/windows-system-dlls.json (KnownDLLs, API
  sets, and the DLLs every Windows 10 and 11 ships); 4. verify.allow_external.
A file inside the artifact only satisfies a dependency when its format and machine/class match the
importer's (a 32-bit libfoo.so does not satisfy a 64-bit importer). Each onefile payload ('BIN!/...') is
its own dist root. Symlinks inside the artifact are followed (within the artifact only).
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Optional, Sequence

BUNDLED, SYSTEM, ALLOWED, MISSING = "bundled", "system", "allowed", "missing"


@dataclass(frozen=True)
class SystemPolicy:
    """An allowlist of system libraries, loaded from a JSON file under hardnut/policy/."""

    name: str
    case_sensitive: bool
    names: frozenset[str]
    patterns: tuple[str, ...]
    description: str = ""
    source: str = ""

    def allows(self, library: str) -> bool:
        key = library if self.case_sensitive else library.lower()
        if key in self.names:
            return True
        match = fnmatch.fnmatchcase if self.case_sensitive else fnmatch.fnmatch
        return any(match(key, p) for p in self.patterns)


@lru_cache(maxsize=None)
def load_policy(platform: str) -> SystemPolicy:
    """The packaged allowlist: platform is "linux" or "windows"."""
    filename = {"linux": "linux-system-libs.json", "windows": "windows-system-dlls.json"}[platform]
    data = json.loads(resources.files("hardnut").joinpath("policy", filename).read_text("utf-8"))
    return policy_from_data(platform, data)


def policy_from_data(name: str, data: dict[str, Any]) -> SystemPolicy:
    case = bool(data.get("case_sensitive", True))
    names: set[str] = set()
    patterns: list[str] = []
    for group in data.get("groups", {}).values():
        names.update(group.get("names", ()))
        patterns.extend(group.get("patterns", ()))
    if not case:
        names = {n.lower() for n in names}
        patterns = [p.lower() for p in patterns]
    return SystemPolicy(name, case, frozenset(names), tuple(patterns), data.get("description", ""),
                        data.get("source", ""))


@dataclass(frozen=True)
class Node:
    """One binary of the artifact, as the resolver sees it."""

    relpath: str  # artifact path, '/' separators, 'BIN!/inner' inside a onefile payload
    fmt: str  # "elf" or "pe"
    arch: tuple[Any, ...]  # compatibility key: candidates must be equal
    needed: tuple[str, ...] = ()  # DT_NEEDED, or PE imports
    delay_needed: tuple[str, ...] = ()  # PE delay imports
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    """A symlink of the artifact: its path and what it says (never followed outside the artifact)."""

    relpath: str
    target: str


@dataclass(frozen=True)
class Dependency:
    importer: str
    library: str
    status: str  # "bundled", "system", "allowed" or "missing"
    provider: Optional[str] = None  # the artifact path that satisfies it (bundled)
    via: str = ""  # e.g. "RUNPATH $ORIGIN/lib", "dist root", "importer folder", "system", "allow_external"
    delay: bool = False  # a PE delay-load import
    mismatched: tuple[str, ...] = ()  # artifact files with this name but another format or machine/class
    searched: tuple[str, ...] = ()  # where the resolver looked, for messages
    elsewhere: tuple[str, ...] = ()  # artifact files with this name that are not on the search path


def elf_node(relpath: str, facts: Any) -> Node:
    return Node(relpath, "elf", ("elf", facts.machine, facts.elf_class, facts.little_endian),
                tuple(dict.fromkeys(facts.needed)), (), tuple(facts.rpath), tuple(facts.runpath))


def pe_node(relpath: str, facts: Any) -> Node:
    return Node(relpath, "pe", ("pe", facts.machine_id, facts.is_64),
                tuple(dict.fromkeys(facts.imports)), tuple(dict.fromkeys(facts.delay_imports)))


def split_group(relpath: str) -> tuple[str, str]:
    """'app.bin!/lib/x.so' -> ('app.bin!/', 'lib/x.so'); 'lib/x.so' -> ('', 'lib/x.so')."""
    idx = relpath.rfind("!/")
    return (relpath[:idx + 2], relpath[idx + 2:]) if idx >= 0 else ("", relpath)


def _inside(path: str) -> Optional[str]:
    """Normalise a group-local path; None when it leaves the group ('..' at the top). Root is ''."""
    norm = posixpath.normpath(path) if path else "."
    if norm == ".":
        return ""
    if norm == ".." or norm.startswith("../") or norm.startswith("/"):
        return None
    return norm


def expand_origin(entry: str, local: str) -> tuple[Optional[str], str]:
    """Expand one RPATH/RUNPATH entry for a file at group-local path `local`.

    Returns (group-local folder or None, reason when None): entries without $ORIGIN are absolute or
    relative to the process' working directory and are never resolved inside the artifact."""
    e = entry.replace("${ORIGIN}", "$ORIGIN")
    if not e.startswith("$ORIGIN"):
        return None, "not $ORIGIN-relative"
    rest = e[len("$ORIGIN"):]
    if rest and not rest.startswith("/"):
        return None, "not $ORIGIN-relative"
    if "$" in rest:
        return None, "uses another dynamic string token"
    folder = _inside(posixpath.join(posixpath.dirname(local) or ".", "." + rest))
    if folder is None:
        return None, "leaves the artifact"
    return folder, ""


class _Index:
    """(fmt, group, folder, key) -> [(artifact path, arch)]; keys are lower-case for PE."""

    def __init__(self, nodes: Sequence[Node], links: Iterable[Link]) -> None:
        self.entries: dict[tuple[str, str, str, str], list[tuple[str, tuple[Any, ...]]]] = {}
        self.by_name: dict[tuple[str, str], list[str]] = {}
        by_path = {n.relpath: n for n in nodes}
        for n in nodes:
            self._add(n.fmt, n.relpath, n)
        link_map = {l.relpath: l.target for l in links}
        for path in link_map:
            target = self._follow(path, link_map, by_path)
            if target is not None:
                self._add(target.fmt, path, target)

    def _add(self, fmt: str, relpath: str, node: Node) -> None:
        group, local = split_group(relpath)
        folder, name = posixpath.split(local)
        key = name.lower() if fmt == "pe" else name
        self.entries.setdefault((fmt, group, folder, key), []).append((relpath, node.arch))
        self.by_name.setdefault((fmt, key), []).append(relpath)

    @staticmethod
    def _follow(path: str, link_map: dict[str, str], by_path: dict[str, Node]) -> Optional[Node]:
        for _ in range(16):
            target = link_map[path]
            group, local = split_group(path)
            if target.startswith("/"):
                return None
            resolved = _inside(posixpath.join(posixpath.dirname(local) or ".", target))
            if resolved is None:
                return None
            path = group + resolved
            if path in by_path:
                return by_path[path]
            if path not in link_map:
                return None
        return None

    def lookup(self, fmt: str, group: str, folder: str, name: str) -> list[tuple[str, tuple[Any, ...]]]:
        key = name.lower() if fmt == "pe" else name
        return self.entries.get((fmt, group, folder, key), [])

    def anywhere(self, name: str, fmt: str) -> list[str]:
        key = name.lower() if fmt == "pe" else name
        return sorted(self.by_name.get((fmt, key), []))


def _allowed(library: str, patterns: Sequence[str], case_sensitive: bool) -> bool:
    for p in patterns:
        if case_sensitive:
            if fnmatch.fnmatchcase(library, p):
                return True
        elif fnmatch.fnmatch(library.lower(), p.lower()):
            return True
    return False


def resolve(
    nodes: Sequence[Node],
    links: Iterable[Link] = (),
    *,
    allow_external: Sequence[str] = (),
    linux: Optional[SystemPolicy] = None,
    windows: Optional[SystemPolicy] = None,
) -> list[Dependency]:
    """Every dependency of every node, resolved (see the module docstring for the order)."""
    linux = linux or load_policy("linux")
    windows = windows or load_policy("windows")
    index = _Index(nodes, links)
    out: list[Dependency] = []
    for node in nodes:
        group, local = split_group(node.relpath)
        if node.fmt == "elf":
            for lib in node.needed:
                out.append(_resolve_elf(node, lib, group, local, index, linux, allow_external))
        else:
            for lib in node.needed:
                out.append(_resolve_pe(node, lib, False, group, local, index, windows, allow_external))
            for lib in node.delay_needed:
                out.append(_resolve_pe(node, lib, True, group, local, index, windows, allow_external))
    fmt_of = {n.relpath: n.fmt for n in nodes}
    for i, dep in enumerate(out):
        if dep.status == MISSING:
            fmt = fmt_of[dep.importer]
            name = loader_name(dep.library) if fmt == "pe" else dep.library
            others = [p for p in index.anywhere(name, fmt) if p not in dep.mismatched]
            if others:
                out[i] = replace(dep, elsewhere=tuple(others[:5]))
    return out


def _pick(index: _Index, node: Node, group: str, folder: str, lib: str, rejected: list[str]) -> Optional[str]:
    for path, arch in index.lookup(node.fmt, group, folder, lib):
        if arch == node.arch:
            return path
        rejected.append(path)
    return None


def _resolve_elf(node: Node, lib: str, group: str, local: str, index: _Index, policy: SystemPolicy,
                 allow: Sequence[str]) -> Dependency:
    rejected: list[str] = []
    searched: list[str] = []
    if "/" not in lib:
        tag, entries = ("RUNPATH", node.runpath) if node.runpath else ("RPATH", node.rpath)
        for entry in entries:
            folder, why = expand_origin(entry, local)
            if folder is None:
                searched.append(f"{tag} {entry or '(empty)'} ({why})")
                continue
            searched.append(f"{tag} {entry}")
            hit = _pick(index, node, group, folder, lib, rejected)
            if hit:
                return Dependency(node.relpath, lib, BUNDLED, hit, f"{tag} {entry}")
        searched.append("dist root")
        hit = _pick(index, node, group, "", lib, rejected)
        if hit:
            return Dependency(node.relpath, lib, BUNDLED, hit, "dist root")
        if policy.allows(lib):
            return Dependency(node.relpath, lib, SYSTEM, None, "system")
    else:
        searched.append("DT_NEEDED is a path, not a library name")
    if _allowed(lib, allow, True):
        return Dependency(node.relpath, lib, ALLOWED, None, "allow_external")
    return Dependency(node.relpath, lib, MISSING, None, "", False, tuple(dict.fromkeys(rejected)), tuple(searched))


def loader_name(lib: str) -> str:
    """The file name the Windows loader looks for: a name without an extension gets '.dll' (a trailing
    dot means "no extension" and is dropped), as LoadLibrary documents."""
    base = lib.replace("\\", "/").rsplit("/", 1)[-1]
    if base.endswith("."):
        return lib[:-1]
    return lib if "." in base else lib + ".dll"


def _resolve_pe(node: Node, lib: str, delay: bool, group: str, local: str, index: _Index,
                policy: SystemPolicy, allow: Sequence[str]) -> Dependency:
    shown, lib = lib, loader_name(lib)
    dep = _resolve_pe_name(node, lib, delay, group, local, index, policy, allow)
    return dep if shown == lib else replace(dep, library=shown)


def _resolve_pe_name(node: Node, lib: str, delay: bool, group: str, local: str, index: _Index,
                     policy: SystemPolicy, allow: Sequence[str]) -> Dependency:
    rejected: list[str] = []
    folder = posixpath.dirname(local)
    searched = ["importer folder"] if folder else []
    if "/" not in lib and "\\" not in lib:
        if folder:
            hit = _pick(index, node, group, folder, lib, rejected)
            if hit:
                return Dependency(node.relpath, lib, BUNDLED, hit, "importer folder", delay)
        searched.append("dist root")
        hit = _pick(index, node, group, "", lib, rejected)
        if hit:
            return Dependency(node.relpath, lib, BUNDLED, hit, "dist root", delay)
        if policy.allows(lib):
            return Dependency(node.relpath, lib, SYSTEM, None, "system", delay)
    if _allowed(lib, allow, False):
        return Dependency(node.relpath, lib, ALLOWED, None, "allow_external", delay)
    return Dependency(node.relpath, lib, MISSING, None, "", delay, tuple(dict.fromkeys(rejected)), tuple(searched))
