"""Hostile input the fuzzing left: compressed debug sections are decompressed within bounds (total per
file and ratio, with a finding when hit), zstd-compressed DWARF is read, and a non-UTF-8 byte in the ELF
interpreter path does not make the file unreadable. Real ELF files made by gcc and objcopy."""

from __future__ import annotations

import resource
import shutil
import subprocess
from pathlib import Path

import pytest

from hardnut.inspect.elf import inspect_elf

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("objcopy")), reason="needs gcc, objcopy")

BIG_C = "\n".join(f"struct s{i} {{ int a{i}; long b{i}; char c{i}[{i + 1}]; }};\n"
                  f"int f{i}(struct s{i} *p) {{ return p->a{i} + (int)p->b{i}; }}" for i in range(300))
BIG_C += "\nint main(void) { return 0; }\n"


@pytest.fixture(scope="module")
def debug_elf(tmp_path_factory) -> Path:
    """A program with enough DWARF that objcopy really compresses it (small sections stay as they are)."""
    d = tmp_path_factory.mktemp("dwarf")
    (d / "big.c").write_text(BIG_C)
    subprocess.run(["gcc", "-g", "-O0", "-o", "prog", "big.c"], cwd=d, check=True)
    return d / "prog"


@pytest.mark.parametrize("method", ["zstd", "zlib", "zlib-gnu"])
def test_compressed_dwarf_is_read(debug_elf, tmp_path, method):
    out = tmp_path / f"prog.{method}"
    res = subprocess.run(["objcopy", f"--compress-debug-sections={method}", str(debug_elf), str(out)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        pytest.skip(f"objcopy cannot write {method}: {res.stderr.strip()}")
    facts = inspect_elf(out)
    assert facts.dwarf_error is None and facts.dwarf_limit is None
    assert [u.comp_dir for u in facts.dwarf_units] == [str(debug_elf.parent)]  # the build-host path is seen


def test_decompression_bomb_in_debug_sections_is_bounded(debug_elf, tmp_path):
    """Several compressed debug sections of zeros: small on disk, gigabytes if decompressed blindly."""
    zeros = tmp_path / "zeros.bin"
    with open(zeros, "wb") as fh:
        fh.truncate(60 * 1024 * 1024)
    args = []
    for name in (".debug_loc", ".debug_ranges", ".debug_pubnames", ".debug_pubtypes"):  # sections DWARF readers load
        args += ["--add-section", f"{name}={zeros}"]
    plain, bomb = tmp_path / "plain", tmp_path / "bomb"
    subprocess.run(["objcopy", *args, str(debug_elf), str(plain)], check=True)
    subprocess.run(["objcopy", "--compress-debug-sections=zlib", str(plain), str(bomb)], check=True)
    plain.unlink()
    zeros.unlink()
    assert bomb.stat().st_size < 2 * 1024 * 1024
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    facts = inspect_elf(bomb)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert facts.dwarf_limit and "decompression bomb" in facts.dwarf_limit
    assert grown_mib < 200, f"peak memory grew by {grown_mib:.0f} MiB"

    from hardnut.checks import debug
    from hardnut.artifact.walk import open_target
    from hardnut.checks.base import CheckContext, VerifyConfig

    with open_target(bomb) as art:
        found = [f for f in debug.run(CheckContext(art, VerifyConfig())) if f.rule == "HN-WALK-004"]
    assert found and "DWARF not read" in found[0].message and found[0].severity.label == "high"


def test_non_utf8_interpreter_path_is_decoded_leniently(tmp_path):
    src = Path(shutil.which("true") or "/bin/true")
    raw = bytearray(src.read_bytes())
    facts = inspect_elf(src)
    if not facts.interpreter:
        pytest.skip("no PT_INTERP")
    at = raw.find(facts.interpreter.encode() + b"\0")
    raw[at + 1] = 0xFF  # "/\xfflib64/..."
    odd = tmp_path / "odd"
    odd.write_bytes(bytes(raw))
    facts = inspect_elf(odd)
    assert facts.interpreter.startswith("/\\xff") and facts.is_executable
