"""hardnut.sbomcache: an SBOM patched from the last one equals the SBOM rendered from scratch.

The inputs are a real Nuitka build's (its report and its native files); the reference is
cyclonedx-python-lib's own rendering of the changed inputs."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from hardnut import sbomcache
from hardnut.sbom import build_bom, native_files, read_report, to_json, validate_json, write_sbom


def _same_but_serial_and_time(a: str, b: str) -> None:
    da, db = json.loads(a), json.loads(b)
    assert da["serialNumber"] != db["serialNumber"]
    for d in (da, db):
        d["serialNumber"] = "urn:uuid:0"
        d["metadata"]["timestamp"] = "T"
    assert json.dumps(da, indent=2) == json.dumps(db, indent=2)
    # and the layout: the text itself, serial and timestamp apart
    norm = [json.dumps(d, indent=2) + "\n" for d in (da, db)]
    assert norm[0] == norm[1]


@pytest.fixture(scope="module")
def inputs(planted_standalone):
    dist = planted_standalone
    facts = read_report(next(dist.parent.glob("*.report.xml")))
    return "planted", facts, native_files(dist)


def _rehash(files, rng: random.Random, share: float):
    out = []
    for f in files:
        if rng.random() < share:
            f = dataclasses.replace(f, sha256="%064x" % rng.getrandbits(256))
        out.append(f)
    return out


def _with_distributions(facts, files):
    """The facts with distributions that own some of the files (as a report with site-packages says)."""
    from hardnut.nuitka.report_xml import Distribution

    extra = [Distribution("Foo_Bar", "1.2", installer="pip"), Distribution("baz", "2.0", vendored=True)]
    owned = {files[0].path: "Foo_Bar", files[1].path: "baz", files[2].path: "Foo_Bar"}
    return dataclasses.replace(facts, distributions=facts.distributions + extra,
                               file_distribution={**facts.file_distribution, **owned})


@pytest.mark.nuitka
@pytest.mark.parametrize("owned", [False, True])
def test_patched_equals_rendered_for_other_hashes(inputs, tmp_path, owned):
    name, facts, files = inputs
    assert len(files) > 10
    if owned:
        facts = _with_distributions(facts, files)
    template = tmp_path / "sbom.json"
    key, _ = sbomcache.shape(name, facts, files)
    first = to_json(build_bom(name, facts, files))
    sbomcache.remember(template, key, first)
    rng = random.Random(7)
    for share in (0.0, 0.05, 0.5, 1.0):
        changed = _rehash(files, rng, share)
        key2, hashes = sbomcache.shape(name, facts, changed)
        assert key2 == key  # only hashes differ: the same key
        text = sbomcache.patched(template, key2, hashes)
        assert text is not None
        fresh = to_json(build_bom(name, facts, changed))
        _same_but_serial_and_time(text, fresh)
        assert validate_json(text) is None
    # the serial is a fresh UUID each time, the timestamp the current time
    a, b = (json.loads(sbomcache.patched(template, key, sbomcache.shape(name, facts, files)[1])) for _ in range(2))
    assert a["serialNumber"] != b["serialNumber"] and a["serialNumber"].startswith("urn:uuid:")
    assert a["metadata"]["timestamp"].endswith("+00:00")


@pytest.mark.nuitka
def test_any_other_change_is_another_key(inputs):
    name, facts, files = inputs
    key = sbomcache.shape(name, facts, files)[0]
    from hardnut.nuitka.report_xml import Distribution

    with_dist = dataclasses.replace(facts, distributions=facts.distributions + [Distribution("x", "1.0")])
    key_with = sbomcache.shape(name, with_dist, files)[0]
    other_version = dataclasses.replace(facts, distributions=facts.distributions + [Distribution("x", "1.1")])
    lib = next(f for f in files if f.library is not None)
    changes = [
        ("app name", ("other", facts, files)),
        ("a distribution added", (name, with_dist, files)),
        ("the Python version", (name, dataclasses.replace(facts, python_version="3.99.0"), files)),
        ("the Nuitka version", (name, dataclasses.replace(facts, nuitka_version="0.0.1"), files)),
        ("a runtime file", (name, dataclasses.replace(facts, runtime_files=set()), files)),
        ("a file left out", (name, facts, files[1:])),
        ("a file renamed", (name, facts, [dataclasses.replace(files[0], path="x" + files[0].path)] + files[1:])),
        ("a file's size", (name, facts, [dataclasses.replace(files[0], size=files[0].size + 1)] + files[1:])),
        ("a library's version", (name, facts, [dataclasses.replace(
            f, library=dataclasses.replace(f.library, version="0.0.0")) if f is lib else f for f in files])),
    ]
    for what, args in changes:
        assert sbomcache.shape(*args)[0] != key, what
    assert sbomcache.shape(name, other_version, files)[0] not in (key, key_with)  # a distribution's version


def test_kept_sbom_that_does_not_fit_is_a_miss(tmp_path):
    template = tmp_path / "sbom.json"
    assert sbomcache.patched(template, "k", {"a.so": "0" * 64}) is None  # nothing kept
    assert sbomcache.patched(None, "k", {"a.so": "0" * 64}) is None
    doc = {"serialNumber": "urn:uuid:1", "metadata": {"timestamp": "t"},
           "components": [{"bom-ref": "file:a.so", "name": "a.so", "type": "file",
                           "hashes": [{"alg": "SHA-256", "content": "1" * 64}]}]}
    sbomcache.remember(template, "k", json.dumps(doc, indent=2) + "\n")
    good = sbomcache.patched(template, "k", {"a.so": "2" * 64})
    assert json.loads(good)["components"][0]["hashes"][0]["content"] == "2" * 64
    assert sbomcache.patched(template, "other key", {"a.so": "2" * 64}) is None
    assert sbomcache.patched(template, "k", {"a.so": "2" * 64, "b.so": "3" * 64}) is None  # a file it lacks
    for broken in ("", "{", json.dumps({"format": 99, "key": "k", "text": "{}"}), json.dumps([1]),
                   json.dumps({"format": sbomcache.FORMAT, "key": "k", "text": "not json"})):
        template.write_text(broken)
        assert sbomcache.patched(template, "k", {"a.so": "2" * 64}) is None
    two = dict(doc, components=doc["components"] + [dict(doc["components"][0])])  # a path twice
    sbomcache.remember(template, "k", json.dumps(two))
    assert sbomcache.patched(template, "k", {"a.so": "2" * 64}) is None


def test_remember_is_atomic_and_best_effort(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("x")
    sbomcache.remember(blocked / "sbom.json", "k", "{}")  # its folder cannot be made: no error
    template = tmp_path / "c" / "sbom.json"
    sbomcache.remember(template, "k", "{}")
    assert json.loads(template.read_text())["key"] == "k"
    assert [p.name for p in template.parent.iterdir()] == ["sbom.json"]  # no temporary file left


@pytest.mark.nuitka
def test_write_sbom_keeps_and_reuses(planted_standalone, tmp_path):
    dist = planted_standalone
    report = next(dist.parent.glob("*.report.xml"))
    template = tmp_path / "files" / "sbom-x.json"
    first = write_sbom(dist, report, tmp_path / "a.cdx.json", template=template).read_text()
    assert template.is_file()
    kept = template.read_text()
    second = write_sbom(dist, report, tmp_path / "b.cdx.json", template=template).read_text()
    assert template.read_text() == kept  # reused, not rendered and kept again
    plain = write_sbom(dist, report, tmp_path / "c.cdx.json").read_text()
    _same_but_serial_and_time(second, plain)
    _same_but_serial_and_time(first, plain)
    assert validate_json(second) is None


def test_sbom_template_path_follows_the_cache(tmp_path):
    from types import SimpleNamespace

    from hardnut.buildcache import BuildCache

    profile = SimpleNamespace(root=tmp_path, app=SimpleNamespace(name="app"))
    cache = BuildCache(tmp_path / "cache", 1 << 20)
    path = cache.sbom_template(profile)
    assert path.parent == cache.files_folder and path.name.startswith("sbom-")
    other = SimpleNamespace(root=tmp_path / "x", app=SimpleNamespace(name="app"))
    assert cache.sbom_template(other) != path
    assert BuildCache(tmp_path / "cache", 0).sbom_template(profile) is None  # a cache that stores nothing
    assert isinstance(path, Path)
