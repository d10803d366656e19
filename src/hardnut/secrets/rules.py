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
import json
import math
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Optional

from hardnut.model import Rule, Severity


@dataclass(frozen=True)
class Verdict:
    severity: Optional[Severity] = None  # None: the rule's severity
    note: str = ""


KEEP = Verdict()


@dataclass(frozen=True)
class SecretRule:
    id: str
    name: str
    severity: Severity
    pattern: bytes
    keywords: tuple[bytes, ...]
    explanation: str
    caseless: bool = False  # keywords match ASCII case-insensitively
    before: int = 0  # bytes a match may start before its keyword
    after: int = 256  # bytes a match may end after the keyword's start
    min_entropy: float = 0.0  # Shannon bits per byte of the secret
    validators: tuple[str, ...] = ()
    generic: bool = False  # loses against a provider rule on the same secret
    references: tuple[str, ...] = ()
    # cheap necessary condition: `near` occurs within `near_span` bytes after the keyword's end
    # (e.g. the assignment operator of a name = value rule); skips the full regex otherwise
    near: bytes = b""
    near_span: int = 0
    regex: re.Pattern = field(init=False, repr=False, compare=False)
    near_re: Optional[re.Pattern] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))
        object.__setattr__(self, "near_re", re.compile(self.near) if self.near else None)
        for v in self.validators:
            if v not in VALIDATORS:
                raise ValueError(f"rule {self.id}: unknown validator {v}")

    def as_rule(self) -> Rule:
        return Rule(self.id, self.name, "secret", self.severity, self.explanation, self.references)


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
    rb"\$\{|\{\{|%\(|%s|0{10}|insert[_\-]?here|replace[_\-]?me"
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
# validators


def v_not_placeholder(secret: bytes, m: re.Match) -> Optional[Verdict]:
    return None if is_placeholder(secret) else KEEP


def v_crc32_checksum(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """GitHub (2021 format) and npm tokens: 30 random base62 chars + base62(CRC32) in 6 chars."""
    body = secret.split(b"_", 1)[1]
    if len(body) == 36 and base62_crc32(body[:30]) == body[30:].decode("ascii", "replace"):
        return KEEP
    return Verdict(Severity.MEDIUM, "checksum does not match: a test value, a typo or a truncated token")


def v_azure_key(secret: bytes, m: re.Match) -> Optional[Verdict]:
    raw = _b64decode(secret)
    return KEEP if raw is not None and len(raw) == 64 else None


def v_jwt(secret: bytes, m: re.Match) -> Optional[Verdict]:
    head, payload, _sig = secret.split(b".", 2)
    try:
        header = json.loads(_b64decode(head, urlsafe=True) or b"")
        json.loads(_b64decode(payload, urlsafe=True) or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or "alg" not in header:
        return None
    if str(header.get("alg")).lower() == "none":
        return Verdict(Severity.LOW, "unsigned token (alg none)")
    return KEEP


def v_pem_key(secret: bytes, m: re.Match) -> Optional[Verdict]:
    label = (m.group("label") or b"").strip().upper()
    lines = re.split(rb"\\[nr]|[\r\n]+", secret)
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


def v_url_password(secret: bytes, m: re.Match) -> Optional[Verdict]:
    user = m.group("user")
    host = m.group("host").lower()
    low = secret.lower()
    if low in _URL_PLACEHOLDER_PW or secret == user or is_placeholder(secret) or is_placeholder(user):
        return None
    if secret[:1] in (b"$", b"%", b"{", b"<", b"[", b"*") or set(secret) <= set(b"*xX._-"):
        return None
    if b"example" in host or host.endswith((b".test", b".local")) or host in (b"host", b"hostname", b"server"):
        return None
    return KEEP


# values that are code, paths, variables, labels, ARNs or elided examples rather than secrets
_CODE_LIKE = re.compile(
    rb"[()\[\]{}]|^[/~.:=]|::|://|%[sdr(]|\.\w+\(|^\$[A-Za-z_{(]|:$|\.\.\.|\*.*\*.*\*|^arn:|"
    rb"^(?:true|false|null|none)$", re.I)
# a value that names what it is: doc examples ("rest-of-my-password", "import-token-5ott6")
_SELF_DESCRIBING = re.compile(rb"(?i)passw|secret|token|sample|dummy|fake|test")
# names where the keyword is part of another word, or the value is not secret (pagination and
# idempotency tokens, ARNs, encrypted blobs, public keys)
_NOT_A_SECRET_NAME = re.compile(
    rb"(?i)bypass|compass|passthr|passiv|passag|passeng|passed|passing|passes|trespass|surpass|"
    rb"tokeniz|author(?!i[sz]ation)|pwdata|secretary|credential_?(?:provider|process|source)|"
    rb"(?:next|change|page|continuation|sync|client|idempotency|pagination|starting|marker|continue|"
    rb"cursor|csrf|xsrf|cancel|import|resume|request|action|refresh_?token_?expir)[_\-.]?token|arn$|_arn|"
    rb"ciphertext|encrypted|public|strategy|scheme|generation|rotation|policy|checksum")
_BAD_NAME_SUFFIX = re.compile(
    rb"(?i)(?:_|-|\.)?(?:len|length|size|type|types|file|files|path|dir|name|names|id|url|uri|endpoint|"
    rb"field|fields|header|prefix|regex|pattern|format|expires?|expiry|ttl|count|index|class|"
    rb"mode|kind|key_?id|label|char|chars|prompt|hash|salt_len|env|var|option|param|arg|time|date|used|"
    rb"version)$"
)


_WORD_TOKEN = re.compile(rb"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_UUID = re.compile(rb"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DOTTED_NAME = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_DATE = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def wordiness(secret: bytes) -> float:
    """Share of alphanumeric characters in word-like tokens (lowercase or Capitalized letter runs
    of 3+, CamelCase parts): ~0.4 for random base62 (p99 0.75 at 32 chars), ~0.2 for hex, >= 0.85
    for identifiers such as oauth2_client_cls or DjangoOAuth1App."""
    alnum = sum(1 for b in secret if 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122)
    good = sum(len(tok) for tok in _WORD_TOKEN.findall(secret) if len(tok) >= 3 and not tok.isdigit())
    return good / max(1, alnum)


def _ascending_ratio(secret: bytes) -> float:
    """Share of neighbouring characters that count up (abc, 123): hand-made example values."""
    low = secret.lower()
    ups = sum(1 for x, y in zip(low, low[1:]) if y == x + 1 and (48 <= x <= 57 or 97 <= x <= 122))
    return ups / max(1, len(secret) - 1)


def v_generic(secret: bytes, m: re.Match) -> Optional[Verdict]:
    """A value assigned to a secret-sounding name: keep only what looks generated."""
    name = m.group("name")
    if _NOT_A_SECRET_NAME.search(name):
        return None
    if _BAD_NAME_SUFFIX.search(name) and not name.lower().endswith((b"password", b"secret", b"token")):
        return None
    if is_placeholder(secret) or _CODE_LIKE.search(secret) or _SELF_DESCRIBING.search(secret):
        return None
    classes = {
        "lower": any(97 <= b <= 122 for b in secret),
        "upper": any(65 <= b <= 90 for b in secret),
        "digit": any(48 <= b <= 57 for b in secret),
        "symbol": any(not (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122) for b in secret),
    }
    kinds = {k for k, v in classes.items() if v}
    if not (kinds & {"lower", "upper"}):  # numbers, punctuation
        return None
    if "digit" not in kinds and all(part.isalpha() for part in re.split(rb"[-_./:]", secret) if part):
        return None  # words and identifiers, plain or joined by - _ . / : (planted-sample, Some_Name)
    if (_UUID.fullmatch(secret) or _DOTTED_NAME.fullmatch(secret) or _DATE.match(secret)
            or wordiness(secret) >= (0.85 if len(secret) >= 12 else 0.95)):
        return None  # ids, module.attribute names, timestamps, identifiers like oauth2_client_cls
    h = entropy(secret)
    if len(kinds) == 2:
        # hex / base32 / lowercase+digits tokens, or random mixed-case letters: long and dense only
        if len(secret) < 20 or h < (3.5 if "digit" in kinds else 3.8):
            return None
    elif len(kinds) < 2:
        return None
    if _ascending_ratio(secret) >= 0.25:
        return None
    if h < min(3.5, max(3.0, 0.75 * math.log2(len(secret)))):
        return None
    return KEEP


VALIDATORS: dict[str, Callable[[bytes, re.Match], Optional[Verdict]]] = {
    "not_placeholder": v_not_placeholder,
    "crc32_checksum": v_crc32_checksum,
    "azure_key": v_azure_key,
    "jwt": v_jwt,
    "pem_key": v_pem_key,
    "putty_key": v_putty_key,
    "url_password": v_url_password,
    "generic": v_generic,
}


# ---------------------------------------------------------------------------------------------
# the rules

_END = rb"(?![A-Za-z0-9_\-])"  # right boundary of a token made of [A-Za-z0-9_-]
# printable ASCII without space " ' ` , ; < > \ : a generic value
_VALUE = rb"[\x21\x23-\x26\x28-\x2b\x2d-\x3a\x3d\x3f-\x5b\x5d-\x5f\x61-\x7e]"
# printable ASCII without space : @ / ? # " ' < > \ : a URL's user or password
_USERINFO = rb"[\x21\x24-\x26\x28-\x2e\x30-\x39\x3b\x3d\x41-\x5b\x5d-\x7e]"
_ASSIGN = rb"""["']?[ \t]{0,4}(?:=|:=|:|=>)[ \t]{0,4}["']?"""
C, H, M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM

SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "HN-SEC-001", "AWS access key id", H,
        rb"(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9])",
        (b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"A3T"),
        "An AWS access key id (AKIA... long-term, ASIA... temporary). On its own it identifies the key; "
        "shipped next to its secret access key it grants the key's permissions to anyone who has the "
        "binary. Deactivate the key in IAM and load credentials at run time (instance roles, SSO, "
        "environment).",
        after=24, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html",),
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
    ),
    SecretRule(
        "HN-SEC-003", "GitHub token", C,
        rb"(?P<secret>gh[pousr]_[A-Za-z0-9]{36})" + _END,
        (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_"),
        "A GitHub personal access (ghp_), OAuth (gho_), user-to-server (ghu_), server-to-server (ghs_) "
        "or refresh (ghr_) token. Tokens carry a CRC32 checksum; one that does not verify is reported "
        "at medium. Revoke it on GitHub and use a secret store or a short-lived app token instead.",
        after=44, min_entropy=3.0, validators=("not_placeholder", "crc32_checksum"),
        references=("https://github.blog/2021-04-05-behind-githubs-new-authentication-token-formats/",),
    ),
    SecretRule(
        "HN-SEC-004", "GitHub fine-grained token", C,
        rb"(?P<secret>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})" + _END,
        (b"github_pat_",),
        "A GitHub fine-grained personal access token. It acts as its owner on the repositories it was "
        "granted. Revoke it on GitHub.",
        after=100, min_entropy=3.5, validators=("not_placeholder",),
        references=("https://docs.github.com/en/authentication/keeping-your-account-and-data-secure/managing-your-personal-access-tokens",),
    ),
    SecretRule(
        "HN-SEC-005", "GitLab personal access token", C,
        rb"(?P<secret>glpat-[A-Za-z0-9_\-]{20,300}(?:\.[0-9a-z]{2}\.[0-9a-z]{9})?)" + _END,
        (b"glpat-",),
        "A GitLab personal access token. It acts as its owner on the GitLab instance. Revoke it in "
        "the user settings.",
        after=330, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://docs.gitlab.com/ee/security/tokens/",),
    ),
    SecretRule(
        "HN-SEC-006", "Slack token", C,
        rb"(?P<secret>(?:xox[abposre]|xoxe\.xox[bp])-(?:[0-9]{1,14}-){1,3}[A-Za-z0-9]{8,220}"
        rb"|xapp-[0-9]-[A-Z0-9]{8,14}-[0-9]{8,16}-[A-Za-z0-9]{32,80})" + _END,
        (b"xoxa-", b"xoxb-", b"xoxp-", b"xoxo-", b"xoxs-", b"xoxr-", b"xoxe-", b"xoxe.", b"xapp-"),
        "A Slack bot, user, app-level or refresh token. It reads and posts in the workspace with the "
        "token's scopes. Revoke it in the Slack app settings.",
        after=300, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://api.slack.com/authentication/token-types",),
    ),
    SecretRule(
        "HN-SEC-007", "Slack webhook URL", H,
        rb"(?i)hooks\.slack\.com/(?:services|workflows|triggers)/(?P<secret>[A-Za-z0-9_\-]{8,40}/[A-Za-z0-9_\-/+]{16,100})"
        rb"(?![A-Za-z0-9_\-/+])",
        (b"hooks.slack.com",),
        "An incoming-webhook URL: anyone holding it can post messages into the channel. Regenerate "
        "the webhook in the Slack app settings.",
        caseless=True, after=180, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://api.slack.com/messaging/webhooks",),
    ),
    SecretRule(
        "HN-SEC-008", "Stripe live key", C,
        rb"(?P<secret>[sr]k_live_[A-Za-z0-9]{24,247})(?![A-Za-z0-9])",
        (b"sk_live_", b"rk_live_"),
        "A Stripe live secret (sk_live_) or restricted (rk_live_) key: it moves real money. Roll the "
        "key in the Stripe dashboard; only publishable keys (pk_) belong in clients.",
        after=260, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://docs.stripe.com/keys",),
    ),
    SecretRule(
        "HN-SEC-009", "Google API key", H,
        rb"(?P<secret>AIza[0-9A-Za-z_\-]{35})" + _END,
        (b"AIza",),
        "A Google Cloud API key. Unrestricted keys bill and call every enabled API of the project. "
        "Restrict it (API and application restrictions) or rotate it.",
        after=44, min_entropy=4.0, validators=("not_placeholder",),
        references=("https://cloud.google.com/docs/authentication/api-keys",),
    ),
    SecretRule(
        "HN-SEC-010", "OpenAI API key", C,
        rb"(?P<secret>sk-(?:(?:proj|svcacct|admin)-)?[A-Za-z0-9_\-]{16,200}T3BlbkFJ[A-Za-z0-9_\-]{16,200}"
        rb"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,300})" + _END,
        (b"sk-",),
        "An OpenAI API key (legacy sk-, project sk-proj-, service account or admin key). It spends the "
        "organisation's credit and reads its data. Revoke it in the OpenAI dashboard.",
        after=420, min_entropy=3.5, validators=("not_placeholder",),
        references=("https://platform.openai.com/docs/api-reference/authentication",),
    ),
    SecretRule(
        "HN-SEC-011", "Anthropic API key", C,
        rb"(?P<secret>sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_\-]{80,120}AA)" + _END,
        (b"sk-ant-",),
        "An Anthropic API key. It spends the organisation's credit. Revoke it in the console.",
        after=140, min_entropy=3.5, validators=("not_placeholder",),
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
    ),
    SecretRule(
        "HN-SEC-013", "npm access token", C,
        rb"(?P<secret>npm_[A-Za-z0-9]{36})(?![A-Za-z0-9])",
        (b"npm_",),
        "An npm access token (CRC32-checksummed like GitHub's; a mismatch is reported at medium). It "
        "publishes packages as its owner. Revoke it with `npm token revoke`.",
        after=44, min_entropy=3.0, validators=("not_placeholder", "crc32_checksum"),
        references=("https://docs.npmjs.com/about-access-tokens",),
    ),
    SecretRule(
        "HN-SEC-014", "PyPI API token", C,
        rb"(?P<secret>pypi-AgE(?:IcHlwaS5vcmc|NdGVzdC5weXBpLm9yZw)[A-Za-z0-9_\-]{50,1000})" + _END,
        (b"pypi-AgE",),
        "A PyPI (or TestPyPI) upload token, a macaroon for pypi.org. It uploads releases of the "
        "projects it is scoped to. Revoke it in the PyPI account settings.",
        after=1040, min_entropy=3.5, validators=("not_placeholder",),
        references=("https://pypi.org/help/#apitoken",),
    ),
    SecretRule(
        "HN-SEC-015", "Twilio API key", H,
        rb"(?<![A-Za-z0-9])(?P<secret>SK[0-9a-f]{32})(?![A-Za-z0-9])",
        (b"SK",),
        "A Twilio API key SID (SK + 32 hex digits); paired with its secret it sends messages and "
        "calls billed to the account. Delete the key in the Twilio console.",
        after=40, min_entropy=3.0, validators=("not_placeholder",),
        references=("https://www.twilio.com/docs/iam/api-keys",),
    ),
    SecretRule(
        "HN-SEC-016", "SendGrid API key", C,
        rb"(?P<secret>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})" + _END,
        (b"SG.",),
        "A SendGrid API key: it sends mail as the account. Delete it in the SendGrid settings.",
        after=72, min_entropy=3.5, validators=("not_placeholder",),
        references=("https://docs.sendgrid.com/ui/account-and-settings/api-keys",),
    ),
    SecretRule(
        "HN-SEC-017", "JSON Web Token", H,
        rb"(?P<secret>eyJ[A-Za-z0-9_\-]{8,2000}\.eyJ[A-Za-z0-9_\-]{8,8000}\.[A-Za-z0-9_\-]{16,1000})" + _END,
        (b"eyJ",),
        "A signed JSON Web Token. Embedded tokens are usually long-lived service credentials; "
        "anyone with the binary can replay it until it expires. Issue tokens at run time.",
        after=11100, min_entropy=3.0, validators=("not_placeholder", "jwt"),
        references=("https://datatracker.ietf.org/doc/html/rfc7519",),
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
    ),
    SecretRule(
        "HN-SEC-020", "password in URL", H,
        rb"(?i)(?<![A-Za-z0-9+.\-])(?P<scheme>[a-z][a-z0-9+.\-]{1,30})://"
        rb"(?P<user>" + _USERINFO + rb"{1,128}):(?P<secret>" + _USERINFO + rb"{3,128})@"
        rb"(?P<host>[a-z0-9\-_.\[\]]{1,253})",
        (b"://",),
        "A URL or DSN with an embedded password (scheme://user:password@host), e.g. a database "
        "connection string. Placeholders (user:password@, ${VAR}, <password>) and example hosts are "
        "ignored. Read the DSN from the environment or a secret store at run time.",
        before=32, after=520, validators=("url_password",), near=b"@", near_span=260,
    ),
    SecretRule(
        "HN-SEC-100", "generic secret assignment", H,
        rb"(?i)(?<![A-Za-z0-9])(?P<name>[A-Za-z0-9_.\-]{0,40}?"
        rb"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_\-]?key|access[_\-]?key|private[_\-]?key|"
        rb"auth(?:[_\-]?(?:token|key))?|credentials?)[A-Za-z0-9_.\-]{0,24}?)"
        rb"[\"']?[ \t]{0,4}(?:=|:=|:(?!:)|=>)[ \t]{0,4}(?:(?P<q>[\"'`])|)"
        rb"(?P<secret>" + _VALUE + rb"{8,200})(?(q)(?P=q)|(?!" + _VALUE + rb"))",
        (b"pass", b"pwd", b"secret", b"token", b"api_key", b"apikey", b"api-key", b"access_key",
         b"accesskey", b"access-key", b"private_key", b"privatekey", b"private-key", b"auth", b"credential"),
        "A high-entropy value assigned to a secret-sounding name (password, secret, token, api_key, "
        "client_secret...) in text such as `name = \"value\"`, `name: value`, `NAME=value` or JSON, or "
        "as a module constant / default argument / dict item in the Nuitka constants blob. Values "
        "that look like words, identifiers, paths, format strings or placeholders are ignored.",
        caseless=True, before=48, after=300, validators=("generic",), generic=True,
        near=rb"[=:]", near_span=40,
    ),
)

RULES_BY_ID = {r.id: r for r in SECRET_RULES}


def describe() -> list[tuple[str, str, str]]:
    """(id, severity, name) of every secret rule, for documentation."""
    return [(r.id, r.severity.label, r.name) for r in SECRET_RULES]
