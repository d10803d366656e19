"""hardnut.artifact.onefile on real Nuitka onefile binaries, and on hostile payloads made from them."""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from hardnut.artifact import onefile
from hardnut.artifact.onefile import PayloadError, PayloadLimit
from hardnut.artifact.walk import open_target
from hardnut.limits import Limits

from helpers_onefile import copy_with, nuitka_payload, onefile_build, plant, posix_payload, windows_payload

VARIANTS = ("compressed", "plain", "archive")


@pytest.fixture(scope="module")
def builds():
    return {v: onefile_build(v) for v in VARIANTS}


def _tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            full = Path(dirpath) / name
            out[full.relative_to(root).as_posix()] = hashlib.sha256(full.read_bytes()).hexdigest()
    return out


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


# ------------------------------------------------------------------------------------ real binaries

@pytest.mark.parametrize("variant,compression,archive,checksums", [
    ("compressed", "zstd", False, None),
    ("plain", "none", False, True),
    ("archive", "zstd", True, False),
])
def test_find_payload_on_real_builds(builds, variant, compression, archive, checksums):
    info = onefile.find_payload(builds[variant].binary, "elf")
    assert info is not None
    assert (info.compression, info.archive) == (compression, archive)
    assert info.location == "section .rodata"  # Nuitka 4.3 links the blob in with incbin
    assert info.trailer
    assert info.offset < info.stream_end <= info.offset + info.length
    if checksums is not None:
        assert info.layout is not None and info.layout.checksums is checksums
        assert info.entries == len(_expected_names(builds[variant]))


def _expected_names(build) -> set[str]:
    """What the build's own report says the dist received: the program, extensions/DLLs, data files."""
    from hardnut.nuitka.report_xml import parse_report

    report = parse_report(build.report)
    return {"app.bin"} | {i.dest_path for i in report.included if not i.ignored} | {d.name for d in report.data_files}


def test_all_variants_extract_the_same_files(builds, tmp_path):
    trees = {}
    for variant in VARIANTS:
        dest = tmp_path / variant
        dest.mkdir()
        info = onefile.find_payload(builds[variant].binary, "elf")
        entries = onefile.extract(builds[variant].binary, info, dest, Limits())
        assert {e.name for e in entries} == _expected_names(builds[variant])
        assert all(e.created for e in entries)
        trees[variant] = _tree(dest)
        assert (dest / "data" / "greeting.txt").read_text() == "hello from the hardnut onefile fixture\n"
        assert (dest / "app.bin").read_bytes()[:4] == b"\x7fELF"
        assert os.stat(dest / "app.bin").st_mode & 0o111, "executable bit lost"
        assert not os.stat(dest / "data" / "greeting.txt").st_mode & 0o111
    # "compressed" excludes xml.dom (fewer files, another program), "plain" is a --deployment build
    # (another program): every file two variants share is byte-identical, apart from the program
    assert trees["plain"].keys() == trees["archive"].keys()
    for a, b in (("compressed", "archive"), ("plain", "archive")):
        shared = (trees[a].keys() & trees[b].keys()) - {"app.bin"}
        assert len(shared) >= 28 and all(trees[a][k] == trees[b][k] for k in shared)
    assert trees["compressed"].keys() < trees["archive"].keys()
    # what the report says was included is what came out
    report = builds["compressed"].report.read_text()
    for dest_path in ("_bz2.so", "zlib.so", "data/greeting.txt"):
        assert f'"{dest_path}"' in report and dest_path in trees["compressed"]


def test_plain_payload_crcs_are_checked(builds):
    entries = list(onefile.iter_entries(builds["plain"].binary))
    assert {e.name for e in entries} == _expected_names(builds["plain"]) and all(e.crc32 for e in entries)
    assert {e.name for e in entries} == {e.name for e in onefile.iter_entries(builds["archive"].binary)}


def test_open_target_expands_each_variant(builds):
    for variant in VARIANTS:
        with open_target(builds[variant].binary) as art:
            assert art.kind == "onefile"
            assert art.problems == []
            names = {f.relpath for f in art.files}
            assert "app.bin!/data/greeting.txt" in names and "app.bin!/app.bin" in names
            inner = next(f for f in art.files if f.relpath == "app.bin!/app.bin")
            assert inner.kind == "elf" and inner.payload_of == "app.bin" and not inner.onefile_payload


def test_binaries_without_payload(builds, tmp_path):
    dest = tmp_path / "x"
    dest.mkdir()
    info = onefile.find_payload(builds["compressed"].binary, "elf")
    onefile.extract(builds["compressed"].binary, info, dest)
    # the program inside (a Nuitka binary with its own constants blob), its extension modules, system tools
    for path in (dest / "app.bin", dest / "_bz2.so", dest / "zlib.so", Path("/bin/ls"), Path(shutil.which("gcc"))):
        assert onefile.find_payload(path, "elf") is None, path


# ------------------------------------------------------------------------------ crafted with Nuitka

@pytest.fixture()
def small_dist(tmp_path, builds):
    """A little dist folder: the real program binary first, a data file, an executable script."""
    dist = tmp_path / "dist"
    (dist / "pkg").mkdir(parents=True)
    shutil.copy(builds["compressed"].binary, dist / "main.bin")  # any real ELF will do
    (dist / "pkg" / "data.txt").write_text("some data\n")
    (dist / "pkg" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(dist / "pkg" / "tool.sh", 0o755)
    return dist


@pytest.mark.parametrize("compressed,archive,checksums", [
    (False, False, False), (False, False, True), (True, False, False), (True, False, True),
    (True, True, False), (True, True, True),
])
def test_every_layout_nuitka_writes(builds, small_dist, tmp_path, compressed, archive, checksums):
    blob = nuitka_payload(small_dist, "main.bin", compressed=compressed, archive=archive, checksums=checksums)
    binary = plant(builds["plain"].binary, tmp_path / "planted.bin", blob)
    info = onefile.find_payload(binary, "elf")
    assert info is not None and info.trailer and info.length == len(blob)
    dest = tmp_path / "out"
    dest.mkdir()
    entries = onefile.extract(binary, info, dest)
    assert sorted(e.name for e in entries) == ["main.bin", "pkg/data.txt", "pkg/tool.sh"]
    assert _tree(dest) == _tree(small_dist)
    assert os.stat(dest / "pkg" / "tool.sh").st_mode & 0o100
    assert all((e.crc32 is not None) == checksums for e in entries)


def test_appended_payload_as_older_nuitka_wrote_it(builds, small_dist, tmp_path):
    """Before 4.1 the blob (with its size trailer) was appended to the bootstrap executable."""
    blob = nuitka_payload(small_dist, "main.bin", compressed=True)
    binary = tmp_path / "appended.bin"
    binary.write_bytes(builds["plain"].binary.read_bytes() + blob)
    info = onefile.find_payload(binary, "elf")
    assert info is not None and info.location == "appended"
    assert info.offset == binary.stat().st_size - len(blob)
    dest = tmp_path / "out"
    dest.mkdir()
    onefile.extract(binary, info, dest)
    assert _tree(dest) == _tree(small_dist)


def test_symlinks_inside_created_outside_refused(builds, small_dist, tmp_path):
    (small_dist / "pkg" / "good").symlink_to("data.txt")
    (small_dist / "pkg" / "evil").symlink_to("../../../../../../etc/passwd")
    (small_dist / "abs").symlink_to("/etc/passwd")
    blob = nuitka_payload(small_dist, "main.bin", compressed=True)
    binary = plant(builds["plain"].binary, tmp_path / "links.bin", blob)
    dest = tmp_path / "out"
    dest.mkdir()
    entries = {e.name: e for e in onefile.extract(binary, onefile.find_payload(binary, "elf"), dest)}
    assert entries["pkg/good"].created and os.readlink(dest / "pkg" / "good") == "data.txt"
    for name in ("pkg/evil", "abs"):
        assert not entries[name].created and entries[name].note
        assert not os.path.lexists(dest / name)
    assert entries["pkg/evil"].link_target == "../../../../../../etc/passwd"


@pytest.mark.parametrize("order", ["link-first", "link-last"])
def test_symlink_chain_that_escapes_is_removed(builds, tmp_path, order):
    """Each link looks inside on its own; together 'b' leads out: p/q/a -> ../.. (the root), and
    b -> p/q/a/.. which lexically is p/q but really is the root's parent. Then a file written
    'through' a link must not land outside either."""
    links = [("p/q/a", "../..", 2), ("b", "p/q/a/..", 2)]
    if order == "link-last":
        links.reverse()
    blob = posix_payload([("main.bin", b"\x7fELF" + bytes(100), 1), ("p/q/keep.txt", b"k", 0), *links])
    binary = plant(builds["plain"].binary, tmp_path / "chain.bin", blob)
    dest = tmp_path / "out"
    dest.mkdir()
    entries = {e.name: e for e in onefile.extract(binary, onefile.find_payload(binary, "elf"), dest)}
    assert not entries["b"].created and not os.path.lexists(dest / "b")
    assert entries["p/q/a"].created and os.readlink(dest / "p" / "q" / "a") == "../.."
    root = os.path.realpath(dest)
    for dirpath, dirs, files in os.walk(dest):
        for name in dirs + files:
            real = os.path.realpath(os.path.join(dirpath, name))
            assert real == root or real.startswith(root + os.sep), name


def test_pe_with_windows_layout_in_rdata(tmp_path):
    """A mingw-w64 PE whose .rdata holds a payload in Nuitka's Windows layout (UTF-16LE names, no
    flags), like the COFF object Nuitka links into a Windows bootstrap."""
    gcc = shutil.which("x86_64-w64-mingw32-gcc")
    assert gcc, "mingw-w64 is part of the test environment"
    files = [("main.exe", b"MZ" + bytes(200)), ("lib/data.txt", b"payload data\n"), ("é.txt", b"x")]
    blob = windows_payload(files, checksums=True)
    src = tmp_path / "boot.c"
    array = ",".join(str(b) for b in blob)
    src.write_text(
        "#include <stdio.h>\n"
        f"const unsigned char payload_bin_data[{len(blob)}] = {{{array}}};\n"
        "int main(int argc, char **argv) {\n"
        "  if (argc > 5) puts(\"Error, couldn't find attached data header.\");\n"
        "  return payload_bin_data[argc];\n}\n")
    exe = tmp_path / "boot.exe"
    subprocess.run([gcc, "-O0", "-o", str(exe), str(src)], check=True, capture_output=True)
    info = onefile.find_payload(exe, "pe")
    assert info is not None and info.location == "section .rdata"
    assert info.layout.encoding == "utf-16-le" and not info.layout.flags and info.layout.checksums
    dest = tmp_path / "out"
    dest.mkdir()
    entries = onefile.extract(exe, info, dest)
    assert [e.name for e in entries] == ["main.exe", "lib/data.txt", "é.txt"]
    assert (dest / "lib" / "data.txt").read_bytes() == b"payload data\n"
    # a PE without a payload
    plain = tmp_path / "plain.c"
    plain.write_text("int main(void) { return 0; }\n")
    subprocess.run([gcc, "-o", str(tmp_path / "plain.exe"), str(plain)], check=True, capture_output=True)
    assert onefile.find_payload(tmp_path / "plain.exe", "pe") is None


def _mingw(tmp_path: Path, name: str, source: str, *extra: str) -> Path:
    gcc = shutil.which("x86_64-w64-mingw32-gcc")
    assert gcc, "mingw-w64 is part of the test environment"
    (tmp_path / f"{name}.c").write_text(source)
    exe = tmp_path / f"{name}.exe"
    subprocess.run([gcc, "-O0", "-o", str(exe), str(tmp_path / f"{name}.c"), *extra], check=True, capture_output=True)
    return exe


WIN_FILES = [("main.exe", b"MZ" + bytes(300)), ("lib\\x.dll", b"MZ" + bytes(50)), ("data/readme.txt", b"hello\n")]


def test_pe_appended_before_authenticode_table(tmp_path):
    """Older Nuitka on Windows appended the blob; a signature then follows it and the trailer sits
    right before the certificate table the security directory points to."""
    import pefile

    exe = _mingw(tmp_path, "boot", 'int main(void) { puts("Error, couldn\'t find attached data header."); return 0; }\n'
                 .replace("int main", "#include <stdio.h>\nint main"))
    body = exe.read_bytes()
    body += bytes((8 - len(body) % 8) % 8)
    blob = windows_payload(WIN_FILES)
    cert_at = len(body) + len(blob)
    cert = struct.pack("<IHH", 64, 0x0200, 0x0002) + bytes(56)  # a WIN_CERTIFICATE header and filler
    signed = tmp_path / "signed.exe"
    signed.write_bytes(body + blob + cert)
    pe = pefile.PE(str(signed))
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
    security.VirtualAddress, security.Size = cert_at, len(cert)
    pe.write(str(signed))
    pe.close()
    info = onefile.find_payload(signed, "pe")
    assert info is not None and info.location == "appended" and info.offset == len(body)
    entries = list(onefile.iter_entries(signed, info))
    assert [e.name for e in entries] == ["main.exe", "lib/x.dll", "data/readme.txt"]


def test_pe_payload_as_rcdata_resource(tmp_path):
    windres = shutil.which("x86_64-w64-mingw32-windres")
    assert windres
    (tmp_path / "payload.bin").write_bytes(windows_payload(WIN_FILES, checksums=True))
    (tmp_path / "res.rc").write_text('27 RCDATA "payload.bin"\n')
    subprocess.run([windres, str(tmp_path / "res.rc"), "-O", "coff", "-o", str(tmp_path / "res.o")], check=True,
                   cwd=tmp_path, capture_output=True)
    exe = _mingw(tmp_path, "res", "int main(void) { return 0; }\n", str(tmp_path / "res.o"))
    info = onefile.find_payload(exe, "pe")
    assert info is not None and info.location == "resource RCDATA" and info.layout.checksums
    dest = tmp_path / "out"
    dest.mkdir()
    onefile.extract(exe, info, dest)
    assert (dest / "lib" / "x.dll").read_bytes() == b"MZ" + bytes(50)


def test_pe_unsafe_windows_names(tmp_path):
    for bad in ("..\\evil.dll", "C:\\Windows\\evil.dll", "\\\\server\\share\\x", "ok\\name:stream"):
        payload = windows_payload([("main.exe", b"MZ" + bytes(10)), (bad, b"x")])
        exe = tmp_path / "bad.exe"
        exe.write_bytes(_mingw(tmp_path, "plain2", "int main(void) { return 0; }\n").read_bytes() + payload)
        info = onefile.find_payload(exe, "pe")
        assert info is not None and info.location == "appended"
        with pytest.raises(PayloadError, match="unsafe entry name"):
            list(onefile.iter_entries(exe, info))


# ------------------------------------------------------------------------------------ hostile input

def _plain(builds):
    binary = builds["plain"].binary
    info = onefile.find_payload(binary, "elf")
    return binary, info, binary.read_bytes()


def _name_offset(raw: bytes, info, name: bytes) -> int:
    if raw[info.offset + 3:info.offset + 4 + len(name)] == name + b"\0":
        return info.offset + 3  # the first entry follows the "KAX" header
    at = raw.find(b"\0" + name + b"\0", info.offset, info.stream_end)
    assert at > 0
    return at + 1


def _extract_error(binary: Path, tmp_path: Path, exc=PayloadError) -> str:
    dest = tmp_path / "dest"
    dest.mkdir()
    before = _listing(tmp_path)
    with pytest.raises(exc) as err:
        info = onefile.find_payload(binary, "elf")
        assert info is not None
        onefile.extract(binary, info, dest)
    assert _listing(tmp_path) == before, "something was written next to dest"
    return str(err.value)


@pytest.mark.parametrize("new_name,why", [
    (b"../data/greeting.", "'..' component"),
    (b"/ata/greeting.txt", "absolute path"),
    (b"C:ta/greeting.txt", "absolute path"),
    (b"data/../../../etc", "'..' component"),
])
def test_unsafe_names_refused(builds, tmp_path, new_name, why):
    binary, info, raw = _plain(builds)
    old = b"data/greeting.txt"
    assert len(new_name) == len(old)
    at = _name_offset(raw, info, old)
    hostile = copy_with(binary, tmp_path / "hostile.bin", at, new_name)
    # the CRC of the renamed entry still matches: only the name makes it hostile
    message = _extract_error(hostile, tmp_path)
    assert why in message and new_name.decode() in message


def test_unsafe_name_is_escaped_in_the_message(builds, tmp_path):
    binary, info, raw = _plain(builds)
    at = _name_offset(raw, info, b"data/greeting.txt")
    hostile = copy_with(binary, tmp_path / "esc.bin", at, b"../\x1b[31mreeting.t")
    message = _extract_error(hostile, tmp_path)
    assert "\x1b" not in message and "\\x1b[31m" in message


def test_truncated_binaries(builds, tmp_path):
    from hardnut.verify import VerifyOptions, verify_target

    for variant in ("plain", "compressed", "archive"):
        binary = builds[variant].binary
        info = onefile.find_payload(binary, "elf")
        # (cut right after "KA" nothing is left to recognise: the ELF checks see a truncated file)
        for cut in (info.offset + 40, info.offset + info.length // 2, info.offset + info.length - 3):
            short = tmp_path / f"{variant}-{cut}.bin"
            short.write_bytes(binary.read_bytes()[:cut])
            if cut == info.offset + 40 and variant != "compressed":
                # the first entry's header and no more: with the bootstrap's marker cut off too, that is
                # no more a payload than any header-shaped data (see test_header_shaped_data_...); the ELF
                # parse still finds the file truncated, at the same rule and severity
                assert onefile.find_payload(short, "elf") is None
                found = verify_target(short, VerifyOptions()).findings
                assert [(f.rule, f.severity.label) for f in found if "does not fit the file" in f.message] == \
                    [("HN-WALK-003", "high")]
                continue
            with pytest.raises(PayloadError):
                info2 = onefile.find_payload(short, "elf")
                onefile.extract(short, info2, tmp_path / "never")  # find_payload must already fail
            with open_target(short) as art:
                assert [p.rule for p in art.problems] == ["HN-WALK-003"], art.problems


@pytest.mark.parametrize("entry,value", [
    (b"app.bin", 1 << 48),  # the first entry: no longer looks like the start of a payload at all
    (b"app.bin", 1 << 30),
    (b"data/greeting.txt", 10 ** 12),
    (b"data/greeting.txt", 3),
])
def test_flipped_sizes(builds, tmp_path, entry, value):
    binary, info, raw = _plain(builds)
    size_at = _name_offset(raw, info, entry) + len(entry) + 1 + 1  # name, NUL, flags byte
    hostile = copy_with(binary, tmp_path / "size.bin", size_at, struct.pack("<Q", value))
    _extract_error(hostile, tmp_path)
    with open_target(hostile) as art:
        assert [p.rule for p in art.problems] == ["HN-WALK-003"]


def test_altered_data_fails_the_crc(builds, tmp_path):
    binary, info, raw = _plain(builds)
    at = raw.find(b"hello from the hardnut", info.offset, info.stream_end)
    hostile = copy_with(binary, tmp_path / "crc.bin", at, b"HELLO")
    assert "CRC32 mismatch" in _extract_error(hostile, tmp_path)


def test_corrupt_zstd_stream(builds, tmp_path):
    binary = builds["compressed"].binary
    info = onefile.find_payload(binary, "elf")
    raw = binary.read_bytes()
    first_block = info.offset + 3 + zstandard.frame_header_size(raw[info.offset + 3:info.offset + 21])
    # a block header claiming a reserved type / a block running past the payload: structure errors
    for n, patch in enumerate((b"\x07\x00\x00", b"\xf8\xff\xff")):
        hostile = copy_with(binary, tmp_path / f"block{n}.bin", first_block, patch)
        with pytest.raises(PayloadError):
            found = onefile.find_payload(hostile, "elf")
            onefile.extract(hostile, found, tmp_path / "never")
    # garbage inside compressed blocks: zstd may or may not notice (Nuitka writes no frame checksum,
    # and temporary-mode payloads no CRC32), but it is never anything but PayloadError or a result
    for where in (first_block + 50, info.offset + info.length // 3, info.stream_end - 200):
        hostile = copy_with(binary, tmp_path / f"zstd-{where}.bin", where, b"\xff" * 16)
        dest = tmp_path / f"d{where}"
        dest.mkdir()
        try:
            onefile.extract(hostile, onefile.find_payload(hostile, "elf"), dest)
        except PayloadError:
            pass


def _bomb_stream(size: int) -> bytes:
    """A zstd frame of one entry that claims and holds `size` zero bytes: tiny compressed."""
    cctx = zstandard.ZstdCompressor(level=3)
    comp = cctx.compressobj()
    parts = [comp.compress(b"app.bin\0\x01" + struct.pack("<Q", size))]
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        parts.append(comp.compress(zeros))
    parts.append(comp.compress(b"\0"))  # the end marker (an empty name)
    parts.append(comp.flush())
    return b"".join(parts)


def test_zstd_bomb_hits_the_ratio_limit(builds, tmp_path):
    frame = _bomb_stream(256 << 20)
    blob = b"KAY" + frame
    blob += struct.pack("<Q", len(blob))
    assert len(blob) < 64 * 1024  # 256 MiB in a few KiB
    bomb = plant(builds["compressed"].binary, tmp_path / "bomb.bin", blob)
    info = onefile.find_payload(bomb, "elf")
    assert info is not None and info.compression == "zstd"
    message = _extract_error(bomb, tmp_path, PayloadLimit)
    assert "max_payload_ratio" in message
    with open_target(bomb) as art:
        assert [p.rule for p in art.problems] == ["HN-WALK-004"]
        assert "max_payload_ratio" in art.problems[0].message


def test_size_and_count_limits(builds, tmp_path):
    binary = builds["compressed"].binary
    info = onefile.find_payload(binary, "elf")
    for limits, text in ((Limits(max_payload_size=1 << 20), "max_payload_size"), (Limits(max_files=5), "max_files")):
        dest = tmp_path / text
        dest.mkdir()
        with pytest.raises(PayloadLimit, match=text):
            onefile.extract(binary, info, dest, limits)
    with open_target(binary, Limits(max_payload_size=1 << 20)) as art:
        assert [p.rule for p in art.problems] == ["HN-WALK-004"]


def test_byte_mutations_never_escape_as_other_errors(builds, tmp_path):
    """Every header byte of a small real payload set to 0x00, 0xff or flipped: a payload, None, or a
    PayloadError - never another exception, never a file outside dest."""
    dist = tmp_path / "dist"
    (dist / "pkg").mkdir(parents=True)
    shutil.copy("/bin/true", dist / "main.bin")
    (dist / "pkg" / "data.txt").write_text("some data\n")
    (dist / "pkg" / "tool.sh").write_text("#!/bin/sh\n")
    os.chmod(dist / "pkg" / "tool.sh", 0o755)
    (dist / "pkg" / "link").symlink_to("data.txt")
    outcomes: dict[str, int] = {}
    for compressed, archive, checksums in ((False, False, True), (False, False, False), (True, True, False)):
        blob = nuitka_payload(dist, "main.bin", compressed=compressed, archive=archive, checksums=checksums)
        path = plant(builds["compressed"].binary, tmp_path / "m.bin", blob)
        info = onefile.find_payload(path, "elf")
        raw = path.read_bytes()
        positions = list(range(info.offset, info.offset + 40)) + [
            i + k for name in (b"pkg/", b"\0\x02data") for i in _all(raw, name, info.offset, info.stream_end)
            for k in range(-4, 24)] + list(range(info.stream_end - 8, info.stream_end + 8))
        with open(path, "r+b") as fh:
            for pos in sorted(set(positions)):
                for value in (0x00, 0xFF, raw[pos] ^ 0x5A):
                    fh.seek(pos)
                    fh.write(bytes([value]))
                    fh.flush()
                    dest = tmp_path / "m"
                    shutil.rmtree(dest, ignore_errors=True)
                    dest.mkdir()
                    try:
                        found = onefile.find_payload(path, "elf")
                        if found is not None:
                            onefile.extract(path, found, dest)
                        key = "ok" if found else "none"
                    except PayloadError:
                        key = "error"
                    outcomes[key] = outcomes.get(key, 0) + 1
                    assert _listing(tmp_path) == {"dist", "m.bin", "m"}
                fh.seek(pos)
                fh.write(raw[pos:pos + 1])
    assert outcomes.get("error", 0) > outcomes.get("ok", 0) > 0, outcomes


def _all(raw: bytes, needle: bytes, start: int, end: int) -> list[int]:
    out, at = [], raw.find(needle, start, end)
    while at >= 0:
        out.append(at)
        at = raw.find(needle, at + 1, end)
    return out


def test_legacy_field_order_is_read(builds, small_dist, tmp_path):
    """Older Nuitka wrote size before flags (no symlinks): re-encode a real payload that way."""
    blob = nuitka_payload(small_dist, "main.bin", checksums=True)
    info = onefile.find_payload(plant(builds["plain"].binary, tmp_path / "p.bin", blob), "elf")
    entries = list(onefile.iter_entries(tmp_path / "p.bin", info))
    assert [e.name for e in entries] == ["main.bin", "pkg/data.txt", "pkg/tool.sh"]
    body = bytearray(b"KAX")
    for e in entries:
        data = (small_dist / e.name).read_bytes()
        body += e.name.encode() + b"\0" + struct.pack("<Q", len(data)) + bytes([int(e.executable)])
        body += struct.pack("<I", zlib.crc32(data) or 1) + data
    body += b"\0"
    legacy = bytes(body) + struct.pack("<Q", len(body))
    binary = tmp_path / "legacy.bin"
    binary.write_bytes(builds["plain"].binary.read_bytes() + legacy)
    info = onefile.find_payload(binary, "elf")
    assert info.location == "appended" and info.layout.legacy
    dest = tmp_path / "out"
    dest.mkdir()
    onefile.extract(binary, info, dest)
    assert _tree(dest) == _tree(small_dist)


# ------------------------------------------------------------------------------------- hardnut unpack

def test_unpack_into_new_folder(builds, tmp_path):
    out = tmp_path / "out"
    entries = onefile.unpack(builds["compressed"].binary, out)
    assert len(entries) == 30 and (out / "data" / "greeting.txt").is_file()
    assert _listing(tmp_path) == {"out"}  # no temporary folder left behind


def test_unpack_refuses_non_empty_unless_overwrite(builds, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(PayloadError, match="not empty"):
        onefile.unpack(builds["compressed"].binary, out)
    assert (out / "old.txt").is_file()
    onefile.unpack(builds["compressed"].binary, out, overwrite=True)
    assert not (out / "old.txt").exists() and (out / "app.bin").is_file()
    assert _listing(tmp_path) == {"out"}


def test_unpack_failure_leaves_nothing(builds, tmp_path):
    binary, info, raw = _plain(builds)
    at = _name_offset(raw, info, b"data/greeting.txt")
    hostile = copy_with(binary, tmp_path / "hostile.bin", at, b"../data/greeting.")
    with pytest.raises(PayloadError, match=r"\.\./data/greeting"):
        onefile.unpack(hostile, tmp_path / "out")
    assert _listing(tmp_path) == {"hostile.bin"}
    # with an existing folder and overwrite: the old contents survive the failure
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "old.txt").write_text("old")
    with pytest.raises(PayloadError):
        onefile.unpack(hostile, tmp_path / "keep", overwrite=True)
    assert _listing(tmp_path / "keep") == {"old.txt"} and _listing(tmp_path) == {"hostile.bin", "keep"}


def test_unpack_refusals(builds, tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to("real")
    with pytest.raises(PayloadError, match="symlink"):
        onefile.unpack(builds["compressed"].binary, tmp_path / "link")
    with pytest.raises(PayloadError, match="no Nuitka onefile payload"):
        onefile.unpack(Path("/bin/ls"), tmp_path / "x")
    (tmp_path / "text").write_text("hello")
    with pytest.raises(PayloadError, match="not an ELF or PE"):
        onefile.unpack(tmp_path / "text", tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_bootstrap_message_counts_only_as_a_c_string(tmp_path):
    """A bootstrap's "couldn't find attached data header" message without a readable payload is an
    error; the same text as a compiled Python constant (its type tag before it: a Nuitka-built app that
    bundles hardnut's own onefile reader) is no bootstrap (building hardnut itself was reported high)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    assert gcc, "a C compiler is part of the test environment"

    def build(name: str, source: str) -> Path:
        (tmp_path / f"{name}.c").write_text("#include <stdio.h>\n" + source)
        exe = tmp_path / name
        subprocess.run([gcc, "-O0", "-o", str(exe), str(tmp_path / f"{name}.c")], check=True, capture_output=True)
        return exe

    boot = build("boot", 'int main(int argc, char **argv) { if (argc > 5) puts("Error, couldn\'t find attached '
                         'data header."); return 0; }\n')
    with pytest.raises(PayloadError, match="bootstrap without a readable payload"):
        onefile.find_payload(boot, "elf")
    constant = build("constant", 'static const char blob[] = "_HEADER_RE\\0cError, couldn\'t find attached data '
                                 'header.\\0aBOOT";\nint main(int argc, char **argv) { return blob[argc]; }\n')
    assert b"cError, couldn't find attached data header.\0" in constant.read_bytes()
    assert onefile.find_payload(constant, "elf") is None


def _plausible_start_reference(head: bytes, kind: str) -> bool:
    """search._plausible_start as first written: the filename's end found code unit by code unit."""
    from hardnut.artifact.onefile.blob import MAX_NAME_UNITS, ZSTD_MAGIC, _layouts, _u64

    if head[2:3] == b"Y" and head[3:7] == ZSTD_MAGIC:
        return True
    body = head[3:]
    for layout in _layouts(kind):
        unit = layout.unit
        end = next((i for i in range(0, min(len(body), (MAX_NAME_UNITS + 1) * unit) - unit + 1, unit)
                    if body[i:i + unit] == b"\0" * unit), None)
        if not end:
            continue
        try:
            name = body[:end].decode(layout.encoding)
        except UnicodeDecodeError:
            continue
        if not name.isprintable():
            continue
        rest = body[end + unit:]
        if layout.legacy:
            if len(rest) < 9:
                continue
            size, flags = _u64(rest[:8]), rest[8]
        elif layout.flags:
            if len(rest) < 9:
                continue
            flags, size = rest[0], _u64(rest[1:9])
        else:
            if len(rest) < 8:
                continue
            flags, size = 0, _u64(rest[:8])
        if flags in (0, 1) and 0 < size < (1 << 40):
            return True
    return False


@settings(max_examples=600, deadline=None)
@given(st.sampled_from([b"KAX", b"KAY"]),
       st.lists(st.sampled_from([b"\0", b"\0\0", b"a", b"b\0", b"\x01", b"\xff", b"\x00\x01", b"app.bin",
                                 b"\0" * 8, b"\x28\xb5\x2f\xfd", b"x" * 700, b"\1" + b"\0" * 7]), max_size=30),
       st.sampled_from(["elf", "pe", "macho"]))
def test_plausible_start_as_the_reference(magic, parts, kind):
    """The filename's end is found with bytes.find (aligned to the code unit): the same answers."""
    from hardnut.artifact.onefile.search import _plausible_start

    head = magic + b"".join(parts)
    assert _plausible_start(head, kind) == _plausible_start_reference(head, kind)


def test_header_shaped_data_without_the_bootstrap_is_no_payload(tmp_path):
    """The regex module's Unicode script names ("KAYAHLI\\0KHAPH\\0\\0\\0KHAR..." in .rdata, the Kayah Li
    script) look like a "KAY" header with a plausible first entry; its walk fails before one whole entry.
    In a file without the bootstrap's marker that is data, not a broken payload (a false HIGH on every
    Windows app bundling regex); with the marker, the same bytes are a broken payload."""
    import mmap

    from hardnut.artifact.onefile import search

    names = b"KAYAHLI\0KHAPH\0\0\0KHAR\0\0\0\0KHAROSHTHI\0\0\0\0\0\0KHITANSMALLSCRIPT\0" * 8
    assert search._plausible_start(names[:600], "pe")
    data = tmp_path / "tables.bin"
    data.write_bytes(b"\0" * 64 + names + b"\0" * 64)
    with open(data, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        ranges = [(0, len(mm), "section .rdata")]
        assert search._scan(fh, mm, ranges, "pe", Limits(), bootstrap=False) is None
        with pytest.raises(PayloadError, match="malformed onefile payload"):
            search._scan(fh, mm, ranges, "pe", Limits(), bootstrap=True)
