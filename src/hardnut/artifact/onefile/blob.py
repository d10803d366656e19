"""The onefile payload format: its constants, records and bounded readers (no searching, no writing).

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

import re
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Callable, Optional

import zstandard

from hardnut.errors import HardnutError
from hardnut.limits import Limits
from hardnut.timebudget import expired


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
    """Where a onefile payload is in its container, how it is stored, and its entries' layout."""

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
    """One file (or symlink) of a onefile payload, as its stream lists it."""

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
    """An entry header read from a payload stream: its name (raw and shown), flags and size."""

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



def _layouts(kind: str) -> list[Layout]:
    """Candidate layouts, most specific first: a layout with CRC32s is tried before the same without,
    because a wrong no-CRC reading of a CRC payload can walk a while by chance, the reverse cannot."""
    if kind == "pe":
        return [Layout(enc, False, c) for enc in ("utf-16-le", "utf-8") for c in (True, False)]
    return [Layout("utf-8", True, c, legacy) for legacy in (False, True) for c in (True, False)]


