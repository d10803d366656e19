"""The README documents every rule (generated table kept current) and the JSON contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_rule_table_is_current():
    res = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_readme_rules.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_json_fields_documented():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for field in ("target", "verdict", "fail_on", "findings", "files", "rule", "category", "severity", "path",
                  "message", "library", "offset", "length", "module", "sha256", "format", "fingerprint"):
        assert f"`{field}`" in readme, field
