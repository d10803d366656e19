"""Resource limits applied to every target; each is configurable in `[verify.limits]` and, for one run,
with `hardnut verify --limit KEY=VALUE`."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, fields
from typing import Iterable

_SUFFIX = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


@dataclass(frozen=True)
class Limits:
    """Bounds on what a verify reads and unpacks, so that hostile input is bounded in time and memory."""

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

    def override(self, assignments: Iterable[str]) -> "Limits":
        """A copy with `KEY=VALUE` assignments applied (`--limit max_files=500`, `max_file_size=512M`,
        `file_timeout=30`). Integers take an optional K/M/G/T suffix (powers of 1024). Raises
        ValueError with a one-line message for an unknown key or a value that is not a positive number."""
        changes: dict[str, object] = {}
        for text in assignments:
            key, sep, raw = str(text).partition("=")
            key, raw = key.strip(), raw.strip()
            if not sep or key not in self.keys():
                raise ValueError(f"--limit {text!r}: expected KEY=VALUE with KEY one of {', '.join(self.keys())}")
            changes[key] = parse_limit(key, raw)
        return dataclasses.replace(self, **changes)


def parse_limit(key: str, raw: str) -> int | float:
    """The value of one limit from text: a positive integer (K/M/G/T suffix allowed) or, for
    file_timeout, a positive finite number of seconds."""
    kind = type(getattr(Limits(), key))
    if kind is float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"limit {key}: {raw!r} is not a number of seconds") from None
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"limit {key}: must be a positive, finite number of seconds")
        return value
    m = re.fullmatch(r"([0-9][0-9_]*)\s*([kKmMgGtT]?)(i?[bB])?", raw)
    if not m:
        raise ValueError(f"limit {key}: {raw!r} is not a positive integer (K/M/G/T suffixes allowed)")
    value = int(m.group(1).replace("_", "")) * _SUFFIX[m.group(2).lower()]
    if value <= 0:
        raise ValueError(f"limit {key}: must be positive")
    return value
