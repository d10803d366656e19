"""Speed work must not change results: verify's JSON report of deterministic real inputs equals the golden
report recorded before the speed work (tests/golden/, see tests/helpers_golden.py)."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers_binaries import NETWORK_ERRORS, binfix  # noqa: F401
from helpers_golden import GOLDEN, report, wheels_target


def _diff(expected: dict, actual: dict) -> str:
    lines = []
    for key in sorted(set(expected) | set(actual)):
        if expected.get(key) != actual.get(key):
            lines.append(f"{key}: expected {json.dumps(expected.get(key))[:600]}\n   got {json.dumps(actual.get(key))[:600]}")
    return "\n".join(lines)


@pytest.mark.parametrize("workers", ["in-process", "2 worker processes"])
def test_real_wheels_report_unchanged(tmp_path, monkeypatch, workers):
    if workers != "in-process":  # large artifacts are parsed and scanned in worker processes
        from hardnut.secrets import engine

        monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setenv("HARDNUT_SECRETS_WORKERS", "2")
    try:
        target = wheels_target(tmp_path / "wheels")
    except subprocess.CalledProcessError as exc:
        if any(marker in (exc.stderr or "") for marker in NETWORK_ERRORS):
            pytest.skip("no network to download the pinned wheels")
        raise
    expected = json.loads((GOLDEN / "wheels.json").read_text())
    actual = json.loads(json.dumps(report(target)))
    assert actual == expected, _diff(expected, actual)


def test_binary_fixtures_report_unchanged(binfix):  # noqa: F811
    golden = json.loads((GOLDEN / "binaries.json").read_text())
    compared = 0
    for sub, expected in golden.items():
        target = binfix.root / sub
        if not target.is_dir():
            continue
        actual = json.loads(json.dumps(report(target)))
        if [(f["path"], f["sha256"]) for f in actual["files"]] != [(f["path"], f["sha256"]) for f in expected["files"]]:
            continue  # fixtures built by another compiler or in another folder: other bytes, other report
        assert actual == expected, f"{sub}:\n" + _diff(expected, actual)
        compared += 1
    if not compared:
        pytest.skip("the binary fixtures were built with other bytes than the golden's (another compiler)")


def _elf_files_with_dwarf(roots) -> list:
    import sysconfig
    from pathlib import Path

    out = []
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and not p.is_symlink() and p.stat().st_size < 20_000_000:
                with open(p, "rb") as fh:
                    if fh.read(4) == b"\x7fELF" and b".debug_info" in p.read_bytes():
                        out.append(p)
    return out[:40]


def test_fast_readers_equal_pyelftools(binfix, monkeypatch):  # noqa: F811
    """The struct readers (dynamic symbols, DWARF top DIEs) and the Aho-Corasick anchor pass give what the
    pyelftools / bytes.find paths give, on real binaries with debug info."""
    import sysconfig

    from hardnut.inspect import elf

    files = _elf_files_with_dwarf([binfix.root / "elf", sysconfig.get_config_var("DESTSHARED") or binfix.root])
    assert any(True for _ in files)
    fast = {p: elf.inspect_elf(p) for p in files}
    engaged = 0
    for p in files:
        with open(p, "rb") as fh:
            import mmap

            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
                slow = [list(elf._find_all(mm, lit, len(mm))) for lit, _, _ in elf._ANCHORS]
                assert elf._anchor_positions(mm, len(mm)) == slow, p
    monkeypatch.setattr(elf, "_top_dies", lambda *a: None)
    monkeypatch.setattr(elf, "_dynamic_symbols", lambda *a: None)
    for p in files:
        slow = elf.inspect_elf(p)
        assert fast[p] == slow, p
        engaged += bool(slow.dwarf_units)
    assert engaged, "no file with DWARF units to compare"


def test_hyperscan_anchor_pass_equals_the_automaton(monkeypatch):
    """The build-path anchors found with hyperscan are the automaton's lists, also when a hostile file
    fills an anchor's count (a small count and window here, so that it happens)."""
    import os
    import random

    pytest.importorskip("hyperscan")
    pytest.importorskip("ahocorasick_rs")
    from hardnut.inspect import elf

    monkeypatch.setattr(elf, "_MAX_PATH_COUNT", 50)
    monkeypatch.setattr(elf, "_ANCHOR_WINDOW", 4096)
    monkeypatch.setattr(elf, "_HS_ANCHORS", [])

    def automaton(buf: bytes, end: int):
        monkeypatch.setattr(elf, "_HS_ANCHORS", [None])
        try:
            return elf._anchor_positions(buf, end)
        finally:
            monkeypatch.setattr(elf, "_HS_ANCHORS", [])

    rnd = random.Random(2)
    lits = [lit for lit, _, _ in elf._ANCHORS]
    for _ in range(120):
        parts = []
        for _ in range(rnd.choice([10, 200, 2000])):
            parts += [rnd.choice(lits[:3] + lits), os.urandom(rnd.randint(0, 60))]
        data = b"".join(parts)
        end = rnd.randint(len(data) // 2, len(data))
        assert elf._hs_anchor_positions(data, end) == automaton(data, end)
