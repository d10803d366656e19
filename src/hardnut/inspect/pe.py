"""PE facts with pefile: headers, imports, sections, debug directory, load config. No judgement here.

`inspect_pe(path) -> PeFacts`. The headers are read with `fast_load`, then only the import, delay-import,
debug and load-config directories are parsed. Every failure raises `BinaryParseError` (shared with
`hardnut.inspect.elf`); nothing else escapes. The Authenticode (security) directory is only located, never
parsed.
"""

from __future__ import annotations

import mmap
import os
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

__all__ = ["BinaryParseError", "BinaryLimitError", "PeSection", "PeFacts", "inspect_pe"]

# IMAGE_DLLCHARACTERISTICS_*
HIGH_ENTROPY_VA = 0x0020
DYNAMIC_BASE = 0x0040
FORCE_INTEGRITY = 0x0080
NX_COMPAT = 0x0100
NO_SEH = 0x0400
_GUARD_CF_CHECKS = 0x0100 | 0x0400  # IMAGE_GUARD_CF_INSTRUMENTED | IMAGE_GUARD_CF_FUNCTION_TABLE_PRESENT
GUARD_CF = 0x4000
# IMAGE_FILE_* (COFF characteristics)
RELOCS_STRIPPED = 0x0001
FILE_DLL = 0x2000
# IMAGE_SCN_*
SCN_MEM_EXECUTE = 0x20000000
SCN_MEM_READ = 0x40000000
SCN_MEM_WRITE = 0x80000000
CODEVIEW = 2

_DIR_IMPORT, _DIR_SECURITY, _DIR_BASERELOC, _DIR_DEBUG, _DIR_LOAD_CONFIG, _DIR_DELAY_IMPORT = 1, 4, 5, 6, 10, 13
_MAX_IMPORT_DLLS = 4096
_MAX_DEBUG_ENTRIES = 64


@dataclass(frozen=True)
class PeSection:
    name: str  # long names ("/4") resolved through the COFF string table, as MinGW writes them
    characteristics: int
    virtual_size: int
    raw_size: int

    @property
    def writable(self) -> bool:
        return bool(self.characteristics & SCN_MEM_WRITE)

    @property
    def executable(self) -> bool:
        return bool(self.characteristics & SCN_MEM_EXECUTE)


@dataclass(frozen=True)
class PeFacts:
    size: int
    machine: str  # e.g. "IMAGE_FILE_MACHINE_AMD64" (or hex when unknown)
    machine_id: int
    is_64: bool  # PE32+
    is_dll: bool
    characteristics: int  # COFF header
    dll_characteristics: int
    dynamic_base: bool
    high_entropy_va: bool
    nx_compat: bool
    guard_cf: bool
    force_integrity: bool
    no_seh: bool
    relocs_stripped: bool  # IMAGE_FILE_RELOCS_STRIPPED
    has_relocations: bool  # a non-empty base relocation directory
    imports: tuple[str, ...]  # DLL names as written
    delay_imports: tuple[str, ...]
    sections: tuple[PeSection, ...]
    wx_sections: tuple[str, ...]  # sections both writable and executable
    pdb_paths: tuple[StringHit, ...]  # CodeView (RSDS/NB10) PDB file names, with their file offsets
    debug_sections: tuple[str, ...]  # .debug_* / .zdebug_* (DWARF, MinGW)
    has_coff_symbols: bool  # a COFF symbol table (MinGW without -s)
    has_signature: bool  # an Authenticode security directory is present (not validated)
    has_load_config: bool
    guard_flags: Optional[int]  # IMAGE_LOAD_CONFIG_DIRECTORY.GuardFlags
    build_paths: tuple[StringHit, ...]
    build_path_count: int
    scanned_bytes: int
    scan_truncated: bool
    warnings: int  # pefile's count of structural warnings (damaged tables...)
    # Control Flow Guard in effect (BinSkim BA2008): GUARD_CF set, and a load configuration large enough
    # for the CFG fields whose check-function pointer and function table are set and whose GuardFlags
    # say CF_INSTRUMENTED and CF_FUNCTION_TABLE_PRESENT
    cfg_instrumented: bool = False

    @property
    def is_executable(self) -> bool:
        return not self.is_dll


def inspect_pe(
    path: Union[str, Path], *, max_scan_bytes: int = DEFAULT_SCAN_BYTES, timeout: float = DEFAULT_TIMEOUT
) -> PeFacts:
    """Read the facts of one PE file. Raises BinaryParseError for anything unparseable."""
    deadline = time.monotonic() + timeout
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 0x40:
                raise BinaryParseError(f"too short for a DOS header ({size} bytes)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                if mm[:2] != b"MZ":
                    raise BinaryParseError("not a PE file (no MZ header)")
                facts = _inspect(mm, size, max_scan_bytes, deadline)
                return facts
    except BinaryParseError:
        raise
    except OSError as exc:
        raise BinaryParseError(f"cannot read file: {exc.strerror or exc}") from None
    except RecursionError:
        raise BinaryParseError("malformed PE (nesting too deep)") from None
    except MemoryError:
        raise BinaryParseError("malformed PE (implausible sizes)") from None
    except Exception as exc:  # pefile.PEFormatError and whatever a hostile file provokes
        text = " ".join(str(exc).split())[:160]
        raise BinaryParseError(f"malformed PE: {type(exc).__name__}: {text}") from None


def _inspect(mm: mmap.mmap, size: int, max_scan_bytes: int, deadline: float) -> PeFacts:
    import pefile

    # data= keeps pefile on our mapping (pefile.close() would also run a full gc.collect() per file).
    pe = pefile.PE(data=mm, fast_load=True)
    try:
        return _facts(pe, mm, size, max_scan_bytes, deadline, pefile)
    finally:
        del pe


def _check(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BinaryLimitError("time limit reached while parsing")


def _facts(pe: Any, mm: mmap.mmap, size: int, max_scan_bytes: int, deadline: float, pefile: Any) -> PeFacts:
    fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    if not hasattr(pe, "OPTIONAL_HEADER") or oh is None:
        raise BinaryParseError("no optional header")
    dirs = oh.DATA_DIRECTORY
    pe.parse_data_directories(
        directories=[d for d in (_DIR_IMPORT, _DIR_DEBUG, _DIR_LOAD_CONFIG, _DIR_DELAY_IMPORT) if d < len(dirs)],
        import_dllnames_only=True,
    )
    _check(deadline)

    def _dir(index: int) -> tuple[int, int]:
        return (dirs[index].VirtualAddress, dirs[index].Size) if index < len(dirs) else (0, 0)

    imports = tuple(_name(e.dll) for e in getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])[:_MAX_IMPORT_DLLS] if e.dll)
    delay = tuple(_name(e.dll) for e in getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", [])[:_MAX_IMPORT_DLLS] if e.dll)

    declared = int(fh.NumberOfSections)
    if declared != len(pe.sections):
        raise BinaryParseError(f"malformed: {declared} sections declared, {len(pe.sections)} readable")
    if int(oh.SizeOfHeaders) > size:
        raise BinaryParseError("truncated: the headers extend beyond the end of the file")
    for sec in pe.sections:
        if sec.SizeOfRawData and sec.PointerToRawData + sec.SizeOfRawData > size:
            name = bytes(sec.Name).split(b"\0", 1)[0].decode("ascii", "replace")
            raise BinaryParseError(f"truncated: section {name} extends beyond the end of the file")
    strtab = _coff_string_table(fh, mm, size)
    sections = []
    for sec in pe.sections:
        sections.append(PeSection(
            name=_section_name(sec.Name, strtab, mm),
            characteristics=int(sec.Characteristics),
            virtual_size=int(sec.Misc_VirtualSize),
            raw_size=int(sec.SizeOfRawData),
        ))
    _check(deadline)

    pdbs: list[StringHit] = []
    for entry in getattr(pe, "DIRECTORY_ENTRY_DEBUG", [])[:_MAX_DEBUG_ENTRIES]:
        if entry.struct.Type != CODEVIEW or entry.entry is None:
            continue
        raw = getattr(entry.entry, "PdbFileName", None)
        sig = getattr(entry.entry, "CvSignature", b"")
        if not raw:
            continue
        raw = bytes(raw).split(b"\0", 1)[0]
        if not raw:
            continue
        header = 24 if sig == b"RSDS" else 16  # RSDS: sig+GUID+age; NB10: sig+offset+time+age
        pdbs.append(StringHit(int(entry.struct.PointerToRawData) + header, len(raw),
                              raw.decode("utf-8", "backslashreplace")))

    guard_flags: Optional[int] = None
    cfg_instrumented = False
    load_config = getattr(pe, "DIRECTORY_ENTRY_LOAD_CONFIG", None)
    if load_config is not None and hasattr(load_config.struct, "GuardFlags"):
        lc = load_config.struct
        guard_flags = int(lc.GuardFlags)
        minimum = 0x90 if oh.Magic == 0x20B else 0x5C  # the load config size that holds the CFG fields
        cfg_instrumented = (bool(int(oh.DllCharacteristics) & GUARD_CF) and int(getattr(lc, "Size", 0)) >= minimum
                            and bool(getattr(lc, "GuardCFCheckFunctionPointer", 0))
                            and bool(getattr(lc, "GuardCFFunctionTable", 0))
                            and guard_flags & _GUARD_CF_CHECKS == _GUARD_CF_CHECKS)

    sec_off, sec_size = _dir(_DIR_SECURITY)  # the security directory holds a file offset, not an RVA
    if sec_off and sec_size and sec_off + sec_size > size:
        raise BinaryParseError("truncated: the Authenticode certificate table extends beyond the end of the file")
    has_signature = bool(sec_off and sec_size >= 8)
    reloc_rva, reloc_size = _dir(_DIR_BASERELOC)

    end = min(size, max(0, max_scan_bytes))
    hits, count = scan_build_paths(mm, end, deadline)
    pdb_texts = {p.text for p in pdbs}
    hits = tuple(h for h in hits if h.text not in pdb_texts)  # the PDB path is its own fact

    dc = int(oh.DllCharacteristics)
    machine_id = int(fh.Machine)
    machine = pefile.MACHINE_TYPE.get(machine_id, hex(machine_id))
    return PeFacts(
        size=size,
        machine=machine if isinstance(machine, str) else hex(machine_id),
        machine_id=machine_id,
        is_64=oh.Magic == 0x20B,
        is_dll=bool(fh.Characteristics & FILE_DLL),
        characteristics=int(fh.Characteristics),
        dll_characteristics=dc,
        dynamic_base=bool(dc & DYNAMIC_BASE),
        high_entropy_va=bool(dc & HIGH_ENTROPY_VA),
        nx_compat=bool(dc & NX_COMPAT),
        guard_cf=bool(dc & GUARD_CF),
        force_integrity=bool(dc & FORCE_INTEGRITY),
        no_seh=bool(dc & NO_SEH),
        relocs_stripped=bool(fh.Characteristics & RELOCS_STRIPPED),
        has_relocations=bool(reloc_rva and reloc_size),
        imports=imports,
        delay_imports=delay,
        sections=tuple(sections),
        wx_sections=tuple(s.name for s in sections if s.writable and s.executable),
        pdb_paths=tuple(pdbs),
        debug_sections=tuple(s.name for s in sections if s.name.startswith((".debug_", ".zdebug_")) and s.raw_size),
        has_coff_symbols=bool(fh.PointerToSymbolTable and fh.NumberOfSymbols),
        has_signature=has_signature,
        has_load_config=load_config is not None,
        guard_flags=guard_flags,
        build_paths=hits,
        build_path_count=count,
        scanned_bytes=end,
        scan_truncated=end < size,
        warnings=len(pe.get_warnings()),
        cfg_instrumented=cfg_instrumented,
    )


def _name(raw: Any) -> str:
    return bytes(raw).split(b"\0", 1)[0].decode("utf-8", "backslashreplace")


def _coff_string_table(fh: Any, mm: mmap.mmap, size: int) -> Optional[tuple[int, int]]:
    """(start, end) of the COFF string table, which holds section names longer than 8 bytes."""
    ptr, count = int(fh.PointerToSymbolTable), int(fh.NumberOfSymbols)
    if not ptr or count <= 0:
        return None
    start = ptr + count * 18
    if start + 4 > size:
        raise BinaryParseError("truncated: the COFF symbol table extends beyond the end of the file")
    length = int.from_bytes(mm[start:start + 4], "little")
    if start + length > size:
        raise BinaryParseError("truncated: the COFF string table extends beyond the end of the file")
    return (start, start + max(4, length))


def _section_name(raw: bytes, strtab: Optional[tuple[int, int]], mm: mmap.mmap) -> str:
    """A section name; "/123" means offset 123 into the COFF string table (MinGW's .debug_* names)."""
    name = bytes(raw).split(b"\0", 1)[0]
    if strtab is not None and name[:1] == b"/" and name[1:].isdigit():
        start, end = strtab
        pos = start + int(name[1:])
        if start + 4 <= pos < end:
            name = mm[pos:min(end, pos + 256)].split(b"\0", 1)[0]
    return name.decode("utf-8", "backslashreplace")
