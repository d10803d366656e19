"""ELF facts with pyelftools: what the loader and a reverse engineer would see. No judgement here.

Hot tables (headers, dynamic tags, version needs, dynamic symbols, top DWARF DIEs) are read with `struct`
over the bytes; anything unusual goes through pyelftools exactly as before (same facts, same errors).

`inspect_elf(path) -> ElfFacts`. Every failure to parse (truncated, corrupted, hostile, too slow) raises
`BinaryParseError` (or its subclass `BinaryLimitError` when a bound was hit); nothing else escapes.
Everything is bounded: header counts are validated before pyelftools iterates them, loops are capped,
DWARF is read only for the first few compilation units and never through external debug links, and the
string scan for build-host paths reads at most `max_scan_bytes`.

The build-path scanner (`scan_build_paths`) and the exception types are shared with `hardnut.inspect.pe`.
"""

from __future__ import annotations

import mmap
import os
import re
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

__all__ = [
    "BinaryParseError",
    "BinaryLimitError",
    "StringHit",
    "DwarfUnit",
    "ElfFacts",
    "inspect_elf",
    "scan_build_paths",
    "GLIBC_CHK_FUNCTIONS",
]

DEFAULT_SCAN_BYTES = 64 * 1024**2  # build-path string scan; callers pass Limits.max_scan_bytes
DEFAULT_TIMEOUT = 60.0  # seconds per file
DEFAULT_MAX_CUS = 16  # DWARF compilation units whose top DIE is read

_MAX_SECTIONS = 100_000
_MAX_SEGMENTS = 10_000
_MAX_DYN_TAGS = 100_000
_MAX_SYMBOLS = 500_000
_MAX_VERNEED = 1_000
_MAX_VERNAUX = 1_000
_MAX_DEBUG_SECTION = 256 * 1024**2  # (decompressed) bytes of one debug section we let pyelftools load
_MAX_DEBUG_TOTAL = 256 * 1024**2  # decompressed bytes of all debug sections of one file together
_MAX_DEBUG_RATIO = 200  # decompressed / compressed bytes of one file's debug sections (judged past 16 MiB)
_DEBUG_RATIO_FLOOR = 16 * 1024**2
ELFCOMPRESS_ZLIB, ELFCOMPRESS_ZSTD = 1, 2
_MAX_PATH_HITS = 32  # distinct build paths kept per file
_MAX_PATH_COUNT = 100_000  # matches counted before the scan stops

# Dynamic-section flag bits (elf.h)
DF_TEXTREL = 0x4
DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_PIE = 0x08000000
PF_X, PF_W = 0x1, 0x2

# glibc's fortified entry points (`__X_chk`), as exported by glibc 2.36-2.40 on x86_64. checksec counts an
# imported `__X_chk` as "fortified" and an imported plain `X` as "fortifiable" (a call FORTIFY_SOURCE
# could have checked but did not). Shipping the list keeps the facts independent of the host's libc.
GLIBC_CHK_FUNCTIONS = frozenset(
    "__" + name + "_chk"
    for name in """
    asprintf confstr dprintf explicit_bzero fdelt fgets fgets_unlocked fgetws fgetws_unlocked fprintf
    fread fread_unlocked fwprintf getcwd getdomainname getgroups gethostname getlogin_r gets getwd
    longjmp mbsnrtowcs mbsrtowcs mbstowcs memcpy memmove mempcpy memset obstack_printf obstack_vprintf
    poll ppoll pread64 pread printf ptsname_r read readlink readlinkat realpath recv recvfrom snprintf
    sprintf stpcpy stpncpy strcat strcpy strlcat strlcpy strncat strncpy swprintf syslog ttyname_r
    vasprintf vdprintf vfprintf vfwprintf vprintf vsnprintf vsprintf vswprintf vsyslog vwprintf wcpcpy
    wcpncpy wcrtomb wcscat wcscpy wcslcat wcslcpy wcsncat wcsncpy wcsnrtombs wcsrtombs wcstombs wctomb
    wmemcpy wmemmove wmempcpy wmemset wprintf
    """.split()
)
_FORTIFIABLE = {chk[2:-4]: chk for chk in GLIBC_CHK_FUNCTIONS}
SHF_EXECINSTR = 0x4
CANARY_SYMBOLS = ("__stack_chk_fail", "__stack_chk_guard", "__stack_chk_fail_local", "__intel_security_cookie")


class BinaryParseError(Exception):
    """The file is not a binary hardnut can parse (truncated, corrupted, hostile). The message is one
    line, safe to show to users."""


class BinaryLimitError(BinaryParseError):
    """A bound was hit while parsing (time, counts); what lies beyond was not inspected."""


@dataclass(frozen=True)
class StringHit:
    """A string found in the file's bytes: its file offset, its length in bytes, and its text."""

    offset: int
    length: int
    text: str


@dataclass(frozen=True)
class DwarfUnit:
    """The top DIE of a DWARF compilation unit: DW_AT_name and DW_AT_comp_dir (None when absent)."""

    name: Optional[str]
    comp_dir: Optional[str]
    comp_dir_offset: Optional[int] = None  # file offset of the comp_dir bytes, when stored uncompressed


@dataclass(frozen=True)
class ElfFacts:
    """What an ELF file says about itself: its headers, dependencies, hardening, symbols and debug data."""

    size: int
    elf_class: int  # 32 or 64
    little_endian: bool
    machine: str  # pyelftools' e_machine name, e.g. "EM_X86_64"
    elf_type: str  # "ET_EXEC", "ET_DYN", "ET_REL", "ET_CORE" (or the raw number as text)
    interpreter: Optional[str]
    is_pie: bool  # ET_DYN with an interpreter or DF_1_PIE (checksec's definition)
    is_executable: bool  # ET_EXEC, or PIE
    has_dynamic: bool  # False for static executables
    needed: tuple[str, ...]
    rpath: tuple[str, ...]  # DT_RPATH split on ':' (empty entries kept: they mean the current directory)
    runpath: tuple[str, ...]
    soname: Optional[str]
    flags: int  # DT_FLAGS
    flags_1: int  # DT_FLAGS_1
    bind_now: bool  # DT_BIND_NOW, DF_BIND_NOW or DF_1_NOW
    has_relro: bool  # a PT_GNU_RELRO segment
    has_gnu_stack: bool
    stack_executable: bool  # PT_GNU_STACK has PF_X, or there is no PT_GNU_STACK at all
    rwx_segments: tuple[int, ...]  # indices of PT_LOAD segments both writable and executable
    textrel: bool  # DT_TEXTREL or DF_TEXTREL
    has_symtab: bool  # a .symtab section (not stripped)
    debug_sections: tuple[str, ...]  # .debug_* / .zdebug_* sections with contents
    dwarf_units: tuple[DwarfUnit, ...]  # first max_cus compilation units
    dwarf_more_units: bool  # there were more CUs than were read
    dwarf_error: Optional[str]  # why DWARF could not be read (sections are still listed)
    imports: tuple[str, ...]  # undefined dynamic symbols (sorted, without version)
    canary_symbols: tuple[str, ...]  # stack protector symbols present (dynsym or .symtab)
    fortified: tuple[str, ...]  # imported __X_chk functions (checksec: "fortified")
    fortifiable: tuple[str, ...]  # imported X that glibc also offers as __X_chk (checksec: "fortifiable")
    version_needs: tuple[tuple[str, tuple[str, ...]], ...]  # (library, (version names...)) from .gnu.version_r
    build_paths: tuple[StringHit, ...]  # distinct build-host paths in the bytes (first few)
    build_path_count: int  # all matches counted
    scanned_bytes: int
    scan_truncated: bool  # the file is larger than the bytes scanned
    # a separate debug file: DWARF, but no code with contents (objcopy --only-keep-debug leaves .text as
    # NOBITS; split-DWARF .dwo/.dwp files have no code sections at all). Not loadable code.
    debug_only: bool = False
    dwarf_limit: Optional[str] = None  # DWARF not read because a decompression bound was hit

    @property
    def stripped(self) -> bool:
        return not self.has_symtab

    @property
    def glibc_versions(self) -> tuple[str, ...]:
        """Every GLIBC_x.y version required, over all libraries (sorted by version)."""
        found = {v for _, vs in self.version_needs for v in vs if parse_glibc_version(v) is not None}
        return tuple(sorted(found, key=lambda v: parse_glibc_version(v) or ()))

    @property
    def glibc_max(self) -> Optional[str]:
        """The highest glibc release required, as "2.34" (None when nothing versioned is needed)."""
        best: Optional[tuple[int, ...]] = None
        for v in self.glibc_versions:
            parsed = parse_glibc_version(v)
            if parsed is not None and (best is None or parsed > best):
                best = parsed
        return ".".join(map(str, best)) if best else None


def parse_glibc_version(name: str) -> Optional[tuple[int, ...]]:
    """'GLIBC_2.34' -> (2, 34); 'GLIBC_ABI_DT_RELR' -> (2, 36) (the release that introduced it); else None."""
    if name == "GLIBC_ABI_DT_RELR":
        return (2, 36)
    m = re.fullmatch(r"GLIBC_(\d+(?:\.\d+){1,3})", name)
    return tuple(int(p) for p in m.group(1).split(".")) if m else None


# ----------------------------------------------------------------------------------------------- strings

_PATHCH = rb"A-Za-z0-9._+@~%=,/-"
# a path component with something other than dots in it: "/build/..." and "/home/..." are placeholders in
# text (help messages, docs), no folder of a build host
_NAME = rb"\.*[A-Za-z0-9_-][A-Za-z0-9._-]*"
_NAME_PLUS = rb"\.*[A-Za-z0-9_+-][A-Za-z0-9._+-]*"
_POSIX_RE = re.compile(
    rb"/(?:home/" + _NAME + rb"|root/" + _NAME + rb"|tmp/" + _NAME_PLUS + rb"/" + _NAME_PLUS
    + rb"|build/" + _NAME_PLUS + rb"|usr/src/" + _NAME_PLUS + rb")[" + _PATHCH + rb"]{0,240}"
)
_WIN_RE = re.compile(
    rb"[A-Za-z]:[\\/](?:[Uu]sers|USERS|Documents and Settings)[\\/][^\\/\x00-\x1f\"<>|*?:]{1,64}"
    rb"(?:[\\/][^\\/\x00-\x1f\"<>|*?:]{1,128}){0,16}"
)
_W16_RE = re.compile(rb"[A-Za-z]\x00:\x00[\\/]\x00[Uu]\x00[Ss]\x00[Ee]\x00[Rr]\x00[Ss]\x00[\\/]\x00(?:[\x20-\x7e]\x00){1,240}")
# Literal anchors found with bytes.find (fast), then the full pattern is matched at each:
# (literal, pattern, how many bytes the match starts before the literal)
_ANCHORS = tuple(
    [(lit, _POSIX_RE, 0) for lit in (b"/home/", b"/root/", b"/tmp/", b"/build/", b"/usr/src/")]
    + [(b":" + sep + name + sep, _WIN_RE, 1) for sep in (b"\\", b"/") for name in (b"Users", b"users", b"USERS")]
    + [(b":\\Documents and Settings\\", _WIN_RE, 1)]
    + [(":\\Users\\".encode("utf-16-le"), _W16_RE, 2), (":\\users\\".encode("utf-16-le"), _W16_RE, 2)]
)
_PATH_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~/-")
_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_BAD_WIN = re.compile(r'["<>|*?]')


def _find_all(buf: Any, lit: bytes, end: int) -> Iterator[int]:
    i = buf.find(lit, 0, end)
    while i >= 0:
        yield i
        i = buf.find(lit, i + 1, end)


_AUTOMATON: list = []
_ANCHOR_WINDOW = 1 << 20


_HS_ANCHORS: list = []


def _hs_anchor_positions(buf: Any, end: int) -> Optional[list[list[int]]]:
    """_anchor_positions with a hyperscan literal database (about 3x faster than the automaton on
    shared objects); None without hyperscan. Same lists: per anchor, its first _MAX_PATH_COUNT
    positions; once the first anchor has that many, the rest of its 1 MiB window still counts (as in
    the automaton's windowed pass) and nothing after it."""
    if not _HS_ANCHORS:
        try:
            import hyperscan

            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            lits = [lit for lit, _, _ in _ANCHORS]
            db.compile(expressions=[b"".join(b"\\x%02x" % c for c in lit) for lit in lits],
                       ids=list(range(len(lits))), elements=len(lits), flags=[0] * len(lits))
            _HS_ANCHORS.append(db)
        except Exception:  # ImportError, or a CPU hyperscan does not support
            _HS_ANCHORS.append(None)
    db = _HS_ANCHORS[0]
    if db is None:
        return None
    longest = max(len(lit) for lit, _, _ in _ANCHORS)
    lens = [len(lit) for lit, _, _ in _ANCHORS]
    out: list[list[int]] = [[] for _ in _ANCHORS]
    stop = [end]  # the end of the window in which the first anchor reached its count

    def on_match(k: int, _start: int, e: int, _flags: int, _ctx: object) -> Optional[bool]:
        start = e - lens[k]
        if e >= stop[0] + longest:
            return True  # nothing later can start before the stop: end the scan
        if start < stop[0] and len(out[k]) < _MAX_PATH_COUNT:
            out[k].append(start)
            if k == 0 and len(out[0]) >= _MAX_PATH_COUNT:
                stop[0] = min(end, (start // _ANCHOR_WINDOW + 1) * _ANCHOR_WINDOW)
        return None

    import hyperscan

    view = memoryview(buf)[:end]
    try:
        db.scan(view, match_event_handler=on_match)
    except hyperscan.ScanTerminated:
        pass  # on_match ended it: the lists are complete
    finally:
        view.release()
    return out


def _anchor_positions(buf: Any, end: int) -> Optional[list[list[int]]]:
    """Every occurrence (overlapping ones included) of each anchor in buf[:end], in one pass of a
    hyperscan database or an Aho-Corasick automaton (ahocorasick-rs) instead of one `find` pass per
    anchor; None without either."""
    fast = _hs_anchor_positions(buf, end)
    if fast is not None:
        return fast
    if not _AUTOMATON:
        try:
            import ahocorasick_rs

            _AUTOMATON.append(ahocorasick_rs.BytesAhoCorasick(
                [lit for lit, _, _ in _ANCHORS], matchkind=ahocorasick_rs.MATCHKIND_STANDARD))
        except ImportError:
            _AUTOMATON.append(None)
    automaton = _AUTOMATON[0]
    if automaton is None:
        return None
    longest = max(len(lit) for lit, _, _ in _ANCHORS)
    out: list[list[int]] = [[] for _ in _ANCHORS]
    view = memoryview(buf)
    try:
        # 1 MiB windows (overlapping by the longest anchor) bound the match list a hostile file can
        # produce; each anchor keeps at most _MAX_PATH_COUNT positions, all the caller can use
        for base in range(0, end, _ANCHOR_WINDOW):
            stop = min(end, base + _ANCHOR_WINDOW)
            for k, start, _end in automaton.find_matches_as_indexes(view[base:min(end, stop + longest - 1)],
                                                                    overlapping=True):
                if base + start < stop and len(out[k]) < _MAX_PATH_COUNT:
                    out[k].append(base + start)
            if len(out[0]) >= _MAX_PATH_COUNT:
                break  # the first anchor alone fills the count: later bytes cannot change the result
    finally:
        view.release()
    for positions in out:
        positions.sort()
    return out


def scan_build_paths(
    buf: Any, end: int, deadline: Optional[float] = None
) -> tuple[tuple[StringHit, ...], int]:
    """Find absolute build-host paths (/home/<user>, /root/…, /tmp/<a>/<b>, /build/…, /usr/src/…,
    C:\\Users\\… in ASCII and UTF-16LE) in buf[:end]. Returns (first distinct hits, total matches).

    A match glued to a longer path (e.g. /usr/local/build/x) is skipped, except after -I/-L (compiler flags
    baked into sysconfig data)."""
    starts: list[tuple[int, Any]] = []
    found = _anchor_positions(buf, end)
    for k, (lit, pattern, back) in enumerate(_ANCHORS):
        positions = found[k] if found is not None else _find_all(buf, lit, end)
        for i in positions:
            if len(starts) >= _MAX_PATH_COUNT:
                break
            if i >= back:
                starts.append((i - back, pattern))
    starts.sort(key=lambda item: item[0])
    hits: list[StringHit] = []
    seen: set[str] = set()
    total = 0
    covered = -1
    for n, (start, pattern) in enumerate(starts):
        if deadline is not None and not n % 256 and time.monotonic() > deadline:
            raise BinaryLimitError("time limit reached while scanning strings")
        if start < covered:
            continue
        m = pattern.match(buf, start, end)
        if m is None:
            continue
        prev = buf[start - 1] if start else 0
        if pattern is _POSIX_RE:
            if prev in _PATH_BYTES and not (start >= 2 and bytes(buf[start - 2:start]) in (b"-I", b"-L")):
                continue
            text = m.group().decode("ascii", "replace").rstrip(".,=")
        elif pattern is _WIN_RE:
            if prev in _ALNUM:
                continue
            text = m.group().decode("utf-8", "backslashreplace").rstrip(" .")
        else:
            text = m.group().decode("utf-16-le", "replace")
            bad = _BAD_WIN.search(text)
            text = (text[:bad.start()] if bad else text).rstrip(" .")
        covered = m.end()
        total += 1
        if text not in seen and len(hits) < _MAX_PATH_HITS:
            seen.add(text)
            hits.append(StringHit(start, m.end() - start, text[:260]))
    return tuple(hits), total


# --------------------------------------------------------------------------------------------- the parse


class _Clock:
    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout

    def tick(self, i: int = 0) -> None:
        if not i % 512 and time.monotonic() > self.deadline:
            raise BinaryLimitError("time limit reached while parsing")


def _s(value: Union[str, bytes, None]) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def inspect_elf(
    path: Union[str, Path],
    *,
    max_scan_bytes: int = DEFAULT_SCAN_BYTES,
    max_cus: int = DEFAULT_MAX_CUS,
    timeout: float = DEFAULT_TIMEOUT,
) -> ElfFacts:
    """Read the facts of one ELF file. Raises BinaryParseError for anything unparseable."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 52:
                raise BinaryParseError(f"too short for an ELF header ({size} bytes)")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                if mm[:4] != b"\x7fELF":
                    raise BinaryParseError("not an ELF file (bad magic)")
                return _inspect(mm, size, max_scan_bytes, max_cus, _Clock(timeout))
    except BinaryParseError:
        raise
    except OSError as exc:
        raise BinaryParseError(f"cannot read file: {exc.strerror or exc}") from None
    except RecursionError:
        raise BinaryParseError("malformed ELF (nesting too deep)") from None
    except MemoryError:
        raise BinaryParseError("malformed ELF (implausible sizes)") from None
    except Exception as exc:  # pyelftools raises many types on hostile input: one documented type out
        raise BinaryParseError(f"malformed ELF: {type(exc).__name__}: {_short(exc)}") from None


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] + ("…" if len(text) > 160 else "")


def _inspect(mm: mmap.mmap, size: int, max_scan_bytes: int, max_cus: int, clock: _Clock) -> ElfFacts:
    elf = _open_elf(mm, size)
    hdr = elf.header
    # Validate the counts pyelftools would otherwise trust (a zero entry size makes it loop on one entry).
    nsec = elf.num_sections()
    if nsec:
        if hdr["e_shentsize"] < (40 if elf.elfclass == 32 else 64):
            raise BinaryParseError(f"bad section header entry size {hdr['e_shentsize']}")
        if nsec > _MAX_SECTIONS or hdr["e_shoff"] + nsec * hdr["e_shentsize"] > size:
            raise BinaryParseError(f"section header table ({nsec} entries) does not fit the file")
    nseg = elf.num_segments()
    if nseg:
        if hdr["e_phentsize"] < (32 if elf.elfclass == 32 else 56):
            raise BinaryParseError(f"bad program header entry size {hdr['e_phentsize']}")
        if nseg > _MAX_SEGMENTS or hdr["e_phoff"] + nseg * hdr["e_phentsize"] > size:
            raise BinaryParseError(f"program header table ({nseg} entries) does not fit the file")

    fast = _fast_headers(mm, size, elf, nseg, nsec, clock)
    if fast is not None:
        seg_types, sections = fast
    else:
        seg_types, sections = _slow_headers(mm, size, elf, nseg, nsec, clock)

    # ---- segments
    interpreter: Optional[str] = None
    has_relro = has_gnu_stack = False
    stack_exec = True  # no PT_GNU_STACK: the kernel/loader default is an executable stack
    rwx: list[int] = []
    dyn_index: Optional[int] = None
    for i, (ptype, pflags, poffset, pfilesz) in enumerate(seg_types):
        if ptype == _PT_INTERP:  # raw bytes, decoded leniently: one odd byte must not make the file unreadable
            start, length = int(poffset), min(int(pfilesz), 4096)
            raw = mm[start:start + length] if 0 <= start < size else b""
            interpreter = _s(raw.split(b"\0", 1)[0])
        elif ptype == _PT_GNU_RELRO:
            has_relro = True
        elif ptype == _PT_GNU_STACK:
            has_gnu_stack = True
            stack_exec = bool(pflags & PF_X)
        elif ptype == _PT_LOAD:
            if pflags & PF_W and pflags & PF_X:
                rwx.append(i)
        elif ptype == _PT_DYNAMIC:
            dyn_index = i

    # ---- sections
    by_type: dict[Any, list[Any]] = {}
    for sec in sections:
        by_type.setdefault(sec["sh_type"], []).append(sec)
    has_symtab = bool(by_type.get("SHT_SYMTAB"))
    debug_secs = [
        sec for sec in sections
        if sec.name.startswith((".debug_", ".zdebug_")) and sec["sh_type"] != "SHT_NOBITS" and sec["sh_size"] > 0
    ]

    # ---- dynamic tags
    dyn_section = by_type["SHT_DYNAMIC"][0] if by_type.get("SHT_DYNAMIC") else None
    has_dynamic = dyn_section is not None or dyn_index is not None
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    soname: Optional[str] = None
    flags = flags_1 = 0
    bind_now = textrel = False
    tags = None
    if isinstance(dyn_section, _Sec) and 0 <= dyn_section["sh_link"] < len(sections):
        tags = _fast_dynamic(mm, size, elf, dyn_section, sections[dyn_section["sh_link"]], clock)
    if tags is not None:
        needed, rpath, runpath, soname, flags, flags_1, bind_now, textrel = tags
    elif has_dynamic:
        dynamic = _real(dyn_section) if dyn_section is not None else elf.get_segment(dyn_index)
        for i, tag in enumerate(dynamic.iter_tags()):
            clock.tick(i)
            if i >= _MAX_DYN_TAGS:
                raise BinaryLimitError("too many dynamic tags")
            t = tag.entry.d_tag
            if t == "DT_NULL":
                break
            if t == "DT_NEEDED":
                needed.append(_s(tag.needed) or "")
            elif t == "DT_RPATH":
                rpath.extend((_s(tag.rpath) or "").split(":"))
            elif t == "DT_RUNPATH":
                runpath.extend((_s(tag.runpath) or "").split(":"))
            elif t == "DT_SONAME":
                soname = _s(tag.soname)
            elif t == "DT_FLAGS":
                flags |= int(tag.entry.d_val)
            elif t == "DT_FLAGS_1":
                flags_1 |= int(tag.entry.d_val)
            elif t == "DT_BIND_NOW":
                bind_now = True
            elif t == "DT_TEXTREL":
                textrel = True
    bind_now = bind_now or bool(flags & DF_BIND_NOW) or bool(flags_1 & DF_1_NOW)
    textrel = textrel or bool(flags & DF_TEXTREL)

    # ---- dynamic symbols
    imports: set[str] = set()
    dyn_names: set[str] = set()
    dynsym = by_type["SHT_DYNSYM"][0] if by_type.get("SHT_DYNSYM") else None
    symbol_source = dynsym if dynsym is not None else (
        elf.get_segment(dyn_index) if nsec == 0 and dyn_index is not None else None)
    fast = _dynamic_symbols(mm, size, elf, dynsym) if dynsym is not None else None
    if fast is not None:
        dyn_names, imports = fast
    elif symbol_source is not None:
        for i, sym in enumerate(_real(symbol_source).iter_symbols()):
            clock.tick(i)
            if i >= _MAX_SYMBOLS:
                raise BinaryLimitError("too many dynamic symbols")
            name = sym.name
            if not name:
                continue
            dyn_names.add(name)
            if sym["st_shndx"] == "SHN_UNDEF":
                imports.add(name)
    canary = {n for n in CANARY_SYMBOLS if n in dyn_names}
    if has_symtab and len(canary) < len(CANARY_SYMBOLS):
        # Look the names up in .symtab's string table instead of iterating every symbol.
        for sec in by_type["SHT_SYMTAB"]:
            strtab = sections[sec["sh_link"]] if 0 < sec["sh_link"] < len(sections) else None
            if strtab is None or strtab["sh_type"] != "SHT_STRTAB" or strtab["sh_size"] > _MAX_DEBUG_SECTION:
                continue
            data = strtab.data()
            # .symtab names of imported symbols carry their version: "__stack_chk_fail@GLIBC_2.4"
            canary |= {n for n in CANARY_SYMBOLS
                       if b"\0" + n.encode() + b"\0" in data or b"\0" + n.encode() + b"@" in data}
    fortified = sorted(n for n in imports if n in GLIBC_CHK_FUNCTIONS)
    fortifiable = sorted(n for n in imports if n in _FORTIFIABLE)

    # ---- symbol versions needed
    version_needs: list[tuple[str, tuple[str, ...]]] = []
    for sec in by_type.get("SHT_GNU_verneed", []):
        fast_needs = _fast_verneed(mm, size, elf, sec, sections, clock) if isinstance(sec, _Sec) else None
        if fast_needs is not None:
            version_needs.extend(fast_needs)
            continue
        for i, (verneed, auxs) in enumerate(_real(sec).iter_versions()):
            clock.tick(i)
            if i >= _MAX_VERNEED:
                raise BinaryLimitError("too many version-needed entries")
            names: list[str] = []
            for j, aux in enumerate(auxs):
                if j >= _MAX_VERNAUX:
                    raise BinaryLimitError("too many version-needed auxiliary entries")
                names.append(_s(aux.name) or "")
            version_needs.append((_s(verneed.name) or "", tuple(names)))

    # ---- DWARF (bounded, best effort: a broken DWARF does not make the binary unreadable)
    units: list[DwarfUnit] = []
    more_units = False
    dwarf_error: Optional[str] = None
    dwarf_limit: Optional[str] = None
    if debug_secs and max_cus > 0:
        try:
            units, more_units = _read_units(_real_elf(elf), mm, debug_secs, max_cus, clock)
        except _DebugLimit as exc:
            dwarf_limit = str(exc)
        except BinaryLimitError:
            raise
        except Exception as exc:  # noqa: BLE001 - pyelftools' DWARF errors are many and untyped
            dwarf_error = f"{type(exc).__name__}: {_short(exc)}"

    # ---- build-host paths in the raw bytes
    end = min(size, max(0, max_scan_bytes))
    hits, count = scan_build_paths(mm, end, clock.deadline)

    etype = hdr["e_type"]
    elf_type = etype if isinstance(etype, str) else str(etype)
    is_pie = elf_type == "ET_DYN" and (interpreter is not None or bool(flags_1 & DF_1_PIE))
    has_code = any(sec["sh_flags"] & SHF_EXECINSTR and sec["sh_type"] != "SHT_NOBITS" and sec["sh_size"] > 0
                   for sec in sections)
    debug_only = bool(debug_secs) and not has_code
    return ElfFacts(
        size=size,
        elf_class=elf.elfclass,
        little_endian=elf.little_endian,
        machine=str(hdr["e_machine"]),
        elf_type=elf_type,
        interpreter=interpreter,
        is_pie=is_pie,
        is_executable=(elf_type == "ET_EXEC" or is_pie) and not debug_only,
        has_dynamic=has_dynamic,
        needed=tuple(needed),
        rpath=tuple(rpath),
        runpath=tuple(runpath),
        soname=soname,
        flags=flags,
        flags_1=flags_1,
        bind_now=bind_now,
        has_relro=has_relro,
        has_gnu_stack=has_gnu_stack,
        stack_executable=stack_exec,
        rwx_segments=tuple(rwx),
        textrel=textrel,
        has_symtab=has_symtab,
        debug_sections=tuple(sec.name for sec in debug_secs),
        dwarf_units=tuple(units),
        dwarf_more_units=more_units,
        dwarf_error=dwarf_error,
        imports=tuple(sorted(imports)),
        canary_symbols=tuple(n for n in CANARY_SYMBOLS if n in canary),
        fortified=tuple(fortified),
        fortifiable=tuple(fortifiable),
        version_needs=tuple(version_needs),
        build_paths=hits,
        build_path_count=count,
        scanned_bytes=end,
        scan_truncated=end < size,
        debug_only=debug_only,
        dwarf_limit=dwarf_limit,
    )


# ---- the ELF header with `struct`: building pyelftools' ELFFile (its construct structs for every table
# type) costs more than everything else it is still used for on a plain library, so the file is opened
# by pyelftools only when one of its objects is needed (odd tables, symbols without a plain .dynsym, DWARF).

_EHDR = {32: "HHIIIIIHHHHHH", 64: "HHIQQQIHHHHHH"}
_EHDR_KEYS = ("e_type", "e_machine", "e_version", "e_entry", "e_phoff", "e_shoff", "e_flags", "e_ehsize",
              "e_phentsize", "e_phnum", "e_shentsize", "e_shnum", "e_shstrndx")
_ENUM_NAMES: dict[str, dict[int, str]] = {}


def _enum_names(which: str) -> dict[int, str]:
    """pyelftools' decoding of one header enum (construct's Enum: the last name of a value wins)."""
    names = _ENUM_NAMES.get(which)
    if names is None:
        from elftools.elf import enums

        names = {v: k for k, v in getattr(enums, which).items() if k != "_default_"}
        _ENUM_NAMES[which] = names
    return names


class _LazyElf:
    """The ELF header read with `struct` (what `_inspect` uses: `header`, `elfclass`, `little_endian`,
    `num_sections`, `num_segments`); anything else is asked of pyelftools' ELFFile, built on first use."""

    def __init__(self, mm: mmap.mmap, header: dict, elfclass: int, little_endian: bool) -> None:
        self._mm, self.header, self.elfclass, self.little_endian = mm, header, elfclass, little_endian
        self._elf: Any = None

    def real(self) -> Any:
        if self._elf is None:
            from elftools.elf.elffile import ELFFile

            self._elf = ELFFile(self._mm)  # no stream_loader: pyelftools never opens another file for us
        return self._elf

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.real(), name)

    def num_sections(self) -> int:
        if self.header["e_shoff"] == 0:
            return 0
        return self.header["e_shnum"] or self.real().num_sections()

    def num_segments(self) -> int:
        return self.header["e_phnum"] if self.header["e_phnum"] < 0xFFFF else self.real().num_segments()


def _open_elf(mm: mmap.mmap, size: int) -> Any:
    """A `_LazyElf` for a header pyelftools reads without complaint, else pyelftools' ELFFile (which raises
    its errors or reads the odd header its way)."""
    import struct

    elfclass = {1: 32, 2: 64}.get(mm[4])
    little = {1: True, 2: False}.get(mm[5])
    if elfclass is not None and little is not None and size >= (52 if elfclass == 32 else 64):
        values = struct.unpack_from(("<" if little else ">") + _EHDR[elfclass], mm, 16)
        header = dict(zip(_EHDR_KEYS, values))
        header["e_type"] = _enum_names("ENUM_E_TYPE").get(values[0], values[0])
        header["e_machine"] = _enum_names("ENUM_E_MACHINE").get(values[1], values[1])
        header["e_version"] = _enum_names("ENUM_E_VERSION").get(values[2], values[2])
        return _LazyElf(mm, header, elfclass, little)
    from elftools.elf.elffile import ELFFile

    return ELFFile(mm)


def _real_elf(elf: Any) -> Any:
    return elf.real() if isinstance(elf, _LazyElf) else elf


def _real(obj: Any) -> Any:
    """The pyelftools object behind a `_Sec` (pyelftools objects pass through)."""
    return obj.real() if isinstance(obj, _Sec) else obj


def _slow_headers(mm: mmap.mmap, size: int, elf: Any, nseg: int, nsec: int, clock: _Clock
                  ) -> tuple[list[tuple[int, int, int, int]], list[Any]]:
    """The headers through pyelftools, with its checks and errors (what `_fast_headers` declined)."""
    from elftools.elf.enums import ENUM_P_TYPE_BASE

    segments: list[tuple[int, int, int, int]] = []
    for i in range(nseg):
        clock.tick(i)
        seg = elf.get_segment(i)
        ptype = seg["p_type"]
        if seg["p_filesz"] and seg["p_offset"] + seg["p_filesz"] > size:
            raise BinaryParseError(f"truncated: segment {i} ({ptype}) extends beyond the end of the file")
        number = ENUM_P_TYPE_BASE.get(ptype, -1) if isinstance(ptype, str) else ptype
        segments.append((number, seg["p_flags"], seg["p_offset"], seg["p_filesz"]))
    sections: list[Any] = []
    for i in range(nsec):
        clock.tick(i)
        sec = elf.get_section(i)
        if sec["sh_type"] != "SHT_NOBITS" and sec["sh_size"] and sec["sh_offset"] + sec["sh_size"] > size:
            raise BinaryParseError(f"truncated: section {i} ({sec.name}) extends beyond the end of the file")
        sections.append(sec)
    return segments, sections


# ---- program and section headers with `struct` (pyelftools parses each header, and builds each section
# object with its links and hash tables, with construct: most of the time of a verify of a dist). The
# fast reader handles plain, well-formed tables; anything pyelftools would refuse or treat specially
# (extended numbering, links to the wrong section type, tables outside the file, odd entry sizes, ARM/RISC-V
# attributes, .stab) returns None and the headers are read by pyelftools exactly as before, with its
# errors. The checks below mirror what pyelftools' section constructors read at creation.

# Elf_Phdr (p_type, p_flags, p_offset, p_filesz) and Elf_Shdr field orders, per class
_PHDR = {32: ("IIIIIIII", (0, 6, 1, 4)), 64: ("IIQQQQQQ", (0, 1, 2, 5))}
_SHDR = {32: "IIIIIIIIII", 64: "IIQQQQIIQQ"}
_SHDR_KEYS = ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link", "sh_info",
              "sh_addralign", "sh_entsize")
_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_PT_GNU_STACK, _PT_GNU_RELRO = 0x6474E551, 0x6474E552
_SHT_NULL, _SHT_SYMTAB, _SHT_STRTAB, _SHT_RELA, _SHT_HASH, _SHT_DYNAMIC = 0, 2, 3, 4, 5, 6
_SHT_NOBITS, _SHT_REL, _SHT_DYNSYM, _SHT_RELR = 8, 9, 11, 19
_SHT_GNU_HASH, _SHT_VERDEF, _SHT_VERNEED, _SHT_VERSYM = 0x6FFFFFF6, 0x6FFFFFFD, 0x6FFFFFFE, 0x6FFFFFFF
# types whose pyelftools objects read more than their header at creation in ways not mirrored here
_SHT_UNHANDLED = frozenset({0x6FFFFFF3, 0x6FFFFFFC, 0x70000003})  # SUNW_LDYNSYM, SUNW_syminfo, ARM/RISCV attrs
_SHT_NAMES: dict[int, str] = {}


def _sht_names() -> dict[int, str]:
    if not _SHT_NAMES:
        from elftools.elf.enums import ENUM_SH_TYPE_BASE

        _SHT_NAMES.update({v: k for k, v in ENUM_SH_TYPE_BASE.items() if isinstance(v, int) and k != "_default_"})
    return _SHT_NAMES


class _Sec:
    """A section header read with `struct`: what `_inspect` and its helpers use of a pyelftools Section
    (`sec["sh_*"]` with sh_type as pyelftools names it, `.name`, `.data()`, `.stringtable`); `real()` builds
    the pyelftools section for the rare uses that need one (iterating symbols or versions)."""

    __slots__ = ("header", "name", "index", "stringtable", "_elf", "_mm")

    def __init__(self, header: dict, name: str, index: int, elf: Any, mm: mmap.mmap) -> None:
        self.header, self.name, self.index, self._elf, self._mm = header, name, index, elf, mm
        self.stringtable: Optional[_Sec] = None

    def __getitem__(self, key: str) -> Any:
        return self.header[key]

    def data(self) -> bytes:
        if self.header["sh_flags"] & _SHF_COMPRESSED or self.header["sh_type"] == "SHT_NOBITS":
            return self.real().data()
        off = self.header["sh_offset"]
        return bytes(self._mm[off:off + self.header["sh_size"]])

    def real(self) -> Any:
        return self._elf.get_section(self.index)


def _cstr_at(mm: mmap.mmap, size: int, pos: int) -> Optional[str]:
    """pyelftools' StringTableSection.get_string over the file at `pos` (None: pyelftools would fail)."""
    if pos > size:
        return None  # pyelftools seeks past the end of the mmap: an error, let it say so
    end = mm.find(b"\0", pos)
    if end <= pos:
        return ""  # an empty string, or no NUL before the end of the file
    return mm[pos:end].decode("utf-8", errors="replace")


def _fast_headers(mm: mmap.mmap, size: int, elf: Any, nseg: int, nsec: int, clock: _Clock
                  ) -> Optional[tuple[list[tuple[int, int, int, int]], list[_Sec]]]:
    """(segments as (p_type, p_flags, p_offset, p_filesz), sections) or None (see above). The counts,
    entry sizes and table extents were validated by the caller."""
    import struct

    hdr = elf.header
    cls = elf.elfclass
    if cls not in (32, 64):
        return None
    order = "<" if elf.little_endian else ">"
    segments: list[tuple[int, int, int, int]] = []
    if nseg:
        fmt, (ti, fi, oi, si) = _PHDR[cls]
        phdr = struct.Struct(order + fmt)
        off, step = hdr["e_phoff"], hdr["e_phentsize"]
        for i in range(nseg):
            clock.tick(i)
            e = phdr.unpack_from(mm, off + i * step)
            p_offset, p_filesz = e[oi], e[si]
            if p_filesz and p_offset + p_filesz > size:
                return None  # pyelftools' path raises the error naming the segment
            segments.append((e[ti], e[fi], p_offset, p_filesz))
    sections: list[_Sec] = []
    if not nsec:
        return segments, sections
    if hdr["e_shnum"] != nsec or not isinstance(hdr["e_shstrndx"], int) or hdr["e_shstrndx"] >= nsec:
        return None  # extended numbering (SHN_XINDEX...): pyelftools
    shdr = struct.Struct(order + _SHDR[cls])
    off, step = hdr["e_shoff"], hdr["e_shentsize"]
    raw = [shdr.unpack_from(mm, off + i * step) for i in range(nsec)]
    names = _sht_names()
    str_off = raw[hdr["e_shstrndx"]][4]
    word = 4 if cls == 32 else 8
    chdr = 12 if cls == 32 else 24

    def symtab_ok(j: int) -> bool:  # pyelftools' SymbolTableSection: a string table link, whole entries
        e = raw[j]
        return (e[1] in (_SHT_SYMTAB, _SHT_DYNSYM) and e[9] > 0 and e[5] % e[9] == 0 and e[6] < nsec
                and raw[e[6]][1] == _SHT_STRTAB)

    for i, e in enumerate(raw):
        clock.tick(i)
        sh_type, sh_size, sh_offset, sh_link = e[1], e[5], e[4], e[6]
        if sh_type in _SHT_UNHANDLED:
            return None
        name = _cstr_at(mm, size, str_off + e[0])
        if name is None or (name == ".stab" and sh_type == 1):
            return None
        if sh_type != _SHT_NOBITS and sh_size and sh_offset + sh_size > size:
            return None
        if e[2] & _SHF_COMPRESSED and sh_offset + chdr > size:
            return None
        # what pyelftools' constructor of this section type reads or checks
        if sh_type in (_SHT_SYMTAB, _SHT_DYNSYM):
            if not symtab_ok(i):
                return None
        elif sh_type in (_SHT_VERNEED, _SHT_VERDEF):
            if sh_link >= nsec or raw[sh_link][1] != _SHT_STRTAB:
                return None
        elif sh_type in (_SHT_HASH, _SHT_GNU_HASH, _SHT_VERSYM):
            if sh_link >= nsec or not symtab_ok(sh_link):
                return None
            if sh_type == _SHT_HASH and sh_size:
                if sh_offset + 8 > size:
                    return None
                nb, nc = struct.unpack_from(order + "II", mm, sh_offset)
                if sh_offset + 8 + 4 * (nb + nc) > size:
                    return None
            elif sh_type == _SHT_GNU_HASH:
                if sh_offset + 16 > size:
                    return None
                nb, _sym, bloom, _shift = struct.unpack_from(order + "IIII", mm, sh_offset)
                if sh_offset + 16 + word * bloom + 4 * nb > size:
                    return None
        elif sh_type == _SHT_DYNAMIC:
            if sh_link >= nsec or raw[sh_link][1] not in (_SHT_STRTAB, _SHT_NOBITS, _SHT_NULL):
                return None
        elif sh_type == _SHT_REL:
            if e[9] != 2 * word:
                return None
        elif sh_type == _SHT_RELA:
            if e[9] != 3 * word:
                return None
        elif sh_type == _SHT_RELR:
            if e[9] != word:
                return None
        header = dict(zip(_SHDR_KEYS, e))
        header["sh_type"] = names.get(sh_type, sh_type)
        sections.append(_Sec(header, name, i, elf, mm))
    for sec in sections:
        if sec.header["sh_type"] in ("SHT_SYMTAB", "SHT_DYNSYM"):
            sec.stringtable = sections[sec.header["sh_link"]]
    return segments, sections


def _fast_verneed(mm: mmap.mmap, size: int, elf: Any, sec: _Sec, sections: list[_Sec], clock: _Clock
                  ) -> Optional[list[tuple[str, tuple[str, ...]]]]:
    """.gnu.version_r read with `struct` (Elf_Verneed, then its Elf_Vernaux chain), the walk pyelftools'
    iter_versions does; None when an entry or a string is outside the file, a count is zero or a bound is
    hit: pyelftools then walks it, with its errors."""
    import struct

    strtab = sections[sec["sh_link"]]  # an SHT_STRTAB: checked by _fast_headers
    s_off = strtab["sh_offset"]
    order = "<" if elf.little_endian else ">"
    need, aux = struct.Struct(order + "HHIII"), struct.Struct(order + "IHHII")
    out: list[tuple[str, tuple[str, ...]]] = []
    at = sec["sh_offset"]
    for i in range(sec["sh_info"]):
        clock.tick(i)
        if i >= _MAX_VERNEED or at + need.size > size:
            return None
        _version, cnt, vn_file, vn_aux, vn_next = need.unpack_from(mm, at)
        library = _cstr_at(mm, size, s_off + vn_file)
        if not cnt or library is None or cnt > _MAX_VERNAUX:
            return None
        names: list[str] = []
        pos = at + vn_aux
        for _ in range(cnt):
            if pos + aux.size > size:
                return None
            _hash, _flags, _other, vna_name, vna_next = aux.unpack_from(mm, pos)
            name = _cstr_at(mm, size, s_off + vna_name)
            if name is None:
                return None
            names.append(name)
            pos += vna_next
        out.append((library, tuple(names)))
        at += vn_next
    return out


# Elf_Dyn: d_tag (signed), d_val
_DYN = {32: "iI", 64: "qQ"}
_DT_NULL, _DT_NEEDED, _DT_SONAME, _DT_RPATH, _DT_TEXTREL, _DT_BIND_NOW = 0, 1, 14, 15, 22, 24
_DT_RUNPATH, _DT_FLAGS, _DT_FLAGS_1, _DT_SUNW_FILTER = 29, 30, 0x6FFFFFFB, 0x6000000F


def _fast_dynamic(mm: mmap.mmap, size: int, elf: Any, dynamic: _Sec, strtab: _Sec, clock: _Clock
                  ) -> Optional[tuple[list[str], list[str], list[str], Optional[str], int, int, bool, bool]]:
    """The dynamic section's tags with `struct`: (needed, rpath, runpath, soname, flags, flags_1, bind_now,
    textrel); None when pyelftools should read them (no DT_NULL inside the section, a string offset past the
    end of the file, too many tags: its path raises or reads on)."""
    import struct

    if strtab["sh_type"] != "SHT_STRTAB":
        return None
    dyn = struct.Struct(("<" if elf.little_endian else ">") + _DYN[elf.elfclass])
    start, length = dynamic["sh_offset"], min(dynamic["sh_size"], max(0, size - dynamic["sh_offset"]))
    count = min(length // dyn.size, _MAX_DYN_TAGS)
    s_off = strtab["sh_offset"]
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    soname: Optional[str] = None
    flags = flags_1 = 0
    bind_now = textrel = False
    for i in range(count):
        clock.tick(i)
        tag, val = dyn.unpack_from(mm, start + i * dyn.size)
        if tag == _DT_NULL:
            return needed, rpath, runpath, soname, flags, flags_1, bind_now, textrel
        if tag == _DT_SUNW_FILTER:
            return None  # a string pyelftools also resolves (Solaris): let it
        if tag in (_DT_NEEDED, _DT_RPATH, _DT_RUNPATH, _DT_SONAME):
            text = _cstr_at(mm, size, s_off + val)
            if text is None:
                return None
            if tag == _DT_NEEDED:
                needed.append(text)
            elif tag == _DT_RPATH:
                rpath.extend(text.split(":"))
            elif tag == _DT_RUNPATH:
                runpath.extend(text.split(":"))
            else:
                soname = text
        elif tag == _DT_FLAGS:
            flags |= val
        elif tag == _DT_FLAGS_1:
            flags_1 |= val
        elif tag == _DT_BIND_NOW:
            bind_now = True
        elif tag == _DT_TEXTREL:
            textrel = True
    return None


# Elf32_Sym / Elf64_Sym: entry size, struct format reading st_name and st_shndx only
_SYM_LAYOUT = {32: (16, "I10xH"), 64: (24, "I2xH16x")}


def _dynamic_symbols(mm: mmap.mmap, size: int, elf: Any, dynsym: Any) -> Optional[tuple[set[str], set[str]]]:
    """(names, undefined names) of a well-formed .dynsym, read with `struct` over the section bytes that
    pyelftools located (one Python object per symbol is what made this slow). None when anything is
    unusual (entry size, a string table outside the file, a name without its NUL): the caller then
    reads the table through pyelftools, with its checks and its errors, exactly as before."""
    import struct

    layout = _SYM_LAYOUT.get(elf.elfclass)
    if layout is None or dynsym["sh_entsize"] != layout[0]:
        return None
    count = dynsym["sh_size"] // layout[0]
    if count > _MAX_SYMBOLS:
        raise BinaryLimitError("too many dynamic symbols")
    strtab = getattr(dynsym, "stringtable", None)
    if strtab is None:
        return None
    s_off, s_size = strtab["sh_offset"], strtab["sh_size"]
    t_off = dynsym["sh_offset"]
    if s_off + s_size > size or t_off + count * layout[0] > size:
        return None
    strings = mm[s_off:s_off + s_size]
    table = mm[t_off:t_off + count * layout[0]]
    order = "<" if elf.little_endian else ">"
    # only st_name and st_shndx; symbols sharing both are looked at once
    pairs = set(struct.Struct(order + layout[1]).iter_unpack(table))
    find = strings.find
    text: dict[int, str] = {}
    for st_name in {st_name for st_name, _ in pairs}:
        end = find(b"\0", st_name)
        if end < 0:
            return None
        text[st_name] = strings[st_name:end].decode("utf-8", "replace") if end > st_name else ""
    names = {name for name in text.values() if name}
    undefined = {text[st_name] for st_name, shndx in pairs if shndx == 0 and text[st_name]}  # SHN_UNDEF
    return names, undefined


class _DebugLimit(Exception):
    """Decompressing the debug sections would pass a bound: DWARF is not read (a finding says so)."""


def _decompress_sections(elf: Any, mm: mmap.mmap, debug_secs: list[Any]) -> dict[str, bytes]:
    """Every debug section's contents, decompressed here with bounds (zlib and zstd SHF_COMPRESSED
    sections, GNU .zdebug): each section at most _MAX_DEBUG_SECTION, all together at most
    _MAX_DEBUG_TOTAL, and past 16 MiB at most _MAX_DEBUG_RATIO times their compressed size. Raises
    _DebugLimit when a bound is hit, ValueError for an unknown or broken compression."""
    out: dict[str, bytes] = {}
    total = compressed_total = 0
    chdr_size = 12 if elf.elfclass == 32 else 24
    for sec in debug_secs:
        off, raw_size = int(sec["sh_offset"]), int(sec["sh_size"])
        budget = min(_MAX_DEBUG_SECTION, _MAX_DEBUG_TOTAL - total)
        if sec["sh_flags"] & 0x800:  # SHF_COMPRESSED: an Elf_Chdr, then the stream
            hdr = mm[off:off + chdr_size]
            if len(hdr) < chdr_size:
                raise ValueError(f"{sec.name}: truncated compression header")
            order = "little" if elf.little_endian else "big"
            kind = int.from_bytes(hdr[0:4], order)
            declared = int.from_bytes(hdr[4:8] if elf.elfclass == 32 else hdr[8:16], order)
            if declared > budget:
                raise _DebugLimit(f"{sec.name} declares {declared} bytes decompressed (bounds: "
                                  f"{_MAX_DEBUG_SECTION} per section, {_MAX_DEBUG_TOTAL} per file)")
            stream = mm[off + chdr_size:off + raw_size]
            if kind == ELFCOMPRESS_ZLIB:
                dec = zlib.decompressobj()
                data = dec.decompress(stream, declared + 1)
            elif kind == ELFCOMPRESS_ZSTD:
                import zstandard

                try:
                    reader = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
                    data = reader.read(declared + 1)
                except zstandard.ZstdError as exc:
                    raise ValueError(f"{sec.name}: zstd: {exc}") from None
            else:
                raise ValueError(f"{sec.name}: unknown compression type {kind}")
            if len(data) != declared:
                raise ValueError(f"{sec.name}: decompressed to {len(data)} bytes, header says {declared}")
        elif sec.name.startswith(".zdebug_"):  # GNU: "ZLIB", 8-byte big-endian size, zlib stream
            raw = mm[off:off + raw_size]
            if raw[:4] != b"ZLIB":
                raise ValueError(f"{sec.name}: unknown compression")
            dec = zlib.decompressobj()
            data = dec.decompress(raw[12:], budget + 1)
            if len(data) > budget or dec.unconsumed_tail:
                raise _DebugLimit(f"{sec.name} decompresses to more than {budget} bytes (bounds: "
                                  f"{_MAX_DEBUG_SECTION} per section, {_MAX_DEBUG_TOTAL} per file)")
        else:
            if raw_size > budget:
                raise _DebugLimit(f"{sec.name}: {raw_size} bytes, over the {budget} bytes left to read")
            data = bytes(mm[off:off + raw_size])
        total += len(data)
        compressed_total += raw_size
        if total > _DEBUG_RATIO_FLOOR and total > _MAX_DEBUG_RATIO * max(1, compressed_total):
            raise _DebugLimit(f"debug sections decompress to {total} bytes from {compressed_total} "
                              f"(more than {_MAX_DEBUG_RATIO} times: a decompression bomb)")
        out[sec.name] = data
    return out


def _read_units(elf: Any, mm: mmap.mmap, debug_secs: list[Any], max_cus: int, clock: _Clock) -> tuple[list[DwarfUnit], bool]:
    """Top DIEs of the first `max_cus` compilation units. The debug sections are decompressed here,
    bounded (see _decompress_sections), and handed to pyelftools as they are."""
    from io import BytesIO

    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor

    names = {sec.name for sec in debug_secs}
    if ".debug_info" not in names and ".zdebug_info" not in names:
        return [], False
    sizes = [int(sec["sh_size"]) for sec in debug_secs]
    if max(sizes) <= _MAX_DEBUG_SECTION and sum(sizes) <= _MAX_DEBUG_TOTAL:  # else _decompress_sections says why
        fast = _top_dies(mm, debug_secs, elf.little_endian, max_cus)  # None: compressed or unusual DWARF
        if fast is not None:
            return fast
    contents = _decompress_sections(elf, mm, debug_secs)

    def read_section(section: Any, relocate: bool) -> Any:  # noqa: ARG001 - pyelftools' signature
        data = contents.get(section.name)
        if data is None:
            data = b""
        return DebugSectionDescriptor(stream=BytesIO(data), name=section.name, global_offset=section["sh_offset"],
                                      size=len(data), address=section["sh_addr"])

    by_name = elf.get_section_by_name

    def section_by_name(name: str) -> Any:  # GNU .zdebug: small sections stay uncompressed as .debug_*
        found = by_name(name)
        if found is None and name.startswith(".zdebug_"):
            found = by_name(".debug_" + name[len(".zdebug_"):])
        return found

    # this instance only: pyelftools reads our bounded, already decompressed contents
    elf._read_dwarf_section = read_section
    elf._decompress_dwarf_section = lambda descriptor: descriptor
    elf.get_section_by_name = section_by_name
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False, follow_links=False)
    units: list[DwarfUnit] = []
    more = False
    for i, cu in enumerate(dwarf.iter_CUs()):
        clock.tick(0)
        if i >= max_cus:
            more = True
            break
        top = cu.get_top_DIE()
        attrs = top.attributes
        name = _s(attrs["DW_AT_name"].value) if "DW_AT_name" in attrs else None
        comp_dir = _s(attrs["DW_AT_comp_dir"].value) if "DW_AT_comp_dir" in attrs else None
        offset = None
        if comp_dir:
            raw = attrs["DW_AT_comp_dir"].value
            raw = raw if isinstance(raw, bytes) else comp_dir.encode("utf-8", "surrogateescape")
            found = mm.find(raw + b"\0", 0)  # from the start: mmap.find defaults to the stream position
            offset = found if found >= 0 else None
        units.append(DwarfUnit(name, comp_dir, offset))
    return units, more


# ---- the top DIEs with `struct` (pyelftools parses each unit's whole abbreviation table with construct:
# most of a verify of a dist with debug info). Only plain, well-formed DWARF 2-5 compile/partial units
# whose name and comp_dir are inline or in .debug_str/.debug_line_str; anything else returns None and
# pyelftools reads the units exactly as before.

_DW_AT_NAME, _DW_AT_COMP_DIR = 0x03, 0x1B
_FIXED_FORMS = {0x0B: 1, 0x0C: 1, 0x11: 1, 0x25: 1, 0x29: 1, 0x05: 2, 0x12: 2, 0x26: 2, 0x2A: 2, 0x27: 3,
                0x2B: 3, 0x06: 4, 0x13: 4, 0x1C: 4, 0x28: 4, 0x2C: 4, 0x07: 8, 0x14: 8, 0x20: 8, 0x24: 8,
                0x1E: 16, 0x19: 0, 0x21: 0}
_ULEB_FORMS = {0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23, 0x1F01, 0x1F02}
_OFFSET_FORMS = {0x0E, 0x17, 0x1D, 0x1F, 0x1F20, 0x1F21}  # offset-sized (4 or 8 bytes)
_SHF_COMPRESSED = 0x800


class _Odd(Exception):
    """Something the fast reader does not handle: let pyelftools read the units."""


def _uleb(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Odd
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _cstring(buf: bytes, pos: int) -> bytes:
    end = buf.find(b"\0", pos)
    if pos >= len(buf) or end < 0:
        raise _Odd
    return buf[pos:end]


def _unit_header(info: bytes, off: int, end_fmt: str) -> tuple[int, int, int, int, int, int]:
    """(next unit offset, offset size, version, abbrev offset, address size, first DIE offset)."""
    import struct

    if off + 11 > len(info):
        raise _Odd
    (length,) = struct.unpack_from(end_fmt + "I", info, off)
    pos, osize = off + 4, 4
    if length == 0xFFFFFFFF:
        (length,) = struct.unpack_from(end_fmt + "Q", info, pos)
        pos, osize = pos + 8, 8
    elif length >= 0xFFFFFFF0:
        raise _Odd
    nxt = pos + length
    if nxt > len(info) or pos + 2 + osize + 2 > len(info):
        raise _Odd
    (version,) = struct.unpack_from(end_fmt + "H", info, pos)
    pos += 2
    ofmt = end_fmt + ("I" if osize == 4 else "Q")
    if 2 <= version <= 4:
        (abbrev,) = struct.unpack_from(ofmt, info, pos)
        pos += osize
        asize = info[pos]
        pos += 1
    elif version == 5:
        unit_type, asize = info[pos], info[pos + 1]
        if unit_type not in (1, 3):  # DW_UT_compile, DW_UT_partial
            raise _Odd
        (abbrev,) = struct.unpack_from(ofmt, info, pos + 2)
        pos += 2 + osize
    else:
        raise _Odd
    return nxt, osize, version, abbrev, asize, pos


def _abbrev_specs(abbrev: bytes, off: int, code: int) -> list[tuple[int, int]]:
    pos = off
    while True:
        entry, pos = _uleb(abbrev, pos)
        if entry == 0:
            raise _Odd  # the code is not in the table
        _tag, pos = _uleb(abbrev, pos)
        pos += 1  # DW_CHILDREN_*
        specs = []
        while True:
            name, pos = _uleb(abbrev, pos)
            form, pos = _uleb(abbrev, pos)
            if name == 0 and form == 0:
                break
            if form == 0x21:  # DW_FORM_implicit_const: its value sits in the table
                _value, pos = _uleb(abbrev, pos)
            specs.append((name, form))
        if entry == code:
            return specs


def _top_die_strings(info: bytes, pos: int, end: int, specs, osize: int, version: int, asize: int,
                     strs: dict[str, bytes]) -> dict[int, bytes]:
    import struct

    found: dict[int, bytes] = {}
    for name, form in specs:
        while form == 0x16:  # DW_FORM_indirect
            form, pos = _uleb(info, pos)
        wanted = name in (_DW_AT_NAME, _DW_AT_COMP_DIR)
        if form == 0x08:  # DW_FORM_string
            value = _cstring(info, pos)
            pos += len(value) + 1
            if wanted:
                found[name] = value
            continue
        if wanted and form not in (0x0E, 0x1F):
            raise _Odd  # e.g. DW_FORM_strx: needs the string offsets table
        if form in _OFFSET_FORMS or (form == 0x10 and version > 2):
            if pos + osize > end:
                raise _Odd
            if wanted:
                (at,) = struct.unpack_from(("<" if strs["order"] == b"<" else ">") + ("I" if osize == 4 else "Q"), info, pos)
                table = strs.get(".debug_str" if form == 0x0E else ".debug_line_str")
                if table is None:
                    raise _Odd
                found[name] = _cstring(table, at)
            pos += osize
        elif form == 0x01 or form == 0x10:  # DW_FORM_addr; DW_FORM_ref_addr in DWARF 2
            pos += asize
        elif form in _FIXED_FORMS:
            pos += _FIXED_FORMS[form]
        elif form in _ULEB_FORMS or form == 0x0D:  # (SLEB has the same length rule)
            _v, pos = _uleb(info, pos)
        elif form in (0x09, 0x18):  # DW_FORM_block, DW_FORM_exprloc
            n, pos = _uleb(info, pos)
            pos += n
        elif form in (0x0A, 0x03, 0x04):  # DW_FORM_block1/2/4
            width = {0x0A: 1, 0x03: 2, 0x04: 4}[form]
            if pos + width > end:
                raise _Odd
            n = int.from_bytes(info[pos:pos + width], "little" if strs["order"] == b"<" else "big")
            pos += width + n
        else:
            raise _Odd
        if pos > end:
            raise _Odd
    return found


def _top_dies(mm: mmap.mmap, debug_secs: list[Any], little_endian: bool, max_cus: int
              ) -> Optional[tuple[list[DwarfUnit], bool]]:
    sections: dict[str, Any] = {}
    for sec in debug_secs:
        if sec["sh_flags"] & _SHF_COMPRESSED or sec.name.startswith(".zdebug"):
            return None
        sections.setdefault(sec.name, sec)
    if ".debug_info" not in sections or ".debug_abbrev" not in sections:
        return None

    def data(name: str) -> Optional[bytes]:
        sec = sections.get(name)
        return None if sec is None else mm[sec["sh_offset"]:sec["sh_offset"] + sec["sh_size"]]

    info, abbrev = data(".debug_info"), data(".debug_abbrev")
    order = "<" if little_endian else ">"
    strs: dict[str, bytes] = {"order": order.encode()}
    for name in (".debug_str", ".debug_line_str"):
        table = data(name)
        if table is not None:
            strs[name] = table
    units: list[DwarfUnit] = []
    where: dict[bytes, Optional[int]] = {}
    off = 0
    try:
        while off < len(info):
            nxt, osize, version, abbrev_off, asize, pos = _unit_header(info, off, order)
            if len(units) >= max_cus:
                return units, True
            code, pos = _uleb(info, pos)
            if code == 0:
                raise _Odd
            specs = _abbrev_specs(abbrev, abbrev_off, code)
            found = _top_die_strings(info, pos, nxt, specs, osize, version, asize, strs)
            name_raw, comp_raw = found.get(_DW_AT_NAME), found.get(_DW_AT_COMP_DIR)
            offset = None
            if comp_raw:
                if comp_raw not in where:  # units of one build share their comp_dir: one scan of the file
                    at = mm.find(comp_raw + b"\0", 0)
                    where[comp_raw] = at if at >= 0 else None
                offset = where[comp_raw]
            units.append(DwarfUnit(_s(name_raw), _s(comp_raw), offset))
            off = nxt
    except Exception:  # _Odd, struct.error, IndexError...: pyelftools decides (and reports) instead
        return None
    return units, False
