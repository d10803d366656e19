#!/usr/bin/env python3
"""Print the known-public fingerprints of the secrets hardnut finds in FILE(S), to add verified
public test keys to src/hardnut/policy/known-public-secrets.json. Prints rule, offset, masked
evidence and sha256 - never a secret.

    python scripts/known_public_fingerprint.py /path/to/libgnutls.so.30
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hardnut.model import mask  # noqa: E402
from hardnut.secrets.engine import Engine  # noqa: E402
from hardnut.secrets.rules import secret_sha256  # noqa: E402


def main(paths: list[str]) -> int:
    engine = Engine()
    for p in paths:
        for m in engine.scan_file(Path(p)).matches:
            print(f"{p}\t{m.rule_id}\t{m.offset}\t{m.severity.label}\t{mask(m.secret)}\t"
                  f"{secret_sha256(m.rule_id, m.secret.encode('latin-1'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
