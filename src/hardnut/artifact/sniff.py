"""What kind of file this is, from its first bytes: "elf", "pe" or "data" (shared by the walk and onefile)."""

from __future__ import annotations

ELF_MAGIC = b"\x7fELF"


def sniff(head: bytes) -> str:
    """Classify a file by its first bytes: "elf", "pe" or "data"."""
    if head.startswith(ELF_MAGIC):
        return "elf"
    if head.startswith(b"MZ") and len(head) >= 0x40:
        e_lfanew = int.from_bytes(head[0x3C:0x40], "little")
        if e_lfanew + 4 <= len(head) and head[e_lfanew:e_lfanew + 4] == b"PE\0\0":
            return "pe"
        return "pe" if e_lfanew > len(head) else "data"  # header beyond what we read: let pefile decide
    return "data"
