"""Facts about binaries, no judgement: `elf.inspect_elf`, `pe.inspect_pe`, and `lddtree` (pure resolution
of what every binary needs). Any file that cannot be parsed raises `elf.BinaryParseError` (also exported by
`pe`); nothing else escapes. Checks turn these facts into findings.
"""

import sys
from typing import Any, Callable

# the module of each format's facts (ElfFacts, PeFacts, MachoFacts) and its inspect function
FORMAT_MODULES = {"elf": ("hardnut.inspect.elf", "ElfFacts", "inspect_elf"),
                  "pe": ("hardnut.inspect.pe", "PeFacts", "inspect_pe"),
                  "macho": ("hardnut.inspect.macho", "MachoFacts", "inspect_macho")}


def inspector(kind: str) -> Callable[..., Any]:
    """inspect_elf, inspect_pe or inspect_macho for a file kind, its module imported when first asked: a
    verify of a Linux artifact does not import the PE and Mach-O inspectors (14-17 ms a command)."""
    import importlib

    module, _, function = FORMAT_MODULES[kind]
    return getattr(importlib.import_module(module), function)


def is_facts(obj: object, kind: str) -> bool:
    """isinstance(obj, ElfFacts / PeFacts / MachoFacts) for kind "elf" / "pe" / "macho", without importing
    that format's module: no object of its class can exist before the module is imported (a cached
    result unpickled imports it too)."""
    module, cls, _ = FORMAT_MODULES[kind]
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(obj, getattr(loaded, cls))
