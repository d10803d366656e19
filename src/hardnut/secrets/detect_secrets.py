"""Read a detect-secrets baseline (`.secrets.baseline`) so that a team's audits carry over to hardnut.

A baseline is JSON: `plugins_used`, `filters_used`, `results` {file: [{type, filename,
hashed_secret, is_verified, line_number, is_secret?}]}, where `hashed_secret` is the SHA-1 (hex)
of the secret string detect-secrets extracted.

Applied (wherever hardnut scans for secrets: sources, data files, binaries, constants):
* an entry whose `hashed_secret` equals the SHA-1 of a hardnut finding's secret, and that is not
  audited as real (`is_secret: true`), marks an accepted or audited false positive: the finding is
  suppressed (counted like a [verify.suppress] match). A hash with any `is_secret: true` entry keeps
  its findings. The match is on the secret, in any file: the same value compiled into a binary is
  the same audited value.
* `filters_used` regex filters: `detect_secrets.filters.regex.should_exclude_secret` (the secret
  matches one of `pattern`), `...should_exclude_line` (the line holding the secret does: the text
  line in a text file, the NUL- or newline-delimited string around it in a binary) and
  `...should_exclude_file` (the reported path, relative to the profile folder for check-source and
  to the target for verify). Python `re.search`, as detect-secrets does.
Not applied (listed in `notes`, never silently): detect-secrets' plugins (`plugins_used`: hardnut's
rules decide what a secret is), its heuristic filters, `is_verified`, `line_number` (a match is on
the value), and `filters_used` entries of other kinds (custom filter files, word lists).

Errors are one-line `BaselineError`s (the CLI turns them into exit code 2). The secret is only
ever hashed here; nothing is logged.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MAX_BASELINE_BYTES = 64 * 1024 * 1024
MAX_PATTERNS = 1000
_SHA1 = re.compile(r"[0-9a-f]{40}")
_REGEX_FILTERS = {
    "detect_secrets.filters.regex.should_exclude_line": "lines",
    "detect_secrets.filters.regex.should_exclude_secret": "secrets",
    "detect_secrets.filters.regex.should_exclude_file": "files",
}


class BaselineError(Exception):
    """The detect-secrets baseline cannot be read or used."""


@dataclass(frozen=True)
class DetectSecretsBaseline:
    path: Path
    accepted: frozenset[str]  # SHA-1 of secrets the baseline accepts (audited false or not audited)
    real: frozenset[str]  # SHA-1 of secrets audited as real (is_secret: true): never suppressed
    exclude_lines: tuple[re.Pattern, ...] = ()
    exclude_secrets: tuple[re.Pattern, ...] = ()
    exclude_files: tuple[re.Pattern, ...] = ()
    notes: tuple[str, ...] = ()

    def suppresses(self, secret: str, line: Optional[str] = None, path: Optional[str] = None) -> bool:
        """True when the baseline accepts this secret (its line and path when known)."""
        if any(p.search(secret) for p in self.exclude_secrets):
            return True
        if path is not None and any(p.search(path) for p in self.exclude_files):
            return True
        if line is not None and any(p.search(line) for p in self.exclude_lines):
            return True
        digest = hashlib.sha1(secret.encode("utf-8", "surrogateescape")).hexdigest()
        return digest in self.accepted and digest not in self.real


def load(path: Path) -> DetectSecretsBaseline:
    """Parse a detect-secrets baseline. Raises BaselineError with a one-line reason."""
    from hardnut.safeio import read_regular

    try:
        raw = read_regular(path, MAX_BASELINE_BYTES)
    except OSError as exc:
        raise BaselineError(f"{path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    except Exception as exc:  # NotRegularFile, FileTooLarge
        raise BaselineError(f"{path}: {exc}") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BaselineError(f"{path}: not valid JSON ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise BaselineError(f"{path}: not a detect-secrets baseline (no \"results\" object)")
    accepted, real = set(), set()
    for filename, entries in data["results"].items():
        if not isinstance(entries, list):
            raise BaselineError(f"{path}: results[{filename!r}] must be a list")
        for i, entry in enumerate(entries):
            where = f"{path.name}: results[{str(filename)[:80]!r}][{i}]"
            if not isinstance(entry, dict):
                raise BaselineError(f"{where} must be an object")
            digest = entry.get("hashed_secret")
            if not isinstance(digest, str) or not _SHA1.fullmatch(digest.lower()):
                raise BaselineError(f"{where}: hashed_secret must be 40 hex digits (SHA-1)")
            is_secret = entry.get("is_secret")
            if is_secret is not None and not isinstance(is_secret, bool):
                raise BaselineError(f"{where}: is_secret must be true or false")
            (real if is_secret else accepted).add(digest.lower())
    notes: list[str] = []
    patterns: dict[str, list[re.Pattern]] = {"lines": [], "secrets": [], "files": []}
    filters = data.get("filters_used", [])
    if not isinstance(filters, list):
        raise BaselineError(f"{path}: filters_used must be a list")
    ignored = []
    for i, flt in enumerate(filters):
        if not isinstance(flt, dict) or not isinstance(flt.get("path"), str):
            raise BaselineError(f"{path.name}: filters_used[{i}] must be an object with a \"path\"")
        kind = _REGEX_FILTERS.get(flt["path"])
        if kind is None:
            if not flt["path"].startswith("detect_secrets.filters.heuristic.") and flt["path"] not in (
                    "detect_secrets.filters.allowlist.is_line_allowlisted",
                    "detect_secrets.filters.common.is_ignored_due_to_verification_policies"):
                ignored.append(flt["path"][:80])
            continue
        values = flt.get("pattern", [])
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BaselineError(f"{path.name}: filters_used[{i}].pattern must be a list of regular expressions")
        for value in values:
            if len(patterns[kind]) >= MAX_PATTERNS:
                raise BaselineError(f"{path.name}: more than {MAX_PATTERNS} {kind} patterns")
            try:
                patterns[kind].append(re.compile(value))
            except re.error as exc:
                raise BaselineError(f"{path.name}: filters_used[{i}]: bad regular expression {value[:60]!r} ({exc})") from None
    if ignored:
        notes.append("filters not applied: " + ", ".join(ignored))
    return DetectSecretsBaseline(path=path, accepted=frozenset(accepted), real=frozenset(real),
                                 exclude_lines=tuple(patterns["lines"]), exclude_secrets=tuple(patterns["secrets"]),
                                 exclude_files=tuple(patterns["files"]), notes=tuple(notes))


def line_around(data: bytes, offset: int, length: int, utf16: bool = False, reach: int = 4096) -> str:
    """The line (text) or string (binary: NUL-delimited) holding data[offset:offset+length]; for a
    UTF-16LE match, the UTF-16LE text around it."""
    if utf16:
        start = max(offset % 2, offset - 2 * reach)
        text = data[start:min(len(data), offset + length + 2 * reach)].decode("utf-16-le", "replace")
        rel = (offset - start) // 2
        a = max(text.rfind("\n", 0, rel), text.rfind("\x00", 0, rel)) + 1
        stops = [i for i in (text.find("\n", rel), text.find("\x00", rel)) if i >= 0]
        return text[a:min(stops) if stops else len(text)].rstrip("\r")
    start = max(0, offset - reach)
    end = min(len(data), offset + length + reach)
    head = data[start:offset]
    cut = max(head.rfind(b"\n"), head.rfind(b"\x00"))
    tail = data[offset + length:end]
    stops = [i for i in (tail.find(b"\n"), tail.find(b"\x00")) if i >= 0]
    line = head[cut + 1:] + data[offset:offset + length] + (tail[:min(stops)] if stops else tail)
    return line.decode("utf-8", "replace").rstrip("\r")


def line_in_file(path, offset: int, length: int, utf16: bool = False, reach: int = 4096) -> Optional[str]:
    """line_around for a file on disk (reads at most 2 * reach + length bytes); None if unreadable."""
    start = max(0, offset - 2 * reach)
    try:
        with open(path, "rb") as fh:
            fh.seek(start)
            data = fh.read(offset - start + length + 2 * reach)
    except OSError:
        return None
    return line_around(data, offset - start, length, utf16, reach)
