"""Rules turn inspected facts into findings. One module per concern; each lists its RULES."""

from __future__ import annotations

import importlib
from functools import lru_cache
from types import ModuleType

from hardnut.model import Rule

# One entry per check module, in the order they run. Each defines RULES and run(ctx).
CHECK_MODULES: tuple[str, ...] = (
    "hardnut.checks.walk",
    "hardnut.checks.dependency",
    "hardnut.checks.debug",
    "hardnut.checks.hardening",
    "hardnut.checks.signature",
    "hardnut.checks.secrets",
    "hardnut.checks.leftovers",
    "hardnut.checks.build",
    "hardnut.checks.exposure",
)


@lru_cache(maxsize=None)
def modules() -> tuple[ModuleType, ...]:
    return tuple(importlib.import_module(name) for name in CHECK_MODULES)


@lru_cache(maxsize=None)
def all_rules() -> dict[str, Rule]:
    """Every rule hardnut knows, by id (including source rules that run outside verify)."""
    rules: dict[str, Rule] = {}
    for name in CHECK_MODULES + ("hardnut.checks.source", "hardnut.checks.audit", "hardnut.manifest"):
        mod = importlib.import_module(name)
        for rule in mod.RULES:
            if rule.id in rules:
                raise RuntimeError(f"duplicate rule id {rule.id}")
            rules[rule.id] = rule
    return rules
