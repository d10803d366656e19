"""A cache of verify's per-file results (hardnut.checks.perfile), used by `hardnut build` only.

A warm rebuild changes a few files of the dist; the rest (libpython, the standard library's extension
modules...) are byte-identical to the previous build's. Their binary facts and secret scan are kept here,
one file per result, named by a key (sha256) over everything the result is a function of:
  * the file's content (its sha256), its kind and path in the artifact;
  * the job: the limits (every field) and which parts were asked for (binary facts, secret scan);
  * the secret engine's rule set: the rule ids, the keyword engine, the team's gitleaks rules and
    allowlists (what acts inside the scan; path allowlists and the detect-secrets baseline act later,
    on findings, and are applied on every run);
  * hardnut itself (version and the hash of its own modules, so built-in rules and data count), the
    versions of pyelftools, pefile and macholib, and Python.
What is not a function of those is never stored: a parse stopped by a time or count bound
(BinaryLimitError), a file that could not be read. The facts and scans hold no absolute path (the
build verifies in a temporary folder whose name changes every build), so a hit gives exactly what a
fresh computation gives; tests/test_filecache.py compares the JSON reports.

The folder is `<build cache>/files/` (hardnut.buildcache.BuildCache.files_folder): `--no-cache` turns it
off, BuildCache.prune bounds it with the build entries (least recently used first; a hit refreshes the
entry's mtime), deleting it is always safe. An entry is pickled: the build cache folder already holds
the binaries a build restores and ships, so it is trusted exactly as much as they are (whoever can write
there can change the shipped app). An entry carries a format tag, its key and a sha256 of its payload;
one that is truncated, corrupt or unreadable is a miss and is overwritten. Writes are atomic (a
temporary file in the same folder, then a rename) and best effort: a full disk never fails a verify.
Entries hold the raw secret matches of the scan, as the artifact they come from does; they are created
private (mode 0600) and never shown: findings are masked when the report is made, as without the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import astuple
from pathlib import Path
from typing import Any, Optional

from hardnut.buildcache import FILES_TEMP_PREFIX, code_identity

FORMAT = 1
_MAGIC = b"hardnut-perfile-1\n"
LIBRARIES = ("pyelftools", "pefile", "macholib")


def _static_inputs() -> dict[str, Any]:
    """The key inputs that do not change within a process."""
    return {"format": FORMAT, **code_identity(LIBRARIES)}


def salt(engine: Any) -> str:
    """sha256 over everything of the key that is the same for every file of one verify: hardnut, the
    libraries, Python and the secret engine's rule set (see the module docstring). Computed once per
    verify in the main process and handed to the workers with each job."""
    gitleaks = getattr(engine, "gitleaks", None)
    inputs = dict(_static_inputs())
    inputs["engine"] = [getattr(engine, "name", ""), [r.id for r in getattr(engine, "rules", ())]]
    # the whole rule set and allowlists as plain data (regex sources, keywords, paths...); not the file's
    # path or the loader's notes, which do not act on a scan
    inputs["gitleaks"] = None if gitleaks is None else repr((gitleaks.rules, gitleaks.allowlists))
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=repr).encode()).hexdigest()


def entry_key(salt_: str, sha256: str, kind: str, relpath: str, limits: Any, binary: bool, scan: bool) -> str:
    """The key of one file's result (hex sha256)."""
    text = json.dumps([salt_, sha256, kind, relpath, list(astuple(limits)), bool(binary), bool(scan)])
    return hashlib.sha256(text.encode()).hexdigest()


def cacheable(facts: Optional[tuple], scanned: Optional[tuple]) -> bool:
    """Whether a result is a pure function of its key: no bound stopped the parse, everything was read."""
    from hardnut.inspect.elf import BinaryLimitError

    if facts is not None:
        error = facts[1]
        if isinstance(error, BinaryLimitError) or (error is not None and str(error).startswith("cannot read")):
            return False
    if scanned is not None and scanned[0].error:
        return False
    return True


def _path(folder: Path, key: str) -> Path:
    return Path(folder) / key


def load(folder: Path, key: str) -> Optional[tuple]:
    """The stored (facts, scan) of `key`, or None (absent, truncated, corrupt, unreadable)."""
    path = _path(folder, key)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    head = len(_MAGIC) + 64 + 32
    if len(raw) < head or not raw.startswith(_MAGIC) or raw[len(_MAGIC):len(_MAGIC) + 64] != key.encode():
        return None
    payload = raw[head:]
    if hashlib.sha256(payload).digest() != raw[len(_MAGIC) + 64:head]:
        return None
    try:
        value = pickle.loads(payload)
    except Exception:  # intact bytes that no longer unpickle (a class moved or renamed): a miss
        return None
    if not (isinstance(value, tuple) and len(value) == 2):
        return None
    try:
        os.utime(path)  # least recently used goes first when pruning
    except OSError:
        pass
    return value


def store(folder: Path, key: str, value: tuple) -> bool:
    """Keep `value` (facts, scan) under `key`: the whole entry or nothing. Best effort: False when it
    could not be written."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an unpicklable result: not cached
        return False
    data = _MAGIC + key.encode() + hashlib.sha256(payload).digest() + payload
    tmp = os.path.join(folder, f"{FILES_TEMP_PREFIX}{key[:24]}-{os.getpid()}")
    try:  # new (a link or a leftover is not followed or reused), private (0600): see the docstring
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError:
        return False
    done = False
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, _path(folder, key))
        done = True
    except OSError:
        pass
    finally:
        if not done:  # also when verify's time budget interrupts the write
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return done
