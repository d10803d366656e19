"""The `struct` reading of the ELF header, program headers, section headers, dynamic tags and version needs
(hardnut.inspect.elf `_open_elf`, `_fast_headers`, `_fast_dynamic`, `_fast_verneed`) gives exactly what the
pyelftools path gives: the same facts on real files and on hand-made 32-bit and big-endian files, and the same
facts or the same error on corrupted copies."""

from __future__ import annotations

import dataclasses
import random
import struct
from pathlib import Path

import pytest

import hardnut.inspect.elf as elf_mod
from hardnut.inspect.elf import BinaryParseError, inspect_elf
from helpers_binaries import binfix  # noqa: F401

SYSTEM = [Path(p) for p in ("/usr/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libz.so.1",
                            "/usr/bin/ls", "/usr/bin/python3")]


def _outcome(path: Path) -> str:
    try:
        return repr(dataclasses.asdict(inspect_elf(path)))
    except BinaryParseError as exc:
        return f"{type(exc).__name__}: {exc}"


def _both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, int]:
    """(outcome with the struct readers, outcome through pyelftools only, how often the struct readers answered)."""
    answered = [0]
    real_headers, real_dynamic = elf_mod._fast_headers, elf_mod._fast_dynamic

    def counting(func):
        def wrapper(*args):
            out = func(*args)
            answered[0] += out is not None
            return out
        return wrapper

    with monkeypatch.context() as m:
        m.setattr(elf_mod, "_fast_headers", counting(real_headers))
        m.setattr(elf_mod, "_fast_dynamic", counting(real_dynamic))
        fast = _outcome(path)
    with monkeypatch.context() as m:  # everything through pyelftools, as before the struct readers
        from elftools.elf.elffile import ELFFile

        m.setattr(elf_mod, "_open_elf", lambda mm, size: ELFFile(mm))
        m.setattr(elf_mod, "_fast_headers", lambda *a: None)
        m.setattr(elf_mod, "_fast_dynamic", lambda *a: None)
        m.setattr(elf_mod, "_fast_verneed", lambda *a: None)
        slow = _outcome(path)
    return fast, slow, answered[0]


def test_real_files_same_facts(binfix, monkeypatch):  # noqa: F811
    paths = [p for p in SYSTEM if p.exists()]
    paths += [binfix.elf(name) for name in ("hardened", "unstripped", "debug", "textrel.so", "nopie")]
    for path in paths:
        fast, slow, answered = _both(path, monkeypatch)
        assert fast == slow, path
        assert answered == 2, f"{path}: the struct readers declined a plain file"
        assert fast.startswith("{")


# ---- hand-made ELF files: every class and byte order, with the tags and segments the facts look at

def _craft(cls: int, little: bool, machine: int) -> bytes:
    o = "<" if little else ">"
    w = 4 if cls == 32 else 8
    ehsize, phentsize, shentsize = (52, 32, 40) if cls == 32 else (64, 56, 64)
    interp = b"/lib/ld-test.so.1\0"
    dynstr = b"\0libc.so.6\0libm.so.6\0libx.so\0$ORIGIN:/opt/lib\0"
    needed1, needed2, soname, runpath = 1, 11, 21, 29
    shstr = b"\0.interp\0.dynstr\0.dynamic\0.shstrtab\0.debug_info\0"
    dyn_fmt = o + ("iI" if cls == 32 else "qQ")
    tags = [(1, needed1), (1, needed2), (14, soname), (29, runpath), (30, 0x8), (0x6FFFFFFB, 0x08000001),
            (22, 0), (0, 0)]
    dynamic = b"".join(struct.pack(dyn_fmt, t, v) for t, v in tags)
    nph = 5
    off = ehsize + nph * phentsize
    layout = {}
    body = b""
    for name, data in (("interp", interp), ("dynstr", dynstr), ("dynamic", dynamic), ("shstr", shstr)):
        layout[name] = (off + len(body), len(data))
        body += data + b"\0" * (-len(data) % 8)
    shoff = off + len(body)
    # program headers: PT_INTERP, PT_LOAD (RWX), PT_DYNAMIC, PT_GNU_STACK (RW), PT_GNU_RELRO
    total = shoff + 6 * shentsize
    phdrs = [(3, 4, *layout["interp"]), (1, 7, 0, total), (2, 6, *layout["dynamic"]), (0x6474E551, 6, 0, 0),
             (0x6474E552, 4, *layout["dynamic"])]
    ph = b""
    for ptype, pflags, poff, psize in phdrs:
        if cls == 32:
            ph += struct.pack(o + "IIIIIIII", ptype, poff, poff, poff, psize, psize, pflags, w)
        else:
            ph += struct.pack(o + "IIQQQQQQ", ptype, pflags, poff, poff, poff, psize, psize, w)
    # sections: NULL, .interp, .dynstr, .dynamic (link 2), .shstrtab, .debug_info (NOBITS)
    shdrs = [(0, 0, 0, 0, 0, 0, 0), (1, 1, 2, *layout["interp"], 0), (9, 3, 2, *layout["dynstr"], 0),
             (17, 6, 3, *layout["dynamic"], 2), (26, 3, 0, *layout["shstr"], 0), (36, 8, 0, 0, 0, 16, 0)]
    sh = b""
    for name, stype, sflags, soff, ssize, link in ((s[0], s[1], s[2], s[3], s[4], s[5]) for s in shdrs):
        entsize = len(struct.pack(dyn_fmt, 0, 0)) if stype == 6 else 0
        if cls == 32:
            sh += struct.pack(o + "IIIIIIIIII", name, stype, sflags, soff, soff, ssize, link, 0, 1, entsize)
        else:
            sh += struct.pack(o + "IIQQQQIIQQ", name, stype, sflags, soff, soff, ssize, link, 0, 1, entsize)
    ident = b"\x7fELF" + bytes([1 if cls == 32 else 2, 1 if little else 2, 1]) + b"\0" * 9
    if cls == 32:
        hdr = ident + struct.pack(o + "HHIIIIIHHHHHH", 3, machine, 1, 0, ehsize, shoff, 0, ehsize, phentsize, nph,
                                  shentsize, 6, 4)
    else:
        hdr = ident + struct.pack(o + "HHIQQQIHHHHHH", 3, machine, 1, 0, ehsize, shoff, 0, ehsize, phentsize, nph,
                                  shentsize, 6, 4)
    out = hdr + ph + body + sh
    assert len(out) == total
    return out


@pytest.mark.parametrize("cls, little, machine", [(32, True, 3), (32, False, 20), (64, False, 22), (64, True, 62)])
def test_crafted_class_and_byte_order(tmp_path, monkeypatch, cls, little, machine):
    path = tmp_path / f"crafted{cls}{'le' if little else 'be'}.so"
    path.write_bytes(_craft(cls, little, machine))
    fast, slow, answered = _both(path, monkeypatch)
    assert fast == slow and answered == 2
    f = inspect_elf(path)
    assert (f.elf_class, f.little_endian) == (cls, little)
    assert f.interpreter == "/lib/ld-test.so.1" and f.is_pie
    assert f.needed == ("libc.so.6", "libm.so.6") and f.soname == "libx.so"
    assert f.runpath == ("$ORIGIN", "/opt/lib") and f.bind_now and f.textrel
    assert f.flags == 0x8 and f.flags_1 == 0x08000001
    assert f.has_relro and f.has_gnu_stack and not f.stack_executable and f.rwx_segments == (1,)
    assert f.debug_sections == ()  # NOBITS


def _mutants_agree(seeds: list[bytes], rounds: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Truncations and overwritten words in the ELF header, the program headers and the section header table
    (and what follows it) of each seed: the struct readers give exactly the pyelftools path's facts or error."""
    rnd = random.Random(1234)
    path = tmp_path / "mutant.so"
    cases = errors = answered_total = 0
    for seed in seeds:
        e64 = seed[4] == 2
        little = seed[5] == 1
        o = "<" if little else ">"
        phoff, shoff = struct.unpack_from(o + ("QQ" if e64 else "II"), seed, 32 if e64 else 28)
        hot = [(0, 64), (phoff, phoff + 8 * 56), (shoff, len(seed))]
        for _ in range(rounds):
            data = bytearray(seed)
            kind = rnd.random()
            if kind < 0.2:
                data = data[:rnd.randrange(64, len(data))]
            else:
                lo, hi = rnd.choice(hot)
                for _ in range(rnd.randrange(1, 6)):
                    at = rnd.randrange(lo, max(lo + 1, min(hi, len(data))))
                    data[at:at + 4] = rnd.choice([b"\xff\xff\xff\xff", b"\0\0\0\0", rnd.randbytes(4),
                                                  struct.pack(o + "I", rnd.randrange(0, 1 << 16))])
            path.write_bytes(bytes(data))
            fast, slow, answered = _both(path, monkeypatch)
            assert fast == slow, (kind, fast[:200], slow[:200])
            cases += 1
            errors += not fast.startswith("{")
            answered_total += answered
    # both kinds of outcome, and the struct readers answered (not only declined) on many mutants
    assert 0 < errors < cases and answered_total > cases // 2, (cases, errors, answered_total)


def test_corrupted_copies_same_outcome(tmp_path, monkeypatch):
    """A real library and a hand-made big-endian one, corrupted: never another outcome than pyelftools'."""
    seeds = [_craft(32, False, 20)]
    lib = Path("/usr/lib/x86_64-linux-gnu/libz.so.1")
    if lib.exists():
        seeds.append(lib.resolve().read_bytes())
    _mutants_agree(seeds, 150, tmp_path, monkeypatch)


# ---- real 32-bit and big-endian shared objects: cffi's manylinux wheels for i686 and s390x (cached)

FOREIGN = {"manylinux2014_i686": (32, True, "EM_386"), "manylinux2014_s390x": (64, False, "EM_S390")}


@pytest.fixture(scope="module")
def foreign_sos() -> dict[str, Path]:
    from helpers_binaries import unpacked_wheel

    found: dict[str, Path] = {}
    for platform in FOREIGN:
        arch = platform.split("_", 1)[1]
        unpacked = unpacked_wheel("cffi==1.16.0", platform, f"cffi-1.16.0-cp311-cp311-*{arch}*.whl")
        found[platform] = sorted(unpacked.rglob("*.so"))[0]
    return found


@pytest.mark.parametrize("platform", sorted(FOREIGN))
def test_real_32bit_and_big_endian(foreign_sos, monkeypatch, platform):
    path = foreign_sos[platform]
    fast, slow, answered = _both(path, monkeypatch)
    assert fast == slow and answered == 2
    f = inspect_elf(path)
    assert (f.elf_class, f.little_endian, f.machine) == FOREIGN[platform]
    assert "libc.so.6" in f.needed and f.has_relro and f.imports and f.glibc_versions


def test_real_32bit_and_big_endian_corrupted(foreign_sos, tmp_path, monkeypatch):
    _mutants_agree([path.read_bytes() for _, path in sorted(foreign_sos.items())], 60, tmp_path, monkeypatch)
