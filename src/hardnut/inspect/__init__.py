"""Facts about binaries, no judgement: `elf.inspect_elf`, `pe.inspect_pe`, and `lddtree` (pure resolution
of what every binary needs). Any file that cannot be parsed raises `elf.BinaryParseError` (also exported by
`pe`); nothing else escapes. Checks turn these facts into findings.
"""
