"""PKCS#7 / CMS SignedData verification for code signatures (Authenticode, Mach-O CMS blobs), with
asn1crypto (structure) and cryptography (keys, certificates). No judgement here.

`verify_signed_data(der, content)` checks what a signature can prove on its own, offline:
  - the signed attributes' messageDigest equals the digest of `content` (the bytes the signature covers:
    Authenticode's SpcIndirectDataContent, or a Mach-O CodeDirectory);
  - the signer's signature over the signed attributes verifies with the signing certificate's key;
  - every certificate of the embedded chain is issued (and signed) by the next one, up to a
    self-signed root or the last certificate present.
Trust in the root (an OS trust store), revocation and expiry policy are not judged here. The signing
time comes from an RFC 3161 timestamp token, a PKCS#9 countersignature, or a signingTime attribute.
Every failure ends up in `CmsResult.error` (one line); nothing escapes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Optional, Sequence

_MAX_CERTS = 64
_HASHES = {"sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512", "md5": "md5"}


@dataclass(frozen=True)
class CmsResult:
    valid: bool  # digest and signature verify, and the embedded chain links up
    signer: Optional[str]  # signing certificate subject (human readable)
    issuer: Optional[str]
    signing_time: Optional[str]  # ISO 8601, UTC
    chain: tuple[str, ...]  # subjects from the signer up
    digest_algorithm: str
    message_digest: bytes  # from the signed attributes
    content: bytes  # the encapsulated content (b"" when detached)
    error: str  # why it is not valid ("" when valid)


def _fail(error: str, **kw: Any) -> CmsResult:
    base = dict(valid=False, signer=None, issuer=None, signing_time=None, chain=(), digest_algorithm="",
                message_digest=b"", content=b"", error=error)
    base.update(kw)
    return CmsResult(**base)


def _name(name: Any) -> str:
    try:
        return name.human_friendly
    except Exception:  # asn1crypto raises on exotic string types
        return "(unreadable name)"


def parse(der: bytes) -> Any:
    """The SignedData of a DER ContentInfo (asn1crypto), or raise ValueError."""
    from asn1crypto import cms

    info = cms.ContentInfo.load(der)
    if info["content_type"].native != "signed_data":
        raise ValueError(f"not SignedData but {info['content_type'].native}")
    signed = info["content"]
    signed["signer_infos"]  # noqa: B018 - parse the parts every caller needs now, so errors surface here
    signed["encap_content_info"]["content_type"]  # noqa: B018
    return signed


def encapsulated_content(signed: Any) -> bytes:
    """The encapsulated content's value bytes: asn1crypto keeps PKCS#7's `content [0] EXPLICIT ANY` as
    `Any`, whose `contents` are the inner value without its tag and length, which is exactly what
    Authenticode's messageDigest covers."""
    content = signed["encap_content_info"]["content"]
    if content is None or content.contents is None:
        return b""
    return bytes(content.contents)


def verify_signed_data(der: bytes, content: Optional[bytes] = None) -> CmsResult:
    """Verify a DER SignedData; `content` is the detached content (None: use the encapsulated one)."""
    try:
        signed = parse(der)
    except Exception as exc:
        return _fail(f"signature is not a readable PKCS#7 SignedData ({type(exc).__name__})")
    try:
        return _verify(signed, content)
    except Exception as exc:  # asn1crypto/cryptography errors on hostile structures
        return _fail(f"signature cannot be verified ({type(exc).__name__}: {' '.join(str(exc).split())[:120]})")


def verify_detached(der: bytes, candidates: Sequence[bytes]) -> CmsResult:
    """A Mach-O CMS blob signs one of the CodeDirectories: the first that verifies wins."""
    best = None
    for content in candidates or (b"",):
        result = verify_signed_data(der, content)
        if result.valid:
            return result
        best = best or result
    return best or _fail("no content to verify")


def _verify(signed: Any, content: Optional[bytes]) -> CmsResult:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    infos = signed["signer_infos"]
    if len(infos) != 1:
        return _fail(f"{len(infos)} signer infos (exactly one expected)")
    si = infos[0]
    certs = []
    for c in list(signed["certificates"] or [])[:_MAX_CERTS]:
        if c.name == "certificate":
            certs.append(x509.load_der_x509_certificate(c.chosen.dump()))
    sid = si["sid"]
    signer_cert = None
    if sid.name == "issuer_and_serial_number":
        serial = sid.chosen["serial_number"].native
        signer_cert = next((c for c in certs if c.serial_number == serial), None)
    else:
        ski = sid.chosen.native
        for c in certs:
            try:
                if c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == ski:
                    signer_cert = c
            except x509.ExtensionNotFound:
                continue
    algo = si["digest_algorithm"]["algorithm"].native
    hname = _HASHES.get(algo)
    signer = _name_of(signer_cert)
    issuer = _printable(signer_cert.issuer.rfc4514_string()[:256]) if signer_cert is not None else None
    chain = _chain(signer_cert, certs)
    timestamp = _signing_time(si)
    kw = dict(signer=signer, issuer=issuer, signing_time=timestamp, chain=tuple(_name_of(c) for c in chain),
              digest_algorithm=algo or "")
    body = encapsulated_content(signed) if content is None else content
    kw["content"] = body if content is None else b""
    if hname is None:
        return _fail(f"unsupported digest algorithm {algo}", **kw)
    if signer_cert is None:
        return _fail("the signing certificate is not in the signature", **kw)
    attrs = si["signed_attrs"]
    if not attrs:
        return _fail("no signed attributes", **kw)
    digest = None
    for attr in attrs:
        if attr["type"].native == "message_digest":
            digest = attr["values"][0].native
    if digest is None:
        return _fail("no messageDigest attribute", **kw)
    kw["message_digest"] = digest
    if hashlib.new(hname, body).digest() != digest:
        return _fail("the signed content does not match the signature's messageDigest", **kw)
    signed_bytes = attrs.untag().dump()  # signed over the SET OF encoding, not the [0] IMPLICIT tag
    try:
        _verify_sig(signer_cert, si["signature"].native, signed_bytes, hname,
                    si["signature_algorithm"]["algorithm"].native)
    except InvalidSignature:
        return _fail("the signer's signature does not verify", **kw)
    for child, parent in zip(chain, chain[1:]):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            return _fail(f"certificate {_name_of(child)} is not signed by {_name_of(parent)}", **kw)
    return CmsResult(valid=True, error="", **kw)


def _name_of(cert: Any) -> Optional[str]:
    if cert is None:
        return None
    from cryptography.x509.oid import NameOID

    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if cn:
        text = str(cn[0].value)
        text += f" ({org[0].value})" if org and str(org[0].value) not in text else ""
    else:
        text = cert.subject.rfc4514_string() or "(no subject)"
    return _printable(text[:256])


def _printable(text: str) -> str:
    """Certificate subjects are attacker-chosen and end up in terminal output: escape what is not printable."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _chain(leaf: Any, certs: list) -> list:
    """The signer, then its issuers found among the embedded certificates (no loops, at most 16)."""
    chain = []
    current = leaf
    while current is not None and len(chain) < 16 and current not in chain:
        chain.append(current)
        if current.issuer == current.subject:
            break
        current = next((c for c in certs if c.subject == current.issuer and c not in chain), None)
    return chain


def _verify_sig(cert: Any, signature: bytes, data: bytes, hname: str, sig_algo: str) -> None:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    h = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
         "md5": hashes.MD5}[hname]()
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if sig_algo == "rsassa_pss":
            key.verify(signature, data, padding.PSS(padding.MGF1(h), padding.PSS.AUTO), h)
        else:
            key.verify(signature, data, padding.PKCS1v15(), h)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(h))
    else:
        raise ValueError(f"unsupported key type {type(key).__name__}")


def _signing_time(si: Any) -> Optional[str]:
    """RFC 3161 token (Microsoft's unsigned attribute 1.3.6.1.4.1.311.3.3.1, or id-aa-timeStampToken),
    PKCS#9 countersignature, or a signingTime signed attribute."""
    from asn1crypto import cms, tsp

    for attr in si["unsigned_attrs"] or []:
        oid = attr["type"].dotted
        try:
            if oid in ("1.3.6.1.4.1.311.3.3.1", "1.2.840.113549.1.9.16.2.14"):
                token = cms.ContentInfo.load(attr["values"][0].dump())
                tst = token["content"]["encap_content_info"]["content"].parsed
                if isinstance(tst, tsp.TSTInfo):
                    return tst["gen_time"].native.isoformat()
                return tsp.TSTInfo.load(token["content"]["encap_content_info"]["content"].contents
                                        ).native["gen_time"].isoformat()
            if oid == "1.2.840.113549.1.9.6":  # countersignature: a SignerInfo with signingTime
                counter = cms.SignerInfo.load(attr["values"][0].dump())
                for a in counter["signed_attrs"] or []:
                    if a["type"].native == "signing_time":
                        return a["values"][0].native.isoformat()
        except Exception:  # a damaged timestamp does not make the signature unreadable
            continue
    for a in si["signed_attrs"] or []:
        try:
            if a["type"].native == "signing_time":
                return a["values"][0].native.isoformat()
        except Exception:
            continue
    return None
