"""Per-file work of every check, done once per file and spread over worker processes.

Parsing a binary (ElfFacts/PeFacts/MachoFacts, which the dependency, debug and hardening checks share),
scanning a file for secrets (raw bytes and, for ELF/PE/Mach-O, the Nuitka constants blob) and hashing
it (the report's and manifest's sha256, left to this step by the walk) are the expensive parts of a verify. `prefetch` runs both for every file in one job per file - in worker
processes when the artifact is large (hardnut.secrets.engine.map_files) - and puts the results in the
context cache under the keys the checks read (`binary_facts`, the secrets check), so each file is parsed
once and scanned once, by one process.
The checks compute anything missing themselves, so results are the same with or without this step.
`hardnut build` gives the context a per-file result cache (CheckContext.file_cache, hardnut.filecache): the
results of files byte-identical to the last build's are read from it instead of computed again.
"""

from __future__ import annotations

from typing import Any, Optional

from hardnut.checks.base import CheckContext
from hardnut.limits import Limits

SCANS_KEY = "secrets:scans"  # relpath -> (FileScan, ConstantsBlob | None)
READ_WHOLE = 16 * 1024 * 1024  # files up to this size are read into memory once (hash and scan)
# files answered from / computed despite the per-file cache (hardnut.filecache), over this process's verifies
FILE_CACHE_STATS = {"hits": 0, "misses": 0}


def _binary_job(kind: str, path: str, relpath: str, limits: Limits) -> tuple[Optional[Any], Optional[Exception]]:
    """(facts, None) or (None, the parse error) for one ELF/PE/Mach-O file, bounded like `binary_facts`."""
    from hardnut.inspect import inspector
    from hardnut.inspect.elf import BinaryLimitError, BinaryParseError
    from hardnut.timebudget import FileTimeout, within

    inspect = inspector(kind)
    try:
        return within(limits.file_timeout, inspect, path, what=relpath,
                      max_scan_bytes=limits.max_scan_bytes, timeout=limits.file_timeout), None
    except FileTimeout:
        return None, BinaryLimitError(f"parsing took longer than limits.file_timeout ({limits.file_timeout:g} s)")
    except BinaryParseError as exc:
        return None, exc


def _stored(cache: tuple[str, str], sha: str, kind: str, relpath: str, limits: Limits, binary: bool,
            scan: bool, lookup: bool = True) -> tuple[str, Optional[tuple]]:
    """(this file's key in the per-file cache, its stored (facts, scan) or None; None without looking
    when not `lookup`)."""
    from hardnut import filecache

    key = filecache.entry_key(cache[1], sha, kind, relpath, limits, binary, scan)
    if not lookup:
        return key, None
    stored = filecache.load(cache[0], key)
    if stored is not None and (stored[0] is not None) == binary and (stored[1] is not None) == scan:
        return key, stored
    return key, None


def _file_job(engine: Any, path: str, kind: str, relpath: str, limits: Limits, binary: bool, scan: bool,
              digest: bool = False, cache: Optional[tuple[str, str]] = None, known: Optional[str] = None) -> tuple:
    """One file: its binary facts (ELF/PE/Mach-O within limits.max_file_size), its secret scan, its
    sha256 (None when not asked for or unreadable) and whether the result came from the per-file cache.
    `cache`: (folder, salt) of hardnut.filecache (`hardnut build` only): a result stored under this file's
    key is returned as is; a fresh one is stored when it is a pure function of the key. `known`: the
    file's sha256, already computed by a lookup that missed (_lookup_first)."""
    import hashlib

    from hardnut.artifact.digest import file_digest, read_small
    from hardnut.checks.secrets import scan_one

    data = None
    if scan or digest or cache:  # a small file is read once, for its hash, its cache key and its scan
        try:
            data = read_small(path, READ_WHOLE)
        except OSError:
            data = None  # the scan and finish_digests report what cannot be read
    sha = known
    if sha is None and (digest or cache):
        try:
            sha = hashlib.sha256(data).hexdigest() if data is not None else file_digest(path)
        except OSError:
            sha = None  # left to hardnut.artifact.walk.finish_digests, which reports it
    key = None
    if cache is not None and sha is not None:
        from hardnut import filecache

        # `known`: _lookup_first looked this file up already, and missed
        key, stored = _stored(cache, sha, kind, relpath, limits, binary, scan, lookup=known is None)
        if stored is not None:
            return stored[0], stored[1], sha if digest else None, True
    facts = _binary_job(kind, path, relpath, limits) if binary else None
    scanned = scan_one(engine, path, kind, limits.max_scan_bytes, data) if scan else None
    if key is not None and filecache.cacheable(facts, scanned):
        filecache.store(cache[0], key, (facts, scanned))
    return facts, scanned, sha if digest else None, False


def uncached_bytes(records: Any, limits: Limits, engine: Any, folder: Optional[str]) -> int:
    """Of a previous build's files (its manifest's `files`: dicts with path, size, sha256 and format),
    the bytes a verify of the same files would compute again: those whose result the per-file cache
    `folder` lacks (all of them without a cache, `folder` None). A onefile binary is left out (any edit
    changes it). Decides whether a build starts its Helper process and compiles every secret pattern
    ahead (hardnut.verify.prepare); approximate by design (a malformed record counts as cached)."""
    import os

    from hardnut import filecache

    salt_ = filecache.salt(engine) if folder is not None else ""
    total = 0
    for rec in records:
        try:
            kind, relpath, size, sha = rec["format"], rec["path"], int(rec["size"]), rec["sha256"]
        except (KeyError, TypeError, ValueError):
            continue
        if kind not in ("elf", "pe", "macho", "data") or not sha or not 0 < size <= limits.max_file_size:
            continue
        if folder is None or not os.path.exists(
                os.path.join(folder, filecache.entry_key(salt_, sha, kind, relpath, limits, kind != "data", True))):
            total += min(size, limits.max_scan_bytes)
    return total


def _lookup_first(jobs: list[tuple], sizes: list[int], engine: Any) -> list:
    """_file_job's result for every job (hardnut.secrets.engine.map_files). An artifact large enough for
    the worker processes, verified with the per-file cache (a rebuild), is first looked up here - each
    file hashed once, its sha256 handed to its job on a miss - and only the misses are mapped: a rebuild
    that changed a few files of a 118 MB dist started both workers for them."""
    from hardnut.secrets import engine as engines

    if not jobs or jobs[0][7] is None or sum(sizes) < engines.PARALLEL_MIN_BYTES:
        return engines.map_files(_file_job, jobs, sizes, engine)
    from hardnut.artifact.digest import file_digest

    out: list = [None] * len(jobs)
    todo: list[int] = []
    for i, (path, kind, relpath, limits, binary, scan, digest, cache) in enumerate(jobs):
        try:
            sha = file_digest(path)
        except OSError:
            todo.append(i)  # the job reports what cannot be read
            continue
        stored = _stored(cache, sha, kind, relpath, limits, binary, scan)[1]
        if stored is not None:
            out[i] = (stored[0], stored[1], sha if digest else None, True)
        else:
            jobs[i] = jobs[i] + (sha,)
            todo.append(i)
    for i, res in zip(todo, engines.map_files(_file_job, [jobs[i] for i in todo], [sizes[i] for i in todo], engine)):
        out[i] = res
    return out


def warm_helper() -> None:
    """Run in hardnut.secrets.engine's Helper process before it says it is ready: what _file_job imports."""
    import elftools.elf.elffile  # noqa: F401

    import hardnut.checks.secrets  # noqa: F401
    import hardnut.filecache  # noqa: F401
    import hardnut.inspect.elf  # noqa: F401
    import hardnut.inspect.macho  # noqa: F401
    import hardnut.inspect.pe  # noqa: F401


def prefetch(ctx: CheckContext) -> None:
    """Fill ctx.cache with every file's binary facts and secret scan (see the module docstring)."""
    from hardnut.checks import secrets
    from hardnut.secrets.engine import map_files

    limits = ctx.config.limits
    engine = secrets.engine_for(ctx)
    cache = None
    if ctx.file_cache is not None:  # hardnut build: results of unchanged files come from the last build
        from hardnut import filecache

        cache = (str(ctx.file_cache), filecache.salt(engine))
    jobs, sizes, keys = [], [], []
    for f in ctx.files():
        if f.kind not in ("elf", "pe", "macho", "data") or f.size > limits.max_file_size:
            continue
        binary = f.kind in ("elf", "pe", "macho") and f"{f.kind}:{f.relpath}" not in ctx.cache \
            and f"{f.kind}-error:{f.relpath}" not in ctx.cache
        scan = f.size > 0
        digest = f.digest is None
        if not (binary or scan or digest):
            continue
        jobs.append((str(f.fs_path), f.kind, f.relpath, limits, binary, scan, digest, cache))
        sizes.append(min(f.size, limits.max_scan_bytes))
        keys.append((f, binary, scan))
    scans = ctx.cache.setdefault(SCANS_KEY, {})
    for (f, binary, scan), (facts, scanned, sha, hit) in zip(keys, _lookup_first(jobs, sizes, engine)):
        if cache is not None:
            FILE_CACHE_STATS["hits" if hit else "misses"] += 1
        if sha is not None and f.digest is None:
            f.digest = sha
        if binary:
            value, error = facts
            if value is not None:
                ctx.cache[f"{f.kind}:{f.relpath}"] = value
            else:
                ctx.cache[f"{f.kind}-error:{f.relpath}"] = error
        if scan:
            scans[f.relpath] = scanned
