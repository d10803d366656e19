#!/usr/bin/env python3
"""Regenerate the rule table in docs/rules.md (linked from the README) from the rules hardnut actually has.

    python scripts/gen_readme_rules.py          # rewrite docs/rules.md in place
    python scripts/gen_readme_rules.py --check  # exit 1 when docs/rules.md is out of date (the tests run this)
"""

from __future__ import annotations

import sys
from pathlib import Path

from hardnut.checks import all_rules

RULES_DOC = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def table() -> str:
    rows = ["| id | category | severity | rule | explanation |", "|---|---|---|---|---|"]
    for rule in sorted(all_rules().values(), key=lambda r: (r.category, r.id)):
        text = rule.explanation.replace("|", "\\|").replace("\n", " ")
        refs = " ".join(f"[ref]({u})" for u in rule.references if u.startswith("http"))
        rows.append(f"| `{rule.id}` | {rule.category} | {rule.severity.label} | {rule.name} | {text} {refs}".rstrip()
                    + " |")
    return "\n".join(rows)


def render(readme: str) -> str:
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main() -> int:
    text = RULES_DOC.read_text(encoding="utf-8")
    new = render(text)
    if "--check" in sys.argv:
        if new != text:
            print("docs/rules.md rule table is out of date: run python scripts/gen_readme_rules.py", file=sys.stderr)
            return 1
        return 0
    RULES_DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
