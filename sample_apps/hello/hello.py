"""hello: a tiny CLI that greets people in HTML-safe text (hardnut's sample app).

This docstring must not survive a release build: the release profile sets no_docstrings.
"""

import argparse
import json
import sys
from pathlib import Path

import markupsafe


def data_dir() -> Path:
    # Nuitka standalone/onefile: data files sit beside the compiled module.
    return Path(__file__).resolve().parent / "data"


def load_greetings() -> dict:
    with open(data_dir() / "greetings.json", encoding="utf-8") as fh:
        return json.load(fh)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="hello", description="Greet someone, HTML-escaped.")
    parser.add_argument("name", nargs="?", default="world")
    parser.add_argument("--lang", default="en", help="greeting language (see data/greetings.json)")
    parser.add_argument("--check", action="store_true", help="self-test: C extension and data file present")
    args = parser.parse_args(argv)
    greetings = load_greetings()
    if args.check:
        # markupsafe falls back to pure Python when its C extension is missing: insist on the C one.
        speedups = getattr(markupsafe, "_escape_inner", None).__module__ == "markupsafe._speedups"
        print(f"markupsafe speedups={'yes' if speedups else 'no'} languages={len(greetings)}")
        return 0 if speedups else 1
    word = greetings.get(args.lang)
    if word is None:
        print(f"unknown language {args.lang!r}", file=sys.stderr)
        return 2
    print(markupsafe.Markup("<p>{} {}!</p>").format(word, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
