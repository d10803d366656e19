"""Shared helpers for the secrets tests: generators of FAKE credentials (random, seeded, never
issued by any provider) in the exact shape each rule expects, and the planted sample's manifest."""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path

from hardnut.secrets.rules import base62_crc32

REPO = Path(__file__).resolve().parents[1]
PLANTED = REPO / "sample_apps" / "planted"
ALNUM = string.ascii_letters + string.digits


class Fakes:
    """Deterministic fake secrets: Fakes(seed).github("ghp_") etc."""

    def __init__(self, seed: int = 7) -> None:
        self.rnd = random.Random(seed)

    def text(self, n: int, alphabet: str = ALNUM) -> str:
        return "".join(self.rnd.choice(alphabet) for _ in range(n))

    def b64(self, nbytes: int) -> str:
        return base64.b64encode(bytes(self.rnd.getrandbits(8) for _ in range(nbytes))).decode()

    def b64url(self, nbytes: int) -> str:
        return base64.urlsafe_b64encode(bytes(self.rnd.getrandbits(8) for _ in range(nbytes))).decode().rstrip("=")

    def github(self, prefix: str = "ghp_", valid: bool = True) -> str:
        body = self.text(30)
        check = base62_crc32(body.encode())
        if not valid:
            check = check[::-1] if check[::-1] != check else "zzzzzz"
        return prefix + body + check

    def aws_id(self) -> str:
        return "AKIA" + self.text(16, string.ascii_uppercase + "234567")

    def jwt(self, alg: str = "HS256") -> str:
        def enc(obj: dict) -> str:
            raw = json.dumps(obj, separators=(",", ":")).encode()
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")

        return enc({"alg": alg, "typ": "JWT"}) + "." + enc({"sub": "fake", "n": self.text(8)}) + "." + self.b64url(32)

    def pem_body(self, der_len: int = 200, openssh: bool = False, cipher: str = "none") -> str:
        if openssh:
            c = cipher.encode()
            raw = b"openssh-key-v1\x00" + len(c).to_bytes(4, "big") + c + bytes(self.rnd.getrandbits(8) for _ in range(der_len))
        else:
            raw = b"\x30\x82" + der_len.to_bytes(2, "big") + bytes(self.rnd.getrandbits(8) for _ in range(der_len))
        b64 = base64.b64encode(raw).decode()
        return "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))

    def pem(self, label: str = "RSA", **kw) -> str:
        head = f"{label} PRIVATE KEY" if label else "PRIVATE KEY"
        return f"-----BEGIN {head}-----\n{self.pem_body(**kw)}\n-----END {head}-----\n"


def planted_manifest() -> list[dict]:
    """sample_apps/planted/expected.json: every fake secret planted in the sample, and its rule."""
    return json.loads((PLANTED / "expected.json").read_text())["secrets"]


def check(ok: bool, message: str) -> None:
    """Assert without pytest's introspection, so a failure never prints a (fake) secret: the
    message must name the case, never the value."""
    if not ok:
        import pytest

        pytest.fail(message, pytrace=False)
