"""The per-file result cache of `hardnut build`'s verify (hardnut.filecache): a warm cache gives the same
report as no cache, in-process and in worker processes; it hits for unchanged files only, misses when a
limit, the rule set or a byte changes, ignores and rewrites corrupt entries, never stores a result cut
short by a bound, and is pruned with the build cache. Targets are real binaries (the gcc/mingw fixtures
of scripts/make_fixtures.py, this Python's own extension modules) and the planted app's real Nuitka
build (the session's planted_cli_build, whose `hardnut build` filled its cache)."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import shutil
import sysconfig
import zipfile
from pathlib import Path

import pytest

from helpers_binaries import binfix  # noqa: F401
from helpers_golden import PLANTED_KEY
from hardnut.buildcache import BuildCache
from hardnut.checks import perfile
from hardnut.checks.base import VerifyConfig
from hardnut.limits import Limits
from hardnut.report.json_format import document
from hardnut.verify import VerifyOptions, verify_target

CUSTOM_TOKEN = b"acme_tok_q8w7e6r5t4y3u2i1o0p9"
GITLEAKS = """[[rules]]
id = "acme-token"
description = "ACME token"
regex = '''acme_tok_[a-z0-9]{20}'''
keywords = ["acme_tok_"]
"""


@pytest.fixture
def tree(binfix, tmp_path) -> Path:  # noqa: F811
    """A small artifact of real binaries and data files with planted secrets (about 1.5 MB)."""
    root = tmp_path / "a" / "app.dist"
    root.mkdir(parents=True)
    for sub in ("elf", "pe"):
        if (binfix.root / sub).is_dir():
            shutil.copytree(binfix.root / sub, root / sub)
    dynload = Path(sysconfig.get_config_var("DESTSHARED"))
    for name in ("_json", "_csv", "_bisect", "_struct", "_hashlib"):
        found = sorted(dynload.glob(f"{name}.*.so"))
        if found:
            shutil.copy2(found[0], root / found[0].name)
    (root / "settings.ini").write_bytes(PLANTED_KEY)
    (root / "encoded.txt").write_bytes(b"config = " + base64.b64encode(PLANTED_KEY) + b"\n")
    (root / "custom.cfg").write_bytes(b"token = " + CUSTOM_TOKEN + b"\n")
    (root / "broken.so").write_bytes((binfix.root / "elf" / "plain").read_bytes()[:200])  # a parse error
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("conf/.env", PLANTED_KEY)
    (root / "bundle.zip").write_bytes(buf.getvalue())
    return root


def _report(target: Path, file_cache=None, config: VerifyConfig = None) -> dict:
    options = VerifyOptions(config=config or VerifyConfig(), file_cache=file_cache)
    doc = json.loads(json.dumps(document(verify_target(target, options))))
    doc.pop("tool", None)
    doc.pop("target", None)  # the folder verified, not a result
    return doc


def _stats() -> tuple[int, int]:
    return perfile.FILE_CACHE_STATS["hits"], perfile.FILE_CACHE_STATS["misses"]


def _delta(before: tuple[int, int]) -> tuple[int, int]:
    hits, misses = _stats()
    return hits - before[0], misses - before[1]


@pytest.fixture
def helper(monkeypatch):
    """The build's Helper process (hardnut.secrets.engine.start_helper), started and ready; stopped after."""
    import time

    from hardnut.checks.perfile import warm_helper
    from hardnut.secrets import engine

    monkeypatch.setattr(engine, "HELPER_MIN_BYTES", 0)
    monkeypatch.setenv("HARDNUT_SECRETS_WORKERS", "2")
    engine.start_helper(engine.shared_engine(None), warm=warm_helper)
    deadline = time.monotonic() + 120
    while not engine._HELPER.ready():
        assert time.monotonic() < deadline and engine._HELPER.proc.poll() is None, "the helper did not start"
        time.sleep(0.05)
    yield engine
    engine.stop_helper()


@pytest.mark.parametrize("workers", ["in-process", "2 worker processes", "with the helper"])
def test_cold_and_warm_cache_give_the_uncached_report(tree, tmp_path, monkeypatch, workers, request):
    if workers == "2 worker processes":
        from hardnut.secrets import engine

        monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setenv("HARDNUT_SECRETS_WORKERS", "2")
    elif workers == "with the helper":
        request.getfixturevalue("helper")
    cache = tmp_path / "files"
    cache.mkdir()
    other = tmp_path / "b" / "app.dist"  # the next build verifies in another (temporary) folder
    shutil.copytree(tree, other)
    expected = _report(tree)
    assert {"secret", "hardening", "debug", "dependency"} <= {f["category"] for f in expected["findings"]}
    before = _stats()
    assert _report(tree, cache) == expected  # cold: computed and stored
    hits, misses = _delta(before)
    assert hits == 0 and misses > 10
    stored = len(os.listdir(cache))
    assert stored == misses  # every result is a function of its key here (a parse error too)
    before = _stats()
    assert _report(other, cache) == _report(other) == expected  # warm, in another folder
    assert _delta(before)[0] == stored


def test_changed_byte_misses_for_that_file_only(tree, tmp_path):
    cache = tmp_path / "files"
    cache.mkdir()
    _report(tree, cache)
    files = len(os.listdir(cache))
    data = bytearray((tree / "settings.ini").read_bytes())
    data[-2] ^= 1  # one byte of the last line
    (tree / "settings.ini").write_bytes(bytes(data))
    before = _stats()
    assert _report(tree, cache) == _report(tree)
    assert _delta(before) == (files - 1, 1)
    assert len(os.listdir(cache)) == files + 1  # the old entry stays until pruned


def test_changed_limit_or_rule_set_misses(tree, tmp_path):
    from hardnut.secrets.gitleaks import load

    cache = tmp_path / "files"
    cache.mkdir()
    _report(tree, cache)
    files = len(os.listdir(cache))
    before = _stats()
    limits = Limits(max_scan_bytes=4096)  # scans cut at 4 KiB: another result, another key
    small = VerifyConfig(limits=limits)
    assert _report(tree, cache, small) == _report(tree, None, small)
    hits, misses = _delta(before)
    assert hits == 0 and misses >= files
    assert any("only the first 4096" in f["message"] for f in _report(tree, cache, small)["findings"])
    assert _delta(before) == (misses, misses)  # a scan cut by max_scan_bytes is a function of the key
    (tmp_path / ".gitleaks.toml").write_text(GITLEAKS)
    custom = VerifyConfig(gitleaks=load(tmp_path / ".gitleaks.toml"))
    before = _stats()
    cold = _report(tree, cache, custom)
    assert _delta(before)[0] == 0
    assert any(f["rule"] == "gitleaks:acme-token" for f in cold["findings"])
    before = _stats()
    assert _report(tree, cache, custom) == cold == _report(tree, None, custom)
    assert _delta(before) == (files, 0)
    assert not any(f["rule"] == "gitleaks:acme-token" for f in _report(tree, cache)["findings"])


def test_corrupt_entries_are_misses_and_rewritten(tree, tmp_path):
    cache = tmp_path / "files"
    cache.mkdir()
    expected = _report(tree, cache)
    entries = sorted(cache.iterdir())
    truncated, flipped, garbage, empty = entries[:4]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    raw = bytearray(flipped.read_bytes())
    raw[-5] ^= 0xFF
    flipped.write_bytes(bytes(raw))
    garbage.write_bytes(b"\x80\x05not a pickle")
    empty.write_bytes(b"")
    before = _stats()
    assert _report(tree, cache) == expected
    assert _delta(before) == (len(entries) - 4, 4)
    before = _stats()
    assert _report(tree, cache) == expected
    assert _delta(before) == (len(entries), 0)  # rewritten: every entry hits again


def test_bounded_results_are_not_stored(tree, tmp_path, monkeypatch):
    """A parse stopped by limits.file_timeout (or a count bound) is not a function of the bytes: not stored."""
    from hardnut.inspect.elf import BinaryLimitError

    cache = tmp_path / "files"
    cache.mkdir()
    original = perfile._binary_job

    def job(kind, path, relpath, limits):
        if relpath == "elf/hardened":
            return None, BinaryLimitError("parsing took longer than limits.file_timeout (120 s)")
        return original(kind, path, relpath, limits)

    monkeypatch.setattr(perfile, "_binary_job", job)
    before = _stats()
    _report(tree, cache)
    assert len(os.listdir(cache)) == _delta(before)[1] - 1


def test_prune_bounds_the_file_results_with_the_build_entries(tree, tmp_path):
    cache = BuildCache(tmp_path / "cache", max_bytes=1 << 30)
    folder = cache.file_folder_for_verify()
    assert folder == cache.folder / "files" and folder.is_dir()
    _report(tree, folder)
    out = tmp_path / "out"
    out.mkdir()
    (out / "blob").write_bytes(os.urandom(200_000))
    cache.store("k1", out, None, {})  # a build entry, used before the file results below
    old = cache.folder / "k1" / "meta.json"
    os.utime(old, (1_000_000, 1_000_000))
    results = cache.file_entries()
    for i, (_, _, path) in enumerate(results):
        os.utime(path, (2_000_000 + i, 2_000_000 + i))
    total = sum(s for _, s, _ in cache.entries()) + sum(s for _, s, _ in cache.file_entries())
    newest = sorted(cache.file_entries())[-3:]
    keep = sum(s for _, s, _ in newest)
    stale, fresh = folder / ".tmp-stale", folder / ".tmp-fresh"  # an interrupted write; one being written
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    os.utime(stale, (3_000_000, 3_000_000))
    removed = cache.prune(keep)
    assert not stale.exists() and fresh.exists()
    fresh.unlink()
    assert cache.folder / "k1" in removed  # least recently used first: the build entry went first
    left = cache.file_entries()
    assert sum(s for _, s, _ in left) <= keep < total and [p for _, _, p in left] == [p for _, _, p in newest]
    assert not cache.entries()
    before = _stats()
    expected = _report(tree)
    assert _report(tree, folder) == expected  # pruned results are computed again
    assert _delta(before)[0] == 3
    assert not BuildCache(tmp_path / "off", max_bytes=0).file_folder_for_verify()  # size 0: no file cache


def test_hardnut_verify_does_not_use_it(tmp_path):
    from hardnut.profile import load_profile

    profile = load_profile(Path(__file__).resolve().parents[1] / "sample_apps" / "hello" / "hardnut.toml")
    assert VerifyOptions.from_profile(profile).file_cache is None


def test_a_real_build_fills_it_and_hits_on_its_dist(planted_cli_build, planted_build_cache, tmp_path):
    """`hardnut build` of the planted app verified its dist (in a temporary build folder) with the per-file
    cache; verifying the final dist with a copy of that cache hits and gives the uncached report."""
    from hardnut.profile import load_profile

    results = planted_build_cache.files_folder
    assert results.is_dir() and len(os.listdir(results)) > 10
    cache = tmp_path / "files"
    shutil.copytree(results, cache)
    dist = Path(planted_cli_build.doc["dist"])
    profile = load_profile(planted_cli_build.work / "strict.toml")
    options = VerifyOptions.from_profile(profile)
    before = _stats()
    warm = document(verify_target(dist, dataclasses.replace(options, file_cache=cache)))
    hits, misses = _delta(before)
    assert hits > 10 and misses <= 2
    assert json.dumps(warm, sort_keys=True) == json.dumps(document(verify_target(dist, options)), sort_keys=True)


def test_an_unreadable_constants_blob_is_reported_not_stored(tree, tmp_path, monkeypatch):
    """The raw scan read the file but its constants blob could not be read (an I/O error right after):
    the scan is incomplete (HN-SEC-300), and such a result is never stored."""
    from hardnut.checks import secrets
    from hardnut.inspect.constants_blob import BlobReadError

    cache = tmp_path / "files"
    cache.mkdir()
    original = secrets.read_constants_blob

    def read(path, kind=None, max_bytes=None):
        if str(path).endswith("elf/hardened"):
            raise BlobReadError("cannot read hardened: Input/output error")
        return original(path, kind, max_bytes)

    monkeypatch.setattr(secrets, "read_constants_blob", read)
    before = _stats()
    doc = _report(tree, cache)
    assert len(os.listdir(cache)) == _delta(before)[1] - 1
    incomplete = [f for f in doc["findings"] if f["rule"] == "HN-SEC-300" and f["path"] == "elf/hardened"]
    assert incomplete and "constants blob could not be read" in incomplete[0]["message"]


def test_the_helper_shares_the_files_and_a_failed_one_is_replaced_by_this_process(tree, helper, monkeypatch):
    """With the Helper ready, the per-file work of a verify is split between it and this process (the
    report is the one this process alone gives); a batch it does not return (it died meanwhile, a
    result does not pickle) is computed here and the helper is not used again; a dead helper is not
    waited for."""
    def report() -> dict:
        doc = json.loads(json.dumps(document(verify_target(tree, VerifyOptions(config=VerifyConfig())))))
        doc.pop("tool", None)
        return doc

    used = []
    real = helper._with_helper
    monkeypatch.setattr(helper, "_with_helper", lambda *a: used.append(1) or real(*a))
    shared = report()
    assert used
    monkeypatch.setattr(helper.Helper, "receive", lambda self: None)  # its reply lost
    assert report() == shared and len(used) == 2 and helper._HELPER is None
    monkeypatch.undo()
    helper.start_helper(helper.shared_engine(None))
    helper._HELPER.proc.kill()
    helper._HELPER.proc.wait()
    assert not helper._HELPER.ready()
    monkeypatch.setattr(helper, "HELPER_MIN_BYTES", 0)
    alone = report()
    assert alone == shared


def test_a_helper_that_cannot_start_is_not_used_and_prints_nothing(tree, capfd, monkeypatch):
    """A helper whose start fails (here its warm-up raises) ends quietly - no traceback on the user's
    terminal - and verify does all the work in this process."""
    import time

    from hardnut.secrets import engine

    monkeypatch.setattr(engine, "HELPER_MIN_BYTES", 0)
    engine.start_helper(engine.shared_engine(None), warm=json.loads)  # json.loads() without arguments raises
    try:
        engine._HELPER.proc.wait(timeout=60)
        assert not engine._HELPER.ready()
        used = []
        monkeypatch.setattr(engine, "_with_helper", lambda *a: used.append(1))
        verify_target(tree, VerifyOptions(config=VerifyConfig()))
        assert not used
    finally:
        engine.stop_helper()
    assert "Traceback" not in capfd.readouterr().err


def test_uncached_bytes_predicts_what_the_next_verify_computes(tree, tmp_path, monkeypatch):
    """The build starts its helper process and compiles every secret pattern ahead only when
    HELPER_BUILD_MIN_BYTES or more of the last build's files are not in the cache (the prediction reads the
    last build's manifest records): after a verify with the cache, nothing is left to compute; an empty
    cache or a changed file counts their bytes; prepare acts accordingly."""
    from hardnut.secrets import engine
    from hardnut.verify import prepare

    cache = tmp_path / "files"
    cache.mkdir()
    options = VerifyOptions(file_cache=cache)
    records = [r.to_dict() for r in verify_target(tree, options).files]
    eng, limits = engine.shared_engine(None), Limits()
    assert perfile.uncached_bytes(records, limits, eng, str(cache)) == 0
    counted = sum(r["size"] for r in records if r["format"] in ("elf", "pe", "data") and r["size"] > 0)
    assert perfile.uncached_bytes(records, limits, eng, str(tmp_path)) == counted > 100_000
    changed = [dict(r, sha256="0" * 64) if r["path"] == "settings.ini" else r for r in records]
    assert perfile.uncached_bytes(changed, limits, eng, str(cache)) == (tree / "settings.ini").stat().st_size
    malformed = [{"path": "x"}, None, dict(records[0], size="big")]
    assert perfile.uncached_bytes(malformed, limits, eng, str(tmp_path)) == 0

    started, compiled = [], []
    monkeypatch.setattr(engine, "start_helper", lambda *a, **k: started.append(1))
    monkeypatch.setattr(engine.Engine, "precompile", lambda self: compiled.append(1))
    monkeypatch.setenv("HARDNUT_SECRETS_WORKERS", "2")
    import hardnut.verify

    monkeypatch.setattr(hardnut.verify, "HELPER_BUILD_MIN_BYTES", counted)
    prepare(options, helper=True, previous=records)  # all cached: a rebuild after an edit
    assert started == compiled == []  # no helper; the patterns the changed files need are compiled on use
    prepare(options, helper=True, previous=None)  # no earlier build: usually a cold compile, no helper
    assert started == compiled == []
    assert perfile.uncached_bytes(records, limits, eng, None) == counted  # no cache: everything is to do
    prepare(VerifyOptions(file_cache=tmp_path), helper=True, previous=records)  # its results are gone
    assert started == compiled == [1]  # a large verify: the helper, and every pattern ahead
    prepare(VerifyOptions(), helper=True, previous=records)  # --no-cache: all of the last build's bytes
    assert started == compiled == [1, 1]
    prepare(VerifyOptions(), helper=False, previous=records)  # not asked for the helper
    assert started == compiled == [1, 1]
    monkeypatch.setattr(hardnut.verify, "HELPER_BUILD_MIN_BYTES", counted + 1)
    prepare(VerifyOptions(), helper=True, previous=records)  # a smaller verify: patterns compiled on use
    assert started == compiled == [1, 1]
    monkeypatch.setenv("HARDNUT_SECRETS_WORKERS", "1")
    monkeypatch.setattr(hardnut.verify, "HELPER_BUILD_MIN_BYTES", counted)
    prepare(VerifyOptions(), helper=True, previous=records)  # one core: no helper
    assert started == compiled == [1, 1]


def test_a_large_warm_verify_maps_only_the_misses(tree, tmp_path, monkeypatch):
    """When the artifact is large enough for the worker processes, the per-file cache is looked up first
    in this process and only the misses go to map_files (the workers): a rebuild that changed one file
    of a large dist maps that one file. Reports equal the uncached one."""
    from hardnut.secrets import engine

    monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)  # `tree` counts as large
    monkeypatch.setenv("HARDNUT_SECRETS_WORKERS", "2")
    mapped = []
    real = engine.map_files
    monkeypatch.setattr(engine, "map_files", lambda fn, jobs, sizes, *a, **k: mapped.append(len(jobs)) or real(fn, jobs, sizes, *a, **k))
    cache = tmp_path / "files"
    cache.mkdir()
    expected = _report(tree)
    cold = mapped[-1]
    assert _report(tree, cache) == expected and mapped[-1] == cold > 10  # cold: every file is mapped
    assert _report(tree, cache) == expected and mapped[-1] == 0  # warm: none
    data = bytearray((tree / "settings.ini").read_bytes())
    data[-2] ^= 1
    (tree / "settings.ini").write_bytes(bytes(data))
    before = _stats()
    assert _report(tree, cache) == _report(tree)
    assert mapped[-2] == 1 and _delta(before)[1] == 1  # the changed file only, a miss
