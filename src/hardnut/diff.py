"""`hardnut diff A B`: every difference between two builds, at the finest level hardnut understands.

A and B are each a dist folder, a onefile binary (its payload entries are compared as files
`BINARY!/entry`), a single binary, or a hardnut manifest (`*.hardnut.json`: only paths, sizes and
sha256 are known then). Differences, coarse to fine:
* files added, removed, changed (size, sha256, permission bits);
* for a changed ELF/PE file: the header fields and sections that differ (`hardnut.inspect.sections`),
  and where the first differing byte is;
* for a changed Nuitka program: the modules whose constants differ (`hardnut.inspect.constants_blob`)
  and, decoded, which constants were added or removed; a constant the secret engine flags is shown
  masked (`hardnut.model.mask`).
Unreadable input raises HardnutError (exit 2).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from hardnut.errors import HardnutError
from hardnut.model import mask

MAX_CONSTANTS_SHOWN = 50  # per module and direction, in text and JSON
SAMPLE_CHARS = 120


@dataclass
class ModuleDiff:
    name: str
    status: str  # "added", "removed", "changed"
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    added_count: int = 0
    removed_count: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"module": self.name, "status": self.status, "added_count": self.added_count,
                "removed_count": self.removed_count, "added": self.added, "removed": self.removed}


@dataclass
class FileDiff:
    path: str
    status: str  # "added", "removed", "changed"
    size_a: Optional[int] = None
    size_b: Optional[int] = None
    sha256_a: str = ""
    sha256_b: str = ""
    mode_a: Optional[str] = None
    mode_b: Optional[str] = None
    first_difference: Optional[int] = None  # file offset of the first differing byte
    headers: list[str] = field(default_factory=list)  # "e_entry: 0x10 -> 0x20"
    sections: list[str] = field(default_factory=list)  # ".rodata (size 10 -> 12)"
    modules: list[ModuleDiff] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "status": self.status}
        for key in ("size_a", "size_b", "mode_a", "mode_b", "first_difference"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key in ("sha256_a", "sha256_b"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out.update(headers=self.headers, sections=self.sections, modules=[m.to_dict() for m in self.modules],
                   notes=self.notes)
        return out


@dataclass
class DiffResult:
    a: str
    b: str
    compared: int = 0
    files: list[FileDiff] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.files

    def counts(self) -> dict[str, int]:
        c = Counter(f.status for f in self.files)
        return {k: c.get(k, 0) for k in ("added", "removed", "changed")}

    def to_dict(self) -> dict[str, Any]:
        from hardnut import __version__

        return {"tool": {"name": "hardnut", "version": __version__}, "a": self.a, "b": self.b,
                "identical": self.identical, "compared": self.compared, "counts": self.counts(),
                "files": [f.to_dict() for f in self.files]}

    def render_text(self) -> str:
        lines = [f"hardnut diff {self.a} {self.b}"]
        for f in self.files:
            if f.status == "added":
                lines.append(f"added    {f.path} ({f.size_b} bytes)")
                continue
            if f.status == "removed":
                lines.append(f"removed  {f.path} ({f.size_a} bytes)")
                continue
            what = []
            if f.size_a != f.size_b:
                what.append(f"size {f.size_a} -> {f.size_b}")
            if f.sha256_a != f.sha256_b:
                what.append(f"sha256 {f.sha256_a[:12]}… -> {f.sha256_b[:12]}…")
            if f.mode_a != f.mode_b:
                what.append(f"mode {f.mode_a} -> {f.mode_b}")
            if f.first_difference is not None:
                what.append(f"first difference at 0x{f.first_difference:x}")
            lines.append(f"changed  {f.path}: {', '.join(what)}")
            if f.headers:
                lines.append(f"  headers: {'; '.join(f.headers[:12])}{' …' if len(f.headers) > 12 else ''}")
            if f.sections:
                lines.append(f"  sections: {', '.join(f.sections)}")
            for m in f.modules:
                if m.status != "changed":
                    lines.append(f"  module {m.name}: {m.status}")
                    continue
                if not m.added_count and not m.removed_count:
                    lines.append(f"  module {m.name}: differs in values that are not strings "
                                 f"(numbers, code objects, marshalled bytecode)")
                    continue
                lines.append(f"  module {m.name}: constants +{m.added_count} -{m.removed_count}")
                lines.extend(f"    + {c}" for c in m.added)
                lines.extend(f"    - {c}" for c in m.removed)
            lines.extend(f"  note: {n}" for n in f.notes)
        c = self.counts()
        if self.identical:
            lines.append(f"IDENTICAL: {self.compared} files compared")
        else:
            lines.append(f"DIFFERENT: {c['changed']} changed, {c['added']} added, {c['removed']} removed "
                         f"({self.compared} files compared)")
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    key: str  # path relative to the side's root; a single binary's own name replaced by B's
    size: int
    sha256: str
    fmt: str
    mode: Optional[str] = None
    fs_path: Optional[Path] = None


def _is_manifest(path: Path) -> bool:
    if not path.is_file() or not path.name.endswith(".json"):
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return b'"tool"' in head and b"hardnut" in head


def _side(path: Path, stack: contextlib.ExitStack, rename: Optional[str]) -> tuple[dict[str, _Entry], str]:
    """Entries of one side, by key; and the name of its top binary (for a single-file target)."""
    if _is_manifest(path):
        from hardnut.manifest import read_manifest

        doc = read_manifest(path)
        entries = {}
        try:
            for e in doc["files"]:
                entries[str(e["path"])] = _Entry(str(e["path"]), int(e["size"]), str(e["sha256"]),
                                                 str(e.get("format", "")))
        except (TypeError, ValueError) as exc:
            raise HardnutError(f"manifest {path} cannot be used: bad file entry ({exc})") from None
        return entries, ""
    from hardnut.artifact.walk import open_target

    if not path.exists() and not path.is_symlink():
        raise HardnutError(f"not found: {path}")
    art = stack.enter_context(open_target(path))
    top = path.name if art.kind in ("file", "onefile") else ""
    entries = {}
    for f in art.files:
        key = f.relpath
        if top and rename and (key == top or key.startswith(top + "!/")):
            key = rename + key[len(top):]
        try:
            mode = stat.filemode(os.lstat(f.fs_path).st_mode)
        except OSError:
            mode = None
        entries[key] = _Entry(key, f.size, f.sha256, f.record().format, mode, f.fs_path)
    return entries, top


def diff_targets(a: Path, b: Path) -> DiffResult:
    a, b = Path(a), Path(b)
    result = DiffResult(str(a), str(b))
    with contextlib.ExitStack() as stack:
        right, top_b = _side(b, stack, None)
        left, _ = _side(a, stack, top_b or None)
        keys = sorted(set(left) | set(right))
        result.compared = len(keys)
        for key in keys:
            ea, eb = left.get(key), right.get(key)
            if ea is None:
                result.files.append(FileDiff(key, "added", size_b=eb.size, sha256_b=eb.sha256, mode_b=eb.mode))
            elif eb is None:
                result.files.append(FileDiff(key, "removed", size_a=ea.size, sha256_a=ea.sha256, mode_a=ea.mode))
            else:
                fd = _compare(ea, eb)
                if fd is not None:
                    result.files.append(fd)
    return result


def _compare(ea: _Entry, eb: _Entry) -> Optional[FileDiff]:
    same_mode = ea.mode is None or eb.mode is None or ea.mode == eb.mode
    if ea.size == eb.size and ea.sha256 == eb.sha256 and same_mode:
        return None
    fd = FileDiff(ea.key, "changed", ea.size, eb.size, ea.sha256, eb.sha256, ea.mode, eb.mode)
    if ea.sha256 == eb.sha256 or ea.fs_path is None or eb.fs_path is None:
        return fd
    fd.first_difference = _first_difference(ea.fs_path, eb.fs_path)
    kind = _magic(ea.fs_path)
    if kind is not None and kind == _magic(eb.fs_path):
        _binary(fd, ea.fs_path, eb.fs_path, kind)
    return fd


def _magic(path: Path) -> Optional[str]:
    from hardnut.inspect.constants_blob import sniff_kind

    try:
        with open(path, "rb") as fh:
            return sniff_kind(fh.read(4))
    except OSError:
        return None


def _first_difference(pa: Path, pb: Path) -> Optional[int]:
    try:
        with open(pa, "rb") as fa, open(pb, "rb") as fb:
            pos = 0
            while True:
                x, y = fa.read(1 << 20), fb.read(1 << 20)
                if x != y:
                    n = min(len(x), len(y))
                    for i in range(n):
                        if x[i] != y[i]:
                            return pos + i
                    return pos + n
                if not x:
                    return None
                pos += len(x)
    except OSError:
        return None


def _binary(fd: FileDiff, pa: Path, pb: Path, kind: str) -> None:
    from hardnut.inspect.sections import LayoutError, layout

    try:
        la, lb = layout(pa, kind), layout(pb, kind)
    except LayoutError as exc:
        fd.notes.append(f"sections not compared: {exc}")
    else:
        for key in sorted(set(la.headers) | set(lb.headers), key=_natural):
            va, vb = la.headers.get(key), lb.headers.get(key)
            if va != vb:
                fd.headers.append(f"{key}: {_hex(va)} -> {_hex(vb)}")
        for name in list(la.sections) + [n for n in lb.sections if n not in la.sections]:
            sa, sb = la.sections.get(name), lb.sections.get(name)
            if sa is None:
                fd.sections.append(f"{name} (added, {sb[0]} bytes)")
            elif sb is None:
                fd.sections.append(f"{name} (removed, {sa[0]} bytes)")
            elif sa != sb:
                fd.sections.append(f"{name} (size {sa[0]} -> {sb[0]})" if sa[0] != sb[0] else f"{name} (content)")
    fd.modules = _constants(pa, pb, kind, fd.notes)


def _natural(key: str) -> tuple:
    import re

    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key))


def _hex(v: Any) -> str:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 9 else str(v)


def _constants(pa: Path, pb: Path, kind: str, notes: list[str]) -> list[ModuleDiff]:
    from hardnut.inspect.constants_blob import BlobError, read_constants_blob

    try:
        ba, bb = read_constants_blob(pa, kind), read_constants_blob(pb, kind)
    except BlobError as exc:
        notes.append(f"constants not compared: {exc}")
        return []
    if ba is None and bb is None:
        return []
    if ba is None or bb is None:
        notes.append(f"constants blob only in {'B' if ba is None else 'A'}")
        return []
    secrets = _secret_texts(ba) | _secret_texts(bb)
    out = []
    names_a = {m.name: m for m in ba.modules}
    names_b = {m.name: m for m in bb.modules}
    for name in list(names_a) + [n for n in names_b if n not in names_a]:
        ma, mb = names_a.get(name), names_b.get(name)
        shown = name or "(shared constants)"
        if ma is None:
            out.append(ModuleDiff(shown, "added"))
            continue
        if mb is None:
            out.append(ModuleDiff(shown, "removed"))
            continue
        if name == ".bytecode":
            if _part_bytes(pa, ma) != _part_bytes(pb, mb):
                out.append(ModuleDiff(".bytecode (uncompiled modules)", "changed"))
            continue
        ca = Counter((s.kind, s.raw) for s in ma.strings)
        cb = Counter((s.kind, s.raw) for s in mb.strings)
        added = cb - ca
        removed = ca - cb
        if not added and not removed:
            if ma.size != mb.size or ma.count != mb.count:
                out.append(ModuleDiff(shown, "changed"))  # non-string constants (numbers, code objects)
            continue
        md = ModuleDiff(shown, "changed", added_count=sum(added.values()), removed_count=sum(removed.values()))
        md.added = [_show(k, raw, secrets) for (k, raw) in sorted(added)][:MAX_CONSTANTS_SHOWN]
        md.removed = [_show(k, raw, secrets) for (k, raw) in sorted(removed)][:MAX_CONSTANTS_SHOWN]
        out.append(md)
    return out


def _part_bytes(path: Path, part) -> bytes:
    import hashlib

    with open(path, "rb") as fh:
        fh.seek(part.offset)
        return hashlib.sha256(fh.read(part.size)).digest()


def _secret_texts(blob) -> set[bytes]:
    """Raw bytes of every constant that holds something the secret engine flags."""
    from hardnut.exposure import secret_offsets

    flagged = secret_offsets(blob)
    return {s.raw for m in blob.modules for s in m.strings if s.offset in flagged}


def _show(kind: str, raw: bytes, secrets: set[bytes]) -> str:
    text = raw.decode("utf-8", "surrogateescape")
    if raw in secrets:
        return f"{kind} {mask(text)} (secret-like, masked)"
    shown = repr(text) if kind != "bytes" else repr(raw)
    if len(shown) > SAMPLE_CHARS:
        shown = shown[:SAMPLE_CHARS - 1] + "…"
    return f"{kind} {shown}"
