"""Reading the app before it is built: Python sources (ast_checks), bundled data (bundle) and
dependency declarations (deps). Facts only; the rules live in hardnut.checks.source."""

from __future__ import annotations

from hardnut.source.ast_checks import SourceFacts, Use, analyze
from hardnut.source.bundle import Bundle, BundledFile, would_bundle
from hardnut.source.deps import Declarations, Declared, discover, imported_distributions, read_declarations

__all__ = [
    "Bundle", "BundledFile", "Declarations", "Declared", "SourceFacts", "Use", "analyze", "discover",
    "imported_distributions", "read_declarations", "would_bundle",
]
