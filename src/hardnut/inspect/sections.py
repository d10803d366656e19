"""Layout facts of an ELF or PE file for comparisons: header fields, and each section's size and digest.

`layout(path, kind)` returns a `Layout`: `headers` maps a header field ("e_entry", "phdr[3].p_filesz",
"FILE_HEADER.TimeDateStamp", ...) to its value, `sections` maps a section name to (size, sha256 of its
file bytes). pyelftools / pefile read the structures; section bytes are hashed straight from the file
(bounded by the file size, so a hostile header cannot make us read more than the file). Anything
unparseable raises `LayoutError` (one type out, whatever the library raised).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_SECTIONS = 4096
_ELF_HEADER = ("e_type", "e_machine", "e_version", "e_entry", "e_phoff", "e_shoff", "e_flags", "e_phnum",
               "e_shnum", "e_shstrndx")
_ELF_SEGMENT = ("p_type", "p_flags", "p_offset", "p_vaddr", "p_filesz", "p_memsz", "p_align")
_PE_FILE = ("Machine", "NumberOfSections", "TimeDateStamp", "PointerToSymbolTable", "NumberOfSymbols",
            "Characteristics")
_PE_OPTIONAL = ("MajorLinkerVersion", "MinorLinkerVersion", "SizeOfCode", "SizeOfInitializedData",
                "AddressOfEntryPoint", "ImageBase", "SizeOfImage", "SizeOfHeaders", "CheckSum", "Subsystem",
                "DllCharacteristics", "MajorOperatingSystemVersion", "MajorSubsystemVersion")


class LayoutError(Exception):
    """The file is not a parseable ELF/PE file."""


@dataclass
class Layout:
    kind: str
    headers: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, tuple[int, str]] = field(default_factory=dict)


def _digest(fh, offset: int, size: int, file_size: int) -> str:
    h = hashlib.sha256()
    end = min(file_size, offset + size)
    fh.seek(offset)
    pos = offset
    while pos < end:
        block = fh.read(min(1 << 20, end - pos))
        if not block:
            break
        h.update(block)
        pos += len(block)
    return h.hexdigest()


def _unique(sections: dict, name: str) -> str:
    if name not in sections:
        return name
    i = 2
    while f"{name}#{i}" in sections:
        i += 1
    return f"{name}#{i}"


def layout(path: Path, kind: str) -> Layout:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if kind == "elf":
                return _elf(fh, size)
            if kind == "pe":
                return _pe(path, fh, size)
    except LayoutError:
        raise
    except OSError as exc:
        raise LayoutError(f"cannot read: {exc.strerror or exc}") from None
    except Exception as exc:  # pyelftools / pefile raise many types on hostile input
        raise LayoutError(f"malformed {kind.upper()}: {type(exc).__name__}") from None
    raise LayoutError(f"not an ELF or PE file ({kind})")


def _elf(fh, size: int) -> Layout:
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(fh)
    out = Layout("elf")
    for key in _ELF_HEADER:
        out.headers[key] = elf.header[key]
    for i, seg in enumerate(elf.iter_segments()):
        if i >= MAX_SECTIONS:
            break
        for key in _ELF_SEGMENT:
            out.headers[f"phdr[{i}].{key}"] = seg[key]
    for i, sec in enumerate(elf.iter_sections()):
        if i >= MAX_SECTIONS:
            break
        name = _unique(out.sections, sec.name or f"[{i}]")
        n = 0 if sec["sh_type"] == "SHT_NOBITS" else sec["sh_size"]
        out.sections[name] = (sec["sh_size"], _digest(fh, sec["sh_offset"], n, size))
    return out


def _pe(path: Path, fh, size: int) -> Layout:
    import pefile

    pe = pefile.PE(str(path), fast_load=True)
    try:
        out = Layout("pe")
        for key in _PE_FILE:
            out.headers[f"FILE_HEADER.{key}"] = getattr(pe.FILE_HEADER, key, None)
        for key in _PE_OPTIONAL:
            out.headers[f"OPTIONAL_HEADER.{key}"] = getattr(pe.OPTIONAL_HEADER, key, None)
        for i, sec in enumerate(pe.sections[:MAX_SECTIONS]):
            name = _unique(out.sections, sec.Name.rstrip(b"\0").decode("latin-1") or f"[{i}]")
            out.sections[name] = (sec.SizeOfRawData, _digest(fh, sec.PointerToRawData, sec.SizeOfRawData, size))
        return out
    finally:
        pe.close()
