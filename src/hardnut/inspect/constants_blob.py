"""Decode the constants blob of a Nuitka 4.3 binary: per-module string constants with file offsets.

Nuitka's data composer (nuitka/tools/data_composer/DataComposer.py) writes one blob per program::

    blob  := entry*
    entry := name NUL  size:u32le  part[size]
    part  := count:u16le  value{count}  '.'

`name` is "" for the constants shared by all modules, ".bytecode" for the marshalled bytecode of
modules that were not compiled (stdlib), else the module name ("__main__", "pkg.mod"). The values
use the tags of nuitka/build/include/nuitka/constants_blob_spec.h (decoded by
nuitka/build/static_src/HelpersConstantsBlob.c). The blob is linked verbatim into the binary
(incbin / linker / "code" mode into ELF `.rodata`, a COFF object into PE `.rdata`), so every byte
of a decoded constant has a FILE offset: that is what findings point at.

Locating: the file is searched for the `.bytecode` entry (programs with uncompiled stdlib modules);
failing that, and only if the file contains the `__compiled__` name every Nuitka-compiled module
defines, the data sections of the ELF/PE file (pyelftools / pefile) are searched for any module
entry (an entry header right after another part's '.' end marker) whose part decodes exactly, then
backwards for the shared "" entry. Every part is validated by decoding it completely (count
values, then the '.' end marker); a chain of entries must follow from the start.

Limits of the decoder (documented, not errors):
* `.bytecode` parts hold marshalled code objects (tag 'X', opaque data): skipped structurally, their
  strings are covered by raw-byte scanning only and carry no module name.
* Code objects are walked (name, varnames, qualname, free vars); floats, complex numbers, big ints,
  bytearrays and blob data are skipped by size. An unknown tag, a truncated value or a count/size
  that does not fit stops decoding of that module only: its `complete` flag is False, `note` says
  why, and the strings decoded so far are kept. Raw-byte scanning of the whole file always runs.
* Nesting deeper than `MAX_DEPTH`, more than `MAX_VALUES` values per module or a blob larger than
  the bytes given stop decoding cleanly.

The only exception this module raises is `BlobError` (the file cannot be read or is not a
parseable ELF/PE file); malformed blob data never raises, it yields an incomplete module.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

Buffer = Union[bytes, bytearray, memoryview, mmap.mmap]

MAX_DEPTH = 64
MAX_VALUES = 2_000_000  # values decoded per module part
MAX_NAME = 512  # longest module name accepted in an entry header
MAX_BACKSCAN = 64 * 1024 * 1024  # how far back from the first module entry to look for the "" entry
# every Nuitka-compiled module sets __compiled__, so the name is a constant in the blob
NUITKA_MARKER = b"__compiled__"


class BlobError(Exception):
    """The binary cannot be read or parsed as ELF/PE; no blob information is available."""


class BlobReadError(BlobError):
    """The file could not be read or mapped (an I/O problem, not its content)."""


# Tags of nuitka/build/include/nuitka/constants_blob_spec.h (Nuitka 4.3).
T_PREVIOUS, T_NONE, T_TRUE, T_FALSE = 0x70, 0x6E, 0x74, 0x46
T_TUPLE, T_LIST, T_DICT, T_SET, T_FROZENSET, T_FROZENDICT = 0x54, 0x4C, 0x44, 0x53, 0x50, 0x65
T_LONG_POS_SMALL, T_LONG_NEG_SMALL, T_LONG_POS_LARGE, T_LONG_NEG_LARGE = 0x6C, 0x71, 0x67, 0x47
T_INT_POS, T_INT_NEG, T_FLOAT_SPECIAL, T_FLOAT = 0x69, 0x49, 0x5A, 0x66
T_TEXT_EMPTY, T_TEXT_SINGLE, T_TEXT_LEN, T_TEXT_ZT, T_ATTR = 0x73, 0x77, 0x76, 0x75, 0x61
T_BYTES_LEN, T_BYTES_ZT, T_BYTES_SINGLE = 0x62, 0x63, 0x64
T_SLICE, T_RANGE, T_COMPLEX_SPECIAL, T_COMPLEX, T_BYTEARRAY = 0x3A, 0x3B, 0x4A, 0x6A, 0x42
T_BUILTIN_ANON, T_BUILTIN_SPECIAL, T_BLOB_DATA = 0x4D, 0x51, 0x58
T_GENERIC_ALIAS, T_UNION_TYPE, T_BUILTIN_NAMED, T_BUILTIN_EXCEPTION = 0x41, 0x48, 0x4F, 0x45
T_CODE, T_MODULE_CODE, T_CLASS_CODE, T_GENEXPR_CODE = 0x43, 0x4B, 0x57, 0x59
T_END = 0x2E

CODE_FLAG_QUALNAME, CODE_FLAG_FREE_VARS, CODE_FLAG_KW_ONLY, CODE_FLAG_POS_ONLY = 0x1, 0x2, 0x4, 0x8

_NO_PAYLOAD = frozenset((T_PREVIOUS, T_NONE, T_TRUE, T_FALSE, T_TEXT_EMPTY))
_ONE_BYTE = frozenset((T_TEXT_SINGLE, T_BYTES_SINGLE, T_FLOAT_SPECIAL, T_BUILTIN_ANON, T_BUILTIN_SPECIAL))
_VARLEN_ONLY = frozenset((T_LONG_POS_SMALL, T_LONG_NEG_SMALL, T_INT_POS, T_INT_NEG))
_SIZED_OPAQUE = frozenset((T_BYTEARRAY, T_BLOB_DATA))
_SEQUENCES = frozenset((T_TUPLE, T_LIST, T_SET, T_FROZENSET))
_MAPPINGS = frozenset((T_DICT, T_FROZENDICT))
_FIXED_VALUES = {T_SLICE: 3, T_RANGE: 3, T_COMPLEX_SPECIAL: 2, T_GENERIC_ALIAS: 2, T_UNION_TYPE: 1}
_CODE_TAGS = frozenset((T_CODE, T_MODULE_CODE, T_CLASS_CODE, T_GENEXPR_CODE))
_ZT_STRINGS = {T_ATTR: "attr", T_TEXT_ZT: "str", T_BYTES_ZT: "bytes"}  # zero-terminated: kind

_MODULE_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]*\Z")
# an entry header right after the '.' end marker of the previous part
_ENTRY_AFTER_END = re.compile(rb"\.([A-Za-z_][A-Za-z0-9_.]{0,%d})\x00" % (MAX_NAME - 1))


@dataclass(frozen=True)
class StringConstant:
    """One str/bytes constant as stored in the blob; `offset` is the file offset of its first byte."""

    offset: int
    length: int  # bytes of the encoded value (UTF-8 for str)
    raw: bytes
    kind: str  # "attr" (identifier-like str), "str" or "bytes"

    @property
    def text(self) -> str:
        return self.raw.decode("utf-8", "surrogateescape")


@dataclass
class ModuleConstants:
    """One part of Nuitka's constants blob (a module's constants): where it is and what it holds."""

    name: str  # "" = shared constants, ".bytecode" = bytecode of uncompiled modules, else module name
    offset: int  # file offset of the part (its u16 count)
    size: int
    count: int
    strings: list[StringConstant] = field(default_factory=list)
    dict_items: list[tuple[StringConstant, StringConstant]] = field(default_factory=list)
    # function name -> (argument names, in order) from code objects, to pair default values
    functions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # a top-level tuple of constants directly followed by an attribute name (how Nuitka emits a
    # function's defaults right before the name the function is stored under)
    defaults: list[tuple[tuple[Optional[StringConstant], ...], str]] = field(default_factory=list)
    code_objects: int = 0  # code objects decoded: each carries a name, a first line number and argument names
    complete: bool = False
    note: str = ""

    @property
    def module(self) -> Optional[str]:
        """The Python module the constants belong to; None for the shared and bytecode parts."""
        return None if self.name in ("", ".bytecode") else self.name

    def pairs(self, min_value: int = 1) -> Iterator[tuple[StringConstant, StringConstant]]:
        """Candidate (name, value) pairs: an attribute name next to a str constant, both orders
        (Nuitka emits a module-level value right before the name it is stored under), str dict
        items (keys with their values, not with neighbours), and default arguments (a defaults
        tuple followed by the function's name, matched to the code object's argument names)."""
        in_dicts = {s.offset for item in self.dict_items for s in item}
        strs = [s for s in self.strings if s.kind != "bytes" and s.offset not in in_dicts]
        for i, s in enumerate(strs):
            if s.kind != "attr":
                continue
            for j in (i + 1, i - 1):
                if 0 <= j < len(strs) and strs[j].length >= min_value and strs[j].raw != s.raw:
                    yield s, strs[j]
        for key, value in self.dict_items:
            if key.kind != "bytes" and value.kind != "bytes" and value.length >= min_value:
                yield key, value
        for values, func in self.defaults:
            args = self.functions.get(func)
            if not args or len(values) > len(args):
                continue
            for arg, value in zip(args[len(args) - len(values):], values):
                if value is not None and value.kind != "bytes" and value.length >= min_value:
                    yield StringConstant(-1, len(arg.encode()), arg.encode(), "attr"), value


@dataclass
class ConstantsBlob:
    """Nuitka's constants blob of a compiled program, part by part."""

    offset: int  # file offset of the first entry
    size: int
    modules: list[ModuleConstants]

    def __post_init__(self) -> None:
        self.modules.sort(key=lambda m: m.offset)
        self._starts = [m.offset for m in self.modules]

    def module_at(self, offset: int) -> Optional[ModuleConstants]:
        """The blob part holding file offset `offset`, if any."""
        i = bisect.bisect_right(self._starts, offset) - 1
        if i >= 0 and offset < self.modules[i].offset + self.modules[i].size:
            return self.modules[i]
        return None

    def by_name(self, name: str) -> Optional[ModuleConstants]:
        for m in self.modules:
            if m.name == name:
                return m
        return None


class _Stop(Exception):
    """Internal: decoding of the current part cannot continue."""


@dataclass(frozen=True)
class _Tuple:
    """A decoded tuple constant."""

    items: tuple[object, ...]


@dataclass(frozen=True)
class _Code:
    """A decoded code object constant: its name and argument names."""

    name: Optional[StringConstant]
    args: tuple[str, ...]


class _PartDecoder:
    def __init__(self, data: Buffer, start: int, end: int, collect: bool) -> None:
        self.d = data
        self.pos = start
        self.end = end
        self.collect = collect
        self.values = 0
        self.strings: list[StringConstant] = []
        self.dict_items: list[tuple[StringConstant, StringConstant]] = []
        self.functions: dict[str, tuple[str, ...]] = {}
        self.code_objects = 0

    def byte(self) -> int:
        pos = self.pos
        if pos >= self.end:
            raise _Stop("truncated value")
        self.pos = pos + 1
        return self.d[pos]

    def varlen(self) -> int:
        pos = self.pos
        if pos < self.end:  # most are one byte: no loop
            b = self.d[pos]
            if b < 0x80:
                self.pos = pos + 1
                return b
        result = 0
        shift = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7
            if shift > 63:
                raise _Stop("variable-length integer too long")

    def skip(self, n: int) -> None:
        if n < 0 or self.pos + n > self.end:
            raise _Stop("size beyond the part")
        self.pos += n

    def cstring(self) -> tuple[int, int]:
        i = self.d.find(b"\x00", self.pos, self.end)
        if i < 0:
            raise _Stop("unterminated string")
        start = self.pos
        self.pos = i + 1
        return start, i - start

    def add(self, start: int, length: int, kind: str) -> Optional[StringConstant]:
        if not self.collect:
            return None
        s = StringConstant(start, length, bytes(self.d[start:start + length]), kind)
        self.strings.append(s)
        return s

    def value(self, depth: int) -> object:
        """Decode one value; returns a summary for strings, tuples and code objects, else None.
        (The hot loop of verify on a compiled program: the tag is read inline and strings, the most
        frequent values, are tested first.)"""
        if depth > MAX_DEPTH:
            raise _Stop("nesting too deep")
        self.values += 1
        if self.values > MAX_VALUES:
            raise _Stop("too many values")
        pos = self.pos
        if pos >= self.end:
            raise _Stop("truncated value")
        tag = self.d[pos]
        pos += 1
        self.pos = pos
        if tag in _ZT_STRINGS:
            i = self.d.find(b"\x00", pos, self.end)
            if i < 0:
                raise _Stop("unterminated string")
            self.pos = i + 1
            return self.add(pos, i - pos, _ZT_STRINGS[tag])
        if tag in _NO_PAYLOAD:
            return None
        if tag in (T_TEXT_LEN, T_BYTES_LEN):
            n = self.varlen()
            start = self.pos
            self.skip(n)
            return self.add(start, n, "str" if tag == T_TEXT_LEN else "bytes")
        if tag in _ONE_BYTE:
            self.skip(1)
            return None
        if tag in _VARLEN_ONLY:
            self.varlen()
            return None
        if tag in (T_LONG_POS_LARGE, T_LONG_NEG_LARGE):
            for _ in range(self._count()):
                self.varlen()
            return None
        if tag == T_FLOAT:
            self.skip(8)
            return None
        if tag == T_COMPLEX:
            self.skip(16)
            return None
        if tag in _SIZED_OPAQUE:
            self.skip(self.varlen())
            return None
        if tag == T_TUPLE:
            value, depth = self.value, depth + 1
            return _Tuple(tuple([value(depth) for _ in range(self._count())]))
        if tag in _SEQUENCES:
            value, depth = self.value, depth + 1
            for _ in range(self._count()):
                value(depth)
            return None
        if tag in _MAPPINGS:
            n = self._count()
            keys = [self.value(depth + 1) for _ in range(n)]
            for key in keys:
                val = self.value(depth + 1)
                if self.collect and isinstance(key, StringConstant) and isinstance(val, StringConstant):
                    self.dict_items.append((key, val))
            return None
        if tag in _FIXED_VALUES:
            for _ in range(_FIXED_VALUES[tag]):
                self.value(depth + 1)
            return None
        if tag in (T_BUILTIN_NAMED, T_BUILTIN_EXCEPTION):
            self.cstring()
            return None
        if tag in _CODE_TAGS:
            return self.code_object(tag, depth)
        if tag == T_END:
            raise _Stop("end marker inside the values")
        raise _Stop(f"unknown tag 0x{tag:02x}")

    def _count(self) -> int:
        n = self.varlen()
        if n > self.end - self.pos:  # every element takes at least one byte
            raise _Stop("element count beyond the part")
        return n

    def code_object(self, tag: int, depth: int) -> Optional[_Code]:
        # mirrors _unpackBlobConstantObjectCodeObject: fixed parts per kind, then optional parts
        flags = self.varlen()
        code = None
        self.code_objects += 1
        if tag != T_MODULE_CODE:
            name = self.value(depth + 1) if tag != T_GENEXPR_CODE else None
            self.varlen()  # line number - 1
            varnames = self.value(depth + 1)
            if tag == T_CODE:
                argc = self.varlen()
                if isinstance(name, StringConstant) and isinstance(varnames, _Tuple):
                    args = tuple(v.text for v in varnames.items[:argc] if isinstance(v, StringConstant))
                    if len(args) == min(argc, len(varnames.items)):
                        code = _Code(name, args)
                        if self.collect:
                            self.functions.setdefault(name.text, args)
        if flags & CODE_FLAG_QUALNAME:
            self.value(depth + 1)
        if flags & CODE_FLAG_FREE_VARS:
            self.value(depth + 1)
        if flags & CODE_FLAG_KW_ONLY:
            self.varlen()
        if flags & CODE_FLAG_POS_ONLY:
            self.varlen()
        return code


def _u32(data: Buffer, pos: int) -> int:
    return struct.unpack_from("<I", data, pos)[0]


def _entry_header(data: Buffer, pos: int, end: int) -> Optional[tuple[str, int, int]]:
    """(name, part_offset, part_size) of an entry at `pos`, or None if it cannot be one."""
    i = data.find(b"\x00", pos, min(end, pos + MAX_NAME + 1))
    if i < 0 or i + 7 > end:
        return None
    raw = bytes(data[pos:i])
    if raw and raw != b".bytecode" and not _MODULE_NAME.match(raw):
        return None
    size = _u32(data, i + 1)
    part = i + 5
    if size < 3 or part + size > end or data[part + size - 1] != T_END:
        return None
    return raw.decode("ascii"), part, size


def _decode_part(data: Buffer, name: str, part: int, size: int, collect: bool = True) -> ModuleConstants:
    count = struct.unpack_from("<H", data, part)[0]
    mod = ModuleConstants(name=name, offset=part, size=size, count=count)
    dec = _PartDecoder(data, part + 2, part + size - 1, collect)
    prev: object = None
    try:
        for _ in range(count):
            cur = dec.value(0)
            if (collect and isinstance(prev, _Tuple) and isinstance(cur, StringConstant) and cur.kind == "attr"
                    and any(isinstance(v, StringConstant) for v in prev.items)):
                items = tuple(v if isinstance(v, StringConstant) else None for v in prev.items)
                mod.defaults.append((items, cur.text))
            prev = cur
        if dec.pos != part + size - 1:
            raise _Stop("values end before the part's end marker")
        mod.complete = True
    except _Stop as exc:
        mod.note = f"decoding stopped at file offset {dec.pos}: {exc}"
    except (IndexError, struct.error, ValueError) as exc:  # defensive: a bug must not end the scan
        mod.note = f"decoding stopped at file offset {dec.pos}: {type(exc).__name__}"
    mod.strings = dec.strings
    mod.dict_items = dec.dict_items
    mod.functions = dec.functions
    mod.code_objects = dec.code_objects
    return mod


def _decoded_entry(data: Buffer, pos: int, end: int, collect: bool = False):
    """(entry header, its decoded part or None for .bytecode) when the part decodes exactly (or, for
    .bytecode, has a sane header); else None. `collect`: keep its strings (what verify reads)."""
    head = _entry_header(data, pos, end)
    if head is None:
        return None
    name, part, size = head
    if name == ".bytecode":
        return head, None
    mod = _decode_part(data, name, part, size, collect=collect)
    return (head, mod) if mod.complete else None


def _valid_entry(data: Buffer, pos: int, end: int) -> Optional[tuple[str, int, int]]:
    """An entry header whose part decodes exactly (or, for .bytecode, has a sane count)."""
    found = _decoded_entry(data, pos, end)
    return found[0] if found is not None else None


def _walk_chain(data: Buffer, start: int, end: int) -> list[tuple[str, int, int, Optional[ModuleConstants]]]:
    """The chain of entries from `start`, each with its part decoded: the decode that proves an entry
    valid is the one the blob keeps (_decode_chain used to decode every part a second time: half of
    verify's time on a 21 MB program). Whether a part decodes exactly does not depend on `collect`."""
    entries = []
    pos = start
    names = set()
    while pos < end:
        found = _decoded_entry(data, pos, end, collect=True)
        if found is None or found[0][0] in names:
            break
        (name, part, size), mod = found
        names.add(name)
        entries.append((name, part, size, mod))
        pos = part + size
    return entries


def _find_shared_entry(data: Buffer, first_module: int, lo: int) -> Optional[int]:
    """Start of the "" entry that ends right where the first module entry begins."""
    q = first_module - 8
    floor = max(lo, first_module - MAX_BACKSCAN)
    while q >= floor:
        q = data.rfind(b"\x00", floor, q + 1)
        if q < 0:
            return None
        if q + 5 <= first_module and _u32(data, q + 1) == first_module - q - 5:
            if _valid_entry(data, q, first_module) is not None:
                return q
        q -= 1
    return None


def _locate_by_bytecode(data: Buffer, ranges: Sequence[tuple[int, int]]):
    for lo, hi in ranges:
        pos = lo
        while True:
            i = data.find(b".bytecode\x00", pos, hi)
            if i < 0:
                break
            chain = _walk_chain(data, i, hi)
            if chain:
                return i, chain
            pos = i + 1
    return None


def _locate_by_modules(data: Buffer, ranges: Sequence[tuple[int, int]]):
    for lo, hi in ranges:
        for m in _ENTRY_AFTER_END.finditer(data, lo, hi):
            pos = m.start() + 1
            if _valid_entry(data, pos, hi) is None:
                continue
            shared = _find_shared_entry(data, pos, lo)
            start = shared if shared is not None else pos
            chain = _walk_chain(data, start, hi)
            if chain:
                return start, chain
    return None


def locate_blob(data: Buffer, ranges: Sequence[tuple[int, int]]) -> Optional[tuple[int, list[tuple]]]:
    """Find the blob inside the given file ranges: (start offset, [(name, part offset, size, decoded
    part or None)])."""
    return _locate_by_bytecode(data, ranges) or _locate_by_modules(data, ranges)


def _decode_chain(data: Buffer, found) -> Optional[ConstantsBlob]:
    if found is None:
        return None
    start, chain = found
    modules = []
    for name, part, size, mod in chain:
        if name == ".bytecode":
            mod = ModuleConstants(name=name, offset=part, size=size, count=struct.unpack_from("<H", data, part)[0],
                                  complete=False, note="bytecode of uncompiled modules: not decoded (raw scan only)")
        elif mod is None:
            mod = _decode_part(data, name, part, size)
        modules.append(mod)
    _, last_part, last_size, _ = chain[-1]
    return ConstantsBlob(offset=start, size=last_part + last_size - start, modules=modules)


def decode_blob(data: Buffer, ranges: Optional[Sequence[tuple[int, int]]] = None) -> Optional[ConstantsBlob]:
    """Locate and decode the constants blob in `data` (a whole file); None when there is none."""
    if ranges is None:
        ranges = [(0, len(data))]
    return _decode_chain(data, locate_blob(data, ranges))


def data_ranges(path: Path, kind: str, data: Buffer) -> list[tuple[int, int]]:
    """File ranges of the non-executable, file-backed sections of an ELF, PE or Mach-O file (Nuitka on
    macOS links the blob into a `constants_bin` section)."""
    size = len(data)
    ranges: list[tuple[int, int]] = []
    try:
        if kind == "elf":
            from elftools.elf.constants import SH_FLAGS
            from elftools.elf.elffile import ELFFile

            with open(path, "rb") as fh:
                elf = ELFFile(fh)
                for sec in elf.iter_sections():
                    if sec["sh_type"] != "SHT_PROGBITS" or sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR:
                        continue
                    lo, n = sec["sh_offset"], sec["sh_size"]
                    if n > 0 and lo < size:
                        ranges.append((lo, min(size, lo + n)))
        elif kind == "pe":
            import pefile

            pe = pefile.PE(str(path), fast_load=True)
            try:
                for sec in pe.sections:
                    if sec.Characteristics & 0x20000000:  # IMAGE_SCN_MEM_EXECUTE
                        continue
                    lo, n = sec.PointerToRawData, sec.SizeOfRawData
                    if n > 0 and lo < size:
                        ranges.append((lo, min(size, lo + n)))
            finally:
                pe.close()
        elif kind == "macho":
            from hardnut.artifact import macho_sections

            with open(path, "rb") as fh:
                ranges.extend((lo, hi) for lo, hi, _where in macho_sections.ranges(fh, size)[0])
    except Exception as exc:  # pyelftools/pefile raise many types on hostile input
        raise BlobError(f"cannot parse {kind.upper()} sections: {type(exc).__name__}: {exc}") from None
    return sorted(ranges) or [(0, size)]


def sniff_kind(head: bytes) -> Optional[str]:
    if head.startswith(b"\x7fELF"):
        return "elf"
    if head.startswith(b"MZ"):
        return "pe"
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return "macho"
    return None


def read_constants_blob(path: Union[str, Path], kind: Optional[str] = None,
                        max_bytes: Optional[int] = None) -> Optional[ConstantsBlob]:
    """Decode the constants blob of the ELF/PE/Mach-O file at `path`; None when the file has none.

    Only the first `max_bytes` bytes are considered. Raises BlobError (only) when the file cannot
    be read or its headers cannot be parsed.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size == 0:
                return None
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                kind = kind or sniff_kind(mm[:4])
                if kind not in ("elf", "pe", "macho"):
                    return None
                limit = size if max_bytes is None else min(size, max_bytes)
                if mm.find(NUITKA_MARKER, 0, limit) < 0:
                    return None  # not Nuitka-compiled (one pass over the bytes): no blob to look for
                # cheap first: the .bytecode entry anywhere (standalone and onefile programs)
                found = _locate_by_bytecode(mm, [(0, limit)])
                if found is None:
                    ranges = [(lo, min(hi, limit)) for lo, hi in data_ranges(path, kind, mm) if lo < limit]
                    found = _locate_by_modules(mm, ranges)
                return _decode_chain(mm, found)
    except OSError as exc:
        raise BlobReadError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    except ValueError as exc:  # mmap of special files
        raise BlobReadError(f"cannot map {path.name}: {exc}") from None
