"""No false alarms on what every app bundles: Windows system DLLs from the list of DLLs every supported
Windows ships, imports named without '.dll', versioned symbol names in separate debug files."""

from __future__ import annotations

import pytest

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
