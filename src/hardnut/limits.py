"""Resource limits applied to every target; each is configurable in `[verify.limits]`."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    max_files: int = 100_000  # files walked in one target (payload entries included)
    max_file_size: int = 2 * 1024**3  # bytes; larger files are listed but not inspected
    max_payload_size: int = 4 * 1024**3  # total decompressed bytes of one onefile payload
    max_payload_ratio: int = 200  # decompressed / compressed bytes before it counts as a bomb
    max_archive_depth: int = 3  # nesting of archives (zip in payload in ...)
    max_scan_bytes: int = 512 * 1024**2  # bytes read per file for string / secret extraction
    file_timeout: float = 120.0  # seconds of inspection per file

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
