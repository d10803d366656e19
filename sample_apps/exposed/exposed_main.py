"""exposed: hardnut's sample for `hardnut exposure` and `hardnut diff` (entry script)."""

import sys

from exposed_app import core, legacy


def main() -> int:
    """Print the greeting and the legacy checksum."""
    print(core.greet("world"), legacy.checksum(b"exposed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
