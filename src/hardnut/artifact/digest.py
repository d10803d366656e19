"""Reading a file of the artifact safely, and its sha256.

Files are opened with O_NOFOLLOW|O_NONBLOCK and checked to be regular *after* opening, so a FIFO,
device or link swapped in after the listing is never read or followed and never blocks.
The walk only reads a file's first bytes (its kind); the sha256 is computed once, by the per-file
step of verify (hardnut.checks.perfile, in worker processes for large artifacts, from the same
read as the other per-file work) or, for any file that step did not cover, on first use
(ArtifactFile.sha256)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path
from typing import Optional, Union

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) \
    | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)


class NotRegular(OSError):
    pass


@contextlib.contextmanager
def open_regular(path: Union[str, bytes, Path]):
    """Open for reading only if it is (still) a regular file: no link followed, no FIFO waited on."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(0, "not a regular file (changed while walking)")
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        yield fh


def file_digest(path: Union[str, bytes, Path]) -> str:
    """sha256 (hex) of a regular file (opened without following links or blocking)."""
    with open_regular(path) as fh:
        h = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
        return h.hexdigest()


def read_small(path: Union[str, bytes, Path], max_size: int) -> Optional[bytes]:
    """The whole contents of a regular file of at most `max_size` bytes (None when larger)."""
    with open_regular(path) as fh:
        if os.fstat(fh.fileno()).st_size > max_size:
            return None
        data = fh.read(max_size + 1)
        return data if len(data) <= max_size else None
