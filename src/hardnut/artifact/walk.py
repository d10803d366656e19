"""Walk a verify target into an `Artifact`: every regular file, classified by magic, never following
symlinks, with onefile payloads extracted (bounded) into a temporary folder that is removed on exit.

Hostile input (issue 6): the walk is iterative (no recursion limit on deep trees); files are opened
with O_NOFOLLOW|O_NONBLOCK and checked to be regular *after* opening, so a FIFO, device or link swapped
in after the listing is never read or followed and never blocks; symlinks are judged lexically and by
where they really resolve; names that are not UTF-8 or hold control characters are shown escaped.
Limits (hardnut.limits), each reported as HN-WALK-004 when hit:
  max_files          files and folders walked (payload entries included); the rest is not listed
  max_file_size      larger files are listed (size, kind) but not hashed, unpacked or inspected
  max_archive_depth  onefile payloads nested deeper are not unpacked
  file_timeout       seconds for one file's walk work (hash, payload search and extraction)
  max_payload_size / max_payload_ratio   enforced by hardnut.artifact.onefile while extracting
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, Optional

from hardnut.artifact.model import Artifact, ArtifactFile
from hardnut.artifact import onefile
from hardnut.artifact.sniff import sniff
from hardnut.errors import UnreadableTarget
from hardnut.limits import Limits
from hardnut.model import Finding, Severity
from hardnut.timebudget import FileTimeout, within

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
    | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


def _escape_controls(text: str) -> str:
    return "".join(c if (c.isprintable() or c == " ") else c.encode("unicode_escape").decode("ascii")
                   for c in text)


def display_name(rel: str | bytes) -> tuple[str, bool]:
    """A printable '/'-separated name, and whether the original was clean (valid UTF-8, no control or
    other unprintable characters). Unclean names are shown with backslash escapes."""
    if isinstance(rel, bytes):
        try:
            text = rel.decode("utf-8")
        except UnicodeDecodeError:
            return _escape_controls(rel.decode("utf-8", "backslashreplace")), False
    else:
        try:
            rel.encode("utf-8")
            text = rel
        except UnicodeEncodeError:
            shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            return _escape_controls(shown), False
    shown = _escape_controls(text)
    return shown, shown == text


def file_digest(path: Path) -> str:
    """sha256 of a regular file (opened without following links or blocking)."""
    with _open_regular(path) as fh:
        return _digest(fh)


def _digest(fh) -> str:
    h = hashlib.sha256()
    fh.seek(0)
    for block in iter(lambda: fh.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()


def _head_and_digest(path) -> tuple[bytes, str]:
    with _open_regular(path) as fh:
        head = fh.read(4096)
        return head, _digest(fh)


class _NotRegular(OSError):
    pass


@contextlib.contextmanager
def _open_regular(path: Path):
    """Open for reading only if it is (still) a regular file: no link followed, no FIFO waited on."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _NotRegular(0, "not a regular file (changed while walking)")
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def _problem(rule_id: str, severity: Severity, path: str, message: str, category: str = "leftover") -> Finding:
    return Finding(rule=rule_id, category=category, severity=severity, path=path, message=message)


class _Walker:
    def __init__(self, limits: Limits, stack: contextlib.ExitStack) -> None:
        self.limits = limits
        self.stack = stack
        # head + sha256 of the regular files of the folder being walked, read ahead by threads (hashlib
        # releases the GIL): the walk itself, in this thread, stays in the same order with the same checks
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="hardnut-hash")
        self.ahead: dict[bytes, Future] = {}
        stack.callback(self.close)
        self.count = 0
        self.limit_hit = False

    def close(self) -> None:
        """Stop reading ahead (before the checks fork worker processes: no idle threads left behind)."""
        self.ahead.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _over_limit(self, art: Artifact, rel: str) -> bool:
        self.count += 1
        if self.count > self.limits.max_files:
            if not self.limit_hit:
                self.limit_hit = True
                art.problems.append(_problem(
                    "HN-WALK-004", Severity.HIGH, rel,
                    f"more than {self.limits.max_files} files and folders (limits.max_files): the rest was "
                    f"not inspected"))
            return True
        return False

    def add_tree(self, art: Artifact, root: Path, prefix: str, depth: int, payload_of: Optional[str]) -> None:
        """Add every entry below `root` (a real folder or an extraction folder), depth first in sorted
        order, with an explicit stack (a tree of any depth cannot exhaust the recursion limit)."""
        pending: list[bytes] = [os.fsencode(root)]
        while pending and not self.limit_hit:
            folder = pending.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                self._walk_error(art, exc, folder, root, prefix)
                continue
            subdirs = []
            self._read_ahead(entries)
            for entry in entries:
                if self.limit_hit:
                    return
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                if is_dir:
                    rel, _ = display_name(prefix + os.path.relpath(os.fsdecode(entry.path), root).replace(os.sep, "/"))
                    if self._over_limit(art, rel):
                        return
                    subdirs.append(entry.path)
                else:
                    self.add_entry(art, root, Path(os.fsdecode(entry.path)), prefix, depth, payload_of)
            pending.extend(reversed(subdirs))

    def _walk_error(self, art: Artifact, exc: OSError, folder: bytes, root: Path, prefix: str) -> None:
        rel = os.path.relpath(os.fsdecode(folder), root).replace(os.sep, "/")
        name, _ = display_name(prefix + rel)
        art.problems.append(_problem("HN-WALK-003", Severity.HIGH, name, f"cannot read folder: {exc.strerror or exc}"))

    def add_entry(self, art: Artifact, root: Path, full: Path, prefix: str, depth: int, payload_of: Optional[str]) -> None:
        rel_raw = os.path.relpath(full, root).replace(os.sep, "/")
        rel, clean = display_name(prefix + rel_raw)
        if self._over_limit(art, rel):
            return
        if not clean:
            art.problems.append(_problem("HN-WALK-005", Severity.MEDIUM, rel,
                                         "file name is not valid UTF-8 or holds control characters; shown escaped"))
        try:
            st = os.lstat(full)
        except OSError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, rel, f"cannot stat: {exc.strerror}"))
            return
        if stat.S_ISLNK(st.st_mode):
            self._add_link(art, root, full, rel, payload_of)
            return
        if not stat.S_ISREG(st.st_mode):
            art.files.append(ArtifactFile(rel, full, 0, "special", root, payload_of=payload_of))
            art.problems.append(_problem("HN-WALK-002", Severity.HIGH, rel, "special file (FIFO, socket or device); not read"))
            return
        limits = self.limits
        if st.st_size > limits.max_file_size:
            kind = "data"
            try:
                with _open_regular(full) as fh:
                    kind = sniff(fh.read(4096))
            except OSError:
                pass
            art.files.append(ArtifactFile(rel, full, st.st_size, kind, root, payload_of=payload_of, sha256=""))
            art.problems.append(_problem(
                "HN-WALK-004", Severity.HIGH, rel,
                f"{st.st_size} bytes, larger than limits.max_file_size ({limits.max_file_size}): listed, but not "
                f"hashed, unpacked or inspected"))
            return
        try:
            entry = within(limits.file_timeout, self._read_file, full, rel, st.st_size, root, payload_of, what=rel)
        except FileTimeout:
            art.files.append(ArtifactFile(rel, full, st.st_size, "data", root, payload_of=payload_of))
            art.problems.append(_problem("HN-WALK-004", Severity.HIGH, rel,
                                         f"reading the file took longer than limits.file_timeout "
                                         f"({limits.file_timeout:g} s): not inspected"))
            return
        except OSError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, rel, f"cannot read file: {exc.strerror or exc}"))
            return
        art.files.append(entry)
        if entry.kind in ("elf", "pe", "macho"):
            self.expand_onefile(art, entry, depth)

    def _read_ahead(self, entries: list) -> None:
        self.ahead.clear()  # anything left over (a limit stopped the walk) is simply not used
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and \
                        0 < entry.stat(follow_symlinks=False).st_size <= self.limits.max_file_size:
                    self.ahead[entry.path] = self.pool.submit(_head_and_digest, entry.path)
            except OSError:
                continue

    def _read_file(self, full: Path, rel: str, size: int, root: Path, payload_of: Optional[str]) -> ArtifactFile:
        pending = self.ahead.pop(os.fsencode(full), None)
        head, digest = pending.result() if pending is not None else _head_and_digest(full)
        return ArtifactFile(rel, full, size, sniff(head), root, payload_of=payload_of, sha256=digest)

    def _add_link(self, art: Artifact, root: Path, full: Path, rel: str, payload_of: Optional[str]) -> None:
        try:
            target = os.readlink(full)
        except OSError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, rel, f"cannot read link: {exc.strerror}"))
            return
        # outside when the text climbs out, or when what it really leads to (through other links) is
        # outside; realpath only reads links, never file contents, and stops on loops
        escapes = os.path.isabs(target) or not _inside(root, full.parent / target) \
            or not _inside(os.path.realpath(root), os.path.realpath(full))
        shown = display_name(target)[0]
        art.files.append(ArtifactFile(rel, full, 0, "symlink", root, link_target=shown, payload_of=payload_of,
                                      sha256=hashlib.sha256(os.fsencode(target)).hexdigest()))
        if escapes:
            art.problems.append(_problem(
                "HN-WALK-001", Severity.HIGH, rel, f"symlink points outside the artifact ({shown}); not followed"))
        else:
            art.problems.append(_problem("HN-WALK-001", Severity.LOW, rel, f"symlink to {shown}; not followed"))

    def expand_onefile(self, art: Artifact, entry: ArtifactFile, depth: int) -> None:
        limits = self.limits
        try:
            info = within(limits.file_timeout, onefile.find_payload, entry.fs_path, entry.kind, limits,
                          what=entry.relpath)
        except FileTimeout:
            art.problems.append(_problem("HN-WALK-004", Severity.HIGH, entry.relpath,
                                         f"looking for a onefile payload took longer than limits.file_timeout "
                                         f"({limits.file_timeout:g} s): not unpacked"))
            return
        except onefile.PayloadLimit as exc:
            art.problems.append(_problem("HN-WALK-004", Severity.HIGH, entry.relpath, str(exc)))
            return
        except onefile.PayloadError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, entry.relpath, f"unreadable onefile payload: {exc}"))
            return
        if info is None:
            return
        entry.onefile_payload = True
        if depth >= limits.max_archive_depth:
            art.problems.append(_problem(
                "HN-WALK-004", Severity.HIGH, entry.relpath,
                f"onefile payload nested {depth} levels deep (limits.max_archive_depth {limits.max_archive_depth}): "
                f"not unpacked"))
            return
        dest = Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="hardnut-onefile-")))
        try:
            entries = within(limits.file_timeout, onefile.extract, entry.fs_path, info, dest, limits,
                             what=entry.relpath)
            for e in entries:  # payload symlinks that would leave the payload are recorded, not created
                if e.is_symlink and not e.created:
                    art.problems.append(_problem(
                        "HN-WALK-001", Severity.HIGH, f"{entry.relpath}!/{onefile.display(e.name)}",
                        f"payload symlink to {onefile.display(e.link_target)}: {e.note}; not created"))
        except FileTimeout:
            art.problems.append(_problem("HN-WALK-004", Severity.HIGH, entry.relpath,
                                         f"unpacking the onefile payload took longer than limits.file_timeout "
                                         f"({limits.file_timeout:g} s): only part of it is inspected"))
        except onefile.PayloadLimit as exc:
            art.problems.append(_problem("HN-WALK-004", Severity.HIGH, entry.relpath, str(exc)))
        except onefile.PayloadError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, entry.relpath, f"unreadable onefile payload: {exc}"))
        self.add_tree(art, dest, entry.relpath + "!/", depth + 1, entry.relpath)


def _inside(root, candidate) -> bool:
    root_abs = os.path.abspath(root)
    cand = os.path.abspath(candidate)
    return cand == root_abs or cand.startswith(root_abs.rstrip(os.sep) + os.sep)


@contextlib.contextmanager
def open_target(target: Path, limits: Optional[Limits] = None) -> Iterator[Artifact]:
    """Yield the walked artifact; temporary extractions are removed when the block ends."""
    limits = limits or Limits()
    target = Path(target)
    try:
        st = os.lstat(target)
    except OSError as exc:
        raise UnreadableTarget(f"cannot read target {target}: {exc.strerror}") from None
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise UnreadableTarget(f"target {target} is neither a folder nor a regular file")
    if not os.access(target, os.R_OK | (os.X_OK if stat.S_ISDIR(st.st_mode) else 0)):
        raise UnreadableTarget(f"cannot read target {target}: permission denied")
    with contextlib.ExitStack() as stack:
        walker = _Walker(limits, stack)
        if stat.S_ISDIR(st.st_mode):
            art = Artifact(target=target, kind="dir")
            walker.add_tree(art, target, "", 0, None)
            art.report_xml = _find_report(art, target, limits)
        else:
            art = Artifact(target=target, kind="file")
            walker.add_entry(art, target.parent, target, "", 0, None)
            if art.files and art.files[0].onefile_payload:
                art.kind = "onefile"
            if art.files:
                art.main_programs.add(art.files[0].relpath)
            art.report_xml = _find_report(art, target.parent, limits)
        walker.close()
        yield art


def _find_report(art: Artifact, folder: Path, limits: Limits) -> Optional[Path]:
    """Nuitka's --report XML: inside the dist, or beside it (hardnut writes `<name>.report.xml`).
    Only a regular file (not a link, FIFO or device) within limits.max_file_size is used."""
    try:
        candidates = sorted(folder.glob("*.report.xml")) + sorted(folder.parent.glob("*.report.xml"))
    except OSError:
        return None
    for c in candidates:
        try:
            st = os.lstat(c)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        if st.st_size > limits.max_file_size:
            art.problems.append(_problem(
                "HN-WALK-004", Severity.HIGH, c.name,
                f"Nuitka report of {st.st_size} bytes is larger than limits.max_file_size: not read"))
            continue
        return c
    return None
