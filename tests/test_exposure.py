"""`hardnut exposure`, `hardnut diff` and the HN-EXP rules on real Nuitka builds of sample_apps/exposed.

Three session builds (conftest): exposed_plain (no python flags), exposed_release (no_docstrings and
no_asserts) and exposed_variant (exposed_plain with one string constant of exposed_app.core replaced
by a fake token). exposed_app.legacy is forced to bytecode by the sample's profile.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import EXPOSED_VARIANT_SECRET, SAMPLES, hardnut_cli
from helpers_binaries import binfix  # noqa: F401

PROFILE = SAMPLES / "exposed" / "hardnut.toml"
OWN_COMPILED = {"__main__", "exposed_app", "exposed_app.core"}
CORE_DOCSTRINGS = [
    "Core of the exposed sample: this module docstring is readable in a build without no_docstrings.",
    "Formats greetings; the class docstring is a constant too.",
    "Return the greeting for `name`.",
    "Greet `name` with the module's greeting.",
]


def exposure(target: Path, *args: str) -> dict:
    res = hardnut_cli("exposure", str(target), "-p", str(PROFILE), "--format", "json", *args)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def modules(doc: dict) -> dict:
    return {m["name"]: m for m in doc["modules"]}


def diff(a: Path, b: Path, fmt: str = "json"):
    res = hardnut_cli("diff", str(a), str(b), "--format", fmt)
    assert "Traceback" not in res.stderr
    return res


# ----------------------------------------------------------------------------------------------- exposure


@pytest.mark.nuitka
def test_docstring_counts_move_with_no_docstrings(exposed_plain, exposed_release):
    plain, release = exposure(exposed_plain), exposure(exposed_release)
    pm, rm = modules(plain), modules(release)
    assert OWN_COMPILED <= set(pm) and OWN_COMPILED <= set(rm)
    # measured on the decoded constants, recognised through the sources (the profile's folder)
    assert pm["exposed_app.core"]["docstrings"]["count"] == 4
    assert pm["exposed_app.core"]["docstrings_basis"] == "source"
    assert pm["exposed_app.core"]["assert_messages"]["count"] == 2
    assert pm["__main__"]["docstrings"]["count"] == 2 and pm["exposed_app"]["docstrings"]["count"] == 1
    assert plain["summary"]["docstrings"] == 7 and plain["summary"]["docstrings_present"] is True
    assert release["summary"]["docstrings"] == 0 and release["summary"]["docstrings_present"] is False
    assert all(rm[name]["docstrings"]["count"] == 0 and rm[name]["assert_messages"]["count"] == 0
               for name in OWN_COMPILED)
    # what the flags would remove: the docstrings' modules by name, and their bytes
    flags = {f["flag"]: f for f in plain["flags"]}
    assert flags["no_docstrings"]["enabled"] is False
    assert set(flags["no_docstrings"]["modules"]) == OWN_COMPILED
    assert flags["no_docstrings"]["removes_count"] == 7
    assert flags["no_docstrings"]["removes_bytes"] == sum(
        len(d.encode()) for d in CORE_DOCSTRINGS) + pm["__main__"]["docstrings"]["bytes"] + pm["exposed_app"][
        "docstrings"]["bytes"]
    assert flags["no_asserts"]["modules"] == ["exposed_app.core"] and flags["no_asserts"]["removes_count"] == 2
    rflags = {f["flag"]: f for f in release["flags"]}
    assert rflags["no_docstrings"]["enabled"] and rflags["no_docstrings"]["removes_count"] == 0
    # the rest of the constants stays: identifiers and the module's string constant
    assert rm["exposed_app.core"]["identifiers"]["count"] == pm["exposed_app.core"]["identifiers"]["count"]
    assert "Greetings from the exposed core, version one" in rm["exposed_app.core"]["strings"]["samples"]
    assert "/etc/exposed/config.toml" in pm["exposed_app.core"]["paths"]["samples"]
    assert pm["exposed_app.core"]["line_info"] == 4  # module + class + 2 functions... code objects with lines


@pytest.mark.nuitka
def test_bytecode_module_is_reported(exposed_plain):
    doc = exposure(exposed_plain)
    shipped = {s["name"]: s for s in doc["shipped"]}
    legacy = shipped["exposed_app.legacy"]
    assert legacy["form"] == "bytecode" and legacy["own"] is True
    assert "exposed_app.legacy" not in modules(doc)  # not compiled: no constants of its own
    assert doc["summary"]["bytecode"] >= 1 and "exposed_app.legacy" in doc["summary"]["own_modules"]
    text = hardnut_cli("exposure", str(exposed_plain), "-p", str(PROFILE)).stdout
    assert "*bytecode exposed_app.legacy" in text  # own modules listed first, marked
    assert text.splitlines()[1].startswith("modules: 3 compiled")


@pytest.mark.nuitka
def test_exposure_masks_secrets_and_filters_modules(exposed_variant):
    res = hardnut_cli("exposure", str(exposed_variant), "--module", "exposed_app.core")
    assert res.returncode == 0, res.stderr
    assert EXPOSED_VARIANT_SECRET not in res.stdout and EXPOSED_VARIANT_SECRET[:12] not in res.stdout
    assert "ghp_…(40 chars)" in res.stdout
    doc = json.loads(hardnut_cli("exposure", str(exposed_variant), "--module", "exposed_app.core",
                                 "--format", "json").stdout)
    assert [m["name"] for m in doc["modules"]] == ["exposed_app.core"]
    assert doc["modules"][0]["secrets_masked"] == 1 and doc["modules"][0]["secret_samples"] == ["ghp_…(40 chars)"]
    assert EXPOSED_VARIANT_SECRET not in json.dumps(doc)


def test_exposure_unreadable_target_exits_2(tmp_path):
    res = hardnut_cli("exposure", str(tmp_path / "missing"))
    assert res.returncode == 2 and "Traceback" not in res.stderr and "not found" in res.stderr


# ----------------------------------------------------------------------------------------------- verify rules


@pytest.mark.nuitka
def test_verify_rules_from_exposure_facts(exposed_plain, exposed_release, tmp_path):
    import shutil

    # a profile asking for no_docstrings, beside the same sources (the rule reads them from its folder)
    app = tmp_path / "exposed"
    shutil.copytree(SAMPLES / "exposed", app, ignore=shutil.ignore_patterns("dist", "*.build", "__pycache__"))
    asks = app / "asks-no-docstrings.toml"
    asks.write_text('[profile]\nextends = "hardnut.toml"\n[build]\npython_flags = ["no_docstrings"]\n')
    found = {}
    for label, dist in (("plain", exposed_plain), ("release", exposed_release)):
        res = hardnut_cli("verify", str(dist), "-p", str(PROFILE if label == "release" else asks),
                          "--format", "json", "--fail-on", "critical")
        assert res.returncode == 0, res.stderr
        found[label] = [f for f in json.loads(res.stdout)["findings"] if f["rule"].startswith("HN-EXP-")]
    plain_docs = {f["module"] for f in found["plain"] if f["rule"] == "HN-EXP-003"}
    assert plain_docs == OWN_COMPILED
    assert not [f for f in found["release"] if f["rule"] == "HN-EXP-003"]
    for label in found:  # --deployment build: the bytecode module is medium
        legacy = [f for f in found[label] if f["rule"] == "HN-EXP-001"]
        assert [(f["module"], f["severity"]) for f in legacy] == [("exposed_app.legacy", "medium")]


# ----------------------------------------------------------------------------------------------- diff


@pytest.mark.nuitka
def test_diff_names_exactly_the_changed_constant(exposed_plain, exposed_variant):
    res = diff(exposed_plain, exposed_variant)
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    assert not doc["identical"] and doc["counts"] == {"added": 0, "removed": 0, "changed": 1}
    (changed,) = doc["files"]
    assert changed["path"] == "exposed"
    assert [m["module"] for m in changed["modules"]] == ["exposed_app.core"]
    core = changed["modules"][0]
    assert core["removed"] == ["str 'Greetings from the exposed core, version one'"]
    assert core["added"] == ["attr ghp_…(40 chars) (secret-like, masked)"]
    text = diff(exposed_plain, exposed_variant, "text").stdout
    assert EXPOSED_VARIANT_SECRET not in res.stdout + text and EXPOSED_VARIANT_SECRET[:10] not in text
    assert "module exposed_app.core: constants +1 -1" in text
    assert "DIFFERENT: 1 changed, 0 added, 0 removed" in text


@pytest.mark.nuitka
def test_diff_of_docstring_builds_and_identical_inputs(exposed_plain, exposed_release):
    doc = json.loads(diff(exposed_plain, exposed_release).stdout)
    (changed,) = doc["files"]
    mods = {m["module"]: m for m in changed["modules"]}
    assert set(mods) == OWN_COMPILED | {".bytecode (uncompiled modules)"}  # legacy's docstrings are bytecode
    core = mods["exposed_app.core"]
    assert core["added"] == [] and sorted(core["removed"]) == sorted(
        [f"str {d!r}" for d in CORE_DOCSTRINGS]
        + ["str 'greet() wants a str name'", "str 'the greeting word must not be empty'"])
    assert ".rodata" in " ".join(changed["sections"])
    same = diff(exposed_plain, exposed_plain, "text")
    assert same.returncode == 0 and same.stdout.strip().endswith("files compared") and "IDENTICAL" in same.stdout
    # manifests written by the builds: paths, sizes and hashes only
    man_a = exposed_plain.parent / "exposed.hardnut.json"
    man_b = exposed_release.parent / "exposed.hardnut.json"
    res = diff(man_a, man_b)
    assert res.returncode == 1
    assert [f["path"] for f in json.loads(res.stdout)["files"]] == ["exposed"]
    assert diff(man_a, exposed_plain).returncode == 0  # a manifest against the dist it describes


def test_diff_unreadable_input_exits_2(tmp_path):
    bad = tmp_path / "x.hardnut.json"
    bad.write_text('{"tool": {"name": "hardnut"}, "files": 3}')
    bad_size = tmp_path / "y.hardnut.json"
    bad_size.write_text('{"tool": {"name": "hardnut"}, "files": [{"path": "a", "size": "big", "sha256": "0"}]}')
    for a, b in ((tmp_path / "missing", tmp_path), (bad, tmp_path), (bad_size, bad_size)):
        res = diff(a, b, "text")
        assert res.returncode == 2 and res.stderr.startswith("hardnut: error:"), res.stderr


def test_diff_of_folders_lists_added_removed_and_mode(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "same.txt").write_text("same")
    (a / "gone.txt").write_text("x")
    (b / "new.txt").write_text("y")
    (a / "run.sh").write_text("#!/bin/sh\n")
    (b / "run.sh").write_text("#!/bin/sh\n")
    (b / "run.sh").chmod(0o755)
    (a / "run.sh").chmod(0o644)
    doc = json.loads(diff(a, b).stdout)
    got = {f["path"]: f for f in doc["files"]}
    assert set(got) == {"gone.txt", "new.txt", "run.sh"}
    assert got["gone.txt"]["status"] == "removed" and got["new.txt"]["status"] == "added"
    assert got["run.sh"]["mode_a"] == "-rw-r--r--" and got["run.sh"]["mode_b"] == "-rwxr-xr-x"


# ----------------------------------------------------------------------------------------------- reproducible


@pytest.mark.nuitka
def test_reproducible_builds_of_hello_are_identical(tmp_path):
    """Two builds of sample_apps/hello with build.reproducible (two temporary build folders): no difference.
    docs/exposure.md says what would differ without it; this pins that nothing does with it."""
    import shutil

    app = tmp_path / "hello"
    shutil.copytree(SAMPLES / "hello", app, ignore=shutil.ignore_patterns("dist", "*.build", "__pycache__"))
    res = hardnut_cli("build", "--check-reproducible", "--format", "json", cwd=app)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    doc = json.loads(res.stdout)
    assert doc["identical"] is True and doc["files"] == [] and doc["compared"] > 20
    assert "reproducibility build 2 of 2" in res.stderr
    assert not list((app / "dist").glob("*")) if (app / "dist").exists() else True  # nothing kept


@pytest.mark.nuitka
def test_diff_of_onefile_binaries_names_payload_entries(tmp_path):
    """Two onefile binaries: the shared real onefile fixture with payloads written by Nuitka's own
    onefile compressor from two folders that differ in one entry's content and one added entry."""
    from helpers_onefile import nuitka_payload, onefile_build, plant

    base = onefile_build("plain").binary
    binaries = []
    for label, greeting, extra in (("a", "hello\n", False), ("b", "hallo\n", True)):
        dist = tmp_path / f"dist-{label}"
        (dist / "data").mkdir(parents=True)
        (dist / "start").write_text("#!/bin/sh\necho start\n")
        (dist / "data" / "greeting.txt").write_text(greeting)
        (dist / "same.txt").write_text("unchanged\n")
        if extra:
            (dist / "extra.txt").write_text("new\n")
        binaries.append(plant(base, tmp_path / f"{label}.bin", nuitka_payload(dist, "start")))
    res = diff(binaries[0], binaries[1])
    assert res.returncode == 1, res.stderr
    got = {f["path"]: f for f in json.loads(res.stdout)["files"]}
    assert set(got) == {"b.bin", "b.bin!/data/greeting.txt", "b.bin!/extra.txt"}
    assert got["b.bin!/extra.txt"]["status"] == "added"
    assert got["b.bin!/data/greeting.txt"]["size_a"] == got["b.bin!/data/greeting.txt"]["size_b"] == 6
    assert got["b.bin"]["sections"] and not got["b.bin"]["headers"]  # the payload's section changed, not the layout
    assert diff(binaries[0], binaries[0]).returncode == 0


# ----------------------------------------------------------------------------------------------- no build


def test_source_facts_find_docstrings_and_assert_messages():
    from hardnut.exposure import source_facts

    facts = source_facts('"""Mod."""\nclass C:\n    """  Indented\n    doc."""\n'
                         'def f():\n    "fdoc"\n    assert 1, "msg"\n    x = "not a doc"\n')
    assert {b"Mod.", b"fdoc", b"  Indented\n    doc.", b"Indented\ndoc."} <= facts.docstrings
    assert facts.asserts == frozenset({b"msg"}) and b"not a doc" not in facts.docstrings
    assert source_facts("def (:") is None


def test_html_escapes_hostile_names_and_loads_nothing():
    from hardnut.exposure import CompiledModule, Exposure, ShippedModule
    from hardnut.report.html_format import render_exposure

    evil = '<script>alert(1)</script>"'
    exp = Exposure(target=evil, compiled=[CompiledModule(evil, "bin", True)],
                   shipped=[ShippedModule(evil, "source", evil, evil, True)], own_patterns=(evil,))
    exp.compiled[0].classes["strings"].add(evil, 10)
    page = render_exposure(exp)
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;&quot;" in page
    assert page.count("<script>") == 1  # the page's own search script only
    assert "default-src 'none'" in page and "src=" not in page.replace('id="', "")


def test_verify_html_format_is_registered():
    from hardnut.checks import all_rules
    from hardnut.model import Finding, Severity, VerifyResult
    from hardnut.report import renderer

    result = VerifyResult("t", Severity.HIGH, [Finding("HN-EXP-001", "build", Severity.MEDIUM, "a<b", "m & n")])
    page = renderer("html")(result, all_rules(), False)
    assert "a&lt;b" in page and "m &amp; n" in page and '<svg class="chart"' in page


def test_diff_of_pe_files_names_headers_and_sections(binfix, tmp_path):
    """Two real MinGW builds of the same program, one linked without ASLR/DEP/high-entropy-VA."""
    import shutil

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(binfix.pe("hardened.exe"), a / "app.exe")
    shutil.copy(binfix.pe("nodyn.exe"), b / "app.exe")
    res = diff(a, b)
    assert res.returncode == 1, res.stderr
    (changed,) = json.loads(res.stdout)["files"]
    assert changed["path"] == "app.exe" and changed["modules"] == []
    headers = {h.split(":")[0] for h in changed["headers"]}
    assert "OPTIONAL_HEADER.DllCharacteristics" in headers
    line = next(h for h in changed["headers"] if h.startswith("OPTIONAL_HEADER.DllCharacteristics:"))
    before, after = (int(v, 0) for v in line.split(": ", 1)[1].split(" -> "))
    assert before & 0x160 == 0x160 and after & 0x160 == 0  # DYNAMIC_BASE, NX_COMPAT, HIGH_ENTROPY_VA dropped


@pytest.mark.nuitka
def test_own_source_file_in_the_dist_is_reported(exposed_release, tmp_path):
    """A real release dist with one of the app's sources copied in, as a wrong include_data would."""
    import shutil

    dist = tmp_path / "exposed.dist"
    shutil.copytree(exposed_release, dist, symlinks=True)
    shutil.copy(exposed_release.parent / "exposed.report.xml", tmp_path / "exposed.report.xml")
    (dist / "exposed_app").mkdir(exist_ok=True)
    shutil.copy(SAMPLES / "exposed" / "exposed_app" / "core.py", dist / "exposed_app" / "core.py")
    doc = exposure(dist)
    assert {(s["name"], s["form"], s["path"], s["own"]) for s in doc["shipped"] if s["form"] == "source"} == {
        ("exposed_app.core", "source", "exposed_app/core.py", True)}
    res = hardnut_cli("verify", str(dist), "-p", str(PROFILE), "--format", "json")
    assert res.returncode == 1, res.stderr  # high, in a --deployment build
    found = [f for f in json.loads(res.stdout)["findings"] if f["rule"] == "HN-EXP-002"]
    assert [(f["path"], f["severity"], f["module"]) for f in found] == [("exposed_app/core.py", "high", "exposed_app.core")]


def test_classify_module_equals_the_plain_reading(exposed_variant):
    """classify_module decodes a constant's text and shortens its sample only when needed: the same
    classes, counts, sizes and samples as classifying every constant with its text (the reference
    below), with and without the module's source, with secrets among the constants."""
    from hardnut.exposure import (SAMPLES as N, ConstantClass, classify_module, looks_like_docstring,
                                  looks_like_path, secret_offsets, shorten)
    from hardnut.inspect.constants_blob import read_constants_blob
    from hardnut.model import mask

    def reference(part, facts, secret_at):
        classes = {}
        for s in part.strings:
            text = s.text
            shown = mask(text) if s.offset in secret_at else shorten(text)
            if s.kind == "bytes":
                cls = "bytes"
            elif s.kind == "attr":
                cls = "identifiers"
            elif facts is not None and s.raw in facts.docstrings:
                cls = "docstrings"
            elif facts is not None and s.raw in facts.asserts:
                cls = "assert_messages"
            elif looks_like_path(text):
                cls = "paths"
            elif facts is None and looks_like_docstring(text):
                cls = "docstrings"
            else:
                cls = "strings"
            c = classes.setdefault(cls, ConstantClass())
            c.count, c.bytes = c.count + 1, c.bytes + s.length
            if len(c.samples) < N:
                c.samples.append(shown)
        return {k: v.to_dict() for k, v in classes.items()}

    [exe] = [p for p in exposed_variant.iterdir() if p.name == "exposed"]
    blob = read_constants_blob(exe)
    found = secret_offsets(blob)
    every_ninth = {s.offset for m in blob.modules for s in m.strings[::9]}
    facts = type("Facts", (), {"docstrings": {s.raw for m in blob.modules for s in m.strings[::5]},
                               "asserts": {s.raw for m in blob.modules for s in m.strings[1::11]}})()
    assert found and len(blob.modules) > 3
    for secret_at in (found, every_ninth, set()):
        for source in (None, facts):
            for part in blob.modules:
                got = classify_module(part, "exposed", False, source, secret_at)
                want = reference(part, source, secret_at)
                assert {k: v.to_dict() for k, v in got.classes.items() if v.count} == want, part.name
                assert got.secrets_masked == sum(s.offset in secret_at for s in part.strings)
