"""Files of installed distributions, read directly from their folder when they have one.

importlib.metadata finds the distributions; reading each file through its path objects
(Distribution.read_text) costs ~0.1 ms, and its `metadata` parses the whole METADATA file as e-mail, long
description included. The build key, check-source and the manifest read 100-200 such files on every build,
so here a distribution in a folder (`*.dist-info`, `*.egg-info`) has its files opened directly, others (in a
zip, from another finder) go through importlib.metadata, and only the header block of the metadata is
parsed (with the standard library's e-mail parser)."""

from __future__ import annotations

import os
from typing import Any, Optional


def _folder(dist: Any) -> Optional[str]:
    folder = getattr(dist, "_path", None)  # importlib.metadata.PathDistribution's folder
    if isinstance(folder, (str, os.PathLike)) and os.path.isdir(folder):  # not a zipfile.Path
        return os.fspath(folder)
    return None


def read_bytes(dist: Any, name: str) -> Optional[bytes]:
    """The bytes of the distribution's metadata file `name` (e.g. RECORD), None when it has none; a
    distribution without a folder gives the text importlib.metadata reads, encoded as UTF-8."""
    folder = _folder(dist)
    if folder is None:
        text = dist.read_text(name)
        return None if text is None else text.encode("utf-8", "replace")
    try:
        with open(os.path.join(folder, name), "rb") as fh:
            return fh.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
        return None  # as Distribution.read_text


def read_text(dist: Any, name: str) -> Optional[str]:
    """read_bytes as text (UTF-8, undecodable bytes replaced)."""
    data = read_bytes(dist, name)
    return None if data is None else data.decode("utf-8", "replace")


def headers(dist: Any):
    """The header fields of the distribution's METADATA (else PKG-INFO) as an email.message.Message:
    what `dist.metadata` gives for Name, Version and the other headers, without parsing the body."""
    from email.parser import HeaderParser

    text = read_text(dist, "METADATA") or read_text(dist, "PKG-INFO") or ""
    return HeaderParser().parsestr(text.replace("\r\n", "\n").split("\n\n", 1)[0])
