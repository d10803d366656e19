"""Each secret rule: values it must report (positives) and look-alikes it must not (negatives).

All credentials here are FAKE, generated at test time by tests/helpers_secrets.Fakes.
"""

from __future__ import annotations

import pytest

from hardnut.model import Severity
from hardnut.secrets.engine import Engine
from hardnut.secrets.rules import SECRET_RULES, base62_crc32, entropy, wordiness
from helpers_secrets import ALNUM, Fakes, check

F = Fakes(11)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def hits(engine: Engine, text: str | bytes) -> list[tuple[str, str, Severity]]:
    data = text.encode() if isinstance(text, str) else text
    return [(m.rule_id, m.secret, m.severity) for m in engine.scan_buffer(data)]


def rule_hits(engine: Engine, rule: str, text: str | bytes) -> list[str]:
    return [secret for rid, secret, _ in hits(engine, text) if rid == rule]


GH = F.github()
GH_BAD = F.github(valid=False)
AWS_ID = F.aws_id()
AWS_SECRET = F.b64(30)  # 40 base64 characters
NPM = F.github("npm_")
AZURE = F.b64(64)
STRIPE = "sk_live_" + F.text(40)
JWT = F.jwt()

POSITIVES = [
    ("HN-SEC-001", f'key_id = "{AWS_ID}"', AWS_ID),
    ("HN-SEC-002", f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    ("HN-SEC-002", f'"SecretAccessKey": "{AWS_SECRET}"', AWS_SECRET),
    ("HN-SEC-003", f"token={GH}\n", GH),
    ("HN-SEC-003", f"\x00a{GH}\x00", GH),  # right after a Nuitka blob tag byte
    ("HN-SEC-003", F.github("ghs_"), None),
    ("HN-SEC-004", "github_pat_" + F.text(22) + "_" + F.text(59), None),
    ("HN-SEC-005", "glpat-" + F.text(20, ALNUM + "_-"), None),
    ("HN-SEC-006", "xoxb-" + F.text(12, "0123456789") + "-" + F.text(13, "0123456789") + "-" + F.text(24), None),
    ("HN-SEC-006", "xoxp-" + "-".join(F.text(12, "0123456789") for _ in range(3)) + "-" + F.text(32, "0123456789abcdef"), None),
    ("HN-SEC-007", "url: https://hooks.slack.com/services/T" + F.text(10, "ABCDEFGHJK0123") + "/B" + F.text(10, "LMNPQRS4567") + "/" + F.text(24), None),
    ("HN-SEC-008", STRIPE, STRIPE),
    ("HN-SEC-008", "rk_live_" + F.text(60), None),
    ("HN-SEC-009", "AIza" + F.text(35, ALNUM + "_-"), None),
    ("HN-SEC-010", "sk-" + F.text(20) + "T3BlbkFJ" + F.text(20), None),
    ("HN-SEC-010", "sk-proj-" + F.text(48, ALNUM + "-_") + "T3BlbkFJ" + F.text(48), None),
    ("HN-SEC-011", "sk-ant-api03-" + F.text(93, ALNUM + "_-") + "AA", None),
    ("HN-SEC-012", f"DefaultEndpointsProtocol=https;AccountName=fake;AccountKey={AZURE};EndpointSuffix=core.windows.net", AZURE),
    ("HN-SEC-012", f'AZURE_STORAGE_KEY="{AZURE}"', AZURE),
    ("HN-SEC-013", NPM, NPM),
    ("HN-SEC-014", "pypi-AgEIcHlwaS5vcmc" + F.b64url(70), None),
    ("HN-SEC-015", "sid SK" + F.text(32, "0123456789abcdef") + " end", None),
    ("HN-SEC-016", "SG." + F.text(22, ALNUM + "_-") + "." + F.text(43, ALNUM + "_-"), None),
    ("HN-SEC-017", JWT, JWT),
    ("HN-SEC-018", F.pem("RSA"), None),
    ("HN-SEC-018", F.pem(""), None),
    ("HN-SEC-018", F.pem("OPENSSH", openssh=True), None),
    ("HN-SEC-018", F.pem("RSA").replace("\n", "\\n"), None),  # JSON-escaped newlines
    ("HN-SEC-019", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: fake\nPublic-Lines: 2\n"
                   + F.b64(48) + "\n" + F.b64(3) + "\nPrivate-Lines: 1\n" + F.b64(48) + "\nPrivate-MAC: "
                   + F.text(64, "0123456789abcdef") + "\n", None),
    ("HN-SEC-020", "postgresql://svc:Qx7" + F.text(12) + "@db.internal:5432/app", None),
    ("HN-SEC-020", "DATABASE_URL=mysql://app:" + F.text(16) + "@10.0.0.5/app", None),
    ("HN-SEC-100", 'password = "' + F.text(18, ALNUM + "#%&!") + '"', None),
    ("HN-SEC-100", '"client_secret": "' + F.text(32) + '"', None),
    ("HN-SEC-100", "DB_PASSWORD=" + F.text(10) + "7#" + F.text(6), None),
    ("HN-SEC-100", "auth_token: " + F.text(32, "0123456789abcdef"), None),
]


@pytest.mark.parametrize("rule,text,secret", POSITIVES, ids=[f"{r}-{i}" for i, (r, _, _) in enumerate(POSITIVES)])
def test_positive(engine, rule, text, secret):
    found = rule_hits(engine, rule, text)
    check(bool(found), f"{rule} did not fire")
    if secret is not None:
        check(found == [secret], f"{rule}: {len(found)} secrets found, or not the planted one")


NEGATIVES = [
    ("HN-SEC-001", "AKIAIOSFODNN7EXAMPLE"),  # AWS documentation key
    ("HN-SEC-001", "AKIA" + "A" * 16),  # no entropy
    ("HN-SEC-001", "AKIA" + F.text(16, "ABCDEFGH234567") + "X"),  # 21 chars: part of a longer word
    ("HN-SEC-002", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("HN-SEC-002", "aws_secret_access_key = " + "a" * 40),
    ("HN-SEC-003", "ghp_" + "x" * 36),
    ("HN-SEC-003", "ghp_" + F.text(35)),  # too short
    ("HN-SEC-003", "ghp_" + F.text(40)),  # too long
    ("HN-SEC-004", "github_pat_" + F.text(30)),
    ("HN-SEC-005", "glpat-short"),
    ("HN-SEC-006", "xoxb-not-a-token"),
    ("HN-SEC-007", "https://hooks.slack.com/services/"),
    ("HN-SEC-008", "task_test_" + F.text(40)),  # not on a token boundary
    ("HN-SEC-008", "pk_live_" + F.text(40)),  # publishable
    ("HN-SEC-009", "AIza" + F.text(20)),
    ("HN-SEC-010", "task-" + F.text(60)),
    ("HN-SEC-010", "sk-" + F.text(48)),  # no T3BlbkFJ marker, no project prefix
    ("HN-SEC-012", "AccountKey=" + "A" * 86 + "=="),
    ("HN-SEC-012", "AccountKey=" + F.b64(63)),  # not a 64-byte key
    ("HN-SEC-013", "npm_" + F.text(20)),
    ("HN-SEC-014", "pypi-AgEnotatoken"),
    ("HN-SEC-015", "xSK" + F.text(32, "0123456789abcdef")),  # inside a word
    ("HN-SEC-016", "SG.short.short"),
    ("HN-SEC-017", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0"),  # no signature
    ("HN-SEC-017", "eyJub3RqcyI6MX0.eyJzdWIiOiJ4In0." + F.b64url(32)),  # header has no alg
    ("HN-SEC-018", "-----BEGIN RSA PRIVATE KEY-----"),  # libcrypto's PEM label string
    ("HN-SEC-018", "-----BEGIN RSA PRIVATE KEY-----\n" + "QUFB" * 40 + "\n-----END RSA PRIVATE KEY-----"),  # not DER
    ("HN-SEC-018", "-----BEGIN PUBLIC KEY-----\n" + F.pem_body() + "\n-----END PUBLIC KEY-----"),
    ("HN-SEC-019", "PuTTY-User-Key-File-3: ssh-ed25519\n"),
    ("HN-SEC-020", "postgresql://user:password@db.internal/app"),
    ("HN-SEC-020", "https://user:${DB_PASSWORD}@db.internal/app"),
    ("HN-SEC-020", "https://joe:s3cr3tPw@www.example.com/"),
    ("HN-SEC-020", "redis://:<password>@cache:6379"),
    ("HN-SEC-020", "http://admin:admin@router/"),
    ("HN-SEC-020", "ftp://anonymous:%s@%s/"),
    ("HN-SEC-100", "password = get_password()"),
    ("HN-SEC-100", "password=%s"),
    ("HN-SEC-100", 'token_type = "bearer_token_x"'),
    ("HN-SEC-100", "secret_name = MySecretName2024"),
    ("HN-SEC-100", 'password: "planted-sample-value"'),
    ("HN-SEC-100", "APT::Authentication::TrustCDROM"),
    ("HN-SEC-100", "Token = std::__cxx11::basic_string<char>"),
    ("HN-SEC-100", "passwd='geheim$parole'"),
    ("HN-SEC-100", '"NextToken": "' + F.text(40) + '"'),
    ("HN-SEC-100", '"ChangeToken": "abcd12f2-46da-4fdb-b8d5-fbd4c466928f"'),
    ("HN-SEC-100", '"PasswordLastUsed": "2016-09-08T21:47:36Z"'),
    ("HN-SEC-100", "oauth1_client_cls = DjangoOAuth1App"),
    ("HN-SEC-100", "private_key: x25519.X25519PrivateKey"),
    ("HN-SEC-100", 'api_key = "AB1C2defGHijkLMNo3PqQRstUvwxyzaBCDEfghh4"'),  # hand-typed example
    ("HN-SEC-100", "password = /usr/local/etc/secret.conf"),
    ("HN-SEC-100", "auth_key = ${AUTH_KEY_FROM_ENV}"),
    ("HN-SEC-100", "Bypass_cache_stage: Aggregate_mesh:"),
    ("HN-SEC-100", "token: 12345678901234"),
]


@pytest.mark.parametrize("rule,text", NEGATIVES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(NEGATIVES)])
def test_negative(engine, rule, text):
    check(rule_hits(engine, rule, text) == [], f"{rule} fired on a look-alike")


def test_github_checksum_grades_severity(engine):
    check(hits(engine, GH) == [("HN-SEC-003", GH, Severity.CRITICAL)], "valid GitHub token not critical")
    assert [(r, s) for r, _, s in hits(engine, GH_BAD)] == [("HN-SEC-003", Severity.LOW)]
    body = GH[4:]
    check(base62_crc32(body[:30].encode()) == body[30:], "checksum helper")


def test_npm_checksum(engine):
    check(hits(engine, NPM) == [("HN-SEC-013", NPM, Severity.CRITICAL)], "valid npm token not critical")
    bad = NPM[:-1] + ("A" if NPM[-1] != "A" else "B")
    assert [s for _, _, s in hits(engine, bad)] == [Severity.LOW]


def test_encrypted_private_keys_are_high(engine):
    enc = F.pem("ENCRYPTED")
    assert [s for r, _, s in hits(engine, enc) if r == "HN-SEC-018"] == [Severity.HIGH]
    ossh = F.pem("OPENSSH", openssh=True, cipher="aes256-ctr")
    assert [s for r, _, s in hits(engine, ossh) if r == "HN-SEC-018"] == [Severity.HIGH]
    legacy = F.pem("RSA").replace("KEY-----\n", "KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00FF\n\n", 1)
    assert [s for r, _, s in hits(engine, legacy) if r == "HN-SEC-018"] == [Severity.HIGH]


def test_unsigned_jwt_is_low(engine):
    token = F.jwt(alg="none")
    assert [(r, s) for r, _, s in hits(engine, token)] == [("HN-SEC-017", Severity.LOW)]


def test_provider_wins_over_generic_on_the_same_secret(engine):
    text = f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}\nSTRIPE_SECRET_KEY={STRIPE}\n"
    rules = [r for r, _, _ in hits(engine, text)]
    assert rules == ["HN-SEC-002", "HN-SEC-008"]


def test_utf16le_text_is_scanned(engine):
    text = f"config token={GH} end".encode("utf-16-le")
    [m] = engine.scan_buffer(text)
    assert (m.rule_id, m.encoding) == ("HN-SEC-003", "utf-16le")
    check(m.secret == GH and text[m.offset:m.offset + m.length] == GH.encode("utf-16-le"), "UTF-16 offset/secret")


def test_helpers():
    assert entropy(b"aaaa") == 0.0
    assert abs(entropy(bytes(range(256))) - 8.0) < 1e-9
    assert wordiness(b"oauth2_client_cls") >= 0.85 > 0.5 > wordiness(b"xfGuc97VE8s7xPnZY4FDXtAiEfd5qhlC")


def test_rule_ids_unique_and_documented():
    ids = [r.id for r in SECRET_RULES]
    assert len(ids) == len(set(ids))
    for r in SECRET_RULES:
        assert r.id.startswith("HN-SEC-") and len(r.explanation) > 60 and r.keywords
        assert "secret" in r.regex.groupindex


def test_hostile_candidates_do_not_raise(engine):
    import base64

    payload = b'{"r":"' + F.text(1500).encode() + b'","x":' + b"[" * 2000 + b"]" * 2000 + b"}"
    deep = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    token = "eyJhbGciOiJIUzI1NiJ9." + deep + "." + F.b64url(32)
    found = hits(engine, token)  # JSON nested too deep for the validator: kept, flagged
    assert [r for r, _, _ in found] == ["HN-SEC-017"]
    assert engine.scan_buffer(b"-----BEGIN  PRIVATE KEY-----" + b"\xff" * 100000) == []


def test_encoded_secrets_are_decoded(engine, tmp_path):
    """base64 (two levels), hex and JSON escaped inside a string: decoded, scanned, reported at the
    encoded run with a note; a secret seen directly is not reported twice."""
    import base64
    import json

    sa = json.dumps({"type": "service_account", "private_key": F.pem(""), "client_email": "a@x.iam.gserviceaccount.com"})
    cases = {
        "b64": ("TOKEN_B64=" + base64.b64encode(f"token={GH}".encode()).decode(), "HN-SEC-003", "base64"),
        "b64x2": ("X=" + base64.b64encode(base64.b64encode(f"github {GH}".encode())).decode(), "HN-SEC-003", "base64"),
        "hex": ("data = " + f"password={F.text(20)}9x".encode().hex(), "HN-SEC-100", "hex"),
        "escaped": ("GOOGLE_CREDENTIALS=" + json.dumps(sa), "HN-SEC-018", "escaped JSON"),
        "b64json": ("GOOGLE_CREDENTIALS_B64=" + base64.b64encode(sa.encode()).decode(), "HN-SEC-018", "base64"),
    }
    for name, (text, rule, how) in cases.items():
        p = tmp_path / name
        p.write_text(text + "\n")
        found = [m for m in engine.scan_file(p).matches if m.rule_id == rule]
        check(len(found) == 1 and how in found[0].note, f"{name}: {len(found)} {rule} findings")
    plain = tmp_path / "plain"
    plain.write_text(f"token={GH}\n")
    assert [m.note for m in engine.scan_file(plain).matches] == [""]


def _macaroon(caveats: int = 1) -> bytes:
    """A binary v2 macaroon shaped like PyPI's (location pypi.org, identifier, caveats, signature)."""
    def field(t: int, data: bytes) -> bytes:
        return bytes((t, len(data))) + data
    out = b"\x02" + field(1, b"pypi.org") + field(2, F.text(36).encode()) + b"\x00"
    for i in range(caveats):
        out += field(2, b'{"version": 1, "permissions": "user", "n": %d}' % i) + b"\x00"
    return out + b"\x00" + field(6, bytes(F.rnd.getrandbits(8) for _ in range(32)))


def test_pypi_token_must_be_a_complete_macaroon(engine):
    import base64
    token = "pypi-" + base64.urlsafe_b64encode(_macaroon(2)).decode().rstrip("=")
    assert token.startswith("pypi-AgEIcHlwaS5vcmc")
    check(hits(engine, token) == [("HN-SEC-014", token, Severity.CRITICAL)], "complete macaroon not critical")
    cut = token[:90]  # truncated: no signature
    assert [(r, s) for r, _, s in hits(engine, cut)] == [("HN-SEC-014", Severity.LOW)]


def test_openai_key_needs_its_signature(engine):
    good = "sk-proj-" + F.text(74) + "T3BlbkFJ" + F.text(74)
    assert [(r, s) for r, _, s in hits(engine, good)] == [("HN-SEC-010", Severity.CRITICAL)]
    for bad in ("sk-proj-" + F.text(20) + "T4BlbkFJ" + F.text(24),  # altered signature
                "sk-admin-short" + "T3BlbkFJ" + F.text(60)):  # a stub before the signature
        assert [(r, s) for r, _, s in hits(engine, bad)] == [("HN-SEC-010", Severity.INFO)], bad[:12]


def _b64url_json(obj: dict) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def test_expired_jwts_are_low_and_jwt_io_examples_info(engine):
    enc = _b64url_json
    head = enc({"alg": "HS256", "typ": "JWT"})
    expired = f"{head}.{enc({'sub': F.text(8), 'exp': 1600000000})}.{F.b64url(32)}"
    example = f"{head}.{enc({'sub': '1234567890', 'name': 'John Doe', 'iat': 1516239022})}.{F.b64url(32)}"
    live = f"{head}.{enc({'sub': F.text(8), 'exp': 4102444800})}.{F.b64url(32)}"
    assert [s for r, _, s in hits(engine, expired) if r == "HN-SEC-017"] == [Severity.LOW]
    assert [s for r, _, s in hits(engine, example) if r == "HN-SEC-017"] == [Severity.INFO]
    assert [s for r, _, s in hits(engine, live) if r == "HN-SEC-017"] == [Severity.HIGH]


@pytest.mark.parametrize("alg,key,severity", [
    ("HS256", b"a-string-secret-at-least-256-bits-long", Severity.INFO),  # jwt.io's example secrets
    ("HS384", b"a-string-secret-at-least-256-bits-long", Severity.INFO),
    ("HS512", b"your-512-bit-secret", Severity.INFO),
    ("HS256", b"secret", Severity.HIGH),  # a weak key a real service may use: still a finding
    ("HS256", F.text(32).encode(), Severity.HIGH),
])
def test_jwt_signed_with_a_public_example_secret_is_info(engine, alg, key, severity):
    import base64
    import hashlib
    import hmac

    enc = _b64url_json
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signed = enc({"alg": alg, "typ": "JWT"}) + "." + enc({"sub": F.text(8), "role": "admin"})
    sig = base64.urlsafe_b64encode(hmac.new(key, signed.encode(), digest).digest()).decode().rstrip("=")
    found = [m for m in engine.scan_buffer(f"token = {signed}.{sig}".encode()) if m.rule_id == "HN-SEC-017"]
    assert [m.severity for m in found] == [severity]
    if severity == Severity.INFO:
        assert "jwt.io's example HMAC secret" in found[0].note and key.decode() not in found[0].note


def test_firebase_sdk_example_key_is_known_public(engine):
    key = "AIza" + "SyAnLA7NfeLquW1tJFpx_eQCxoX-oo6YyIs"  # published in firebase-android-sdk's tests
    assert [(r, s) for r, _, s in hits(engine, f'apiKey: "{key}"') if r == "HN-SEC-009"] == [("HN-SEC-009", Severity.INFO)]
    other = "AIza" + F.text(35)
    assert [s for r, _, s in hits(engine, other) if r == "HN-SEC-009"] == [Severity.HIGH]


@pytest.mark.parametrize("key", ["2b7e151628aed2a6abf7158809cf4f3c",  # NIST SP 800-38A F.1.1, AES-128
                                 "603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4"])  # F.1.5, AES-256
def test_nist_aes_example_keys_are_known_public(engine, key):
    """The AES keys of NIST SP 800-38A's examples (in pycryptodome's self-tests and most crypto test
    suites) are at info; a fresh value under the same name is not."""
    assert [s for r, _, s in hits(engine, f"key = '{key}'") if r == "HN-SEC-100"] == [Severity.INFO]
    fresh = F.text(32, "0123456789abcdef")
    assert [s for r, _, s in hits(engine, f"key = '{fresh}'") if r == "HN-SEC-100"] != [Severity.INFO]


def test_repeated_block_values_are_low(engine):
    block = F.text(16)
    assert [s for r, _, s in hits(engine, f'client_secret = "{block * 4}"')] == [Severity.LOW]


def test_structure_validators_never_raise_on_hostile_bytes():
    """The macaroon parser and the value filters take any bytes: a verdict, never an exception."""
    import random

    from hardnut.secrets.rules import alternating_sequence, mangled_hex, macaroon_v2_ok, periodic, settings_query

    rnd = random.Random(9)
    for n in (0, 1, 2, 5, 40, 300):
        for _ in range(40):
            raw = bytes(rnd.getrandbits(8) for _ in range(n))
            assert macaroon_v2_ok(b"\x02" + raw) in (True, False)
            for f in (alternating_sequence, mangled_hex, periodic, settings_query):
                f(raw)
    assert not macaroon_v2_ok(b"\x02" + b"\xff" * 10)  # a varint that never ends


def test_telegram_shaped_value_out_of_format_is_info(engine):
    bad = f'telegram_api_token = "3337:A{F.text(34, "abcdefghijklmnopqrstuvwxyz0123456789_")}"'  # 4-digit bot id
    assert [(r, s) for r, _, s in hits(engine, bad)] == [("HN-SEC-100", Severity.INFO)]
    good = f'telegram_api_token = "{F.text(9, "0123456789")}:A{F.text(34, "abcdefghijklmnopqrstuvwxyz0123456789_")}"'
    assert [s for _, _, s in hits(engine, good)] == [Severity.HIGH]


@pytest.mark.parametrize("value", ["AIza" + F.text(34), "xai-" + F.text(40), "cmVmdGtu" + F.text(20)])
def test_provider_outline_out_of_format_is_info(engine, value):
    """A value under a secret name that starts like a provider's token but is not in its format."""
    assert [(r, s) for r, _, s in hits(engine, f'api_token = "{value}"')] == [("HN-SEC-100", Severity.INFO)]


_V = Fakes(23).text
_LOWER_DIGITS = "abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize("text", [
    f"[INFO] Sending request to the abyssale API\n[INFO] Processing request\n[DEBUG] Using Key={_V(39)}",  # 40 long
    f"lokalisetoken = '{_V(39, _LOWER_DIGITS)}'",  # the service's name glued to a credential word
    f"abyssaleApiKey = '{_V(33)}'",  # camelCase
    f"MERAKI_API_KEY={_V(6, '0123456789abcdef')}F{_V(33, '0123456789abcdef')}",  # Meraki keys are lower-case hex
    f'api_key = "NRAK-{_V(20, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")}"',  # the prefix names New Relic; 27 after it
])
def test_value_next_to_a_service_but_not_in_its_format_is_info(engine, text):
    """trufflehog's rule: a service's keyword plus its key format. Next to a known service's name, a
    value that fits none of its formats is not its key: info, in every plant."""
    blob = b"u" + text.encode() + b"\x00"  # a Nuitka str constant: the tag byte is not part of the name
    for plant in ([(m.rule_id, m.severity) for m in engine.scan_buffer(text.encode())],
                  [(m.rule_id, m.severity) for m in engine.scan_buffer(text.encode("utf-16-le"))],
                  [(m.rule_id, m.severity) for m in engine.scan_buffer(blob) + engine.scan_strings([(1, blob[1:-1])])]):
        assert ("HN-SEC-100", Severity.INFO) in plant and {s for _, s in plant} == {Severity.INFO}, (text[:40], plant)


def test_service_name_in_another_string_or_word_names_nothing(engine):
    value = _V(33)
    for text in (f"[INFO] abyssale API\x00api_key = '{value}'",  # another string of a binary
                 f"# pythagoras\napi_key = '{value}'",  # agora inside a longer word
                 f"[INFO] abyssale API\n\n\n\n\napi_key = '{value}'"):  # more than three lines above
        assert [(r, s) for r, _, s in hits(engine, text)] == [("HN-SEC-100", Severity.HIGH)], text[:20]


def test_value_in_the_services_format_says_so(engine):
    found = [m for m in engine.scan_buffer(f"# abyssale\nabyssale_key = '{_V(40)}'".encode()) if m.rule_id == "HN-SEC-100"]
    assert [m.severity for m in found] == [Severity.MEDIUM] or [m.severity for m in found] == [Severity.HIGH]
    assert "in the format of Abyssale's keys" in found[0].note


def test_provider_format_table_is_well_formed():
    import json
    from hardnut.secrets.rules import _PROVIDER_FORMATS_FILE, provider_formats

    data = json.loads(_PROVIDER_FORMATS_FILE.read_text(encoding="utf-8"))
    assert "trufflehog" in data["_comment"] and "never a sample value" in data["_comment"]  # its source
    table = provider_formats()
    assert len(table.providers) == len(data["providers"])
    for entry in data["providers"]:  # the trie finder finds every keyword
        for k in entry["keywords"]:
            assert table.finder.search(b"x " + k.encode() + b" x").group() == k.encode(), k
    names = [p["name"] for p in data["providers"]]
    assert len(names) == len(set(names))
    for entry in data["providers"]:
        assert entry["keywords"] and entry["formats"], entry["name"]
        assert all(len(k) >= 3 and k == k.lower() for k in entry["keywords"]), entry["name"]
        for fmt in entry["formats"]:
            assert ("pattern" in fmt) != ("alphabet" in fmt), entry["name"]
            if "alphabet" in fmt:
                assert len(fmt["length"]) in (1, 2) and fmt["length"] == sorted(fmt["length"]), entry["name"]


def test_service_name_finder_on_arbitrary_bytes():
    import random

    from hardnut.secrets.rules import _word_at, providers_named

    rnd = random.Random(4)
    words = [b"abyssale", b"NEW RELIC", b"lokalise", b"sm_pat_", b"\x00", b"\n", b"Key", b"token"]
    for _ in range(300):
        raw = b"".join(rnd.choice(words) if rnd.random() < 0.3 else bytes([rnd.getrandbits(8)])
                       for _ in range(rnd.randrange(0, 200)))
        assert isinstance(providers_named(raw, raw[-40:]), list)
        for a in range(0, len(raw), 7):
            _word_at(raw, a, min(len(raw), a + 5))


def test_slack_token_with_made_up_ids_is_info(engine):
    made_up = "xoxp-1234-1234-1234-" + F.text(32, "0123456789abcdef")
    assert [(r, s) for r, _, s in hits(engine, f'"token": "{made_up}"') if r == "HN-SEC-006"] == [("HN-SEC-006", Severity.INFO)]
    real = f"xoxp-{F.text(11, '0123456789')}-{F.text(12, '0123456789')}-{F.text(12, '0123456789')}-{F.text(32, '0123456789abcdef')}"
    assert [s for r, _, s in hits(engine, real) if r == "HN-SEC-006"] == [Severity.CRITICAL]


@pytest.mark.parametrize("query,severity", [
    ("sp=rcwl&st=2025-03-10T06:58:25Z&se=2025-03-10T14:58:25Z&sip=168.1.6.50-168.1.6.80&spr=https&sv=2022-11-02&sr=c",
     Severity.HIGH),
    ("sv=2023-01-03&sr=c&sp=r", Severity.HIGH),
    ("sp=rqx&st=2025-03-04T07:24:52Z&spr=https&sv=2022-11-02&sr=c", Severity.INFO),  # q grants nothing
    ("sp=rcwl&sip=168.1.6&spr=https&sv=2022-11-02&sr=c", Severity.INFO),  # no IPv4 address
    ("sp=rcwl&sip=300.1.6.1&sr=c", Severity.INFO),
])
def test_sas_signature_parameters_are_checked(engine, query, severity):
    sig = F.b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    text = f"AZURE_BLOB_SAS_TOKEN={query}&sig={sig}\n"
    assert [s for r, _, s in hits(engine, text) if r == "HN-SEC-059"] == [severity]


def test_lob_and_gitlab_oauth_lengths(engine):
    assert rule_hits(engine, "HN-SEC-047", "token = 'live_" + F.text(34, "0123456789abcdef") + "'") == []
    short = "gloas-" + F.text(32, "0123456789abcdef")
    assert [(r, s) for r, _, s in hits(engine, f"client_secret: {short}")] == [("HN-SEC-100", Severity.INFO)]
    assert rule_hits(engine, "HN-SEC-021", "gloas-" + F.text(64, "0123456789abcdef")) != []


def test_values_counting_up_or_down_are_hand_made(engine):
    from hardnut.secrets.rules import sequence_run

    assert sequence_run(b"zyxwvutsrqponmlkji9876543210abcd") == 18 and sequence_run(b"aBcDeFgH") == 8
    assert sequence_run(b"abab") == 2 and sequence_run(b"") == 0
    for value in ("zyxwvutsrqponmlkji9876543210abcd", "aBcDeFgH" + F.text(40), "12345678-ABCD-ABCD-ABCD-1234567890AB"):
        assert hits(engine, f'api_token = "{value}"') == [], value
    assert [s for _, _, s in hits(engine, f'api_token = "{F.text(40)}"')] == [Severity.HIGH]


def test_a_services_public_client_id_is_info(engine):
    """A value in a format the table marks public (Salesforce's consumer key, an OAuth client id)."""
    key = "3MVG9" + F.text(80, ALNUM + "._")
    found = [m for m in engine.scan_buffer(f'salesforce_key = "{key}"'.encode()) if m.rule_id == "HN-SEC-100"]
    assert [m.severity for m in found] == [Severity.INFO] and "consumer key" in found[0].note
    found = [m for m in engine.scan_buffer(f'salesforce_secret = "{F.text(64)}"'.encode()) if m.rule_id == "HN-SEC-100"]
    assert [m.severity for m in found] != [Severity.INFO]
