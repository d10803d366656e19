"""Legacy helper: the profile ships this module as bytecode (--noinclude-custom-mode), not compiled."""

LEGACY_BANNER = "legacy checksum helper, shipped as bytecode"


def checksum(data: bytes) -> int:
    """A tiny additive checksum."""
    return sum(data) % 251
