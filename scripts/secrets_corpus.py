#!/usr/bin/env python3
"""Build the HELD-OUT secret corpus from the three peers' own test cases (never committed).

    python scripts/secrets_corpus.py [--gitleaks DIR.git] [--detect-secrets DIR.git] [--trufflehog DIR.git]

Sources (bare git mirrors, read with `git show HEAD:path`; default: /work/.mirror/<owner>+<name>/repo):
* gitleaks   cmd/generate/config/rules/*.go: the `tps` / `fps` sample lists of every rule. String
             literals are taken as they are; `secrets.NewSecret(regex)` and the `utils.*` pattern
             helpers are expanded with a seeded random generator over Python's regex parser, and
             `utils.GenerateSampleSecret(s)` wrap a secret in the same contexts gitleaks uses
             (INI, JSON, YAML, XML, Go, Java, PHP, make...), re-implemented here from its list.
* detect-secrets  tests/plugins/*_test.py: `pytest.mark.parametrize` rows `(text, should_flag)`.
* trufflehog pkg/detectors/*/*_test.go: the pattern tests' `input:` texts (evaluated with the file's
             string constants); a non-empty `want` makes a true positive, an empty one a negative.

Output: .secrets-corpus/heldout.jsonl (gitignored), one {"source", "rule", "kind": "tp"|"fp",
"text"} per line. Peers' code is only read here, never copied into the repository.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import subprocess
import sys
from pathlib import Path

try:
    import re._parser as sre_parse  # Python 3.11+
    import re._constants as sre_c
except ImportError:  # pragma: no cover
    import sre_parse  # type: ignore
    import sre_constants as sre_c  # type: ignore

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / ".secrets-corpus"
MIRRORS = Path("/work/.mirror")


def git_show(gitdir: Path, path: str) -> str:
    return subprocess.run(["git", "--git-dir", str(gitdir), "show", f"HEAD:{path}"], check=True,
                          capture_output=True).stdout.decode("utf-8", "replace")


def git_ls(gitdir: Path, under: str) -> list[str]:
    out = subprocess.run(["git", "--git-dir", str(gitdir), "ls-tree", "-r", "--name-only", "HEAD", under],
                         check=True, capture_output=True).stdout.decode()
    return out.split()


# -- a random string generator over Python's regex parser ------------------------------------

_PRINTABLE = [chr(c) for c in range(0x21, 0x7F)]


def _class_chars(items) -> list[str]:
    chars: list[str] = []
    negate = False
    for op, av in items:
        if op is sre_c.NEGATE:
            negate = True
        elif op is sre_c.LITERAL:
            chars.append(chr(av))
        elif op is sre_c.RANGE:
            chars.extend(chr(c) for c in range(av[0], av[1] + 1))
        elif op is sre_c.CATEGORY:
            chars.extend(_category(av))
    if negate:
        chars = [c for c in _PRINTABLE if c not in chars]
    return chars or ["x"]


def _category(cat) -> list[str]:
    name = str(cat)
    if "DIGIT" in name and "NOT" not in name:
        return list("0123456789")
    if "WORD" in name and "NOT" not in name:
        return list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
    if "SPACE" in name and "NOT" not in name:
        return [" "]
    return list("abcdefghijklmnopqrstuvwxyz")


def _gen(parsed, rnd: random.Random, out: list[str]) -> None:
    for op, av in parsed:
        if op is sre_c.LITERAL:
            out.append(chr(av))
        elif op is sre_c.NOT_LITERAL:
            out.append(rnd.choice([c for c in _PRINTABLE if ord(c) != av]))
        elif op is sre_c.ANY:
            out.append(rnd.choice(_PRINTABLE))
        elif op is sre_c.IN:
            out.append(rnd.choice(_class_chars(av)))
        elif op in (sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)):
            lo, hi, sub = av
            hi = lo + 12 if hi is sre_c.MAXREPEAT or hi > lo + 200 else hi
            for _ in range(rnd.randint(lo, hi)):
                _gen(sub, rnd, out)
        elif op is sre_c.SUBPATTERN:
            _gen(av[-1], rnd, out)
        elif op is sre_c.BRANCH:
            _gen(rnd.choice(av[1]), rnd, out)
        elif op is getattr(sre_c, "ATOMIC_GROUP", None):
            _gen(av, rnd, out)
        # AT (anchors), ASSERT, GROUPREF...: nothing to emit


def _python_regex(go: str) -> str:
    s = go.replace("[[:alnum:]]", "[A-Za-z0-9]").replace(r"\z", r"\Z")
    s = re.sub(r"\(\?-?i\)", "", s)
    s = re.sub(r"\(\?-?i:", "(?:", s)
    return s


def random_from_regex(pattern: str, rnd: random.Random) -> str:
    parsed = sre_parse.parse(_python_regex(pattern))
    out: list[str] = []
    _gen(parsed, rnd, out)
    return "".join(out)


# -- gitleaks ---------------------------------------------------------------------------------

# the contexts of gitleaks' utils.GenerateSampleSecrets, re-typed ({i} identifier, {I} upper, {s} secret)
SAMPLE_CONTEXTS = [
    '{i}Token="{s}"', '{i}Token = "{s}"', "{i}Token={s}", "{i}Token = {s}",
    '{\n    "{i}_token": "{s}"\n}', '{"config.ini": "{I}_TOKEN={s}\\nBACKUP_ENABLED=true"}',
    "<{i}Token>\n    {s}\n</{i}Token>", "{i}_token: {s}", "{i}_token: '{s}'", '{i}_token: "{s}"',
    'string {i}Token = "{s}";', 'var {i}Token string = "{s}"', '{i}Token := "{s}"', "{i}Token := `{s}`",
    'String {i}Token = "{s}";', 'var {i}Token = "{s}"', '${i}Token .= "{s}"', "{i}Token = '{s}'",
    '{i}Token = "{s}"', 'System.setProperty("{I}_TOKEN", "{s}")', '  "{i}Token" => "{s}"',
    '{i}_TOKEN = "{s}"', '{i}_TOKEN := "{s}"', '{i}_TOKEN ::= "{s}"', '{i}_TOKEN :::= "{s}"', '{i}_TOKEN ?= "{s}"',
]

_HELPERS = {
    "utils.Numeric": "[0-9]{%s}", "utils.Hex": "[a-f0-9]{%s}", "utils.AlphaNumeric": "[a-z0-9]{%s}",
    "utils.AlphaNumericExtendedShort": "[a-z0-9_-]{%s}", "utils.AlphaNumericExtended": "[a-z0-9=_\\-]{%s}",
    "utils.AlphaNumericExtendedLong": "[a-z0-9\\/=_\\+\\-]{%s}",
}

_TOKEN = re.compile(r'\s+|//[^\n]*|"(?:\\.|[^"\\])*"|`[^`]*`|\[\]string|[A-Za-z_][\w.]*|[(){},+]|.', re.S)


class GoExpr:
    """Evaluates the tiny subset of Go used for sample lists; unknown constructs raise ValueError."""

    def __init__(self, text: str, rnd: random.Random, consts: dict[str, object]) -> None:
        self.toks = [t for t in _TOKEN.findall(text) if t.strip() and not t.startswith("//")]
        self.i = 0
        self.rnd = rnd
        self.consts = consts

    def peek(self) -> str:
        return self.toks[self.i] if self.i < len(self.toks) else ""

    def take(self, want: str | None = None) -> str:
        t = self.peek()
        if want is not None and t != want:
            raise ValueError(f"expected {want}, got {t}")
        self.i += 1
        return t

    def expr(self):
        val = self.term()
        while self.peek() == "+":
            self.take()
            rhs = self.term()
            if isinstance(val, list) or isinstance(rhs, list):
                raise ValueError("list concat")
            val = val + rhs
        return val

    def args(self) -> list:
        self.take("(")
        out = []
        while self.peek() != ")":
            out.append(self.expr())
            if self.peek() == ",":
                self.take()
        self.take(")")
        return out

    def term(self):
        t = self.take()
        if t.startswith('"'):
            return ast.literal_eval(t.replace("\\x60", "`"))
        if t.startswith("`"):
            return t[1:-1]
        if t == "[]string":
            self.take("{")
            out = []
            while self.peek() != "}":
                v = self.expr()
                out.extend(v if isinstance(v, list) else [v])
                if self.peek() == ",":
                    self.take()
            self.take("}")
            return out
        if t in _HELPERS:
            (n,) = self.args()
            return _HELPERS[t] % n
        if t == "utils.Hex8_4_4_4_12":
            self.args()
            return "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
        if t in ("secrets.NewSecret", "secrets.NewSecretWithEntropy"):
            a = self.args()
            return random_from_regex(a[0], self.rnd)
        if t == "utils.GenerateSampleSecret":
            ident, secret = self.args()
            return f'{ident}_api_token = "{secret}"'
        if t == "utils.GenerateSampleSecrets":
            ident, secret = self.args()
            return [c.replace("{i}", ident).replace("{I}", ident.upper()).replace("{s}", secret) for c in SAMPLE_CONTEXTS]
        if t == "append":
            a = self.args()
            out = []
            for v in a:
                out.extend(v if isinstance(v, list) else [v])
            return out
        if t == "fmt.Sprintf":
            a = self.args()
            fmt = a[0]
            for v in a[1:]:
                fmt = re.sub(r"%[sqvd]", lambda _m: str(v).replace("\\", "\\\\"), fmt, count=1)
            return fmt
        if t in self.consts:
            return self.consts[t]
        raise ValueError(f"unsupported {t}")


def _balanced(text: str, start: int) -> int:
    """End of the expression starting at `start` (balanced brackets, up to a newline at depth 0)."""
    depth, i, n = 0, start, len(text)
    while i < n:
        c = text[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth < 0:
                return i
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif c == "`":
            j = text.find("`", i + 1)
            i = n if j < 0 else j
        elif c == "\n" and depth == 0:
            return i
        elif c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            if depth == 0:
                return i
            i = j - 1 if j > 0 else n
        i += 1
    return n


_FUNC = re.compile(r"^func (\w+)\(\)[^{]*\{", re.M)
_ASSIGN = re.compile(r"^\s*(tps|fps|\w+)\s*(:?=)\s*", re.M)


def gitleaks_samples(gitdir: Path, rnd: random.Random) -> list[dict]:
    out = []
    stats = {"ok": 0, "failed": 0}
    for path in git_ls(gitdir, "cmd/generate/config/rules"):
        if not path.endswith(".go") or path.endswith("_test.go"):
            continue
        text = git_show(gitdir, path)
        funcs = [(m.start(), m.group(1)) for m in _FUNC.finditer(text)] + [(len(text), "")]
        for (fs, fname), (fe, _) in zip(funcs, funcs[1:]):
            body = text[fs:fe]
            rid = re.search(r'RuleID:\s*"([^"]+)"', body)
            rule = rid.group(1) if rid else fname
            consts: dict[str, object] = {}
            lists: dict[str, list] = {"tps": [], "fps": []}
            for m in _ASSIGN.finditer(body):
                name = m.group(1)
                end = _balanced(body, m.end())
                src = body[m.end():end]
                try:
                    val = GoExpr(src, rnd, {**consts, **lists}).expr()
                except (ValueError, SyntaxError, IndexError, re.error, TypeError, OverflowError):
                    if name in ("tps", "fps"):
                        stats["failed"] += 1
                    continue
                if name in ("tps", "fps"):
                    vals = val if isinstance(val, list) else [val]
                    lists[name] = vals  # append(tps, ...) re-evaluates with the old list included
                    stats["ok"] += 1
                else:
                    consts[name] = val
            for kind in ("tps", "fps"):
                for s in lists[kind]:
                    if isinstance(s, str) and s.strip():
                        out.append({"source": "gitleaks", "rule": rule, "kind": kind[:2], "text": s})
    print(f"gitleaks: {stats['ok']} sample lists evaluated, {stats['failed']} skipped (unsupported Go)", file=sys.stderr)
    return out


# -- detect-secrets ---------------------------------------------------------------------------

# detect-secrets plugins whose samples are not credentials (public IP addresses)
NOT_SECRETS = {"ip_public"}


def detect_secrets_samples(gitdir: Path) -> list[dict]:
    """Rows `(text, should_flag)`; unexpanded templates ("{secret}") and non-credential plugins skipped."""
    out = []
    for path in git_ls(gitdir, "tests/plugins"):
        if not path.endswith("_test.py"):
            continue
        tree = ast.parse(git_show(gitdir, path))
        plugin = Path(path).stem.replace("_test", "")
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize" and len(node.args) >= 2):
                continue
            try:
                rows = ast.literal_eval(node.args[1])
            except ValueError:
                continue
            if plugin in NOT_SECRETS:
                continue
            for row in rows:
                if (isinstance(row, tuple) and len(row) >= 2 and isinstance(row[0], str)
                        and isinstance(row[1], bool) and "{secret}" not in row[0]):
                    out.append({"source": "detect-secrets", "rule": plugin, "kind": "tp" if row[1] else "fp",
                                "text": row[0]})
    return out


# -- trufflehog -------------------------------------------------------------------------------

_TH_CONST = re.compile(r'^\s*(\w+)\s*(?::=|=)\s*("(?:\\.|[^"\\])*"|`[^`]*`)\s*$', re.M)
_TH_INPUT = re.compile(r"\binput:\s*")
_TH_WANT = re.compile(r"\bwant:\s*(nil|\[\]string\{\s*\}|\[\]string\{|map\[)")


_TH_NAME = re.compile(r'name:\s*"([^"\n]*)"')


def trufflehog_samples(gitdir: Path) -> list[dict]:
    """The pattern tests' inputs: `input: <expr>` with a non-empty `want` is a true positive, an
    empty / nil `want` a negative. Inputs are evaluated with the file's string constants."""
    out = []
    rnd = random.Random(1)
    for path in git_ls(gitdir, "pkg/detectors"):
        if not path.endswith("_test.go") or "integration" in path:
            continue
        text = git_show(gitdir, path)
        det = path.split("/")[2]
        consts: dict[str, object] = {}
        for m in _TH_CONST.finditer(text):
            lit = m.group(2)
            try:
                consts[m.group(1)] = lit[1:-1] if lit.startswith("`") else ast.literal_eval(lit.replace("\\x60", "`"))
            except (ValueError, SyntaxError):
                continue
        for m in _TH_INPUT.finditer(text):
            end = _balanced(text, m.end())
            src = text[m.end():end].rstrip().rstrip(",")
            w = _TH_WANT.search(text, end, end + 400)
            if w is None:
                continue
            try:
                val = GoExpr(src, rnd, consts).expr()
            except (ValueError, SyntaxError, IndexError, re.error, TypeError, OverflowError):
                continue
            if not isinstance(val, str) or len(val) < 8:
                continue
            kind = "fp" if w.group(1) in ("nil",) or w.group(1).endswith("}") else "tp"
            names = _TH_NAME.findall(text, max(0, m.start() - 600), m.start())
            out.append({"source": "trufflehog", "rule": det, "kind": kind, "text": val,
                        "case": names[-1][:80] if names else ""})
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gitleaks", type=Path, default=MIRRORS / "gitleaks+gitleaks" / "repo")
    ap.add_argument("--detect-secrets", type=Path, default=MIRRORS / "Yelp+detect-secrets" / "repo")
    ap.add_argument("--trufflehog", type=Path, default=MIRRORS / "trufflesecurity+trufflehog" / "repo")
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    rows = gitleaks_samples(args.gitleaks, rnd) + detect_secrets_samples(args.detect_secrets)
    if args.trufflehog.exists():
        rows += trufflehog_samples(args.trufflehog)
    OUT.mkdir(exist_ok=True)
    dest = OUT / "heldout.jsonl"
    with open(dest, "w") as fh:
        for r in rows:
            fh.write(json.dumps(r) + "\n")
    by = {}
    for r in rows:
        by.setdefault((r["source"], r["kind"]), 0)
        by[(r["source"], r["kind"])] += 1
    for k, v in sorted(by.items()):
        print(f"{k[0]:15} {k[1]}: {v}", file=sys.stderr)
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
