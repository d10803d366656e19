"""No planted secret ever leaves hardnut in full: not on stdout or stderr of any command, not in any report
format, baseline, manifest, SBOM or Nuitka report hardnut keeps, not in a file left in the temp folder.

The artifacts are the conftest builds of sample_apps/planted (standalone and onefile) and one more
`hardnut build --format json` of it with verification on. The list of secrets is read from the planted
app itself (string constants of its modules, config.json, .env) and checked against expected.json, so it
cannot drift from what was planted.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from conftest import SAMPLES

PLANTED = SAMPLES / "planted"
pytestmark = pytest.mark.nuitka


# ------------------------------------------------------------------------------- the secrets


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _candidates(value: str) -> set[str]:
    """Secret-looking pieces of one planted string: whitespace/quote separated tokens, and their parts
    split at ':/@=;' (a DSN's password, a connection string's key), kept when long, mixed and random."""
    out = set()
    for token in re.split(r"[\s\"',]+", value):
        for piece in {token, *re.split(r"[:/@=;]+", token)}:
            if len(piece) < 12 or _entropy(piece) < 3.3 or not re.search(r"[A-Za-z]", piece):
                continue
            if max(map(len, re.findall(r"[A-Za-z0-9]+", piece)), default=0) < 10:
                continue  # words joined by dashes (a format marker such as a key file header)
            case_flips = sum(1 for x, y in zip(piece, piece[1:]) if x.isalpha() and y.isalpha() and x.isupper() != y.isupper())
            if re.search(r"\d", piece) or case_flips / len(piece) >= 0.35:  # digits, or rANdoM letters
                out.add(piece)
    return out


def planted_secrets() -> list[str]:
    strings: list[str] = []
    for path in sorted(PLANTED.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        strings += [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]

    def walk_json(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from walk_json(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk_json(v)
        elif isinstance(node, str):
            yield node

    strings += list(walk_json(json.loads((PLANTED / "config.json").read_text())))
    for line in (PLANTED / ".env").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            strings.append(line.split("=", 1)[1])
    secrets = set()
    for s in strings:
        secrets |= _candidates(s)
    return sorted(secrets, key=len, reverse=True)


SECRETS = planted_secrets()


def test_the_secret_list_covers_what_was_planted():
    expected = json.loads((PLANTED / "expected.json").read_text())["secrets"]
    assert len(SECRETS) >= len(expected)
    for item in expected:
        value = item["value"]
        assert any(s in value for s in SECRETS if len(s) >= min(16, len(value))), f"not covered: {item['rule']}"


def leaks(text: str | bytes, where: str) -> list[str]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace") + "\n" + text.decode("utf-16-le", "replace")
    return [f"{where}: {s[:4]}…({len(s)} chars)" for s in SECRETS if s in text]


# ------------------------------------------------------------------------------- running it all


def _scan_tree(root: Path, where: str, skip: tuple[Path, ...] = ()) -> list[str]:
    found = []
    paths = [root] if root.is_file() else sorted(root.rglob("*"))
    for p in paths:
        if any(p == s or s in p.parents for s in skip) or not p.is_file() or p.is_symlink():
            continue
        if p.stat().st_size > 64 * 1024 * 1024:
            continue
        found += leaks(p.read_bytes(), f"{where}/{p.name}")
    return found


class Runner:
    """Runs `hardnut ...` with a private TMPDIR (so what is left there is this run's) and collects leaks."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        tmp.mkdir()
        self.leaks: list[str] = []
        self.commands: list[str] = []

    def __call__(self, *args: str, cwd: Path | None = None, ok=(0, 1)) -> subprocess.CompletedProcess:
        res = subprocess.run([sys.executable, "-m", "hardnut", *args], cwd=cwd, capture_output=True, text=True,
                             timeout=1800, stdin=subprocess.DEVNULL, env={**os.environ, "TMPDIR": str(self.tmp)})
        name = " ".join(a if not a.startswith("/") else Path(a).name for a in args)
        return self.record(name, res, ok)

    def record(self, name: str, res: subprocess.CompletedProcess, ok=(0, 1)) -> subprocess.CompletedProcess:
        """Judge a finished `hardnut` run (also one a fixture made)."""
        self.commands.append(name)
        assert res.returncode in ok, f"hardnut {name}: exit {res.returncode}\n{res.stderr[-2000:]}"
        assert "Traceback" not in res.stderr, res.stderr[-2000:]
        self.leaks += leaks(res.stdout, f"stdout of `hardnut {name}`") + leaks(res.stderr, f"stderr of `hardnut {name}`")
        return res


FORMATS = ("text", "json", "sarif", "junit", "markdown", "html")


def test_no_command_or_file_shows_a_secret(planted_cli_build, planted_onefile, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    run = Runner(tmp_path / "tmp")

    # build (text progress on stderr, JSON result on stdout), with its outputs: the session's CLI build of
    # the planted sample (conftest.planted_cli_build); its result is rendered again in every format by
    # `hardnut report` (a second build would only repeat the compile)
    res = run.record("build -p strict.toml --format json", planted_cli_build.result)
    planted_standalone = Path(planted_cli_build.doc["dist"])
    doc = json.loads(res.stdout)
    assert doc["verify"]["findings"], "the build verified nothing"
    assert any(f["category"] == "secret" for f in doc["verify"]["findings"])
    (out / "build.json").write_text(res.stdout)
    run("report", str(out / "build.json"), "--format", "text", *[a for fmt in FORMATS[1:] for a in
        ("--format", fmt, "-o", str(out / f"build-report.{fmt}"))])
    built = Path(doc["artifact"])
    outputs = built.parent.parent if doc.get("dist") else built.parent  # output_dir: report, manifest, SBOM
    kept = [Path(doc[k]) for k in ("report", "manifest", "sbom") if doc.get(k)]
    assert kept and all(p.is_file() for p in kept)

    # verify every target in every format, to stdout and to files; baselines; manifests
    targets = {"standalone": planted_standalone, "onefile": planted_onefile}
    for label, target in targets.items():  # one check per target, every format: stdout and files
        res = run("verify", str(target), "--format", "text",
                  *[a for fmt in FORMATS for a in ("--format", fmt, "-o", str(out / f"{label}.{fmt}"))])
        assert res.stdout.strip()
        run("verify", str(target), "--write-baseline", str(out / f"{label}.baseline.json"))
        run("verify", str(target), "--baseline", str(out / f"{label}.baseline.json"), "--format", "json")
        run("verify", str(target), "-p", "ci-verify", "--fail-on", "info", "--format", "sarif")
    manifest = next(p for p in kept if p.name.endswith(".hardnut.json"))
    run("verify", str(planted_standalone), "--manifest", str(manifest), "--format", "json")
    json.loads((out / "standalone.json").read_text())
    assert any(f["category"] == "secret" and f.get("evidence")
               for f in json.loads((out / "onefile.json").read_text())["findings"]), "no secret found in the onefile"

    # exposure (every format) and diff of the planted builds: constants are listed, secrets masked
    for label, target in targets.items():
        for fmt in ("text", "json", "html"):
            run("exposure", str(target), "--format", fmt, "-o", str(out / f"{label}.exposure.{fmt}"))
        run("exposure", str(target), "-p", str(PLANTED / "hardnut.toml"))
    run("diff", str(targets["standalone"]), str(targets["onefile"]))
    run("diff", str(targets["onefile"]), str(targets["standalone"]), "--format", "json")

    # check-source over the planted sources, every format
    run("check-source", "-p", str(PLANTED / "hardnut.toml"), "--format", "json",
        *[a for fmt in FORMATS for a in ("--format", fmt, "-o", str(out / f"source.{fmt}"))])

    # unpack (its output folder holds the payload itself, secrets included, on purpose: not scanned)
    unpacked = tmp_path / "unpacked"
    run("unpack", str(planted_onefile), "-o", str(unpacked))
    assert any(unpacked.rglob("*"))
    run("rules")
    run("rules", "--format", "json")
    secret_rules = [r["id"] for r in json.loads(run("rules", "--format", "json").stdout) if r["category"] == "secret"]
    assert len(secret_rules) > 40
    run("explain", *secret_rules)
    run("rules", "--category", "secret")

    # the detector works on these very artifacts: the payload and the binaries do hold the secrets
    assert _scan_tree(unpacked, "unpacked") and _scan_tree(Path(doc["dist"] or built), "dist")

    problems = list(run.leaks)
    problems += _scan_tree(out, "reports")
    for p in kept:
        problems += _scan_tree(p, "kept beside the artifact")
    problems += _scan_tree(outputs, "output_dir", skip=(Path(doc["dist"] or built),))

    # nothing left in the temp folder by hardnut, and nothing left there (by anyone) holds a secret
    for tmp in (run.tmp, planted_cli_build.tmp):
        left = sorted(p.name for p in tmp.iterdir())
        assert not [n for n in left if n.startswith(("hardnut-", ".hardnut-"))], left
        problems += _scan_tree(tmp, "temp")
    assert len(run.commands) > 25  # every command and format (several formats per run since one check renders all)
    assert not problems, "secrets shown in full:\n" + "\n".join(sorted(set(problems)))
