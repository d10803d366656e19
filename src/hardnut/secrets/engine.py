"""The secret scanning engine: one multi-literal pass per chunk, regex confirmation around hits.

How a buffer is scanned
1. Keyword pass. Every rule lists literal keywords that each of its matches contains. All keywords
   of all rules, in ASCII and in UTF-16LE form (Windows binaries), are searched in ONE pass: a
   hyperscan literal database when hyperscan is importable, else an Aho-Corasick automaton
   (ahocorasick-rs: one over the chunk for the case-sensitive keywords, one over its
   ASCII-lowercased copy for the caseless ones), else the pure-Python `re` fallback (one alternation
   per case class, each hit completed by the keywords starting at or inside it). All three report
   exactly the same set: every (position, keyword) occurrence, overlapping ones included.
2. Confirmation. For each occurrence the keyword's rules run their Python regex over a window
   [k - before, k + after] around it (for UTF-16LE hits, over the window narrowed to one byte per
   code unit) and keep the first match that contains the keyword. The window depends only on the
   occurrence and the file bytes, so results do not depend on the engine, on chunking or on the
   order of hits.
3. Validation. Entropy floor, placeholder filter and the rule's validators (checksums, base64/DER
   structure, JSON of a JWT...) drop or re-grade candidates.

Files are read in 16 MiB blocks that overlap by the widest rule window (only the first `max_bytes`
bytes; memory stays bounded); a generic candidate that overlaps a provider match is dropped (the
provider rule wins). `scan_paths` spreads
files over worker processes for large dists; results are sorted, so output is deterministic.

`HARDNUT_SECRETS_ENGINE=hyperscan|aho-corasick|re` forces an engine (one that cannot be loaded raises
EngineUnavailable); `HARDNUT_SECRETS_WORKERS=N` sets the number of worker processes. Secrets never leave this module in a log or exception; callers mask them.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Optional, Sequence

from hardnut.model import Severity
from hardnut.secrets.rules import SECRET_RULES, VALIDATORS, SecretRule, Verdict, entropy, known_public_note

if TYPE_CHECKING:  # hardnut.secrets.gitleaks is imported only when a gitleaks config is used
    from hardnut.secrets.gitleaks import CustomRule, GitleaksConfig

# longest match a keyword-less (gitleaks custom) rule may have
UNKEYED_WINDOW = 4096

_NONZERO = re.compile(rb"[^\x00]")
ENV_ENGINE = "HARDNUT_SECRETS_ENGINE"
ENV_WORKERS = "HARDNUT_SECRETS_WORKERS"  # worker processes for large dists (default: 2, at most the CPUs)
ENGINES = ("auto", "hyperscan", "aho-corasick", "re")
CHUNK = 16 * 1024 * 1024
# below this total, parse and scan in-process: measured on a ~24 MB and a ~72 MB dist, 2 workers were not
# faster than one process on the shared 2-core machine (load ~2); larger trees still use them
PARALLEL_MIN_BYTES = 96 * 1024 * 1024
HELPER_MIN_BYTES = 4 * 1024 * 1024  # below this a verify is too short to share with the Helper
DECODE_MAX_FILE = 16 * 1024 * 1024  # text files up to this size get the decoding pass
DECODE_DEPTH = 2  # levels of encoding looked through (base64 inside base64...)
DECODE_BUDGET = 8 * 1024 * 1024  # decoded bytes per file and level
_B64_RUN = re.compile(rb"(?<![A-Za-z0-9+/_\-])(?:[A-Za-z0-9+/]{4}){6,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
                      rb"(?![A-Za-z0-9+/=])|(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{32,}(?![A-Za-z0-9_\-=+/])")
_HEX_RUN = re.compile(rb"(?<![0-9A-Fa-f])(?:[0-9a-fA-F]{2}){20,}(?![0-9A-Fa-f])")
_ESCAPED_JSON = re.compile(rb'\{\s*\\+"[^\x00]{10,65536}?\}')
_PRINTABLE = frozenset(range(0x20, 0x7F)) | {9, 10, 13}




class EngineUnavailable(Exception):
    """The engine forced via HARDNUT_SECRETS_ENGINE (or requested) cannot be used."""


@dataclass(frozen=True, order=True)
class RawMatch:
    """A confirmed secret in a scanned buffer: where, which rule, and the secret itself (mask before any output)."""

    offset: int  # byte offset of the secret in the scanned buffer/file
    length: int  # bytes it occupies there (2 per character for UTF-16LE)
    rule_id: str
    secret: str  # the secret text; callers must mask it before any output
    severity: Severity
    note: str = ""
    encoding: str = "ascii"  # "ascii" (also UTF-8) or "utf-16le"


@dataclass
class FileScan:
    """The raw secret matches of one file, how many bytes were scanned, and why not all when not."""

    matches: list[RawMatch] = field(default_factory=list)
    scanned: int = 0
    size: int = 0
    error: str = ""

    @property
    def truncated(self) -> bool:
        return self.scanned < self.size


@dataclass(frozen=True)
class _Keyword:
    """A keyword as searched (lowercase when caseless, UTF-16LE when utf16) and the rules it belongs to."""

    text: bytes  # as searched (UTF-16LE interleaved when utf16), lowercase when caseless
    caseless: bool
    utf16: bool
    ascii_len: int
    rules: tuple[int, ...]  # indexes into Engine.rules


def _utf16(b: bytes) -> bytes:
    """Each byte followed by a zero byte (UTF-16LE of the Latin-1 text)."""
    return b.decode("latin-1").encode("utf-16-le")


def _hs_literal(b: bytes) -> bytes:
    """The bytes as a hyperscan expression of \\xNN escapes (lowercase hex)."""
    return ("\\x" + b.hex(":").replace(":", "\\x")).encode("ascii") if b else b""


ENV_DB_CACHE = "HARDNUT_SECRETS_DB_CACHE"  # folder for compiled keyword databases; "0": do not cache


def _hs_cache_path(hyperscan, expressions: list[bytes], flags: list[int]) -> Optional[Path]:
    """Where the compiled hyperscan database of this keyword set is kept between runs (compiling it
    takes ~0.1 s, loading it ~0.1 ms): a file named by the sha256 of the keywords, their flags,
    hyperscan's version and the machine, in $HARDNUT_SECRETS_DB_CACHE, else the user's cache folder.
    hyperscan refuses a database built for another platform; any unreadable file is compiled again."""
    import hashlib
    import platform

    folder = os.environ.get(ENV_DB_CACHE, "")
    if folder == "0":
        return None
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        if base.startswith("~"):  # no home folder
            return None
        folder = os.path.join(base, "hardnut")
    h = hashlib.sha256()
    h.update(repr((getattr(hyperscan, "__version__", ""), platform.machine(), platform.system())).encode())
    for expression, flag in zip(expressions, flags):
        h.update(b"%d:%d:%s\0" % (flag, len(expression), expression))
    return Path(folder) / f"hyperscan-{h.hexdigest()[:32]}.db"


_SHORT_BEFORE = 64  # keyword offsets in the window up to which _first_covering tries start positions itself
_LEADING_FLAGS = re.compile(rb"^\(\?[aiLmsux]+\)")
_NUMBERED = re.compile(rb"\\[1-9]|\(\?\([0-9]")
_LEFTMOST: dict = {}


_WRAP_AFTER = 24  # _first_covering calls with a regex before it is wrapped (see _leftmost_start)
_USES: dict = {}


def _leftmost_start(regex: re.Pattern, now: bool = True) -> Optional[Callable]:
    """`regex` behind a lazy prefix of at most _SHORT_BEFORE bytes and an empty group `hn_start`:
    matched at pos, it tries the start positions pos, pos+1, ... in order, as search does, and
    hn_start is the first position where `regex` matches (then regex.match there gives that match).
    None for a pattern with numbered back-references or conditionals (the added group would shift
    them) or that cannot be wrapped.
    `now=False` (a confirmation): None (try each position) until the regex's _WRAP_AFTER-th use. The
    wrapper is a second compile of the whole pattern, ~1.2 ms; most rules are met a few times in a
    file (11 wrappers, 13 ms of a rebuild of the sample app, for 3 rules met more than 24 times)."""
    if regex in _LEFTMOST:
        return _LEFTMOST[regex]
    if not now:
        uses = _USES.get(regex, 0) + 1
        if uses < _WRAP_AFTER:
            if len(_USES) > 4096:
                _USES.clear()
            _USES[regex] = uses
            return None
    wrapped = None
    pattern = regex.pattern
    if isinstance(pattern, bytes) and not _NUMBERED.search(pattern) and "hn_start" not in regex.groupindex:
        try:
            body = _LEADING_FLAGS.sub(b"", pattern, count=1)
            wrapped = re.compile(rb"[\s\S]{0,%d}?(?P<hn_start>)(?:" % _SHORT_BEFORE + body + b")",
                                 regex.flags).match
        except re.error:
            wrapped = None
    if len(_LEFTMOST) > 4096:
        _LEFTMOST.clear()
    _LEFTMOST[regex] = wrapped
    return wrapped


def _first_covering(regex: re.Pattern, window: bytes, rel: int, want: int, start: int = 0) -> Optional[re.Match]:
    """The first match of `regex.finditer(window, start)` that starts at or before `rel` and ends at or after
    `want` (the keyword's end), or None. finditer tries every start position of the window, also the
    ones after the keyword, where no match can count (most keyword hits are no secret: the whole window
    was searched for nothing). For a short stretch before the keyword, the same matches are found by
    trying regex.match at each position up to `rel` in finditer's order (search = the first position
    where match succeeds; look-behinds see the bytes before the position either way), continuing after
    each match's end as finditer does."""
    if rel - start <= _SHORT_BEFORE:
        match = regex.match
        first = _leftmost_start(regex, now=False)
        pos = start
        while pos <= rel:
            if first is not None:  # the leftmost start in [pos, pos + _SHORT_BEFORE], found by re itself
                found = first(window, pos)
                s = found.start("hn_start") if found is not None else rel + 1
                m = match(window, s) if s <= rel else None
                if m is None:
                    return None  # no match starts at or before the keyword
            else:
                for s in range(pos, rel + 1):
                    m = match(window, s)
                    if m is not None:
                        break
                else:
                    return None  # no match starts at or before the keyword
            if m.end() >= want:
                return m
            if m.end() <= m.start():  # an empty match: finditer's own rules for those, below
                break
            pos = m.end()
        else:
            return None
    for m in regex.finditer(window, start):
        if m.start() > rel:
            break
        if m.end() < want:
            continue
        return m
    return None


class Engine:
    """A compiled rule set plus the keyword matcher. Build once, scan many buffers."""

    def __init__(self, rules: Sequence[SecretRule] = SECRET_RULES, engine: Optional[str] = None,
                 gitleaks: Optional[GitleaksConfig] = None) -> None:
        self.gitleaks = gitleaks
        if gitleaks is not None:
            rules = tuple(rules) + tuple(custom_rule(r) for r in gitleaks.rules)
        self.rules = tuple(rules)
        self.rule_map = {r.id: r for r in self.rules}
        self.unkeyed = tuple(r for r in self.rules if not r.keywords)  # custom rules: full regex pass
        table: dict[tuple[bytes, bool, bool], list[int]] = {}
        for i, rule in enumerate(self.rules):
            for kw in rule.keywords:
                text = kw.lower() if rule.caseless else kw
                for utf16 in (False, True):
                    key = (text, rule.caseless, utf16)
                    table.setdefault(key, [])
                    if i not in table[key]:
                        table[key].append(i)
        self.keywords = tuple(
            _Keyword(_utf16(text) if utf16 else text, caseless, utf16, len(text), tuple(idx))
            for (text, caseless, utf16), idx in sorted(table.items())
        )
        self.max_kw = max(len(k.text) for k in self.keywords)
        self._plans: list = [None] * len(self.keywords)  # per ASCII keyword, made on first use (_plan)
        # history and look-ahead a streamed block keeps: the widest rule window, twice (UTF-16LE)
        reach = max(r.before + r.context for r in self.rules) + max(r.after for r in self.rules) + 2 * self.max_kw + 16
        if self.unkeyed:
            reach = max(reach, UNKEYED_WINDOW + 16)
        self._reach = 2 * reach
        self._re_alt: dict[bool, tuple[re.Pattern, dict[int, list[int]]]] = {}  # the re engine (_compile_re)
        choice = (engine or os.environ.get(ENV_ENGINE, "") or "auto").strip().lower()
        if choice not in ENGINES:
            raise EngineUnavailable(f"{ENV_ENGINE} must be one of {', '.join(ENGINES[1:])}, not {choice!r}")
        self._hs = None
        self._ac: Optional[list[tuple[bool, object, list[int]]]] = None
        if choice in ("auto", "hyperscan"):
            try:
                self._hs = self._compile_hyperscan()
            except Exception as exc:  # ImportError, unsupported CPU, compile error
                if choice == "hyperscan":
                    raise EngineUnavailable(f"hyperscan cannot be used: {type(exc).__name__}: {exc}") from None
        if self._hs is None and choice in ("auto", "aho-corasick"):
            try:
                self._ac = self._compile_aho_corasick()
            except Exception as exc:  # ImportError (no wheel for this platform)
                if choice == "aho-corasick":
                    raise EngineUnavailable(f"aho-corasick cannot be used: {type(exc).__name__}: {exc}") from None
        self.name = "hyperscan" if self._hs is not None else ("aho-corasick" if self._ac is not None else "re")
        if self.name == "re":
            self._compile_re()

    # -- keyword pass -----------------------------------------------------------------------

    def _compile_hyperscan(self):
        import hyperscan

        expressions = [_hs_literal(k.text) for k in self.keywords]
        flags = [hyperscan.HS_FLAG_CASELESS if k.caseless else 0 for k in self.keywords]
        cached = _hs_cache_path(hyperscan, expressions, flags)
        if cached is not None:
            try:
                db = hyperscan.loadb(cached.read_bytes(), hyperscan.HS_MODE_BLOCK)
                db.scratch = hyperscan.Scratch(db)  # validates the database (hyperscan's own check)
                if self._finds_every_keyword(db, hyperscan):
                    return db
            except Exception:  # absent, truncated, another CPU or hyperscan build: compile
                pass
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=expressions, ids=list(range(len(self.keywords))), elements=len(self.keywords),
                   flags=flags)
        if cached is not None:
            from hardnut.safeio import write_quietly

            write_quietly(cached, hyperscan.dumpb(db))
        return db

    def _compile_re(self) -> None:
        """The re fallback: one alternation per case class (longest first), plus keywords by first byte
        to complete every occurrence that starts at or inside a match (overlaps)."""
        for caseless in (False, True):
            kids = [i for i, k in enumerate(self.keywords) if k.caseless == caseless]
            if not kids:
                continue
            ordered = sorted(kids, key=lambda i: (-len(self.keywords[i].text), self.keywords[i].text))
            pattern = re.compile(b"|".join(re.escape(self.keywords[i].text) for i in ordered))
            first: dict[int, list[int]] = {}
            for i in kids:
                first.setdefault(self.keywords[i].text[0], []).append(i)
            self._re_alt[caseless] = (pattern, first)

    def _finds_every_keyword(self, db, hyperscan) -> bool:
        """A loaded database finds each keyword in a probe of all of them (a file that is not this
        keyword set's database, whatever its name, is compiled again)."""
        probe = b"\n".join(k.text for k in self.keywords)
        found: set[int] = set()
        db.scan(probe, match_event_handler=lambda kid, *_: found.add(kid))
        return found.issuperset(range(len(self.keywords)))

    def _compile_aho_corasick(self) -> list[tuple[bool, object, list[int]]]:
        """One automaton per case class (caseless keywords are matched in the lowercased chunk), in
        standard match semantics so that overlapping occurrences are all reported, like hyperscan."""
        import ahocorasick_rs

        out = []
        for caseless in (False, True):
            kids = [i for i, k in enumerate(self.keywords) if k.caseless == caseless]
            if kids:
                automaton = ahocorasick_rs.BytesAhoCorasick([self.keywords[i].text for i in kids],
                                                           matchkind=ahocorasick_rs.MATCHKIND_STANDARD)
                out.append((caseless, automaton, kids))
        return out

    def occurrences(self, chunk: bytes) -> list[tuple[int, int]]:
        """Every (position, keyword index) in `chunk`, sorted; overlapping occurrences included."""
        out: list[tuple[int, int]] = []
        if self._hs is not None:
            kws = self.keywords

            def on_match(kid: int, start: int, end: int, flags: int, ctx: object) -> None:
                out.append((end - len(kws[kid].text), kid))

            self._hs.scan(chunk, match_event_handler=on_match)
        elif self._ac is not None:
            for caseless, automaton, kids in self._ac:
                hay = chunk.lower() if caseless else chunk
                out.extend((start, kids[i]) for i, start, _end in
                           automaton.find_matches_as_indexes(hay, overlapping=True))
        else:
            kws = self.keywords
            for caseless, (pattern, first) in self._re_alt.items():
                hay = chunk.lower() if caseless else chunk
                for m in pattern.finditer(hay):
                    for q in range(m.start(), m.end()):
                        for kid in first.get(hay[q], ()):
                            if hay.startswith(kws[kid].text, q):
                                out.append((q, kid))
        out.sort()
        return out

    # -- confirmation -----------------------------------------------------------------------

    def precompile(self) -> None:
        """Compile every rule's patterns and make every keyword's plan now, not on first use (`hardnut
        build` calls this beside Nuitka's compile, so the scan after it does not compile the patterns of
        the keywords it meets: 12-22 of them for the sample app). Changes no result."""
        for rule in self.rules:
            rule.near_re, rule.near_before_re, rule.tail_re  # noqa: B018 - cached properties: compiled here
            _leftmost_start(rule.regex)
        for kid, kw in enumerate(self.keywords):
            if not kw.utf16 and self._plans[kid] is None:
                self._plans[kid] = self._plan(kw)

    def _plan(self, kw: _Keyword) -> tuple:
        """What _confirm needs of each rule of an ASCII keyword, looked up once: (rule, near search,
        near span, near-before search, before, tail match, window bytes before the keyword, window bytes
        from it, anchored, how far before the keyword a covering match may start or None)."""
        out = []
        for ri in kw.rules:
            r = self.rules[ri]
            out.append((r, r.near_re.search if r.near_re is not None else None, r.near_span,
                        r.near_before_re.search if r.near_before_re is not None else None, r.before,
                        r.tail_re.match if r.tail_re is not None else None, r.before + r.context + 1,
                        kw.ascii_len + r.after + 1, r.anchored, r.before + 1 if r.context else None))
        return tuple(out)

    def _confirm(self, data, limit: int, k: int, kid: int, found: dict) -> None:
        kw = self.keywords[kid]
        if not kw.utf16:  # the hot path (most hits): each rule's fields looked up once per keyword (_plan)
            plans = self._plans[kid]
            if plans is None:
                plans = self._plans[kid] = self._plan(kw)
            end = k + kw.ascii_len
            for rule, near, near_span, near_before, before, tail, back, fwd, anchored, cover in plans:
                # cheap necessary conditions first, on the data itself (no copy)
                if near is not None and near(data, end, min(limit, end + near_span)) is None:
                    continue
                if near_before is not None and near_before(data, k - before if k > before else 0, k) is None:
                    continue
                if tail is not None and tail(data, end, min(limit, end + 128)) is None:
                    continue
                a = k - back if k > back else 0
                b = k + fwd if k + fwd < limit else limit
                window = bytes(data[a:b])
                rel = k - a
                if anchored:
                    m = rule.regex.match(window, rel)
                else:
                    m = _first_covering(rule.regex, window, rel, rel + kw.ascii_len,
                                        (rel - cover if rel > cover else 0) if cover is not None else 0)
                if m is not None:
                    self._accept(rule, m, a, 1, found)
            return
        for ri in kw.rules:  # a UTF-16LE hit: the rule runs on the narrowed (ASCII) text around it
            rule = self.rules[ri]
            a = k - 2 * (rule.before + rule.context + 1)
            if a < 0:
                a = k % 2
            b = min(limit, k + 2 * (kw.ascii_len + rule.after + 1))
            raw = data[a:b]
            narrow = bytearray(raw[0::2])
            high = raw[1::2]
            if high.count(0) != len(high):  # non-ASCII code units break tokens
                for hm in _NONZERO.finditer(high):
                    narrow[hm.start()] = 0
            window = bytes(narrow[:len(high)])
            rel = (k - a) // 2
            end = rel + kw.ascii_len
            if rule.near_re is not None and rule.near_re.search(window, end, end + rule.near_span) is None:
                continue
            if rule.near_before_re is not None and \
                    rule.near_before_re.search(window, max(0, rel - rule.before), rel) is None:
                continue
            if rule.tail_re is not None and rule.tail_re.match(window, end, end + 128) is None:
                continue
            if rule.anchored:
                m = rule.regex.match(window, rel)
            else:
                m = _first_covering(rule.regex, window, rel, end, max(0, rel - rule.before - 1) if rule.context else 0)
            if m is not None:
                self._accept(rule, m, a, 2, found)

    def _accept(self, rule: SecretRule, m, base: int, scale: int, found: dict) -> None:
        s, e = rule.secret_span(m)
        secret = m.string[s:e]
        key = (rule.id, base + scale * s, scale * (e - s))
        if key in found:
            return
        found[key] = None  # rejected unless accepted below
        if rule.min_entropy and entropy(secret) < rule.min_entropy:
            return
        severity, notes = rule.severity, []
        for name in rule.validators:
            try:
                verdict = VALIDATORS[name](secret, m)
            except (ValueError, IndexError, TypeError, UnicodeError, RecursionError, OverflowError):
                verdict = Verdict(note="could not be validated")  # hostile content: keep, say so
            if verdict is None:
                return
            if verdict.severity is not None:
                severity = verdict.severity
            if verdict.note:
                notes.append(verdict.note)
        if rule.allowlists and any(al.allows(secret, m.group(0)) for al in rule.allowlists):
            return
        if self.gitleaks is not None and self.gitleaks.global_allows(rule.id, secret, m.group(0)):
            return
        public = known_public_note(rule.id, secret)
        if public is not None:  # well-known test key / public vector: info, says what it is
            severity, notes = Severity.INFO, [f"well-known public test material ({public}), not a leak"]
        found[key] = RawMatch(key[1], key[2], rule.id, secret.decode("latin-1"), severity, "; ".join(notes),
                              "utf-16le" if scale == 2 else "ascii")

    # -- public scanning API ----------------------------------------------------------------

    def scan_buffer(self, data, limit: Optional[int] = None) -> list[RawMatch]:
        """Scan `data` (bytes, mmap, memoryview) up to `limit` bytes; sorted, deduplicated."""
        limit = len(data) if limit is None else min(limit, len(data))
        found: dict = {}
        for own in range(0, limit, CHUNK):
            own_end = min(limit, own + CHUNK)
            seg = bytes(data[own:min(limit, own_end + self.max_kw)])
            for pos, kid in self.occurrences(seg):
                if pos >= own_end - own:
                    break
                self._confirm(data, limit, own + pos, kid, found)
            if self.unkeyed:
                self._scan_unkeyed(data, own, own_end, limit, found)
        return _finish(found.values(), self.rules)

    def _scan_unkeyed(self, data, start: int, end: int, limit: int, found: dict) -> None:
        """Keyword-less (custom) rules: every match starting in [start, end), ASCII only."""
        seg = bytes(data[start:min(limit, end + UNKEYED_WINDOW)])
        for rule in self.unkeyed:
            for m in rule.regex.finditer(seg):
                if m.start() >= end - start:
                    break
                self._accept(rule, m, start, 1, found)

    def scan_file(self, path: Path, max_bytes: Optional[int] = None, data: Optional[bytes] = None) -> FileScan:
        """Scan one file (its first `max_bytes` bytes) in overlapping blocks, so memory stays
        bounded by the block size whatever the file size. Never raises for I/O errors. `data`: the
        whole file, already read by the caller (the same scan, without reading it again)."""
        if data is not None:
            import io

            return self._scan_opened(io.BytesIO(data), len(data), max_bytes)
        try:
            with open(path, "rb", buffering=0) as fh:
                return self._scan_opened(fh, os.fstat(fh.fileno()).st_size, max_bytes)
        except (OSError, ValueError) as exc:
            return FileScan(error=f"cannot read: {getattr(exc, 'strerror', None) or exc}")

    def _scan_opened(self, fh, size: int, max_bytes: Optional[int]) -> FileScan:
        limit = size if max_bytes is None else min(size, max_bytes)
        if limit == 0:
            return FileScan(size=size)
        result = self.scan_stream(fh, limit, size)
        result.size = size
        if limit <= DECODE_MAX_FILE:
            fh.seek(0)
            head = fh.read(limit)
            if b"\x00" not in head[:4096]:  # text: look inside base64 / hex / escaped JSON
                result.matches = resolve_overlaps(result.matches + self.scan_encoded(head), self.rules)
        return result

    def scan_encoded(self, data: bytes, depth: int = DECODE_DEPTH) -> list[RawMatch]:
        """Secrets inside encoded text: base64 and hex runs are decoded, JSON escaped inside a
        string is unescaped, and the result is scanned again, `depth` levels deep, at most
        DECODE_BUDGET decoded bytes per call. A match is reported at the encoded run's offset and
        length (the whole run), with the decoded secret and a note saying how it was encoded."""
        if depth <= 0 or not data:
            return []
        out: list[RawMatch] = []
        budget = DECODE_BUDGET
        direct: Optional[set] = None  # secrets found without decoding are not reported twice
        for how, start, end, decoded in _decoded_runs(data):
            budget -= len(decoded)
            if budget < 0:
                break
            inner = self.scan_buffer(decoded) + self.scan_encoded(decoded, depth - 1)
            if inner and direct is None:
                direct = {m.secret for m in self.scan_buffer(data)}
            for m in inner:
                if m.secret in direct:
                    continue
                note = f"{how}-encoded" + (f"; {m.note}" if m.note else "")
                out.append(RawMatch(start, end - start, m.rule_id, m.secret, m.severity, note, "ascii"))
        return sorted(set(out))

    def scan_stream(self, fh, max_bytes: int, size_hint: int = 0) -> FileScan:
        """Scan a non-seekable stream (e.g. a zip member) in overlapping blocks.

        The block keeps as much history and look-ahead as the widest rule window, so results
        equal those of scanning the whole content at once.
        """
        result = FileScan(size=size_hint)
        reach = self._reach
        buf = b""
        base = 0  # file offset of buf[0]
        owned = 0  # occurrences before this file offset are done
        found: dict = {}
        total = 0
        while True:
            want = min(CHUNK, max_bytes - total)
            block = fh.read(want) if want > 0 else b""
            total += len(block)
            done = not block or total >= max_bytes
            buf += block
            own_end = base + len(buf) if done else base + len(buf) - reach
            if own_end > owned:
                s, e = owned - base, own_end - base
                stop = min(len(buf), e + self.max_kw)
                seg = buf if (s == 0 and stop == len(buf)) else buf[s:stop]
                for pos, kid in self.occurrences(seg):
                    if s + pos >= e:
                        break
                    if base == 0:  # offsets in buf are file offsets: straight into found (what _merge does)
                        self._confirm(buf, len(buf), s + pos, kid, found)
                        continue
                    local: dict = {}
                    self._confirm(buf, len(buf), s + pos, kid, local)
                    self._merge(local, base, found)
                if self.unkeyed:
                    local = {}
                    self._scan_unkeyed(buf, s, e, len(buf), local)
                    self._merge(local, base, found)
                owned = own_end
            if done:
                break
            keep = max(base, owned - reach)
            buf = buf[keep - base:]
            base = keep
        result.scanned = total
        if not result.size:
            result.size = total
        result.matches = _finish(found.values(), self.rules)
        return result

    @staticmethod
    def _merge(local: dict, base: int, found: dict) -> None:
        for (rid, off, ln), m in local.items():
            key = (rid, base + off, ln)
            if key not in found:
                found[key] = None if m is None else RawMatch(base + off, ln, rid, m.secret, m.severity, m.note, m.encoding)

    def scan_strings(self, items: Sequence[tuple[int, bytes]]) -> list[RawMatch]:
        """Scan separate strings (file offset, raw bytes), e.g. decoded blob constants: each is
        bounded by NULs, so word boundaries hold at its edges. Offsets are file offsets."""
        if not items:
            return []
        starts, parts, pos = [], [], 1
        for _off, raw in items:
            starts.append(pos)
            parts.append(raw)
            pos += len(raw) + 1
        joined = b"\x00" + b"\x00".join(parts) + b"\x00"
        out = []
        for m in self.scan_buffer(joined):
            i = bisect.bisect_right(starts, m.offset) - 1
            if i < 0:
                continue
            rel = m.offset - starts[i]
            if rel + m.length > len(items[i][1]):
                continue
            out.append(RawMatch(items[i][0] + rel, m.length, m.rule_id, m.secret, m.severity, m.note, m.encoding))
        return sorted(set(out))

    def scan_pairs(self, pairs: Iterable[tuple[bytes, int, bytes]]) -> list[RawMatch]:
        """Scan (name, value offset, value) pairs as `name = "value"` lines; only matches whose
        secret lies inside the value are kept, at the value's file offset."""
        parts, spans = [], []
        pos = 1
        for name, off, value in pairs:
            quote = b'"' if b'"' not in value else (b"'" if b"'" not in value else None)
            if quote is None or b"\x00" in value or b"\x00" in name:
                continue
            line = name + b" = " + quote + value + quote
            vstart = pos + len(name) + 4
            spans.append((pos, vstart, vstart + len(value), off))
            parts.append(line)
            pos += len(line) + 1
        if not parts:
            return []
        joined = b"\x00" + b"\x00".join(parts) + b"\x00"
        starts = [s[0] for s in spans]
        out = set()
        for m in self.scan_buffer(joined):
            i = bisect.bisect_right(starts, m.offset) - 1
            if i < 0:
                continue
            _, vs, ve, off = spans[i]
            if m.encoding != "ascii" or m.offset < vs or m.offset + m.length > ve or off < 0:
                continue
            out.add(RawMatch(off + m.offset - vs, m.length, m.rule_id, m.secret, m.severity, m.note, m.encoding))
        return sorted(out)


def _literal_prefix(pattern: bytes) -> bytes:
    """The literal text every match starts with (>= 3 bytes), from Python's regex parser; b"" if none."""
    try:
        import re._parser as sre_parse  # Python 3.11+
        import re._constants as sre_c
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore
        import sre_constants as sre_c  # type: ignore
    try:
        items = list(sre_parse.parse(pattern.decode("latin-1")))
    except Exception:  # noqa: BLE001 - any parser complaint: no prefix
        return b""
    out = bytearray()
    while items:
        op, av = items.pop(0)
        if op is sre_c.LITERAL and av < 128:
            out.append(av)
        elif op is sre_c.SUBPATTERN and not out:
            items = list(av[-1]) + items
        elif op is sre_c.AT and not out:
            continue
        else:
            break
    return bytes(out) if len(out) >= 3 else b""


def custom_rule(c: CustomRule) -> SecretRule:
    """A gitleaks custom rule as an engine rule: keywords caseless (as in gitleaks), a match may
    reach 256 bytes before and 1024 after its keyword. A rule without keywords gets its regex's
    literal prefix as keyword (so it also runs on UTF-16LE text); with none, it runs over every
    byte (ASCII only)."""
    from hardnut.secrets.gitleaks import CUSTOM_SEVERITY

    keywords = c.keywords
    if not keywords:
        prefix = _literal_prefix(c.pattern)
        keywords = (prefix.lower(),) if prefix else ()
    return SecretRule(
        c.id, c.description[:80] or c.id, CUSTOM_SEVERITY, c.pattern, keywords,
        f"Custom rule {c.id[len('gitleaks:'):]} from the gitleaks configuration: {c.description or 'no description'}.",
        caseless=True, before=256 if keywords else 0, after=1024 if keywords else UNKEYED_WINDOW,
        min_entropy=c.entropy, gitleaks_group=c.secret_group, allowlists=c.allowlists, provider="(gitleaks config)",
        example="(custom)")


_PRINTABLE_BYTES = bytes(sorted(_PRINTABLE))


def _mostly_text(raw: bytes) -> bool:
    """At least 95 % printable ASCII (tab, newline, CR included); counted in C by deleting them."""
    return len(raw) >= 16 and 20 * len(raw.translate(None, _PRINTABLE_BYTES)) <= len(raw)


# Every _B64_RUN and _HEX_RUN match is a stretch of these characters at least 24 long, and their look-arounds
# only test characters of this set: a match lies inside one maximal run of them, and at the run's edges the
# look-arounds see a character outside the set or the edge of the data, which they treat alike. So the two
# regexes run only inside such runs (found by one `translate` and a literal search: ~25x faster than the
# regexes over the whole text), and find exactly the matches they find over the whole data.
_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-"
_RUN_TABLE = bytes(0x61 if c in _RUN_CHARS else 0x20 for c in range(256))
_RUN_24 = re.compile(b"a" * 24 + b"a*")


def _candidate_runs(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every maximal run of _RUN_CHARS at least 24 bytes long."""
    return [m.span() for m in _RUN_24.finditer(data.translate(_RUN_TABLE))]


def _decoded_runs(data: bytes):
    """(how, start, end, decoded text) for base64 / hex runs that decode to text, and for JSON
    documents escaped inside a string."""
    import base64
    import binascii

    runs = _candidate_runs(data)
    for m in (m for start, end in runs for m in _B64_RUN.finditer(data, start, end)):
        run = m.group(0)
        if run.isalpha() or run.isdigit() or len(set(run)) < 10:
            continue
        try:
            raw = (base64.urlsafe_b64decode if (b"-" in run or b"_" in run) else base64.b64decode)(
                run + b"=" * (-len(run) % 4))
        except (binascii.Error, ValueError):
            continue
        if _mostly_text(raw):
            yield "base64", m.start(), m.end(), raw
    for m in (m for start, end in runs if end - start >= 40 for m in _HEX_RUN.finditer(data, start, end)):
        raw = bytes.fromhex(m.group(0).decode())
        if _mostly_text(raw):
            yield "hex", m.start(), m.end(), raw
    for m in _ESCAPED_JSON.finditer(data):
        esc = m.group(0)
        raw = re.sub(rb'\\(["\\/])', rb"\1", esc)
        raw = re.sub(rb"\\n", b"\n", raw)
        if raw != esc:
            yield "escaped JSON", m.start(), m.end(), raw


def _finish(matches: Iterable[Optional[RawMatch]], rules: Sequence[SecretRule]) -> list[RawMatch]:
    return resolve_overlaps([m for m in matches if m is not None], rules)


def resolve_overlaps(matches: Sequence[RawMatch], rules: Sequence[SecretRule] = SECRET_RULES) -> list[RawMatch]:
    """Drop exact duplicates, and generic-rule matches that overlap a provider-rule match."""
    generic_ids = {r.id for r in rules if r.generic}
    provider = sorted({(m.offset, m.offset + m.length) for m in matches if m.rule_id not in generic_ids})
    starts = [p[0] for p in provider]
    max_end, top = [], -1
    for _, end in provider:
        top = max(top, end)
        max_end.append(top)
    out = []
    for m in sorted(set(matches)):
        if m.rule_id in generic_ids:
            i = bisect.bisect_left(starts, m.offset + m.length)
            if i > 0 and max_end[i - 1] > m.offset:
                continue
        out.append(m)
    return out


_SHARED: dict = {}


def shared_engine(gitleaks: Optional[GitleaksConfig] = None) -> Engine:
    """One compiled Engine per (engine choice, gitleaks config) per process: compiling the keyword
    database takes a few hundred milliseconds, and a process may verify many artifacts."""
    key = (os.environ.get(ENV_ENGINE, ""), gitleaks)
    engine = _SHARED.get(key)
    if engine is None:
        if len(_SHARED) >= 8:
            _SHARED.clear()
        engine = _SHARED[key] = Engine(gitleaks=gitleaks)
    return engine


# -- process-parallel scanning ----------------------------------------------------------------

_WORKER: Optional[Engine] = None


def _worker_init(engine_name: str, gitleaks: Optional[GitleaksConfig] = None) -> None:
    global _WORKER
    _WORKER = Engine(engine=engine_name, gitleaks=gitleaks)


def _worker_call(item: tuple[Callable, tuple]) -> object:
    fn, job = item
    assert _WORKER is not None
    return fn(_WORKER, *job)


def worker_count(workers: Optional[int] = None) -> int:
    if workers is not None:
        return max(1, workers)
    try:
        return max(1, int(os.environ.get(ENV_WORKERS, "") or min(2, os.cpu_count() or 1)))
    except ValueError:
        return 1


def _send_frame(fh, obj: object) -> None:
    import pickle
    import struct

    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(struct.pack("<Q", len(data)) + data)
    fh.flush()


def _read_frame(fh) -> object:
    """The next object on `fh`; EOFError when it ended."""
    import pickle
    import struct

    head = fh.read(8)
    if len(head) < 8:
        raise EOFError
    (size,) = struct.unpack("<Q", head)
    data = fh.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _helper_entry() -> None:
    """The helper process (see Helper), on its stdin/stdout: build the Engine, warm up, say so; then run
    batches until told to stop or stdin ends (its parent ended). Ctrl-C is the parent's to handle."""
    import signal
    import sys

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the frames
    try:
        engine_name, gitleaks, warm = _read_frame(inp)
        _worker_init(engine_name, gitleaks)
        assert _WORKER is not None
        _WORKER.precompile()
        if warm is not None:
            warm()
        _send_frame(out, ("ready", None))
        while True:
            msg = _read_frame(inp)
            if msg is None:
                return
            fn, jobs = msg
            try:
                reply = ("ok", [fn(_WORKER, *job) for job in jobs])
            except BaseException as exc:  # noqa: BLE001 - the parent computes the batch itself
                reply = ("error", repr(exc)[:200])
            try:
                _send_frame(out, reply)
            except (TypeError, AttributeError, ValueError) as exc:  # a result that does not pickle
                _send_frame(out, ("error", repr(exc)[:200]))
    except (EOFError, OSError):
        return
    except Exception:  # noqa: BLE001 - e.g. no engine here: no traceback on the user's terminal; the
        return  # parent sees the pipe end and does the work itself


class Helper:
    """One worker process started ahead of a verify (`hardnut build` starts it beside Nuitka's compile),
    its Engine built and `warm` (a module-level function: imports) run, so that map_files can share a
    small artifact's files between this process and it - two cores - without waiting for a worker to
    start. A plain child process (`python -c`, pickled messages on its stdin and stdout: no state shared
    with this one), used only once it is ready; whatever it cannot do (it died, a result does not
    pickle) is done in this process instead. It ends when stopped or when this process ends."""

    def __init__(self, engine: Engine, warm: Optional[Callable] = None) -> None:
        import subprocess
        import sys
        import threading

        import hardnut

        root = os.path.dirname(os.path.dirname(os.path.abspath(hardnut.__file__)))
        code = (f"import sys; sys.path.insert(0, {root!r}); "
                f"from hardnut.secrets.engine import _helper_entry; _helper_entry()")
        self.key = (engine.name, engine.gitleaks)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._ready = threading.Event()
        self._failed = False
        try:
            _send_frame(self.proc.stdin, (engine.name, engine.gitleaks, warm))
        except (OSError, ValueError):
            self._failed = True
            return
        threading.Thread(target=self._await_ready, daemon=True, name="hardnut-helper-start").start()

    def _await_ready(self) -> None:
        try:
            if _read_frame(self.proc.stdout) == ("ready", None):
                self._ready.set()
                return
        except Exception:  # noqa: BLE001 - it died while starting: never used
            pass
        self._failed = True

    def ready(self) -> bool:
        return self._ready.is_set() and not self._failed and self.proc.poll() is None

    def send(self, fn: Callable, jobs: list) -> bool:
        try:
            _send_frame(self.proc.stdin, (fn, jobs))
            return True
        except Exception:  # noqa: BLE001 - it died, or a job does not pickle
            return False

    def receive(self) -> Optional[list]:
        try:
            status, value = _read_frame(self.proc.stdout)
        except Exception:  # noqa: BLE001 - it died, or sent what does not unpickle
            return None
        return value if status == "ok" else None

    def stop(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(5)
        except Exception:  # noqa: BLE001
            pass


_HELPER: Optional[Helper] = None


def start_helper(engine: Engine, warm: Optional[Callable] = None) -> None:
    """Start the process-wide Helper for `engine` (replacing one for another engine)."""
    global _HELPER
    if _HELPER is not None and _HELPER.key == (engine.name, engine.gitleaks) and _HELPER.proc.poll() is None:
        return
    stop_helper()
    try:
        _HELPER = Helper(engine, warm)
    except (OSError, RuntimeError, ValueError):  # no process support (a sandbox): none
        _HELPER = None


def stop_helper() -> None:
    global _HELPER
    helper, _HELPER = _HELPER, None
    if helper is not None:
        helper.stop()


def _with_helper(helper: Helper, fn: Callable, jobs: Sequence[tuple], sizes: Sequence[int], engine: Engine) -> list:
    """The jobs split by size between the helper (the largest first) and this process, which runs its
    share meanwhile; what the helper does not return is computed here."""
    mine, theirs, here, there = [], [], 0, 0
    for i in sorted(range(len(jobs)), key=lambda i: -sizes[i]):
        if there <= here:
            theirs.append(i)
            there += sizes[i]
        else:
            mine.append(i)
            here += sizes[i]
    results: list = [None] * len(jobs)
    sent = helper.send(fn, [jobs[i] for i in theirs])
    try:
        for i in mine:
            results[i] = fn(engine, *jobs[i])
        got = helper.receive() if sent else None
    except BaseException:  # a time budget ran out here: the helper's reply would be read by the next use
        stop_helper()
        raise
    if got is None or len(got) != len(theirs):
        stop_helper()  # out of step with its pipe (or dead): not used again
        got = [fn(engine, *jobs[i]) for i in theirs]
    for i, res in zip(theirs, got):
        results[i] = res
    return results


def map_files(fn: Callable, jobs: Sequence[tuple], sizes: Sequence[int], engine: Optional[Engine] = None,
              workers: Optional[int] = None) -> list:
    """`fn(engine, *job)` for every job, results in job order. Runs in worker processes (each
    with its own Engine) when the total size is large; shared with the Helper (start_helper) when
    one is ready for this engine; in-process otherwise. `fn` must be a module-level function.
    Deterministic either way."""
    engine = engine or Engine()
    workers = worker_count(workers)
    if workers <= 1 or sum(sizes) < PARALLEL_MIN_BYTES or len(jobs) < 2:
        helper = _HELPER
        if (helper is not None and workers > 1 and len(jobs) >= 2 and sum(sizes) >= HELPER_MIN_BYTES
                and helper.key == (engine.name, engine.gitleaks) and helper.ready()):
            return _with_helper(helper, fn, jobs, sizes, engine)
        return [fn(engine, *job) for job in jobs]
    order = sorted(range(len(jobs)), key=lambda i: -sizes[i])  # biggest first: workers finish together
    results: list = [None] * len(jobs)
    from concurrent.futures import ProcessPoolExecutor  # here: multiprocessing costs ~50 ms to import

    try:
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init,
                                 initargs=(engine.name, engine.gitleaks)) as pool:
            for i, res in zip(order, pool.map(_worker_call, [(fn, jobs[i]) for i in order], chunksize=2)):
                results[i] = res
    except (OSError, RuntimeError):  # no process support (sandbox): in-process
        return [fn(engine, *job) for job in jobs]
    return results


def _scan_file_job(engine: Engine, path: str, max_bytes: Optional[int]) -> FileScan:
    return engine.scan_file(Path(path), max_bytes)


def scan_paths(jobs: Sequence[tuple[str, Path]], max_bytes: Optional[int] = None,
               engine: Optional[Engine] = None, workers: Optional[int] = None) -> dict[str, FileScan]:
    """Scan many files (key, path); uses worker processes when the total size is large."""
    sizes = []
    for _key, path in jobs:
        try:
            sizes.append(min(os.path.getsize(path), max_bytes or 1 << 62))
        except OSError:
            sizes.append(0)
    results = map_files(_scan_file_job, [(str(p), max_bytes) for _k, p in jobs], sizes, engine, workers)
    return {key: res for (key, _p), res in zip(jobs, results)}
