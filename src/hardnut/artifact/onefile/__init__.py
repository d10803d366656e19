"""Find, list and extract the payload of a Nuitka onefile binary, bounded and safe against hostile input.

One module per concern:
  blob     the payload format (layouts, records, bounded readers, errors), checked against Nuitka 4.3.3
  search   `find_payload`: where a payload sits in an ELF or PE file (the entry point for new formats)
  extract  `iter_entries`, `extract` and `unpack` (`hardnut unpack`)

Every malformed, truncated or hostile input raises `PayloadError`; a resource limit raises `PayloadLimit`.
"""

from hardnut.artifact.onefile.blob import Layout, PayloadEntry, PayloadError, PayloadInfo, PayloadLimit, display
from hardnut.artifact.onefile.extract import describe, extract, iter_entries, unpack
from hardnut.artifact.onefile.search import find_payload

__all__ = [
    "PayloadError", "PayloadLimit", "Layout", "PayloadInfo", "PayloadEntry",
    "find_payload", "iter_entries", "extract", "unpack", "describe", "display",
]
