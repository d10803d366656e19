"""What kind of file this is, from its first bytes: "elf", "pe", "macho" or "data" (shared by the walk and onefile)."""

from __future__ import annotations

ELF_MAGIC = b"\x7fELF"
MACHO_MAGICS = (b"\xfe\xed\xfa\xce", b"\xce\xfa\xed\xfe", b"\xfe\xed\xfa\xcf", b"\xcf\xfa\xed\xfe")
FAT_MAGICS = (b"\xca\xfe\xba\xbe", b"\xca\xfe\xba\xbf")  # universal binaries (also Java's class magic)


def sniff(head: bytes) -> str:
    """Classify a file by its first bytes: "elf", "pe", "macho" or "data"."""
    if head.startswith(ELF_MAGIC):
        return "elf"
    if head[:4] in MACHO_MAGICS:
        return "macho"
    if head[:4] in FAT_MAGICS and len(head) >= 8 and 0 < int.from_bytes(head[4:8], "big") <= 32:
        return "macho"  # a Java class file has its major version (>= 45) there
    if head.startswith(b"MZ") and len(head) >= 0x40:
        e_lfanew = int.from_bytes(head[0x3C:0x40], "little")
        if e_lfanew + 4 <= len(head) and head[e_lfanew:e_lfanew + 4] == b"PE\0\0":
            return "pe"
        return "pe" if e_lfanew > len(head) else "data"  # header beyond what we read: let pefile decide
    return "data"
