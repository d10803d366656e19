"""Python project names, normalised as the packaging specifications say (PEP 503).

packaging.utils.canonicalize_name gives the same names, but importing packaging.utils imports
packaging.tags with its ELF and manylinux readers (10-15 ms of every build); the rule itself is one line
of the specification. tests/test_names.py compares the two."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """PEP 503: every run of '-', '_' and '.' becomes one '-', and the name is lowercased."""
    return _SEPARATORS.sub("-", name).lower()
