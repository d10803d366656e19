"""Fuzzing: mutated ELF, PE, onefile payloads and TOML profiles through the code paths of `hardnut verify`
(hardnut.verify.verify_target on a folder holding the mutated file, and on the file alone), the onefile
reader (find_payload, iter_entries, extract) and profile loading (hardnut.profile.load_profile).

Documented outcomes only: a VerifyResult (maybe with HN-WALK-003/004 findings) and never a check that
crashed (HN-TOOL-001); None, a PayloadInfo or PayloadError from the onefile reader, with nothing written
outside its folder; a Profile or a one-line ProfileError. Every input must finish well within
fuzz_helpers.HANG_SECONDS (a hard timer turns a hang into a failure).

Seeds are real: the gcc/MinGW fixtures of scripts/make_fixtures.py, small onefile binaries carrying
payloads written by Nuitka's own onefile compressor, files of the conftest Nuitka builds, and the
shipped profiles. The bounded run here is half the budgets below, about 2,500 inputs (about a minute);
`HARDNUT_FUZZ_SCALE=1` runs the whole budgets, `HARDNUT_FUZZ_SCALE=10` ten times them, `HARDNUT_FUZZ_RANDOM=1` explores new inputs instead of the fixed
derandomized sequence, and scripts/fuzz_long.py runs for as long as you like. Inputs that once crashed
live in tests/fuzz_regressions/ and are replayed by test_regression_corpus.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fuzz_helpers as fh

SCALE = float(os.environ.get("HARDNUT_FUZZ_SCALE", "0.5"))  # the suite runs half the budgets below
RANDOM = bool(os.environ.get("HARDNUT_FUZZ_RANDOM"))


def budget(n: int):
    return settings(max_examples=max(1, int(n * SCALE)), deadline=None, derandomize=not RANDOM, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


PLAN = st.lists(st.tuples(st.integers(0, fh.N_OPS - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1),
                          st.integers(0, 2**32 - 1)), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[fh.Seed]]:
    out: dict[str, list[fh.Seed]] = {"elf": [], "pe": [], "onefile": []}
    for s in fh.all_binary_seeds():
        out["onefile" if s.kind.startswith("onefile") else s.kind].append(s)
    return out


def _need(seeds: dict, kind: str) -> list[fh.Seed]:
    if not seeds[kind]:
        pytest.skip(f"no {kind} seeds here (toolchain missing: see tests/fixtures/build/binaries/manifest.json)")
    return seeds[kind]


def _verify(seed: fh.Seed, plan, work: Path) -> None:
    data = fh.mutate(seed, plan)
    problem = fh.check_verify(data, seed.name, work)
    assert problem is None, f"{fh.describe_plan(seed, plan)}\nplan={plan!r}\n{problem}"


# ------------------------------------------------------------------------------------- binaries


@budget(1500)
@given(index=st.integers(0, 10**6), plan=PLAN)
def test_fuzz_verify_elf(seeds, work, index, plan):
    elf = _need(seeds, "elf")
    _verify(elf[index % len(elf)], plan, work)


@budget(600)
@given(index=st.integers(0, 10**6), plan=PLAN)
def test_fuzz_verify_pe(seeds, work, index, plan):
    pe = _need(seeds, "pe")
    _verify(pe[index % len(pe)], plan, work)


@pytest.fixture(scope="module")
def macho_seeds() -> list[fh.Seed]:
    from helpers_macos import real_wheels

    real_wheels()
    return fh.macho_seeds()


@budget(60)
@given(index=st.integers(0, 10**6), plan=PLAN)
def test_fuzz_verify_macho_and_signed_pe(macho_seeds, work, index, plan):
    """Mach-O (thin, fat, ad-hoc signed: header, load commands, symtab, SuperBlob, CodeDirectory) and a
    Microsoft-signed DLL (certificate table hot) through verify, including the signature checks."""
    if not macho_seeds:
        pytest.skip("no Mach-O seeds")
    _verify(macho_seeds[index % len(macho_seeds)], plan, work)


@budget(900)
@given(index=st.integers(0, 10**6), plan=PLAN)
def test_fuzz_onefile_payloads(seeds, work, index, plan):
    """Payload fields (entry sizes, flags, CRCs, frame sizes, the trailer, zstd frame and block headers)
    through verify and through the reader on its own."""
    onefiles = _need(seeds, "onefile")
    seed = onefiles[index % len(onefiles)]
    data = fh.mutate(seed, plan)
    for problem in (fh.check_payload(data, seed.name, work), fh.check_verify(data, seed.name, work)):
        assert problem is None, f"{fh.describe_plan(seed, plan)}\nplan={plan!r}\n{problem}"


# ------------------------------------------------------------------------ real Nuitka builds


@pytest.fixture(scope="module")
def nuitka_seeds(planted_standalone) -> list[fh.Seed]:
    """The main program of the conftest planted build (its constants blob is the hot region) and a
    few of its small extension modules."""
    from hardnut.inspect.constants_blob import read_constants_blob

    out = []
    for p in fh._small_files(planted_standalone, 200_000, 3):
        s = fh.binary_seed(p, f"nuitka/{p.name}")
        if s:
            out.append(s)
    main = next((p for p in sorted(planted_standalone.iterdir()) if p.is_file() and p.suffix in ("", ".bin")
                 and p.read_bytes()[:4] == b"\x7fELF"), None)
    if main is not None:
        s = fh.binary_seed(main, f"nuitka/{main.name}")
        blob = read_constants_blob(main, "elf")
        hot = s.hot + (((blob.offset, blob.offset + min(blob.size, 256 * 1024)),) if blob else ())
        out.append(fh.Seed(s.name, s.kind, s.data, s.fields, hot))
    return out


@pytest.mark.nuitka
@budget(60)
@given(index=st.integers(0, 10**6), plan=PLAN)
def test_fuzz_nuitka_built_binaries(nuitka_seeds, work, index, plan):
    seed = nuitka_seeds[index % len(nuitka_seeds)]
    if seed.name.startswith("nuitka/") and len(seed.data) > 1_000_000:
        plan = [(8, a, b, c) for _, a, b, c in plan]  # big main program: aim at headers and constants blob
    _verify(seed, plan, work)


@pytest.fixture(scope="module")
def report_seed(planted_standalone) -> fh.Seed:
    reports = sorted(planted_standalone.parent.glob("*.report.xml"))
    if not reports:
        pytest.skip("the planted build kept no report XML")
    return fh.report_seed(reports[0])


@pytest.mark.nuitka
@budget(80)
@given(plan=st.lists(st.tuples(st.sampled_from([0, 1, 2, 5, 6, 7, 8, 11, 11, 11]), st.integers(0, 2**32 - 1),
                               st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)), min_size=1, max_size=4))
def test_fuzz_report_xml(report_seed, seeds, work, plan):
    """Nuitka's report XML beside the dist, mutated (attribute values replaced by nasty tokens, bytes
    flipped, cut): verify (checks.build) and the SBOM writer."""
    program = fh.FUZZ_BUILD / "onefile" / "tinydist" / "prog"
    data = fh.mutate(report_seed, plan)
    problem = fh.check_report(data, work, program)
    assert problem is None, f"{fh.describe_plan(report_seed, plan)}\nplan={plan!r}\n{problem}"


# ---------------------------------------------------------------------------------------- TOML

TOML_SEEDS = fh.toml_seeds()
SCHEMA_KEYS = None


def _schema():
    from hardnut.profile.schema import SCHEMA

    return SCHEMA


NASTY_STRINGS = st.sampled_from([
    "", " ", "--debug", "--output-dir=/", "-o", "a=b", "../../etc/passwd", "/etc/passwd", "/dev/zero", "/dev/stdin",
    "app.py", "hardnut.toml", "base", "release", "nope", "a\nb", "\x1b[31mred", "\x00", "x" * 5000, "é", "\ud7ff",
    "*", "**/*", "C:\\Windows", "\\\\server\\share", "$(id)", "`id`", "a;b", "${HOME}", "pkg.mod", "1.2.3", "2.28",
])
SCALARS = st.one_of(
    st.booleans(), st.integers(), st.sampled_from([2**63, -2**63 - 1, 10**30, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True), NASTY_STRINGS, st.text(max_size=40),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(NASTY_STRINGS, st.text(max_size=8)), inner, max_size=4)),
    max_leaves=12)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"


@st.composite
def profiles(draw) -> bytes:
    schema = _schema()
    lines = []
    for table in draw(st.lists(st.sampled_from(list(schema) + ["tool", "x"]), max_size=4, unique=True)):
        lines.append(f"[{table}]")
        keys = list(schema.get(table, {})) + ["extra"]
        for key in draw(st.lists(st.sampled_from(keys), max_size=5, unique=True)):
            if key == "include_data":
                value = draw(st.lists(st.fixed_dictionaries({"src": NASTY_STRINGS, "dest": NASTY_STRINGS}), max_size=3))
            elif key == "limits":
                value = draw(st.dictionaries(st.sampled_from(["max_files", "file_timeout", "max_scan_bytes", "nope"]),
                                             SCALARS, max_size=3))
            else:
                value = draw(VALUES)
            lines.append(f"{key} = {_toml_value(value)}")
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


@budget(500)
@given(doc=profiles())
def test_fuzz_profile_structured(work, doc):
    problem = fh.check_profile(doc, work)
    assert problem is None, f"{doc[:2000]!r}\n{problem}"


@budget(500)
@given(index=st.integers(0, 10**6), plan=PLAN)
def test_fuzz_profile_bytes(work, index, plan):
    seed = TOML_SEEDS[index % len(TOML_SEEDS)]
    data = fh.mutate(seed, [(op if op in (0, 1, 2, 5, 6, 7) else 0, a, b, c) for op, a, b, c in plan])
    problem = fh.check_profile(data, work)
    assert problem is None, f"{fh.describe_plan(seed, plan)}\n{data[:2000]!r}\n{problem}"


# ------------------------------------------------------------------------------ regressions


def _corpus() -> list[Path]:
    return sorted(p for p in fh.REGRESSIONS.iterdir() if p.is_file() and p.name != "README.md") \
        if fh.REGRESSIONS.is_dir() else []


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.name)
def test_regression_corpus(work, path):
    """Every input that once crashed or hung hardnut: profiles (*.toml) through load_profile, binaries
    through verify and the onefile reader."""
    data = path.read_bytes()
    if path.suffix == ".toml":
        problem = fh.check_profile(data, work)
    else:
        problem = fh.check_verify(data, path.name, work) or fh.check_payload(data, path.name, work)
    assert problem is None, f"{path.name}: {problem}"
