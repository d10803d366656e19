"""Mach-O facts (thin and universal/fat) with macholib: load commands, dylibs, rpaths, minimum OS,
header flags, segments, symbols and the embedded code signature. No judgement here.

`inspect_macho(path) -> MachoFacts`, one `MachoSlice` per architecture. macholib (pure Python, the
parser py2app uses) reads the headers and load commands; the header counts are validated with `struct`
before macholib iterates them, so a hostile count cannot make it loop or read far. Two structures
macholib locates but does not decode are read here over the bytes it located:
  - the symbol table (LC_SYMTAB): undefined symbols (the stack-protector imports) and N_OSO debug-map
    entries, a hot loop over nlist records, capped at `_MAX_SYMBOLS`;
  - the code signature (LC_CODE_SIGNATURE): the SuperBlob and its CodeDirectories (flags, hash type,
    identifier, team id, page hashes checked against the slice's pages), and the CMS blob's signer
    (verified with `hardnut.inspect.cms`).
Every failure raises `BinaryParseError` (shared with `hardnut.inspect.elf`); nothing else escapes.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from hardnut.inspect.elf import (
    DEFAULT_SCAN_BYTES,
    DEFAULT_TIMEOUT,
    BinaryLimitError,
    BinaryParseError,
    StringHit,
    scan_build_paths,
)

__all__ = ["BinaryParseError", "MachoSlice", "MachoFacts", "CodeSignature", "inspect_macho", "is_macho"]

MH_MAGICS = {b"\xfe\xed\xfa\xce": (">", False), b"\xce\xfa\xed\xfe": ("<", False),
             b"\xfe\xed\xfa\xcf": (">", True), b"\xcf\xfa\xed\xfe": ("<", True)}
FAT_MAGIC, FAT_MAGIC_64 = b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf"

# mach-o/loader.h
MH_EXECUTE, MH_DYLIB, MH_BUNDLE, MH_DYLINKER, MH_OBJECT = 0x2, 0x6, 0x8, 0x7, 0x1
FILETYPES = {0x1: "MH_OBJECT", 0x2: "MH_EXECUTE", 0x3: "MH_FVMLIB", 0x4: "MH_CORE", 0x5: "MH_PRELOAD",
             0x6: "MH_DYLIB", 0x7: "MH_DYLINKER", 0x8: "MH_BUNDLE", 0x9: "MH_DYLIB_STUB", 0xA: "MH_DSYM",
             0xB: "MH_KEXT_BUNDLE", 0xC: "MH_FILESET"}
MH_PIE = 0x200000
MH_ALLOW_STACK_EXECUTION = 0x20000
MH_NO_HEAP_EXECUTION = 0x1000000
CPU_NAMES = {7: "i386", 0x01000007: "x86_64", 12: "arm", 0x0100000C: "arm64", 0x0200000C: "arm64_32",
             18: "ppc", 0x01000012: "ppc64"}
LC_REQ_DYLD = 0x80000000
LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB = 0xC, 0x18 | LC_REQ_DYLD, 0x1F | LC_REQ_DYLD
LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB = 0x20, 0x23 | LC_REQ_DYLD
LC_ID_DYLIB, LC_RPATH, LC_CODE_SIGNATURE, LC_SYMTAB = 0xD, 0x1C | LC_REQ_DYLD, 0x1D, 0x2
LC_SEGMENT, LC_SEGMENT_64 = 0x1, 0x19
LC_VERSION_MIN_MACOSX, LC_BUILD_VERSION = 0x24, 0x32
DYLIB_KINDS = {LC_LOAD_DYLIB: "load", LC_LOAD_WEAK_DYLIB: "weak", LC_REEXPORT_DYLIB: "reexport",
               LC_LAZY_LOAD_DYLIB: "lazy", LC_LOAD_UPWARD_DYLIB: "upward"}
PLATFORM_MACOS = 1
# nlist n_type bits
N_STAB, N_TYPE, N_EXT, N_UNDF, N_OSO = 0xE0, 0x0E, 0x01, 0x00, 0x66
CANARY_SYMBOLS = ("___stack_chk_fail", "___stack_chk_guard")

# code signing (xnu osfmk/kern/cs_blobs.h)
CSMAGIC_EMBEDDED_SIGNATURE = 0xFADE0CC0
CSMAGIC_CODEDIRECTORY = 0xFADE0C02
CSMAGIC_BLOBWRAPPER = 0xFADE0B01
CSSLOT_CODEDIRECTORY, CSSLOT_REQUIREMENTS, CSSLOT_ENTITLEMENTS, CSSLOT_DER_ENTITLEMENTS = 0, 2, 5, 7
CSSLOT_ALTERNATE_CODEDIRECTORIES = range(0x1000, 0x1005)
CSSLOT_SIGNATURESLOT = 0x10000
CS_ADHOC = 0x2
CS_HARD, CS_KILL, CS_RESTRICT, CS_REQUIRE_LV, CS_RUNTIME, CS_LINKER_SIGNED = \
    0x100, 0x200, 0x800, 0x2000, 0x10000, 0x20000
CD_FLAG_NAMES = {0x2: "adhoc", 0x100: "hard", 0x200: "kill", 0x400: "expires", 0x800: "restrict",
                 0x1000: "enforcement", 0x2000: "library-validation", 0x10000: "runtime",
                 0x20000: "linker-signed"}
HASH_TYPES = {1: ("sha1", 20), 2: ("sha256", 32), 3: ("sha256", 20), 4: ("sha384", 48)}

_MAX_ARCHS = 64
_MAX_CMDS = 65_536
_MAX_SYMBOLS = 1_000_000
_MAX_OSO = 32
_MAX_CODE_SLOTS = 4_000_000
_MAX_SIGNATURE = 64 * 1024**2


@dataclass(frozen=True)
class Segment:
    name: str
    vmaddr: int
    vmsize: int
    fileoff: int
    filesize: int
    initprot: int
    maxprot: int
    sections: tuple[str, ...]

    @property
    def writable_executable(self) -> bool:
        return bool(self.initprot & 0x2 and self.initprot & 0x4)


@dataclass(frozen=True)
class CodeDirectory:
    slot: int
    version: int
    flags: int
    hash_type: str
    identifier: str
    team_id: str
    page_size: int  # bytes; 0 = one page for the whole code
    code_slots: int
    code_limit: int
    bad_pages: tuple[int, ...]  # page indices whose hash does not match the file
    bad_special: tuple[int, ...]  # special slots (requirements, entitlements) that do not match
    checked: bool  # page hashes were compared (the hash type is known)

    @property
    def flag_names(self) -> tuple[str, ...]:
        return tuple(name for bit, name in CD_FLAG_NAMES.items() if self.flags & bit)


@dataclass(frozen=True)
class CodeSignature:
    offset: int  # slice-relative, from LC_CODE_SIGNATURE
    size: int
    directories: tuple[CodeDirectory, ...]
    cms_size: int  # bytes of the CMS (identity) signature blob; 0 = ad-hoc
    signer: Optional[str]  # subject of the CMS signing certificate
    cms_valid: Optional[bool]  # the CMS signature covers the CodeDirectory (None: no CMS blob)
    cms_error: str
    signing_time: Optional[str]
    error: str  # the SuperBlob could not be parsed ("" when it could)

    @property
    def primary(self) -> Optional[CodeDirectory]:
        return self.directories[0] if self.directories else None

    @property
    def adhoc(self) -> bool:
        cd = self.primary
        return bool(cd and cd.flags & CS_ADHOC) or (cd is not None and self.cms_size == 0)

    @property
    def hashes_match(self) -> bool:
        return bool(self.directories) and not self.error and all(
            d.checked and not d.bad_pages and not d.bad_special for d in self.directories)

    def flag(self, bit: int) -> bool:
        cd = self.primary
        return bool(cd and cd.flags & bit)


@dataclass(frozen=True)
class MachoSlice:
    arch: str  # "arm64", "x86_64", ... (or "cpu-0x...")
    cputype: int
    is_64: bool
    offset: int  # in the file
    size: int
    filetype: int
    flags: int
    dylibs: tuple[tuple[str, str], ...]  # (kind: load/weak/reexport/lazy/upward, install name)
    id_dylib: Optional[str]
    rpaths: tuple[str, ...]
    platform: Optional[int]  # LC_BUILD_VERSION platform (1 = macOS); None for LC_VERSION_MIN_*
    min_os: Optional[str]  # "11.0"
    sdk: Optional[str]
    segments: tuple[Segment, ...]
    undefined_symbols: frozenset[str]  # only the ones the checks ask about (canary)
    symbol_count: int
    local_symbols: int  # non-stab, non-external defined symbols (a not-stripped file has many)
    oso_paths: tuple[StringHit, ...]  # N_OSO debug-map object paths (file offsets of the strings)
    signature: Optional[CodeSignature]

    @property
    def filetype_name(self) -> str:
        return FILETYPES.get(self.filetype, hex(self.filetype))

    @property
    def is_executable(self) -> bool:
        return self.filetype == MH_EXECUTE

    @property
    def pie(self) -> bool:
        return bool(self.flags & MH_PIE)

    @property
    def stack_executable(self) -> bool:
        return bool(self.flags & MH_ALLOW_STACK_EXECUTION)

    @property
    def canary(self) -> bool:
        return any(s in self.undefined_symbols for s in CANARY_SYMBOLS)

    def segment(self, name: str) -> Optional[Segment]:
        return next((s for s in self.segments if s.name == name), None)

    @property
    def dwarf_sections(self) -> tuple[str, ...]:
        seg = self.segment("__DWARF")
        return tuple(f"__DWARF,{s}" for s in seg.sections) if seg else ()


@dataclass(frozen=True)
class MachoFacts:
    size: int
    fat: bool
    slices: tuple[MachoSlice, ...]
    build_paths: tuple[StringHit, ...]
    build_path_count: int
    scanned_bytes: int
    scan_truncated: bool

    # the attributes the shared binary checks read from any facts object
    @property
    def is_executable(self) -> bool:
        return any(s.is_executable for s in self.slices)

    @property
    def archs(self) -> tuple[str, ...]:
        return tuple(s.arch for s in self.slices)

    @property
    def debug_sections(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for s in self.slices for n in s.dwarf_sections))

    @property
    def signed(self) -> bool:
        return bool(self.slices) and all(s.signature is not None for s in self.slices)


def is_macho(head: bytes) -> bool:
    """Thin Mach-O magic, or a fat header (told apart from a Java class file by its small arch count)."""
    if head[:4] in MH_MAGICS:
        return True
    if head[:4] in (FAT_MAGIC, FAT_MAGIC_64) and len(head) >= 8:
        return 0 < struct.unpack(">I", head[4:8])[0] <= 32
    return False


def inspect_macho(path: Union[str, Path], *, max_scan_bytes: int = DEFAULT_SCAN_BYTES,
                  timeout: float = DEFAULT_TIMEOUT) -> MachoFacts:
    """Read the facts of one Mach-O file. Raises BinaryParseError for anything unparseable."""
    deadline = time.monotonic() + timeout
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 28:
                raise BinaryParseError(f"too short for a Mach-O header ({size} bytes)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                archs = _archs(mm, size)
                from macholib.MachO import MachO

                parsed = MachO(os.fspath(path), allow_unknown_load_commands=True)
                if [(h.offset, h.size) for h in parsed.headers] != archs:
                    raise BinaryParseError("macholib read other architectures than the fat header lists")
                _check(deadline)
                slices = tuple(_slice(mm, h, deadline) for h in parsed.headers)
                end = min(size, max(0, max_scan_bytes))
                hits, count = scan_build_paths(mm, end, deadline)
                oso = {h.text for s in slices for h in s.oso_paths}
                hits = tuple(h for h in hits if h.text not in oso)  # N_OSO paths are their own fact
                return MachoFacts(size, mm[:4] in (FAT_MAGIC, FAT_MAGIC_64), slices, hits, count, end,
                                  end < size)
    except BinaryParseError:
        raise
    except OSError as exc:
        raise BinaryParseError(f"cannot read file: {exc.strerror or exc}") from None
    except (RecursionError, MemoryError):
        raise BinaryParseError("malformed Mach-O (implausible sizes)") from None
    except Exception as exc:  # macholib/struct errors and whatever a hostile file provokes
        text = " ".join(str(exc).split())[:160]
        raise BinaryParseError(f"malformed Mach-O: {type(exc).__name__}: {text}") from None


def _check(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BinaryLimitError("time limit reached while parsing")


def _archs(mm: mmap.mmap, size: int) -> list[tuple[int, int]]:
    """(offset, size) of every slice, validated: inside the file, a known magic, sane command counts."""
    magic = mm[:4]
    if magic in MH_MAGICS:
        out = [(0, size)]
    elif magic in (FAT_MAGIC, FAT_MAGIC_64):
        (count,) = struct.unpack(">I", mm[4:8])
        if not 0 < count <= _MAX_ARCHS:
            raise BinaryParseError(f"implausible fat header ({count} architectures)")
        rec = 32 if magic == FAT_MAGIC_64 else 20
        if 8 + count * rec > size:
            raise BinaryParseError("truncated fat header")
        out = []
        for i in range(count):
            base = 8 + i * rec
            if magic == FAT_MAGIC_64:
                _cpu, _sub, off, length, _align, _res = struct.unpack(">iiQQII", mm[base:base + rec])
            else:
                _cpu, _sub, off, length, _align = struct.unpack(">iiIII", mm[base:base + rec])
            if off + length > size or length < 28:
                raise BinaryParseError(f"truncated: architecture {i} extends beyond the end of the file")
            out.append((off, length))
    else:
        raise BinaryParseError("not a Mach-O file")
    for off, length in out:
        endian, is64 = MH_MAGICS.get(mm[off:off + 4], (None, None))
        if endian is None:
            raise BinaryParseError(f"no Mach-O header at offset {off:#x}")
        ncmds, sizeofcmds = struct.unpack(endian + "II", mm[off + 16:off + 24])
        header = 32 if is64 else 28
        if ncmds > _MAX_CMDS or header + sizeofcmds > length or ncmds * 8 > sizeofcmds:
            raise BinaryParseError(f"malformed load commands ({ncmds} commands in {sizeofcmds} bytes)")
        # every command inside sizeofcmds, with a size that moves on (macholib trusts these)
        pos, end = off + header, off + header + sizeofcmds
        for _ in range(ncmds):
            if pos + 8 > end:
                raise BinaryParseError("truncated: load commands extend beyond sizeofcmds")
            cmdsize = struct.unpack(endian + "I", mm[pos + 4:pos + 8])[0]
            if cmdsize < 8 or pos + cmdsize > end:
                raise BinaryParseError(f"malformed load command size {cmdsize} at {pos:#x}")
            pos += cmdsize
    return out


def printable(text: str) -> str:
    """Attacker-chosen names (install names, identifiers, certificate subjects) end up in terminal
    output: control and other unprintable characters are shown escaped."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _text(raw: Any) -> str:
    return printable(bytes(raw).split(b"\0", 1)[0].decode("utf-8", "backslashreplace"))


def _version(v: int) -> str:
    major, minor, patch = v >> 16, (v >> 8) & 0xFF, v & 0xFF
    return f"{major}.{minor}" + (f".{patch}" if patch else "")


def _slice(mm: mmap.mmap, header: Any, deadline: float) -> MachoSlice:
    """One architecture from macholib's MachOHeader; symbols and signature over the bytes it located."""
    offset, length = int(header.offset), int(header.size)
    endian, is64 = MH_MAGICS[mm[offset:offset + 4]]
    hdr = header.header
    dylibs: list[tuple[str, str]] = []
    rpaths: list[str] = []
    segments: list[Segment] = []
    id_dylib = None
    platform = min_os = sdk = None
    symtab = codesig = None
    for lc, cmd, data in header.commands:
        kind = lc.cmd
        if kind in DYLIB_KINDS:
            dylibs.append((DYLIB_KINDS[kind], _text(data)))
        elif kind == LC_ID_DYLIB:
            id_dylib = _text(data)
        elif kind == LC_RPATH:
            rpaths.append(_text(data))
        elif kind in (LC_SEGMENT, LC_SEGMENT_64):
            segments.append(Segment(_text(cmd.segname), int(cmd.vmaddr), int(cmd.vmsize), int(cmd.fileoff),
                                    int(cmd.filesize), int(cmd.initprot), int(cmd.maxprot),
                                    tuple(_text(s.sectname) for s in data)))
        elif kind == LC_BUILD_VERSION:
            platform, min_os, sdk = int(cmd.platform), _version(int(cmd.minos)), _version(int(cmd.sdk))
        elif kind == LC_VERSION_MIN_MACOSX and min_os is None:
            platform, min_os, sdk = PLATFORM_MACOS, _version(int(cmd.version)), _version(int(cmd.sdk))
        elif kind == LC_SYMTAB:
            symtab = (int(cmd.symoff), int(cmd.nsyms), int(cmd.stroff), int(cmd.strsize))
        elif kind == LC_CODE_SIGNATURE:
            codesig = (int(cmd.dataoff), int(cmd.datasize))
    undefined, count, local, oso = frozenset(), 0, 0, ()
    if symtab is not None:
        undefined, count, local, oso = _symbols(mm, offset, length, endian, is64, symtab, deadline)
    signature = None
    if codesig is not None:
        signature = _signature(mm, offset, length, codesig, deadline)
    cputype = int(hdr.cputype)
    return MachoSlice(
        arch=CPU_NAMES.get(cputype, f"cpu-{cputype & 0xFFFFFFFF:#x}"), cputype=cputype, is_64=is64,
        offset=offset, size=length, filetype=int(hdr.filetype), flags=int(hdr.flags), dylibs=tuple(dylibs),
        id_dylib=id_dylib, rpaths=tuple(rpaths), platform=platform, min_os=min_os, sdk=sdk,
        segments=tuple(segments), undefined_symbols=undefined, symbol_count=count, local_symbols=local,
        oso_paths=oso, signature=signature)


def _symbols(mm: mmap.mmap, base: int, length: int, endian: str, is64: bool, symtab: tuple[int, int, int, int],
             deadline: float) -> tuple[frozenset[str], int, int, tuple[StringHit, ...]]:
    symoff, nsyms, stroff, strsize = symtab
    rec = 16 if is64 else 12
    if symoff + nsyms * rec > length or stroff + strsize > length:
        raise BinaryParseError("truncated: the symbol table extends beyond the end of the slice")
    if nsyms > _MAX_SYMBOLS:
        raise BinaryLimitError(f"{nsyms} symbols (more than {_MAX_SYMBOLS})")
    strbase = base + stroff
    fmt = endian + ("IBBHQ" if is64 else "IBBHI")
    wanted: set[str] = set()
    local = 0
    oso: list[StringHit] = []
    start = base + symoff
    for i, (strx, ntype, _sect, _desc, _value) in enumerate(struct.iter_unpack(fmt, mm[start:start + nsyms * rec])):
        if not i % 65536:
            _check(deadline)
        if ntype & N_STAB:
            if ntype == N_OSO and len(oso) < _MAX_OSO and 0 < strx < strsize:
                end = mm.find(b"\0", strbase + strx, strbase + strsize)
                raw = mm[strbase + strx:end if end >= 0 else strbase + strsize]
                if raw.startswith(b"/"):
                    oso.append(StringHit(strbase + strx, len(raw), printable(raw.decode("utf-8", "backslashreplace"))))
            continue
        if (ntype & N_TYPE) == N_UNDF and ntype & N_EXT:
            if 0 < strx < strsize and mm[strbase + strx:strbase + strx + 13] == b"___stack_chk_":
                end = mm.find(b"\0", strbase + strx, strbase + strsize)
                wanted.add(mm[strbase + strx:end].decode("ascii", "replace"))
        elif not ntype & N_EXT:
            local += 1
    return frozenset(wanted), nsyms, local, tuple(oso)


def _signature(mm: mmap.mmap, base: int, length: int, codesig: tuple[int, int], deadline: float) -> CodeSignature:
    dataoff, datasize = codesig
    if dataoff + datasize > length or datasize > _MAX_SIGNATURE:
        return CodeSignature(dataoff, datasize, (), 0, None, None, "", None,
                             "the code signature extends beyond the end of the slice")
    blob = mm[base + dataoff:base + dataoff + datasize]
    try:
        magic, total, count = struct.unpack(">III", blob[:12])
    except struct.error:
        return CodeSignature(dataoff, datasize, (), 0, None, None, "", None, "truncated SuperBlob")
    if magic != CSMAGIC_EMBEDDED_SIGNATURE:
        return CodeSignature(dataoff, datasize, (), 0, None, None, "", None,
                             f"no embedded-signature SuperBlob (magic {magic:#x})")
    if total > len(blob) or 12 + count * 8 > total:
        return CodeSignature(dataoff, datasize, (), 0, None, None, "", None, "malformed SuperBlob index")
    slots: dict[int, bytes] = {}
    for i in range(count):
        stype, off = struct.unpack(">II", blob[12 + i * 8:20 + i * 8])
        if off + 8 > total:
            return CodeSignature(dataoff, datasize, (), 0, None, None, "", None, "SuperBlob index beyond its end")
        _bmagic, blen = struct.unpack(">II", blob[off:off + 8])
        if blen < 8 or off + blen > total:
            return CodeSignature(dataoff, datasize, (), 0, None, None, "", None, "blob beyond the SuperBlob")
        slots[stype] = blob[off:off + blen]
    directories = []
    for slot in (CSSLOT_CODEDIRECTORY, *CSSLOT_ALTERNATE_CODEDIRECTORIES):
        if slot in slots:
            cd = _code_directory(mm, base, slot, slots[slot], slots, deadline)
            if cd is None:
                return CodeSignature(dataoff, datasize, (), 0, None, None, "", None, "malformed CodeDirectory")
            directories.append(cd)
    cms = slots.get(CSSLOT_SIGNATURESLOT, b"")[8:]
    signer = signing_time = None
    cms_valid: Optional[bool] = None
    cms_error = ""
    if cms:
        from hardnut.inspect import cms as cmsmod

        result = cmsmod.verify_detached(cms, [slots[s] for s in (CSSLOT_CODEDIRECTORY, *CSSLOT_ALTERNATE_CODEDIRECTORIES)
                                              if s in slots])
        signer, signing_time, cms_valid, cms_error = result.signer, result.signing_time, result.valid, result.error
    return CodeSignature(dataoff, datasize, tuple(directories), len(cms), signer, cms_valid, cms_error,
                         signing_time, "" if directories else "no CodeDirectory")


def _code_directory(mm: mmap.mmap, base: int, slot: int, cd: bytes, slots: dict[int, bytes],
                    deadline: float) -> Optional[CodeDirectory]:
    if len(cd) < 44:
        return None
    (magic, length, version, flags, hash_off, ident_off, n_special, n_code, code_limit, hash_size, hash_type,
     _platform, page_log) = struct.unpack(">IIIIIIIIIBBBB", cd[:40])
    if magic != CSMAGIC_CODEDIRECTORY or n_code > _MAX_CODE_SLOTS or n_special > 64:
        return None
    team = ""
    if version >= 0x20200 and len(cd) >= 52:
        team_off = struct.unpack(">I", cd[48:52])[0]
        if 0 < team_off < len(cd):
            team = _text(cd[team_off:team_off + 256])
    if version >= 0x20300 and len(cd) >= 64:
        limit64 = struct.unpack(">Q", cd[56:64])[0]
        code_limit = limit64 or code_limit
    ident = _text(cd[ident_off:ident_off + 1024]) if 0 < ident_off < len(cd) else ""
    algo = HASH_TYPES.get(hash_type)
    page = (1 << page_log) if page_log else 0
    if hash_off > len(cd) or hash_off + n_code * hash_size > len(cd) or hash_off < n_special * hash_size:
        return None
    bad: list[int] = []
    bad_special: list[int] = []
    checked = algo is not None and algo[1] == hash_size
    if checked:
        name, size = algo
        step = page or max(code_limit, 1)
        for i in range(n_code):
            if not i % 4096:
                _check(deadline)
            start = i * step
            end = min(start + step, code_limit)
            if start >= code_limit and i:
                bad.append(i)
                continue
            digest = hashlib.new(name, mm[base + start:base + end]).digest()[:size]
            if digest != cd[hash_off + i * size:hash_off + (i + 1) * size]:
                bad.append(i)
        for special in (CSSLOT_REQUIREMENTS, CSSLOT_ENTITLEMENTS, CSSLOT_DER_ENTITLEMENTS):
            if special <= n_special and special in slots:
                stored = cd[hash_off - special * size:hash_off - (special - 1) * size]
                if stored.strip(b"\0") and hashlib.new(name, slots[special]).digest()[:size] != stored:
                    bad_special.append(special)
    return CodeDirectory(slot, version, flags, algo[0] if algo else f"type-{hash_type}", ident, team, page,
                         n_code, code_limit, tuple(bad[:16]), tuple(bad_special), checked)
