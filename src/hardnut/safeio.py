"""Reading small input files (profiles, baselines, manifests) that may come from a hostile repository, and
writing files that only save time (`write_quietly`).

`read_regular` follows a symlink to a regular file, but refuses whatever is not one (a FIFO would block,
/dev/zero never ends) and anything larger than a bound, without blocking: the file is opened with
O_NONBLOCK and checked after opening. Errors are OSError subclasses with one-line messages, so callers'
existing `except OSError` handling applies.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Optional, Union

__all__ = ["NotRegularFile", "FileTooLarge", "read_regular", "write_quietly"]


class NotRegularFile(OSError):
    """The path is a FIFO, socket, device or folder."""


class FileTooLarge(OSError):
    """The file is larger than the caller's bound."""


def read_regular(path: Union[str, Path], max_bytes: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
                 | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegularFile(f"{path} is not a regular file")
        if st.st_size > max_bytes:
            raise FileTooLarge(f"{path} is larger than {max_bytes} bytes")
        chunks, total = [], 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(fd)
    if total > max_bytes:
        raise FileTooLarge(f"{path} is larger than {max_bytes} bytes")
    return b"".join(chunks)


def write_quietly(path: Union[str, Path], data: bytes, prefix: Optional[str] = None) -> bool:
    """Write a whole file or nothing (a private temporary file in the same folder, then a rename; its name
    starts with `prefix`, else '.<name>.'), creating the folder; any error is ignored and False returned:
    for caches, whose files only save time."""
    import tempfile

    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=prefix or f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        tmp = None
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
