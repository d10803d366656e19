"""List and extract the entries of a located onefile payload, bounded and safe against hostile names
(`iter_entries`, `extract`), and `hardnut unpack` (`unpack`: all or nothing)."""

from __future__ import annotations

import os
import re
import shutil
import stat
import struct
import tempfile
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

from hardnut.artifact.onefile.blob import (
    _DRIVE_RE, CHUNK, Layout, PayloadEntry, PayloadError, PayloadInfo, PayloadLimit, _Budget, _crc_matches,
    _Header, _layouts, _RawSource, _read_header, _Source, _Where, _ZstdSource, display,
)
from hardnut.artifact.onefile.search import find_payload
from hardnut.artifact.sniff import sniff
from hardnut.limits import Limits


# ------------------------------------------------------------------------------------- decoding entries

def _stream_layout(fh: BinaryIO, info: PayloadInfo, limits: Limits) -> Layout:
    """For a zstd stream the layout needs decompressed bytes: read the first entries with each
    candidate (CRC layouts first: a verified CRC32 settles it) and keep the first that holds."""
    first_error: Optional[PayloadError] = None
    for layout in _layouts(info.kind):
        src = _ZstdSource(fh, info.offset + 3, info.stream_end, _Budget(limits))
        try:
            for _ in range(3):
                hdr = _read_header(src, layout, False)
                if hdr is None:
                    if not src.at_end():
                        raise PayloadError("data after the payload's end marker")
                    break
                if hdr.link_target is None:
                    crc = src.copy(hdr.size, None, _Where("data of entry '{}'", hdr.name))
                    if not _crc_matches(hdr.crc, crc):
                        raise PayloadError(f"entry '{display(hdr.name)}': CRC32 mismatch")
            return layout
        except PayloadLimit:
            raise
        except PayloadError as exc:
            first_error = first_error or exc
    raise PayloadError(f"malformed onefile payload ({info.location}): {first_error}")


def _records(fh: BinaryIO, info: PayloadInfo, limits: Limits
             ) -> Iterator[tuple[_Header, Callable[[Optional[Callable[[bytes], None]]], int]]]:
    """Yield each entry header with a function that streams its data to a sink and returns the CRC32.
    The function must be called (with None to skip) before the next header is read."""
    budget = _Budget(limits)
    layout = info.layout
    stream: _Source
    if info.compression == "zstd" and not info.archive:
        layout = layout or _stream_layout(fh, info, limits)
        stream = _ZstdSource(fh, info.offset + 3, info.stream_end, budget)
    else:
        stream = _RawSource(fh, info.offset + 3, info.stream_end)
    while True:
        hdr = _read_header(stream, layout, info.archive)
        if hdr is None:
            if not stream.at_end():
                raise PayloadError("data after the payload's end marker")
            return
        budget.entry(hdr.size, hdr.name)
        what = _Where("data of entry '{}'", hdr.name)

        if hdr.link_target is not None:
            yield hdr, lambda sink: 0
        elif info.archive:
            assert isinstance(stream, _RawSource)
            region = stream.sub_region(hdr.csize or 0, what)
            frame_base = stream.consumed

            def data(sink, hdr=hdr, region=region, what=what, base=frame_base):
                inner = _ZstdSource(region.fh, region.start, region.end, None)
                crc = 0
                remaining = hdr.size
                while remaining > 0:
                    chunk = inner._pull(min(remaining, CHUNK))
                    if not chunk:
                        raise PayloadError(f"payload truncated inside {what}")
                    budget.inflate(len(chunk), base)
                    remaining -= len(chunk)
                    crc = zlib.crc32(chunk, crc)
                    if sink is not None:
                        sink(chunk)
                if inner._pull(1):
                    raise PayloadError(f"{what}: more data than its declared size")
                return crc

            yield hdr, data
        else:
            yield hdr, lambda sink, hdr=hdr, what=what: stream.copy(hdr.size, sink, what)


def _safe_parts(name: str, kind: str) -> list[str]:
    """The path components of an entry name, or PayloadError when it could leave the destination."""
    def unsafe(why: str) -> PayloadError:
        return PayloadError(f"unsafe entry name '{display(name)}': {why}")

    if "\0" in name:
        raise unsafe("contains NUL")
    if name.startswith(("/", "\\")) or _DRIVE_RE.match(name):
        raise unsafe("absolute path")
    parts = re.split(r"[\\/]", name)
    for part in parts:
        if part == "..":
            raise unsafe("'..' component")
        if part in ("", "."):
            raise unsafe("empty or '.' component")
        if kind == "pe" and ":" in part:
            raise unsafe("':' (drive or stream) in a Windows name")
    return parts


def iter_entries(path: Path, info: Optional[PayloadInfo] = None, limits: Optional[Limits] = None,
                 kind: Optional[str] = None) -> Iterator[PayloadEntry]:
    """List a payload's entries without writing anything (data is decompressed and discarded, CRCs
    checked). Names are validated like `extract` does."""
    limits = limits or Limits()
    path = Path(path)
    if info is None:
        info = find_payload(path, kind or _sniff(path), limits)
        if info is None:
            raise PayloadError(f"{path.name}: no Nuitka onefile payload found")
    try:
        with open(path, "rb") as fh:
            for hdr, data in _records(fh, info, limits):
                _safe_parts(hdr.name, info.kind)
                crc = data(None)
                if hdr.link_target is None and not _crc_matches(hdr.crc, crc):
                    raise PayloadError(f"entry '{display(hdr.name)}': CRC32 mismatch (corrupted or altered)")
                yield _entry(hdr, created=False)
    except PayloadError:
        raise
    except (OSError, ValueError, OverflowError, struct.error, MemoryError) as exc:
        raise PayloadError(f"cannot read payload of {path.name}: {exc}") from None


def _entry(hdr: _Header, created: bool, note: str = "") -> PayloadEntry:
    return PayloadEntry(hdr.name, hdr.size, bool(hdr.flags & 1) and hdr.link_target is None,
                        hdr.link_target, hdr.crc, created, note)


# ------------------------------------------------------------------------------------------- extraction

def _inside(root: str, candidate: str) -> bool:
    return candidate == root or candidate.startswith(root.rstrip(os.sep) + os.sep)


def _make_parents(root: Path, parts: list[str], name: str) -> Path:
    """Create the folders of an entry below root, refusing to pass through anything but real folders."""
    current = root
    for part in parts[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise PayloadError(f"entry '{display(name)}': '{display(part)}' is a file or link, not a folder")
    return current / parts[-1]


def extract(path: Path, info: PayloadInfo, dest: Path, limits: Optional[Limits] = None) -> list[PayloadEntry]:
    """Write every entry of the payload below `dest` (an existing, empty folder).

    Files are created with O_EXCL|O_NOFOLLOW, never outside dest; executables keep their x bit. Symlink
    entries are created last, and only when what they resolve to stays inside dest; the others are
    listed with created=False and a note. Duplicate names are refused. Raises PayloadError /
    PayloadLimit; what was written before the error stays in dest (the caller owns dest)."""
    limits = limits or Limits()
    path, dest = Path(path), Path(dest)
    root = os.path.realpath(dest)
    entries: list[PayloadEntry] = []
    links: list[tuple[_Header, list[str]]] = []
    seen: set[str] = set()
    try:
        with open(path, "rb") as fh:
            for hdr, data in _records(fh, info, limits):
                parts = _safe_parts(hdr.name, info.kind)
                key = "/".join(parts)
                if key in seen:
                    raise PayloadError(f"duplicate entry '{display(hdr.name)}'")
                seen.add(key)
                if hdr.link_target is not None:
                    data(None)
                    links.append((hdr, parts))
                    continue
                target = _make_parents(Path(root), parts, hdr.name)
                mode = 0o755 if hdr.flags & 1 else 0o644
                try:
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                                 | getattr(os, "O_BINARY", 0), mode)
                except FileExistsError:
                    raise PayloadError(f"entry '{display(hdr.name)}' collides with an existing path") from None
                with os.fdopen(fd, "wb") as out:
                    crc = data(out.write)
                if not _crc_matches(hdr.crc, crc):
                    raise PayloadError(f"entry '{display(hdr.name)}': CRC32 mismatch (corrupted or altered)")
                os.chmod(target, mode)  # the umask must not drop the executable bit
                entries.append(_entry(hdr, created=True))
            entries.extend(_create_links(root, links))
    except PayloadError:
        raise
    except (OSError, ValueError, OverflowError, struct.error, MemoryError) as exc:
        raise PayloadError(f"cannot extract payload of {path.name}: {exc}") from None
    return entries


def _create_links(root: str, links: list[tuple[_Header, list[str]]]) -> list[PayloadEntry]:
    """Symlinks go in after all files (so no file is ever written through one), each only if the path
    it resolves to stays inside root; a final pass removes any a later link made escape."""
    done: dict[str, tuple[_Header, str]] = {}
    out: dict[str, PayloadEntry] = {}
    for hdr, parts in links:
        target = hdr.link_target or ""
        key = "/".join(parts)
        where = os.path.join(root, *parts)
        if os.path.isabs(target) or _DRIVE_RE.match(target) or "\0" in target:
            out[key] = _entry(hdr, False, "absolute link target: not created")
            continue
        try:
            parent = _make_parents(Path(root), parts, hdr.name)
        except PayloadError as exc:
            out[key] = _entry(hdr, False, f"not created: {exc}")
            continue
        resolved = os.path.realpath(os.path.join(os.path.dirname(where), target))
        if not _inside(root, resolved):
            out[key] = _entry(hdr, False, "link target leaves the payload: not created")
            continue
        if os.path.lexists(parent):
            out[key] = _entry(hdr, False, "a file of the same name exists: not created")
            continue
        os.symlink(target, parent)
        done[key] = (hdr, where)
        out[key] = _entry(hdr, True)
    # links created later can change where earlier ones lead: re-check until stable
    changed = True
    while changed:
        changed = False
        for key, (hdr, where) in list(done.items()):
            resolved = os.path.realpath(where)
            if not _inside(root, resolved):
                os.unlink(where)
                del done[key]
                out[key] = _entry(hdr, False, "link target leaves the payload: removed")
                changed = True
    return list(out.values())


# ---------------------------------------------------------------------------------------- hardnut unpack

def _sniff(path: Path) -> str:
    try:
        with open(path, "rb") as fh:
            kind = sniff(fh.read(4096))
    except OSError as exc:
        raise PayloadError(f"cannot read {path}: {exc.strerror}") from None
    if kind not in ("elf", "pe", "macho"):
        raise PayloadError(f"{path.name} is not an ELF or PE executable, nor a Mach-O one")
    return kind


def unpack(binary: Path, out_dir: Path, limits: Optional[Limits] = None, overwrite: bool = False
           ) -> list[PayloadEntry]:
    """`hardnut unpack BINARY -o DIR`: extract a onefile payload into DIR, all or nothing.

    DIR must not exist or be empty, unless `overwrite` (then its old contents are replaced as a whole).
    A symlink as DIR is refused. The payload goes into a temporary folder next to DIR first and is
    renamed into place only when complete, so a failure leaves no half-written DIR."""
    limits = limits or Limits()
    binary, out_dir = Path(binary), Path(out_dir)
    if not binary.is_file():
        raise PayloadError(f"{binary}: not a file")
    kind = _sniff(binary)
    info = find_payload(binary, kind, limits)
    if info is None:
        raise PayloadError(f"{binary.name}: no Nuitka onefile payload found")
    if os.path.islink(out_dir):
        raise PayloadError(f"{out_dir} is a symlink; give a real folder")
    if out_dir.exists():
        if not out_dir.is_dir():
            raise PayloadError(f"{out_dir} exists and is not a folder")
        if any(out_dir.iterdir()) and not overwrite:
            raise PayloadError(f"{out_dir} is not empty (use --force to replace its contents)")
    parent = out_dir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.hardnut-unpack-", dir=parent))
    except OSError as exc:
        raise PayloadError(f"cannot create a folder next to {out_dir}: {exc.strerror}") from None
    old: Optional[Path] = None
    try:
        entries = extract(binary, info, work, limits)
        os.chmod(work, 0o755)
        if out_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.hardnut-old-", dir=parent))
            os.rename(out_dir, old / "old")
        os.rename(work, out_dir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        if old is not None and (old / "old").exists() and not out_dir.exists():
            os.rename(old / "old", out_dir)  # put the previous contents back
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return entries


def describe(info: PayloadInfo) -> str:
    """One line about a payload, for `hardnut unpack` and reports."""
    mode = "archive" if info.archive else ("zstd stream" if info.compression == "zstd" else "uncompressed")
    extra = ", CRC32 per file" if info.layout.checksums else ""
    return (f"Nuitka onefile payload ({mode}{extra}) at offset {info.offset}, {info.length} bytes, "
            f"{info.location}")


