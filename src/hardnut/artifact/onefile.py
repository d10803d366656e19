"""Find, list and extract the payload of a Nuitka onefile binary, bounded and safe against hostile input.

The format (checked against Nuitka 4.3.3: tools/onefile_compressor/OnefileCompressor.py,
build/static_src/OnefileBootstrap.c, freezer/Onefile.py, build/SconsCompilerSettings.py):

    "KA" + "X" (raw) | "Y" (zstd)
    entries, each:  name NUL-terminated (UTF-8 on POSIX, UTF-16LE on Windows; NUL is one code unit)
                    flags byte (POSIX only: 1 = executable, 2 = symlink, then a NUL-terminated link target)
                    u64 size                           (little endian, like every number here)
                    u32 CRC32                          (cached mode only: --onefile-tempdir-spec without
                                                        {PID}/{TIME}/..., used to skip unchanged files)
                    u32 compressed size + zstd frame   (--onefile-as-archive with compression)
                    | size bytes of data
    an empty name ends the entries; in "Y" stream mode everything after the header is one zstd stream.
    u64 trailer = bytes from "KA" to here (Windows pads to 8 first).

Pre-1.x..4.0 Nuitka appended that blob to the bootstrap executable; the trailer at the end of the file
(or before the Authenticode certificate table on Windows) locates it. Older versions wrote the flags byte
after the size and had no symlinks ("legacy" layout). Nuitka 4.1+ writes the blob to
`blobs/__payload.bin` and links it into the bootstrap like its constants blob: ELF .rodata (incbin, C23
#embed, generated C array) or .data/.ldata (ld -b binary in LTO builds), PE .rdata (COFF object), and the
symbol `payload_bin_data` when not stripped. Nothing in the blob records the layout (encoding, CRC, order),
so `find_payload` tries each and keeps the one the whole structure agrees with.

Every malformed, truncated or hostile input raises `PayloadError`; a resource limit raises `PayloadLimit`.
"""

from __future__ import annotations

import mmap
import os
import re
import shutil
import stat
import struct
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Optional

import zstandard

from hardnut.errors import HardnutError
from hardnut.limits import Limits
from hardnut.timebudget import expired

__all__ = [
    "PayloadError", "PayloadLimit", "Layout", "PayloadInfo", "PayloadEntry",
    "find_payload", "iter_entries", "extract", "unpack",
]


class PayloadError(HardnutError):
    """The payload is malformed, truncated, hostile, or cannot be read. The message names what and where."""


class PayloadLimit(PayloadError):
    """A resource limit (limits.max_payload_size, max_payload_ratio, max_files) stopped the extraction."""


MAGIC = b"KA"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_NAME_UNITS = 1024  # the bootstrap's own filename buffer (OnefileBootstrap.c readPayloadFilename)
MAX_CANDIDATES = 64  # "KA[XY]" spots validated per file before giving up
MAX_ZSTD_BLOCKS = 2_000_000  # Nuitka writes ~128 KiB blocks: 4 GiB is ~33,000 of them
RATIO_FLOOR = 16 * 1024 * 1024  # below this many decompressed bytes the ratio is not judged
CHUNK = 1 << 20
_HEADER_RE = re.compile(rb"KA[XY]")
# A message only OnefileBootstrap.c contains (fatalErrorHeaderAttachedData), in every version seen:
# marks a file as a Nuitka onefile bootstrap, whose payload must then be found and readable.
BOOTSTRAP_MARKER = b"Error, couldn't find attached data header."
_DRIVE_RE = re.compile(r"^[A-Za-z]:")
_PAYLOAD_SYMBOLS = ("payload_bin_data",)  # incbin / C23 embed / C array / COFF object; ld -b binary below


@dataclass(frozen=True)
class Layout:
    """How entries are encoded; the blob itself does not say, so it is inferred."""

    encoding: str = "utf-8"  # "utf-8" (POSIX builds) or "utf-16-le" (Windows builds)
    flags: bool = True  # a flags byte per entry (POSIX builds)
    checksums: bool = False  # u32 CRC32 per file (cached onefile mode)
    legacy: bool = False  # older order: name, size, flags, CRC (no symlinks)

    @property
    def unit(self) -> int:
        return 2 if self.encoding == "utf-16-le" else 1


@dataclass(frozen=True)
class PayloadInfo:
    kind: str  # "elf" or "pe": the container
    offset: int  # file offset of "KA"
    length: int  # bytes from "KA" to the end of the entries stream (+ trailer when present)
    compression: str  # "zstd" or "none"
    archive: bool  # --onefile-as-archive: one zstd frame per entry
    location: str  # "appended", "section .rodata", "resource RCDATA", ...
    layout: Optional[Layout]  # None for a zstd stream: known only once decompressed (extract decides)
    trailer: bool  # the u64 size trailer was found and agrees
    entries: Optional[int] = None  # number of entries when known without decompressing
    stream_end: int = 0  # file offset where the entries stream (or zstd frame) ends


@dataclass(frozen=True)
class PayloadEntry:
    name: str  # as stored, '/' separators, escaped where not printable (see `display`)
    size: int  # bytes of file data (0 for symlinks)
    executable: bool = False
    link_target: Optional[str] = None  # symlink entries
    crc32: Optional[int] = None  # stored checksum (cached mode), verified on extraction
    created: bool = False  # written into dest (a symlink whose target leaves dest is not)
    note: str = ""  # why an entry was not created

    @property
    def is_symlink(self) -> bool:
        return self.link_target is not None


def display(name: str, limit: int = 200) -> str:
    """A name safe to print: control and unprintable characters escaped, long names shortened."""
    out = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                  for c in name)
    return out if len(out) <= limit else out[:limit] + "…"


# --------------------------------------------------------------------------------------------- reading

class _Where:
    """An error-message fragment naming an entry, escaped only if an error is actually raised
    (escaping a long name for every entry would dominate the walk)."""

    __slots__ = ("template", "name")

    def __init__(self, template: str, name: str) -> None:
        self.template, self.name = template, name

    def __str__(self) -> str:
        return self.template.format(display(self.name))


class _Budget:
    """Totals for limits: declared file bytes, decompressed bytes vs compressed bytes, entry count."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.declared = 0
        self.out_bytes = 0
        self.in_bytes = 0
        self.entries = 0

    def entry(self, size: int, name: str) -> None:
        if expired():  # cooperative: where no timer can interrupt (threads, Windows)
            raise PayloadLimit("onefile payload: time limit reached (limits.file_timeout)")
        self.entries += 1
        if self.entries > self.limits.max_files:
            raise PayloadLimit(f"payload has more than {self.limits.max_files} entries (limits.max_files)")
        self.declared += size
        if self.declared > self.limits.max_payload_size:
            raise PayloadLimit(
                f"payload is larger than limits.max_payload_size ({self.limits.max_payload_size} bytes) "
                f"at entry '{display(name)}' (declared {size} bytes)")

    def inflate(self, out: int, consumed_in: int) -> None:
        self.out_bytes += out
        self.in_bytes = max(self.in_bytes, consumed_in)
        ratio = self.limits.max_payload_ratio
        if self.out_bytes > RATIO_FLOOR and self.out_bytes > ratio * max(self.in_bytes, 1):
            raise PayloadLimit(
                f"payload decompresses {self.out_bytes} bytes from {self.in_bytes} "
                f"(more than limits.max_payload_ratio {ratio}:1): a decompression bomb or a limit to raise")


class _Region:
    """A bounded window [start, end) of a file, as a readable object (for zstandard's stream_reader)."""

    def __init__(self, fh: BinaryIO, start: int, end: int) -> None:
        self.fh, self.start, self.end, self.pos = fh, start, end, start

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.end - self.pos
        n = min(n, self.end - self.pos)
        if n <= 0:
            return b""
        self.fh.seek(self.pos)
        data = self.fh.read(n)
        self.pos += len(data)
        return data


class _Source:
    """A byte stream with bounded primitives; every shortfall is a PayloadError.

    Buffered with a read cursor (`_pos`) so small reads never shift the buffer; it is compacted when
    the consumed part dominates."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._eof = False
        self.consumed = 0  # bytes handed out (or skipped) so far

    def _pull(self, n: int) -> bytes:  # up to n bytes, b"" at the end
        raise NotImplementedError

    @property
    def _avail(self) -> int:
        return len(self._buf) - self._pos

    def _fill(self, n: int) -> None:
        if self._pos > 65536 and self._pos * 2 > len(self._buf):
            del self._buf[:self._pos]
            self._pos = 0
        while self._avail < n and not self._eof:
            chunk = self._pull(max(n - self._avail, 65536))
            if not chunk:
                self._eof = True
            self._buf += chunk

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[self._pos:self._pos + n])
        self._pos += len(out)
        self.consumed += len(out)
        return out

    def read(self, n: int, what: object) -> bytes:
        self._fill(n)
        if self._avail < n:
            raise PayloadError(f"payload truncated while reading {what}")
        return self._take(n)

    def cstring(self, unit: int, what: object) -> bytes:
        """Bytes up to a NUL code unit (not included), at most MAX_NAME_UNITS units."""
        limit = (MAX_NAME_UNITS + 1) * unit
        start = 0
        while True:
            self._fill(min(self._avail + 4096, limit))
            base = self._pos
            end = base + min(self._avail, limit)
            if unit == 1:
                at = self._buf.find(b"\0", base + start, end)
            else:  # a NUL code unit: two zero bytes at an even offset
                at = self._buf.find(b"\0\0", base + start, end)
                while at >= 0 and (at - base) % 2:
                    at = self._buf.find(b"\0\0", at + 1, end)
            if at >= 0:
                out = self._take(at - base)
                self._take(unit)
                return out
            start = max(0, (end - base) - (end - base) % unit - unit)
            if self._avail >= limit:
                raise PayloadError(f"{what} longer than {MAX_NAME_UNITS} characters or not terminated")
            if self._eof:
                raise PayloadError(f"payload truncated while reading {what}")

    def at_end(self) -> bool:
        self._fill(1)
        return self._avail == 0

    def copy(self, n: int, sink: Optional[Callable[[bytes], None]], what: object) -> int:
        """Pass the next n bytes to sink (or drop them); return their CRC32."""
        crc = 0
        while n > 0:
            if self._avail:
                chunk = self._take(min(n, self._avail))
            else:
                chunk = self._pull(min(n, CHUNK)) if not self._eof else b""
                if not chunk:
                    self._eof = True
                    raise PayloadError(f"payload truncated inside {what}")
                self.consumed += len(chunk)
            n -= len(chunk)
            crc = zlib.crc32(chunk, crc)
            if len(chunk) >= CHUNK and expired():
                raise PayloadLimit("onefile payload: time limit reached (limits.file_timeout)")
            if sink is not None:
                sink(chunk)
        return crc

    def skip(self, n: int, what: object) -> None:
        self.copy(n, None, what)


class _RawSource(_Source):
    def __init__(self, fh: BinaryIO, start: int, end: int) -> None:
        super().__init__()
        self.region = _Region(fh, start, end)
        self.verified = 0  # CRC32s checked and found right (layout detection)

    def _pull(self, n: int) -> bytes:
        return self.region.read(n)

    @property
    def file_pos(self) -> int:
        return self.region.start + self.consumed

    def skip(self, n: int, what: object) -> None:  # seek instead of reading: header walks stay cheap
        buffered = min(n, self._avail)
        self._pos += buffered
        rest = n - buffered
        if self.region.pos + rest > self.region.end:
            raise PayloadError(f"payload truncated inside {what}")
        self.region.pos += rest
        self.consumed += n

    def sub_region(self, n: int, what: object) -> _Region:
        """The next n bytes as their own region (archive mode: one zstd frame), consumed here."""
        start = self.file_pos
        if start + n > self.region.end:
            raise PayloadError(f"payload truncated inside {what}")
        buffered = min(n, self._avail)
        self._pos += buffered
        self.region.pos += n - buffered
        self.consumed += n
        return _Region(self.region.fh, start, start + n)


class _ZstdSource(_Source):
    """Decompressed bytes of [start, end), pulled in bounded pieces, ratio-checked as they come."""

    def __init__(self, fh: BinaryIO, start: int, end: int, budget: Optional[_Budget]) -> None:
        super().__init__()
        self.region = _Region(fh, start, end)
        self.budget = budget
        self.reader = zstandard.ZstdDecompressor().stream_reader(
            self.region, read_size=65536, read_across_frames=True, closefd=False)

    def _pull(self, n: int) -> bytes:
        try:
            chunk = self.reader.read(min(n, CHUNK))
        except zstandard.ZstdError as exc:
            raise PayloadError(f"corrupt zstd data in payload: {exc}") from None
        if self.budget is not None and chunk:
            self.budget.inflate(len(chunk), self.region.pos - self.region.start)
        return chunk


def _u64(b: bytes) -> int:
    return struct.unpack("<Q", b)[0]


def _u32(b: bytes) -> int:
    return struct.unpack("<I", b)[0]


@dataclass
class _Header:
    raw_name: bytes
    name: str
    flags: int = 0
    size: int = 0
    crc: Optional[int] = None
    csize: Optional[int] = None
    link_target: Optional[str] = None


def _decode(raw: bytes, layout: Layout, what: object) -> str:
    try:
        text = raw.decode(layout.encoding)
    except UnicodeDecodeError:
        shown = raw.decode(layout.encoding, "backslashreplace")
        raise PayloadError(f"{what} is not valid {layout.encoding}: '{display(shown)}'") from None
    if layout.encoding == "utf-16-le" or not layout.flags:
        text = text.replace("\\", "/")  # Windows builds store '\' separators
    return text


def _read_header(src: _Source, layout: Layout, archive_compressed: bool) -> Optional[_Header]:
    """The next entry header, or None at the end marker (an empty name)."""
    raw = src.cstring(layout.unit, "entry name")
    if not raw:
        return None
    hdr = _Header(raw, _decode(raw, layout, "entry name"))
    where = _Where("entry '{}'", hdr.name)
    if layout.legacy:
        hdr.size = _u64(src.read(8, _Where("size of entry '{}'", hdr.name)))
        hdr.flags = src.read(1, _Where("flags of entry '{}'", hdr.name))[0] if layout.flags else 0
        if hdr.flags & ~1:
            raise PayloadError(f"{where}: unknown flags {hdr.flags:#x}")
    else:
        hdr.flags = src.read(1, _Where("flags of entry '{}'", hdr.name))[0] if layout.flags else 0
        if hdr.flags & ~3:
            raise PayloadError(f"{where}: unknown flags {hdr.flags:#x}")
        if hdr.flags & 2:
            target_raw = src.cstring(layout.unit, _Where("link target of entry '{}'", hdr.name))
            hdr.link_target = _decode(target_raw, layout, _Where("link target of entry '{}'", hdr.name))
            return hdr
        hdr.size = _u64(src.read(8, _Where("size of entry '{}'", hdr.name)))
    if layout.checksums:
        hdr.crc = _u32(src.read(4, _Where("checksum of entry '{}'", hdr.name)))
    if archive_compressed:
        hdr.csize = _u32(src.read(4, _Where("compressed size of entry '{}'", hdr.name)))
    return hdr


def _crc_matches(stored: Optional[int], actual: int) -> bool:
    # Nuitka stores 1 for a CRC32 of 0 (0 means "error" to its C code)
    return stored is None or stored == (actual or 1)


# ------------------------------------------------------------------------------------ locating a payload

def _layouts(kind: str) -> list[Layout]:
    """Candidate layouts, most specific first: a layout with CRC32s is tried before the same without,
    because a wrong no-CRC reading of a CRC payload can walk a while by chance, the reverse cannot."""
    if kind == "pe":
        return [Layout(enc, False, c) for enc in ("utf-16-le", "utf-8") for c in (True, False)]
    return [Layout("utf-8", True, c, legacy) for legacy in (False, True) for c in (True, False)]


def _plausible_start(head: bytes, kind: str) -> bool:
    """Cheap test of the bytes after "KA[XY]": worth a full validation (and an error if it then fails)?"""
    if head[2:3] == b"Y" and head[3:7] == ZSTD_MAGIC:
        return True
    body = head[3:]
    for layout in _layouts(kind):
        unit = layout.unit
        end = next((i for i in range(0, min(len(body), (MAX_NAME_UNITS + 1) * unit) - unit + 1, unit)
                    if body[i:i + unit] == b"\0" * unit), None)
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
    count = 0
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
            errors.append(exc)
            continue
        return PayloadInfo(kind, offset, trailer_end - offset, "zstd" if compressed else "none",
                           compressed, location, layout, True, count, end)
    # the structure fits no layout: report the error of the layout that got furthest
    # (a layout whose CRC32s verified before it failed is the right one; else the one that read most)
    best = max(errors, key=lambda e: getattr(e, "progress", (-1, -1)), default=None)
    raise PayloadError(f"malformed onefile payload ({location}): {best or 'no layout fits'}")


def _scan(fh: BinaryIO, mm: mmap.mmap, ranges: list[tuple[int, int, str]], kind: str,
          limits: Limits, bootstrap: bool) -> Optional[PayloadInfo]:
    """Find the payload among the "KA[XY]" spots of the data ranges.

    Spots whose next bytes do not look like a payload start are skipped (over 1607 ELF files of a
    Debian system: 59 "KA[XY]" spots, none plausible). The first plausible one decides: it validates,
    or the payload is broken (PayloadError) - a later spot may well be a nested onefile inside the
    payload's own data and must not stand in for it. A file carrying the bootstrap's marker without any
    plausible spot is a bootstrap whose payload is gone: PayloadError too."""
    tried = 0
    for start, end, location in ranges:
        for m in _HEADER_RE.finditer(mm, start, end):
            tried += 1
            if tried > MAX_CANDIDATES:
                break
            info = _validate(fh, m.start(), end, kind, location, limits, strong=False)
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
        symtab = elf.get_section_by_name(".symtab")
        for name in _PAYLOAD_SYMBOLS if symtab is not None else ():
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
        pe = pefile.PE(str(path), fast_load=True)
    except Exception:  # pefile raises PEFormatError and assorted errors on hostile input
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
        pe.close()
    return ranges, overlay_start, area_end, resources


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
                ranges, content_end, symbol_offset = _elf_ranges(fh, size)
                area_end = size
                resources: list[tuple[int, int]] = []
            elif kind == "pe":
                ranges, content_end, area_end, resources = _pe_ranges(path, size)
                symbol_offset = None
            elif kind == "macho":  # the payload_bin section (issue 13): hardnut.artifact.macho_sections
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
                bootstrap = any(mm.find(BOOTSTRAP_MARKER, start, end) >= 0 for start, end, _ in ranges)
                return _scan(fh, mm, ranges, kind, limits, bootstrap)
    except PayloadError:
        raise
    except (OSError, ValueError, OverflowError, struct.error, MemoryError) as exc:
        raise PayloadError(f"cannot read {path.name}: {exc}") from None


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
    from hardnut.artifact.walk import sniff

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


