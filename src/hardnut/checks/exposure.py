"""What a reader recovers without a decompiler: the app's own modules shipped as bytecode or source,
and docstrings left in although the build asked for `no_docstrings`.

Facts come from `hardnut.exposure.from_artifact` (the decoded constants blobs the secrets check left
in ctx.cache, Nuitka's report parsed by the build check, the walked files, and the app's sources from
the profile's folder). "Own" modules are what the report calls the program's own code (the main
module and compiled modules from outside any interpreter prefix) plus the profile's include_packages.
A release build is one made with --deployment (from the report).
"""

from __future__ import annotations

from typing import Iterable

from hardnut.checks.base import CheckContext, rule_finding
from hardnut.model import Finding, Rule, Severity

OWN_BYTECODE = Rule(
    "HN-EXP-001", "own module shipped as bytecode", "build", Severity.MEDIUM,
    "A module of the app's own code is in the artifact as Python bytecode (Nuitka included it "
    "uncompiled - a plugin's or --noinclude-custom-mode decision - or a .pyc file ships in the dist). "
    "Bytecode decompiles back to readable source with standard tools; compiled modules do not. "
    "Medium in a release (--deployment) build, low otherwise.",
    ("https://nuitka.net/doc/user-manual.html",),
)
OWN_SOURCE = Rule(
    "HN-EXP-002", "own module shipped as source", "build", Severity.HIGH,
    "A .py/.pyi file of the app's own code ships in the artifact (usually as data: include_data, or "
    "package data of an included package). Whoever holds the artifact reads the code as written, "
    "comments included. High in a release (--deployment) build, low otherwise.",
)
DOCSTRINGS_LEFT = Rule(
    "HN-EXP-003", "docstrings present although no_docstrings was asked", "build", Severity.MEDIUM,
    "The build asked for --python-flag=no_docstrings (profile or Nuitka report), but the constants of "
    "compiled modules still hold docstrings of the sources: the flag did not take effect, or the "
    "artifact was built from other sources or options. Docstrings document the code to a reader. "
    "Recognised by matching the sources' docstrings (found through the profile's folder) against the "
    "decoded constants; without sources this rule cannot tell and stays silent.",
)
RULES = [OWN_BYTECODE, OWN_SOURCE, DOCSTRINGS_LEFT]


def run(ctx: CheckContext) -> Iterable[Finding]:
    from hardnut.checks.build import get_report
    from hardnut.exposure import from_artifact

    report = get_report(ctx)
    if report is None and not any(k.startswith("constants_blob:") and v is not None for k, v in ctx.cache.items()):
        return []  # not a Nuitka program we can tell anything about
    config = ctx.config
    exp = from_artifact(ctx.artifact, source_roots=config.source_roots, own=config.own_packages,
                        python_flags=config.python_flags, limits=config.limits, blobs=ctx.cache, report=report,
                        samples=False)
    release = report.deployment if report is not None else False
    out: list[Finding] = []
    for m in exp.shipped:
        if not m.own:
            continue
        rule = OWN_BYTECODE if m.form == "bytecode" else OWN_SOURCE
        severity = rule.severity if release else Severity.LOW
        where = m.path or (exp.binaries[0] if exp.binaries else ".")
        out.append(rule_finding(rule, where, f"module {m.name} ships as {m.form}: {m.how}", module=m.name,
                                severity=severity))
    if "no_docstrings" in exp.python_flags:
        for m in exp.compiled:
            docs = m.classes["docstrings"]
            if docs.count and m.docstrings_basis == "source":
                out.append(rule_finding(DOCSTRINGS_LEFT, m.binary,
                                        f"module {m.name} holds {docs.count} docstrings ({docs.bytes} bytes) of its "
                                        f"source although no_docstrings was asked", module=m.name))
    return out
