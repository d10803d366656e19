"""Mach-O facts and rules, and code signatures (Mach-O and PE Authenticode), on real files from
PyPI wheels (see helpers_macos.py) and copies edited the way real tools break them."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from helpers_binaries import binfix, by_rule, run_binary_checks  # noqa: F401
from helpers_macos import identity_sign, msvc_dlls, wheels, with_section  # noqa: F401

from hardnut.checks.base import VerifyConfig
from hardnut.inspect.authenticode import inspect_authenticode
from hardnut.inspect.elf import BinaryParseError
from hardnut.inspect.macho import CS_ADHOC, inspect_macho
from hardnut.verify import VerifyOptions, verify_target


def _verify(target: Path, **config):
    return verify_target(target, VerifyOptions(config=VerifyConfig(**config)))


def test_thin_arm64_facts(wheels):
    f = inspect_macho(wheels["pillow"] / "PIL" / "_imaging.cpython-311-darwin.so")
    assert not f.fat and f.archs == ("arm64",)
    sl = f.slices[0]
    assert sl.filetype_name == "MH_BUNDLE" and sl.min_os == "11.0" and sl.platform == 1
    assert ("load", "/usr/lib/libSystem.B.dylib") in sl.dylibs
    assert any(n.startswith("@loader_path/.dylibs/") for _k, n in sl.dylibs)
    assert sl.canary
    assert sl.oso_paths and sl.oso_paths[0].text.startswith("/Users/runner/")
    sig = sl.signature
    assert sig is not None and sig.adhoc and sig.hashes_match and sig.flag(CS_ADHOC)
    assert sig.primary.hash_type == "sha256" and sig.primary.code_slots > 10


def test_fat_universal2_every_slice(wheels):
    so = next((wheels["markupsafe-universal2"] / "markupsafe").glob("*.so"))
    f = inspect_macho(so)
    assert f.fat and set(f.archs) == {"x86_64", "arm64"}
    by_arch = {s.arch: s for s in f.slices}
    assert by_arch["x86_64"].min_os == "10.9" and by_arch["arm64"].min_os == "11.0"
    assert by_arch["x86_64"].signature is None  # the x86_64 linker does not sign
    assert by_arch["arm64"].signature.hashes_match and "linker-signed" in by_arch["arm64"].signature.primary.flag_names
    findings, _ctx = run_binary_checks(so.parent)
    unsigned = by_rule(findings, "HN-MACHO-006")
    assert len(unsigned) == 1 and "x86_64 slice" in unsigned[0].message


def test_real_wheel_dist_resolves(wheels):
    findings, ctx = run_binary_checks(wheels["pillow"])
    assert not by_rule(findings, "HN-DEP-001") and not by_rule(findings, "HN-DEP-005")
    assert "/usr/lib/libSystem.B.dylib" in ctx.facts["system_libraries"]
    assert ctx.facts["macos_min"] == "11.0"


def test_deleted_dylib_names_the_importers(wheels, tmp_path):
    dist = tmp_path / "dist"
    shutil.copytree(wheels["pillow"] / "PIL", dist / "PIL")
    (dist / "PIL" / ".dylibs" / "libjpeg.62.4.0.dylib").unlink()
    findings, _ctx = run_binary_checks(dist)
    missing = by_rule(findings, "HN-DEP-001")
    importers = {f.path for f in missing if f.library.endswith("libjpeg.62.4.0.dylib")}
    assert importers == {"PIL/_imaging.cpython-311-darwin.so", "PIL/.dylibs/libtiff.6.dylib"}
    assert all(f.severity.label == "high" for f in missing)


def _patch_install_name(path: Path, old: bytes, new: bytes) -> None:
    """What install_name_tool -change does when the new name fits in the load command (its zero padding)."""
    raw = bytearray(path.read_bytes())
    i = raw.index(old + b"\0")
    width = max(len(old), len(new)) + 1
    assert not raw[i + len(old):i + width].strip(b"\0"), "the new name does not fit the load command"
    raw[i:i + width] = new + b"\0" * (width - len(new))
    path.write_bytes(bytes(raw))


def test_homebrew_install_name_and_broken_signature(wheels, tmp_path):
    dist = tmp_path / "dist"
    shutil.copytree(wheels["pillow"] / "PIL", dist / "PIL")
    so = dist / "PIL" / "_imaging.cpython-311-darwin.so"
    _patch_install_name(so, b"@loader_path/.dylibs/libtiff.6.dylib", b"/opt/homebrew/lib/libtiff.6.dylib")
    result = _verify(dist)
    host = [f for f in result.findings if f.rule == "HN-DEP-005"]
    assert len(host) == 1 and host[0].path == "PIL/_imaging.cpython-311-darwin.so"
    assert "Homebrew" in host[0].message and host[0].library == "/opt/homebrew/lib/libtiff.6.dylib"
    # editing the load command invalidates page 0 of the ad-hoc signature, as on a real Mac
    sig = [f for f in result.findings if f.rule == "HN-SIG-001"]
    assert [f.path for f in sig] == ["PIL/_imaging.cpython-311-darwin.so"] and "page 0" in sig[0].message
    rec = {r.path: r for r in result.files}["PIL/_imaging.cpython-311-darwin.so"]
    assert rec.signed is True and rec.signature["valid"] is False and rec.signature["type"] == "adhoc"


def test_require_macos_min_and_signed(wheels):
    result = _verify(wheels["pillow"], require_macos_min="10.15", require_signed=("*",))
    too_new = [f for f in result.findings if f.rule == "HN-DEP-007"]
    assert too_new and "arm64 11.0" in too_new[0].message
    adhoc = [f for f in result.findings if f.rule == "HN-SIG-002"]
    assert adhoc and all("ad-hoc" in f.message for f in adhoc)
    ok = _verify(wheels["pillow"], require_macos_min="11.0")
    assert not [f for f in ok.findings if f.rule in ("HN-DEP-007", "HN-SIG-002")]


def test_msvc_runtime_signed_and_tampered(wheels, tmp_path):
    src = msvc_dlls(wheels["msvc-runtime"])
    dll = src / "msvcp140.dll"
    facts = inspect_authenticode(dll)
    assert facts.signed and facts.valid and facts.digest_matches
    assert "Microsoft" in facts.signer and facts.signing_time.startswith("20")
    assert len(facts.chain) >= 2 and facts.digest_algorithm == "sha256"
    dist = tmp_path / "dist"
    dist.mkdir()
    for name in ("msvcp140.dll", "vcruntime140.dll", "concrt140.dll"):
        if (src / name).exists():
            shutil.copy(src / name, dist / name)
    raw = bytearray(dll.read_bytes())
    raw[0x2000] ^= 0x01  # one byte of code
    (dist / "tampered.dll").write_bytes(bytes(raw))
    result = _verify(dist, require_signed=("*.dll",))
    sig = [f for f in result.findings if f.rule.startswith("HN-SIG")]
    assert [(f.rule, f.path, f.severity.label) for f in sig] == [("HN-SIG-001", "tampered.dll", "high")]
    files = {r.path: r.to_dict() for r in result.files}
    assert files["msvcp140.dll"]["signed"] is True and files["msvcp140.dll"]["signature"]["valid"] is True
    assert files["tampered.dll"]["signature"]["valid"] is False
    json.dumps(files)  # serialisable as the JSON report's files entries


def test_unsigned_pe_required(binfix, tmp_path):
    exe = binfix.pe("hardened.exe")
    dist = tmp_path / "d"
    dist.mkdir()
    shutil.copy(exe, dist / "app.exe")
    assert not [f for f in _verify(dist).findings if f.rule == "HN-SIG-002"]
    found = [f for f in _verify(dist, require_signed=("*",)).findings if f.rule == "HN-SIG-002"]
    assert [f.path for f in found] == ["app.exe"]


def test_truncated_and_garbage_macho(wheels, tmp_path):
    src = (wheels["pillow"] / "PIL" / "_imaging.cpython-311-darwin.so").read_bytes()
    for n, data in enumerate((src[:100], src[:4] + b"\xff" * 60, b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + b"\0" * 40)):
        p = tmp_path / f"bad{n}.so"
        p.write_bytes(data)
        with pytest.raises(BinaryParseError):
            inspect_macho(p)
        result = _verify(p)
        assert not [f for f in result.findings if f.rule == "HN-TOOL-001"]


def test_java_class_is_not_fat_macho(tmp_path):
    from hardnut.artifact.walk import sniff

    assert sniff(b"\xca\xfe\xba\xbe\x00\x00\x00\x34" + b"\0" * 32) == "data"  # class file, Java 8
    assert sniff(b"\xca\xfe\xba\xbe\x00\x00\x00\x02" + b"\0" * 32) == "macho"


def test_onefile_payload_in_macho_section(wheels, tmp_path):
    from helpers_onefile import nuitka_payload

    dist = tmp_path / "app.dist"
    (dist / "data").mkdir(parents=True)
    shutil.copy(wheels["psutil"] / "psutil" / "_psutil_posix.abi3.so", dist / "app")
    shutil.copy(wheels["pillow"] / "PIL" / ".dylibs" / "libXau.6.dylib", dist / "libXau.6.dylib")
    (dist / "data" / "settings.env").write_text("GITHUB_TOKEN=ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A" + "\n")
    blob = nuitka_payload(dist, "app", compressed=True)
    host = wheels["pillow"] / "PIL" / "_imagingmath.cpython-311-darwin.so"
    onefile = with_section(host, "payload_bin", blob, tmp_path / "app")
    result = _verify(onefile)
    paths = {r.path: r for r in result.files}
    assert paths["app"].format == "onefile"
    assert {"app!/app", "app!/libXau.6.dylib", "app!/data/settings.env"} <= set(paths)
    assert paths["app!/libXau.6.dylib"].format == "macho" and paths["app!/libXau.6.dylib"].signed is True
    secrets = [f for f in result.findings if f.category == "secret" and f.path == "app!/data/settings.env"]
    assert secrets and all("aB3dE5fG7hJ9" not in f.message for f in secrets)


def test_app_bundle_executable_path_and_main_program(wheels, tmp_path):
    """An .app layout: the fat ninja program in Contents/MacOS is the main program; a module beside it
    loads a dylib by @executable_path/../lib (its load command edited in a copy, as install_name_tool
    would)."""
    app = tmp_path / "Tool.app" / "Contents"
    (app / "MacOS").mkdir(parents=True)
    shutil.copy(wheels["ninja"] / "ninja" / "data" / "bin" / "ninja", app / "MacOS" / "tool")
    shutil.copytree(wheels["pillow"] / "PIL" / ".dylibs", app / "MacOS" / ".dylibs")
    shutil.copytree(wheels["pillow"] / "PIL" / ".dylibs", app / "lib")
    so = app / "MacOS" / "_imaging.so"
    shutil.copy(wheels["pillow"] / "PIL" / "_imaging.cpython-311-darwin.so", so)
    _patch_install_name(so, b"@loader_path/.dylibs/libtiff.6.dylib", b"@executable_path/../lib/libtiff.6.dylib")
    findings, ctx = run_binary_checks(tmp_path)
    main = "Tool.app/Contents/MacOS/tool"
    from hardnut.checks.dependency import main_programs

    assert main_programs(ctx) == {main}
    assert not by_rule(findings, "HN-DEP-001")
    # the main program: PIE, canary and __PAGEZERO are fine; unsigned x86_64 slice (medium), the arm64
    # slice only linker-signed: no hardened runtime, no library validation, ad-hoc
    mine = {f.rule: f for f in findings if f.path == main}
    assert set(mine) == {"HN-MACHO-006", "HN-MACHO-007", "HN-MACHO-008", "HN-MACHO-009"}
    assert mine["HN-MACHO-006"].severity.label == "medium" and "x86_64 slice" in mine["HN-MACHO-006"].message
    assert mine["HN-MACHO-007"].severity.label == "medium"
    (app / "lib" / "libtiff.6.dylib").unlink()
    findings, _ctx = run_binary_checks(tmp_path)
    missing = by_rule(findings, "HN-DEP-001", "Tool.app/Contents/MacOS/_imaging.so")
    assert len(missing) == 1 and "@executable_path" in missing[0].message


def test_rules_are_listed():
    from hardnut.checks import all_rules

    rules = all_rules()
    for rid in ("HN-DEP-005", "HN-DEP-006", "HN-DEP-007", "HN-DBG-006", "HN-DBG-007", "HN-SIG-001", "HN-SIG-002",
                *(f"HN-MACHO-00{i}" for i in range(1, 10))):
        assert rid in rules and rules[rid].explanation and rules[rid].references, rid


# ------------------------------------------------------------------- identity (CMS) signed Mach-O


def test_identity_signed_macho(wheels, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    lib = identity_sign(wheels["pillow"] / "PIL" / ".dylibs" / "libXau.6.dylib", dist / "libXau.6.dylib")
    sig = inspect_macho(lib).slices[0].signature
    assert not sig.adhoc and sig.cms_size > 0 and sig.cms_valid, sig.cms_error
    assert sig.hashes_match and "runtime" in sig.primary.flag_names
    assert sig.signer.startswith("Developer ID Application: hardnut test") and sig.signing_time
    result = _verify(dist, require_signed=("*",))
    assert not [f for f in result.findings if f.rule.startswith("HN-SIG")]
    rec = {r.path: r for r in result.files}["libXau.6.dylib"]
    assert rec.signature["type"] == "identity" and rec.signature["valid"] is True
    assert rec.signature["signer"].startswith("Developer ID Application")

    # one byte of code changed after signing: the page hash no longer matches
    raw = bytearray(lib.read_bytes())
    raw[0x4010] ^= 0xFF
    lib.write_bytes(bytes(raw))
    bad = [f for f in _verify(dist).findings if f.rule == "HN-SIG-001"]
    assert len(bad) == 1 and "page hash" in bad[0].message and "page 4" in bad[0].message


def test_identity_signature_with_a_forged_code_directory(wheels, tmp_path):
    """Page hashes rewritten to match modified code, but the CMS signature still covers the original
    CodeDirectory: the CMS check catches it."""
    lib = identity_sign(wheels["pillow"] / "PIL" / ".dylibs" / "libXau.6.dylib", tmp_path / "lib.dylib")
    facts = inspect_macho(lib).slices[0].signature
    raw = bytearray(lib.read_bytes())
    cd_off = None
    sb = facts.offset
    count = struct.unpack(">I", raw[sb + 8:sb + 12])[0]
    for i in range(count):
        stype, off = struct.unpack(">II", raw[sb + 12 + 8 * i:sb + 20 + 8 * i])
        if stype == 0:
            cd_off = sb + off
    raw[cd_off + 12] ^= 0x01  # a CodeDirectory flag bit: hashes still match, the CMS digest does not
    lib.write_bytes(bytes(raw))
    sig = inspect_macho(lib).slices[0].signature
    assert sig.hashes_match and sig.cms_valid is False and "messageDigest" in sig.cms_error


def test_reports_show_the_macos_floor(wheels):
    from hardnut.checks import all_rules
    from hardnut.report import json_format, markdown_format, text_format

    result = _verify(wheels["pillow"])
    rules = all_rules()
    assert text_format.render(result, rules).rstrip().endswith("needs macOS >= 11.0")
    assert "needs macOS ≥ 11.0" in markdown_format.render(result, rules)
    doc = json.loads(json_format.render(result, rules))
    assert doc["facts"]["macos_min"] == "11.0"
    entry = next(f for f in doc["files"] if f["path"] == "PIL/_imaging.cpython-311-darwin.so")
    assert entry["format"] == "macho" and entry["signed"] is True and entry["signature"]["type"] == "adhoc"
    assert all("signed" not in f for f in doc["files"] if f["format"] not in ("macho", "pe"))


def test_control_characters_in_install_names_are_escaped(wheels, tmp_path):
    dist = tmp_path / "dist"
    shutil.copytree(wheels["pillow"] / "PIL", dist / "PIL")
    _patch_install_name(dist / "PIL" / "_imaging.cpython-311-darwin.so", b"@loader_path/.dylibs/libtiff.6.dylib",
                        b"@loader_path/\x1b[2J\x1b[31mevil.dylib")
    result = _verify(dist)
    missing = [f for f in result.findings if f.rule == "HN-DEP-001"]
    assert len(missing) == 1 and "\\x1b[2J" in missing[0].message
    assert not any("\x1b" in f.message or "\x1b" in (f.library or "") for f in result.findings)


@pytest.mark.parametrize("workers", ["in-process", "2 worker processes"])
def test_prefetch_parses_macho_once_same_report(wheels, monkeypatch, workers):
    """Mach-O files are parsed and scanned in the per-file step (hardnut.checks.perfile), in-process or in
    worker processes: the report is the one the checks make when each parses and scans on its own."""
    from helpers_golden import report

    from hardnut.checks import perfile
    from hardnut.secrets import engine

    target = wheels["pillow"]
    monkeypatch.setattr(perfile, "prefetch", lambda ctx: None)
    expected = report(target)
    monkeypatch.undo()
    if workers != "in-process":
        monkeypatch.setattr(engine, "PARALLEL_MIN_BYTES", 0)
        monkeypatch.setenv("HARDNUT_SECRETS_WORKERS", "2")
    seen = []
    original = perfile._binary_job
    monkeypatch.setattr(perfile, "_binary_job", lambda kind, *a: seen.append(kind) or original(kind, *a))
    assert report(target) == expected
    if workers == "in-process":
        assert "macho" in seen  # parsed in the per-file step, not by the checks
