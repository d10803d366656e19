"""hardnut's own corpus (tests/secret_samples.py): every secret rule has true positives and
near-miss negatives; each true sample is reported by its rule when planted as text, as UTF-16LE
and as a compiled constant (Nuitka constants-blob string encoding), and no negative is reported
by its rule in any plant. All values are fakes generated at run time."""

from __future__ import annotations

from collections import defaultdict

import pytest

from hardnut.model import Severity
from hardnut.secrets.engine import Engine
from hardnut.secrets.rules import SECRET_RULES
from helpers_secrets import check
from secret_samples import samples

SAMPLES = samples()
BY_RULE: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"tp": [], "fp": []})
for _rule, _kind, _text in SAMPLES:
    BY_RULE[_rule][_kind].append(_text)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine()


def plants(engine: Engine, text: str) -> dict[str, list]:
    raw = text.encode("utf-8")
    blob = b"u" + raw.replace(b"\x00", b" ") + b"\x00"  # a Nuitka str constant: tag, UTF-8, NUL
    const = engine.scan_buffer(blob) + engine.scan_strings([(1, blob[1:-1])])
    return {"text": engine.scan_buffer(raw), "utf16": engine.scan_buffer(text.encode("utf-16-le")), "constants": const}


def test_every_rule_has_true_and_false_samples():
    ids = {r.id for r in SECRET_RULES}
    assert set(BY_RULE) == ids, f"rules without samples: {sorted(ids - set(BY_RULE))}, unknown: {sorted(set(BY_RULE) - ids)}"
    for rule in ids:
        assert BY_RULE[rule]["tp"] and BY_RULE[rule]["fp"], f"{rule} needs a true and a false sample"


@pytest.mark.parametrize("rule", sorted({r.id for r in SECRET_RULES}))
def test_rule_on_its_samples(engine, rule):
    for i, text in enumerate(BY_RULE[rule]["tp"]):
        for plant, found in plants(engine, text).items():
            check(any(m.rule_id == rule and m.severity > Severity.INFO for m in found),
                  f"{rule} true sample #{i} not reported when planted as {plant}")
    for i, text in enumerate(BY_RULE[rule]["fp"]):
        for plant, found in plants(engine, text).items():
            check(not any(m.rule_id == rule for m in found), f"{rule} reported its negative sample #{i} ({plant})")
