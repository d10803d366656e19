"""PE facts (hardnut.inspect.pe) on MinGW-built fixtures, on a real MSVC-built .pyd from a Windows wheel,
and on truncated / corrupted copies."""

from __future__ import annotations

import random
import struct
import time

import pytest

from hardnut.inspect.pe import BinaryParseError, PeFacts, inspect_pe
from helpers_binaries import binfix, patched, pyd_of, truncated, win_wheel  # noqa: F401


def test_hardened_exe(binfix):
    f = inspect_pe(binfix.pe("hardened.exe"))
    assert isinstance(f, PeFacts)
    assert (f.machine, f.machine_id, f.is_64, f.is_dll, f.is_executable) == (
        "IMAGE_FILE_MACHINE_AMD64", 0x8664, True, False, True)
    assert f.dynamic_base and f.high_entropy_va and f.nx_compat
    assert not f.guard_cf and not f.force_integrity and not f.has_signature
    assert f.has_relocations and not f.relocs_stripped
    assert f.imports == ("KERNEL32.dll", "msvcrt.dll") and f.delay_imports == ()
    assert f.wx_sections == () and f.pdb_paths == () and f.debug_sections == () and not f.has_coff_symbols
    assert {s.name for s in f.sections} >= {".text", ".data", ".rdata", ".reloc"}


def test_no_aslr_no_dep(binfix):
    f = inspect_pe(binfix.pe("nodyn.exe"))
    assert f.dll_characteristics == 0
    assert not (f.dynamic_base or f.high_entropy_va or f.nx_compat)


def test_debug_exe(binfix):
    path = binfix.pe("debug.exe")
    f = inspect_pe(path)
    raw = path.read_bytes()
    # MinGW stores long section names in the COFF string table ("/4"): they are resolved
    assert {".debug_info", ".debug_abbrev", ".debug_line", ".debug_str"} <= set(f.debug_sections)
    assert f.has_coff_symbols
    (pdb,) = f.pdb_paths
    assert pdb.text == "hello.pdb"
    assert raw[pdb.offset:pdb.offset + pdb.length] == b"hello.pdb"
    assert raw[pdb.offset - 24:pdb.offset - 20] == b"RSDS"
    hits = {h.text: h for h in f.build_paths}
    hit = hits["C:\\Users\\alice\\src\\hardnut-fixture\\hello.c"]
    assert raw[hit.offset:hit.offset + hit.length] == hit.text.encode()


def test_wx_section(binfix):
    f = inspect_pe(binfix.pe("wx.exe"))
    assert f.wx_sections == (".wxsec",)
    (sec,) = [s for s in f.sections if s.name == ".wxsec"]
    assert sec.writable and sec.executable


def test_imports_and_delay_imports(binfix):
    f = inspect_pe(binfix.dist("pe_missing") / "app.exe")
    assert f.imports == ("gone.dll", "KERNEL32.dll", "msvcrt.dll")
    binfix.need("pe_delay", "pefile could not mark the delay-import directory")
    assert f.delay_imports == ("delayed.dll",)


def test_dll_and_32bit(binfix):
    dll = inspect_pe(binfix.dist("pe_ok") / "Ok.DLL")
    assert dll.is_dll and dll.is_64 and not dll.is_executable
    plugin = inspect_pe(binfix.dist("pe_ok") / "plugins" / "plugin.dll")
    assert plugin.imports[0] == "ok.dll"
    binfix.need("pe32", "i686-w64-mingw32-gcc is not installed")
    f = inspect_pe(binfix.dist("pe_mismatch") / "ok.dll")
    assert (f.machine, f.is_64, f.is_dll, f.high_entropy_va) == ("IMAGE_FILE_MACHINE_I386", False, True, False)


def test_real_msvc_extension_module(win_wheel):
    """markupsafe's _speedups.pyd from PyPI, linked by MSVC."""
    f = inspect_pe(pyd_of(win_wheel))
    assert f.is_dll and f.is_64 and f.machine == "IMAGE_FILE_MACHINE_AMD64"
    assert f.imports[0] == "python311.dll"
    assert {"KERNEL32.dll", "VCRUNTIME140.dll", "api-ms-win-crt-runtime-l1-1-0.dll"} <= set(f.imports)
    assert f.dynamic_base and f.high_entropy_va and f.nx_compat and f.has_relocations
    assert f.has_load_config and f.guard_flags is not None
    assert f.debug_sections == () and not f.has_coff_symbols and f.wx_sections == ()
    assert {s.name for s in f.sections} >= {".text", ".rdata", ".data", ".pdata", ".reloc"}


# ------------------------------------------------------------------------------ hostile input


@pytest.mark.parametrize("name", ["hardened.exe", "debug.exe"])
@pytest.mark.parametrize("keep", [0, 2, 0x40, 0x90, 0x200, 0.5, -1])
def test_truncated_copies_raise_parse_error(binfix, tmp_path, name, keep):
    src = binfix.pe(name)
    size = src.stat().st_size
    length = int(size * keep) if isinstance(keep, float) else (size + keep if keep < 0 else keep)
    with pytest.raises(BinaryParseError):
        inspect_pe(truncated(src, tmp_path / name, length))


def test_truncated_msvc_module(win_wheel, tmp_path):
    src = pyd_of(win_wheel)
    with pytest.raises(BinaryParseError):
        inspect_pe(truncated(src, tmp_path / "x.pyd", src.stat().st_size - 1))


def test_hostile_headers(binfix, tmp_path):
    src = binfix.pe("hardened.exe")
    raw = src.read_bytes()
    e_lfanew = struct.unpack_from("<I", raw, 0x3C)[0]
    cases = {
        "lfanew-out": (0x3C, struct.pack("<I", 0x7FFFFFF0)),
        "no-pe-sig": (e_lfanew, b"XX\0\0"),
        "sections-many": (e_lfanew + 6, struct.pack("<H", 0xFFFF)),
        "opt-size-huge": (e_lfanew + 20, struct.pack("<H", 0xFFFF)),
        "cert-table-out": (e_lfanew + 24 + 112 + 4 * 8, struct.pack("<II", len(raw) - 8, 0x1000)),
    }
    for name, (offset, data) in cases.items():
        copy = patched(src, tmp_path / name, offset, data)
        start = time.monotonic()
        with pytest.raises(BinaryParseError):
            inspect_pe(copy)
        assert time.monotonic() - start < 5, name


def test_random_corruption_only_raises_parse_error(binfix, tmp_path):
    rnd = random.Random(20240611)
    srcs = [binfix.pe("hardened.exe").read_bytes(), binfix.pe("debug.exe").read_bytes()]
    path = tmp_path / "fuzz.exe"
    for _ in range(300):
        raw = bytearray(rnd.choice(srcs))
        for _ in range(rnd.randint(1, 10)):
            raw[rnd.randrange(0, 0x400)] = rnd.randrange(256)
        path.write_bytes(bytes(raw))
        start = time.monotonic()
        try:
            inspect_pe(path)
        except BinaryParseError:
            pass
        assert time.monotonic() - start < 5


def test_not_a_pe(tmp_path):
    (tmp_path / "x").write_bytes(b"\x7fELF" + b"\0" * 100)
    with pytest.raises(BinaryParseError, match="not a PE"):
        inspect_pe(tmp_path / "x")


_MODULES_AFTER_VERIFY = """
import json, sys
from pathlib import Path
from hardnut.verify import VerifyOptions, verify_target
result = verify_target(Path(sys.argv[1]), VerifyOptions())
print(json.dumps({"loaded": sorted(m for m in sys.modules if m.startswith("hardnut.inspect.")),
                  "rules": sorted({f.rule for f in result.findings})}))
"""


def _verify_in_fresh_process(folder):
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO

    proc = subprocess.run([sys.executable, "-c", _MODULES_AFTER_VERIFY, str(folder)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_pe_and_macho_inspectors_are_imported_only_for_such_files(win_wheel, tmp_path):
    """A verify of a Linux artifact does not import the PE, Authenticode and Mach-O inspectors (14-17 ms
    of every command); one with a PE file does, and its facts are recognised as PE facts by the checks
    (the MSVC module's hardening findings need them)."""
    import shutil

    elf_only = tmp_path / "elf"
    elf_only.mkdir()
    shutil.copy(sys_binary(), elf_only / "tool")
    got = _verify_in_fresh_process(elf_only)
    assert "hardnut.inspect.elf" in got["loaded"]
    assert not {"hardnut.inspect.pe", "hardnut.inspect.macho", "hardnut.inspect.authenticode"} & set(got["loaded"])

    with_pe = tmp_path / "pe"
    shutil.copytree(elf_only, with_pe)
    shutil.copy(pyd_of(win_wheel), with_pe / "_speedups.pyd")
    got = _verify_in_fresh_process(with_pe)
    assert {"hardnut.inspect.pe", "hardnut.inspect.authenticode"} <= set(got["loaded"])
    assert "hardnut.inspect.macho" not in got["loaded"]
    from hardnut.inspect import is_facts

    facts = inspect_pe(pyd_of(win_wheel))
    assert is_facts(facts, "pe") and not is_facts(facts, "elf") and not is_facts(facts, "macho")
    assert any(r.startswith("HN-PE-") for r in got["rules"]), got["rules"]


def sys_binary():
    import shutil

    return shutil.which("true") or "/bin/true"
