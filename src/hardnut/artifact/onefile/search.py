"""Locate and validate the onefile payload inside an ELF or PE file: `find_payload` is the entry point.

Where Nuitka puts it (see hardnut.artifact.onefile.blob): appended after the last byte the headers
describe, with a u64 trailer (before 4.1); linked into a data section, found by the `payload_bin_data`
symbol or by scanning the data sections for a plausible "KA[XY]" header (4.1+); a PE RT_RCDATA resource.
For ELF files a cheap byte test (`_may_hold_payload`) comes first: a file without a trailer pointing at
"KA" and without any payload header, bootstrap marker or payload symbol name is not parsed at all.
A new executable format gets its own "ranges" function and a branch in `find_payload`.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import BinaryIO, Optional

import zstandard

from hardnut.artifact.onefile.blob import (
    _HEADER_RE, _PAYLOAD_SYMBOLS, BOOTSTRAP_MARKER, MAGIC, MAX_CANDIDATES, MAX_NAME_UNITS, MAX_ZSTD_BLOCKS,
    ZSTD_MAGIC, Layout, PayloadError, PayloadInfo, PayloadLimit, _crc_matches, _layouts, _RawSource,
    _read_header, _u64, _Where, display,
)
from hardnut.limits import Limits
from hardnut.timebudget import expired


def _name_end(body: bytes, unit: int) -> Optional[int]:
    """Where the first filename's terminating NUL (a whole code unit, aligned) is within the bootstrap's
    filename buffer, or None."""
    limit = min(len(body), (MAX_NAME_UNITS + 1) * unit)
    zero = b"\0" * unit
    pos = 0
    while True:
        i = body.find(zero, pos, limit)
        if i < 0:
            return None
        if i % unit == 0:
            return i
        pos = i + 1  # a NUL pair straddling two code units: look further


def _plausible_start(head: bytes, kind: str) -> bool:
    """Cheap test of the bytes after "KA[XY]": worth a full validation (and an error if it then fails)?"""
    if head[2:3] == b"Y" and head[3:7] == ZSTD_MAGIC:
        return True
    body = head[3:]
    ends: dict[int, Optional[int]] = {}
    for layout in _layouts(kind):
        unit = layout.unit
        if unit not in ends:
            ends[unit] = _name_end(body, unit)
        end = ends[unit]
        if not end:
            continue
        try:
            name = body[:end].decode(layout.encoding)
        except UnicodeDecodeError:
            continue
        if not name.isprintable():
            continue
        rest = body[end + unit:]
        if layout.legacy:
            if len(rest) < 9:
                continue
            size, flags = _u64(rest[:8]), rest[8]
        elif layout.flags:
            if len(rest) < 9:
                continue
            flags, size = rest[0], _u64(rest[1:9])
        else:
            if len(rest) < 8:
                continue
            flags, size = 0, _u64(rest[:8])
        # the first entry is the program itself: a regular file, not empty, not absurd
        if flags in (0, 1) and 0 < size < (1 << 40):
            return True
    return False


def _zstd_frames_end(fh: BinaryIO, start: int, end: int) -> int:
    """Offset just past the zstd frame(s) starting at `start` (python-zstandard does not expose
    ZSTD_findFrameCompressedSize, so walk the block headers; RFC 8878 section 3.1.1)."""
    src = _RawSource(fh, start, end)
    frames = blocks = 0
    while True:
        pos = src.file_pos
        fh.seek(pos)
        head = fh.read(18)
        if head[:4] != ZSTD_MAGIC:
            if frames == 0:
                raise PayloadError("payload does not start with a zstd frame")
            return pos
        try:
            header_size = zstandard.frame_header_size(head)
            params = zstandard.get_frame_parameters(head)
        except zstandard.ZstdError as exc:
            raise PayloadError(f"corrupt zstd frame header in payload: {exc}") from None
        src.skip(header_size, "zstd frame header")
        while True:
            blocks += 1
            if blocks > MAX_ZSTD_BLOCKS:
                raise PayloadError(f"zstd stream of more than {MAX_ZSTD_BLOCKS} blocks: not a Nuitka payload")
            if blocks % 65536 == 0 and expired():
                raise PayloadLimit("onefile payload: time limit reached (limits.file_timeout)")
            block = int.from_bytes(src.read(3, "zstd block header"), "little")
            last, btype, bsize = block & 1, (block >> 1) & 3, block >> 3
            if btype == 3:
                raise PayloadError("corrupt zstd data in payload (reserved block type)")
            src.skip(1 if btype == 1 else bsize, "zstd block")
            if last:
                break
        if params.has_checksum:
            src.skip(4, "zstd checksum")
        frames += 1
        if src.file_pos + 4 > end:
            return src.file_pos


def _trailer_ok(fh: BinaryIO, offset: int, stream_end: int, limit: int, kind: str) -> Optional[int]:
    """End of the u64 size trailer after the stream, if present (Windows pads to 8 first)."""
    for pad in range(0, 8 if kind == "pe" else 1):
        at = stream_end + pad
        if at + 8 > limit:
            break
        fh.seek(at)
        raw = fh.read(8)
        if len(raw) == 8 and _u64(raw) == at - offset:
            return at + 8
    return None


def _walk_raw(fh: BinaryIO, offset: int, limit: int, kind: str, layout: Layout, archive: bool,
              max_entries: int) -> tuple[int, int]:
    """Walk every header of a raw ("X") or archive stream, seeking over data: (entries, stream end)."""
    src = _RawSource(fh, offset + 3, limit)
    try:
        return _walk_raw_entries(src, layout, archive, max_entries)
    except PayloadLimit:
        raise
    except PayloadError as exc:
        exc.progress = (src.verified, src.consumed)  # type: ignore[attr-defined]
        raise


def _walk_raw_entries(src: _RawSource, layout: Layout, archive: bool, max_entries: int) -> tuple[int, int]:
    """(entries, stream end); a PayloadError raised on the way carries `entries_done`: how many entries
    were read whole before it (0: not even the first, so perhaps no payload at all; see _scan)."""
    count = 0
    try:
        while True:
            hdr = _read_header(src, layout, archive)
            if hdr is None:
                return count, src.file_pos
            count += 1
            if count > max_entries:
                raise PayloadLimit(f"payload has more than {max_entries} entries (limits.max_files)")
            if hdr.link_target is not None:
                continue
            what = _Where("data of entry '{}'", hdr.name)
            if archive:
                if (hdr.csize or 0) < 4 or src.read(4, what) != ZSTD_MAGIC:
                    raise PayloadError(f"{what}: not a zstd frame")
                src.skip((hdr.csize or 0) - 4, what)
            elif layout.checksums:  # a CRC32 that verifies is what tells this layout from the one without
                if not _crc_matches(hdr.crc, src.copy(hdr.size, None, what)):
                    raise PayloadError(f"entry '{display(hdr.name)}': CRC32 mismatch (corrupted or altered)")
                src.verified += 1
            else:
                src.skip(hdr.size, what)
    except PayloadError as exc:
        exc.entries_done = max(count - 1, 0)  # type: ignore[attr-defined]
        raise


def _validate(fh: BinaryIO, offset: int, limit: int, kind: str, location: str, limits: Limits,
              strong: bool) -> Optional[PayloadInfo]:
    """Check a "KA[XY]" candidate at `offset` whose blob cannot extend past `limit`.

    Returns the info, None when it is not a payload, or raises PayloadError when it looks like one
    (strong location, or a plausible first entry) but its structure is broken."""
    fh.seek(offset)
    head = fh.read(3 + 4 + (MAX_NAME_UNITS + 1) * 2 + 16)
    if len(head) < 4 or head[:2] != MAGIC or head[2:3] not in (b"X", b"Y"):
        if strong:
            raise PayloadError(f"no onefile header at offset {offset} ({location})")
        return None
    if not (strong or _plausible_start(head, kind)):
        return None
    compressed = head[2:3] == b"Y"
    if compressed and head[3:7] == ZSTD_MAGIC:
        end = _zstd_frames_end(fh, offset + 3, limit)
        trailer_end = _trailer_ok(fh, offset, end, limit, kind)
        if trailer_end is None:
            raise PayloadError(f"malformed onefile payload ({location}): its size trailer does not match "
                               f"the zstd stream")
        return PayloadInfo(kind, offset, trailer_end - offset, "zstd", False, location, None, True, None, end)
    # raw stream, or archive mode (compressed data per entry): the headers say it all. Every Nuitka
    # version writes the u64 size trailer right after the end marker, and a wrong layout that walks
    # by chance does not end there, so the trailer decides.
    errors: list[PayloadError] = []
    for layout in _layouts(kind):
        try:
            count, end = _walk_raw(fh, offset, limit, kind, layout, compressed, limits.max_files)
        except PayloadLimit:
            raise
        except PayloadError as exc:
            errors.append(exc)
            continue
        trailer_end = _trailer_ok(fh, offset, end, limit, kind)
        if count == 0 or trailer_end is None:
            exc = PayloadError("the entries do not end where the payload's size trailer says"
                               if count else "payload has no entries")
            exc.progress = (0, end - offset)  # type: ignore[attr-defined]
            exc.entries_done = count  # type: ignore[attr-defined]
            errors.append(exc)
            continue
        return PayloadInfo(kind, offset, trailer_end - offset, "zstd" if compressed else "none",
                           compressed, location, layout, True, count, end)
    # the structure fits no layout: report the error of the layout that got furthest
    # (a layout whose CRC32s verified before it failed is the right one; else the one that read most)
    best = max(errors, key=lambda e: getattr(e, "progress", (-1, -1)), default=None)
    error = PayloadError(f"malformed onefile payload ({location}): {best or 'no layout fits'}")
    error.entries_done = max((getattr(e, "entries_done", 0) for e in errors), default=0)  # type: ignore[attr-defined]
    raise error


_MAX_WEAK_FAILURES = 8  # plausible spots that fail to validate in a file without the bootstrap's marker


def _scan(fh: BinaryIO, mm: mmap.mmap, ranges: list[tuple[int, int, str]], kind: str,
          limits: Limits, bootstrap: bool) -> Optional[PayloadInfo]:
    """Find the payload among the "KA[XY]" spots of the data ranges.

    Spots whose next bytes do not look like a payload start are skipped (over 1607 ELF files of a
    Debian system: 59 "KA[XY]" spots, none plausible). In a file carrying the onefile bootstrap's marker,
    the first plausible one decides: it validates, or the payload is broken (PayloadError) - a later spot
    may well be a nested onefile inside the payload's own data and must not stand in for it. In a file
    without the marker, a plausible spot whose walk fails before it has read one whole entry is data that
    happens to look like a header and is skipped, up to _MAX_WEAK_FAILURES of them: the regex module's
    table of Unicode script names holds "KAYAHLI\0KHAPH..." (the Kayah Li script), a "KAY" header with a
    4-letter name and a plausible size. One that read whole entries is a payload, broken. A file carrying
    the marker without any plausible spot is a bootstrap whose payload is gone: PayloadError too."""
    tried = failed = 0
    for start, end, location in ranges:
        for m in _HEADER_RE.finditer(mm, start, end):
            tried += 1
            if tried > MAX_CANDIDATES:
                break
            try:
                info = _validate(fh, m.start(), end, kind, location, limits, strong=False)
            except PayloadLimit:
                raise
            except PayloadError as exc:
                failed += 1
                if bootstrap or getattr(exc, "entries_done", 1):
                    raise
                if failed >= _MAX_WEAK_FAILURES:
                    return None
                continue
            if info is not None:
                return info
    if bootstrap:
        raise PayloadError("Nuitka onefile bootstrap without a readable payload (no plausible payload header)")
    return None


def _appended(fh: BinaryIO, size: int, content_end: int, kind: str, limits: Limits,
              end: Optional[int] = None) -> Optional[PayloadInfo]:
    """Older Nuitka: blob + u64 trailer after the last byte the headers describe."""
    end = size if end is None else end
    if end - content_end < 3 + 8 + 1 or end > size:
        return None
    fh.seek(end - 8)
    length = _u64(fh.read(8))
    start = end - 8 - length
    if length < 4 or start < content_end:
        return None
    fh.seek(start)
    if fh.read(2) != MAGIC:
        return None
    info = _validate(fh, start, end, kind, "appended", limits, strong=True)
    if info is not None and info.offset + info.length != end:
        raise PayloadError("malformed onefile payload (appended): the size trailer is not where it should be")
    return info


def _elf_ranges(fh: BinaryIO, size: int) -> tuple[list[tuple[int, int, str]], int, Optional[int]]:
    """Non-executable data sections (or segments when the section headers are gone), the end of what
    the headers describe (appended data starts there), and the `payload_bin_data` symbol's offset.

    pyelftools raises assorted exception types on hostile input; each part is tried on its own so a
    broken section table still leaves the segments (and the appended-payload check) usable."""
    from elftools.elf.constants import P_FLAGS, SH_FLAGS
    from elftools.elf.elffile import ELFFile

    ranges: list[tuple[int, int, str]] = []
    segments: list = []
    content_end = 0
    symbol_offset = None
    try:
        elf = ELFFile(fh)
    except Exception:
        return ranges, 0, None
    try:
        content_end = elf["e_shoff"] + elf["e_shnum"] * elf["e_shentsize"]
        for seg in elf.iter_segments():
            content_end = max(content_end, seg["p_offset"] + seg["p_filesz"])
            segments.append(seg)
    except Exception:
        pass
    try:
        for sec in elf.iter_sections():
            if sec["sh_type"] != "SHT_NOBITS":
                content_end = max(content_end, sec["sh_offset"] + sec["sh_size"])
            flags = sec["sh_flags"]
            if sec["sh_type"] == "SHT_PROGBITS" and flags & SH_FLAGS.SHF_ALLOC \
                    and not flags & SH_FLAGS.SHF_EXECINSTR and sec["sh_size"] >= 16:
                start, end = sec["sh_offset"], min(sec["sh_offset"] + sec["sh_size"], size)
                if start < end:
                    ranges.append((start, end, f"section {sec.name or '?'}"))
    except Exception:
        ranges = []
    if not ranges:
        for seg in segments:
            if seg["p_type"] == "PT_LOAD" and not seg["p_flags"] & P_FLAGS.PF_X:
                start, end = seg["p_offset"], min(seg["p_offset"] + seg["p_filesz"], size)
                if start < end:
                    ranges.append((start, end, "segment"))
    try:
        # pyelftools builds a name map of the whole symbol table (one object per symbol: most of a
        # verify's time); a name it could return is a NUL-terminated string somewhere in the file
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            named = [n for n in _PAYLOAD_SYMBOLS if mm.find(n.encode() + b"\0") >= 0]
        symtab = elf.get_section_by_name(".symtab") if named else None
        for name in named if symtab is not None else ():
            for sym in symtab.get_symbol_by_name(name) or []:
                for seg in segments:
                    if seg["p_type"] == "PT_LOAD" and \
                            seg["p_vaddr"] <= sym["st_value"] < seg["p_vaddr"] + seg["p_filesz"]:
                        symbol_offset = sym["st_value"] - seg["p_vaddr"] + seg["p_offset"]
    except Exception:
        symbol_offset = None
    return ranges, min(content_end, size), symbol_offset


def _pe_ranges(path: Path, size: int) -> tuple[list[tuple[int, int, str]], int, int, list[tuple[int, int]]]:
    """Initialized non-executable data sections, the overlay start, the end of the payload area before
    an Authenticode certificate table, and RT_RCDATA resources (offset, size)."""
    import pefile

    ranges: list[tuple[int, int, str]] = []
    resources: list[tuple[int, int]] = []
    overlay_start, area_end = 0, size
    try:
        with open(path, "rb") as fh:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return ranges, 0, size, resources
    try:
        # data= keeps pefile on our mapping: pefile.close() would run a full gc.collect() per file
        pe = pefile.PE(data=mm, fast_load=True)
    except Exception:  # pefile raises PEFormatError and assorted errors on hostile input
        mm.close()
        return ranges, 0, size, resources
    try:
        for sec in pe.sections:
            ch = sec.Characteristics
            if ch & 0x40 and not ch & 0x20000000:  # INITIALIZED_DATA, not MEM_EXECUTE
                start = sec.PointerToRawData
                end = min(start + sec.SizeOfRawData, size)
                if start < end:
                    name = sec.Name.rstrip(b"\0").decode("latin-1")
                    ranges.append((start, end, f"section {name}"))
        overlay_start = pe.get_overlay_data_start_offset() or 0
        security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
        if security.VirtualAddress and overlay_start <= security.VirtualAddress <= size:
            area_end = security.VirtualAddress  # a file offset for this directory
        pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"]])
        for rtype in getattr(getattr(pe, "DIRECTORY_ENTRY_RESOURCE", None), "entries", []) or []:
            if rtype.id != pefile.RESOURCE_TYPE["RT_RCDATA"]:
                continue
            for rid in getattr(getattr(rtype, "directory", None), "entries", []) or []:
                for lang in getattr(getattr(rid, "directory", None), "entries", []) or []:
                    data = getattr(lang, "data", None)
                    if data is None:
                        continue
                    off = pe.get_offset_from_rva(data.struct.OffsetToData)
                    if off is not None and 0 <= off < size:
                        resources.append((off, min(off + data.struct.Size, size)))
    except Exception:
        pass
    finally:
        del pe
        try:
            mm.close()
        except BufferError:  # a view of the mapping still alive in pefile's structures: freed with them
            pass
    return ranges, overlay_start, area_end, resources


# What any payload find_payload can report or reject in an ELF file leaves in its bytes: a payload
# header, the bootstrap's marker or the payload symbol's name (besides an appended blob's trailer)
_TELLTALES = (b"KAX", b"KAY", BOOTSTRAP_MARKER) + tuple(n.encode() + b"\0" for n in _PAYLOAD_SYMBOLS)
_TELLTALE_FINDER: list = []


def _may_hold_payload(fh: BinaryIO, size: int) -> bool:
    """The cheap byte test before parsing an ELF file's headers: False only when the full search below
    would certainly return None (no size trailer pointing at "KA", and none of _TELLTALES in the file)."""
    fh.seek(size - 8)
    length = _u64(fh.read(8))
    if 4 <= length <= size - 8:
        fh.seek(size - 8 - length)
        if fh.read(2) == MAGIC:
            return True
    if not _TELLTALE_FINDER:
        try:
            import ahocorasick_rs

            _TELLTALE_FINDER.append(ahocorasick_rs.BytesAhoCorasick(list(_TELLTALES)))
        except ImportError:
            _TELLTALE_FINDER.append(None)
    finder = _TELLTALE_FINDER[0]
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        if finder is None:
            return any(mm.find(t) >= 0 for t in _TELLTALES)
        view = memoryview(mm)
        longest = max(len(t) for t in _TELLTALES)
        try:  # in 1 MiB windows: the first hit answers, and a hostile file cannot make a huge match list
            return any(finder.find_matches_as_indexes(view[base:base + (1 << 20) + longest - 1])
                       for base in range(0, size, 1 << 20))
        finally:
            view.release()


def find_payload(path: Path, kind: str, limits: Optional[Limits] = None) -> Optional[PayloadInfo]:
    """Locate and validate the onefile payload of an ELF ("elf"), PE ("pe") or Mach-O ("macho") file.

    Returns None for a binary without one. Raises PayloadError when something that is clearly meant to
    be a payload (a matching size trailer, the payload symbol, a plausible header) is broken."""
    limits = limits or Limits()
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 16:
                return None
            if kind == "elf":
                if not _may_hold_payload(fh, size):
                    return None
                ranges, content_end, symbol_offset = _elf_ranges(fh, size)
                area_end = size
                resources: list[tuple[int, int]] = []
            elif kind == "pe":
                ranges, content_end, area_end, resources = _pe_ranges(path, size)
                symbol_offset = None
            elif kind == "macho":  # the payload_bin section: hardnut.artifact.macho_sections
                from hardnut.artifact import macho_sections

                ranges, content_end, symbol_offset = macho_sections.ranges(fh, size)
                area_end, resources = size, []
            else:
                raise PayloadError(f"unknown binary kind {kind!r}")
            # 1. appended blob (Nuitka before 4.1), the trailer says where
            info = _appended(fh, size, content_end, kind, limits, area_end)
            if info is None and area_end != size:
                info = _appended(fh, size, content_end, kind, limits)
            if info is not None:
                return info
            # 2. the payload symbol, when the bootstrap was not stripped
            if symbol_offset is not None:
                for start, end, location in ranges:
                    if start <= symbol_offset < end:
                        return _validate(fh, symbol_offset, end, kind, location, limits, strong=True)
            # 3. RT_RCDATA resources (PE)
            for start, end in resources:
                fh.seek(start)
                if _HEADER_RE.match(fh.read(3)):
                    return _validate(fh, start, end, kind, "resource RCDATA", limits, strong=True)
            # 4. a linked-in blob inside a data section
            if not ranges:
                return None
            # (appended blobs live outside every section, so a bootstrap that reaches this point with
            # an unreadable trailer is caught by the marker test too)
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                # the bootstrap's message as the C string it is, NUL on both sides: the same text as a
                # constant of a compiled Python module has its type tag before it (an app bundling hardnut)
                marker = b"\0" + BOOTSTRAP_MARKER + b"\0"
                bootstrap = any(mm.find(marker, max(start - 1, 0), end + 1) >= 0 for start, end, _ in ranges)
                return _scan(fh, mm, ranges, kind, limits, bootstrap)
    except PayloadError:
        raise
    except (OSError, ValueError, OverflowError, struct.error, MemoryError) as exc:
        raise PayloadError(f"cannot read {path.name}: {exc}") from None


