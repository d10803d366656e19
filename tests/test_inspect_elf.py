"""ELF facts (hardnut.inspect.elf) on real gcc-built fixtures, cross-checked with readelf, and on truncated,
corrupted and hostile copies (one exception type, never a hang)."""

from __future__ import annotations

import re
import struct
import time
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardnut.inspect.elf import (
    BinaryParseError,
    ElfFacts,
    inspect_elf,
    parse_glibc_version,
    scan_build_paths,
)
from helpers_binaries import binfix, patched, readelf, truncated, with_field  # noqa: F401

ALL_ELF = ["hardened", "unstripped", "partial_relro", "norelro", "nocanary", "nofortify", "nopie", "execstack",
           "plain", "debug", "rwx", "textrel.so"]


def test_hardened_program(binfix):
    f = inspect_elf(binfix.elf("hardened"))
    assert isinstance(f, ElfFacts)
    assert (f.elf_class, f.little_endian, f.machine) == (64, True, "EM_X86_64")
    assert f.elf_type == "ET_DYN" and f.is_pie and f.is_executable
    assert f.interpreter == "/lib64/ld-linux-x86-64.so.2"
    assert f.needed == ("libc.so.6",)
    assert f.rpath == () and f.runpath == () and f.soname is None
    assert f.has_relro and f.bind_now and f.flags_1 & 0x1  # DF_1_NOW
    assert f.has_gnu_stack and not f.stack_executable and f.rwx_segments == () and not f.textrel
    assert f.canary_symbols == ("__stack_chk_fail",)
    # checksec: fortified = imported __X_chk, fortifiable = imported X that has a __X_chk
    assert f.fortified == ("__snprintf_chk", "__strcpy_chk")
    assert f.fortifiable == ("read",)
    assert not f.has_symtab and f.stripped and f.debug_sections == () and f.dwarf_units == ()
    assert f.build_paths == () and f.build_path_count == 0
    assert f.scanned_bytes == f.size == binfix.elf("hardened").stat().st_size and not f.scan_truncated


@pytest.mark.parametrize("name, expected", [
    ("partial_relro", {"has_relro": True, "bind_now": False}),
    ("norelro", {"has_relro": False, "bind_now": False}),
    ("nocanary", {"canary_symbols": (), "fortified": ("__snprintf_chk", "__strcpy_chk")}),
    ("nofortify", {"fortified": (), "fortifiable": ("read", "snprintf", "strcpy"),
                   "canary_symbols": ("__stack_chk_fail",)}),
    ("nopie", {"elf_type": "ET_EXEC", "is_pie": False, "is_executable": True, "bind_now": True}),
    ("execstack", {"stack_executable": True, "has_gnu_stack": True}),
    ("unstripped", {"has_symtab": True, "debug_sections": ()}),
    ("plain", {"elf_type": "ET_EXEC", "has_relro": False, "canary_symbols": (), "fortified": (),
               "stack_executable": True, "has_symtab": True}),
    ("rwx", {"stack_executable": False}),
    ("textrel.so", {"textrel": True, "elf_type": "ET_DYN", "is_pie": False, "is_executable": False,
                    "interpreter": None}),
])
def test_variants(binfix, name, expected):
    f = inspect_elf(binfix.elf(name))
    assert {k: getattr(f, k) for k in expected} == expected


@pytest.mark.parametrize("name", ALL_ELF)
def test_facts_agree_with_readelf(binfix, name):
    path = binfix.elf(name)
    f = inspect_elf(path)
    dyn = readelf("-d", str(path))
    assert f.needed == tuple(re.findall(r"\(NEEDED\)\s+Shared library: \[(.*)\]", dyn))
    assert f.textrel == ("TEXTREL" in dyn)
    segments = readelf("-l", str(path))
    assert f.has_relro == ("GNU_RELRO" in segments)
    rwx_loads = [line for line in segments.splitlines() if line.strip().startswith("LOAD") and "RWE" in line]
    assert len(f.rwx_segments) == len(rwx_loads)
    versions = readelf("-V", str(path))
    needed_versions = set(re.findall(r"Name: (GLIBC_[0-9.]+)", versions))
    assert set(f.glibc_versions) == needed_versions
    assert f.has_symtab == (".symtab" in readelf("-S", str(path)))


def test_debug_build(binfix):
    path = binfix.elf("debug")
    f = inspect_elf(path)
    raw = path.read_bytes()
    assert {".debug_info", ".debug_abbrev", ".debug_line", ".debug_str"} <= set(f.debug_sections)
    assert f.has_symtab and f.dwarf_error is None and not f.dwarf_more_units
    unit = f.dwarf_units[0]
    assert unit.name == "hello.c"
    assert unit.comp_dir == binfix.manifest["comp_dir"]
    assert raw[unit.comp_dir_offset:unit.comp_dir_offset + len(unit.comp_dir)] == unit.comp_dir.encode()
    texts = {h.text: h for h in f.build_paths}
    hit = texts["/home/alice/src/hardnut-fixture/hello.c"]
    assert raw[hit.offset:hit.offset + hit.length] == hit.text.encode()
    assert binfix.manifest["comp_dir"] in texts  # /tmp/<dir>/src in .debug_line_str


def test_dependency_facts(binfix):
    app = inspect_elf(binfix.dist("elf_ok") / "app")
    assert app.needed == ("libok.so.1", "libc.so.6")
    assert app.runpath == ("$ORIGIN/lib",) and app.rpath == ()
    tool = inspect_elf(binfix.dist("elf_ok") / "sub" / "tool")
    assert tool.rpath == ("${ORIGIN}/../lib",) and tool.runpath == ()
    lib = inspect_elf(binfix.dist("elf_ok") / "lib" / "libok.so.1.0")
    assert lib.soname == "libok.so.1" and not lib.is_executable and lib.elf_type == "ET_DYN"
    unsafe = inspect_elf(binfix.dist("elf_rpath") / "app")
    assert unsafe.rpath == ("/home/alice/lib", "$ORIGIN/../../outside")
    missing = inspect_elf(binfix.dist("elf_missing") / "app")
    assert missing.needed == ("libgone.so", "libc.so.6")


def test_32bit_library(binfix):
    binfix.need("elf32", "gcc -m32 cannot build 32-bit objects here")
    f = inspect_elf(binfix.dist("elf_mismatch") / "libok.so.1")
    assert (f.elf_class, f.machine, f.soname) == (32, "EM_386", "libok.so.1")


def test_glibc_version_parsing():
    assert parse_glibc_version("GLIBC_2.34") == (2, 34)
    assert parse_glibc_version("GLIBC_2.2.5") == (2, 2, 5)
    assert parse_glibc_version("GLIBC_ABI_DT_RELR") == (2, 36)
    assert parse_glibc_version("GLIBC_PRIVATE") is None
    assert parse_glibc_version("GLIBCXX_3.4.29") is None


def test_build_path_scanner():
    buf = (b"\0/home/bob/work/app/main.c\0-I/root/.pyenv/include\0/usr/local/build/x\0/tmp/x\0"
           b"/tmp/ci/run/obj.o\0C:\\Users\\carol\\proj\\app.pdb\0" + "D:\\Users\\dave\\x.c".encode("utf-16-le")
           + b"\0\0https://example.org/build/thing\0")
    hits, total = scan_build_paths(buf, len(buf))
    texts = [h.text for h in hits]
    assert texts == ["/home/bob/work/app/main.c", "/root/.pyenv/include", "/tmp/ci/run/obj.o",
                     "C:\\Users\\carol\\proj\\app.pdb", "D:\\Users\\dave\\x.c"]
    assert total == 5
    for h in hits[:4]:
        assert buf[h.offset:h.offset + h.length].decode() == h.text
    # bounded: nothing past `end` is read
    assert scan_build_paths(buf, 5) == ((), 0)
    assert [h.text for h in scan_build_paths(buf, 10)[0]] == ["/home/bob"]


def test_build_path_placeholders_are_no_paths():
    """A first component of only dots is a placeholder in text (`/build/...` in a help message), not a
    build host's folder; dot files and names that start with dots are paths."""
    buf = (b"\0see /build/... and /home/.../x or /usr/src/..\0/tmp/.../y\0/tmp/a/...\0/root/...\0"
           b"/root/.pyenv/versions/3.11.7/lib\0/home/..hidden/src\0/build/.x/obj.o\0")
    assert [h.text for h in scan_build_paths(buf, len(buf))[0]] == [
        "/root/.pyenv/versions/3.11.7/lib", "/home/..hidden/src", "/build/.x/obj.o"]


# ------------------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("name", ["hardened", "debug", "textrel.so"])
@pytest.mark.parametrize("keep", [0, 10, 52, 64, 200, 0.5, -1])
def test_truncated_copies_raise_parse_error(binfix, tmp_path, name, keep):
    src = binfix.elf(name)
    size = src.stat().st_size
    length = int(size * keep) if isinstance(keep, float) else (size + keep if keep < 0 else keep)
    copy = truncated(src, tmp_path / name, length)
    with pytest.raises(BinaryParseError):
        inspect_elf(copy)


@pytest.mark.parametrize("field, value", [
    ("e_shentsize", 0),  # pyelftools would read the same header for every section
    ("e_shnum", 0xFFFF),
    ("e_shoff", 2**63),
    ("e_phoff", 2**62),
    ("e_phentsize", 1),
    ("e_phnum", 0xFFFE),
    ("e_shstrndx", 0xFFF0),
])
def test_hostile_headers(binfix, tmp_path, field, value):
    copy = with_field(binfix.elf("debug"), tmp_path / "bad", field, value)
    start = time.monotonic()
    with pytest.raises(BinaryParseError):
        inspect_elf(copy)
    assert time.monotonic() - start < 5


def test_shnum_zero_with_huge_real_count(binfix, tmp_path):
    """e_shnum == 0 means 'the real count is in section 0's sh_size': make it 2**40."""
    src = binfix.elf("debug")
    raw = src.read_bytes()
    shoff = struct.unpack_from("<Q", raw, 0x28)[0]
    copy = patched(src, tmp_path / "a", 0x3C, struct.pack("<H", 0))
    copy = patched(copy, tmp_path / "b", shoff + 0x20, struct.pack("<Q", 2**40))
    with pytest.raises(BinaryParseError):
        inspect_elf(copy)


def test_broken_dwarf_is_a_fact_not_a_failure(binfix, tmp_path):
    """Garbage in .debug_info: the binary is still readable, the DWARF error is recorded."""
    src = binfix.elf("debug")
    sections = readelf("-S", str(src))
    m = re.search(r"\.debug_info\s+PROGBITS\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)", sections)
    offset, size = int(m.group(1), 16), int(m.group(2), 16)
    copy = patched(src, tmp_path / "dbg", offset, b"\xff" * min(size, 64))
    f = inspect_elf(copy)
    assert f.debug_sections and f.dwarf_error is not None and f.dwarf_units == ()


def test_not_an_elf(tmp_path):
    (tmp_path / "x").write_bytes(b"MZ" + b"\0" * 100)
    with pytest.raises(BinaryParseError, match="not an ELF"):
        inspect_elf(tmp_path / "x")
    with pytest.raises(BinaryParseError, match="cannot read"):
        inspect_elf(tmp_path / "missing")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_corruption_only_raises_parse_error(binfix, tmp_path, data):
    """Random byte changes in the headers, program headers and section headers: facts or
    BinaryParseError, nothing else, and quickly."""
    src = binfix.elf(data.draw(st.sampled_from(["hardened", "debug", "textrel.so"])))
    raw = bytearray(src.read_bytes())
    shoff = struct.unpack_from("<Q", raw, 0x28)[0]
    regions = [(0, 0x40), (0x40, 0x40 + 13 * 56), (shoff, len(raw))]
    for _ in range(data.draw(st.integers(1, 8))):
        lo, hi = data.draw(st.sampled_from(regions))
        pos = data.draw(st.integers(lo, max(lo, min(hi, len(raw)) - 1)))
        raw[pos] = data.draw(st.integers(0, 255))
    path = tmp_path / "fuzz"
    path.write_bytes(bytes(raw))
    start = time.monotonic()
    try:
        inspect_elf(path)
    except BinaryParseError:
        pass
    assert time.monotonic() - start < 5


def test_bounds(binfix):
    path = binfix.elf("debug")
    f = inspect_elf(path, max_scan_bytes=1000, max_cus=0)
    assert (f.scanned_bytes, f.scan_truncated, f.build_paths, f.build_path_count) == (1000, True, (), 0)
    assert f.dwarf_units == () and f.debug_sections  # DWARF listed, not read
    with pytest.raises(BinaryParseError, match="time limit"):
        inspect_elf(path, timeout=0)
