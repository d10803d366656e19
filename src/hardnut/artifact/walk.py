"""Walk a verify target into an `Artifact`: every regular file, classified by magic, never following
symlinks, with onefile payloads extracted (bounded) into a temporary folder that is removed on exit.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator, Optional

from hardnut.artifact.model import Artifact, ArtifactFile
from hardnut.errors import UnreadableTarget
from hardnut.limits import Limits
from hardnut.model import Finding, Severity

ELF_MAGIC = b"\x7fELF"


def sniff(head: bytes) -> str:
    """Classify a file by its first bytes: "elf", "pe" or "data"."""
    if head.startswith(ELF_MAGIC):
        return "elf"
    if head.startswith(b"MZ") and len(head) >= 0x40:
        e_lfanew = int.from_bytes(head[0x3C:0x40], "little")
        if e_lfanew + 4 <= len(head) and head[e_lfanew:e_lfanew + 4] == b"PE\0\0":
            return "pe"
        return "pe" if e_lfanew > len(head) else "data"  # header beyond what we read: let pefile decide
    return "data"


def display_name(rel: str | bytes) -> tuple[str, bool]:
    """A printable '/'-separated name, and whether the original was valid UTF-8."""
    if isinstance(rel, bytes):
        try:
            return rel.decode("utf-8"), True
        except UnicodeDecodeError:
            return rel.decode("utf-8", "backslashreplace"), False
    try:
        rel.encode("utf-8")
        return rel, True
    except UnicodeEncodeError:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"), False


def file_digest(path: Path, limit: Optional[int] = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _problem(rule_id: str, severity: Severity, path: str, message: str, category: str = "leftover") -> Finding:
    return Finding(rule=rule_id, category=category, severity=severity, path=path, message=message)


class _Walker:
    def __init__(self, limits: Limits, stack: contextlib.ExitStack) -> None:
        self.limits = limits
        self.stack = stack
        self.count = 0
        self.limit_hit = False

    def add_tree(self, art: Artifact, root: Path, prefix: str, depth: int, payload_of: Optional[str]) -> None:
        """Add every entry below `root` (a real folder or an extraction folder)."""
        root_b = os.fsencode(root)
        for dirpath, dirnames, filenames in os.walk(root_b, followlinks=False, onerror=lambda e: self._walk_error(art, e, root, prefix)):
            dirnames.sort()
            # directory symlinks: os.walk lists them in dirnames but does not descend (followlinks=False)
            for name in list(dirnames):
                full = os.path.join(dirpath, name)
                if os.path.islink(full):
                    self.add_entry(art, root, Path(os.fsdecode(full)), prefix, depth, payload_of)
            for name in sorted(filenames):
                self.add_entry(art, root, Path(os.fsdecode(os.path.join(dirpath, name))), prefix, depth, payload_of)

    def _walk_error(self, art: Artifact, exc: OSError, root: Path, prefix: str) -> None:
        rel = os.path.relpath(os.fsdecode(exc.filename or b"."), root) if exc.filename else "."
        name, _ = display_name(prefix + rel.replace(os.sep, "/"))
        art.problems.append(_problem("HN-WALK-003", Severity.HIGH, name, f"cannot read folder: {exc.strerror}"))

    def add_entry(self, art: Artifact, root: Path, full: Path, prefix: str, depth: int, payload_of: Optional[str]) -> None:
        rel_raw = os.path.relpath(full, root).replace(os.sep, "/")
        rel, valid = display_name(prefix + rel_raw)
        if not valid:
            art.problems.append(_problem("HN-WALK-005", Severity.MEDIUM, rel, "file name is not valid UTF-8"))
        self.count += 1
        if self.count > self.limits.max_files:
            if not self.limit_hit:
                self.limit_hit = True
                art.problems.append(_problem(
                    "HN-WALK-004", Severity.HIGH, rel,
                    f"more than {self.limits.max_files} files (limits.max_files): the rest was not inspected"))
            return
        try:
            st = os.lstat(full)
        except OSError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, rel, f"cannot stat: {exc.strerror}"))
            return
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(full)
            escapes = os.path.isabs(target) or not _inside(root, full.parent / target)
            kind = "symlink"
            art.files.append(ArtifactFile(rel, full, 0, kind, root, link_target=target, payload_of=payload_of,
                                          sha256=hashlib.sha256(os.fsencode(target)).hexdigest()))
            if escapes:
                art.problems.append(_problem(
                    "HN-WALK-001", Severity.HIGH, rel,
                    f"symlink points outside the artifact ({display_name(target)[0]}); not followed"))
            else:
                art.problems.append(_problem("HN-WALK-001", Severity.LOW, rel,
                                             f"symlink to {display_name(target)[0]}; not followed"))
            return
        if not stat.S_ISREG(st.st_mode):
            art.files.append(ArtifactFile(rel, full, 0, "special", root, payload_of=payload_of))
            art.problems.append(_problem("HN-WALK-002", Severity.HIGH, rel, "special file (FIFO, socket or device); not read"))
            return
        try:
            with open(full, "rb") as fh:
                head = fh.read(4096)
            digest = file_digest(full)
        except OSError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, rel, f"cannot read file: {exc.strerror}"))
            return
        kind = sniff(head)
        entry = ArtifactFile(rel, full, st.st_size, kind, root, payload_of=payload_of, sha256=digest)
        art.files.append(entry)
        if kind in ("elf", "pe") and depth < self.limits.max_archive_depth:
            self.expand_onefile(art, entry, depth)

    def expand_onefile(self, art: Artifact, entry: ArtifactFile, depth: int) -> None:
        from hardnut.artifact import onefile

        try:
            info = onefile.find_payload(entry.fs_path, entry.kind)
        except onefile.PayloadError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, entry.relpath, f"unreadable onefile payload: {exc}"))
            return
        if info is None:
            return
        entry.onefile_payload = True
        dest = Path(self.stack.enter_context(tempfile.TemporaryDirectory(prefix="hardnut-onefile-")))
        try:
            onefile.extract(entry.fs_path, info, dest, self.limits)
        except onefile.PayloadLimit as exc:
            art.problems.append(_problem("HN-WALK-004", Severity.HIGH, entry.relpath, str(exc)))
        except onefile.PayloadError as exc:
            art.problems.append(_problem("HN-WALK-003", Severity.HIGH, entry.relpath, f"unreadable onefile payload: {exc}"))
        self.add_tree(art, dest, entry.relpath + "!/", depth + 1, entry.relpath)


def _inside(root: Path, candidate: Path) -> bool:
    root_abs = os.path.abspath(root)
    cand = os.path.abspath(candidate)
    return cand == root_abs or cand.startswith(root_abs + os.sep)


@contextlib.contextmanager
def open_target(target: Path, limits: Optional[Limits] = None) -> Iterator[Artifact]:
    """Yield the walked artifact; temporary extractions are removed when the block ends."""
    limits = limits or Limits()
    target = Path(target)
    try:
        st = os.lstat(target)
    except OSError as exc:
        raise UnreadableTarget(f"cannot read target {target}: {exc.strerror}") from None
    with contextlib.ExitStack() as stack:
        walker = _Walker(limits, stack)
        if stat.S_ISDIR(st.st_mode):
            art = Artifact(target=target, kind="dir")
            walker.add_tree(art, target, "", 0, None)
            report = _find_report(target)
            art.report_xml = report
        elif stat.S_ISREG(st.st_mode):
            art = Artifact(target=target, kind="file")
            walker.add_entry(art, target.parent, target, "", 0, None)
            if art.files and art.files[0].onefile_payload:
                art.kind = "onefile"
            if art.files:
                art.main_programs.add(art.files[0].relpath)
            art.report_xml = _find_report(target.parent)
        else:
            raise UnreadableTarget(f"target {target} is neither a folder nor a regular file")
        if not os.access(target, os.R_OK):
            raise UnreadableTarget(f"cannot read target {target}: permission denied")
        yield art


def _find_report(folder: Path) -> Optional[Path]:
    """Nuitka's --report XML: inside the dist, or beside it (hardnut writes `<name>.report.xml`)."""
    candidates = sorted(folder.glob("*.report.xml")) + sorted(folder.parent.glob("*.report.xml"))
    for c in candidates:
        if c.is_file():
            return c
    return None
