"""The docs document every rule (generated table kept current) and the JSON contract; the README stays
short and links every reference page."""

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
    readme = (REPO / "docs" / "output.md").read_text(encoding="utf-8")
    for field in ("target", "verdict", "fail_on", "findings", "files", "rule", "category", "severity", "path",
                  "message", "library", "offset", "length", "module", "sha256", "format", "fingerprint"):
        assert f"`{field}`" in readme, field


def test_readme_is_short_and_links_the_reference_pages():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode("utf-8")) < 16_000, "the README is for newcomers: references go to docs/"
    for page in ("profile", "build", "verify", "output", "rules", "limits", "check-source", "manifest", "ci"):
        assert f"(docs/{page}.md)" in readme, page
        assert (REPO / "docs" / f"{page}.md").is_file(), page
    for heading in ("## Install", "## Quickstart", "## Commands", "## What the output looks like"):
        assert heading in readme
    for fmt in ("text", "json", "sarif", "junit", "markdown"):
        assert f"**{fmt}**" in readme, fmt  # one example of each output
