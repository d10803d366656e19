"""Secret detection rules, as data: one `SecretRule` per provider format plus a generic rule.

Each rule is a bytes regex whose named group `secret` is the credential (the whole match when the
group is absent), a list of literal keywords of which every match contains at least one (the
engine only runs the regex around keyword hits), how far before/after a keyword a match can reach,
an entropy floor and named validators. Patterns were written for hardnut after studying gitleaks'
config/gitleaks.toml and detect-secrets' plugins; they are not copies.

Patterns never let a secret span a NUL byte: the engine joins separate strings with NUL.
Prefix-anchored formats (ghp_, AIza, sk_live_...) have no left word boundary on purpose: inside a
Nuitka constants blob a string directly follows its one-letter type tag ('a', 'u').

Validators are pure functions `(secret: bytes, match) -> Verdict | None`: None drops the candidate,
a Verdict keeps it (possibly at another severity, with a note for the message).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
import re
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Optional

from hardnut.model import Rule, Severity


@dataclass(frozen=True)
class Verdict:
    """What a validator says of a candidate: a severity other than the rule's (None keeps it) and why."""

    severity: Optional[Severity] = None  # None: the rule's severity
    note: str = ""


KEEP = Verdict()


@dataclass(frozen=True)
class SecretRule:
    """A secret detection rule: its pattern, keywords, the window around them and the filters that confirm a
    match."""

    id: str
    name: str
    severity: Severity
    pattern: bytes
    keywords: tuple[bytes, ...]
    explanation: str
    caseless: bool = False  # keywords match ASCII case-insensitively
    before: int = 0  # bytes a match may start before its keyword
    # bytes before the match its validators may read (m.string holds them; the regex does not
    # start there): the lines above a generic value that may name its provider
    context: int = 0
    after: int = 256  # bytes a match may end after the keyword's start
    min_entropy: float = 0.0  # Shannon bits per byte of the secret
    validators: tuple[str, ...] = ()
    generic: bool = False  # loses against a provider rule on the same secret
    references: tuple[str, ...] = ()
    # cheap necessary condition: `near` occurs within `near_span` bytes after the keyword's end
    # (e.g. the assignment operator of a name = value rule); skips the full regex otherwise
    near: bytes = b""
    near_span: int = 0
    # the same, before the keyword: `near_before` occurs within `before` bytes before it
    near_before: bytes = b""
    # cheap necessary condition matched AT the keyword's end (re.match, within 128 bytes): e.g. the
    # assignment operator on the same line and in the same string as the name
    tail: bytes = b""
    # every keyword is where the secret starts: the engine tries the regex only at the keyword
    # (re.match at that position, look-behinds still see the bytes before) instead of searching
    anchored: bool = False
    provider: str = ""  # who issues it ("" for generic rules)
    # gitleaks custom rules: the secret is this group (0: the first non-empty group, else the
    # whole match; None: the `secret` named group, else the whole match), and their allowlists
    gitleaks_group: Optional[int] = None
    allowlists: tuple = ()
    example: str = ""  # the shape, for `hardnut rules --category secret` (never a real secret)

    # The compiled patterns, compiled on first use (a run compiles only the rules whose keywords occur).
    @cached_property
    def regex(self) -> re.Pattern:
        return re.compile(self.pattern)

    @cached_property
    def near_re(self) -> Optional[re.Pattern]:
        return re.compile(self.near) if self.near else None

    @cached_property
    def near_before_re(self) -> Optional[re.Pattern]:
        return re.compile(self.near_before) if self.near_before else None

    @cached_property
    def tail_re(self) -> Optional[re.Pattern]:
        return re.compile(self.tail) if self.tail else None

    def __post_init__(self) -> None:
        for v in self.validators:
            if v not in VALIDATORS:
                raise ValueError(f"rule {self.id}: unknown validator {v}")
        if self.near and self.after + 1 < self.near_span:  # the engine tests `near` on the file, not the window
            raise ValueError(f"rule {self.id}: near_span reaches beyond the rule's window")

    def as_rule(self) -> Rule:
        return Rule(self.id, self.name, "secret", self.severity, self.explanation, self.references)

    def secret_span(self, m: re.Match) -> tuple[int, int]:
        if self.gitleaks_group is not None:
            if self.gitleaks_group > 0:
                return m.span(self.gitleaks_group)
            for g in range(1, (self.regex.groups or 0) + 1):
                if m.group(g):
                    return m.span(g)
            return m.span()
        if "secret" in self.regex.groupindex:
            return m.span("secret")
        return m.span()


# ---------------------------------------------------------------------------------------------
# helpers shared by validators


def entropy(data: bytes) -> float:
    """Shannon entropy in bits per byte."""
    if not data:
        return 0.0
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values())


_PLACEHOLDER = re.compile(
    rb"(?i)example|x{6}|\*{4}|changeme|change_me|placeholder|your[_\-]|<your|dummy|redacted|"
    rb"\$\{|\{\{|%\(|%s|0{10}|insert[_\-]?here|replace[_\-]?me|#[A-Za-z_]\w*#"
)


def is_placeholder(secret: bytes) -> bool:
    """Documentation values and templates: EXAMPLE keys, xxxxxx, ${VAR}, {{var}}, %s..."""
    return bool(_PLACEHOLDER.search(secret))


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62_crc32(data: bytes) -> str:
    n = zlib.crc32(data) & 0xFFFFFFFF
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = _B62[r] + out
    return out.rjust(6, "0")


def _b64decode(text: bytes, urlsafe: bool = False) -> Optional[bytes]:
    text = re.sub(rb"\\[nr]|\s", b"", text)
    pad = b"=" * (-len(text) % 4)
    try:
        if urlsafe:
            return base64.urlsafe_b64decode(text + pad)
        return base64.b64decode(text + pad, validate=True)
    except (binascii.Error, ValueError):
        return None


# ---------------------------------------------------------------------------------------------
# well-known public keys and test vectors (src/hardnut/policy/known-public-secrets.json)

_KNOWN_PUBLIC_FILE = Path(__file__).resolve().parent.parent / "policy" / "known-public-secrets.json"


def canonical_secret(rule_id: str, secret: bytes) -> bytes:
    """What a known-public fingerprint is computed over: the DER bytes of a PEM key (so line
    breaks, escaping and the label do not matter), else the secret itself."""
    if rule_id == "HN-SEC-018":
        body = b"".join(ln.strip() for ln in re.split(rb"\\+[nr]|[\r\n]+", secret) if b":" not in ln)
        raw = _b64decode(body)
        if raw is not None:
            return raw
    return secret


def secret_sha256(rule_id: str, secret: bytes) -> str:
    return hashlib.sha256(canonical_secret(rule_id, secret)).hexdigest()


@functools.lru_cache(maxsize=1)
def known_public() -> dict[str, str]:
    """sha256 (see canonical_secret) -> what it is and where it comes from."""
    data = json.loads(_KNOWN_PUBLIC_FILE.read_text(encoding="utf-8"))
    out = {}
    for group in data["groups"]:
        for fp in group["sha256"]:
            out[fp] = group["what"]
    return out


def known_public_note(rule_id: str, secret: bytes) -> Optional[str]:
    return known_public().get(secret_sha256(rule_id, secret))


# ---------------------------------------------------------------------------------------------
# validators


def longest_run(secret: bytes) -> int:
    """Longest run of characters counting up (abcdef, 123456) or repeating (AAAAAA, 000000)."""
    best = run = 1
    low = secret.lower()
    for x, y in zip(low, low[1:]):
        run = run + 1 if (y == x + 1 and (48 <= x <= 57 or 97 <= x <= 122)) or y == x else 1
        best = max(best, run)
    return best if secret else 0


def sequence_run(secret: bytes) -> int:
    """Longest run of letters or digits counting up or down (abcdefgh, zyxwvu, aBcDeF, 9876543),
    case ignored. Random keys of any length practically never hold 7 (about 1 in 10^5 at 64
    characters of base62); hand-made example values do."""
    best, run, step = 1, 1, 0
    low = secret.lower()
    for x, y in zip(low, low[1:]):
        d = y - x
        if d in (1, -1) and (48 <= x <= 57 and 48 <= y <= 57 or 97 <= x <= 122 and 97 <= y <= 122):
            run = run + 1 if d == step else 2
            step = d
        else:
            run, step = 1, 0
        best = max(best, run)
    return best if secret else 0


def looks_like_words(secret: bytes) -> bool:
    """A hand-written value made of words: RANDOMSTRINGHERE, my-tokens_are-correct,
    SlackAppConfigurationAccessTokenHere. Lowercase random runs are unpronounceable, so they do not
    count as words."""
    toks = [t for t in _WORD_TOKEN.findall(secret) if not t.isdigit()]
    alnum = sum(1 for b in secret if b in _ALNUM_SET)
    if alnum < 12:
        return False
    toks = [t for t in toks if not t.isupper() or len(t) >= 8]  # AKIAZB, XYA: random capitals are no words
    covered = sum(len(t) for t in toks if len(t) >= 3)
    letters = sum(1 for b in secret if 65 <= b <= 90 or 97 <= b <= 122)
    if letters < 12 or covered / letters < 0.8 or len(_DIGIT_RUN.findall(secret)) > 2:
        return False  # digits and symbols around words do not count; digits all over are random
    return all(_pronounceable(t.lower()) for t in toks if len(t) >= 3)


def v_not_placeholder(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """Documentation values: EXAMPLE, xxxx, ${VAR}, long abcdef/123456/AAAAAA runs, words."""
    if is_placeholder(secret):
        return None
    body = re.sub(rb"^[A-Za-z0-9]{1,12}?[_\-.]", b"", secret, count=1)  # drop the provider prefix
    if longest_run(body.lstrip(b"A")) >= 7 or looks_like_words(body) or alternating_sequence(body):
        return None
    return KEEP


def v_crc32_checksum(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """GitHub (2021 format) and npm tokens: 30 random base62 chars + base62(CRC32) in 6 chars."""
    body = secret.split(b"_", 1)[1]
    if len(body) == 36 and base62_crc32(body[:30]) == body[30:].decode("ascii", "replace"):
        return KEEP
    return Verdict(Severity.LOW, "checksum does not match: a test value, a typo or a truncated token")


def v_azure_key(secret: bytes, m: re.Match) -> Optional[Verdict]:
    raw = _b64decode(secret)
    return KEEP if raw is not None and len(raw) == 64 else None


def v_jwt(secret: bytes, m: re.Match) -> Optional[Verdict]:
    head, payload, _sig = secret.split(b".", 2)
    try:
        header = json.loads(_b64decode(head, urlsafe=True) or b"")
        claims = json.loads(_b64decode(payload, urlsafe=True) or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or "alg" not in header:
        return None
    if str(header.get("alg")).lower() == "none":
        return Verdict(Severity.LOW, "unsigned token (alg none)")
    example_key = jwt_example_key(head, payload, _sig, str(header.get("alg")))
    if example_key is not None:
        return Verdict(Severity.INFO, f"signed with {example_key}: anyone can mint it (public documentation)")
    if isinstance(claims, dict):
        if {k: v for k, v in claims.items() if k != "admin"} == _JWT_IO_EXAMPLE:
            return Verdict(Severity.INFO, "the jwt.io example token (public documentation)")
        exp = claims.get("exp")
        if isinstance(exp, (int, float)) and not isinstance(exp, bool) and 0 < exp < time.time():
            day = time.strftime("%Y-%m-%d", time.gmtime(min(exp, 253402300799)))
            return Verdict(Severity.LOW, f"expired on {day}: it can no longer be replayed")
    return KEEP


_JWT_HMAC = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


@functools.lru_cache(maxsize=1)
def _jwt_example_keys() -> tuple[str, tuple[bytes, ...]]:
    group = json.loads(_KNOWN_PUBLIC_FILE.read_text(encoding="utf-8")).get("jwt_hmac_keys") or {}
    return group.get("what", "a public example key"), tuple(k.encode() for k in group.get("keys", ()))


def jwt_example_key(head: bytes, payload: bytes, sig: bytes, alg: str) -> Optional[str]:
    """What public example secret (src/hardnut/policy/known-public-secrets.json, jwt_hmac_keys) an
    HMAC-signed token verifies under, if any."""
    digest = _JWT_HMAC.get(alg.upper())
    if digest is None or not sig:
        return None
    what, keys = _jwt_example_keys()
    want = _b64decode(sig, urlsafe=True)
    if want is None:
        return None
    for key in keys:
        if hmac.compare_digest(hmac.new(key, head + b"." + payload, digest).digest(), want):
            return what
    return None


# the claims of the example token on https://jwt.io (and in countless tutorials), with or without "admin"
_JWT_IO_EXAMPLE = {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}


def v_pem_key(secret: bytes, m: re.Match) -> Optional[Verdict]:
    label = (m.group("label") or b"").strip().upper()
    lines = re.split(rb"\\+[nr]|[\r\n]+", secret)
    headers = [ln for ln in lines if b":" in ln]
    body = b"".join(ln.strip() for ln in lines if b":" not in ln)
    if label.startswith(b"PGP"):
        body = body.rsplit(b"=", 1)[0] if len(body) > 5 and body[-5:-4] == b"=" else body
        return KEEP if len(body) >= 64 else None
    raw = _b64decode(body)
    if raw is None or len(raw) < 48:
        return None
    encrypted = b"ENCRYPTED" in label or any(b"ENCRYPTED" in h.upper() for h in headers)
    if label == b"OPENSSH":
        if not raw.startswith(b"openssh-key-v1\x00"):
            return None
        cipher_len = int.from_bytes(raw[15:19], "big")
        encrypted = raw[19:19 + cipher_len] != b"none"
    elif raw[0] != 0x30:  # DER SEQUENCE
        return None
    if encrypted:
        return Verdict(Severity.HIGH, "passphrase-encrypted key")
    return KEEP


def v_putty_key(secret: bytes, m: re.Match) -> Optional[Verdict]:
    if _b64decode(secret) is None:
        return None
    if m.group("enc") != b"none":
        return Verdict(Severity.HIGH, "passphrase-encrypted key")
    return KEEP


_URL_PLACEHOLDER_PW = {
    b"password", b"passwd", b"pass", b"pwd", b"secret", b"changeme", b"pw", b"token", b"redacted",
    b"xxx", b"xxxx", b"yyy", b"zzz", b"123", b"1234", b"12345", b"123456", b"****",
}


# documentation credentials: (user, what the password starts with). scott/tiger is Oracle's SCOTT sample
# schema; SQLAlchemy's docstrings use it in every DSN example (69 times in sqlalchemy 2.1.9, with
# "tiger^5HHH" where they show a password that needs escaping), and those docstrings ship with it.
_URL_DEMO_CREDENTIALS = ((b"scott", b"tiger"),)


def v_url_password(secret: bytes, m: re.Match) -> Optional[Verdict]:
    user = m.group("user")
    host = m.group("host").lower()
    low = secret.lower()
    if low in _URL_PLACEHOLDER_PW or secret == user or is_placeholder(secret) or is_placeholder(user):
        return None
    if any(user.lower() == u and low.startswith(pw) for u, pw in _URL_DEMO_CREDENTIALS):
        return None
    if secret[:1] in (b"$", b"%", b"{", b"<", b"[", b"*") or set(secret) <= set(b"*xX._-"):
        return None
    if b"example" in host or host.endswith((b".test", b".local")) or host in (b"host", b"hostname", b"server"):
        return None
    return KEEP


# values that are code, paths, variables, labels, ARNs or elided examples rather than secrets
_CODE_LIKE = re.compile(
    rb"[()\[\]{}]|^[/~.:=]|::|://|\.\w+\(|^\$[A-Za-z_{(]|:$|\.\.\.|\*.*\*.*\*|^arn:|^urn:|"

    rb"^(?:true|false|null|none|nil|undefined)$", re.I)
# printf / Python %-formats: "Authorization: %.*s", "%-20.20s", "%(name)s", "%lu"
_PRINTF = re.compile(
    rb"%(?:\([A-Za-z_]\w*\))?[-+ #0]*(?:[0-9]+|\*)?(?:\.(?:[0-9]+|\*))?(?:hh|h|ll|l|L|z|j|t|q|I64|I32)?"
    rb"[diouxXeEfFgGaAcspnrS@]")
# words that make a value self-describing when little else is left ("rest-of-my-password")
_SELF_WORDS = re.compile(rb"(?i)passw(?:or)?d|passwd|secret|token|sample|dummy|fake|test(?:ing)?|example|value|key")
# names where the keyword is part of another word, or the value is not secret (pagination and
# idempotency tokens, ARNs, encrypted blobs, public keys)
_NOT_A_SECRET_NAME = re.compile(
    rb"(?i)bypass|compass|passthr|passiv|passag|passeng|passed|passing|passes|trespass|surpass|"
    rb"tokeniz|author(?!i[sz]ation)|pwdata|secretary|credential_?(?:provider|process|source)|"
    rb"authenticity|(?:next|change|page|continuation|sync|client|idempotency|pagination|starting|marker|continue|"
    rb"cursor|csrf|xsrf|cancel|import|resume|request|action|refresh_?token_?expir)[_\-.]?token|arn$|_arn|"
    rb"ciphertext|encrypted|public|strategy|scheme|generation|rotation|policy|checksum")
_BAD_NAME_SUFFIX = re.compile(
    rb"(?i)(?:_|-|\.)?(?:len|length|size|type|types|file|files|path|dir|name|names|id|url|uri|endpoint|"
    rb"field|fields|header|prefix|regex|pattern|format|expires?|expiry|ttl|count|index|class|"
    rb"mode|kind|key_?id|label|char|chars|prompt|hash|salt_len|env|var|option|param|arg|time|date|used|"
    rb"version)$"
)
# a bare `key` name: only these shapes (hmac key, KEY, Using Key=, signing_key), and not these
_BARE_KEY_NAME = re.compile(rb"(?:^|[_.\-])key$|^[A-Za-z]{0,20}(?<=[a-z0-9])Key$|^(?:[A-Z]+_)*KEY$", re.I)
_NOT_SECRET_KEYS = re.compile(
    rb"(?i)(?:cache|sort|primary|foreign|partition|hash|range|row|dict|map|lookup|index|unique|group|"
    rb"hot|short(?:cut)?|mon|tur|jock|hock|whis|don|pub(?:lic)?|registry|config|setting|option|"
    rb"translation|i18n|storage_?class|object|s3|bucket|field|column|table|attr|json|yaml|env|meta|"
    rb"idempotency|dedup(?:e|lication)?|routing|shard|message|msg|event|metric|label|name|file|path)[_.\-]?key$")


_WORD_TOKEN = re.compile(rb"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_UUID = re.compile(rb"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DATE = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_IDENT = re.compile(rb"_*[A-Za-z][A-Za-z0-9_]*")
_FILENAME = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9_\-=]*(?:\.[A-Za-z0-9_\-=]+)*")
_SHORT_ALNUM_NAME = re.compile(rb"_*[A-Za-z]{1,5}[0-9]{1,6}")  # x25519, sha256, utf8
_DIGITS_INSIDE_WORD = re.compile(rb"[a-z][0-9]+[a-z]|[A-Z][0-9]+[A-Z][A-Z]")
_SNAKE_CASE = re.compile(rb"_*(?:[a-z]+[0-9]*|[A-Z]+[0-9]*|[0-9]+)(?:_+(?:[a-z]+[0-9]*|[A-Z]+[0-9]*|[0-9]+)){2,}_*")
_LOWER_NAME = re.compile(rb"_*[a-z]+[0-9]*")  # cygrpc, xmlrpc, np: module names need no vowels
_DIGIT_RUN = re.compile(rb"[0-9]+")
_VOWELS = frozenset(b"aeiouyAEIOUY")
_CONSONANT_RUN = re.compile(rb"[b-df-hj-np-tv-xzB-DF-HJ-NP-TV-XZ]{5,}")


def wordiness(secret: bytes) -> float:
    """Share of alphanumeric characters in word-like tokens (lowercase or Capitalized letter runs
    of 3+, CamelCase parts): ~0.4 for random base62 (p99 0.75 at 32 chars), ~0.2 for hex, >= 0.85
    for identifiers such as oauth2_client_cls or DjangoOAuth1App."""
    alnum = sum(1 for b in secret if 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122)
    good = sum(len(tok) for tok in _WORD_TOKEN.findall(secret) if len(tok) >= 3 and not tok.isdigit())
    return good / max(1, alnum)


def _pronounceable(tok: bytes) -> bool:
    """A letter run that reads like a word part: enough vowels, no long consonant clusters."""
    if len(tok) < 6:
        return True
    vowels = sum(1 for b in tok if b in _VOWELS)
    return vowels / len(tok) >= 0.15 and not _CONSONANT_RUN.search(tok)


# a class-name prefix before a Capitalized word: Qt's Q (QSslKey), C, I, T; PySide6, QtCore, GdkPixbuf
_NAME_PREFIX = re.compile(rb"(?:[A-Z]|[A-Z][a-z])(?=[A-Z][a-z]{2})")


def looks_like_identifier(value: bytes) -> bool:
    """Class, function and constant names: Ed25519PublicKey, _SSHFormatEd25519, SomeName2,
    oauth2_client_cls, QSslKey, PySide6. Random tokens split into many 1-2 letter case runs, or
    unpronounceable ones."""
    if not _IDENT.fullmatch(value):
        return False
    if _identifier_shape(value):
        return True
    prefix = _NAME_PREFIX.match(value)
    return prefix is not None and _identifier_shape(value[prefix.end():])


def _identifier_shape(value: bytes) -> bool:
    if _SHORT_ALNUM_NAME.fullmatch(value):
        return True
    if _DIGITS_INSIDE_WORD.search(value):
        return False  # a8f3k, sb41vn: digits inside a lowercase run are not how names are written
    if _SNAKE_CASE.fullmatch(value):
        return True  # _mm512_xor_si512, __f2py_cb: single-case parts, digits only at their ends
    toks = _WORD_TOKEN.findall(value)
    letters = [t for t in toks if not t.isdigit()]
    if not letters:
        return False
    singles = sum(1 for t in letters if len(t) == 1)
    if singles > 1 or sum(len(t) for t in letters) / len(letters) < 3.5:
        return wordiness(value) >= (0.85 if len(value) >= 12 else 0.95)
    return all(_pronounceable(t) for t in letters)


def looks_like_path(value: bytes) -> bool:
    """File and module paths: cryptography/hazmat/primitives/ssh.py, C:\\Program Files\\x, a.b.c."""
    parts = [p for p in re.split(rb"[/\\:]", value) if p]
    if len(parts) < 2 and not re.search(rb"\.(?:py[cdi]?|so|dll|pyd|exe|txt|json|ya?ml|toml|ini|cfg|conf|pem|"
                                         rb"key|crt|h|c|cpp|js|ts|html|xml|md|log)$", value, re.I):
        return False
    for part in parts:
        if not _FILENAME.fullmatch(part):
            return False
        for seg in re.split(rb"[.\-=]", part):
            if seg and not (seg.isdigit() or looks_like_identifier(seg) or len(seg) <= 3):
                return False
    return True


_SLUG_PART_NUMBERED = re.compile(rb"[0-9]{1,4}[a-z]{2,}|[a-z]{2,}[0-9]{1,4}")


def looks_like_slug(value: bytes) -> bool:
    """Names made of words joined by - _ . (aardvark-py-2014, LicenseRef-scancode-3com-microcode,
    gpl-2.0-plus): every part is a word, a number or a short tag, and one is a real word."""
    parts = [p for p in re.split(rb"[\-_.]+", value) if p]
    if len(parts) < 2 or not all(p.isalnum() and p.isascii() for p in parts):
        return False
    if len(parts) >= 4 and all(len(p) <= 3 and (p.isdigit() or p.isalpha()) for p in parts):
        return True  # a list of tags: CC-BY-NC-SA-2.0-DE
    worded = False
    for part in parts:
        letters = re.sub(rb"[0-9]", b"", part)
        if part.isdigit() or len(part) <= 3:
            continue
        if part.isalpha() and part.islower() and len(part) <= 10:  # a word, pronounceable or not (tcpdump)
            worded = worded or (len(part) >= 4 and _pronounceable(part) and any(b in _VOWELS for b in part))
            continue
        if looks_like_identifier(part) and not re.search(rb"[0-9]", part):
            worded = worded or (len(part) >= 4 and _pronounceable(part.lower()) and any(b in _VOWELS for b in part))
            continue
        if _SLUG_PART_NUMBERED.fullmatch(part) and _pronounceable(letters) and any(b in _VOWELS for b in letters):
            continue
        return False
    return worded


def looks_like_dotted_name(value: bytes) -> bool:
    """module.attribute names (os.path.join, x25519.X25519PrivateKey), not pk.<random>.<random>."""
    parts = value.split(b".")
    if len(parts) < 2 or not all(_IDENT.fullmatch(p) for p in parts):
        return False
    return all(looks_like_identifier(p) or (len(p) <= 10 and _LOWER_NAME.fullmatch(p)) for p in parts)


def _ascending_ratio(secret: bytes) -> float:
    """Share of neighbouring characters that count up (abc, 123): hand-made example values."""
    low = secret.lower()
    ups = sum(1 for x, y in zip(low, low[1:]) if y == x + 1 and (48 <= x <= 57 or 97 <= x <= 122))
    return ups / max(1, len(secret) - 1)


def _classes(secret: bytes) -> set[str]:
    kinds = set()
    for b in secret:
        if 97 <= b <= 122:
            kinds.add("lower")
        elif 65 <= b <= 90:
            kinds.add("upper")
        elif 48 <= b <= 57:
            kinds.add("digit")
        else:
            kinds.add("symbol")
    return kinds


_KWARG = re.compile(rb"([A-Za-z_][A-Za-z0-9_.]*)=(.+)")
_LITERAL = re.compile(rb"(?i)true|false|none|null|nil|[0-9.eE+\-]+|'[^']*'|\"[^\"]*\"")


def is_assignment(value: bytes) -> bool:
    """`weights=None`, `bounds_error=True`, `mode=fast`: keyword arguments and settings, not keys."""
    m = _KWARG.fullmatch(value)
    if m is None:
        return False
    rhs = m.group(2)
    return bool(_LITERAL.fullmatch(rhs)) or looks_like_identifier(rhs) or looks_like_dotted_name(rhs)


def random_enough(secret: bytes, strict: bool = False) -> bool:
    """Does the value look generated (a key, token or strong password) rather than typed or a word?"""
    if looks_like_words(secret):  # SomeKindOfPassword123!@#, PassWordMustBeAtLeast6Chars.
        return False
    if (is_assignment(secret) or is_placeholder(secret) or _CODE_LIKE.search(secret) or _PRINTF.search(secret) or _DATE.match(secret)
            or _HTTP_HEADER.fullmatch(secret) or _HOST_NAME.fullmatch(secret) or settings_query(secret)
            or looks_like_identifier(secret) or looks_like_path(secret) or looks_like_dotted_name(secret)
            or looks_like_slug(secret)):
        return False
    if _SELF_WORDS.search(secret):
        rest = _SELF_WORDS.sub(b"", secret)
        if sum(1 for b in rest if b in _ALNUM_SET) < 12 or not random_enough(rest, strict):
            return False  # a value that names what it is: doc examples ("rest-of-my-password")
    kinds = _classes(secret)
    if not (kinds & {"lower", "upper"}):  # numbers, punctuation
        return False
    h = entropy(secret)
    if _UUID.fullmatch(secret):
        return not strict
    if _ascending_ratio(secret) >= 0.25:
        return False
    if len(kinds - {"symbol"}) == 1:  # letters of one case (with symbols): long and dense only
        if len(secret) < 16 or h < 3.6:
            return False
    if _HEX_VALUE.fullmatch(secret):  # a 16-symbol alphabet caps the entropy at 4 bits: its own floor
        if len(secret) < (24 if strict else 16) or strict and len(kinds) < 2:
            return False
        return h >= hex_entropy_floor(len(secret))
    if len(kinds) == 2:  # base32 / lowercase+digits / mixed-case letters
        if len(secret) < (24 if strict else 16) or h < (3.5 if strict else 3.3):
            return False
    if strict and (len(secret) < 16 or len(kinds) < 2):
        return False
    return h >= min(3.5, max(3.0, 0.75 * math.log2(len(secret))))


_HEX_VALUE = re.compile(rb"[0-9a-f]+|[0-9A-F]+")


def hex_entropy_floor(n: int) -> float:
    """The entropy (bits per character) that 99 % of random hex strings of length n reach: 2.5 at
    16, 3.0 at 24, 3.25 at 32, 3.6 at 64 (measured on random samples; a 4-bit alphabet cannot reach
    the 3.5 that other random values of that length reach)."""
    return 4.0 - 24.0 / n


_ALNUM_SET = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# characters no issued key or token is made of (base64/base62/hex/UUID/JWT alphabets, with . : ~ & =
# for structured ones, %XX escapes for URL-encoded ones); typed passwords and free-form secrets hold them
_NOT_TOKEN_CHAR = re.compile(rb"[?#$^*!@]|%(?![0-9A-Fa-f]{2})")
_FREE_FORM_NAME = re.compile(rb"(?i)pass|pwd|secret|credential")


def foreign_to_tokens(name: bytes, secret: bytes) -> bool:
    """A value under a key/token name (not a password or secret) holding characters that issued
    keys are never made of (`?`, `#`, `$`, `!`, `@`, a bare `%`...): prose, a mangled value or a
    template, not a key."""
    return bool(_NOT_TOKEN_CHAR.search(secret)) and not _FREE_FORM_NAME.search(name)


_HEX_CHARS = frozenset(b"0123456789abcdefABCDEF")


def mangled_hex(secret: bytes) -> bool:
    """A hex key (24+ digits, dashes allowed) with one or two letters beyond f: a typo, an edit or
    a made-up value, not an issued key. Random base36/base62 text of that length has a dozen or
    more such letters, so real keys of other alphabets do not trip it."""
    body = re.sub(rb"^[A-Za-z]{1,8}[_\-]", b"", secret).replace(b"-", b"")  # key-, live_: a prefix is no digit
    if len(body) < 24 or not body.isalnum() or not body.isascii():
        return False
    return 1 <= sum(1 for b in body if b not in _HEX_CHARS) <= 2


def _counts_up(seq: bytes) -> float:
    return sum(1 for a, b in zip(seq, seq[1:]) if b == a + 1 or (a, b) in ((57, 48), (122, 97))) / max(1, len(seq) - 1)


def alternating_sequence(secret: bytes) -> bool:
    """a1b2c3d4..., 1a2b3C4d-5E6f-...: letters and digits taking turns, each counting up - typed by
    hand as an example, never issued."""
    body = re.sub(rb"^[A-Za-z]{1,8}_", b"", secret).replace(b"-", b"")  # shpss_a1b2...: after a prefix
    if len(body) < 12 or not body.isalnum():
        return False
    turns = sum(1 for x, y in zip(body, body[1:]) if (48 <= x <= 57) != (48 <= y <= 57))
    if turns < 0.8 * (len(body) - 1):
        return False
    digits = bytes(b for b in body if 48 <= b <= 57)
    letters = bytes(body.lower()[i] for i in range(len(body)) if not 48 <= body[i] <= 57)
    return _counts_up(digits) >= 0.6 and _counts_up(letters) >= 0.6


_HTTP_HEADER = re.compile(rb"[A-Z][a-z]+(?:-[A-Z][a-z0-9]+)+")  # Content-Type, X-Api-Key: a header's name
# a host name (api.example.com, 4f2a9c.invoiceocean.net): where a secret is used, not the secret
_HOST_NAME = re.compile(rb"(?i)(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.){1,8}(?:com|net|org|io|dev|app|cloud|co|"
                        rb"ai|me|us|eu|de|uk|fr|jp|cn|ru|in|info|biz|local|internal|localhost|test)")
# a query string of settings (st=2025-03-04T07:24:52Z&se=...&sr=c): a secret needs a random value in it
_QUERY_PAIR = re.compile(rb"([A-Za-z_][A-Za-z0-9_\-]{0,30})=([^&=]*)")


def settings_query(secret: bytes) -> bool:
    """k=v&k=v... where no value looks generated (a SAS token's parameters without its signature)."""
    if b"&" not in secret or not re.fullmatch(rb"[A-Za-z_][A-Za-z0-9_\-]{0,30}=[^&=]*(?:&[A-Za-z_][A-Za-z0-9_\-]{0,30}=[^&=]*)+",
                                             secret):
        return False
    return not any(len(v) >= 16 and entropy(v) >= 3.5 for _k, v in _QUERY_PAIR.findall(secret))


# values in the outline of a provider's token but not in its format (wrong length, wrong part): a
# truncated, altered or made-up token, reported at info (the provider's own rule reports real ones)
_MALFORMED_OUTLINES = (
    (re.compile(rb"[0-9]{1,20}:A"), re.compile(rb"[0-9]{5,16}:A[A-Za-z0-9_\-]{34}"), "a Telegram bot token"),
    (re.compile(rb"AIza"), re.compile(rb"AIza[0-9A-Za-z_\-]{35}"), "a Google API key"),
    (re.compile(rb"AKCp"), re.compile(rb"AKCp[A-Za-z0-9]{69}|AKCp[0-9][A-Za-z0-9]{8,12}"), "a JFrog API key"),
    (re.compile(rb"cmVmdGtu"), re.compile(rb"cmVmdGtu[A-Za-z0-9]{56}"), "a JFrog reference token"),
    (re.compile(rb"(?:pat|sat)\.[A-Za-z0-9_\-]{22}\."),
     re.compile(rb"(?:pat|sat)\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}"), "a Harness API key"),
    (re.compile(rb"xai-"), re.compile(rb"xai-[A-Za-z0-9]{80}"), "an xAI API key"),
    (re.compile(rb"gloas-"), re.compile(rb"gloas-[A-Za-z0-9_\-]{64}"), "a GitLab OAuth application secret"),
    (re.compile(rb"(?:live|test)_(?:pub_)?[a-f0-9]{20}"), re.compile(rb"(?:live|test)_[a-f0-9]{35}|(?:live|test)_pub_[a-f0-9]{31}"),
     "a Lob API key"),
)


def malformed_outline(secret: bytes) -> Optional[Verdict]:
    for outline, full, what in _MALFORMED_OUTLINES:
        if outline.match(secret) and not full.fullmatch(secret):
            return Verdict(Severity.INFO, f"shaped like {what} but not in its format: truncated, altered or made up")
    return None


# ---------------------------------------------------------------------------------------------
# a generic value next to a service's name: the service's key formats decide
# (src/hardnut/policy/provider-key-formats.json)

_PROVIDER_FORMATS_FILE = Path(__file__).resolve().parent.parent / "policy" / "provider-key-formats.json"
PROVIDER_CONTEXT = 160  # bytes before a generic value searched for a service's name (the lines above)
_CONTEXT_LINES = 4  # the value's line and the three above it
_PASSWORD_NAME = re.compile(rb"(?i)pass|pwd|phrase|^auth$")  # no issuer's format (auth: user:password)


@dataclass(frozen=True)
class ProviderFormat:
    """A service's key formats and the words that name it (policy/provider-key-formats.json)."""

    name: str
    keywords: tuple[bytes, ...]
    formats: re.Pattern  # one alternation, matched in full
    prefixes: tuple[bytes, ...]  # literal prefixes of 4+ characters: a value starting so names the service
    public: tuple[tuple[re.Pattern, str], ...] = ()  # identifiers published by design (OAuth client ids)


def _format_regex(fmt: dict) -> str:
    if "pattern" in fmt:
        return fmt["pattern"]
    lengths = fmt["length"]
    count = f"{{{lengths[0]}}}" if len(lengths) == 1 else f"{{{lengths[0]},{lengths[1]}}}"
    return re.escape(fmt.get("prefix", "")) + f"[{fmt['alphabet']}]" + count


def _trie_regex(words: set[bytes]) -> bytes:
    """One regex for many literals, as a trie (a(?:bc|de)...): it fails on a position's first byte
    instead of trying every word there."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[None] = {}

    def build(node: dict) -> bytes:
        end = None in node
        alts = [re.escape(bytes([ch])) + build(sub) for ch, sub in sorted((k, v) for k, v in node.items() if k is not None)]
        if not alts:
            return b""
        body = alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"
        return b"(?:" + body + b")?" if end else body

    return build(trie)


@dataclass(frozen=True)
class _ProviderTable:
    """Every ProviderFormat, indexed by keyword and by naming prefix."""

    providers: tuple[ProviderFormat, ...]
    by_keyword: dict  # keyword -> providers naming it
    finder: re.Pattern  # any keyword, on lower-cased text (longest first, via the trie)
    prefixes: tuple[bytes, ...]  # every naming prefix


@functools.lru_cache(maxsize=1)
def provider_formats() -> _ProviderTable:
    """The services' key formats, and a finder for any of their names."""
    data = json.loads(_PROVIDER_FORMATS_FILE.read_text(encoding="utf-8"))
    out, by_kw = [], {}
    for entry in data["providers"]:
        kws = tuple(k.lower().encode() for k in entry["keywords"])
        formats = re.compile("|".join(f"(?:{_format_regex(f)})" for f in entry["formats"]).encode())
        prefixes = tuple(f["prefix"].encode() for f in entry["formats"] if len(f.get("prefix", "")) >= 4)
        public = tuple((re.compile(_format_regex(f).encode()), f["public"]) for f in entry["formats"] if f.get("public"))
        pf = ProviderFormat(entry["name"], kws, formats, prefixes, public)
        out.append(pf)
        for k in kws:
            by_kw.setdefault(k, []).append(pf)
    return _ProviderTable(tuple(out), by_kw, re.compile(_trie_regex(set(by_kw))),
                          tuple(p for pf in out for p in pf.prefixes))


# a credential word glued to a service's name in a lower-case identifier (lokalisetoken, ibmclouduserkey)
_GLUED_CREDENTIAL = re.compile(rb"(?i)(?:api|user|client|access|basic|secret|private|auth|license|licence|"
                               rb"key|token|pat|app)")


def _word_at(text: bytes, a: int, b: int) -> bool:
    """text[a:b] is a word of its own: not inside a longer word (camelCase and snake_case parts are
    words; so is a service's name glued to a credential word, as in lokalisetoken)."""
    first, last = text[a:a + 1], text[b - 1:b]
    before, after = text[a - 1:a] if a else b"", text[b:b + 1]
    if before.isalpha() and not (before.islower() and first.isupper()):
        return False
    if (after.isalpha() and not (after.isupper() and (last.islower() or last.isdigit()))
            and not _GLUED_CREDENTIAL.match(text, b)):
        return False
    if after.isupper() and text[a:b].isupper():  # ALLCAPS run continues: BOXES is not BOX
        return False
    return True


def providers_named(context: bytes, secret: bytes) -> list[ProviderFormat]:
    """The services named in `context` (on a word boundary) or by the value's own prefix."""
    table = provider_formats()
    low = context.lower()
    named: list[ProviderFormat] = []
    pos = 0
    while True:
        x = table.finder.search(low, pos)
        if x is None:
            break
        pos = x.start() + 1
        if x.end() > x.start() and _word_at(context, x.start(), x.end()):
            named.extend(p for p in table.by_keyword.get(x.group(), ()) if p not in named)
    if table.prefixes and secret.startswith(table.prefixes):
        named.extend(p for p in table.providers if p.prefixes and secret.startswith(p.prefixes) and p not in named)
    return named


def generic_context(m: re.Match) -> bytes:
    """The text before a generic match's value that may name its service: its own line (with the
    name) and the lines above it, within PROVIDER_CONTEXT bytes, not across a NUL (another string)."""
    try:
        start = m.start("secret")
    except IndexError:
        start = m.start()
    lo = max(0, start - PROVIDER_CONTEXT)
    raw = m.string[lo:start]
    nul = raw.rfind(b"\x00")
    lines = raw[nul + 1:].split(b"\n")
    text = b"\n".join(lines[-_CONTEXT_LINES:])
    # a string's first byte may be a constants-blob tag (u, a, ...) glued to the name: read it both ways
    if (nul >= 0 or lo == 0) and len(lines) <= _CONTEXT_LINES and text[:1].isalpha():
        text += b"\n" + text[1:]
    return text


def provider_format_verdict(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """None when no known service is named next to the value; KEEP-like note when the value is in one
    named service's key format; info when it fits none of them (not that service's key)."""
    try:
        name = m.group("name") or b""
    except IndexError:
        name = b""
    if _PASSWORD_NAME.search(name):
        return None  # a password has no issuer's format
    named = providers_named(generic_context(m), secret)
    if not named:
        return None
    for p in named:
        if p.formats.fullmatch(secret):
            for fmt, what in p.public:
                if fmt.fullmatch(secret):
                    return Verdict(Severity.INFO, f"in the format of {p.name}'s {what}: public, not a secret")
            return Verdict(note=f"in the format of {p.name}'s keys")
    return Verdict(Severity.INFO, f"next to {named[0].name}'s name but not in the format of its keys: not its key")


def periodic(secret: bytes) -> bool:
    """A value that repeats one block over and over (A1B2C3A1B2C3..., abcdabcd...): hand-made."""
    n = len(secret)
    return n >= 16 and any(secret[p:] == secret[:-p] for p in range(1, n // 2 + 1))


# the scheme of a signed request's Authorization header (AWS Signature Version 4 and the clouds that copy
# it: GOOG4-HMAC-SHA256, OSS4-HMAC-SHA256, TC3-HMAC-SHA256, ACS3-HMAC-SHA256, SDK-HMAC-SHA256): an
# algorithm's name, not a key. htslib (in pysam's libchtslib) formats "Authorization: AWS4-HMAC-SHA256
# Credential=%s/..." for its S3 reads.
_SIGNING_SCHEME = re.compile(rb"(?:[A-Z][A-Z0-9]{1,7}-)?(?:HMAC|RSA|ECDSA)(?:-[A-Z0-9]{2,10}){1,3}")


def _v_generic(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """A value assigned to a secret-sounding name: keep only what looks generated."""
    name = m.group("name")
    if _NOT_A_SECRET_NAME.search(name) or _SIGNING_SCHEME.fullmatch(secret):
        return None
    low = name.lower()
    if _BAD_NAME_SUFFIX.search(name) and not low.endswith((b"password", b"secret", b"token")):
        return None
    if foreign_to_tokens(name, secret) or mangled_hex(secret) or alternating_sequence(secret) or sequence_run(secret) >= 7:
        return None
    bare_key = not re.search(rb"pass|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|auth|credential",
                             low)
    if bare_key:
        if not _BARE_KEY_NAME.search(name) or _NOT_SECRET_KEYS.search(name):
            return None
        if not random_enough(secret, strict=True):
            return None
        return Verdict(Severity.MEDIUM)
    if not random_enough(secret):
        return None
    if _UUID.fullmatch(secret):
        return Verdict(Severity.MEDIUM, "UUID-shaped value")
    return KEEP


def v_openai(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """OpenAI keys carry the signature T3BlbkFJ (base64 of "OpenAI") between two random halves of
    at least 20 characters; without it, or with a stub on one side, it is a mangled or made-up key."""
    body = secret.split(b"-", 2)[-1] if secret.startswith((b"sk-proj-", b"sk-svcacct-", b"sk-admin-")) else secret[3:]
    head, sig, tail = body.partition(b"T3BlbkFJ")
    if not sig:
        return Verdict(Severity.INFO, "no T3BlbkFJ signature: not an issued OpenAI key")
    if len(head) < 20 or len(tail) < 20:
        return Verdict(Severity.INFO, "too short around the T3BlbkFJ signature: truncated or made up")
    return KEEP


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = raw[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 28:
            raise ValueError("varint too long")


def macaroon_v2_ok(raw: bytes) -> bool:
    """A complete binary (v2) macaroon: version 2, a header section (location, identifier), caveat
    sections, the end-of-caveats marker and a 32-byte signature. Truncated or garbled ones fail."""
    try:
        return _macaroon_v2(raw)
    except (IndexError, ValueError):
        return False


def _macaroon_v2(raw: bytes) -> bool:
    if raw[:1] != b"\x02":
        return False
    pos, sections = 1, 0
    while True:
        fields = 0
        while True:  # one section: fields until end-of-section (0)
            ftype, pos = _varint(raw, pos)
            if ftype == 0:
                break
            if ftype > 6:
                return False
            length, pos = _varint(raw, pos)
            pos += length
            if pos > len(raw):
                return False
            fields += 1
        if fields == 0:  # an empty section ends the caveats
            break
        sections += 1
    ftype, pos = _varint(raw, pos)
    length, pos = _varint(raw, pos)
    return sections >= 1 and ftype == 6 and length == 32 and pos + 32 <= len(raw)


def v_pypi_macaroon(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """PyPI tokens are base64url macaroons: one that does not parse to the end is cut off or made up."""
    raw = _b64decode(secret[5:], urlsafe=True)
    ok = raw is not None and macaroon_v2_ok(raw)
    return KEEP if ok else Verdict(Severity.LOW, "not a complete macaroon: truncated or made up")


_SLACK_IDS = re.compile(rb"xox[bp]-((?:[0-9]+-){2,3})")


def v_slack_ids(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """Bot and user tokens carry the workspace's and the user's numeric ids (ten or more digits in
    every token Slack has issued): all of them short (xoxp-1234-1234-1234-...) is made up."""
    ids = _SLACK_IDS.match(secret)
    if ids and max(len(x) for x in ids.group(1).split(b"-") if x) < 8:
        return Verdict(Severity.INFO, "its workspace and user ids are too short: made up")
    return KEEP


_SAS_PERMISSIONS = frozenset(b"racwdxyltfmeopiu")  # every letter a service or account SAS may grant
_SAS_IP = re.compile(rb"(?:[0-9]{1,3}\.){3}[0-9]{1,3}")


def v_sas_params(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """A SAS signature's query: permissions (sp=) are letters Azure defines and an IP filter (sip=)
    is an IPv4 address or range; anything else is a mangled or made-up token."""
    if not secret.startswith(b"sig="):
        return KEEP
    before = m.string[max(0, m.start("secret") - 400):m.start("secret")]
    query = re.split(rb"[\s\"'`<>?]", before)[-1]
    for pair in query.split(b"&"):
        key, _, value = pair.rpartition(b"=")
        key = key.rsplit(b"=", 1)[-1]  # NAME=sp=rwl: the first parameter after a variable's name
        if key == b"sp" and (not value or not set(value) <= _SAS_PERMISSIONS):
            return Verdict(Severity.INFO, "its permissions (sp=) are not Azure's: made up")
        if key == b"sip" and not all(_SAS_IP.fullmatch(ip) and all(int(x) < 256 for x in ip.split(b"."))
                                     for ip in value.split(b"-")):
            return Verdict(Severity.INFO, "its IP filter (sip=) is no IPv4 address or range: made up")
    return KEEP


def v_stripe_mode(secret: bytes, m: re.Match) -> Optional[Verdict]:
    if b"_test_" in secret[:8]:
        return Verdict(Severity.LOW, "test-mode key")
    return KEEP


def v_cli_password(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """`curl -u user:password`: not a placeholder, a variable or a word."""
    low = secret.lower()
    if (low.strip(b"<>[]{}") in _URL_PLACEHOLDER_PW or is_placeholder(secret)
            or secret[:1] in (b"$", b"%", b"{", b"<", b"*", b"[") or secret[-1:] in (b">", b"]", b"}")
            or len(secret) < 6 or set(secret) <= set(b"*xX._-") or (looks_like_identifier(secret) and len(secret) < 10)):
        return None
    return KEEP


_NAME_PARTS = re.compile(rb"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_CREDENTIAL_WORD = re.compile(rb"(?i)key|token|secret|pass|pwd|auth|cred|api|sid|id$|_id|login|access|bearer|pat$")
_PROVIDER_BAD_SUFFIX = re.compile(
    rb"(?i)(?:url|uri|endpoint|host|hostname|domain|region|zone|path|dir|file|name|names|version|type|"
    rb"mode|enabled|enable|timeout|port|email|user|username|login_url|scope|scopes|org|team|channel|project)$")


def _name_has_provider(name: bytes) -> bool:
    for part in re.split(rb"[_.\-]+", name):
        if part.lower() in _PROVIDER_SET:
            return True
        for tok in _NAME_PARTS.findall(part):
            if tok.lower() in _PROVIDER_SET:
                return True
    return False


def _v_provider_value(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """A token-shaped value under a service's name: graded by how random it looks."""
    name = m.group("name")
    if (_NOT_A_SECRET_NAME.search(name) or _PROVIDER_BAD_SUFFIX.search(name) or not _name_has_provider(name)
            or not _CREDENTIAL_WORD.search(name) or foreign_to_tokens(name, secret) or mangled_hex(secret)
            or alternating_sequence(secret) or _HTTP_HEADER.fullmatch(secret) or _HOST_NAME.fullmatch(secret)):
        return None
    if (is_assignment(secret) or is_placeholder(secret) or _CODE_LIKE.search(secret) or looks_like_identifier(secret)
            or looks_like_path(secret) or looks_like_dotted_name(secret) or _DATE.match(secret)):
        return None
    if secret.isdigit():
        if len(secret) < 12 or entropy(secret) < 2.5 or longest_run(secret) >= 5:
            return None
        return Verdict(Severity.LOW, "numeric: an id or a key")
    if _UUID.fullmatch(secret):
        return Verdict(Severity.MEDIUM, "UUID-shaped value")
    if random_enough(secret):
        return KEEP
    if len(secret) >= 10 and entropy(secret) >= 2.8 and _ascending_ratio(secret) < 0.25:
        return Verdict(Severity.LOW, "short or low-entropy value")
    return None


def _hand_made_low(verdict: Optional[Verdict], secret: bytes) -> Optional[Verdict]:
    if verdict is not None and malformed_outline(secret) is not None:
        return malformed_outline(secret)
    if verdict is not None and periodic(secret):
        return Verdict(Severity.LOW, "a repeated block: looks hand-made")
    return verdict


def v_generic(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """A value assigned to a secret-sounding name: keep only what looks generated; a value made of
    one repeated block is low; next to a known service's name, a value not in its key format is info."""
    return _with_provider_format(_hand_made_low(_v_generic(secret, m), secret), secret, m)


def _with_provider_format(verdict: Optional[Verdict], secret: bytes, m: re.Match) -> Optional[Verdict]:
    if verdict is None or verdict.severity == Severity.INFO:
        return verdict
    fmt = provider_format_verdict(secret, m)
    if fmt is None:
        return verdict
    if fmt.severity == Severity.INFO:
        return fmt
    return Verdict(verdict.severity, "; ".join(n for n in (verdict.note, fmt.note) if n))


def v_provider_value(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """A token-shaped value under a service's name, graded by how random it looks; info when hardnut
    knows that service's key formats and the value fits none."""
    return _with_provider_format(_hand_made_low(_v_provider_value(secret, m), secret), secret, m)


VALIDATORS: dict[str, Callable[[bytes, re.Match], Optional[Verdict]]] = {
    "not_placeholder": v_not_placeholder,
    "crc32_checksum": v_crc32_checksum,
    "azure_key": v_azure_key,
    "jwt": v_jwt,
    "pem_key": v_pem_key,
    "putty_key": v_putty_key,
    "url_password": v_url_password,
    "generic": v_generic,
    "provider_value": v_provider_value,
    "stripe_mode": v_stripe_mode,
    "slack_ids": v_slack_ids,
    "sas_params": v_sas_params,
    "openai": v_openai,
    "pypi_macaroon": v_pypi_macaroon,
    "cli_password": v_cli_password,
}


# ---------------------------------------------------------------------------------------------
# the rules

_END = rb"(?![A-Za-z0-9_\-])"  # right boundary of a token made of [A-Za-z0-9_-]
# left boundary of a prefix-anchored token: not inside a word or a base64 run (`ghs_` in `highs_`,
# `AIza` mid-base64), except right after a Nuitka constants-blob tag byte (a, u, v, c, b) that
# itself follows a non-token byte, after an escaped \n / \t, or after a %XX URL escape.
# Rules using it need before >= 3 so the look-behind sees those bytes.
_LB = rb"(?:(?<![A-Za-z0-9+/.])|(?<=[^A-Za-z0-9+/.][auvcb])|(?<=\\[nrt])|(?<=%[0-9A-Fa-f][0-9A-Fa-f]))"
# printable ASCII without space " ' ` , ; < > \ : a generic value
_VALUE = rb"[\x21\x23-\x26\x28-\x2b\x2d-\x3a\x3d\x3f-\x5b\x5d-\x5f\x61-\x7e]"
# printable ASCII without space : @ / ? " ' < > \ : a URL's user or password ('#' allowed: passwords
# hold it, and a fragment cannot come before '@host')
_USERINFO = rb"[\x21\x23-\x26\x28-\x2e\x30-\x39\x3b\x3d\x41-\x5b\x5d-\x7e]"
_ASSIGN = rb"""["']?[ \t]{0,4}(?:=|:=|:|=>)[ \t]{0,4}["']?"""
# the name of a name = value pair: a secret-sounding word with up to 40/24 name characters around it
_NAME = (rb"[A-Za-z0-9_.\-]{0,40}?(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|access[_\-]?key|"
         rb"private[_\-]?key|auth(?:[_\-]?(?:token|key))?|credentials?|key)[A-Za-z0-9_.\-]{0,24}?")
_NAME_KEYWORDS = (b"pass", b"pwd", b"secret", b"token", b"api_key", b"apikey", b"api-key", b"access_key",
                  b"accesskey", b"access-key", b"private_key", b"privatekey", b"private-key", b"auth",
                  b"credential", b"key")
# between name and value: a closing quote, an optional type (Go `x string =`, Kotlin `x: String =`),
# an assignment (= := ::= :::= ?= ??= .= += => : ->), a call's argument comma after a quoted name
# ("X_TOKEN", "..."), or a YAML block scalar (`key: |` + newline + indent)
_OPERATOR = (rb"(?:\\?[\"'`]?[ \t]{0,4}(?::?[ \t]{1,4}[A-Za-z_][A-Za-z0-9_.<>?\[\]]{0,30}[ \t]{1,4}(?=[=:.?]))?"
             rb"(?::::=|::=|:=|\?\?=|\?=|\.=|\+=|=>|->|=(?!=)|:(?![:/\\]))[ \t]{0,4}"
             rb"|\\?[\"'][ \t]{0,4},[ \t]{0,4}(?=\\?[\"'])"
             rb"|[\"']?:[ \t]{0,4}[|>][\-+]?[ \t]{0,4}\r?\n[ \t]{1,16})")
C, H, M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM


# services whose credentials have no distinctive shape: recognised by the name they are assigned to
_PROVIDERS = (
    "adafruit", "adobe", "airtable", "algolia", "alibaba", "aliyun", "asana", "atlassian", "jira", "confluence",
    "beamer", "bitbucket", "bittrex", "cloudflare", "codecov", "cohere", "coinbase", "confluent",
    "contentful", "datadog", "discord", "droneci", "dropbox", "etsy", "facebook", "fastly", "finicity",
    "finnhub", "flickr", "freshbooks", "gitter", "gocardless", "heroku", "hubspot", "intercom", "jfrog",
    "artifactory", "kraken", "kucoin", "launchdarkly", "linkedin", "looker", "mailchimp",
    "mailgun", "mapbox", "mattermost", "meraki", "messagebird", "netlify", "newrelic", "nytimes", "okta",
    "plaid", "privateai", "rapidapi", "sendbird", "sentry", "snyk", "sonar", "squarespace", "sumologic",
    "telegram", "travis", "trello", "twilio", "twitch", "twitter", "typeform", "yandex", "zendesk", "ibm",
    "softlayer", "cloudant", "pagerduty", "circleci", "slack", "stripe", "openai", "anthropic", "azure",
    "sendgrid", "sumo", "mailjet", "nexmo", "vonage", "mixpanel", "auth0",
    "firebase", "algolia", "shopify", "paypal", "braintree", "razorpay", 
    "docker", "dockerhub", "quay", "npm", "pypi", "nuget", "gitlab", "github", "digitalocean", "linode",
    "vultr", "hetzner", "scaleway", "ovh", "rackspace", "databricks", "snowflake", "mongodb", "redis",
    "algolia", "pinecone", "huggingface", "groq", 
)
_PROVIDER_WORDS = b"|".join(sorted({w.encode() for w in _PROVIDERS}, key=lambda w: (-len(w), w)))
_PROVIDER_KEYWORDS = tuple(sorted({w.encode() for w in _PROVIDERS}))
_PROVIDER_SET = frozenset(_PROVIDER_KEYWORDS)


def _token(rid: str, name: str, provider: str, severity: Severity, body: bytes, keywords: tuple[bytes, ...],
           maxlen: int, example: str, what: str, *, end: bytes = _END, min_entropy: float = 3.0,
           validators: tuple[str, ...] = ("not_placeholder",), caseless: bool = False,
           references: tuple[str, ...] = (), before: int = 3, context: int = 0) -> SecretRule:
    """A provider token recognised on its own (no name = value needed): prefix + body, on token
    boundaries. `what` says what it grants; the explanation adds the remedy."""
    return SecretRule(
        rid, name, severity, _LB + rb"(?P<secret>" + body + rb")" + end, keywords,
        f"{what} Anyone who has the artifact can use it. Revoke or rotate it in {provider} and load "
        "credentials at run time (environment, secret store) instead of shipping them.",
        caseless=caseless, before=before, after=maxlen + 8, min_entropy=min_entropy, validators=validators,
        references=references, provider=provider, example=example, anchored=before == 3, context=context)


_UUID_RE = rb"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_B64END = rb"(?![A-Za-z0-9+/=])"

PROVIDER_RULES: tuple[SecretRule, ...] = (
    _token("HN-SEC-021", "GitLab token", "GitLab", C,
           rb"gloas-[A-Za-z0-9_\-]{64}|(?:glrt-(?:t[0-9]_)?|gldt-|glft-|glimt-|glagent-|glsoat-|glffct-|glcbt-[0-9A-Za-z]{1,5}_)"
           rb"[A-Za-z0-9_\-]{20,300}(?:\.[0-9a-z]{2}\.?[0-9a-z]{7})?|glptt-[0-9a-f]{40}|GR1348941[A-Za-z0-9_\-]{20,60}",
           (b"glrt-", b"glptt-", b"gloas-", b"gldt-", b"glft-", b"glimt-", b"glagent-", b"glsoat-", b"glffct-",
            b"glcbt-", b"GR1348941"), 330, "glrt-<20+ base64url>, glptt-<40 hex>, gloas-<64>...",
           "A GitLab runner, pipeline trigger, OAuth application secret, deploy, feed, incoming-mail, "
           "Kubernetes agent, SCIM, feature-flag or CI job token (or a runner registration token).",
           references=("https://docs.gitlab.com/ee/security/tokens/",)),
    _token("HN-SEC-022", "Shopify token", "Shopify", C, rb"shp(?:ss|at|ca|pa)_[a-fA-F0-9]{32}",
           (b"shpss_", b"shpat_", b"shpca_", b"shppa_"), 40, "shpat_<32 hex>",
           "A Shopify access token or app shared secret: it reads and changes the shop's data."),
    _token("HN-SEC-023", "DigitalOcean token", "DigitalOcean", C, rb"do[opr]_v1_[a-f0-9]{64}",
           (b"dop_v1_", b"doo_v1_", b"dor_v1_"), 72, "dop_v1_<64 hex>",
           "A DigitalOcean personal access, OAuth or refresh token: it manages the account's droplets and data."),
    _token("HN-SEC-024", "Databricks token", "Databricks", C, rb"dapi[a-f0-9]{32}(?:-[0-9])?", (b"dapi",), 40,
           "dapi<32 hex>", "A Databricks personal access token: it runs jobs and reads data in the workspace."),
    _token("HN-SEC-025", "Doppler token", "Doppler", C,
           rb"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9_\-]{40,44}", (b"dp.pt.", b"dp.st.", b"dp.sa.", b"dp.ct.",
                                                                       b"dp.scim.", b"dp.audit."), 56,
           "dp.pt.<43 base62>", "A Doppler personal, service, service-account or CLI token: it reads the secrets Doppler stores."),
    _token("HN-SEC-026", "Dynatrace token", "Dynatrace", H, rb"dt0[a-z][0-9]{2}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}",
           (b"dt0",), 100, "dt0c01.<24>.<64>", "A Dynatrace API token: it reads monitoring data and changes settings."),
    _token("HN-SEC-027", "Fly.io token", "Fly.io", C,
           rb"(?:fo1_[A-Za-z0-9_\-]{43}|fm[12][ar]?_[A-Za-z0-9+/]{100,2000}={0,3})", (b"fo1_", b"fm1a_", b"fm1r_",
                                                                                       b"fm2_"),
           2010, "fo1_<43 base64url>, fm2_<base64>", "A Fly.io access or macaroon token: it deploys and manages apps.",
           end=_B64END),
    _token("HN-SEC-028", "Grafana token", "Grafana", H,
           rb"glc_[A-Za-z0-9+/]{32,400}={0,3}|glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|eyJrIjoi[A-Za-z0-9]{70,400}={0,3}",
           (b"glc_", b"glsa_", b"eyJrIjoi"), 410, "glsa_<32>_<8 hex>, glc_<base64>",
           "A Grafana Cloud access policy token, service account token or legacy API key.", end=_B64END),
    _token("HN-SEC-029", "Harness token", "Harness", H,
           rb"(?:pat|sat)\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{20}", (b"pat.", b"sat."), 74,
           "pat.<22>.<24>.<20>", "A Harness personal or service account API key."),
    _token("HN-SEC-030", "HashiCorp token", "HashiCorp Vault / Terraform Cloud", C,
           rb"hv[sbr]\.[A-Za-z0-9_\-]{90,300}|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=\-]{60,70}",
           (b"hvs.", b"hvb.", b"hvr.", b".atlasv1."), 310, "hvs.<90+ base64url>, <14>.atlasv1.<60+>",
           "A HashiCorp Vault service/batch/recovery token or a Terraform Cloud API token.", before=18),
    _token("HN-SEC-031", "Hugging Face token", "Hugging Face", H, rb"(?:hf_|api_org_)[A-Za-z]{34}",
           (b"hf_", b"api_org_"), 42, "hf_<34 letters>",
           "A Hugging Face user or organisation access token: it reads private models and datasets and may write."),
    _token("HN-SEC-032", "Linear API key", "Linear", H, rb"lin_(?:api|oauth)_[A-Za-z0-9]{40}", (b"lin_api_", b"lin_oauth_"),
           52, "lin_api_<40 base62>", "A Linear API key: it reads and edits the workspace's issues."),
    _token("HN-SEC-033", "Postman API key", "Postman", H, rb"PMAK-[a-fA-F0-9]{24}-[a-fA-F0-9]{34}", (b"PMAK-",), 64,
           "PMAK-<24 hex>-<34 hex>", "A Postman API key: it reads collections and environments, often full of other secrets."),
    _token("HN-SEC-034", "Pulumi access token", "Pulumi", C, rb"pul-[a-f0-9]{40}", (b"pul-",), 44, "pul-<40 hex>",
           "A Pulumi access token: it reads stack state (including its secrets) and deploys."),
    _token("HN-SEC-035", "PlanetScale token", "PlanetScale", C, rb"pscale_(?:pw|tkn|oauth)_[A-Za-z0-9_=.\-]{32,64}",
           (b"pscale_pw_", b"pscale_tkn_", b"pscale_oauth_"), 80, "pscale_pw_<43>",
           "A PlanetScale database password, service token or OAuth token."),
    _token("HN-SEC-036", "Sentry token", "Sentry", H,
           rb"sntry[u]_[a-f0-9]{64}|sntrys_eyJ[A-Za-z0-9+/=]{40,500}_[A-Za-z0-9+/]{43}", (b"sntryu_", b"sntrys_"), 560,
           "sntryu_<64 hex>, sntrys_eyJ...", "A Sentry user auth token or organisation token."),
    _token("HN-SEC-037", "New Relic key", "New Relic", H,
           rb"NRAK-[A-Z0-9]{27}|NRJS-[a-f0-9]{19}|NRII-[A-Za-z0-9\-]{32}|NRAA-[a-f0-9]{27}|NRRA-[a-f0-9]{42}|"
           rb"[a-f0-9]{36}NRAL",
           (b"NRAK-", b"NRJS-", b"NRII-", b"NRAA-", b"NRRA-", b"NRAL"), 48, "NRAK-<27 upper/digits>",
           "A New Relic user API, browser, insert, admin or licence key.", before=40),
    _token("HN-SEC-038", "Atlassian API token", "Atlassian", H, rb"ATATT3[A-Za-z0-9_\-=]{186}|ATCTT3[A-Za-z0-9_\-=]{186}",
           (b"ATATT3", b"ATCTT3"), 194, "ATATT3<186 base64url>",
           "An Atlassian (Jira, Confluence, Bitbucket) API token: it acts as its user."),
    _token("HN-SEC-039", "1Password token", "1Password", C,
           rb"ops_eyJ[A-Za-z0-9+/]{250,4000}={0,3}|A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-"
           rb"[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
           (b"ops_eyJ", b"A3-"), 4010, "ops_eyJ<base64>, A3-XXXXXX-...",
           "A 1Password service account token or account Secret Key: with it the vaults it can read are open.",
           end=_B64END),
    _token("HN-SEC-040", "age secret key", "age", C, rb"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
           (b"AGE-SECRET-KEY-1",), 76, "AGE-SECRET-KEY-1<58 bech32>",
           "An age encryption identity: it decrypts every file encrypted to its recipient."),
    _token("HN-SEC-041", "Notion token", "Notion", H, rb"ntn_[0-9]{11}[A-Za-z0-9]{35}", (b"ntn_",), 52,
           "ntn_<11 digits><35 base62>", "A Notion integration token: it reads and edits the pages shared with it.",
           min_entropy=4.0),
    _token("HN-SEC-042", "Sourcegraph token", "Sourcegraph", H,
           rb"sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}", (b"sgp_",), 64, "sgp_<16 hex>_<40 hex>",
           "A Sourcegraph access token: it searches the instance's (private) code."),
    _token("HN-SEC-043", "SonarQube token", "SonarQube", H, rb"sq[pau]_[a-fA-F0-9]{40}", (b"sqp_", b"squ_", b"sqa_"),
           46, "squ_<40 hex>", "A SonarQube / SonarCloud user, project or global analysis token."),
    _token("HN-SEC-044", "Mapbox token", "Mapbox", H, rb"(?:pk|sk|tk)\.eyJ[A-Za-z0-9_\-]{20,300}\.[A-Za-z0-9_\-]{20,30}"
           rb"|(?:pk|sk)\.[a-z0-9]{60}\.[a-z0-9]{22}",
           (b"pk.", b"sk.", b"tk."), 340, "sk.eyJ1<...>.<22>",
           "A Mapbox access token (sk./tk. secret and temporary tokens read and write account data; pk. "
           "public tokens bill map loads to the account)."),
    _token("HN-SEC-045", "Dropbox token", "Dropbox", H, rb"sl\.[A-Za-z0-9_=\-]{130,1400}|sl\.u\.[A-Za-z0-9_=\-]{100,1400}",
           (b"sl.",), 1410, "sl.<135+ base64url>", "A Dropbox short-lived access token: it reads and writes the user's files.",
           min_entropy=4.0),
    _token("HN-SEC-046", "HubSpot private app token", "HubSpot", H, rb"pat-(?:na|eu|ap)[0-9]-" + _UUID_RE,
           (b"pat-na", b"pat-eu", b"pat-ap"), 50, "pat-na1-<uuid>",
           "A HubSpot private app access token: it reads and writes CRM data."),
    _token("HN-SEC-047", "Lob API key", "Lob", H, rb"(?:live|test)_[a-f0-9]{35}|(?:live|test)_pub_[a-f0-9]{31}",
           (b"live_", b"test_"), 46, "live_<35 hex>", "A Lob API key: it sends physical mail billed to the account.",
           min_entropy=3.3),
    _token("HN-SEC-048", "CircleCI / Buildkite token", "CircleCI or Buildkite", H,
           rb"(?:CCIPAT_[A-Za-z0-9]{22}_[a-f0-9]{40}|bkua_[a-f0-9]{40})", (b"CCIPAT_", b"bkua_"), 72,
           "CCIPAT_<22>_<40 hex>, bkua_<40 hex>", "A CircleCI personal API token or Buildkite agent/API token."),
    _token("HN-SEC-049", "Authress access key", "Authress", H,
           rb"(?:sc|ext|scauth|authress)_[A-Za-z0-9]{5,30}\.[A-Za-z0-9]{4,6}\.acc[_\-][A-Za-z0-9\-]{10,32}\."
           rb"[A-Za-z0-9+/_=\-]{30,120}",
           (b"sc_", b"ext_", b"scauth_", b"authress_"), 200, "sc_<id>.<id>.acc_<id>.<key>",
           "An Authress service client access key."),
    _token("HN-SEC-050", "Duffel API token", "Duffel", H, rb"duffel_(?:test|live)_[A-Za-z0-9_=\-]{43}",
           (b"duffel_test_", b"duffel_live_"), 56, "duffel_live_<43>", "A Duffel API token: it books travel billed to the account."),
    _token("HN-SEC-051", "Flutterwave key", "Flutterwave", H,
           rb"FLW(?:PUBK|SECK)(?:_TEST)?-[a-hA-H0-9]{32}-X|FLWSECK(?:_TEST)?[a-hA-H0-9]{12}",
           (b"FLWPUBK", b"FLWSECK"), 52, "FLWSECK-<32 hex>-X", "A Flutterwave secret, public or encryption key."),
    _token("HN-SEC-052", "AWS Bedrock API key", "AWS", C,
           rb"ABSK[A-Za-z0-9+/]{109,269}={0,2}|bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=&%\-]{100,2000}",
           (b"ABSK", b"bedrock-api-key-"), 2060, "ABSK<base64>", "An Amazon Bedrock API key: it calls models billed to the account.",
           end=_B64END),
    _token("HN-SEC-054", "chat webhook URL", "Discord / Microsoft Teams / Power Automate", H,
           rb"https://(?:(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,68}"
           rb"|[a-z0-9\-]+\.webhook\.office\.com/webhookb2/[a-z0-9\-]{36}@[a-z0-9\-]{36}/IncomingWebhook/[a-z0-9]{32}/"
           rb"[a-z0-9\-]{36}(?:/[A-Za-z0-9_\-]{40,60})?"
           rb"|[a-z0-9\-.]+\.logic\.azure\.com(?::443)?/workflows/[a-f0-9]{32}/triggers/manual/paths/invoke\?"
           rb"[A-Za-z0-9_\-=&%.]{0,200}sig=[A-Za-z0-9_\-]{40,50})",
           (b"discord.com/api/webhooks/", b"discordapp.com/api/webhooks/", b".webhook.office.com/webhookb2/",
            b".logic.azure.com"), 520, "https://discord.com/api/webhooks/<id>/<68>",
           "A Discord, Microsoft Teams incoming or Power Automate workflow webhook URL: anyone holding it posts messages.",
           before=80),
    _token("HN-SEC-056", "JFrog Artifactory key", "JFrog", H,
           rb"AKCp[A-Za-z0-9]{69}|AKCp[0-9][A-Za-z0-9]{8,12}|cmVmdGtu[A-Za-z0-9]{56}|cmVmd[A-Za-z0-9]{59}",
           (b"AKCp", b"cmVmd"), 80, "AKCp<69 base62>, cmVmdGtu<56>",
           "A JFrog Artifactory API key (AKCp...) or reference / identity token.", min_entropy=3.2),
    _token("HN-SEC-057", "Jenkins / Hudson encrypted secret", "Jenkins", M,
           rb"\{AQAAABAAAA[A-Za-z0-9+/]{16,4000}={0,2}\}", (b"{AQAAABAAAA",), 4020, "{AQAAABAAAA<base64>}",
           "A secret encrypted with the Jenkins controller's master key (credentials.xml, config.xml). "
           "Whoever also gets the controller's secrets/ folder decrypts it; in an artifact it shows "
           "build configuration leaked along with it.", end=rb""),
    _token("HN-SEC-058", "Azure AD client secret", "Microsoft Entra ID (Azure AD)", H,
           rb"[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}", (b"Q~",), 42, "xxx8Q~<31-34>",
           "A Microsoft Entra ID (Azure AD) application client secret: it signs in as the application.", before=8,
           end=rb"(?![A-Za-z0-9_~.\-])", validators=("not_placeholder",)),
    _token("HN-SEC-059", "Azure SAS token / connection string key", "Azure", H,
           rb"(?:SharedAccessKey|sig)=[A-Za-z0-9%+/]{40,90}(?:%3D|=){0,2}", (b"SharedAccessKey=", b"sig="), 110,
           "SharedAccessKey=<44 base64>", "An Azure Service Bus / Event Hubs / IoT shared access key or a SAS signature.",
           end=rb"(?![A-Za-z0-9%+/=])", min_entropy=3.5, validators=("not_placeholder", "sas_params"), context=400),
    _token("HN-SEC-060", "Telegram bot token", "Telegram", H, rb"[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}", (b":AA",), 50,
           "<8-10 digits>:AA<33 base64url>", "A Telegram bot token: it controls the bot.", before=14),
    _token("HN-SEC-061", "Mailchimp API key", "Mailchimp", H, rb"[a-f0-9]{32}-us[0-9]{1,2}", (b"-us",), 40,
           "<32 hex>-us<dc>", "A Mailchimp API key: it reads the audience and sends campaigns.", before=36,
           end=rb"(?![A-Za-z0-9])"),
    _token("HN-SEC-063", "Square token", "Square", C, rb"EAAA[A-Za-z0-9_\-]{60}|sq0(?:csp|atp|idp)-[A-Za-z0-9_\-]{22,43}",
           (b"EAAA", b"sq0csp-", b"sq0atp-", b"sq0idp-"), 70, "EAAA<60>, sq0csp-<43>",
           "A Square access token or OAuth secret: it takes payments on the merchant's account."),
    _token("HN-SEC-064", "AI model provider API key", "the AI provider", H,
           rb"pplx-[A-Za-z0-9]{48}|gsk_[A-Za-z0-9]{52}|xai-[A-Za-z0-9]{80}|r8_[A-Za-z0-9]{37}|fw_[A-Za-z0-9]{24}|"
           rb"nvapi-[A-Za-z0-9_\-]{64}",
           (b"pplx-", b"gsk_", b"xai-", b"r8_", b"fw_", b"nvapi-"), 90, "pplx-<48>, gsk_<52>, xai-<80>",
           "An API key of an AI model provider (Perplexity, Groq, xAI, Replicate, Fireworks, NVIDIA): it "
           "spends the account's credit."),
    _token("HN-SEC-065", "package registry token", "the package registry", C,
           rb"rubygems_[a-f0-9]{48}|oy2[a-z0-9]{43}|CLOJARS_[A-Za-z0-9]{60}|pnu_[A-Za-z0-9]{36}|rdme_[a-z0-9]{70}",
           (b"rubygems_", b"oy2", b"CLOJARS_", b"pnu_", b"rdme_"), 80, "rubygems_<48 hex>, oy2<43> (NuGet)",
           "A RubyGems, NuGet (oy2...), Clojars, Prefect or ReadMe API key: it publishes as its owner."),
    _token("HN-SEC-066", "SaaS API token", "the issuing service", H,
           rb"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}|EZ[AT]K[A-Za-z0-9]{54}|shippo_(?:live|test)_[a-fA-F0-9]{40}|"
           rb"ico-[A-Za-z0-9]{32}|sm_(?:pat|aat|sat)_[A-Za-z0-9]{16}|tk-us-[A-Za-z0-9_\-]{48}|"
           rb"fio-u-[A-Za-z0-9_=\-]{64}|p8e-[A-Za-z0-9]{32}|LTAI[A-Za-z0-9]{20}|4b1d[A-Za-z0-9]{38}|"
           rb"dnkey-[a-z0-9=_\-]{26}-[a-z0-9=_\-]{52}|API-[A-Z0-9]{26}|"
           rb"s-s4t2(?:ud|af)-[a-f0-9]{64}|v1\.0-[a-f0-9]{24}-[a-f0-9]{146}|sha256~[A-Za-z0-9_\-]{43}|"
           rb"[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk|HRKU-AA[A-Za-z0-9_\-]{58}|EAA[MC][A-Za-z0-9]{100,400}",
           (b"xkeysib-", b"EZAK", b"EZTK", b"shippo_", b"ico-", b"sm_pat_", b"sm_aat_", b"sm_sat_", b"tk-us-",
            b"fio-u-", b"p8e-", b"LTAI", b"4b1d", b"dnkey-", b"API-", b"s-s4t2", b"v1.0-", b"sha256~",
            b"_mmk", b"HRKU-AA", b"EAAM", b"EAAC"),
           410, "xkeysib-<64 hex>-<16>, LTAI<20>, EZAK<54>...",
           "An API token of a SaaS provider recognised by its prefix (Brevo/Sendinblue, EasyPost, Shippo, "
           "Infracost, SettleMint, Scalingo, Frame.io, Adobe, Alibaba Cloud, ClickHouse Cloud, "
           "Defined Networking, Octopus Deploy, 42 Intra, Cloudflare Origin CA, OpenShift, MaxMind, "
           "Heroku, Facebook): it acts on the account that issued it.", min_entropy=3.3, before=40),
    _token("HN-SEC-068", "Twitter / X bearer token", "X (Twitter)", H, rb"A{21,24}[A-Za-z0-9%]{60,160}",
           (b"AAAAAAAAAAAAAAAAAAAAA",), 190, "AAAAAAAAAAAAAAAAAAAAA<~90 base62 and %>",
           "An X (Twitter) app-only bearer token: it calls the API as the app.", end=rb"(?![A-Za-z0-9%+/=_\-])"),
    SecretRule(
        "HN-SEC-069", "password on a command line", H,
        rb"\bcurl\b(?:[^\r\n\x00]|\\\r?\n){0,300}?[ \t](?:-u|--user)(?:[ \t]{1,4}|=)(?P<q>[\"'])?"
        rb"(?P<user>[^\s:\"'\x00]{0,64})(?P<closed>(?(q)(?P=q)|(?!)))?:(?P<q2>[\"'])?"
        rb"(?P<secret>[^\s\"'\x00]{3,128})(?(q2)(?P=q2))(?(closed)|(?(q)(?P=q)))(?![^\s\"'\x00])",
        (b"curl",),
        "A password passed to curl with -u / --user user:password (scripts, CI logs, README snippets "
        "shipped with the app). Use a netrc file or an environment variable read at run time.",
        after=420, validators=("cli_password",), provider="(any)", example="curl -u user:<password> https://...",
    ),
    SecretRule(
        "HN-SEC-067", "provider credential assignment", H,
        rb"(?i)(?<![A-Za-z0-9])(?P<name>[A-Za-z0-9_.\-]{0,30}?(?:" + _PROVIDER_WORDS + rb")[A-Za-z0-9_.\-]{0,30}?)"
        + _OPERATOR + rb"(?:(?P<q>\\?[\"'`])|)(?P<secret>[A-Za-z0-9_\-+/=.~]{10,200})(?(q)(?P=q)|(?![A-Za-z0-9_\-+/=.~!?#$%^&*@:]))",
        _PROVIDER_KEYWORDS,
        "A token-shaped value assigned to a name that names a service (e.g. `heroku_api_key = ...`, "
        "`DISCORD_TOKEN: ...`, `sonar.login=...`): hex, base62, UUID or numeric credentials of "
        "providers whose keys have no distinctive prefix. Random values are reported at high, "
        "UUID-shaped ones at medium, short or numeric ones (client ids) at low.",
        caseless=True, before=40, after=300, validators=("provider_value",), generic=True,
        near=rb"[=:,>]", near_span=64, provider="(by name)", example='heroku_api_key = "<uuid>"',
    ),
)


SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "HN-SEC-001", "AWS access key id", H,
        _LB + rb"(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])",
        (b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"A3T"),
        "An AWS access key id (AKIA... long-term, ASIA... temporary). On its own it identifies the key; "
        "shipped next to its secret access key it grants the key's permissions to anyone who has the "
        "binary. Deactivate the key in IAM and load credentials at run time (instance roles, SSO, "
        "environment).",
        before=3, anchored=True, after=24, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",),
        provider='AWS', example='AKIA<16 base32>',
    ),
    SecretRule(
        "HN-SEC-002", "AWS secret access key", C,
        rb"(?i)(?:aws[_.\-]?)?secret[_.\-]?access[_.\-]?key" + _ASSIGN
        + rb"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
        (b"secret",),
        "The 40-character secret of an AWS access key, assigned to an aws_secret_access_key-style name. "
        "Together with the key id it signs any AWS API call the key allows. Rotate the key now.",
        caseless=True, before=8, after=100, min_entropy=4.0, validators=("not_placeholder",),
        near=rb"[=:]", near_span=32,
        references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",),
        provider='AWS', example='aws_secret_access_key = <40 base64>',
    ),
    SecretRule(
        "HN-SEC-003", "GitHub token", C,
        _LB + rb"(?P<secret>gh[pousr]_[A-Za-z0-9]{36})" + _END,
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
        "A GitHub personal access (ghp_), OAuth (gho_), user-to-server (ghu_), server-to-server (ghs_) "
        "or refresh (ghr_) token. Tokens carry a CRC32 checksum; one that does not verify is reported "
        "at low. Revoke it on GitHub and use a secret store or a short-lived app token instead.",
        before=3, anchored=True, after=44, min_entropy=3.0, validators=("not_placeholder", "crc32_checksum"),
        references=("https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/",),
        provider='GitHub', example='ghp_<36 base62> (CRC32-checked)',
    ),
    SecretRule(
        "HN-SEC-004", "GitHub fine-grained token", C,
        _LB + rb"(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _END,
        (b"github_pat_",),
        "A GitHub fine-grained personal access token. It acts as its owner on the repositories it was "
        "granted. Revoke it on GitHub.",
        before=3, anchored=True, after=100, min_entropy=3.5, validators=("not_placeholder",),
        references=("https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/managing-your-personal-access-tokens",),
        provider='GitHub', example='github_pat_<22>_<59>',
    ),
    SecretRule(
        "HN-SEC-005", "GitLab personal access token", C,
        _LB + rb"(?P<secret>glpat-[A-Za-z0-9_\-]{20,300}(?:\.[0-9a-z]{2}\.[0-9a-z]{9})?)" + _END,
        (b"glpat-",),
        "A GitLab personal access token. It acts as its owner on the GitLab instance. Revoke it in "
        "the user settings.",
        before=3, anchored=True, after=330, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://docs.gitlab.com/ee/security/tokens/",),
        provider='GitLab', example='glpat-<20+ base64url>',
    ),
    SecretRule(
        "HN-SEC-006", "Slack token", C,
        _LB + rb"(?P<secret>(?:xox[abposre]|xoxe\.xox[bp])-(?:[0-9]{1,14}-){1,3}[A-Za-z0-9]{8,220}"
        rb"|xapp-[0-9]-[A-Z0-9]{8,14}-[0-9]{8,16}-[A-Za-z0-9]{32,80})" + _END,
        (b"xoxa-", b"xoxb-", b"xoxp-", b"xoxo-", b"xoxs-", b"xoxr-", b"xoxe-", b"xoxe.", b"xapp-"),
        "A Slack bot, user, app-level or refresh token. It reads and posts in the workspace with the "
        "token's scopes. Revoke it in the Slack app settings.",
        before=3, anchored=True, after=300, min_entropy=3.0, validators=("not_placeholder", "slack_ids"),
        references=("https://api.slack.com/authentication/token-types",),
        provider='Slack', example='xoxb-<digits>-<digits>-<24+>',
    ),
    SecretRule(
        "HN-SEC-007", "Slack webhook URL", H,
        rb"(?i)hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_\-]{8,40}/[A-Za-z0-9_\-/+]{16,100}"
        rb"|[A-Za-z0-9_\-]{40,60})"
        rb"(?![A-Za-z0-9_\-/+])",
        (b"hooks.slack.com",),
        "An incoming-webhook URL: anyone holding it can post messages into the channel. Regenerate "
        "the webhook in the Slack app settings.",
        caseless=True, after=180, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://api.slack.com/messaging/webhooks",),
        provider='Slack', example='https://hooks.slack.com/services/T.../B.../<24>',
    ),
    SecretRule(
        "HN-SEC-008", "Stripe live key", C,
        _LB + rb"(?P<secret>[sr]k_(?:live|test|prod)_[A-Za-z0-9]{24,247})(?![A-Za-z0-9])",
        (b"sk_live_", b"rk_live_", b"sk_test_", b"rk_test_", b"sk_prod_", b"rk_prod_"),
        "A Stripe live secret (sk_live_) or restricted (rk_live_) key: it moves real money. Roll the "
        "key in the Stripe dashboard; only publishable keys (pk_) belong in clients. Test-mode keys "
        "(sk_test_) reach only test data and are reported at low.",
        before=3, anchored=True, after=260, min_entropy=3.0, validators=("not_placeholder", "stripe_mode"),
        references=("https://docs.stripe.com/keys",),
        provider='Stripe', example='sk_live_<24+ base62>',
    ),
    SecretRule(
        "HN-SEC-009", "Google API key", H,
        _LB + rb"(?P<secret>AIza[0-9A-Za-z_\-]{35})" + _END,
        (b"AIza",),
        "A Google Cloud API key. Unrestricted keys bill and call every enabled API of the project. "
        "Restrict it (API and application restrictions) or rotate it.",
        before=3, anchored=True, after=44, min_entropy=4.0, validators=("not_placeholder",),
        references=("https://cloud.google.com/docs/authentication/api-keys",),
        provider='Google Cloud', example='AIza<35 base64url>',
    ),
    SecretRule(
        "HN-SEC-010", "OpenAI API key", C,
        _LB + rb"(?P<secret>sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_\-]{16,200}T3BlbkFJ[A-Za-z0-9_\-]{16,200}"
        rb"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,300})" + _END,
        (b"sk-",),
        "An OpenAI API key (legacy sk-, project sk-proj-, service account or admin key). It spends the "
        "organisation's credit and reads its data. Revoke it in the OpenAI dashboard. A key without the "
        "T3BlbkFJ signature between two 20+ character halves is not an issued key (info).",
        before=3, anchored=True, after=420, min_entropy=3.5, validators=("not_placeholder", "openai"),
        references=("https://platform.openai.com/docs/api-reference/authentication",),
        provider='OpenAI', example='sk-proj-<...>T3BlbkFJ<...>',
    ),
    SecretRule(
        "HN-SEC-011", "Anthropic API key", C,
        _LB + rb"(?P<secret>sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,120}AA)" + _END,
        (b"sk-ant-",),
        "An Anthropic API key. It spends the organisation's credit. Revoke it in the console.",
        before=3, anchored=True, after=140, min_entropy=3.5, validators=("not_placeholder",),
        provider='Anthropic', example='sk-ant-api03-<93>AA',
    ),
    SecretRule(
        "HN-SEC-012", "Azure storage account key", C,
        rb"(?i)(?:AccountKey[ \t]{0,4}=[ \t]{0,4}|(?:azure|storage)[A-Za-z0-9_.\-]{0,30}key" + _ASSIGN + rb")"
        rb"(?P<secret>[A-Za-z0-9+/]{86}==)",
        (b"accountkey", b"azure", b"storage"),
        "An Azure storage account key (a base64 64-byte key, typically inside a connection string). It "
        "grants full access to the storage account. Rotate the key and use SAS tokens or managed "
        "identities.",
        caseless=True, before=40, after=170, min_entropy=4.0, validators=("not_placeholder", "azure_key"),
        near=rb"[=:]", near_span=48,
        references=("https://learn.microsoft.com/azure/storage/common/storage-account-keys-manage",),
        provider='Azure', example='AccountKey=<86 base64>==',
    ),
    SecretRule(
        "HN-SEC-013", "npm access token", C,
        _LB + rb"(?P<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])",
        (b"npm_",),
        "An npm access token (CRC32-checksummed like GitHub's; a mismatch is reported at low). It "
        "publishes packages as its owner. Revoke it with `npm token revoke`.",
        before=3, anchored=True, after=44, min_entropy=3.0, validators=("not_placeholder", "crc32_checksum"),
        references=("https://docs.npmjs.com/about-access-tokens",),
        provider='npm', example='npm_<36 base62> (CRC32-checked)',
    ),
    SecretRule(
        "HN-SEC-014", "PyPI API token", C,
        _LB + rb"(?P<secret>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,1000})" + _END,
        (b"pypi-AgE",),
        "A PyPI (or TestPyPI) upload token, a macaroon for pypi.org. It uploads releases of the "
        "projects it is scoped to. Revoke it in the PyPI account settings. One that does not parse as a "
        "complete macaroon (truncated, made up) is reported at low.",
        before=3, anchored=True, after=1040, min_entropy=3.5, validators=("not_placeholder", "pypi_macaroon"),
        references=("https://pypi.org/help/#apitoken",),
        provider='PyPI', example='pypi-AgEIcHlwaS5vcmc<macaroon>',
    ),
    SecretRule(
        "HN-SEC-015", "Twilio API key", H,
        rb"(?<![A-Za-z0-9])(?P<secret>SK[0-9a-f]{32})(?![A-Za-z0-9])",
        (b"SK",),
        "A Twilio API key SID (SK + 32 hex digits); paired with its secret it sends messages and "
        "calls billed to the account. Delete the key in the Twilio console.",
        after=40, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://www.twilio.com/docs/iam/api-keys",),
        provider='Twilio', example='SK<32 hex>',
    ),
    SecretRule(
        "HN-SEC-016", "SendGrid API key", C,
        _LB + rb"(?P<secret>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})" + _END,
        (b"SG.",),
        "A SendGrid API key: it sends mail as the account. Delete it in the SendGrid settings.",
        before=3, anchored=True, after=72, min_entropy=3.5, validators=("not_placeholder",),
        references=("https://docs.sendgrid.com/ui/account-and-settings/api-keys",),
        provider='SendGrid', example='SG.<22>.<43>',
    ),
    SecretRule(
        "HN-SEC-017", "JSON Web Token", H,
        _LB + rb"(?P<secret>eyJ[A-Za-z0-9_\-]{8,2000}\.eyJ[A-Za-z0-9_\-]{8,8000}\.[A-Za-z0-9_\-]{16,1000})" + _END,
        (b"eyJ",),
        "A signed JSON Web Token. Embedded tokens are usually long-lived service credentials; "
        "anyone with the binary can replay it until it expires. Issue tokens at run time. Expired "
        "tokens and unsigned ones (alg none) are reported at low; the jwt.io example token and tokens "
        "signed with jwt.io's example secrets (public documentation) at info.",
        before=3, anchored=True, after=11100, min_entropy=3.0, validators=("not_placeholder", "jwt"),
        references=("https://datatracker.ietf.org/doc/html/rfc7519",),
        provider='(any)', example='eyJ<header>.eyJ<payload>.<signature>',
    ),
    SecretRule(
        "HN-SEC-018", "private key", C,
        rb"-----BEGIN[ ](?P<label>(?:[A-Z0-9]{2,12}[ ]){0,3})PRIVATE[ ]KEY(?:[ ]BLOCK)?-----(?:\r?\n|\\n)?"
        rb"(?P<secret>[A-Za-z0-9+/=:,.\- \t\r\n\\]{64,16384}?)(?:\r?\n|\\n)?"
        rb"-----END[ ](?:[A-Z0-9]{2,12}[ ]){0,3}PRIVATE[ ]KEY(?:[ ]BLOCK)?-----",
        (b"-----BEGIN",),
        "A PEM private key (RSA, EC, DSA, PKCS#8, OpenSSH or PGP). Whoever has the binary can sign, "
        "decrypt or log in as the key's owner. Replace the key pair; encrypted keys are reported at "
        "high (the passphrase may be next to it).",
        after=16600, min_entropy=3.0, validators=("pem_key",),
        references=("https://datatracker.ietf.org/doc/html/rfc7468",),
        provider='(any)', example='-----BEGIN ... PRIVATE KEY----- <base64 DER> -----END ...-----',
    ),
    SecretRule(
        "HN-SEC-019", "PuTTY private key", C,
        rb"PuTTY-User-Key-File-[23]: [A-Za-z0-9\-@.]{3,48}\r?\nEncryption: (?P<enc>[A-Za-z0-9\-]{3,24})\r?\n"
        rb"[^\x00]{0,8192}?Private-Lines: [0-9]{1,3}\r?\n(?P<secret>[A-Za-z0-9+/=\r\n]{16,16384}?)\r?\n"
        rb"Private-MAC: [0-9a-fA-F]{40,64}",
        (b"PuTTY-User-Key-File-",),
        "A PuTTY (.ppk) private key. Unencrypted keys log in as their owner wherever the public key is "
        "authorised. Replace the key pair.",
        after=25000, min_entropy=3.0, validators=("putty_key",),
        references=("https://the.earth.li/~sgtatham/putty/0.78/htmldoc/AppendixC.html",),
        provider='PuTTY', example='PuTTY-User-Key-File-3: ... Private-Lines: ...',
    ),
    SecretRule(
        "HN-SEC-020", "password in URL", H,
        rb"(?i)(?<![A-Za-z0-9+.\-])(?P<scheme>[a-z][a-z0-9+.\-]{1,30})://"
        rb"(?P<user>" + _USERINFO + rb"{1,128}):(?P<secret>" + _USERINFO + rb"{3,128})@"
        rb"(?P<host>[a-z0-9\-_.\[\]]{1,253})",
        (b"://",),
        "A URL or DSN with an embedded password (scheme://user:password@host), e.g. a database "
        "connection string. Placeholders (user:password@, ${VAR}, <password>), documentation credentials "
        "(scott:tiger) and example hosts are ignored. Read the DSN from the environment or a secret store "
        "at run time.",
        before=32, after=520, validators=("url_password",), near=b"@", near_span=260,
        provider='(any)', example='scheme://user:<password>@host',
    ),
    *PROVIDER_RULES,
    SecretRule(
        "HN-SEC-100", "generic secret assignment", H,
        rb"(?i)(?<![A-Za-z0-9])(?<![A-Za-z0-9]:)(?P<name>" + _NAME + rb")" + _OPERATOR
        + rb"(?:(?P<q>\\?[\"'`])|)(?:(?:bearer|basic|token)[ \t]{1,4})?"
        rb"(?P<secret>" + _VALUE + rb"{8,200})(?(q)(?P=q)|(?!" + _VALUE + rb"))",
        _NAME_KEYWORDS,
        "A high-entropy value assigned to a secret-sounding name (password, secret, token, api_key, "
        "client_secret, a bare key...) in text such as `name = \"value\"`, `name: value`, `NAME=value`, "
        "JSON, YAML blocks, typed declarations (`var xToken string = ...`), PHP `.=`, make's `::=` / "
        "`?=`, call arguments (`setProperty(\"X_TOKEN\", \"...\")`), log lines (`Using Key=...`), or as a "
        "module constant / default argument / dict item in the Nuitka constants blob. Values that "
        "look like words, identifiers, paths, format strings or placeholders are ignored; UUID-shaped "
        "values and values under a bare `key` name are reported at medium. Next to a known service's name "
        "(in the name or on the lines above), a value in none of that service's key formats is not its key "
        "and is reported at info (formats: src/hardnut/policy/provider-key-formats.json).",
        caseless=True, before=48, after=300, validators=("generic",), generic=True, context=PROVIDER_CONTEXT,
        # the operator within 48 bytes of the keyword, with no line break or NUL (another string of a
        # binary) between: the rest of the name, a quote, blanks or a type come before it, never those
        tail=rb"[^\x00\n\r]{0,47}[=:,>]", example='password = "<16+ random characters>"',
    ),
    SecretRule(
        "HN-SEC-103", "secret in a command-line option", H,
        rb"(?i)(?<![A-Za-z0-9_\-])--?(?P<name>[A-Za-z0-9_\-]{0,30}?(?:pass(?:word|wd|phrase)?|pwd|secret|token|"
        rb"api[_\-]?key|access[_\-]?key|storage[_\-]?key|account[_\-]?key|auth[_\-]?key|client[_\-]?secret))"
        rb"(?:[ \t]{1,4}|=)(?P<q>[\"']?)(?P<secret>" + _VALUE + rb"{8,200})(?(q)(?P=q)|(?!" + _VALUE + rb"))",
        (b"pass", b"pwd", b"secret", b"token", b"key"),
        "A high-entropy value passed as a command-line option with a secret-sounding name "
        "(`--password ...`, `-storagekey ...`, `--api-key=...`) in scripts, CI files or logs shipped "
        "with the app. The generic value filters apply.",
        caseless=True, before=40, after=260, validators=("generic",), generic=True,
        near=rb"[ \t=]", near_span=24, near_before=rb"-", example="--password <16+ random characters>",
    ),
    SecretRule(
        "HN-SEC-101", "secret in XML element", H,
        rb"(?i)<(?P<name>" + _NAME + rb")(?:[ \t][^<>\x00]{0,120})?>[ \t\r\n]{0,40}"
        rb"(?P<secret>" + _VALUE + rb"{8,200})[ \t\r\n]{0,40}</",
        _NAME_KEYWORDS,
        "A high-entropy value inside an XML element with a secret-sounding name, e.g. "
        "`<password>...</password>` or `<apiToken>...</apiToken>` (Maven settings, .NET and Java "
        "configuration). The same value filters as the generic assignment rule apply.",
        caseless=True, before=48, after=400, validators=("generic",), generic=True,
        near=rb">", near_span=120, near_before=rb"<", example="<password>random-value</password>",
    ),
    SecretRule(
        "HN-SEC-102", "secret in XML attribute", H,
        rb"(?i)\b(?:key|name)[ \t]{0,2}=[ \t]{0,2}[\"'](?P<name>" + _NAME + rb")[\"'][ \t\r\n]{1,16}"
        rb"value[ \t]{0,2}=[ \t]{0,2}(?P<q>[\"'])(?P<secret>[^\"'<>\x00\r\n]{8,200})(?P=q)",
        _NAME_KEYWORDS,
        "A high-entropy value in an XML key/value pair whose key sounds secret, e.g. NuGet's "
        "`<add key=\"ClearTextPassword\" value=\"...\"/>` or `<entry name=\"apiToken\" value=\"...\"/>`.",
        caseless=True, before=60, after=300, validators=("generic",), generic=True,
        near=rb"value", near_span=40, example='<add key="ClearTextPassword" value="random-value"/>',
    ),

)

RULES_BY_ID = {r.id: r for r in SECRET_RULES}


def describe() -> list[tuple[str, str, str]]:
    """(id, severity, name) of every secret rule, for documentation."""
    return [(r.id, r.severity.label, r.name) for r in SECRET_RULES]
