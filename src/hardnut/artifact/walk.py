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
  file_timeout       seconds for one file's payload search and extraction
The walk reads only each file's first 4 KiB (its kind); contents are hashed later, once
(hardnut.artifact.digest).
  max_payload_size / max_payload_ratio   enforced by hardnut.artifact.onefile while extracting
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from hardnut.artifact.digest import file_digest, open_regular
from hardnut.artifact.model import Artifact, ArtifactFile
from hardnut.artifact import onefile
from hardnut.artifact.sniff import sniff
from hardnut.errors import UnreadableTarget
from hardnut.limits import Limits
from hardnut.model import Finding, Severity
from hardnut.timebudget import FileTimeout, within

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


_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _read_head(path) -> bytes:
    with open_regular(path) as fh:
        return fh.read(4096)


def _problem(rule_id: str, severity: Severity, path: str, message: str, category: str = "leftover") -> Finding:
    return Finding(rule=rule_id, category=category, severity=severity, path=path, message=message)


class _Walker:
    def __init__(self, limits: Limits, stack: contextlib.ExitStack) -> None:
        self.limits = limits
        self.stack = stack
        self.count = 0
        self.limit_hit = False

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
        root_b = os.fsencode(root)
        strip = len(root_b) + (0 if root_b.endswith(os.sep.encode()) else 1)
        pending: list[bytes] = [root_b]
        while pending and not self.limit_hit:
            folder = pending.pop()
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                self._walk_error(art, exc, folder, root, prefix)
                continue
            subdirs = []
            for entry in entries:
                if self.limit_hit:
                    return
                try:
                    is_dir = entry.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                # below root by construction: the relative path is the rest of the entry's path
                rel_raw = os.fsdecode(entry.path[strip:]).replace(os.sep, "/")
                if is_dir:
                    rel, _ = display_name(prefix + rel_raw)
                    if self._over_limit(art, rel):
                        return
                    subdirs.append(entry.path)
                else:
                    self.add_entry(art, root, Path(os.fsdecode(entry.path)), prefix, depth, payload_of, rel_raw)
            pending.extend(reversed(subdirs))

    def _walk_error(self, art: Artifact, exc: OSError, folder: bytes, root: Path, prefix: str) -> None:
        rel = os.path.relpath(os.fsdecode(folder), root).replace(os.sep, "/")
        name, _ = display_name(prefix + rel)
        art.problems.append(_problem("HN-WALK-003", Severity.HIGH, name, f"cannot read folder: {exc.strerror or exc}"))

    def add_entry(self, art: Artifact, root: Path, full: Path, prefix: str, depth: int, payload_of: Optional[str],
                  rel_raw: Optional[str] = None) -> None:
        if rel_raw is None:
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
                kind = sniff(_read_head(full))
            except OSError:
                pass
            art.files.append(ArtifactFile(rel, full, st.st_size, kind, root, payload_of=payload_of, digest=""))
            art.problems.append(_problem(
                "HN-WALK-004", Severity.HIGH, rel,
                f"{st.st_size} bytes, larger than limits.max_file_size ({limits.max_file_size}): listed, but not "
                f"hashed, unpacked or inspected"))
            return
        try:  # 4 KiB of a regular file, opened without blocking: no time budget needed
            entry = ArtifactFile(rel, full, st.st_size, sniff(_read_head(full)), root,
                                 payload_of=payload_of, digest=None if st.st_size else _EMPTY_SHA256)
        except OSError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, rel, f"cannot read file: {exc.strerror or exc}"))
            return
        art.files.append(entry)
        if entry.kind in ("elf", "pe", "macho"):
            self.expand_onefile(art, entry, depth)

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
                                      digest=hashlib.sha256(os.fsencode(target)).hexdigest()))
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
def open_target(target: Path, limits: Optional[Limits] = None, hash_files: bool = True) -> Iterator[Artifact]:
    """Yield the walked artifact; temporary extractions are removed when the block ends. Every file is
    hashed before it is yielded unless `hash_files` is false: then the caller hashes them (verify does,
    with its other per-file work) and calls finish_digests for whatever is left."""
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
        if hash_files:
            finish_digests(art, limits)
        yield art


def finish_digests(art: Artifact, limits: Limits) -> None:
    """Hash every file nothing has hashed yet, each within limits.file_timeout; one that takes
    longer or cannot be read is reported (HN-WALK-004 / HN-WALK-003) and keeps no hash."""
    for f in art.files:
        if f.digest is not None:
            continue
        f.digest = ""
        try:
            f.digest = within(limits.file_timeout, file_digest, f.fs_path, what=f.relpath)
        except FileTimeout:
            art.problems.append(_problem("HN-WALK-004", Severity.HIGH, f.relpath,
                                         f"reading the file took longer than limits.file_timeout "
                                         f"({limits.file_timeout:g} s): not hashed"))
        except OSError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, f.relpath,
                                         f"cannot read file: {exc.strerror or exc}"))


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
