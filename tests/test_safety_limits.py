"""Every resource limit of hardnut.limits.Limits trips, with a clear HN-WALK-004 (or HN-SEC-300) finding,
and can be set in the profile's [verify.limits] and with `hardnut verify --limit KEY=VALUE`.

Inputs are real: /bin/true as an ELF, onefile payloads written by Nuitka's own compressor (via
tests/helpers_onefile.py) appended to a gcc-built program, zstd streams, nested zip files.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import struct
import time
import zipfile
from pathlib import Path

import pytest
import zstandard

import fuzz_helpers as fh
from conftest import SAMPLES, hardnut_cli
from hardnut.checks.base import CheckContext, VerifyConfig
from hardnut.limits import Limits
from hardnut.timebudget import FileTimeout, expired, remaining, within
from hardnut.verify import VerifyOptions, verify_target

TESTED: dict[str, str] = {}  # limit -> test that trips it (test_every_limit_is_tested checks the set)


def trips(key: str):
    def mark(fn):
        TESTED[key] = fn.__name__
        return fn
    return mark


def verify(target: Path, **limits):
    return verify_target(target, VerifyOptions(config=VerifyConfig(limits=Limits(**limits))))


def limit_findings(result, text: str, rule: str = "HN-WALK-004"):
    return [f for f in result.findings if f.rule == rule and text in f.message]


@pytest.fixture(scope="module")
def onefiles() -> dict[str, Path]:
    made = dict(fh.synthetic_onefiles(fh.FUZZ_BUILD / "onefile"))
    if not made:
        pytest.skip("gcc is needed for the synthetic onefile binaries")
    return made


def planted(name: str, module: str = "tokens") -> str:
    """A fake secret of the planted sample, read from its source (never duplicated here)."""
    tree = ast.parse((SAMPLES / "planted" / "planted_app" / f"{module}.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise KeyError(name)


# ------------------------------------------------------------------------------------- max_files


@trips("max_files")
def test_max_files(tmp_path):
    for i in range(30):
        sub = tmp_path / f"d{i % 3}"
        sub.mkdir(exist_ok=True)
        (sub / f"f{i:02}.txt").write_text(f"file {i}\n")
    result = verify(tmp_path)
    assert len(result.files) == 30 and not limit_findings(result, "max_files")
    result = verify(tmp_path, max_files=10)
    hits = limit_findings(result, "limits.max_files")
    assert len(hits) == 1 and "not inspected" in hits[0].message
    assert len(result.files) < 10 and result.verdict == "fail"


def test_max_files_counts_payload_entries(onefiles):
    """A payload's entries count too: the onefile reader stops at max_files."""
    result = verify(onefiles["onefile-appended-raw"], max_files=2)
    assert limit_findings(result, "max_files"), [f.message for f in result.findings]


def test_max_files_bounds_empty_folders(tmp_path):
    """Folders count: a million empty folders cannot keep the walk busy."""
    for i in range(50):
        (tmp_path / f"empty{i:02}" / "deeper").mkdir(parents=True)
    result = verify(tmp_path, max_files=20)
    assert limit_findings(result, "max_files")


# --------------------------------------------------------------------------------- max_file_size


@trips("max_file_size")
def test_max_file_size(tmp_path):
    shutil.copy("/bin/true", tmp_path / "prog")
    token = planted("GITHUB_TOKEN")
    (tmp_path / "big.txt").write_text("x" * 3000 + f"\ntoken = {token}\n")
    (tmp_path / "small.txt").write_text("small\n")
    full = verify(tmp_path)
    assert any(f.category == "secret" and f.path == "big.txt" for f in full.findings)
    result = verify(tmp_path, max_file_size=2048)
    hits = {f.path: f for f in limit_findings(result, "limits.max_file_size")}
    assert set(hits) == {"prog", "big.txt"}
    assert "not hashed, unpacked or inspected" in hits["prog"].message
    records = {r.path: r for r in result.files}
    assert records["prog"].size == (tmp_path / "prog").stat().st_size and records["prog"].sha256 == ""
    assert records["prog"].format == "elf" and len(records["small.txt"].sha256) == 64
    # nothing inspected inside the big files: no ELF facts, no secret found
    assert not [f for f in result.findings if f.path in hits and f.rule.startswith(("HN-ELF", "HN-DEP", "HN-DBG"))]
    assert not [f for f in result.findings if f.path == "big.txt" and f.category == "secret" and f.evidence]


def test_oversized_onefile_is_not_unpacked(onefiles):
    binary = onefiles["onefile-appended-zstd"]
    result = verify(binary, max_file_size=binary.stat().st_size - 1)
    assert limit_findings(result, "max_file_size")
    assert not [r for r in result.files if "!/" in r.path]


# ------------------------------------------------------------------------ payload size and ratio


@trips("max_payload_size")
def test_max_payload_size(onefiles):
    binary = onefiles["onefile-appended-raw"]
    assert not limit_findings(verify(binary), "max_payload_size")
    result = verify(binary, max_payload_size=4096)
    hits = limit_findings(result, "limits.max_payload_size")
    assert hits and hits[0].path == binary.name


def _zstd_bomb(host: Path, dest: Path, size: int) -> Path:
    """A onefile payload (zstd stream, appended) whose only entry holds `size` zero bytes: tiny on disk."""
    comp = zstandard.ZstdCompressor(level=3).compressobj()
    parts = [comp.compress(b"prog\0\x01" + struct.pack("<Q", size))]
    zeros = bytes(1 << 20)
    for _ in range(size >> 20):
        parts.append(comp.compress(zeros))
    parts += [comp.compress(b"\0"), comp.flush()]
    blob = b"KAY" + b"".join(parts)
    blob += struct.pack("<Q", len(blob))
    dest.write_bytes(host.read_bytes() + blob)
    return dest


@trips("max_payload_ratio")
def test_max_payload_ratio(onefiles, tmp_path):
    host = fh.FUZZ_BUILD / "onefile" / "host"
    bomb = _zstd_bomb(host, tmp_path / "bomb.bin", 48 << 20)
    assert bomb.stat().st_size < host.stat().st_size + 64 * 1024
    start = time.monotonic()
    result = verify(bomb)
    hits = limit_findings(result, "limits.max_payload_ratio")
    assert hits and "bomb" in hits[0].message
    assert time.monotonic() - start < 20
    # a generous ratio lets the same payload through (the limit, not the format, stopped it)
    assert not limit_findings(verify(bomb, max_payload_ratio=100_000), "max_payload_ratio")


# ------------------------------------------------------------------------------ max_archive_depth


@trips("max_archive_depth")
def test_max_archive_depth_nested_onefile(onefiles, tmp_path):
    """A onefile whose program is itself a onefile: unpacked at depth 1 only when the limit allows."""
    import sys

    sys.path.insert(0, str(fh.TESTS))
    from helpers_onefile import nuitka_payload

    dist = tmp_path / "outer"
    dist.mkdir()
    shutil.copy(onefiles["onefile-appended-raw"], dist / "prog")
    (dist / "readme.txt").write_text("outer payload\n")
    outer = tmp_path / "outer.bin"
    outer.write_bytes((fh.FUZZ_BUILD / "onefile" / "host").read_bytes() + nuitka_payload(dist, "prog"))
    deep = verify(outer)
    paths = {r.path for r in deep.files}
    assert "outer.bin!/prog" in paths and any(p.startswith("outer.bin!/prog!/") for p in paths)
    assert not limit_findings(deep, "max_archive_depth")
    result = verify(outer, max_archive_depth=1)
    hits = limit_findings(result, "limits.max_archive_depth")
    assert [h.path for h in hits] == ["outer.bin!/prog"]
    assert not any(r.path.startswith("outer.bin!/prog!/") for r in result.files)


def test_max_archive_depth_nested_zip(tmp_path):
    """Zip in zip in zip: the secret scanner stops at the depth limit (HN-SEC-300)."""
    token = planted("GITHUB_TOKEN")
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.ini", f"token={token}\n")
    for level in range(2):
        outer = io.BytesIO()
        with zipfile.ZipFile(outer, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr(f"level{level}.zip", inner.getvalue())
        inner = outer
    (tmp_path / "bundle.zip").write_bytes(inner.getvalue())
    full = verify(tmp_path)
    assert any(f.category == "secret" and f.evidence and f.path.endswith("config.ini") for f in full.findings)
    result = verify(tmp_path, max_archive_depth=2)
    assert limit_findings(result, "max_archive_depth", rule="HN-SEC-300")
    assert not any(f.category == "secret" and f.evidence for f in result.findings)


# ------------------------------------------------------------------------------- max_scan_bytes


@trips("max_scan_bytes")
def test_max_scan_bytes(tmp_path):
    token = planted("GITHUB_TOKEN")
    (tmp_path / "notes.txt").write_text("filler line\n" * 1000 + f"token = {token}\n")
    found = [f for f in verify(tmp_path).findings if f.category == "secret" and f.evidence]
    assert found and found[0].offset >= 12000
    result = verify(tmp_path, max_scan_bytes=4096)
    assert not [f for f in result.findings if f.category == "secret" and f.evidence]
    hits = limit_findings(result, "max_scan_bytes", rule="HN-SEC-300")
    assert hits and "4096" in hits[0].message


# ---------------------------------------------------------------------------------- file_timeout


@trips("file_timeout")
def test_file_timeout_in_the_walk(tmp_path):
    """Hashing a 64 MiB file cannot finish in 1 ms: the walk stops it and reports the limit."""
    with open(tmp_path / "big.bin", "wb") as fh_:
        fh_.write(os.urandom(1 << 20) * 64)
    (tmp_path / "small.txt").write_text("x\n")
    result = verify(tmp_path, file_timeout=0.001)
    hits = limit_findings(result, "limits.file_timeout")
    assert [h.path for h in hits if h.path != "."] == ["big.bin"]
    assert "reading the file took longer" in hits[-1].message
    assert not limit_findings(verify(tmp_path), "file_timeout")


def test_file_timeout_stops_a_check_module(tmp_path, monkeypatch):
    """A check that loops on a hostile file is stopped after file_timeout x files; the rest still runs."""
    from types import SimpleNamespace

    from hardnut import checks
    from hardnut.artifact.walk import open_target
    from hardnut.checks import walk as walk_check
    from hardnut.verify import run_checks

    def stuck(ctx):
        while True:
            try:
                sum(range(1000))
            except Exception:  # a broad handler in the check must not swallow the stop
                pass

    slow = SimpleNamespace(__name__="hardnut.checks.stuck", run=stuck, RULES=[])
    monkeypatch.setattr(checks, "modules", lambda: (slow, walk_check))
    os.symlink("/etc/passwd", tmp_path / "link")
    start = time.monotonic()
    with open_target(tmp_path) as art:
        findings = run_checks(CheckContext(art, VerifyConfig(limits=Limits(file_timeout=0.3))))
    assert time.monotonic() - start < 5
    stopped = [f for f in findings if f.rule == "HN-WALK-004"]
    assert stopped and "check 'stuck' stopped" in stopped[0].message
    assert any(f.rule == "HN-WALK-001" for f in findings)  # the next module ran


def test_time_budgets_nest():
    def spin(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            pass
        return "done"

    assert within(1.0, spin, 0.01) == "done" and remaining() is None
    with pytest.raises(FileTimeout, match="inner"):
        within(0.1, spin, 5, what="inner")

    def inner_longer():  # the outer budget fires through an inner one that has more time
        return within(30, spin, 5, what="inner")

    start = time.monotonic()
    with pytest.raises(FileTimeout, match="outer"):
        within(0.2, inner_longer, what="outer")
    assert time.monotonic() - start < 1

    def inner_shorter():  # the inner one fires first; the outer one still holds afterwards
        with pytest.raises(FileTimeout, match="inner"):
            within(0.05, spin, 5, what="inner")
        assert remaining() is not None and not expired()
        return spin(5)

    start = time.monotonic()
    with pytest.raises(FileTimeout, match="outer"):
        within(0.4, inner_shorter, what="outer")
    assert 0.3 < time.monotonic() - start < 1.5
    assert within(float("nan"), spin, 0.01) == "done"  # no budget, no error


def test_every_limit_is_tested():
    assert set(TESTED) == set(Limits.keys())


# ------------------------------------------------------------------------ configuration routes


def test_limits_from_profile_and_cli(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    for i in range(6):
        (art / f"f{i}").write_text("x\n")
    profile = tmp_path / "strict.toml"
    profile.write_text("[verify.limits]\nmax_files = 3\n")
    for args in (["-p", str(profile)], ["--limit", "max_files=3"], ["--limit", "max_files=2k", "--limit", "max_files=3"]):
        res = hardnut_cli("verify", str(art), "--format", "json", *args)
        doc = json.loads(res.stdout)
        assert res.returncode == 1, (args, res.stderr)
        assert any(f["rule"] == "HN-WALK-004" and "max_files" in f["message"] for f in doc["findings"])
    # the CLI overrides the profile
    res = hardnut_cli("verify", str(art), "-p", str(profile), "--limit", "max_files=100", "--format", "json")
    assert res.returncode == 0 and not [f for f in json.loads(res.stdout)["findings"] if f["rule"] == "HN-WALK-004"]


@pytest.mark.parametrize("value, message", [
    ("nope=1", "expected KEY=VALUE"), ("max_files", "expected KEY=VALUE"), ("max_files=-3", "positive integer"),
    ("max_files=0", "must be positive"), ("file_timeout=nan", "finite"), ("max_file_size=12Q", "positive integer"),
])
def test_bad_limit_overrides(tmp_path, value, message):
    res = hardnut_cli("verify", str(tmp_path), "--limit", value)
    assert res.returncode == 2 and message in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


@pytest.mark.parametrize("text, message", [
    ("[verify.limits]\nfile_timeout = nan\n", "finite"), ("[verify.limits]\nfile_timeout = inf\n", "finite"),
    ("[verify.limits]\nmax_files = 0\n", "positive"), ('[verify.limits]\nmax_files = "1"\n', "must be a int"),
    ("[verify.limits]\nmax_everything = 1\n", "unknown limit"),
])
def test_bad_profile_limits(tmp_path, text, message):
    from hardnut.errors import ProfileError
    from hardnut.profile import load_profile

    (tmp_path / "hardnut.toml").write_text(text)
    with pytest.raises(ProfileError, match=message):
        load_profile(tmp_path / "hardnut.toml", require_entry=False)
