"""No false alarms on what every app bundles: Windows system DLLs from the list of DLLs every supported
Windows ships, imports named without '.dll', versioned symbol names in separate debug files."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_binaries import binfix  # noqa: F401  (session fixture)

from hardnut.inspect import lddtree
from hardnut.inspect.lddtree import MISSING, SYSTEM, Node, loader_name, resolve

# Qt 6's qwindows.dll, ICU, pywin32's extension modules and other common imports that are part of Windows
SHIPPED = ("mscms.dll", "icuuc.dll", "aclui.dll", "activeds.dll", "ktmw32.dll", "loadperf.dll", "lz32.dll",
           "query.dll", "sfc.dll", "esent.dll", "logoncli.dll", "netutils.dll", "vssapi.dll", "winbio.dll",
           "winspool.drv", "MSCMS.DLL")
NOT_WINDOWS = ("vcruntime140.dll", "msvcp140.dll", "python311.dll", "libcrypto-3-x64.dll", "qt6core.dll")


def _pe(path: str, needed: tuple[str, ...]) -> Node:
    return Node(path, "pe", ("pe", 0x8664, True), needed)


def test_dlls_every_supported_windows_ships_are_system():
    deps = {d.library: d for d in resolve([_pe("platforms/qwindows.dll", SHIPPED + NOT_WINDOWS)])}
    assert [lib for lib in SHIPPED if deps[lib].status != SYSTEM] == []
    assert [lib for lib in NOT_WINDOWS if deps[lib].status != MISSING] == []  # redistributables must be bundled


def test_policy_notes_its_source():
    policy = lddtree.load_policy("windows")
    assert "delvewheel" in policy.source and "Windows 10" in policy.source and len(policy.names) > 1500


@pytest.mark.parametrize("name, expected", [("icuuc", "icuuc.dll"), ("ICUUC", "ICUUC.dll"), ("icuuc.dll", "icuuc.dll"),
                                            ("winspool.drv", "winspool.drv"), ("noext.", "noext")])
def test_loader_name(name, expected):
    assert loader_name(name) == expected


def test_import_without_extension_resolves_like_the_loader():
    nodes = [_pe("app.exe", ("icuuc", "mylib")), _pe("mylib.dll", ())]
    deps = {d.library: d for d in resolve(nodes)}
    assert deps["icuuc"].status == SYSTEM
    assert deps["mylib"].status == "bundled" and deps["mylib"].provider == "mylib.dll"


def test_delvewheel_libs_folders_are_searched():
    """delvewheel (numpy, scipy, h5py, shapely... on Windows) puts a wheel's DLLs in `<name>.libs` beside
    the package, which adds it with os.add_dll_directory() at import; Nuitka keeps that layout. A DLL
    elsewhere, or a `.libs` folder below another package, is still not on the search path."""
    blas = "libopenblas64__v0.3.23-gcc_10_3_0-2bde3a66.dll"
    nodes = [_pe("numpy/core/_multiarray_umath.cp311-win_amd64.pyd", (blas, "kernel32.dll", "gone.dll")),
             _pe(f"numpy.libs/{blas}", ()),
             _pe("vendor/tree/zmq/backend/cython/_zmq.pyd", ("libzmq-v141-mt-4_3_5-2a.dll",)),
             _pe("vendor/tree/pyzmq.libs/libzmq-v141-mt-4_3_5-2a.dll", ()),
             _pe("other/gone.dll", ()), _pe("scipy/scipy.libs/only-for-scipy.dll", ()),
             _pe("app.exe", ("only-for-scipy.dll",))]
    deps = {(d.importer, d.library): d for d in resolve(nodes)}
    found = deps[("numpy/core/_multiarray_umath.cp311-win_amd64.pyd", blas)]
    assert (found.status, found.provider) == ("bundled", f"numpy.libs/{blas}")
    assert found.via.startswith("numpy.libs ")
    zmq = deps[("vendor/tree/zmq/backend/cython/_zmq.pyd", "libzmq-v141-mt-4_3_5-2a.dll")]
    assert zmq.provider == "vendor/tree/pyzmq.libs/libzmq-v141-mt-4_3_5-2a.dll"  # another name, a folder above
    gone = deps[("numpy/core/_multiarray_umath.cp311-win_amd64.pyd", "gone.dll")]
    assert gone.status == MISSING and "*.libs folders" in gone.searched
    assert deps[("app.exe", "only-for-scipy.dll")].status == MISSING  # scipy.libs is not beside app.exe's folders


def test_a_dll_another_file_loads_counts_as_loaded():
    """Windows reuses a DLL of the same name that is already loaded: Qt's plugins need Qt6Core.dll,
    which QtCore.pyd loaded from its own folder; pygame's _sdl2 modules need the SDL2.dll beside
    pygame's first module. A DLL nobody finds stays missing; so does one of another machine."""
    nodes = [_pe("PySide6/QtCore.pyd", ("Qt6Core.dll",)), _pe("PySide6/Qt6Core.dll", ()),
             _pe("PySide6/plugins/platforms/qwindows.dll", ("Qt6Core.dll", "Qt6Gui.dll")),
             _pe("PySide6/Qt6Gui.dll", ()),
             Node("x86/plugin32.dll", "pe", ("pe", 0x14C, False), ("Qt6Core.dll",))]
    deps = {(d.importer, d.library): d for d in resolve(nodes)}
    core = deps[("PySide6/plugins/platforms/qwindows.dll", "Qt6Core.dll")]
    assert (core.status, core.provider) == ("bundled", "PySide6/Qt6Core.dll")
    assert core.via.startswith("loaded by PySide6/QtCore.pyd")
    assert deps[("PySide6/plugins/platforms/qwindows.dll", "Qt6Gui.dll")].status == MISSING  # nobody loads it
    assert deps[("x86/plugin32.dll", "Qt6Core.dll")].status == MISSING  # a 32-bit DLL needs a 32-bit one


def _elf(path: str, needed: tuple[str, ...] = (), rpath: tuple[str, ...] = (), runpath: tuple[str, ...] = ()) -> Node:
    return Node(path, "elf", ("elf", "EM_X86_64", 64, True), needed, (), rpath, runpath)


def _wheel_layout(lib_runpath: tuple[str, ...] = (), ext_runpath: tuple[str, ...] = ()) -> list[Node]:
    """An auditwheel-repaired package (fiona 1.10's layout): the extension module has DT_RPATH
    $ORIGIN/../pkg.libs; the libraries there have none and need each other, two levels deep."""
    ext_rpath = () if ext_runpath else ("$ORIGIN/../pkg.libs",)
    return [_elf("pkg/_env.so", ("libgdal-x.so.35", "libc.so.6"), ext_rpath, ext_runpath),
            _elf("pkg.libs/libgdal-x.so.35", ("libcurl-x.so.4", "libc.so.6"), (), lib_runpath),
            _elf("pkg.libs/libcurl-x.so.4", ("libcrypto-x.so.1.1",)),
            _elf("pkg.libs/libcrypto-x.so.1.1", ("libc.so.6",))]


def test_libraries_find_each_other_through_their_loaders_rpath():
    """glibc searches the DT_RPATH of the file that loads a library (and of its loader, up the chain)
    when the library has no DT_RUNPATH: a wheel's bundled libraries are not missing."""
    deps = {(d.importer, d.library): d for d in resolve(_wheel_layout())}
    gdal = deps[("pkg/_env.so", "libgdal-x.so.35")]
    assert (gdal.status, gdal.via) == ("bundled", "RPATH $ORIGIN/../pkg.libs")
    curl = deps[("pkg.libs/libgdal-x.so.35", "libcurl-x.so.4")]
    assert (curl.status, curl.provider) == ("bundled", "pkg.libs/libcurl-x.so.4")
    assert curl.via == "RPATH $ORIGIN/../pkg.libs of pkg/_env.so, which loads it"
    crypto = deps[("pkg.libs/libcurl-x.so.4", "libcrypto-x.so.1.1")]  # two loaders up
    assert (crypto.status, crypto.provider) == ("bundled", "pkg.libs/libcrypto-x.so.1.1")
    assert not [d for d in deps.values() if d.status == MISSING]


def test_runpath_stops_the_inherited_rpath():
    """A library with DT_RUNPATH does not search its loaders' DT_RPATH, and a loader's DT_RUNPATH is
    not inherited: both leave the dependency missing, as the loader would."""
    deps = {(d.importer, d.library): d for d in resolve(_wheel_layout(lib_runpath=("$ORIGIN/elsewhere",)))}
    assert deps[("pkg.libs/libgdal-x.so.35", "libcurl-x.so.4")].status == MISSING
    deps = {(d.importer, d.library): d for d in resolve(_wheel_layout(ext_runpath=("$ORIGIN/../pkg.libs",)))}
    assert deps[("pkg/_env.so", "libgdal-x.so.35")].status == "bundled"
    assert deps[("pkg.libs/libgdal-x.so.35", "libcurl-x.so.4")].status == MISSING
    # a library nothing bundled loads has no loader to inherit from
    alone = resolve([_elf("pkg.libs/libcurl-x.so.4", ("libcrypto-x.so.1.1",)),
                     _elf("pkg.libs/libcrypto-x.so.1.1")])
    assert [d.status for d in alone] == [MISSING]


def test_a_long_chain_of_loaders_stays_bounded():
    """Hostile input: 400 libraries in a chain, each needing the next and one more that is nowhere. The
    lookup runs a bounded number of rounds (real chains are 2-3 deep): the first levels are found, the
    rest stay missing, and it ends."""
    n = 400
    nodes = [_elf("a/ext.so", ("lib0.so",), ("$ORIGIN/../l",))]
    nodes += [_elf(f"l/lib{i}.so", (f"lib{i + 1}.so", f"gone{i}.so")) for i in range(n)]
    deps = resolve(nodes)
    found = sum(d.status == "bundled" for d in deps)
    assert found == lddtree._CHAIN_ROUNDS + 1  # ext.so's own RPATH, then one level per round
    assert sum(d.status == MISSING for d in deps) == len(deps) - found


@pytest.fixture(scope="module")
def split_debug(tmp_path_factory):
    """A real program with its debug info split off: `objcopy --only-keep-debug` (.debug) and
    `-gsplit-dwarf` (.dwo), both shipped beside the stripped program."""
    import shutil
    import subprocess

    if not (shutil.which("gcc") and shutil.which("objcopy")):
        pytest.skip("needs gcc and objcopy")
    src = tmp_path_factory.mktemp("splitsrc")
    (src / "m.c").write_text('#include <stdio.h>\n#include <string.h>\n'
                             'int main(int c, char **v) { char b[64]; strcpy(b, v[0]); puts(b); return c; }\n')
    subprocess.run(["gcc", "-g", "-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-Wl,-z,relro,-z,now",
                    "-gsplit-dwarf", "-o", "app", "m.c"], cwd=src, check=True)
    subprocess.run(["objcopy", "--only-keep-debug", "app", "app.debug"], cwd=src, check=True)
    subprocess.run(["strip", "--strip-all", "app"], cwd=src, check=True)
    dist = tmp_path_factory.mktemp("splitdist") / "app.dist"
    dist.mkdir()
    for name in ("app", "app.debug"):
        shutil.copy2(src / name, dist / name)
    shutil.copy2(next(src.glob("*.dwo")), dist / "m.dwo")
    return dist


def test_versioned_canary_symbol_in_symtab_is_recognised(split_debug):
    from hardnut.inspect.elf import inspect_elf

    facts = inspect_elf(split_debug / "app.debug")
    assert "__stack_chk_fail" in facts.canary_symbols  # only "__stack_chk_fail@GLIBC_2.4" is in its .symtab
    assert facts.debug_only and not facts.is_executable


def test_debug_and_dwo_files_are_rated_alike_and_not_judged_as_code(split_debug):
    from helpers_binaries import run_binary_checks

    findings, _ = run_binary_checks(split_debug, main_programs=("app",))
    by_path: dict[str, set[tuple[str, str]]] = {}
    for f in findings:
        by_path.setdefault(f.path, set()).add((f.rule, f.severity.label))
    for name in ("app.debug", "m.dwo"):
        assert ("HN-DBG-008", "high") in by_path[name], by_path.get(name)
        assert not [r for r, _ in by_path[name] if r.startswith("HN-ELF")], by_path[name]  # no false canary/RELRO
    assert not [r for r, _ in by_path.get("app", ()) if r in ("HN-ELF-002", "HN-ELF-003")]


def test_cfg_needs_the_load_config_not_only_the_header_bit(binfix, tmp_path):
    """BinSkim BA2008: GUARD_CF set by patching the header of a MinGW program (which has no CFG
    instrumentation) is not Control Flow Guard."""
    import struct

    from hardnut.checks.hardening import check_pe
    from hardnut.inspect.pe import inspect_pe
    from helpers_binaries import patched

    src = binfix.pe("hardened.exe")
    raw = src.read_bytes()
    dll_chars = struct.unpack_from("<I", raw, 0x3C)[0] + 4 + 20 + 0x46
    value = struct.unpack_from("<H", raw, dll_chars)[0] | 0x4000
    facts = inspect_pe(patched(src, tmp_path / "cf.exe", dll_chars, struct.pack("<H", value)))
    assert facts.guard_cf and not facts.cfg_instrumented
    found = [f for f in check_pe("cf.exe", facts, True) if f.rule == "HN-PE-004"]
    assert len(found) == 1 and "CFG is not in effect" in found[0].message


def test_rule_explanations_say_where_hardnut_differs_from_binskim():
    from hardnut.checks import all_rules

    rules = all_rules()
    for rid in ("HN-PE-001", "HN-PE-002", "HN-PE-003"):
        assert "Corresponds to BinSkim" in rules[rid].explanation and "hardnut" in rules[rid].explanation
    assert "GuardFlags" in rules["HN-PE-004"].explanation


@pytest.mark.parametrize("name, os_name, other", [
    ("psutil._psutil_windows", "Linux", True), ("psutil._psutil_osx", "Linux", True),
    ("psutil._psutil_linux", "Linux", False), ("psutil._psutil_linux", "Windows", True),
    ("winreg", "Linux", True), ("_scproxy", "Windows", True), ("optional_speedup", "Linux", False),
    ("twin_peaks", "Linux", False), ("hmac_tools", "Linux", False), ("psutil._psutil_windows", "Plan9", False),
])
def test_other_platform_modules(name, os_name, other):
    from hardnut.checks.build import for_other_platform

    assert for_other_platform(name, os_name) is other


def test_guarded_import_facts():
    from hardnut.source.guards import guarded_import

    src = (b"import os\n"
           b"try:\n    import fast_json\nexcept ImportError:\n    fast_json = None\n"
           b"try:\n    from .speedups import native\nexcept (ValueError, ModuleNotFoundError):\n    native = None\n"
           b"try:\n    import needs_it\nexcept KeyError:\n    pass\n"
           b"import plain\n")
    assert guarded_import(src, 3, "fast_json") is True
    assert guarded_import(src, 7, "pkg.speedups") is True
    assert guarded_import(src, 11, "needs_it") is False
    assert guarded_import(src, 14, "plain") is False
    assert guarded_import(src, 14, "something_else") is None  # not the file the report describes


def test_fallback_import_facts():
    from hardnut.source.guards import fallback_for

    src = (b"try:\n    import tomllib\nexcept ModuleNotFoundError:\n    import tomli as tomllib\n"
           b"try:\n    from a.b import c\n    import d, e\nexcept (ImportError, KeyError):\n    from f import c\n"
           b"try:\n    import g\n    setup()\nexcept ImportError:\n    import h\n"
           b"try:\n    from . import rel\nexcept ImportError:\n    import rel2\n"
           b"try:\n    import k\nexcept KeyError:\n    import m\n")
    assert fallback_for(src, 4, "tomli") == ("tomllib",)
    assert fallback_for(src, 9, "f") == ("d", "e", "a.b")
    assert fallback_for(src, 14, "h") is None  # the try body does more than import
    assert fallback_for(src, 18, "rel2") is None  # a relative first choice is not resolved here
    assert fallback_for(src, 22, "m") is None  # the handler does not catch ImportError
    assert fallback_for(src, 2, "tomllib") is None  # the first choice itself


def test_guarded_and_other_platform_imports_are_not_findings(tmp_path):
    """A real Nuitka report, with a third-party package whose source (on this machine) guards one
    import, leaves another unguarded, and imports psutil's Windows module on Linux."""
    from hardnut.artifact.model import Artifact
    from hardnut.checks import build
    from hardnut.checks.base import CheckContext, VerifyConfig
    from helpers_onefile import onefile_build

    pkg = tmp_path / "site-packages" / "thirdpkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("import os\ntry:\n    import optional_speedup\nexcept ImportError:\n"
                                     "    optional_speedup = None\nimport required_helper\n"
                                     "try:\n    import os\nexcept ImportError:\n    import fallback_path\n")
    (tmp_path / "app.py").write_text("try:\n    import nice_to_have\nexcept ImportError:\n    nice_to_have = None\n"
                                     "try:\n    import os\nexcept ModuleNotFoundError:\n    import os_backport as os\n"
                                     "try:\n    import missing_first\nexcept ImportError:\n    import missing_second\n")
    third = (f'  <module name="thirdpkg" kind="CompiledPythonPackage" usage="import" reason="import" '
             f'source_path="{pkg / "__init__.py"}" distribution="thirdpkg">\n'
             '    <module_usages>\n'
             '      <module_usage name="optional_speedup" finding="not-found" line="3" reason="import" />\n'
             '      <module_usage name="required_helper" finding="not-found" line="6" reason="import" />\n'
             '      <module_usage name="psutil._psutil_windows" finding="not-found" line="9" reason="import" />\n'
             '      <module_usage name="fallback_path" finding="not-found" line="10" reason="import" />\n'
             '    </module_usages>\n  </module>\n'
             f'  <module name="mine" kind="CompiledPythonModule" usage="import" reason="import" '
             f'source_path="{tmp_path / "app.py"}">\n'
             '    <module_usages>\n'
             '      <module_usage name="nice_to_have" finding="not-found" line="2" reason="import" />\n'
             '      <module_usage name="os_backport" finding="not-found" line="8" reason="import" />\n'
             '      <module_usage name="missing_first" finding="not-found" line="10" reason="import" />\n'
             '      <module_usage name="missing_second" finding="not-found" line="12" reason="import" />\n'
             '    </module_usages>\n  </module>\n')
    text = onefile_build("compressed").report.read_text()
    assert 'os_name="Linux"' in text
    report = tmp_path / "app.report.xml"
    report.write_text(text.replace("  <module ", third + "  <module ", 1))
    art = Artifact(target=Path("."), kind="dir", report_xml=report)
    findings = {f.message.split("'")[1]: f for f in build.run(CheckContext(art, VerifyConfig()))
                if f.rule == "HN-BUILD-001"}
    found = {name: f.severity.label for name, f in findings.items()}
    assert found.get("required_helper") == "low"
    assert "optional_speedup" not in found and "psutil._psutil_windows" not in found
    assert found.get("nice_to_have") == "info"
    # `try: import os` / `except ModuleNotFoundError: import os_backport`: os is in the build, the handler never
    # runs (a package's own such fallback is not reported at all); a fallback for a missing module stays
    assert "fallback_path" not in found
    assert found.get("os_backport") == "info" and "a fallback for os, which is in the build" in findings["os_backport"].message
    # after a guarded import of the same module, an unguarded one is still medium (it took the guarded one's
    # info before); the guarded first choice is info
    assert found.get("missing_second") == "medium" and found.get("missing_first") == "info"
