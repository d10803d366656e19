"""planted_source: the sample for `hardnut check-source`. Every credential in it is FAKE.

Each construct below is planted on purpose; tests/test_source_checks.py expects each one at its line.
"""
# nuitka-project: --include-package=plugins
import importlib
import json
import sys
from pathlib import Path

import markupsafe

from plugins import loader

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "extensions"))

GITHUB_TOKEN = "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"


def load_plugin(name):
    return importlib.import_module(f"plugins.{name}")


def load_codec(name):
    return __import__(name)


def load_json():
    return importlib.import_module("json")


def calc(expression):
    return eval(expression)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    settings = json.loads((HERE / "data" / "settings.json").read_text(encoding="utf-8"))
    print(markupsafe.escape(settings["name"]), load_plugin("csv_export").NAME, loader.__name__, calc("1 + 1"))
    return 0 if not args else 1


if __name__ == "__main__":
    sys.exit(main())
