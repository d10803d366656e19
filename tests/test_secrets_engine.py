"""The engine: hyperscan, Aho-Corasick and `re` give identical results on a fixed corpus (ASCII and UTF-16LE),
independent of chunking, streaming and process parallelism. Fake secrets come from Fakes."""

from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import pytest

from hardnut.secrets import engine as engine_mod
from hardnut.secrets.engine import Engine, EngineUnavailable, scan_paths
from hardnut.secrets.rules import SECRET_RULES
from helpers_secrets import ALNUM, Fakes, check
from secret_samples import one_true_sample_per_rule

hyperscan = pytest.importorskip("hyperscan")


def _snippets(f: Fakes) -> list[str]:
    return [
        f"AWS_ACCESS_KEY_ID={f.aws_id()}\naws_secret_access_key = {f.b64(30)}\n",
        f"token {f.github('ghp_')} and {f.github('gho_', valid=False)}\x00",
        "github_pat_" + f.text(22) + "_" + f.text(59),
        "glpat-" + f.text(20),
        "xoxe.xoxb-1-" + f.text(120),  # overlapping slack keywords
        "hook=https://hooks.slack.com/services/T" + f.text(10, "ABCDEFGH012") + "/B" + f.text(10, "JKLMN3456") + "/" + f.text(24),
        "sk_live_" + f.text(30) + " rk_live_" + f.text(40),
        "AIza" + f.text(35, ALNUM + "_-"),
        "sk-" + f.text(20) + "T3BlbkFJ" + f.text(20) + " sk-ant-api03-" + f.text(93) + "AA",
        "AccountKey=" + f.b64(64) + ";",
        f.github("npm_"),
        "pypi-AgEIcHlwaS5vcmc" + f.b64url(60),
        "SK" + f.text(32, "0123456789abcdef"),
        "SG." + f.text(22) + "." + f.text(43),
        f.jwt(),
        f.pem("EC"),
        "PuTTY-User-Key-File-2: ssh-rsa\r\nEncryption: none\r\nComment: x\r\nPublic-Lines: 1\r\n" + f.b64(30)
        + "\r\nPrivate-Lines: 1\r\n" + f.b64(60) + "\r\nPrivate-MAC: " + f.text(40, "0123456789abcdef") + "\r\n",
        "amqp://svc:" + f.text(14) + "3!@mq.internal:5672/",
        '{"client_secret": "' + f.text(30) + '"}',
        "password=" + f.text(12) + "9%" + f.text(4) + "\n",
        "passwordpasswordsecretsecrettokentoken:",  # dense overlapping keywords, no secret
    ] + list(one_true_sample_per_rule(f.rnd.randrange(1000)).values())  # every rule fires


@pytest.fixture(scope="module")
def corpus() -> bytes:
    """~2 MB: random bytes with every snippet planted as ASCII and as UTF-16LE, some across the
    64 KiB chunk boundaries used below, plus the running Python executable (a real ELF/PE)."""
    rnd = random.Random(1234)
    f = Fakes(99)
    out = bytearray(rnd.getrandbits(8) for _ in range(1_500_000))
    snippets = _snippets(f)
    places = []
    for i, s in enumerate(snippets * 3):
        s = f"\n{s}\n"  # token boundaries: random neighbours would glue onto prefixes
        raw = s.encode() if i % 2 == 0 else s.encode("utf-16-le")
        pos = (i + 1) * 65536 - len(raw) // 2 if i % 3 == 0 else rnd.randrange(0, len(out) - len(raw))
        places.append((pos, raw))
    for pos, raw in places:
        out[pos:pos + len(raw)] = raw
    exe = Path(sys.executable).resolve().read_bytes()[:400_000]
    return bytes(out) + exe


def test_hyperscan_aho_corasick_and_re_agree(corpus):
    hs, ac, rx = Engine(engine="hyperscan"), Engine(engine="aho-corasick"), Engine(engine="re")
    assert (hs.name, ac.name, rx.name) == ("hyperscan", "aho-corasick", "re")
    occ_hs = hs.occurrences(corpus)
    assert occ_hs == rx.occurrences(corpus)
    assert occ_hs == ac.occurrences(corpus)
    a, b, c = hs.scan_buffer(corpus), rx.scan_buffer(corpus), ac.scan_buffer(corpus)
    check(a == b, f"hyperscan found {len(a)}, re {len(b)}: results differ")
    check(a == c, f"hyperscan found {len(a)}, aho-corasick {len(c)}: results differ")
    assert {m.encoding for m in a} == {"ascii", "utf-16le"}
    assert {m.rule_id for m in a} >= {r.id for r in SECRET_RULES}
    for m in a:
        expected = m.secret.encode("latin-1")
        if m.encoding == "utf-16le":
            expected = m.secret.encode("utf-16-le")
        check(corpus[m.offset:m.offset + m.length] == expected, f"{m.rule_id} at {m.offset}: offset/length wrong")


def test_precompiled_engine_finds_the_same(corpus):
    """precompile (beside a build's compile) makes every plan and pattern ahead; results are the same."""
    eng = Engine()
    eng.precompile()
    assert all(p is not None for p, kw in zip(eng._plans, eng.keywords) if not kw.utf16)
    check(eng.scan_buffer(corpus) == Engine(engine="re").scan_buffer(corpus), "precompiled engine differs")


def test_results_do_not_depend_on_chunk_size(corpus, monkeypatch):
    whole = Engine(engine="re").scan_buffer(corpus)
    monkeypatch.setattr(engine_mod, "CHUNK", 65536)
    for name in ("hyperscan", "aho-corasick", "re"):
        check(Engine(engine=name).scan_buffer(corpus) == whole, f"{name}: chunked results differ")


def test_stream_equals_buffer(corpus, monkeypatch):
    eng = Engine()
    whole = eng.scan_buffer(corpus)
    monkeypatch.setattr(engine_mod, "CHUNK", 65536)
    streamed = eng.scan_stream(io.BytesIO(corpus), max_bytes=len(corpus) + 1)
    check(streamed.matches == whole, "streamed results differ")
    assert streamed.scanned == len(corpus) and not streamed.truncated


def test_file_scan_respects_max_bytes(corpus, tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(corpus)
    eng = Engine()
    full = eng.scan_file(path)
    check(full.matches == eng.scan_buffer(corpus) and not full.truncated, "file scan differs from buffer scan")
    half = eng.scan_file(path, max_bytes=len(corpus) // 2)
    assert half.truncated and half.scanned == len(corpus) // 2
    check(half.matches == eng.scan_buffer(corpus[:len(corpus) // 2]), "limited scan differs")
    assert all(m.offset + m.length <= len(corpus) // 2 for m in half.matches)
    missing = eng.scan_file(tmp_path / "nope")
    assert missing.error and not missing.matches


def test_parallel_scan_is_deterministic(corpus, tmp_path, monkeypatch):
    jobs = []
    for i in range(4):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(corpus[i * 1000:])
        jobs.append((f"f{i}.bin", p))
    serial = scan_paths(jobs, workers=1)
    monkeypatch.setattr(engine_mod, "PARALLEL_MIN_BYTES", 0)
    parallel = scan_paths(jobs, workers=2)
    assert set(serial) == set(parallel) == {k for k, _ in jobs}
    for key in serial:
        check(parallel[key].matches == serial[key].matches, f"{key}: parallel results differ")
        assert serial[key].matches


def test_environment_forces_engine(monkeypatch):
    monkeypatch.setenv("HARDNUT_SECRETS_ENGINE", "re")
    assert Engine().name == "re"
    monkeypatch.setenv("HARDNUT_SECRETS_ENGINE", "hyperscan")
    assert Engine().name == "hyperscan"
    monkeypatch.setenv("HARDNUT_SECRETS_ENGINE", "aho-corasick")
    assert Engine().name == "aho-corasick"
    monkeypatch.setenv("HARDNUT_SECRETS_ENGINE", "grep")
    with pytest.raises(EngineUnavailable):
        Engine()


def test_strings_and_pairs_map_to_file_offsets():
    f = Fakes(5)
    eng = Engine()
    token, value = f.github(), f.text(14) + "#4" + f.text(8)
    [m] = eng.scan_strings([(1000, b"x" * 3), (5000, token.encode())])
    assert (m.offset, m.length, m.rule_id) == (5000, len(token), "HN-SEC-003")
    # a Nuitka blob gives (name, value offset, value): the value is reported where it lies in the file
    [p] = eng.scan_pairs([(b"DB_PASSWORD", 7000, value.encode()), (b"title", 9000, b"hello world")])
    assert (p.offset, p.length, p.rule_id) == (7000, len(value), "HN-SEC-100")


def test_compiled_keyword_database_is_cached_and_checked(corpus, tmp_path, monkeypatch):
    """The hyperscan database is stored once and loaded by later processes; a file that is not this
    keyword set's database (garbage, another rule set's database) is compiled again, same results."""
    monkeypatch.setenv("HARDNUT_SECRETS_DB_CACHE", str(tmp_path))
    fresh = Engine(engine="hyperscan")
    stored = list(tmp_path.glob("hyperscan-*.db"))
    assert len(stored) == 1
    expected = fresh.occurrences(corpus)
    assert Engine(engine="hyperscan").occurrences(corpus) == expected  # loaded from the file
    other = Engine(rules=SECRET_RULES[:3], engine="hyperscan")  # a second, smaller keyword set
    others = [p for p in tmp_path.glob("hyperscan-*.db") if p != stored[0]]
    assert len(others) == 1
    for planted in (b"not a database", others[0].read_bytes()):
        stored[0].write_bytes(planted)
        check(Engine(engine="hyperscan").occurrences(corpus) == expected, "a bad cached database was used")
        assert stored[0].read_bytes() != planted  # compiled and stored again
    monkeypatch.setenv("HARDNUT_SECRETS_DB_CACHE", "0")
    stored[0].unlink()
    assert Engine(engine="hyperscan").occurrences(corpus) == expected and not stored[0].exists()
    assert other.name == "hyperscan"


def _runs_over_whole_data(data: bytes) -> list:
    """The base64 and hex runs as the two regexes find them over the whole data (the reference)."""
    return [("b64", m.span()) for m in engine_mod._B64_RUN.finditer(data)] + \
        [("hex", m.span()) for m in engine_mod._HEX_RUN.finditer(data)]


def _runs_inside_candidates(data: bytes) -> list:
    runs = engine_mod._candidate_runs(data)
    return [("b64", m.span()) for s, e in runs for m in engine_mod._B64_RUN.finditer(data, s, e)] + \
        [("hex", m.span()) for s, e in runs if e - s >= 40 for m in engine_mod._HEX_RUN.finditer(data, s, e)]


def test_decoding_candidates_find_the_same_runs():
    """The decoding pass matches its regexes only inside runs of base64/hex characters: the same matches,
    in the same order, as over the whole text (random texts built from the characters the look-arounds
    test, and their neighbours)."""
    from hypothesis import given, settings, strategies as st

    pieces = st.sampled_from([b"A", b"z", b"0", b"f", b"F", b"9", b"+", b"/", b"=", b"==", b"-", b"_", b" ", b".",
                              b"\n", b'"', b"\\", b"\x00", b"\xff", b"deadbeef" * 3, b"QUJD" * 7, b"a1B2" * 9])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(pieces, max_size=120))
    def same(parts):
        data = b"".join(parts)
        assert _runs_inside_candidates(data) == _runs_over_whole_data(data)

    same()
    text = Path(engine_mod.__file__).read_bytes() + b" " + bytes(range(256)) * 4
    assert _runs_inside_candidates(text) == _runs_over_whole_data(text)


def _covering_by_finditer(regex, window: bytes, rel: int, want: int, start: int = 0):
    for m in regex.finditer(window, start):
        if m.start() > rel:
            break
        if m.end() < want:
            continue
        return m
    return None


@pytest.mark.parametrize("wrap_after", [1, 10**9], ids=["wrapped", "position-by-position"])
def test_first_covering_match_equals_finditer(monkeypatch, wrap_after):
    """The confirmation tries a rule's regex only at start positions up to the keyword (through a lazily
    prefixed copy of the regex, or position by position): the same match as finditer's first covering
    one, for every rule, on random windows around keyword occurrences. Both ways are checked: a regex is
    wrapped only after _WRAP_AFTER uses."""
    monkeypatch.setattr(engine_mod, "_WRAP_AFTER", wrap_after)
    monkeypatch.setattr(engine_mod, "_LEFTMOST", {})
    monkeypatch.setattr(engine_mod, "_USES", {})
    from hypothesis import given, settings, strategies as st

    rules = [r for r in SECRET_RULES if r.keywords]
    pieces = st.sampled_from([b"password", b"api_key", b"token", b"secret", b"AKIA", b"ghp_", b"sk-", b" = ", b"=",
                              b": ", b'"', b"'", b"\\", b"\n", b"  ", b"x", b"Q", b"7", b"/", b"+", b"-", b"_", b".",
                              b"A1b2C3d4E5f6G7h8I9j0", b"\x00", b"@", b"://", b"xoxb-", b"eyJhbGciOi"])

    @settings(max_examples=400, deadline=None)
    @given(st.integers(0, len(rules) - 1), st.lists(pieces, max_size=40), st.lists(pieces, max_size=40),
           st.integers(0, 80), st.integers(0, 100))
    def same(ri, before, after, cut, start):
        rule = rules[ri]
        kw = rule.keywords[0]
        head = b"".join(before)[-(cut + 1):] if before else b""
        window = head + kw + b"".join(after)
        rel, want = len(head), len(head) + len(kw)
        start = min(start, rel)  # rules with context start the search before the keyword's window
        got = engine_mod._first_covering(rule.regex, window, rel, want, start)
        ref = _covering_by_finditer(rule.regex, window, rel, want, start)
        assert (got.span(), got.groupdict()) == (ref.span(), ref.groupdict()) if ref is not None else got is None

    same()
    generic = next(r for r in rules if r.id == "HN-SEC-100")
    window = b'x\n  db_password = "A1b2C3d4E5f6G7h8I9j0"\n'
    rel = window.index(b"password")
    found = engine_mod._first_covering(generic.regex, window, rel, rel + len(b"password"))
    assert found is not None and found.group("secret") == b"A1b2C3d4E5f6G7h8I9j0"
    assert bool(engine_mod._LEFTMOST) == (wrap_after == 1)


def test_keyword_encodings_byte_by_byte():
    """_utf16 and _hs_literal (made with bytes methods) against their definitions, for every byte value."""
    import os

    from hardnut.secrets.engine import _hs_literal, _utf16

    for b in (b"", b"k", bytes(range(256)), bytes(range(255, -1, -1)), os.urandom(300)):
        assert _utf16(b) == b"".join(bytes((c, 0)) for c in b)
        assert _hs_literal(b) == b"".join(b"\\x%02x" % c for c in b)
