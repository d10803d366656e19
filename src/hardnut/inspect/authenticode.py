"""PE Authenticode facts: is the file signed, does the signature still match its bytes, who signed it,
when. No judgement here.

`inspect_authenticode(path) -> AuthenticodeFacts`. pefile locates the security directory (a file offset
and size in the optional header's data directory 4); the WIN_CERTIFICATE entries there hold PKCS#7
SignedData (checked by `hardnut.inspect.cms`). The Authenticode image digest is recomputed the way
Windows does: the whole file up to the certificate table, skipping the optional header's CheckSum field
and the security directory entry, then any bytes after the table (Microsoft's "Windows Authenticode
Portable Executable Signature Format", section "Calculating the PE Image Hash"), and compared with the
SpcIndirectDataContent digest. Only the first signature is judged; nested (dual) signatures are counted.

`signify` is the usual PyPI library for this, but it needs oscrypto, which cannot load OpenSSL >= 3.0.10
(every current distribution): hence asn1crypto + cryptography, both maintained.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from hardnut.inspect.elf import BinaryParseError

WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
_NESTED_SIGNATURE = "1.3.6.1.4.1.311.2.4.1"
_MAX_TABLE = 16 * 1024**2
_HASHES = {"sha1", "sha256", "sha384", "sha512", "md5"}


@dataclass(frozen=True)
class AuthenticodeFacts:
    signed: bool  # a non-empty security directory
    valid: bool  # the image digest matches and the PKCS#7 signature verifies (see hardnut.inspect.cms)
    digest_matches: Optional[bool]  # None when no digest could be read
    signer: Optional[str]
    issuer: Optional[str]
    signing_time: Optional[str]
    chain: tuple[str, ...]
    digest_algorithm: str
    nested_signatures: int
    error: str  # why it is not valid ("" when it is, or when unsigned)


UNSIGNED = AuthenticodeFacts(False, False, None, None, None, None, (), "", 0, "")


def inspect_authenticode(path: Union[str, Path]) -> AuthenticodeFacts:
    """Authenticode facts of one PE file. Raises BinaryParseError when the PE headers are unreadable."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < 0x40:
                raise BinaryParseError("too short for a DOS header")
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                return _inspect(mm, size)
    except BinaryParseError:
        raise
    except OSError as exc:
        raise BinaryParseError(f"cannot read file: {exc.strerror or exc}") from None
    except Exception as exc:  # pefile errors on hostile headers
        raise BinaryParseError(f"malformed PE: {type(exc).__name__}: {' '.join(str(exc).split())[:120]}") from None


def _inspect(mm: mmap.mmap, size: int) -> AuthenticodeFacts:
    import pefile

    pe = pefile.PE(data=mm, fast_load=True)
    try:
        oh = pe.OPTIONAL_HEADER
        dirs = oh.DATA_DIRECTORY
        if len(dirs) <= 4:
            return UNSIGNED
        sec = dirs[4]
        table_off, table_size = int(sec.VirtualAddress), int(sec.Size)
        checksum_off = oh.get_file_offset() + 64  # CheckSum sits at the same place in PE32 and PE32+
        secdir_off = sec.get_file_offset()
    finally:
        del pe
    if not table_off or not table_size:
        return UNSIGNED
    if table_off + table_size > size or table_size < 8 or table_size > _MAX_TABLE:
        return _broken("the certificate table lies outside the file or is implausibly large")
    length, _revision, ctype = struct.unpack("<IHH", mm[table_off:table_off + 8])
    if ctype != WIN_CERT_TYPE_PKCS_SIGNED_DATA or not 8 < length <= table_size:
        return _broken(f"unsupported WIN_CERTIFICATE (type {ctype:#x}, length {length})")
    der = mm[table_off + 8:table_off + length]

    from hardnut.inspect import cms

    try:
        signed = cms.parse(bytes(der))
    except Exception as exc:
        return _broken(f"the signature is not a readable PKCS#7 SignedData ({type(exc).__name__})")
    try:
        ctype_oid = signed["encap_content_info"]["content_type"].dotted
        if ctype_oid != _SPC_INDIRECT_DATA:
            return _broken(f"the signed content is {ctype_oid}, not SpcIndirectDataContent")
        spc = signed["encap_content_info"]["content"]
        algo, expected = _spc_digest(spc)
        nested = 0
        for si in signed["signer_infos"]:
            for attr in si["unsigned_attrs"] or []:
                if attr["type"].dotted == _NESTED_SIGNATURE:
                    nested += len(attr["values"])
    except Exception as exc:
        return _broken(f"unreadable SpcIndirectDataContent ({type(exc).__name__})")
    result = cms.verify_signed_data(bytes(der))
    if algo not in _HASHES:
        return _broken(f"unsupported image digest algorithm {algo}", result)
    actual = image_digest(mm, size, algo, checksum_off, secdir_off, table_off, table_size)
    matches = actual == expected
    error = "" if matches else "the file's bytes no longer match the signed image digest"
    if matches and not result.valid:
        error = result.error
    return AuthenticodeFacts(True, matches and result.valid, matches, result.signer, result.issuer,
                             result.signing_time, result.chain, algo, nested, error)


def _broken(error: str, result=None) -> AuthenticodeFacts:
    if result is None:
        return AuthenticodeFacts(True, False, None, None, None, None, (), "", 0, error)
    return AuthenticodeFacts(True, False, None, result.signer, result.issuer, result.signing_time, result.chain,
                             result.digest_algorithm, 0, error)


def _spc_digest(spc) -> tuple[str, bytes]:
    """(hash name, digest) of SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue,
    messageDigest DigestInfo }, read with asn1crypto's generic types."""
    from asn1crypto import algos, core, parser

    seq = core.Sequence.load(parser.emit(0, 1, 16, bytes(spc.contents)))
    digest_info = core.Sequence.load(seq[1].dump())
    algo = algos.DigestAlgorithm.load(digest_info[0].dump())["algorithm"].native
    digest = core.OctetString.load(digest_info[1].dump()).native
    return algo, digest


def image_digest(mm, size: int, algo: str, checksum_off: int, secdir_off: int, table_off: int,
                 table_size: int) -> bytes:
    """The Authenticode image digest: every byte except the CheckSum, the security directory entry and
    the certificate table itself."""
    h = hashlib.new(algo)
    cuts = sorted([(checksum_off, 4), (secdir_off, 8), (table_off, table_size)])
    pos = 0
    for start, length in cuts:
        if start > pos:
            h.update(mm[pos:start])
        pos = max(pos, start + length)
    if pos < size:
        h.update(mm[pos:size])
    return h.digest()
