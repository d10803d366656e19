"""Nuitka constants blob: decoded from a real Nuitka build of sample_apps/planted (module names,
planted constants with their module and exact file offset), located in ELF and PE files built
here with gcc / mingw-w64, and robust against corrupted data."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hardnut.inspect.constants_blob import BlobError, decode_blob, read_constants_blob
from helpers_secrets import check, planted_manifest

PLANTED_MODULES = {"__main__", "planted_app", "planted_app.cloud", "planted_app.tokens", "planted_app.keys"}


def _main_binary(dist: Path) -> Path:
    [exe] = [p for p in dist.iterdir() if p.name in ("planted", "planted.bin", "planted.exe")]
    return exe


@pytest.fixture(scope="module")
def planted_bin(planted_standalone) -> Path:
    return _main_binary(planted_standalone)


@pytest.fixture(scope="module")
def blob(planted_bin):
    b = read_constants_blob(planted_bin)
    assert b is not None
    return b


def test_modules_of_a_real_build(blob, planted_bin):
    names = {m.name for m in blob.modules}
    assert PLANTED_MODULES <= names
    assert "" in names and ".bytecode" in names  # shared constants, stdlib bytecode
    for m in blob.modules:
        if m.name != ".bytecode":
            assert m.complete, (m.name, m.note)
    assert blob.offset + blob.size <= planted_bin.stat().st_size


def test_planted_constants_have_module_and_exact_offset(blob, planted_bin):
    data = planted_bin.read_bytes()
    checked = 0
    for item in planted_manifest():
        if item["file"] != "@main":
            continue
        where = item["where"]
        value = item["value"].encode()
        offset = data.find(value)
        check(offset > 0 and data.find(value, offset + 1) < 0, f"{where}: planted value not unique in the binary")
        part = blob.module_at(offset)
        check(part is not None and part.module == item["module"], f"{where}: wrong module")
        # the constant that holds the value, byte-exact at its file offset
        holders = [s for s in part.strings if s.offset <= offset < s.offset + s.length]
        check(len(holders) == 1, f"{where}: no single string constant holds the value")
        const = holders[0]
        check(data[const.offset:const.offset + const.length] == const.raw, f"{where}: constant bytes differ")
        if const.raw == value:
            check(const.offset == offset, f"{where}: offset {const.offset} != {offset}")
            checked += 1
    assert checked >= 15  # plain module constants: exact string == planted value


def test_name_value_pairs(blob):
    def has_pair(module: str, name: str, where: str) -> bool:
        [value] = [i["value"] for i in planted_manifest() if i["where"] == where]
        return any(n.text == name and v.text == value for n, v in blob.by_name(module).pairs())

    check(has_pair("planted_app.cloud", "AWS_SECRET_ACCESS_KEY", "module constant AWS_SECRET_ACCESS_KEY (name/value pair)"),
          "module constant pair AWS_SECRET_ACCESS_KEY missing")
    check(has_pair("planted_app.tokens", "client_secret", "dict item client_secret"), "dict item pair missing")
    check(has_pair("planted_app.tokens", "password", "default argument password="), "default argument pair missing")
    assert blob.by_name("planted_app.tokens").functions["login"] == ("user", "password")


# -- the same blob linked into binaries built here, without the .bytecode part -----------------

def _small_blob(blob, planted_bin) -> bytes:
    """The shared and module entries only (no .bytecode): exercises the second locator."""
    data = planted_bin.read_bytes()
    shared = blob.by_name("")
    start = shared.offset - 5  # name "" (one NUL) + u32 size
    end = blob.offset + blob.size
    assert data[start] == 0 and struct.unpack_from("<I", data, start + 1)[0] == shared.size
    return data[start:end]


def _embed_source(blob_file: Path, section: str) -> str:
    return (
        f'__asm__(".section {section}\\n.balign 16\\n.globl fake_blob\\nfake_blob:\\n'
        f'.incbin \\"{blob_file}\\"\\n.byte 0\\n.text\\n");\n'
        "extern const unsigned char fake_blob[];\n"
        "int main(void) { return fake_blob[0]; }\n"
    )


@pytest.mark.parametrize("compiler,section,suffix", [
    ("gcc", ".rodata", ""),
    ("x86_64-w64-mingw32-gcc", ".rdata", ".exe"),
])
def test_blob_located_in_elf_and_pe(blob, planted_bin, tmp_path, compiler, section, suffix):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} not installed")
    small = _small_blob(blob, planted_bin)
    blob_file = tmp_path / "blob.bin"
    blob_file.write_bytes(small)
    src = tmp_path / "embed.c"
    src.write_text(_embed_source(blob_file, section))
    exe = tmp_path / f"embed{suffix}"
    subprocess.run([compiler, "-O0", "-o", str(exe), str(src)], check=True, capture_output=True)
    data = exe.read_bytes()
    at = data.find(small)
    assert at > 0
    found = read_constants_blob(exe)
    assert found is not None and found.offset == at
    assert {m.name for m in found.modules} == {m.name for m in blob.modules} - {".bytecode"}
    shift = at - (blob.by_name("").offset - 5)
    for m in found.modules:
        orig = blob.by_name(m.name)
        assert m.complete and m.offset == orig.offset + shift
        same = [(s.offset - shift, s.raw) for s in m.strings] == [(s.offset, s.raw) for s in orig.strings]
        check(same, f"{m.name}: strings differ from the Nuitka build's")


def test_blob_located_in_a_macho_section(blob, planted_bin, tmp_path):
    """Nuitka on macOS links the blob with `ld -sectcreate constants_bin constants_bin`: a real Mach-O
    (from a PyPI wheel) whose first data section is repurposed to carry it."""
    from helpers_macos import real_wheels, with_section

    host = real_wheels()["pillow"] / "PIL" / "_imagingmath.cpython-311-darwin.so"
    small = _small_blob(blob, planted_bin)
    exe = with_section(host, "constants_bin", small, tmp_path / "embed")
    found = read_constants_blob(exe)
    at = exe.read_bytes().find(small)
    assert found is not None and found.offset == at
    assert {m.name for m in found.modules} == {m.name for m in blob.modules} - {".bytecode"}


# -- hostile input ----------------------------------------------------------------------------

def test_not_a_binary_and_broken_headers(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("no blob here")
    assert read_constants_blob(text) is None
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"\x7fELF\x02\x01\x01" + b"\xff" * 57)
    assert read_constants_blob(broken) is None  # no Nuitka marker: headers are not even parsed
    broken.write_bytes(b"\x7fELF\x02\x01\x01" + b"\xff" * 57 + b"a__compiled__\x00")
    with pytest.raises(BlobError):
        read_constants_blob(broken)
    with pytest.raises(BlobError):
        read_constants_blob(tmp_path / "missing.bin")


@pytest.fixture(scope="module")
def small_blob(blob, planted_bin) -> bytes:
    return _small_blob(blob, planted_bin)


def test_truncated_blob_is_decoded_partially(small_blob):
    cut = small_blob[: len(small_blob) * 2 // 3]
    found = decode_blob(cut)
    if found is not None:
        assert all(m.offset + m.size <= len(cut) for m in found.modules)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_blob_never_raises(small_blob, data):
    buf = bytearray(small_blob)
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    found = decode_blob(bytes(buf))
    if found is not None:
        for m in found.modules:
            assert m.complete or m.note
            for s in m.strings:
                check(buf[s.offset:s.offset + s.length] == s.raw, f"{m.name}: string at {s.offset} is not the file's bytes")


def _same_as_two_passes(data: bytes, found) -> None:
    """The located chain is decoded once: each part as the validation decoded it (collect=True) must be
    what a separate decode of its bytes gives, and a decode without collecting agrees that it is
    complete (the old code validated without collecting, then decoded every part again)."""
    from hardnut.inspect.constants_blob import _decode_part

    for m in found.modules:
        if m.name == ".bytecode":
            continue
        again = _decode_part(data, m.name, m.offset, m.size)
        assert again == m, m.name
        assert _decode_part(data, m.name, m.offset, m.size, collect=False).complete == m.complete, m.name


def test_single_decode_of_a_real_build(blob, planted_bin):
    _same_as_two_passes(planted_bin.read_bytes(), blob)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_single_decode_of_corrupted_blobs(small_blob, data):
    buf = bytearray(small_blob)
    for _ in range(data.draw(st.integers(1, 8))):
        buf[data.draw(st.integers(0, len(buf) - 1))] = data.draw(st.integers(0, 255))
    found = decode_blob(bytes(buf))
    if found is not None:
        _same_as_two_passes(bytes(buf), found)
