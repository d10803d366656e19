"""Where the onefile reader should look inside a Mach-O file (the hook `hardnut.artifact.onefile`
calls for kind "macho").

Nuitka on macOS links the onefile payload into its own section with `ld -sectcreate payload_bin
payload_bin <blob>` (and the constants blob into `constants_bin`; see Nuitka's
build/SconsCompilerSettings.py `_addConstantBlobFileMacSection`), instead of appending it as on Linux:
appended bytes would break the code signature. `ranges(path, size)` returns, over every slice of a thin
or fat file: the file ranges of the non-executable sections (where a linked-in payload may be), the end
of what the headers describe (appended data starts there), and the start of the `payload_bin` section
when there is one (validated strictly, like the ELF payload symbol).

A bounded `struct` walk over the load commands, not macholib: macholib reads every section's bytes into
memory while parsing, which for a onefile binary is the whole payload, once more per slice.
"""

from __future__ import annotations

import struct
from typing import BinaryIO, Optional

PAYLOAD_SECTION = ("payload_bin", "payload_bin")
_THIN = {b"\xfe\xed\xfa\xce": (">", False), b"\xce\xfa\xed\xfe": ("<", False),
         b"\xfe\xed\xfa\xcf": (">", True), b"\xcf\xfa\xed\xfe": ("<", True)}
_FAT = b"\xca\xfe\xba\xbe"
_LC_SEGMENT, _LC_SEGMENT_64 = 0x1, 0x19
_S_ZEROFILL_TYPES = (0x1, 0xC, 0x12)  # S_ZEROFILL, S_GB_ZEROFILL, S_THREAD_LOCAL_ZEROFILL
_S_ATTR_SOME_INSTRUCTIONS, _S_ATTR_PURE_INSTRUCTIONS = 0x400, 0x80000000
_MAX_ARCHS, _MAX_CMDS, _MAX_SECTS = 64, 65_536, 100_000


def _name(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("latin-1")


def _slices(fh: BinaryIO, size: int) -> list[tuple[int, int]]:
    fh.seek(0)
    head = fh.read(8)
    if head[:4] in _THIN:
        return [(0, size)]
    if head[:4] != _FAT or len(head) < 8:
        return []
    count = min(struct.unpack(">I", head[4:8])[0], _MAX_ARCHS)
    table = fh.read(count * 20)
    out = []
    for i in range(len(table) // 20):
        _cpu, _sub, off, length, _align = struct.unpack(">iiIII", table[i * 20:i * 20 + 20])
        if off + length <= size:
            out.append((off, length))
    return out


def ranges(fh: BinaryIO, size: int) -> tuple[list[tuple[int, int, str]], int, Optional[int]]:
    """(data section ranges, end of the described content, payload_bin section offset or None).
    Never raises on malformed input: what cannot be read is left out."""
    out: list[tuple[int, int, str]] = []
    content_end = 0
    payload: Optional[int] = None
    try:
        slices = _slices(fh, size)
    except (OSError, struct.error):
        return out, 0, None
    for off, length in slices:
        try:
            fh.seek(off)
            header = fh.read(32)
            endian, is64 = _THIN.get(header[:4], (None, False))
            if endian is None:
                continue
            ncmds, sizeofcmds = struct.unpack(endian + "II", header[16:24])
            hsize = 32 if is64 else 28
            if ncmds > _MAX_CMDS or hsize + sizeofcmds > length:
                continue
            fh.seek(off + hsize)
            cmds = fh.read(sizeofcmds)
            content_end = max(content_end, off + hsize + sizeofcmds)
            pos = 0
            sects = 0
            for _ in range(ncmds):
                if pos + 8 > len(cmds):
                    break
                cmd, cmdsize = struct.unpack(endian + "II", cmds[pos:pos + 8])
                if cmdsize < 8 or pos + cmdsize > len(cmds):
                    break
                if cmd in (_LC_SEGMENT, _LC_SEGMENT_64):
                    wide = cmd == _LC_SEGMENT_64
                    seg_fmt = endian + ("16sQQQQiiII" if wide else "16sIIIIiiII")
                    seg_size = struct.calcsize(seg_fmt)
                    sect_fmt = endian + ("16s16sQQIIIIIIII" if wide else "16s16sIIIIIIIII")
                    sect_size = struct.calcsize(sect_fmt)
                    if 8 + seg_size <= cmdsize:
                        seg = struct.unpack(seg_fmt, cmds[pos + 8:pos + 8 + seg_size])
                        fileoff, filesize, nsects = seg[3], seg[4], seg[7]
                        content_end = max(content_end, off + min(fileoff + filesize, length))
                        for i in range(min(nsects, (cmdsize - 8 - seg_size) // sect_size, _MAX_SECTS - sects)):
                            sects += 1
                            s = pos + 8 + seg_size + i * sect_size
                            sect = struct.unpack(sect_fmt, cmds[s:s + sect_size])
                            sectname, segname, ssize, soff, flags = _name(sect[0]), _name(sect[1]), sect[3], sect[4], sect[8]
                            if flags & 0xFF in _S_ZEROFILL_TYPES or not ssize or soff + ssize > length:
                                continue
                            start, end = off + soff, off + soff + ssize
                            content_end = max(content_end, end)
                            if (segname, sectname) == PAYLOAD_SECTION and payload is None:
                                payload = start
                            if flags & (_S_ATTR_SOME_INSTRUCTIONS | _S_ATTR_PURE_INSTRUCTIONS):
                                continue
                            out.append((start, end, f"section {segname},{sectname}"))
                pos += cmdsize
        except (OSError, struct.error):
            continue
    return out, min(content_end, size), payload
