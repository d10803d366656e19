"""What the artifact layer hands to inspectors and checks."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from hardnut.model import FileRecord, Finding


@dataclass
class ArtifactFile:
    """One file of an artifact (onefile payload entries included): its display path, where to read it, its kind."""

    relpath: str  # display path: relative to the target, '/' separators, 'BIN!/inner' in a payload
    fs_path: Path  # where its bytes can be read now (a temporary extraction for payload entries)
    size: int
    kind: str  # "elf", "pe", "macho", "data", "symlink", "special", "dir-symlink"
    dist_root: Path  # the folder dependency resolution treats as the dist root for this file
    link_target: Optional[str] = None  # for symlinks: what the link says (never followed out)
    payload_of: Optional[str] = None  # relpath of the onefile binary that carried this entry
    # sha256 (hex) of the contents; None: not read yet (see `sha256`); "": not hashed (over a limit,
    # unreadable, not a regular file)
    digest: Optional[str] = None
    onefile_payload: bool = False  # this file is itself a onefile binary with a payload

    @property
    def sha256(self) -> str:
        """The contents' sha256 ("" when not hashed). open_target hashes every file before it yields
        unless told not to; verify leaves it to its per-file step (hardnut.artifact.walk.finish_digests)."""
        return self.digest or ""

    @property
    def name(self) -> str:
        return self.relpath.rsplit("/", 1)[-1]

    def record(self) -> FileRecord:
        """Its manifest/report line; the permission bits are read now (only for files on disk: a
        onefile payload entry's mode is whatever the extraction gave it)."""
        fmt = "onefile" if self.onefile_payload else self.kind
        mode = None
        if self.payload_of is None and self.kind not in ("symlink", "dir-symlink", "special"):
            try:
                mode = format(stat.S_IMODE(os.lstat(self.fs_path).st_mode), "04o")
            except OSError:
                mode = None
        return FileRecord(self.relpath, self.size, self.sha256, fmt, mode, self.link_target)


@dataclass
class Artifact:
    """A walked target (a dist folder, a onefile program or a single file): its files and the walk's own
    findings."""

    target: Path
    kind: str  # "dir", "onefile", "file"
    files: list[ArtifactFile] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)  # walk-time findings (symlinks, limits...)
    report_xml: Optional[Path] = None  # Nuitka's --report beside the dist, when found
    # main program(s): relpaths of the executables the build produced, when known
    main_programs: set[str] = field(default_factory=set)
