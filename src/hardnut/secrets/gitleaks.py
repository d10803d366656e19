"""Read a gitleaks configuration (.gitleaks.toml) into hardnut secret rules and allowlists.

Supported (applied wherever hardnut scans for secrets: source, data files, archives, binaries
incl. Nuitka constants and UTF-16LE text):
* `[[rules]]` with `regex`: id, description, regex (Go RE2 syntax; the common subset is translated
  to Python `re`: mid-pattern `(?i)`, POSIX classes, `\\z`), `secretGroup` (else the first non-empty
  group, else the whole match, like gitleaks), `entropy`, `keywords` (literal prefilter; a rule
  without keywords runs over every byte, ASCII only, which is slower), rule `[[rules.allowlists]]`
  (or the older `[rules.allowlist]`) with `regexes`, `regexTarget` ("secret" default, "match";
  "line" is treated as "match"), `stopwords`, `paths`, `condition` ("OR" default, "AND").
* global `[allowlist]` / `[[allowlists]]` with `regexes`, `regexTarget`, `stopwords`, `paths`
  and `targetRules` (gitleaks rule ids; hardnut's own rules are targeted by their HN-SEC id). A
  global allowlist applies to hardnut's built-in rules too.
Not supported (reported as notes, never silently): path-only rules (`path` without `regex`),
`[[rules.required]]` composite rules, `commits` allowlists (there is no git history in an
artifact), `[extend]` (hardnut's own rules always run; `extend.disabledRules` is honoured for
nothing but noted), `skipReport`, `tags`.

Custom rules are reported at high, with the id `gitleaks:<rule id>`. A broken file or regex is a
clear `GitleaksConfigError` (the CLI turns it into exit code 2).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from hardnut.model import Severity

MAX_CONFIG_BYTES = 4 * 1024 * 1024


class GitleaksConfigError(Exception):
    """The gitleaks configuration cannot be read or one of its regexes cannot be used."""


@dataclass(frozen=True)
class Allowlist:
    """A gitleaks allowlist: the regexes, stopwords and paths that clear a match."""

    regexes: tuple[bytes, ...] = ()
    target: str = "secret"  # "secret" or "match"
    stopwords: tuple[bytes, ...] = ()  # lowercase
    paths: tuple[str, ...] = ()
    condition: str = "OR"
    rules: tuple[str, ...] = ()  # global allowlists: only these rule ids (empty: all)

    def allows(self, secret: bytes, match: bytes, path: Optional[str] = None) -> bool:
        """True when this allowlist suppresses the finding (path None: path not known yet)."""
        if self.paths and path is None and self.condition == "AND":
            return False  # decided once the path is known (checks.secrets.path_allowed)
        results = []
        if self.regexes:
            target = match if self.target == "match" else secret
            results.append(any(r.search(target) for r in _regex_cache(self.regexes)))
        if self.stopwords:
            low = secret.lower()
            results.append(any(w in low for w in self.stopwords))
        if self.paths and path is not None:
            results.append(any(re.search(p, path) for p in self.paths))
        if not results:
            return False
        return all(results) if self.condition == "AND" else any(results)

    def allows_path(self, path: str) -> bool:
        """A paths-only allowlist (OR): the whole file is skipped."""
        return bool(self.paths) and not self.regexes and not self.stopwords and any(re.search(p, path) for p in self.paths)


_REGEX_CACHE: dict[tuple[bytes, ...], list[re.Pattern]] = {}


def _regex_cache(regexes: tuple[bytes, ...]) -> list[re.Pattern]:
    got = _REGEX_CACHE.get(regexes)
    if got is None:
        got = _REGEX_CACHE[regexes] = [re.compile(r) for r in regexes]
    return got


@dataclass(frozen=True)
class CustomRule:
    """A custom rule from a .gitleaks.toml, as hardnut applies it."""

    id: str  # "gitleaks:<id>"
    description: str
    pattern: bytes
    keywords: tuple[bytes, ...]
    secret_group: int
    entropy: float
    allowlists: tuple[Allowlist, ...] = ()


@dataclass(frozen=True)
class GitleaksConfig:
    """Everything hardnut uses from one .gitleaks.toml; plain data, so it pickles to workers."""

    path: str
    rules: tuple[CustomRule, ...] = ()
    allowlists: tuple[Allowlist, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def global_allows(self, rule_id: str, secret: bytes, match: bytes, path: Optional[str] = None) -> bool:
        bare = rule_id.split(":", 1)[1] if rule_id.startswith("gitleaks:") else rule_id
        for al in self.allowlists:
            if al.rules and bare not in al.rules and rule_id not in al.rules:
                continue
            if al.allows(secret, match, path):
                return True
        return False

    def path_allowed(self, rule, secret: bytes, path: str) -> bool:
        """Allowlists that involve paths (the rule's own, then global ones), once the path is known."""
        for al in getattr(rule, "allowlists", ()):
            if al.paths and al.allows(secret, secret, path):
                return True
        bare = rule.id.split(":", 1)[1] if rule.id.startswith("gitleaks:") else rule.id
        return any(al.paths and (not al.rules or bare in al.rules or rule.id in al.rules)
                   and al.allows(secret, secret, path) for al in self.allowlists)

    def skip_path(self, path: str) -> bool:
        return any(al.allows_path(path) and not al.rules for al in self.allowlists)


_POSIX = {"alnum": "A-Za-z0-9", "alpha": "A-Za-z", "digit": "0-9", "lower": "a-z", "upper": "A-Z",
          "space": r"\s", "xdigit": "0-9A-Fa-f", "word": r"\w", "punct": r"!-/:-@\[-`{-~"}


def go_to_python(regex: str) -> str:
    """Translate the RE2 constructs Python spells differently; mid-pattern `(?i)` flags become a
    scoped group over the rest of the enclosing group (approximated: the rest of the pattern)."""
    s = re.sub(r"\[:(\w+):\]", lambda m: _POSIX.get(m.group(1), m.group(0)), regex)
    s = s.replace(r"\z", r"\Z")
    s = re.sub(r"\(\?P<", "(?P<", s)
    m = re.search(r"\(\?([imsU]+)\)", s)
    if m and m.start() > 0:
        flags = m.group(1).replace("U", "")
        s = s[:m.start()] + (f"(?{flags}:" if flags else "(?:") + s[m.end():] + ")"
    return s.replace("(?U)", "")


def _strings(value, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise GitleaksConfigError(f"{where}: must be a list of strings")
    return tuple(value)


def _compile(regex: str, where: str) -> bytes:
    py = go_to_python(regex)
    try:
        re.compile(py.encode())
    except re.error as exc:
        raise GitleaksConfigError(f"{where}: regex cannot be used ({exc})") from None
    return py.encode()


def _allowlist(raw, where: str, global_: bool) -> tuple[Allowlist, list[str]]:
    if not isinstance(raw, dict):
        raise GitleaksConfigError(f"{where}: must be a table")
    notes = []
    if raw.get("commits"):
        notes.append(f"{where}: commits are ignored (no git history in an artifact)")
    target = str(raw.get("regexTarget", "secret")).lower()
    if target not in ("secret", "match", "line"):
        raise GitleaksConfigError(f"{where}: regexTarget must be secret, match or line")
    if target == "line":
        notes.append(f"{where}: regexTarget line is applied to the match")
        target = "match"
    condition = str(raw.get("condition", "OR")).upper()
    if condition not in ("OR", "AND"):
        raise GitleaksConfigError(f"{where}: condition must be OR or AND")
    paths = _strings(raw.get("paths"), f"{where}.paths")
    for p in paths:
        try:
            re.compile(go_to_python(p))
        except re.error as exc:
            raise GitleaksConfigError(f"{where}.paths: {p!r} cannot be used ({exc})") from None
    al = Allowlist(
        regexes=tuple(_compile(r, f"{where}.regexes") for r in _strings(raw.get("regexes"), f"{where}.regexes")),
        target=target,
        stopwords=tuple(w.lower().encode() for w in _strings(raw.get("stopwords"), f"{where}.stopwords")),
        paths=tuple(go_to_python(p) for p in paths),
        condition=condition,
        rules=_strings(raw.get("targetRules"), f"{where}.targetRules") if global_ else (),
    )
    return al, notes


def load(path: Path) -> GitleaksConfig:
    """Parse a .gitleaks.toml. Raises GitleaksConfigError with a one-line reason."""
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise GitleaksConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GitleaksConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GitleaksConfigError(f"{path}: not valid TOML ({exc})") from None
    notes: list[str] = []
    if "extend" in data:
        notes.append("[extend] is ignored: hardnut's own rules always run")
    rules = []
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        raise GitleaksConfigError(f"{path}: rules must be an array of tables ([[rules]])")
    seen = set()
    for i, raw in enumerate(raw_rules):
        if not isinstance(raw, dict):
            raise GitleaksConfigError(f"{path}: rules[{i}] must be a table")
        rid = str(raw.get("id") or f"rule-{i}")
        where = f"{path.name}: rule {rid}"
        if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,100}", rid) or rid in seen:
            raise GitleaksConfigError(f"{where}: id must be unique, letters, digits . _ -")
        seen.add(rid)
        if "regex" not in raw:
            notes.append(f"{where}: path-only rules are not supported (skipped)")
            continue
        for unsupported in ("required", "skipReport"):
            if raw.get(unsupported):
                notes.append(f"{where}: {unsupported} is not supported (ignored)")
        group = raw.get("secretGroup", 0)
        entropy = raw.get("entropy", 0.0)
        if not isinstance(group, int) or group < 0 or not isinstance(entropy, (int, float)):
            raise GitleaksConfigError(f"{where}: secretGroup must be an integer >= 0, entropy a number")
        pattern = _compile(str(raw["regex"]), where)
        ngroups = re.compile(pattern).groups
        if group > ngroups:
            raise GitleaksConfigError(f"{where}: secretGroup {group} but the regex has {ngroups} groups")
        lists = []
        raw_lists = list(raw.get("allowlists", []) or [])
        if raw.get("allowlist"):
            raw_lists.append(raw["allowlist"])
        for j, al in enumerate(raw_lists):
            a, n = _allowlist(al, f"{where} allowlist {j}", global_=False)
            lists.append(a)
            notes.extend(n)
        keywords = tuple(k.lower().encode() for k in _strings(raw.get("keywords"), f"{where}.keywords") if k)
        rules.append(CustomRule(f"gitleaks:{rid}", str(raw.get("description", "") or rid), pattern, keywords,
                                group, float(entropy), tuple(lists)))
    globals_ = []
    raw_globals = list(data.get("allowlists", []) or [])
    if data.get("allowlist"):
        raw_globals.append(data["allowlist"])
    for j, al in enumerate(raw_globals):
        a, n = _allowlist(al, f"{path.name}: allowlist {j}", global_=True)
        globals_.append(a)
        notes.extend(n)
    return GitleaksConfig(str(path), tuple(rules), tuple(globals_), tuple(notes))


CUSTOM_SEVERITY = Severity.HIGH
