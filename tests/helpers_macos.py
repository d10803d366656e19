"""Real Mach-O and signed-PE files for the macOS / code-signature tests and the fuzz seeds.

`real_wheels()` downloads (once, with pip, into tests/fixtures/build/wheels, gitignored) and unpacks:
pillow (macosx_11_0_arm64: bundled dylibs linked by @loader_path, ad-hoc signed), markupsafe
(universal2: a fat file with an unsigned x86_64 and a linker-signed arm64 slice), psutil
(macosx_10_9_x86_64), msvc-runtime (win_amd64: Microsoft-signed DLLs) and ninja (universal2: a fat
MH_EXECUTE program). Returns {name: folder}, or
skips when there is no network.
"""

from __future__ import annotations

import fcntl
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers_binaries import BUILD, NETWORK_ERRORS

WHEELS = BUILD / "wheels"
SPECS = {
    "pillow": ("macosx_11_0_arm64", "pillow==11.1.0"),
    "markupsafe-universal2": ("macosx_10_9_universal2", "markupsafe==3.0.2"),
    "psutil": ("macosx_10_12_x86_64", "psutil==6.1.1"),
    "msvc-runtime": ("win_amd64", "msvc-runtime==14.42.34433"),
    "ninja": ("macosx_10_9_universal2", "ninja==1.11.1.1"),
}


def _download(name: str, platform: str, spec: str) -> Path:
    dest = WHEELS / "unpacked" / name
    if dest.is_dir():
        return dest
    project, version = spec.split("==")
    pattern = f"*-{version}-*{platform.split('_')[-1]}*.whl"
    wheels = [w for w in WHEELS.glob(pattern) if w.name.lower().startswith(project.replace("-", "_"))]
    if not wheels:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--platform", platform,
             "--python-version", "3.11", "-d", str(WHEELS), spec], capture_output=True, text=True, timeout=300)
        wheels = [w for w in WHEELS.glob(pattern) if w.name.lower().startswith(project.replace("-", "_"))]
        if proc.returncode != 0 or not wheels:
            if any(marker in proc.stderr for marker in NETWORK_ERRORS):
                pytest.skip(f"no network to download {spec}: {proc.stderr.strip()[-200:]}")
            pytest.fail(f"pip download {spec} failed:\n{proc.stderr}")
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(sorted(wheels)[-1]) as zf:
        zf.extractall(tmp)
    tmp.rename(dest)
    return dest


def real_wheels() -> dict[str, Path]:
    WHEELS.mkdir(parents=True, exist_ok=True)
    with open(WHEELS / ".macos.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return {name: _download(name, *spec) for name, spec in SPECS.items()}


@pytest.fixture(scope="session")
def wheels() -> dict[str, Path]:
    return real_wheels()


def msvc_dlls(root: Path) -> Path:
    return next(root.glob("*.data/data"))


def identity_sign(src: Path, dest: Path, runtime: bool = True) -> Path:
    """Re-sign a thin, ad-hoc signed Mach-O as codesign --sign IDENTITY [--options runtime] would: the
    CodeDirectory loses CS_ADHOC, its page hashes are recomputed, and a CMS blob (a detached PKCS#7
    signature over the CodeDirectory by a throw-away certificate) is added to the SuperBlob."""
    import datetime
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs7
    from cryptography.x509.oid import NameOID

    raw = bytearray(src.read_bytes())
    ncmds = struct.unpack("<I", raw[16:20])[0]
    pos, lc = 32, None
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack("<II", raw[pos:pos + 8])
        if cmd == 0x1D:
            lc = pos
        pos += cmdsize
    dataoff, _size = struct.unpack("<II", raw[lc + 8:lc + 16])
    sb = dataoff
    count = struct.unpack(">I", raw[sb + 8:sb + 12])[0]
    slots = []
    for i in range(count):
        stype, off = struct.unpack(">II", raw[sb + 12 + 8 * i:sb + 20 + 8 * i])
        blen = struct.unpack(">I", raw[sb + off + 4:sb + off + 8])[0]
        slots.append([stype, bytearray(raw[sb + off:sb + off + blen])])
    cd = next(b for t, b in slots if t == 0)
    flags = struct.unpack(">I", cd[12:16])[0] & ~0x2 & ~0x20000 | (0x10000 if runtime else 0)
    cd[12:16] = struct.pack(">I", flags)

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Developer ID Application: hardnut test (TEAM123456)")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))

    def superblob(cms: bytes) -> bytes:
        blobs = [(t, bytes(b)) for t, b in slots if t != 0x10000] + [(0x10000, struct.pack(">II", 0xFADE0B01, 8 + len(cms)) + cms)]
        head = 12 + 8 * len(blobs)
        index, body, off = b"", b"", head
        for t, b in blobs:
            index += struct.pack(">II", t, off)
            body += b
            off += len(b)
        return struct.pack(">III", 0xFADE0CC0, off, len(blobs)) + index + body

    size = len(superblob(b"\0" * 4096))  # room for the CMS blob, fixed before hashing page 0
    raw[lc + 12:lc + 16] = struct.pack("<I", size)
    hash_off, n_code, code_limit, hash_size, page_log = (struct.unpack(">I", cd[16:20])[0], struct.unpack(">I", cd[28:32])[0],
                                                         struct.unpack(">I", cd[32:36])[0], cd[36], cd[39])
    page = 1 << page_log
    for i in range(n_code):
        digest = hashlib.sha256(bytes(raw[i * page:min((i + 1) * page, code_limit)])).digest()[:hash_size]
        cd[hash_off + i * hash_size:hash_off + (i + 1) * hash_size] = digest
    cms = pkcs7.PKCS7SignatureBuilder().set_data(bytes(cd)).add_signer(cert, key, hashes.SHA256()).sign(
        serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.NoCapabilities,
                                          pkcs7.PKCS7Options.Binary])
    blob = superblob(cms)
    assert len(blob) <= size
    dest.write_bytes(bytes(raw[:dataoff]) + blob.ljust(size, b"\0"))
    return dest


def with_section(host: Path, name: str, blob: bytes, out: Path) -> Path:
    """A copy of the 64-bit thin Mach-O `host` carrying `blob` in a section `name,name`, as Nuitka's
    `ld -sectcreate name name <blob>` makes it (payload_bin for onefile payloads, constants_bin for the
    constants): the host's first __DATA/__DATA_CONST section is renamed and pointed at the blob, which
    is appended to the file."""
    raw = bytearray(host.read_bytes())
    assert raw[:4] == b"\xcf\xfa\xed\xfe"
    ncmds = struct.unpack("<I", raw[16:20])[0]
    pos = 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack("<II", raw[pos:pos + 8])
        if cmd == 0x19 and raw[pos + 8:pos + 24].rstrip(b"\0") in (b"__DATA", b"__DATA_CONST"):
            nsects = struct.unpack("<I", raw[pos + 64:pos + 68])[0]
            if nsects:
                s = pos + 72  # segment_command_64 is 72 bytes; the first section_64 follows
                raw[s:s + 16] = name.encode().ljust(16, b"\0")
                raw[s + 16:s + 32] = name.encode().ljust(16, b"\0")
                raw[s + 40:s + 48] = struct.pack("<Q", len(blob))
                raw[s + 48:s + 52] = struct.pack("<I", len(raw))
                raw[s + 64:s + 68] = struct.pack("<I", 0)  # a regular section
                out.write_bytes(bytes(raw) + blob)
                return out
        pos += cmdsize
    raise AssertionError("no data section to repurpose")
