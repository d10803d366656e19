"""Dependency rules: is everything the binaries need inside the artifact (or a system library)? And which
glibc does the artifact need?

Also home of the helpers the three binary check modules (dependency, debug, hardening) share: parsing
every binary once per context (`binary_facts`, `prepare`) and telling the main program(s) from bundled
third-party files (`main_programs`).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Optional, Union

from hardnut.artifact.model import ArtifactFile
from hardnut.checks.base import CheckContext, rule_finding
from hardnut.checks.walk import LIMIT, UNREADABLE
from hardnut.inspect import lddtree
from hardnut.inspect.elf import BinaryLimitError, BinaryParseError, ElfFacts, inspect_elf, parse_glibc_version
from hardnut.inspect.pe import PeFacts, inspect_pe
from hardnut.model import Finding, Rule, Severity
from hardnut.timebudget import FileTimeout, within

UNRESOLVED = Rule(
    "HN-DEP-001", "unresolved library", "dependency", Severity.HIGH,
    "A binary needs a shared library (ELF DT_NEEDED) or DLL (PE import) that is neither inside the "
    "artifact on the loader's search path nor a system library. On a clean target machine the program "
    "fails to start, or silently picks up whatever version happens to be installed. ELF names are "
    "looked up through the file's RUNPATH (or RPATH when there is no RUNPATH) with $ORIGIN expanded, then "
    "the dist root, then the system allowlist (auditwheel's manylinux policy: the glibc family, libgcc_s, "
    "libstdc++, libz...); PE names in the importing file's folder, the dist root and the Windows system "
    "DLL list. A library with the right name but another machine or ELF class does not count. A missing "
    "delay-loaded DLL is reported at medium: it only fails when first used. Bundle the library, or list "
    "it in verify.allow_external if the target system really provides it.",
    ("https://github.com/pypa/auditwheel/blob/main/src/auditwheel/lddtree.py",
     "https://man7.org/linux/man-pages/man8/ld.so.8.html",
     "https://learn.microsoft.com/windows/win32/dlls/dynamic-link-library-search-order"),
)
ALLOWED_EXTERNAL = Rule(
    "HN-DEP-002", "external library allowed by configuration", "dependency", Severity.INFO,
    "A library the artifact does not bundle and that is not a system library, accepted because it matches "
    "verify.allow_external. Listed so the release notes can state what the target must provide.",
)
GLIBC_BASELINE = Rule(
    "HN-DEP-003", "glibc baseline", "dependency", Severity.INFO,
    "The highest GLIBC_x.y symbol version any ELF file of the artifact requires (from .gnu.version_r). "
    "The artifact only runs on systems with at least that glibc (manylinux_2_<y> or newer). Build on an "
    "older distribution (or in a manylinux container) to lower it.",
    ("https://github.com/pypa/manylinux",),
)
GLIBC_TOO_NEW = Rule(
    "HN-DEP-004", "needs a newer glibc than allowed", "dependency", Severity.MEDIUM,
    "A file requires a GLIBC_x.y symbol version newer than verify.require_glibc_max. It will not load on "
    "the oldest systems the release is meant to support ('version `GLIBC_2.34' not found'). Build on an "
    "older distribution, or raise require_glibc_max deliberately.",
)

RULES = [UNRESOLVED, ALLOWED_EXTERNAL, GLIBC_BASELINE, GLIBC_TOO_NEW]

Facts = Union[ElfFacts, PeFacts]


# --------------------------------------------------------------------------------- shared helpers


def binary_facts(ctx: CheckContext, f: ArtifactFile) -> Optional[Facts]:
    """The file's ElfFacts/PeFacts, parsed once per context (cache key "elf:<relpath>" / "pe:<relpath>").
    None when it is not a binary, was too large, or could not be parsed (see `prepare`)."""
    if f.kind not in ("elf", "pe"):
        return None
    key = f"{f.kind}:{f.relpath}"
    if key in ctx.cache:
        return ctx.cache[key]
    err_key = f"{f.kind}-error:{f.relpath}"
    if err_key in ctx.cache:
        return None
    limits = ctx.config.limits
    if f.size > limits.max_file_size:
        ctx.cache[err_key] = None  # the walk already reported it (HN-WALK-004)
        return None
    inspect = inspect_elf if f.kind == "elf" else inspect_pe
    try:
        # cooperative deadline inside the parser, and the SIGALRM backstop around it
        return ctx.cached(key, lambda: within(
            limits.file_timeout, inspect, f.fs_path, what=f.relpath,
            max_scan_bytes=limits.max_scan_bytes, timeout=limits.file_timeout))
    except FileTimeout:
        ctx.cache[err_key] = BinaryLimitError(f"parsing took longer than limits.file_timeout "
                                              f"({limits.file_timeout:g} s)")
        return None
    except BinaryParseError as exc:
        ctx.cache[err_key] = exc
        return None


def prepare(ctx: CheckContext) -> list[Finding]:
    """Parse every binary (cached). The first call per context returns one finding per binary that could
    not be read (HN-WALK-003, or HN-WALK-004 when a limit stopped it); later calls return []."""
    if ctx.cache.get("binaries:prepared"):
        return []
    ctx.cache["binaries:prepared"] = True
    out: list[Finding] = []
    for f in ctx.files():
        if f.kind not in ("elf", "pe") or binary_facts(ctx, f) is not None:
            continue
        exc = ctx.cache.get(f"{f.kind}-error:{f.relpath}")
        if exc is None:
            continue
        label = "ELF" if f.kind == "elf" else "PE"
        if isinstance(exc, BinaryLimitError):
            out.append(rule_finding(LIMIT, f.relpath, f"{label} binary not fully inspected: {exc}"))
        else:
            out.append(rule_finding(UNREADABLE, f.relpath, f"unreadable {label} binary: {exc}"))
    return out


def main_programs(ctx: CheckContext) -> frozenset[str]:
    """The artifact's own program(s), as opposed to bundled third-party files.

    ctx.artifact.main_programs when known (plus the executables at the root of their onefile payloads);
    otherwise every ELF/PE executable at the root of the dist or directly under a 'BIN!/' payload root."""
    key = "binaries:main-programs"
    if key in ctx.cache:
        return ctx.cache[key]
    declared = set(ctx.artifact.main_programs)
    result = set(declared)
    for f in ctx.files():
        if f.kind not in ("elf", "pe"):
            continue
        _group, local = lddtree.split_group(f.relpath)
        if "/" in local:
            continue
        if declared and not (f.payload_of and f.payload_of in declared):
            continue
        facts = binary_facts(ctx, f)
        if facts is not None and facts.is_executable:
            result.add(f.relpath)
    ctx.cache[key] = frozenset(result)
    return ctx.cache[key]


def binaries(ctx: CheckContext) -> Iterable[tuple[ArtifactFile, Facts]]:
    """(file, facts) for every parseable ELF/PE file, in walk order."""
    for f in ctx.files():
        facts = binary_facts(ctx, f)
        if facts is not None:
            yield f, facts


def stable_fingerprint(rule: Rule, path: str, key: str = "") -> str:
    """A fingerprint that survives rebuilds: rule, path and a stable key, not the message (whose counts
    and offsets change from build to build)."""
    basis = "\0".join((rule.id, path, key))
    return hashlib.sha256(basis.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def examples(items: Iterable[Any], limit: int = 3) -> str:
    items = list(items)
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" (+{len(items) - limit} more)" if len(items) > limit else "")


# ----------------------------------------------------------------------------------------- the check


def run(ctx: CheckContext) -> Iterable[Finding]:
    out = prepare(ctx)
    nodes: list[lddtree.Node] = []
    for f, facts in binaries(ctx):
        if isinstance(facts, ElfFacts):
            nodes.append(lddtree.elf_node(f.relpath, facts))
        else:
            nodes.append(lddtree.pe_node(f.relpath, facts))
    links = [lddtree.Link(f.relpath, f.link_target) for f in ctx.files("symlink") if f.link_target]
    deps = lddtree.resolve(nodes, links, allow_external=tuple(ctx.config.allow_external))

    system: set[str] = set()
    allowed: dict[str, list[str]] = {}
    for d in deps:
        if d.status == lddtree.SYSTEM:
            system.add(d.library)
        elif d.status == lddtree.ALLOWED:
            allowed.setdefault(d.library, []).append(d.importer)
        elif d.status == lddtree.MISSING:
            out.append(_unresolved(d))
    for lib in sorted(allowed):
        importers = allowed[lib]
        out.append(rule_finding(
            ALLOWED_EXTERNAL, importers[0],
            f"{lib} is not bundled; accepted by verify.allow_external (needed by {examples(importers)})",
            library=lib, fingerprint=stable_fingerprint(ALLOWED_EXTERNAL, "", lib)))
    ctx.facts["system_libraries"] = sorted(system, key=str.lower)
    out.extend(_glibc(ctx))
    return out


def _unresolved(d: lddtree.Dependency) -> Finding:
    kind = "delay-loaded DLL" if d.delay else "library"
    msg = f"{d.importer} needs {kind} {d.library}, which is not in the artifact and is not a system library"
    if d.mismatched:
        msg += f"; {examples(d.mismatched)} has the name but another machine/class"
    if d.elsewhere:
        msg += f"; {examples(d.elsewhere)} has the name but is not on the search path"
    if d.searched:
        msg += f" (searched: {'; '.join(d.searched)})"
    return rule_finding(UNRESOLVED, d.importer, msg, library=d.library,
                        severity=Severity.MEDIUM if d.delay else UNRESOLVED.severity,
                        fingerprint=stable_fingerprint(UNRESOLVED, d.importer, d.library))


def _glibc(ctx: CheckContext) -> list[Finding]:
    out: list[Finding] = []
    best: Optional[tuple[tuple[int, ...], str, str, str]] = None  # (version, file, library, name)
    limit = parse_glibc_version(f"GLIBC_{ctx.config.require_glibc_max}") if ctx.config.require_glibc_max else None
    for f, facts in binaries(ctx):
        if not isinstance(facts, ElfFacts):
            continue
        file_best: Optional[tuple[tuple[int, ...], str, str]] = None
        for lib, versions in facts.version_needs:
            for v in versions:
                parsed = parse_glibc_version(v)
                if parsed is not None and (file_best is None or parsed > file_best[0]):
                    file_best = (parsed, lib, v)
        if file_best is None:
            continue
        if best is None or file_best[0] > best[0]:
            best = (file_best[0], f.relpath, file_best[1], file_best[2])
        if limit is not None and file_best[0] > limit:
            needed = ".".join(map(str, file_best[0]))
            out.append(rule_finding(
                GLIBC_TOO_NEW, f.relpath,
                f"{f.relpath} needs glibc {needed} ({file_best[2]} from {file_best[1]}), newer than "
                f"require_glibc_max {ctx.config.require_glibc_max}", library=file_best[1],
                fingerprint=stable_fingerprint(GLIBC_TOO_NEW, f.relpath)))
    if best is not None:
        version = ".".join(map(str, best[0]))
        ctx.facts["glibc_max"] = version
        tag = f", manylinux_{best[0][0]}_{best[0][1]}" if best[0] >= (2, 5) else ""
        out.insert(0, rule_finding(
            GLIBC_BASELINE, best[1],
            f"the artifact runs on glibc {version} or newer{tag}: {best[1]} requires {best[3]} from {best[2]}",
            library=best[2], fingerprint=stable_fingerprint(GLIBC_BASELINE, "")))
    return out
