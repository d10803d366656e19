"""Output formats for a VerifyResult: one module per format, each `render(result, rules, color) -> str`."""

from __future__ import annotations

import importlib
from typing import Callable

from hardnut.model import Rule, VerifyResult

FORMATS = ("text", "json", "sarif", "junit", "markdown", "html")

Renderer = Callable[[VerifyResult, "dict[str, Rule]", bool], str]


def renderer(name: str) -> Renderer:
    if name not in FORMATS:
        raise ValueError(f"unknown format {name!r}")
    module = importlib.import_module(f"hardnut.report.{name}_format")
    return module.render
