"""A team's detect-secrets baseline in hardnut (--detect-secrets-baseline or the profile's
[secrets] detect_secrets_baseline): secrets it accepts (audited false positives, unaudited
entries) are suppressed wherever hardnut finds them - sources, data files, UTF-16LE text and
binaries - while values audited as real (is_secret: true) stay findings; its should_exclude_line /
should_exclude_secret regex filters apply; a broken baseline exits 2 with one line.

The fixture tests/data/detect_secrets/.secrets.baseline was written by the real detect-secrets
1.5.0 over tests/data/detect_secrets/project (see the README there)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from conftest import hardnut_cli
from hardnut.secrets.detect_secrets import BaselineError, line_around, load

DATA = Path(__file__).parent / "data" / "detect_secrets"
BASELINE = DATA / ".secrets.baseline"
SETTINGS = (DATA / "project" / "settings.py").read_text()
LINES = SETTINGS.splitlines()


def _value(line_no: int) -> str:
    return LINES[line_no - 1].split('"')[1]


AUDITED_FALSE, REAL, UNAUDITED, LINE_EXCLUDED, SECRET_EXCLUDED = (_value(n) for n in (3, 4, 5, 6, 7))


def test_fixture_is_a_detect_secrets_baseline():
    doc = json.loads(BASELINE.read_text())
    assert doc["version"].startswith("1.") and doc["plugins_used"] and doc["filters_used"]
    hashes = {e["hashed_secret"]: e.get("is_secret") for e in doc["results"]["project/settings.py"]}
    assert hashes[hashlib.sha1(AUDITED_FALSE.encode()).hexdigest()] is False
    assert hashes[hashlib.sha1(REAL.encode()).hexdigest()] is True
    assert hashlib.sha1(UNAUDITED.encode()).hexdigest() in hashes


def test_load_applies_hashes_and_regex_filters():
    b = load(BASELINE)
    assert b.suppresses(AUDITED_FALSE) and b.suppresses(UNAUDITED)
    assert not b.suppresses(REAL)  # audited as a real secret
    assert not b.suppresses(LINE_EXCLUDED)  # only with its line
    assert b.suppresses(LINE_EXCLUDED, line=LINES[5])
    assert b.suppresses(SECRET_EXCLUDED)  # should_exclude_secret ^whsec
    assert b.notes == ()  # every filter of a default baseline is either applied or a heuristic


def test_a_hash_audited_real_anywhere_wins(tmp_path):
    digest = hashlib.sha1(AUDITED_FALSE.encode()).hexdigest()
    doc = {"results": {"a.py": [{"hashed_secret": digest, "is_secret": False}],
                       "b.py": [{"hashed_secret": digest, "is_secret": True}]},
           "filters_used": [{"path": "my_filters.py::custom"}]}
    path = tmp_path / "b.json"
    path.write_text(json.dumps(doc))
    b = load(path)
    assert not b.suppresses(AUDITED_FALSE)
    assert b.notes and "my_filters.py::custom" in b.notes[0]


def test_line_around_text_binary_and_utf16():
    data = b"a\nx = 'SECRET' # keep\nb"
    at = data.index(b"SECRET")
    assert line_around(data, at, 6) == "x = 'SECRET' # keep"
    blob = b"\x00u" + b"KEY=SECRET hardnut-fixture" + b"\x00next"
    assert line_around(blob, blob.index(b"SECRET"), 6) == "uKEY=SECRET hardnut-fixture"
    wide = "one\nKEY=SECRET tail\nthree".encode("utf-16-le")
    assert line_around(wide, wide.index("SECRET".encode("utf-16-le")), 12, utf16=True) == "KEY=SECRET tail"


def _dist(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "settings.cfg").write_text(SETTINGS)
    (dist / "wide.txt").write_bytes(SETTINGS.encode("utf-16-le"))
    exe = dist / "tool"  # a real ELF/PE binary holding the lines as NUL-terminated strings
    shutil.copy(Path(sys.executable).resolve(), exe)
    with open(exe, "ab") as fh:
        for line in LINES[2:7]:
            fh.write(b"\x00" + line.encode() + b"\x00")
    return dist


def _secret_findings(stdout: str) -> set[tuple[str, str]]:
    return {(f["path"], f["evidence"]) for f in json.loads(stdout)["findings"] if f["category"] == "secret"}


def test_verify_with_detect_secrets_baseline(tmp_path):
    dist = _dist(tmp_path)
    plain = hardnut_cli("verify", str(dist), "--format", "json", "--fail-on", "critical")
    assert len(_secret_findings(plain.stdout)) == 15  # five values in three files
    res = hardnut_cli("verify", str(dist), "--detect-secrets-baseline", str(BASELINE), "--format", "json",
                      "--fail-on", "critical")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    found = _secret_findings(res.stdout)
    assert {p for p, _ in found} == {"settings.cfg", "wide.txt", "tool"}
    assert all(e.startswith(REAL[:4]) for _, e in found), "only the value audited as real is left"
    assert doc["suppressed"] >= 12
    for value in (AUDITED_FALSE, REAL, UNAUDITED, LINE_EXCLUDED, SECRET_EXCLUDED):
        assert value not in res.stdout and value not in res.stderr
    # the same baseline from the profile key, relative to the profile's folder
    shutil.copy(BASELINE, tmp_path / ".secrets.baseline")
    (tmp_path / "hardnut.toml").write_text('[secrets]\ndetect_secrets_baseline = ".secrets.baseline"\n')
    res2 = hardnut_cli("verify", str(dist), "-p", str(tmp_path / "hardnut.toml"), "--format", "json",
                       "--fail-on", "critical")
    assert _secret_findings(res2.stdout) == found


def test_check_source_with_detect_secrets_baseline(tmp_path):
    (tmp_path / "settings.py").write_text(SETTINGS)
    shutil.copy(BASELINE, tmp_path / ".secrets.baseline")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "settings.py"\n\n[secrets]\n'
                                           'detect_secrets_baseline = ".secrets.baseline"\n')
    res = hardnut_cli("check-source", "-p", str(tmp_path / "hardnut.toml"), "--format", "json")
    doc = json.loads(res.stdout)
    lines = sorted(f["line"] for f in doc["findings"] if f["category"] == "secret")
    assert lines == [4] and doc["suppressed"] == 4, res.stdout[:400]
    assert REAL not in res.stdout


@pytest.mark.parametrize("content,why", [
    ("{not json", "not valid JSON"),
    ('{"version": "1.5.0"}', "no \"results\""),
    ('{"results": {"a": [{"hashed_secret": "xyz"}]}}', "40 hex"),
    ('{"results": {"a": [{"hashed_secret": "' + "0" * 40 + '", "is_secret": "yes"}]}}', "is_secret"),
    ('{"results": {}, "filters_used": [{"path": "detect_secrets.filters.regex.should_exclude_line", '
     '"pattern": ["(unclosed"]}]}', "bad regular expression"),
])
def test_bad_baseline_is_a_one_line_error(tmp_path, content, why):
    bad = tmp_path / "bad.baseline"
    bad.write_text(content)
    with pytest.raises(BaselineError, match=why):
        load(bad)


def test_bad_baseline_exits_2(tmp_path):
    bad = tmp_path / "bad.baseline"
    bad.write_text('{"results": {"a": [{"hashed_secret": "xyz"}]}}')
    res = hardnut_cli("verify", str(tmp_path), "--detect-secrets-baseline", str(bad))
    assert res.returncode == 2 and "detect-secrets baseline" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    missing = hardnut_cli("verify", str(tmp_path), "--detect-secrets-baseline", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "detect-secrets baseline not found" in missing.stderr


def test_hostile_baselines_give_an_error_or_a_baseline(tmp_path):
    import random

    rnd = random.Random(4)
    base = BASELINE.read_bytes()
    path = tmp_path / "x.baseline"
    for i in range(200):
        data = bytearray(base)
        for _ in range(rnd.randint(1, 8)):  # flip, drop or duplicate a few bytes
            at = rnd.randrange(len(data))
            op = rnd.randrange(3)
            if op == 0:
                data[at] = rnd.getrandbits(8)
            elif op == 1:
                del data[at]
            else:
                data[at:at] = data[at:at + rnd.randint(1, 30)]
        path.write_bytes(bytes(data))
        try:
            b = load(path)
        except BaselineError as exc:
            assert "\n" not in str(exc)
        else:
            b.suppresses(REAL, line="x", path="y")


def test_build_refuses_a_broken_baseline_before_nuitka(tmp_path):
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "bad.baseline").write_text("{bad")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n\n[source]\ncheck = false\n\n'
                                           '[secrets]\ndetect_secrets_baseline = "bad.baseline"\n')
    res = hardnut_cli("build", "-p", str(tmp_path / "hardnut.toml"), timeout=120)
    assert res.returncode == 2 and "detect-secrets baseline" in res.stderr and "Traceback" not in res.stderr
    assert not any(p.name.endswith((".dist", ".build", ".bin")) for p in tmp_path.iterdir())
