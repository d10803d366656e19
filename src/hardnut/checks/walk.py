"""Rules for what the artifact walk itself finds (symlinks, special files, unreadable input, limits),
and for a check that fails.

The walk (hardnut.artifact) records these as it goes; this module owns their rule definitions and
passes the walk's findings through so they are reported like any other.
"""

from __future__ import annotations

from typing import Iterable

from hardnut.checks.base import CheckContext, rule_finding
from hardnut.model import Finding, Rule, Severity

SYMLINK = Rule(
    "HN-WALK-001", "symlink", "leftover", Severity.MEDIUM,
    "A symbolic link inside the artifact. hardnut reports links and never follows them; a link that "
    "points outside the artifact (absolute, or with '..' escaping the root) ships a dependency on the "
    "build machine's file system and is raised to high.",
)
SPECIAL_FILE = Rule(
    "HN-WALK-002", "special file", "leftover", Severity.HIGH,
    "A FIFO, socket or device node inside the artifact. These cannot be shipped meaningfully and "
    "usually mean the artifact folder was assembled from the wrong place.",
)
UNREADABLE = Rule(
    "HN-WALK-003", "unreadable binary", "leftover", Severity.HIGH,
    "A file that looks like an ELF/PE binary (or a onefile payload, or an archive) but cannot be "
    "parsed: truncated, corrupted or hostile. Its contents cannot be proven, so it fails the verdict "
    "at the default level; unreadable plain files are reported the same way.",
)
LIMIT = Rule(
    "HN-WALK-004", "limit reached", "leftover", Severity.HIGH,
    "A resource limit was hit (file count, file size, decompressed payload size or ratio, archive "
    "depth, scan bytes, per-file time). What lies beyond the limit was not inspected, so the artifact "
    "cannot be proven clean. Limits are set in the profile's [verify.limits] table.",
)
NON_UTF8 = Rule(
    "HN-WALK-005", "undecodable file name", "leftover", Severity.MEDIUM,
    "A file name that is not valid UTF-8, or that holds control characters. It is reported with escapes; "
    "such names break installers, archives and Windows file systems, and can spoof terminal output.",
)

TOOL_ERROR = Rule(
    "HN-TOOL-001", "check failed", "build", Severity.HIGH,
    "A check raised an unexpected error on this target, so part of the artifact was not proven. "
    "This is a bug in hardnut or a hostile input it did not anticipate; please report it with the "
    "check name (never with the artifact's secrets).",
)

NOTHING = Rule(
    "HN-WALK-006", "nothing to release", "leftover", Severity.CRITICAL,
    "The target holds no file at all, or the program the build produced (app.name from the profile, or "
    "the executable recorded in the manifest) is not in it. An artifact download that produced nothing, "
    "or a dist folder copied without its program, would otherwise pass every other rule.",
)

RULES = [SYMLINK, SPECIAL_FILE, UNREADABLE, LIMIT, NON_UTF8, TOOL_ERROR, NOTHING]


def run(ctx: CheckContext) -> Iterable[Finding]:
    out = list(ctx.artifact.problems)
    art = ctx.artifact
    if not art.files:
        out.append(rule_finding(NOTHING, ".", "the target is empty: there is nothing to verify or release"))
        return out
    present = {f.relpath for f in art.files}
    for main in sorted(art.main_programs - present):
        if not any(f.rule == LIMIT.id for f in art.problems):  # not listed because a limit stopped the walk
            out.append(rule_finding(NOTHING, main, f"the program {main} is not in the target"))
    return out
