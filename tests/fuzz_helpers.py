"""Seeds, mutators and the oracle shared by tests/test_fuzz.py (bounded run) and scripts/fuzz_long.py.

A mutation is a short *plan*: a list of (op, a, b, c) integers applied deterministically to a seed, so
hypothesis can shrink it and a crash reproduces from the plan alone. The ops know where the structure
lives: ELF header/section/segment/dynamic/symbol fields, PE header/data-directory/section/import fields
(located with pefile on the valid seed), and onefile payload fields (entry flags, sizes, CRCs, archive
frame sizes, the size trailer, zstd frame and block headers).

The oracle (`check_verify`, `check_payload`, `check_profile`) runs the same code paths as `hardnut
verify` and `load_profile` and returns a problem description (None when the outcome is documented).
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
BUILD = TESTS / "fixtures" / "build"
FUZZ_BUILD = BUILD / "fuzz"
REGRESSIONS = TESTS / "fuzz_regressions"

# per-input bounds: a verify of one mutated file must end within HANG_SECONDS (a hard timer stops
# it and reports a hang) and should stay far below that
HANG_SECONDS = 30.0

Field = tuple[str, int, int, str]  # name, file offset, size in bytes, "<" or ">"

INTERESTING = (0, 1, 2, 3, 4, 7, 8, 0x10, 0x20, 0x3F, 0x40, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0x7FFF, 0x8000,
               0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 32, (1 << 63) - 1, 1 << 63,
               (1 << 64) - 1)


@dataclasses.dataclass(frozen=True)
class Seed:
    name: str
    kind: str  # "elf", "pe", "onefile-elf", "onefile-pe", "toml"
    data: bytes
    fields: tuple[Field, ...] = ()
    hot: tuple[tuple[int, int], ...] = ()  # byte ranges worth aiming at (headers, payload header)


# --------------------------------------------------------------------------------------- field maps


def elf_fields(data: bytes) -> tuple[list[Field], list[tuple[int, int]]]:
    """Header, section header, program header, dynamic, symbol and version-need fields of an ELF."""
    if len(data) < 52 or data[:4] != b"\x7fELF":
        return [], []
    is64 = data[4] == 2
    e = "<" if data[5] != 2 else ">"
    fields: list[Field] = []
    hot = [(0, 64 if is64 else 52)]

    def u(off: int, n: int) -> int:
        if off < 0 or off + n > len(data):
            return 0
        return int.from_bytes(data[off:off + n], "little" if e == "<" else "big")

    if is64:
        hdr = [("e_type", 0x10, 2), ("e_machine", 0x12, 2), ("e_entry", 0x18, 8), ("e_phoff", 0x20, 8),
               ("e_shoff", 0x28, 8), ("e_ehsize", 0x34, 2), ("e_phentsize", 0x36, 2), ("e_phnum", 0x38, 2),
               ("e_shentsize", 0x3A, 2), ("e_shnum", 0x3C, 2), ("e_shstrndx", 0x3E, 2)]
        sh = [("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 8), ("sh_addr", 16, 8), ("sh_offset", 24, 8),
              ("sh_size", 32, 8), ("sh_link", 40, 4), ("sh_info", 44, 4), ("sh_entsize", 56, 8)]
        ph = [("p_type", 0, 4), ("p_flags", 4, 4), ("p_offset", 8, 8), ("p_vaddr", 16, 8), ("p_filesz", 32, 8),
              ("p_memsz", 40, 8)]
        dyn_size, word = 16, 8
        sym = [("st_name", 0, 4), ("st_info", 4, 1), ("st_shndx", 6, 2), ("st_value", 8, 8), ("st_size", 16, 8)]
        sym_size = 24
    else:
        hdr = [("e_type", 0x10, 2), ("e_machine", 0x12, 2), ("e_entry", 0x18, 4), ("e_phoff", 0x1C, 4),
               ("e_shoff", 0x20, 4), ("e_ehsize", 0x28, 2), ("e_phentsize", 0x2A, 2), ("e_phnum", 0x2C, 2),
               ("e_shentsize", 0x2E, 2), ("e_shnum", 0x30, 2), ("e_shstrndx", 0x32, 2)]
        sh = [("sh_name", 0, 4), ("sh_type", 4, 4), ("sh_flags", 8, 4), ("sh_addr", 12, 4), ("sh_offset", 16, 4),
              ("sh_size", 20, 4), ("sh_link", 24, 4), ("sh_info", 28, 4), ("sh_entsize", 36, 4)]
        ph = [("p_type", 0, 4), ("p_offset", 4, 4), ("p_vaddr", 8, 4), ("p_filesz", 16, 4), ("p_memsz", 20, 4),
              ("p_flags", 24, 4)]
        dyn_size, word = 8, 4
        sym = [("st_name", 0, 4), ("st_value", 4, 4), ("st_size", 8, 4), ("st_info", 12, 1), ("st_shndx", 14, 2)]
        sym_size = 16
    fields += [(n, o, s, e) for n, o, s in hdr]
    d = dict((n, u(o, s)) for n, o, s in hdr)
    shoff, shnum, shent = d["e_shoff"], d["e_shnum"], d["e_shentsize"]
    phoff, phnum, phent = d["e_phoff"], d["e_phnum"], d["e_phentsize"]
    sections = []
    for i in range(min(shnum, 256)):
        base = shoff + i * shent
        if not shent or base + shent > len(data):
            break
        fields += [(f"shdr[{i}].{n}", base + o, s, e) for n, o, s in sh]
        sections.append({n: u(base + o, s) for n, o, s in sh})
    if shnum and shent:
        hot.append((shoff, min(len(data), shoff + shnum * shent)))
    for i in range(min(phnum, 64)):
        base = phoff + i * phent
        if not phent or base + phent > len(data):
            break
        fields += [(f"phdr[{i}].{n}", base + o, s, e) for n, o, s in ph]
        seg = {n: u(base + o, s) for n, o, s in ph}
        if seg["p_type"] == 2:  # PT_DYNAMIC: d_tag / d_val of each entry
            for j in range(min(seg["p_filesz"] // dyn_size, 64)):
                at = seg["p_offset"] + j * dyn_size
                fields += [(f"dyn[{j}].d_tag", at, word, e), (f"dyn[{j}].d_val", at + word, word, e)]
            hot.append((seg["p_offset"], min(len(data), seg["p_offset"] + seg["p_filesz"])))
    if phnum and phent:
        hot.append((phoff, min(len(data), phoff + phnum * phent)))
    for i, sec in enumerate(sections):
        if sec["sh_type"] in (2, 11):  # SHT_SYMTAB, SHT_DYNSYM
            for j in range(min(sec["sh_size"] // sym_size, 32)):
                at = sec["sh_offset"] + j * sym_size
                fields += [(f"sec[{i}].sym[{j}].{n}", at + o, s, e) for n, o, s in sym]
        elif sec["sh_type"] == 0x6FFFFFFE:  # SHT_GNU_verneed: vn_cnt, vn_file, vn_aux, vn_next
            at = sec["sh_offset"]
            fields += [("verneed.vn_cnt", at + 2, 2, e), ("verneed.vn_file", at + 4, 4, e),
                       ("verneed.vn_aux", at + 8, 4, e), ("verneed.vn_next", at + 12, 4, e)]
        elif sec["sh_type"] == 7:  # SHT_NOTE: n_namesz, n_descsz
            at = sec["sh_offset"]
            fields += [(f"note[{i}].n_namesz", at, 4, e), (f"note[{i}].n_descsz", at + 4, 4, e)]
        elif sec["sh_type"] == 1 and sec["sh_size"] >= 12 and sec["sh_flags"] & 0x800:  # SHF_COMPRESSED
            fields += [(f"sec[{i}].ch_type", sec["sh_offset"], 4, e),
                       (f"sec[{i}].ch_size", sec["sh_offset"] + (8 if is64 else 4), word, e)]
    return [f for f in fields if f[1] + f[2] <= len(data)], [h for h in hot if h[0] < h[1] <= len(data)]


def _pe_struct_fields(prefix: str, s) -> list[Field]:
    offsets = sorted(s.__field_offsets__.items(), key=lambda kv: kv[1])
    base = s.get_file_offset()
    out = []
    for i, (name, off) in enumerate(offsets):
        end = offsets[i + 1][1] if i + 1 < len(offsets) else s.__format_length__
        if end - off in (1, 2, 4, 8):
            out.append((f"{prefix}.{name}", base + off, end - off, "<"))
    return out


def pe_fields(data: bytes) -> tuple[list[Field], list[tuple[int, int]]]:
    """Fields of the DOS/COFF/optional headers, data directories, section headers, import, debug and
    load-config structures of a (valid) PE, located with pefile."""
    import pefile

    try:
        pe = pefile.PE(data=data)
    except Exception:
        return [("e_lfanew", 0x3C, 4, "<")] if len(data) >= 0x40 else [], [(0, min(len(data), 1024))]
    fields = _pe_struct_fields("dos", pe.DOS_HEADER) + _pe_struct_fields("coff", pe.FILE_HEADER)
    fields += _pe_struct_fields("opt", pe.OPTIONAL_HEADER)
    for d in pe.OPTIONAL_HEADER.DATA_DIRECTORY:
        fields += _pe_struct_fields(d.name.replace("IMAGE_DIRECTORY_ENTRY_", "dir."), d)
    for i, sec in enumerate(pe.sections):
        fields += _pe_struct_fields(f"section[{i}]", sec)
    for i, imp in enumerate(getattr(pe, "DIRECTORY_ENTRY_IMPORT", [])[:16]):
        fields += _pe_struct_fields(f"import[{i}]", imp.struct)
        for j, thunk in enumerate(imp.imports[:4]):
            if getattr(thunk, "struct_table", None) is not None:
                fields += _pe_struct_fields(f"import[{i}].thunk[{j}]", thunk.struct_table)
    for i, dbg in enumerate(getattr(pe, "DIRECTORY_ENTRY_DEBUG", [])[:8]):
        fields += _pe_struct_fields(f"debug[{i}]", dbg.struct)
    lc = getattr(pe, "DIRECTORY_ENTRY_LOAD_CONFIG", None)
    if lc is not None:
        fields += _pe_struct_fields("loadconfig", lc.struct)
    headers_end = pe.OPTIONAL_HEADER.SizeOfHeaders or 1024
    pe.close()
    return [f for f in fields if f[1] + f[2] <= len(data)], [(0, min(len(data), headers_end))]


def payload_fields(data: bytes, start: int, layout_flags: bool = True, checksums: bool = False,
                   archive: bool = False) -> tuple[list[Field], list[tuple[int, int]]]:
    """Fields of a Nuitka onefile payload at `start` ("KA" + X/Y): per entry the flags byte, u64 size,
    CRC32 and archive frame size; the end of the stream and the u64 size trailer; for a zstd stream the
    frame header and the block headers."""
    import zstandard

    fields: list[Field] = [("payload.magic", start, 2, "<"), ("payload.mode", start + 2, 1, "<")]
    hot = [(start, min(len(data), start + 512))]
    pos = start + 3
    if data[start + 2:start + 3] == b"Y" and data[pos:pos + 4] == b"\x28\xb5\x2f\xfd":
        try:
            hsize = zstandard.frame_header_size(data[pos:pos + 18])
        except zstandard.ZstdError:
            return fields, hot
        fields += [("zstd.fhd", pos + 4, 1, "<"), ("zstd.window", pos + 5, 1, "<")]
        fields += [(f"zstd.header[{i}]", pos + i, 1, "<") for i in range(6, hsize)]
        at = pos + hsize
        for i in range(256):
            if at + 3 > len(data):
                break
            fields.append((f"zstd.block[{i}]", at, 3, "<"))
            block = int.from_bytes(data[at:at + 3], "little")
            at += 3 + (1 if (block >> 1) & 3 == 1 else block >> 3)
            if block & 1:
                break
        return fields, hot
    for i in range(10_000):
        end = data.find(b"\0", pos)
        if end < 0:
            break
        fields.append((f"entry[{i}].name_end", end, 1, "<"))
        if end == pos:  # end marker; the trailer follows (appended payloads)
            if end + 1 + 8 <= len(data):
                fields.append(("payload.trailer", end + 1, 8, "<"))
            break
        pos = end + 1
        flags = 0
        if layout_flags:
            fields.append((f"entry[{i}].flags", pos, 1, "<"))
            flags = data[pos]
            pos += 1
            if flags & 2:
                pos = data.find(b"\0", pos) + 1
                continue
        fields.append((f"entry[{i}].size", pos, 8, "<"))
        size = int.from_bytes(data[pos:pos + 8], "little")
        pos += 8
        if checksums:
            fields.append((f"entry[{i}].crc32", pos, 4, "<"))
            pos += 4
        if archive:
            fields.append((f"entry[{i}].csize", pos, 4, "<"))
            csize = int.from_bytes(data[pos:pos + 4], "little")
            fields.append((f"entry[{i}].frame", pos + 4, 4, "<"))
            fields.append((f"entry[{i}].frame_fhd", pos + 8, 1, "<"))
            pos += 4 + csize
        else:
            pos += size
        if pos > len(data):
            break
    return [f for f in fields if f[1] + f[2] <= len(data)], hot


# ----------------------------------------------------------------------------------------- mutation

N_OPS = 12
OP_NAMES = ("bitflip", "bytes", "truncate", "field", "field+delta", "splice", "insert", "delete",
            "hot-bitflip", "field-huge", "name-attack", "nasty-token")
# written over the end of an onefile entry name (op 10) or over a hot range, e.g. an XML attribute value (op 11)
NAME_ATTACKS = (b"../", b"..", b"/", b"a/../../", b"C:", b"..\\", b"./", b"//", b"\x01", b"\xff\xfe")
NASTY_TOKENS = (b"", b"-1", b"0", b"99999999999999999999999", b"nan", b"../../../etc/passwd", b"/dev/zero",
                b"&amp;", b"&#0;", b"<", b"\"", b"\x00", b"\xff\xfe", "\u202e".encode(), b"x" * 3000,
                b"yes", b"no", b"<!DOCTYPE x [<!ENTITY a 'aa'>]>")


def _value_for(field: Field, size_of_file: int, b: int, c: int) -> int:
    _, _, width, _ = field
    choices = list(INTERESTING) + [size_of_file, size_of_file - 1, size_of_file + 1, size_of_file // 2,
                                   size_of_file * 2, random.Random(c).getrandbits(64)]
    return choices[b % len(choices)] % (1 << (8 * width))


def _write(buf: bytearray, field: Field, value: int) -> None:
    _, off, width, endian = field
    buf[off:off + width] = value.to_bytes(width, "little" if endian == "<" else "big")


def mutate(seed: Seed, plan: Sequence[tuple[int, int, int, int]]) -> bytes:
    """Apply the plan's ops in order. Field ops use the seed's field map (offsets of the unmutated
    seed; after an insert/delete they hit shifted bytes, which is fine for a fuzzer)."""
    buf = bytearray(seed.data)
    for op, a, b, c in plan:
        op %= N_OPS
        if not buf:
            break
        n = len(buf)
        if op == 0:
            pos = a % n
            buf[pos] ^= 1 << (b % 8)
        elif op == 1:
            pos = a % n
            buf[pos:pos + 1 + b % 16] = random.Random(c).randbytes(1 + b % 16)
        elif op == 2:
            if seed.fields and b % 2:  # truncate just after (or inside) a structure
                f = seed.fields[a % len(seed.fields)]
                cut = f[1] + c % (f[2] + 1)
            else:
                cut = a % n
            del buf[max(1, cut):]
        elif op in (3, 9) and seed.fields:
            f = seed.fields[a % len(seed.fields)]
            if f[1] + f[2] <= n:
                value = _value_for(f, n, b, c) if op == 3 else (1 << (8 * f[2])) - 1 - (c % 64)
                _write(buf, f, value)
        elif op == 4 and seed.fields:
            f = seed.fields[a % len(seed.fields)]
            if f[1] + f[2] <= n:
                raw = int.from_bytes(buf[f[1]:f[1] + f[2]], "little" if f[3] == "<" else "big")
                _write(buf, f, (raw + (b % 33) - 16) % (1 << (8 * f[2])))
        elif op == 5:
            length = 1 + c % 64
            src, dst = a % n, b % n
            buf[dst:dst + length] = buf[src:src + length]
        elif op == 6:
            pos = a % (n + 1)
            buf[pos:pos] = random.Random(c).randbytes(1 + b % 32)
        elif op == 7:
            pos = a % n
            del buf[pos:pos + 1 + b % 64]
        elif op == 8 and seed.hot:
            lo, hi = seed.hot[a % len(seed.hot)]
            hi = min(hi, n)
            if lo < hi:
                pos = lo + b % (hi - lo)
                buf[pos] ^= 1 << (c % 8)
        elif op == 10:
            names = [f for f in seed.fields if f[0].endswith("name_end")]
            if names:
                end = names[a % len(names)][1]
                attack = NAME_ATTACKS[b % len(NAME_ATTACKS)]
                start = max(0, end - len(attack)) if c % 2 else end  # overwrite the name's end, or insert
                buf[start:end] = attack
        elif op == 11 and seed.hot:
            lo, hi = seed.hot[a % len(seed.hot)]
            if lo < hi <= n:
                buf[lo:hi] = NASTY_TOKENS[b % len(NASTY_TOKENS)]
    return bytes(buf)


def describe_plan(seed: Seed, plan: Sequence[tuple[int, int, int, int]]) -> str:
    parts = []
    for op, a, b, c in plan:
        name = OP_NAMES[op % N_OPS]
        if op % N_OPS in (3, 4, 9, 10) and seed.fields:
            name += f"({seed.fields[a % len(seed.fields)][0]})"
        parts.append(name)
    return f"{seed.name}: " + ", ".join(parts)


# ------------------------------------------------------------------------------------------- seeds


def binary_fixtures() -> Optional[Path]:
    """The gcc/mingw fixtures of scripts/make_fixtures.py (built if needed); None when unavailable."""
    out = BUILD / "binaries"
    script = REPO / "scripts" / "make_fixtures.py"
    if script.is_file():
        subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=600)
    return out if (out / "elf").is_dir() or (out / "pe").is_dir() else None


def _small_files(folder: Path, limit: int, count: int) -> list[Path]:
    files = [p for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink() and p.stat().st_size <= limit]
    files.sort(key=lambda p: p.stat().st_size)
    return files[:count]


def macho_fields(data: bytes) -> tuple[list[Field], list[tuple[int, int]]]:
    """Fat header and arch records, each slice's Mach-O header, load command headers, LC_SYMTAB,
    LC_CODE_SIGNATURE, LC_RPATH/dylib name offsets, and the code signature's SuperBlob index and
    CodeDirectory header (hot)."""
    fields: list[Field] = []
    hot: list[tuple[int, int]] = []
    slices = [(0, len(data))]
    if data[:4] in (b"\xca\xfe\xba\xbe",):
        count = struct.unpack(">I", data[4:8])[0]
        fields.append(("fat.nfat_arch", 4, 4, ">"))
        slices = []
        for i in range(min(count, 8)):
            base = 8 + i * 20
            fields += [(f"fat[{i}].offset", base + 8, 4, ">"), (f"fat[{i}].size", base + 12, 4, ">")]
            off, size = struct.unpack(">II", data[base + 8:base + 16])
            slices.append((off, size))
    for off, size in slices:
        magic = data[off:off + 4]
        if magic not in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
            continue
        is64 = magic == b"\xcf\xfa\xed\xfe"
        ncmds, sizeofcmds = struct.unpack("<II", data[off + 16:off + 24])
        fields += [("mh.filetype", off + 12, 4, "<"), ("mh.ncmds", off + 16, 4, "<"),
                   ("mh.sizeofcmds", off + 20, 4, "<"), ("mh.flags", off + 24, 4, "<")]
        pos = off + (32 if is64 else 28)
        hot.append((off, pos + sizeofcmds))
        for _ in range(min(ncmds, 200)):
            cmd, cmdsize = struct.unpack("<II", data[pos:pos + 8])
            fields += [("lc.cmd", pos, 4, "<"), ("lc.cmdsize", pos + 4, 4, "<")]
            if cmd == 0x2:  # LC_SYMTAB
                fields += [(f"symtab.{n}", pos + 8 + 4 * i, 4, "<") for i, n in enumerate(("symoff", "nsyms", "stroff", "strsize"))]
            elif cmd == 0x1D:  # LC_CODE_SIGNATURE
                dataoff, datasize = struct.unpack("<II", data[pos + 8:pos + 16])
                fields += [("codesig.dataoff", pos + 8, 4, "<"), ("codesig.datasize", pos + 12, 4, "<")]
                sb = off + dataoff
                if data[sb:sb + 4] == b"\xfa\xde\x0c\xc0":
                    count = struct.unpack(">I", data[sb + 8:sb + 12])[0]
                    fields += [("superblob.length", sb + 4, 4, ">"), ("superblob.count", sb + 8, 4, ">")]
                    for i in range(min(count, 8)):
                        fields.append((f"superblob[{i}].offset", sb + 16 + 8 * i, 4, ">"))
                        cd = sb + struct.unpack(">I", data[sb + 16 + 8 * i:sb + 20 + 8 * i])[0]
                        if data[cd:cd + 4] == b"\xfa\xde\x0c\x02":
                            fields += [(f"cd.{n}", cd + 4 * k, 4, ">") for k, n in enumerate(
                                ("magic", "length", "version", "flags", "hashOffset", "identOffset", "nSpecialSlots",
                                 "nCodeSlots", "codeLimit"))]
                            fields += [("cd.hashSize", cd + 36, 1, ">"), ("cd.hashType", cd + 37, 1, ">"),
                                       ("cd.pageSize", cd + 39, 1, ">")]
                            hot.append((cd, cd + 96))
                    hot.append((sb, sb + 64))
            elif cmd in (0xC, 0x8000001C, 0x80000018):  # dylib / rpath: the name offset
                fields.append(("lc.name.offset", pos + 8, 4, "<"))
            if cmdsize < 8:
                break
            pos += cmdsize
    return fields, hot


def macho_seeds(small: int = 400_000) -> list[Seed]:
    """Real Mach-O files (thin arm64, thin x86_64, fat universal2) and Microsoft-signed DLLs from the
    wheels tests/helpers_macos.py caches; [] when they have not been downloaded."""
    root = BUILD / "wheels" / "unpacked"
    picks = [("pillow", "PIL/.dylibs/libXau.6.dylib"), ("pillow", "PIL/_imagingmath.cpython-311-darwin.so"),
             ("markupsafe-universal2", "markupsafe/_speedups.cpython-311-darwin.so"),
             ("psutil", "psutil/_psutil_posix.abi3.so")]
    out = []
    for folder, rel in picks:
        p = root / folder / rel
        if p.is_file() and p.stat().st_size <= small:
            s = binary_seed(p, f"macho/{p.name}")
            if s:
                out.append(s)
    xau = root / "pillow" / "PIL" / ".dylibs" / "libXau.6.dylib"
    if xau.is_file():  # an identity (CMS) signature, made once with a throw-away certificate
        signed = FUZZ_BUILD / "macho-identity" / "libXau.6.dylib"
        if not signed.is_file():
            sys.path.insert(0, str(TESTS))
            from helpers_macos import identity_sign

            signed.parent.mkdir(parents=True, exist_ok=True)
            identity_sign(xau, signed.with_suffix(".tmp")).rename(signed)
        s = binary_seed(signed, "macho/identity-signed.dylib")
        if s:
            out.append(s)
    for p in sorted((root / "msvc-runtime").glob("*.data/data/msvcp140_1.dll"))[:1]:
        s = binary_seed(p, f"signed-pe/{p.name}")
        if s:  # aim at the certificate table too
            out.append(Seed(s.name, "signed-pe", s.data, s.fields, s.hot + _cert_table(s.data)))
    return out


def _cert_table(data: bytes) -> tuple[tuple[int, int], ...]:
    import pefile

    pe = pefile.PE(data=data, fast_load=True)
    sec = pe.OPTIONAL_HEADER.DATA_DIRECTORY[4]
    return ((sec.VirtualAddress, sec.VirtualAddress + min(sec.Size, 4096)),) if sec.Size else ()


def binary_seed(path: Path, name: Optional[str] = None) -> Optional[Seed]:
    data = path.read_bytes()
    if data[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        fields, hot = macho_fields(data)
        return Seed(name or path.name, "macho", data, tuple(fields), tuple(hot))
    if data[:4] == b"\x7fELF":
        fields, hot = elf_fields(data)
        return Seed(name or path.name, "elf", data, tuple(fields), tuple(hot))
    if data[:2] == b"MZ":
        fields, hot = pe_fields(data)
        return Seed(name or path.name, "pe", data, tuple(fields), tuple(hot))
    return None


def onefile_seed(path: Path, name: str) -> Optional[Seed]:
    """A onefile binary: the payload's fields (located with hardnut's own reader on the valid seed)
    plus the container's header fields."""
    from hardnut.artifact import onefile
    from hardnut.artifact.sniff import sniff

    data = path.read_bytes()
    kind = sniff(data[:4096])
    info = onefile.find_payload(path, kind)
    if info is None:
        return None
    layout = info.layout
    pf, ph = payload_fields(data, info.offset, layout_flags=layout.flags if layout else True,
                            checksums=layout.checksums if layout else False, archive=info.archive)
    cf, ch = elf_fields(data) if kind == "elf" else pe_fields(data)
    return Seed(name, f"onefile-{kind}", data, tuple(pf + cf), tuple(ph + ch))


PAYLOAD_C = r"""
#include <stdio.h>
/* a stand-in for Nuitka's onefile bootstrap: the payload linked into .rodata as payload_bin_data */
static const char marker[] = "Error, couldn't find attached data header.";
__attribute__((used)) const unsigned char payload_bin_data[] = { %s };
int main(int argc, char **argv) { (void)argv; puts(marker); return (int)payload_bin_data[argc]; }
"""


def synthetic_onefiles(dest: Path) -> list[tuple[str, Path]]:
    """Small onefile binaries with real Nuitka payloads (written by Nuitka's own onefile compressor, via
    tests/helpers_onefile.py) around a tiny dist: a gcc-built ELF program with the payload appended
    (Nuitka < 4.1) or linked into .rodata under the payload symbol (4.1+), raw / zstd stream / archive /
    CRC32 variants, and a mingw PE with a Windows-layout payload appended. Cached under `dest`."""
    sys.path.insert(0, str(TESTS))
    import helpers_onefile

    dest.mkdir(parents=True, exist_ok=True)
    gcc = shutil.which("gcc")
    mingw = shutil.which("x86_64-w64-mingw32-gcc")
    out: list[tuple[str, Path]] = []
    if gcc is None:
        return out
    dist = dest / "tinydist"
    prog_c = dest / "prog.c"
    if not (dist / "prog").is_file():
        shutil.rmtree(dist, ignore_errors=True)
        (dist / "data").mkdir(parents=True)
        prog_c.write_text("#include <stdio.h>\nint main(void){puts(\"tiny\");return 0;}\n")
        subprocess.run([gcc, "-O2", "-s", "-o", str(dist / "prog"), str(prog_c)], check=True)
        (dist / "data" / "settings.txt").write_text("api_url=https://example.invalid/\n" * 20)
        (dist / "lib.so").write_bytes((dist / "prog").read_bytes()[:2048])
    host = dest / "host"
    if not host.is_file():
        subprocess.run([gcc, "-O2", "-s", "-o", str(host), str(prog_c)], check=True)
    variants = {
        "raw": dict(),
        "zstd": dict(compressed=True),
        "archive": dict(compressed=True, archive=True),
        "crc": dict(checksums=True),
    }
    for vname, kw in variants.items():
        app = dest / f"appended-{vname}.bin"
        if not app.is_file():
            blob = helpers_onefile.nuitka_payload(dist, "prog", **kw)
            app.write_bytes(host.read_bytes() + blob)
            os.chmod(app, 0o755)
        out.append((f"onefile-appended-{vname}", app))
    for vname in ("raw", "zstd"):
        linked = dest / f"linked-{vname}.bin"
        if not linked.is_file():
            blob = helpers_onefile.nuitka_payload(dist, "prog", **variants[vname])
            src = dest / f"linked-{vname}.c"
            src.write_text(PAYLOAD_C % ",".join(str(b) for b in blob))
            subprocess.run([gcc, "-O0", "-o", str(linked), str(src)], check=True)
        out.append((f"onefile-linked-{vname}", linked))
    if mingw:
        exe = dest / "appended-win.exe"
        if not exe.is_file():
            pe_host = dest / "host.exe"
            subprocess.run([mingw, "-O2", "-s", "-o", str(pe_host), str(prog_c)], check=True)
            blob = helpers_onefile.windows_payload(
                [("prog.exe", pe_host.read_bytes()[:4096]), ("data/settings.txt", b"x=1\n" * 50)], checksums=True)
            exe.write_bytes(pe_host.read_bytes() + blob)
        out.append(("onefile-appended-win", exe))
    return out


def toml_seeds() -> list[Seed]:
    paths = sorted((REPO / "profiles").glob("*.toml")) + sorted((REPO / "sample_apps").glob("*/hardnut.toml"))
    return [Seed(f"{p.parent.name}/{p.name}", "toml", p.read_bytes()) for p in paths]


def all_binary_seeds(nuitka_dists: Sequence[Path] = (), small: int = 400_000) -> list[Seed]:
    """ELF and PE seeds: the gcc/mingw fixtures, small files of real Nuitka dists, synthetic onefiles."""
    seeds: list[Seed] = []
    fixtures = binary_fixtures()
    if fixtures is not None:
        for sub in ("elf", "pe"):
            for p in _small_files(fixtures / sub, small, 20):
                s = binary_seed(p, f"{sub}/{p.name}")
                if s:
                    seeds.append(s)
    debug = (fixtures / "elf" / "debug") if fixtures is not None else None
    if debug is not None and debug.is_file() and shutil.which("objcopy"):
        zdebug = FUZZ_BUILD / "debug-zlib"
        FUZZ_BUILD.mkdir(parents=True, exist_ok=True)
        if not zdebug.is_file():
            subprocess.run(["objcopy", "--compress-debug-sections=zlib", str(debug), str(zdebug)], check=False)
        s = binary_seed(zdebug, "elf/debug-zlib") if zdebug.is_file() else None
        if s:
            seeds.append(s)
    for dist in nuitka_dists:
        for p in _small_files(dist, small, 4):
            s = binary_seed(p, f"nuitka:{dist.name}/{p.name}")
            if s:
                seeds.append(s)
    for name, path in synthetic_onefiles(FUZZ_BUILD / "onefile"):
        s = onefile_seed(path, name)
        if s:
            seeds.append(s)
    return seeds


# ------------------------------------------------------------------------------------------ oracles


def _hard_limit(fn: Callable, *args, seconds: float = HANG_SECONDS):
    from hardnut.timebudget import FileTimeout, within

    try:
        return within(seconds, fn, *args, what="fuzz input")
    except FileTimeout:
        return _Hang()


class _Hang:
    pass


def check_verify(data: bytes, name: str, work: Path, limits=None,
                 extra_files: Optional[dict[str, bytes]] = None) -> Optional[str]:
    """verify_target on a temp folder holding the mutated file (and on the file alone). Documented
    outcomes: a VerifyResult without HN-TOOL-001 (a check that crashed). Returns None or a problem."""
    from hardnut.checks.base import VerifyConfig
    from hardnut.limits import Limits
    from hardnut.verify import VerifyOptions, verify_target

    folder = Path(tempfile.mkdtemp(prefix="dist-", dir=work))
    try:
        target = folder / name.replace("/", "_").replace(":", "_")
        target.write_bytes(data)
        os.chmod(target, 0o755)
        for extra, content in (extra_files or {}).items():
            (folder / extra).write_bytes(content)
        options = VerifyOptions(config=VerifyConfig(limits=limits or Limits(file_timeout=HANG_SECONDS / 3)))
        for tgt in (folder, target):
            start = time.monotonic()
            try:
                result = _hard_limit(verify_target, tgt, options)
            except Exception:
                return f"verify_target({tgt.name}) raised:\n{traceback.format_exc(limit=-6)}"
            if isinstance(result, _Hang):
                return f"verify_target({tgt.name}) did not finish within {HANG_SECONDS} s"
            crashed = [f for f in result.findings if f.rule == "HN-TOOL-001"]
            if crashed:
                return f"a check crashed: {crashed[0].message}\n{_check_traceback(tgt, options)}"
            if time.monotonic() - start > HANG_SECONDS / 2:
                return f"verify_target({tgt.name}) took {time.monotonic() - start:.1f} s"
            extra = _unregistered_checks(tgt, options)
            if extra:
                return extra
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# check modules that exist but are not (yet) in CHECK_MODULES are fuzzed too
EXTRA_CHECKS = ("hardnut.checks.secrets", "hardnut.checks.leftovers", "hardnut.checks.build")


def _unregistered_checks(target: Path, options) -> Optional[str]:
    import importlib

    from hardnut import checks
    from hardnut.artifact.walk import open_target
    from hardnut.checks.base import CheckContext

    mods = []
    for name in EXTRA_CHECKS:
        if name in checks.CHECK_MODULES:
            continue
        try:
            mods.append(importlib.import_module(name))
        except Exception:  # not there yet, or mid-edit by its author
            continue
    if not mods:
        return None
    with open_target(target, options.config.limits) as art:
        ctx = CheckContext(art, options.config)
        for mod in mods:
            try:
                result = _hard_limit(lambda: list(mod.run(ctx)))
            except Exception:
                return f"unregistered check {mod.__name__} raised:\n{traceback.format_exc(limit=-6)}"
            if isinstance(result, _Hang):
                return f"unregistered check {mod.__name__} did not finish within {HANG_SECONDS} s"
    return None


def _check_traceback(target: Path, options) -> str:
    """Re-run the check modules one by one to show the traceback run_checks swallowed."""
    from hardnut import checks
    from hardnut.artifact.walk import open_target
    from hardnut.checks.base import CheckContext

    with open_target(target, options.config.limits) as art:
        ctx = CheckContext(art, options.config)
        for mod in checks.modules():
            try:
                list(mod.run(ctx))
            except Exception:
                return traceback.format_exc(limit=-6)
    return "(not reproduced)"


def check_payload(data: bytes, name: str, work: Path, limits=None) -> Optional[str]:
    """The onefile reader on its own: find_payload, iter_entries, extract (as `hardnut unpack` does).
    Documented outcomes: None / PayloadInfo, PayloadError (incl. PayloadLimit). Nothing written outside
    the extraction folder."""
    from hardnut.artifact import onefile
    from hardnut.artifact.sniff import sniff
    from hardnut.limits import Limits

    limits = limits or Limits(max_payload_size=64 * 1024**2)
    folder = Path(tempfile.mkdtemp(prefix="payload-", dir=work))
    try:
        binary = folder / "bin"
        binary.write_bytes(data)
        kind = sniff(data[:4096])
        if kind not in ("elf", "pe"):
            return None
        before = set(os.listdir(folder))

        def run():
            info = onefile.find_payload(binary, kind, limits)
            if info is None:
                return
            for _ in onefile.iter_entries(binary, info, limits):
                pass
            dest = folder / "out"
            dest.mkdir()
            onefile.extract(binary, info, dest, limits)

        try:
            result = _hard_limit(run)
        except onefile.PayloadError:
            result = None
        except Exception:
            return f"onefile reader raised:\n{traceback.format_exc(limit=-6)}"
        if isinstance(result, _Hang):
            return f"onefile reader did not finish within {HANG_SECONDS} s"
        stray = set(os.listdir(folder)) - before - {"out"}
        if stray:
            return f"onefile reader wrote outside its folder: {sorted(stray)}"
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_profile(data: bytes, work: Path) -> Optional[str]:
    """load_profile on the bytes as hardnut.toml. Documented outcomes: a Profile or ProfileError."""
    from hardnut.errors import ProfileError
    from hardnut.profile import load_profile

    folder = Path(tempfile.mkdtemp(prefix="profile-", dir=work))
    try:
        (folder / "hardnut.toml").write_bytes(data)
        (folder / "app.py").write_text("print(1)\n")
        for require_entry in (True, False):
            try:
                result = _hard_limit(lambda: load_profile(folder / "hardnut.toml", require_entry=require_entry),
                                     seconds=10)
                if isinstance(result, _Hang):
                    return "load_profile did not finish within 10 s"
            except ProfileError as exc:
                if "\n" in str(exc).strip():
                    return f"ProfileError is not one line: {str(exc)[:300]!r}"
            except Exception:
                return f"load_profile raised:\n{traceback.format_exc(limit=-6)}"
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def report_seed(path: Path) -> Seed:
    """Nuitka's --report XML; the hot ranges are its attribute values (and text), for op 11."""
    import re

    data = path.read_bytes()
    hot = tuple((m.start(1), m.end(1)) for m in re.finditer(rb'="([^"]*)"', data))
    return Seed(f"report:{path.parent.name}/{path.name}", "report", data, (), hot)


def check_report(data: bytes, work: Path, program: Path) -> Optional[str]:
    """A dist holding a small program and a mutated `app.report.xml`: verify (checks.build reads the
    report) and the SBOM writer (hardnut.sbom, which reads it at build time). Documented outcomes: a
    VerifyResult without HN-TOOL-001; SbomError (a HardnutError) or an SBOM."""
    from hardnut.errors import HardnutError

    folder = Path(tempfile.mkdtemp(prefix="report-", dir=work))
    try:
        dist = folder / "app.dist"
        dist.mkdir()
        shutil.copy(program, dist / "app")
        (dist / "app.report.xml").write_bytes(data)
        problem = check_verify(program.read_bytes(), "app", folder, extra_files={"app.report.xml": data})
        if problem:
            return problem
        try:
            from hardnut.sbom import write_sbom
        except ImportError:
            return None

        def sbom():
            try:
                write_sbom(dist, dist / "app.report.xml", folder / "app.cdx.json", app_name="app")
            except HardnutError:
                pass

        try:
            result = _hard_limit(sbom)
        except Exception:
            return f"write_sbom raised:\n{traceback.format_exc(limit=-6)}"
        if isinstance(result, _Hang):
            return f"write_sbom did not finish within {HANG_SECONDS} s"
        return None
    finally:
        shutil.rmtree(folder, ignore_errors=True)
