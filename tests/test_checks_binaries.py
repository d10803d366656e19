"""The dependency, debug and hardening checks on real binaries: gcc and MinGW fixtures, a real MSVC .pyd,
a real Nuitka standalone build, and corrupted copies (an unreadable-binary finding, never a crash)."""

from __future__ import annotations

import re
import shutil

import pytest

from hardnut.checks import all_rules
from hardnut.checks.base import VerifyConfig
from hardnut.checks.dependency import main_programs
from hardnut.inspect import lddtree
from hardnut.model import Severity
from helpers_binaries import (  # noqa: F401
    binfix,
    by_rule,
    pyd_of,
    readelf,
    rules_of,
    run_binary_checks,
    truncated,
    win_wheel,
)


# ------------------------------------------------------------------------------------ dependency


def test_elf_dist_resolves(binfix):
    findings, ctx = run_binary_checks(binfix.dist("elf_ok"))
    assert by_rule(findings, "HN-DEP-001") == []
    assert ctx.facts["system_libraries"] == ["libc.so.6"]
    assert main_programs(ctx) == {"app"}  # sub/tool is an executable, but not at the dist root


def test_elf_missing_library(binfix):
    findings, _ = run_binary_checks(binfix.dist("elf_missing"))
    (f,) = by_rule(findings, "HN-DEP-001")
    assert (f.path, f.library, f.severity, f.category) == ("app", "libgone.so", Severity.HIGH, "dependency")
    assert "app needs library libgone.so" in f.message and "RUNPATH $ORIGIN" in f.message


def test_elf_wrong_class_does_not_satisfy(binfix):
    binfix.need("elf32", "gcc -m32 cannot build 32-bit objects here")
    findings, _ = run_binary_checks(binfix.dist("elf_mismatch"))
    (f,) = by_rule(findings, "HN-DEP-001")
    assert f.library == "libok.so.1" and "libok.so.1 has the name but another machine/class" in f.message


def test_allow_external(binfix):
    for allow in (("libgone.so",), ("libgo*",)):
        findings, _ = run_binary_checks(binfix.dist("elf_missing"), VerifyConfig(allow_external=allow))
        assert by_rule(findings, "HN-DEP-001") == []
        (f,) = by_rule(findings, "HN-DEP-002")
        assert f.library == "libgone.so" and f.severity == Severity.INFO


def test_glibc_baseline_and_limit(binfix):
    dist = binfix.dist("elf_ok")
    oracle = max((tuple(map(int, v.split("."))) for p in (dist / "app", dist / "sub" / "tool", dist / "lib" / "libok.so.1.0")
                  for v in re.findall(r"Name: GLIBC_([0-9.]+)", readelf("-V", str(p)))))
    expected = ".".join(map(str, oracle))
    findings, ctx = run_binary_checks(dist)
    assert ctx.facts["glibc_max"] == expected
    (info,) = by_rule(findings, "HN-DEP-003")
    assert info.severity == Severity.INFO and f"glibc {expected} or newer" in info.message
    assert by_rule(findings, "HN-DEP-004") == []
    findings, _ = run_binary_checks(dist, VerifyConfig(require_glibc_max="2.17"))
    too_new = by_rule(findings, "HN-DEP-004")
    assert {f.path for f in too_new} == {"app", "sub/tool"} and all(f.severity == Severity.MEDIUM for f in too_new)
    findings, _ = run_binary_checks(dist, VerifyConfig(require_glibc_max=expected))
    assert by_rule(findings, "HN-DEP-004") == []


def test_pe_dist_resolves_case_insensitively(binfix):
    findings, ctx = run_binary_checks(binfix.dist("pe_ok"))
    assert by_rule(findings, "HN-DEP-001") == []  # app.exe and plugins/plugin.dll find ok.dll as Ok.DLL
    assert ctx.facts["system_libraries"] == ["KERNEL32.dll", "msvcrt.dll"]


def test_pe_missing_imports(binfix):
    findings, _ = run_binary_checks(binfix.dist("pe_missing"))
    got = {f.library: f.severity for f in by_rule(findings, "HN-DEP-001")}
    expected = {"gone.dll": Severity.HIGH}
    if binfix.manifest["pe_delay"]:
        expected["delayed.dll"] = Severity.MEDIUM  # delay-loaded: fails only when first used
    assert got == expected


def test_pe_wrong_machine_does_not_satisfy(binfix):
    binfix.need("pe32", "i686-w64-mingw32-gcc is not installed")
    findings, _ = run_binary_checks(binfix.dist("pe_mismatch"))
    (f,) = by_rule(findings, "HN-DEP-001")
    assert f.library == "ok.dll" and "another machine/class" in f.message


def test_real_windows_wheel(win_wheel, tmp_path):
    """A dist holding only the MSVC-built .pyd: python311.dll and VCRUNTIME140.dll must be bundled,
    KERNEL32 and the UCRT API sets come from Windows."""
    dist = tmp_path / "dist"
    (dist / "markupsafe").mkdir(parents=True)
    pyd = pyd_of(win_wheel)
    shutil.copy(pyd, dist / "markupsafe" / pyd.name)
    findings, ctx = run_binary_checks(dist)
    path = f"markupsafe/{pyd.name}"
    assert {f.library for f in by_rule(findings, "HN-DEP-001", path)} == {"python311.dll", "VCRUNTIME140.dll"}
    assert ctx.facts["system_libraries"] == ["api-ms-win-crt-runtime-l1-1-0.dll", "KERNEL32.dll"]
    assert main_programs(ctx) == set()
    assert rules_of(findings, path, "HN-PE") == {"HN-PE-004": "info"}  # bundled: only no CFG, as info
    assert rules_of(findings, path, "HN-DBG") == {}
    # the same .pyd beside a python311.dll of its machine resolves
    shutil.copy(pyd, dist / "python311.dll")
    findings, _ = run_binary_checks(dist)
    assert {f.library for f in by_rule(findings, "HN-DEP-001", path)} == {"VCRUNTIME140.dll"}


def test_lddtree_policy_and_origin():
    linux, windows = lddtree.load_policy("linux"), lddtree.load_policy("windows")
    assert linux.allows("libc.so.6") and linux.allows("ld-linux-x86-64.so.2") and linux.allows("libz.so.1")
    for bundled in ("libpython3.11.so.1.0", "libssl.so.3", "libcrypto.so.3", "libcrypt.so.1", "libffi.so.8"):
        assert not linux.allows(bundled)
    assert windows.allows("KERNEL32.DLL") and windows.allows("API-MS-WIN-CRT-HEAP-L1-1-0.dll")
    for bundled in ("python311.dll", "vcruntime140.dll", "msvcp140.dll", "libcrypto-3.dll"):
        assert not windows.allows(bundled)
    assert lddtree.expand_origin("$ORIGIN/../lib", "bin/app") == ("lib", "")
    assert lddtree.expand_origin("${ORIGIN}", "app") == ("", "")
    assert lddtree.expand_origin("$ORIGIN/../..", "bin/app")[0] is None
    assert lddtree.expand_origin("/usr/lib", "app") == (None, "not $ORIGIN-relative")
    assert lddtree.split_group("app.bin!/lib/x.so") == ("app.bin!/", "lib/x.so")


# ------------------------------------------------------------------------------------- hardening


@pytest.mark.parametrize("name, expected", [
    ("hardened", {}),
    ("partial_relro", {"HN-ELF-002": "medium"}),
    ("norelro", {"HN-ELF-001": "high"}),
    ("nocanary", {"HN-ELF-003": "high"}),
    ("nofortify", {"HN-ELF-005": "medium"}),
    ("nopie", {"HN-ELF-004": "high"}),
    ("execstack", {"HN-ELF-006": "high"}),
    ("plain", {"HN-ELF-001": "high", "HN-ELF-003": "high", "HN-ELF-004": "high", "HN-ELF-005": "medium",
               "HN-ELF-006": "high"}),
    ("rwx", {"HN-ELF-009": "high", "HN-ELF-003": "high"}),  # rwx.c has no array: no canary either
    ("textrel.so", {"HN-ELF-008": "high", "HN-ELF-003": "high"}),
])
def test_elf_hardening_main_program(binfix, name, expected):
    """A single file as the target: it is the main program."""
    findings, _ = run_binary_checks(binfix.elf(name))
    assert rules_of(findings, name, "HN-ELF") == expected


def test_bundled_files_are_reported_lower(binfix, tmp_path):
    dist = tmp_path / "dist"
    (dist / "sub").mkdir(parents=True)
    shutil.copy(binfix.elf("hardened"), dist / "app")
    shutil.copy(binfix.elf("plain"), dist / "sub" / "helper")
    shutil.copy(binfix.elf("partial_relro"), dist / "sub" / "partial")
    findings, ctx = run_binary_checks(dist)
    assert main_programs(ctx) == {"app"}
    assert rules_of(findings, "app", "HN-ELF") == {}
    assert rules_of(findings, "sub/helper", "HN-ELF") == {
        "HN-ELF-001": "medium", "HN-ELF-003": "low", "HN-ELF-004": "medium", "HN-ELF-005": "low",
        "HN-ELF-006": "high",  # an executable stack weakens the whole process, whoever asks for it
    }
    assert rules_of(findings, "sub/partial", "HN-ELF") == {"HN-ELF-002": "low"}
    assert all("(bundled)" in f.message for f in findings if f.path.startswith("sub/") and f.rule.startswith("HN-ELF"))


def test_declared_main_program(binfix, tmp_path):
    """main_programs given by the build (or profile) replace the dist-root heuristic."""
    dist = tmp_path / "dist"
    (dist / "bin").mkdir(parents=True)
    shutil.copy(binfix.elf("nocanary"), dist / "bin" / "prog")
    shutil.copy(binfix.elf("nocanary"), dist / "other")
    findings, ctx = run_binary_checks(dist, main_programs=["bin/prog"])
    assert main_programs(ctx) == {"bin/prog"}
    assert rules_of(findings, "bin/prog", "HN-ELF") == {"HN-ELF-003": "high"}
    assert rules_of(findings, "other", "HN-ELF") == {"HN-ELF-003": "low"}


def test_unsafe_rpath(binfix):
    findings, _ = run_binary_checks(binfix.dist("elf_rpath"))
    (f,) = by_rule(findings, "HN-ELF-007")
    assert f.severity == Severity.HIGH and f.category == "hardening"
    assert "RPATH /home/alice/lib is an absolute path" in f.message
    assert "RPATH $ORIGIN/../../outside leaves the artifact" in f.message
    assert by_rule(findings, "HN-DEP-001") == []  # libok.so.1 is found at the dist root
    findings, _ = run_binary_checks(binfix.dist("elf_ok"))
    assert by_rule(findings, "HN-ELF-007") == []  # $ORIGIN/lib and ${ORIGIN}/../lib stay inside


@pytest.mark.parametrize("name, expected", [
    ("hardened.exe", {"HN-PE-004": "low", "HN-PE-006": "info"}),
    ("nodyn.exe", {"HN-PE-001": "high", "HN-PE-003": "high", "HN-PE-004": "low", "HN-PE-006": "info"}),
    ("wx.exe", {"HN-PE-005": "high", "HN-PE-004": "low", "HN-PE-006": "info"}),
])
def test_pe_hardening_main_program(binfix, name, expected):
    findings, _ = run_binary_checks(binfix.pe(name))
    assert rules_of(findings, name, "HN-PE") == expected


def test_pe_bundled_files(binfix, tmp_path):
    """A bundled exe without DEP stays high (an exe decides DEP for its process); a bundled DLL without
    NX_COMPAT is low (the flag has no effect in a DLL)."""
    import pefile

    dist = tmp_path / "dist"
    (dist / "tools").mkdir(parents=True)
    shutil.copy(binfix.pe("hardened.exe"), dist / "app.exe")
    shutil.copy(binfix.pe("nodyn.exe"), dist / "tools" / "helper.exe")
    pe = pefile.PE(str(binfix.dist("pe_ok") / "Ok.DLL"))
    pe.OPTIONAL_HEADER.DllCharacteristics &= ~0x0100  # clear NX_COMPAT
    (dist / "tools" / "ok.dll").write_bytes(pe.write())
    pe.close()
    findings, _ = run_binary_checks(dist)
    assert rules_of(findings, "tools/helper.exe", "HN-PE") == {
        "HN-PE-001": "medium", "HN-PE-003": "high", "HN-PE-004": "info"}
    assert rules_of(findings, "tools/ok.dll", "HN-PE") == {"HN-PE-003": "low", "HN-PE-004": "info"}


# ----------------------------------------------------------------------------------------- debug


def test_debug_main_program(binfix):
    path = binfix.elf("debug")
    raw = path.read_bytes()
    findings, _ = run_binary_checks(path)
    assert rules_of(findings, "debug", "HN-DBG") == {"HN-DBG-001": "high", "HN-DBG-002": "medium",
                                                      "HN-DBG-003": "high"}
    (paths,) = by_rule(findings, "HN-DBG-003")
    assert binfix.manifest["comp_dir"] in paths.message and "/home/alice/src/hardnut-fixture/hello.c" in paths.message
    text = raw[paths.offset:paths.offset + paths.length].decode()
    assert text in (binfix.manifest["comp_dir"], "/home/alice/src/hardnut-fixture/hello.c")
    (dwarf,) = by_rule(findings, "HN-DBG-001")
    assert ".debug_info" in dwarf.message and "hello.c" in dwarf.message


def test_debug_bundled_file(binfix, tmp_path):
    dist = tmp_path / "dist"
    (dist / "lib").mkdir(parents=True)
    shutil.copy(binfix.elf("hardened"), dist / "app")
    shutil.copy(binfix.elf("debug"), dist / "lib" / "debug")
    findings, _ = run_binary_checks(dist)
    assert rules_of(findings, "app", "HN-DBG") == {}
    assert rules_of(findings, "lib/debug", "HN-DBG") == {"HN-DBG-011": "info", "HN-DBG-012": "low"}
    (f,) = by_rule(findings, "HN-DBG-012")
    raw = (dist / "lib" / "debug").read_bytes()
    assert raw[f.offset:f.offset + f.length].decode() in f.message


def test_stripped_program_has_no_debug_findings(binfix):
    findings, _ = run_binary_checks(binfix.elf("hardened"))
    assert rules_of(findings, "hardened", "HN-DBG") == {}
    findings, _ = run_binary_checks(binfix.elf("unstripped"))
    assert rules_of(findings, "unstripped", "HN-DBG") == {"HN-DBG-002": "medium"}


def test_pe_debug_main_program(binfix):
    path = binfix.pe("debug.exe")
    raw = path.read_bytes()
    findings, _ = run_binary_checks(path)
    assert rules_of(findings, "debug.exe", "HN-DBG") == {
        "HN-DBG-001": "high", "HN-DBG-002": "medium", "HN-DBG-003": "high", "HN-DBG-004": "medium"}
    (pdb,) = by_rule(findings, "HN-DBG-004")
    assert raw[pdb.offset:pdb.offset + pdb.length] == b"hello.pdb"
    (paths,) = by_rule(findings, "HN-DBG-003")
    assert raw[paths.offset:paths.offset + paths.length] == b"C:\\Users\\alice\\src\\hardnut-fixture\\hello.c"


def test_findings_are_stable_across_rebuilds(binfix, tmp_path):
    """Fingerprints of debug findings do not depend on offsets or counts in the message."""
    first, _ = run_binary_checks(binfix.elf("debug"))
    shutil.copy(binfix.elf("debug"), tmp_path / "debug")
    with open(tmp_path / "debug", "ab") as fh:  # shifts nothing, but adds one more path occurrence
        fh.write(b"\0/home/alice/src/hardnut-fixture/other.c\0")
    second, _ = run_binary_checks(tmp_path / "debug")
    fp = lambda fs: {f.rule: f.fingerprint for f in fs if f.rule.startswith("HN-DBG")}  # noqa: E731
    assert by_rule(first, "HN-DBG-003")[0].message != by_rule(second, "HN-DBG-003")[0].message
    assert fp(first) == fp(second)


# ------------------------------------------------------------------------------ unreadable binaries


def test_corrupted_binaries_give_one_unreadable_finding(binfix, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    shutil.copy(binfix.elf("hardened"), dist / "app")
    elf = binfix.elf("debug")
    truncated(elf, dist / "cut.so", elf.stat().st_size // 2)
    raw = bytearray(elf.read_bytes())
    raw[0x3A:0x3C] = b"\0\0"  # e_shentsize = 0
    (dist / "bad.so").write_bytes(bytes(raw))
    names = ["cut.so", "bad.so"]
    if binfix.manifest["pe"]:
        pe = binfix.pe("debug.exe")
        truncated(pe, dist / "cut.dll", pe.stat().st_size - 100)
        names.append("cut.dll")
    findings, _ = run_binary_checks(dist)
    unreadable = by_rule(findings, "HN-WALK-003")
    assert sorted(f.path for f in unreadable) == sorted(names)  # once per file, though three checks ran
    for f in unreadable:
        assert (f.category, f.severity) == ("leftover", Severity.HIGH)
        assert f.message.startswith(("unreadable ELF binary:", "unreadable PE binary:"))
    assert rules_of(findings, "app", "HN-ELF") == {}  # the good file is still checked


def test_rules_are_registered():
    rules = all_rules()
    for rid in ["HN-DEP-001", "HN-DEP-004", "HN-DBG-001", "HN-DBG-012", "HN-ELF-001", "HN-ELF-009", "HN-PE-001",
                "HN-PE-007"]:
        assert rid in rules and rules[rid].explanation
    assert rules["HN-ELF-006"].category == "hardening" and rules["HN-DBG-003"].category == "debug"
    assert any("checksec" in ref for ref in rules["HN-ELF-001"].references)
    assert "BA2009" in rules["HN-PE-001"].explanation and "BA3030" in rules["HN-ELF-005"].explanation


# ----------------------------------------------------------------------------- real Nuitka build


@pytest.mark.nuitka
def test_real_nuitka_standalone(planted_standalone):
    """hardnut's own hardened standalone build: libpython is linked into the main program, only the
    glibc family (and libz) come from the system, and the main program is full RELRO + canary +
    FORTIFY + PIE + NX."""
    findings, ctx = run_binary_checks(planted_standalone)
    mains = main_programs(ctx)
    assert len(mains) == 1
    (main,) = mains
    assert "/" not in main
    assert by_rule(findings, "HN-DEP-001") == []
    linux = lddtree.load_policy("linux")
    assert all(linux.allows(lib) for lib in ctx.facts["system_libraries"])
    assert not any(lib.startswith(("libpython", "libssl", "libcrypto")) for lib in ctx.facts["system_libraries"])
    assert rules_of(findings, main, "HN-ELF") == {}
    # the interpreter's own prefix and build tree (pyenv: /root/.pyenv/..., /tmp/python-build...) are low
    assert by_rule(findings, "HN-DBG-003") == [] and by_rule(findings, "HN-DBG-001") == []
    assert all(f.severity == Severity.LOW for f in by_rule(findings, "HN-DBG-005"))
    assert re.fullmatch(r"2\.\d+", ctx.facts["glibc_max"])
    # bundled CPython extension modules: reported, but never above low for these gaps
    for f in findings:
        if f.path != main and f.rule in ("HN-ELF-002", "HN-ELF-003", "HN-ELF-005", "HN-DBG-011", "HN-DBG-012"):
            assert f.severity <= Severity.LOW


def test_time_limit_gives_limit_finding(binfix):
    from hardnut.limits import Limits

    findings, _ = run_binary_checks(binfix.elf("debug"), VerifyConfig(limits=Limits(file_timeout=1e-6)))
    (f,) = by_rule(findings, "HN-WALK-004")
    assert f.path == "debug" and f.message.startswith("ELF binary not fully inspected")
    assert by_rule(findings, "HN-WALK-003") == [] and rules_of(findings, "debug", "HN-DBG") == {}


def test_python_installation_paths_are_told_apart():
    from hardnut.checks.debug import split_runtime_paths

    paths = [(p, None, None) for p in (
        "/root/.pyenv/versions/3.11.7", "/root/.pyenv/versions/3.11.7/lib/python3.11",
        "/root/.pyenv/versions/3.11.7/include", "/tmp/python-build.2026/Python-3.11.7/Modules",
        "/build/python3.11-kWXy/Objects", "/tmp/myimport.zip/mydirectory",
        "/home/alice/src/app/main.c", "/root/project/build/x.c", "/root/.pyenv/versions/3.11.7x/evil")]
    own, runtime = split_runtime_paths(paths)
    assert [p for p, _, _ in own] == ["/home/alice/src/app/main.c", "/root/project/build/x.c",
                                      "/root/.pyenv/versions/3.11.7x/evil"]
    assert len(runtime) == 6
