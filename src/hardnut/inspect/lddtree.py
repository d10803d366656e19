"""Resolve what every binary of an artifact needs, without looking at the build host (in the spirit of
auditwheel's lddtree.py, but pure: it only sees the artifact's own file list).

ELF, for each DT_NEEDED of a file:
  1. its DT_RUNPATH entries, or its DT_RPATH entries when it has no DT_RUNPATH (the loader ignores RPATH
     when RUNPATH is present); $ORIGIN / ${ORIGIN} expand to the file's own folder inside the artifact.
     Absolute entries and entries that leave the artifact are never looked up on this machine;
  2. the dist root (Nuitka puts libraries beside the main program, whose RPATH is $ORIGIN);
  3. the system allowlist (policy/linux-system-libs.json);
  4. verify.allow_external (exact names or fnmatch patterns);
  5. still not found, and the file has no DT_RUNPATH: the DT_RPATH entries of the bundled files that load
     it, and of theirs, up the chain (glibc searches the requesting object's DT_RPATH, then its loader's,
     and so on; a file with DT_RUNPATH has no DT_RPATH that counts). auditwheel gives a wheel's extension
     modules DT_RPATH $ORIGIN/../pkg.libs and the libraries in pkg.libs none: they find each other through
     it. Which file loads a library first depends on import order; any bundled loader counts.
PE, for each import and delay import (case-insensitive, as Windows is; a name without an extension
means '.dll', as for the loader):
  1. the importing file's folder; 2. the dist root; 3. a `*.libs` folder beside the importer's top-level
  package folder or beside any folder above it (delvewheel puts a wheel's DLLs in `<name>.libs` and the
  package's `__init__.py` adds it with os.add_dll_directory() when it is imported; Nuitka's delvewheel
  plugin keeps that folder and that code); 4. policy/windows-system-dlls.json (KnownDLLs, API sets, and
  the DLLs every Windows 10 and 11 ships); 5. verify.allow_external; 6. still not found: a DLL of that
  name that another bundled file of the artifact finds on its own search path (the loader reuses a DLL
  of the same name that is already loaded: Qt's plugins find Qt6Core.dll, which QtCore.pyd loaded; a
  package's submodules find the DLL its first module loaded beside itself).
Mach-O (one node per architecture slice; a provider must have a slice of the same architecture), for each
LC_LOAD_DYLIB / LC_LOAD_WEAK_DYLIB / LC_REEXPORT_DYLIB install name, as dyld(1) does:
  @loader_path/x     the importing file's folder;
  @executable_path/x the folder of the artifact's executable (the importer itself when it is one; in a
                     .app bundle Contents/MacOS);
  @rpath/x           each LC_RPATH of the importer, then of the executable, with @loader_path and
                     @executable_path expanded (absolute rpaths are never looked up on this machine);
  /absolute/path     policy/macos-system-libs.json (/usr/lib, /System/Library), else not found: such a
                     name is a path on the build machine (its host_prefixes name Homebrew, MacPorts...);
  then verify.allow_external (the install name or its file name).
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
    host_prefixes: tuple[tuple[str, str], ...] = ()  # (absolute path prefix, what it is), longest first

    def host_origin(self, path: str) -> Optional[str]:
        """What a non-system absolute path points at (Homebrew, MacPorts, a home folder...), if known."""
        return next((what for prefix, what in self.host_prefixes if path.startswith(prefix)), None)

    def allows(self, library: str) -> bool:
        key = library if self.case_sensitive else library.lower()
        if key in self.names:
            return True
        match = fnmatch.fnmatchcase if self.case_sensitive else fnmatch.fnmatch
        return any(match(key, p) for p in self.patterns)


@lru_cache(maxsize=None)
def load_policy(platform: str) -> SystemPolicy:
    """The packaged allowlist: platform is "linux" or "windows"."""
    filename = {"linux": "linux-system-libs.json", "windows": "windows-system-dlls.json",
                "macos": "macos-system-libs.json"}[platform]
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
    prefixes = tuple(sorted(((str(k), str(v)) for k, v in data.get("host_prefixes", {}).items()),
                            key=lambda kv: -len(kv[0])))
    return SystemPolicy(name, case, frozenset(names), tuple(patterns), data.get("description", ""),
                        data.get("source", ""), prefixes)


@dataclass(frozen=True)
class Node:
    """One binary of the artifact, as the resolver sees it."""

    relpath: str  # artifact path, '/' separators, 'BIN!/inner' inside a onefile payload
    fmt: str  # "elf" or "pe"
    arch: tuple[Any, ...]  # compatibility key: candidates must be equal
    needed: tuple[str, ...] = ()  # DT_NEEDED, or PE imports
    delay_needed: tuple[str, ...] = ()  # PE delay imports
    rpath: tuple[str, ...] = ()  # ELF DT_RPATH, Mach-O LC_RPATH
    runpath: tuple[str, ...] = ()
    executable: bool = False  # Mach-O MH_EXECUTE: its folder is @executable_path


@dataclass(frozen=True)
class Link:
    """A symlink of the artifact: its path and what it says (never followed outside the artifact)."""

    relpath: str
    target: str


@dataclass(frozen=True)
class Dependency:
    """One needed library of one binary and how it is satisfied: bundled, system, allowed or missing."""

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


def macho_nodes(relpath: str, facts: Any) -> list[Node]:
    """One node per architecture slice; weak dylibs are the 'delay' imports (missing ones are medium)."""
    out = []
    for sl in facts.slices:
        strong = tuple(dict.fromkeys(n for k, n in sl.dylibs if k != "weak"))
        weak = tuple(dict.fromkeys(n for k, n in sl.dylibs if k == "weak"))
        out.append(Node(relpath, "macho", ("macho", sl.arch), strong, weak, tuple(sl.rpaths), (),
                        sl.is_executable))
    return out


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
        by_path: dict[str, list[Node]] = {}
        for n in nodes:
            by_path.setdefault(n.relpath, []).append(n)
            self._add(n.fmt, n.relpath, n)
        link_map = {l.relpath: l.target for l in links}
        self.nodes_at = dict(by_path)  # artifact path (a link's too) -> the nodes there
        self.dll_dirs: dict[str, dict[str, list[str]]] = {}  # group -> parent folder -> its `*.libs` folders
        for path in by_path:
            group, local = split_group(path)
            folder = posixpath.dirname(local)
            if folder and posixpath.basename(folder).lower().endswith(".libs"):
                parents = self.dll_dirs.setdefault(group, {})
                siblings = parents.setdefault(posixpath.dirname(folder), [])
                if folder not in siblings:
                    siblings.append(folder)
        for path in link_map:
            targets = self._follow(path, link_map, by_path)
            for target in targets or ():
                self._add(target.fmt, path, target)
            if targets:
                self.nodes_at[path] = targets

    def _add(self, fmt: str, relpath: str, node: Node) -> None:
        group, local = split_group(relpath)
        folder, name = posixpath.split(local)
        key = name.lower() if fmt == "pe" else name
        self.entries.setdefault((fmt, group, folder, key), []).append((relpath, node.arch))
        names = self.by_name.setdefault((fmt, key), [])
        if relpath not in names:
            names.append(relpath)

    @staticmethod
    def _follow(path: str, link_map: dict[str, str], by_path: dict[str, list[Node]]) -> Optional[list[Node]]:
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
    macos: Optional[SystemPolicy] = None,
) -> list[Dependency]:
    """Every dependency of every node, resolved (see the module docstring for the order)."""
    linux = linux or load_policy("linux")
    windows = windows or load_policy("windows")
    index = _Index(nodes, links)
    out: list[Dependency] = []
    executables: dict[str, list[Node]] = {}
    for node in nodes:
        if node.fmt == "macho" and node.executable:
            executables.setdefault(split_group(node.relpath)[0], []).append(node)
    for node in nodes:
        group, local = split_group(node.relpath)
        if node.fmt == "macho":
            macos = macos or load_policy("macos")
            exes = [node] if node.executable else [e for e in executables.get(group, []) if e.arch == node.arch]
            for lib in node.needed:
                out.append(_resolve_macho(node, lib, False, group, local, index, macos, allow_external, exes))
            for lib in node.delay_needed:
                out.append(_resolve_macho(node, lib, True, group, local, index, macos, allow_external, exes))
        elif node.fmt == "elf":
            for lib in node.needed:
                out.append(_resolve_elf(node, lib, group, local, index, linux, allow_external))
        else:
            for lib in node.needed:
                out.append(_resolve_pe(node, lib, False, group, local, index, windows, allow_external))
            for lib in node.delay_needed:
                out.append(_resolve_pe(node, lib, True, group, local, index, windows, allow_external))
    _inherited_rpaths(nodes, out, index)
    _loaded_elsewhere(nodes, out, index)
    fmt_of = {n.relpath: n.fmt for n in nodes}
    for i, dep in enumerate(out):
        if dep.status == MISSING:
            fmt = fmt_of[dep.importer]
            name = (posixpath.basename(dep.library) if fmt == "macho"
                    else loader_name(dep.library) if fmt == "pe" else dep.library)
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


_CHAIN_ROUNDS = 16  # step 5: rounds of lookups (each finds loaders the last one did not know); real chains: 2-3
_CHAIN_LOADERS = 64  # step 5: loaders (up the chain) whose DT_RPATH one file's lookup tries


def _inherited_rpaths(nodes: Sequence[Node], out: list[Dependency], index: _Index) -> None:
    """Step 5 of the ELF search (module docstring), in place: a missing library of an ELF file without
    DT_RUNPATH is looked up in the DT_RPATH of the bundled files that load it (found by steps 1-2, or by
    this step: repeated while it finds more, at most _CHAIN_ROUNDS times), and of their loaders, up the
    chain (at most _CHAIN_LOADERS of them per file: hostile input stays cheap)."""
    elf = {n.relpath: n for n in nodes if n.fmt == "elf"}
    for _ in range(_CHAIN_ROUNDS):
        todo = [i for i, dep in enumerate(out) if dep.status == MISSING and dep.importer in elf
                and not elf[dep.importer].runpath and "/" not in dep.library]
        if not todo:
            return
        loaders: dict[str, set[str]] = {}  # file -> the files that need it and find it bundled
        for dep in out:
            if dep.status == BUNDLED and dep.importer in elf and dep.provider:
                for target in index.nodes_at.get(dep.provider, ()):
                    if target.relpath != dep.importer:
                        loaders.setdefault(target.relpath, set()).add(dep.importer)
        folders: dict[str, list[tuple[str, str, str]]] = {}  # file -> (folder, RPATH entry, whose)
        changed = False
        for i in todo:
            dep = out[i]
            node = elf[dep.importer]
            if node.relpath not in folders:
                folders[node.relpath] = _chain_folders(node, loaders, elf)
            group = split_group(node.relpath)[0]
            for folder, entry, loader in folders[node.relpath]:
                hit = _pick(index, node, group, folder, dep.library, [])
                if hit:
                    out[i] = Dependency(node.relpath, dep.library, BUNDLED, hit,
                                        f"RPATH {entry} of {loader}, which loads it")
                    changed = True
                    break
        if not changed:
            return


def _chain_folders(node: Node, loaders: dict[str, set[str]], elf: dict[str, Node]) -> list[tuple[str, str, str]]:
    """(group-local folder, DT_RPATH entry, whose) of the loaders of `node`, nearest first."""
    out: list[tuple[str, str, str]] = []
    seen, queue, visited = {node.relpath}, sorted(loaders.get(node.relpath, ())), 0
    while queue and visited < _CHAIN_LOADERS:
        loader = elf[queue.pop(0)]
        if loader.relpath in seen:
            continue
        seen.add(loader.relpath)
        visited += 1
        queue.extend(sorted(loaders.get(loader.relpath, set()) - seen))
        for entry in () if loader.runpath else loader.rpath:
            folder, _why = expand_origin(entry, split_group(loader.relpath)[1])
            if folder is not None:
                out.append((folder, entry, loader.relpath))
    return out


def _loaded_elsewhere(nodes: Sequence[Node], out: list[Dependency], index: _Index) -> None:
    """Step 6 of the PE search (module docstring), in place: a missing DLL that another PE file of the
    same group and machine finds (bundled, steps 1-3) is the DLL the loader has already loaded."""
    pe = {n.relpath: n for n in nodes if n.fmt == "pe"}
    loaded: dict[tuple[str, tuple[Any, ...], str], tuple[str, str]] = {}  # (group, arch, name) -> (provider, by)
    for dep in out:
        node = pe.get(dep.importer)
        if node is not None and dep.status == BUNDLED and dep.provider and not dep.via.startswith("loaded by"):
            key = (split_group(node.relpath)[0], node.arch, posixpath.basename(dep.provider).lower())
            loaded.setdefault(key, (dep.provider, node.relpath))
    for i, dep in enumerate(out):
        node = pe.get(dep.importer)
        if node is None or dep.status != MISSING:
            continue
        hit = loaded.get((split_group(node.relpath)[0], node.arch, loader_name(dep.library).lower()))
        if hit is not None and hit[1] != node.relpath:
            out[i] = Dependency(node.relpath, dep.library, BUNDLED, hit[0],
                                f"loaded by {hit[1]} (Windows reuses a loaded DLL of that name)", dep.delay)


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
        parents = index.dll_dirs.get(group, {})
        above = folder
        while parents:  # the importer's folder, then each one above it, up to the root ("")
            for libs in sorted(parents.get(above, ())):
                hit = _pick(index, node, group, libs, lib, rejected)
                if hit:
                    return Dependency(node.relpath, lib, BUNDLED, hit,
                                      f"{libs} (a package adds it with os.add_dll_directory())", delay)
            if not above:
                searched.append("*.libs folders")
                break
            above = posixpath.dirname(above)
        if policy.allows(lib):
            return Dependency(node.relpath, lib, SYSTEM, None, "system", delay)
    if _allowed(lib, allow, False):
        return Dependency(node.relpath, lib, ALLOWED, None, "allow_external", delay)
    return Dependency(node.relpath, lib, MISSING, None, "", delay, tuple(dict.fromkeys(rejected)), tuple(searched))


def _macho_folder(entry: str, local: str, exes: Sequence[Node]) -> tuple[list[str], str]:
    """Group-local folders an @loader_path/@executable_path-relative path names (several when the
    artifact has several executables), or ([], why not)."""
    if entry.startswith("@loader_path"):
        bases, rest = [posixpath.dirname(local)], entry[len("@loader_path"):]
    elif entry.startswith("@executable_path"):
        if not exes:
            return [], "no executable in the artifact"
        bases, rest = [posixpath.dirname(split_group(e.relpath)[1]) for e in exes], entry[len("@executable_path"):]
    elif entry.startswith("/"):
        return [], "absolute, not looked up on this machine"
    else:
        return [], "relative to the working directory"
    if rest and not rest.startswith("/"):
        return [], "not a path below the token"
    out = []
    for base in bases:
        folder = _inside(posixpath.join(base or ".", "." + rest))
        if folder is not None:
            out.append(folder)
    return (list(dict.fromkeys(out)), "") if out else ([], "leaves the artifact")


def _resolve_macho(node: Node, lib: str, weak: bool, group: str, local: str, index: _Index, policy: SystemPolicy,
                   allow: Sequence[str], exes: Sequence[Node]) -> Dependency:
    rejected: list[str] = []
    searched: list[str] = []
    candidates: list[tuple[str, str]] = []  # (group-local path, how)
    if lib.startswith("@rpath/"):
        rest = lib[len("@rpath/"):]
        rpaths = list(node.rpath) + [r for e in exes if e is not node for r in e.rpath]
        for entry in dict.fromkeys(rpaths):
            folders, why = _macho_folder(entry, local, exes)
            searched.append(f"LC_RPATH {entry}" + (f" ({why})" if why else ""))
            candidates.extend((posixpath.join(f, rest) if f else rest, f"LC_RPATH {entry}") for f in folders)
        if not rpaths:
            searched.append("no LC_RPATH")
    elif lib.startswith(("@loader_path", "@executable_path")):
        folders, why = _macho_folder(lib, local, exes)
        searched.append(lib.split("/", 1)[0] + (f" ({why})" if why else ""))
        candidates.extend((f, lib.split("/", 1)[0]) for f in folders)
    elif "/" not in lib:
        searched.append("dist root")
        candidates.append((lib, "dist root"))
    for path, how in candidates:
        norm = _inside(path)
        if norm is None:
            continue
        folder, name = posixpath.split(norm)
        hit = _pick(index, node, group, folder, name, rejected)
        if hit:
            return Dependency(node.relpath, lib, BUNDLED, hit, how, weak)
    if lib.startswith("/") and policy.allows(lib):
        return Dependency(node.relpath, lib, SYSTEM, None, "system", weak)
    if _allowed(lib, allow, True) or _allowed(posixpath.basename(lib), allow, True):
        return Dependency(node.relpath, lib, ALLOWED, None, "allow_external", weak)
    if lib.startswith("/"):
        origin = policy.host_origin(lib)
        searched.append(f"absolute path into {origin}" if origin else "absolute path outside the system folders")
    return Dependency(node.relpath, lib, MISSING, None, "", weak, tuple(dict.fromkeys(rejected)), tuple(searched))
