"""Files that should not ship: sources, bytecode, build and VCS folders, keys, .env files, droppings.

Rules match on names (and, for .pem/.key files, on a bounded read of the content). Folder rules are
aggregated: a shipped `.git` folder is one finding at the folder, and nothing inside it is reported
again. Paths inside onefile payloads ('BIN!/inner') are judged by their inner path.

What a real Nuitka dist legitimately contains is not reported: extension modules and DLLs, data files,
`.dist-info` metadata, certificate bundles such as certifi's `cacert.pem` (no private key inside).
Type stubs (`.pyi`) are reported at info only: they hold signatures, no code, and many packages ship them.
Folders listed in the profile's `allow_dirs` (relative paths or glob patterns) are skipped.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Iterable, Optional

from hardnut.checks.base import CheckContext, rule_finding
from hardnut.model import Finding, Rule, Severity

PY_SOURCE = Rule(
    "HN-LEFT-001", "Python source file", "leftover", Severity.MEDIUM,
    "A .py/.pyw file ships beside the compiled program. Nuitka compiles modules into the binary, so a "
    "source file in the dist discloses code the build was meant to protect, and can shadow the compiled "
    "module at run time. Files the Nuitka report lists as intended data files are reported at low.",
)
BYTECODE = Rule(
    "HN-LEFT-002", "Python bytecode file", "leftover", Severity.MEDIUM,
    "A .pyc/.pyo file ships in the dist. Bytecode decompiles to near-original source and is never needed "
    "by a Nuitka-compiled program.",
)
PYCACHE = Rule(
    "HN-LEFT-003", "__pycache__ folder", "leftover", Severity.MEDIUM,
    "A __pycache__ folder ships in the dist (one finding per folder). It holds decompilable bytecode and "
    "usually means a source tree was copied into the dist.",
)
TYPE_STUBS = Rule(
    "HN-LEFT-004", "type stub files", "leftover", Severity.INFO,
    "Type stubs (.pyi) ship in the dist (one finding for all). They contain signatures and no code, and "
    "many packages ship them on purpose, so this is information only.",
)
C_SOURCE = Rule(
    "HN-LEFT-005", "C/C++ sources or headers", "leftover", Severity.MEDIUM,
    "C or C++ source files (.c, .cpp, ...) ship in the dist, one finding per folder; headers alone "
    "(.h, .hpp) are low. They are build inputs, not run-time files, and Nuitka's generated C is a "
    "readable form of the compiled program.",
)
OBJECTS = Rule(
    "HN-LEFT-006", "object files or static libraries", "leftover", Severity.MEDIUM,
    "Object files and static archives (.o, .obj, .a) ship in the dist, one finding per folder. They are "
    "build intermediates carrying symbols and build paths. Windows .lib files (import or static "
    "libraries) are needed only for linking and are reported at low.",
)
ENV_FILE = Rule(
    "HN-LEFT-007", ".env file", "leftover", Severity.HIGH,
    "A .env/.envrc file ships in the dist. These hold environment configuration, very often credentials "
    "and API keys. Templates (.env.example, .env.sample, .env.template) are reported at low.",
)
KEY_FILE = Rule(
    "HN-LEFT-008", "private key or credential file", "leftover", Severity.HIGH,
    "A private key or credential store ships in the dist: SSH keys (id_rsa, id_ed25519, ...), PEM/.key "
    "files holding a PRIVATE KEY (critical when not encrypted), PKCS#12 (.p12, .pfx), Java keystores, "
    "PuTTY keys, or credential files (.netrc, .pypirc, .git-credentials, .npmrc, .htpasswd, AWS "
    "credentials). Certificate bundles without a private key (e.g. certifi's cacert.pem) are not reported.",
)
VCS = Rule(
    "HN-LEFT-009", "version control folder", "leftover", Severity.HIGH,
    "A .git/.hg/.svn/.bzr folder ships in the dist (one finding per folder). It carries the full history, "
    "including anything ever committed and later removed (keys, passwords, internal code).",
)
NUITKA_BUILD = Rule(
    "HN-LEFT-010", "Nuitka build folder or build file", "leftover", Severity.HIGH,
    "Nuitka's build folder (*.build, *.onefile-build), its cache, or build files (scons-debug.py, "
    ".sconsign*.dblite, *.const, nuitka-crash-report.xml) ship in the dist. The build folder holds the "
    "generated C source of the whole program and its constants: the compilation is undone.",
)
TESTS = Rule(
    "HN-LEFT-011", "test folder", "leftover", Severity.LOW,
    "A tests/test folder ships in the dist (one finding per folder). Test suites are dead weight at run "
    "time, widen the attack surface, and sometimes carry fixtures with real-looking credentials.",
)
DROPPINGS = Rule(
    "HN-LEFT-012", "editor, OS or VCS dropping", "leftover", Severity.LOW,
    "Files and folders left by editors, operating systems and VCS tools (.DS_Store, Thumbs.db, desktop.ini, "
    "*~, .*.swp, *.orig, *.rej, .idea/, .vscode/, __MACOSX/, .gitignore ...). Harmless at run time but they "
    "reveal local paths and tooling and show the dist was assembled from a work folder.",
)
PROJECT_FILES = Rule(
    "HN-LEFT-013", "CI or project file", "leftover", Severity.LOW,
    "CI configuration (.github/, .gitlab-ci.yml, Jenkinsfile, ...) or project files (pyproject.toml, "
    "setup.py, requirements*.txt, tox.ini, Makefile ...) ship in the dist. They document the build and "
    "deployment pipeline to anyone holding the artifact and are not needed at run time.",
)

RULES = [PY_SOURCE, BYTECODE, PYCACHE, TYPE_STUBS, C_SOURCE, OBJECTS, ENV_FILE, KEY_FILE, VCS,
         NUITKA_BUILD, TESTS, DROPPINGS, PROJECT_FILES]

MAX_PER_RULE = 50  # per-file findings of one rule before a single summary finding
KEY_SCAN_BYTES = 1024 * 1024
_PEM_KEY = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")

# folder name -> rule (first matching folder from the root wins; nothing below it is reported again)
_VCS_DIRS = {".git", ".hg", ".svn", ".bzr", "_darcs", "CVS"}
_EDITOR_DIRS = {".idea", ".vscode", ".vs", "__MACOSX", ".settings", ".ipynb_checkpoints", ".mypy_cache",
                ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".hypothesis"}
_CI_DIRS = {".github", ".gitlab", ".circleci", ".buildkite", ".azure-pipelines", ".woodpecker"}
_TEST_DIRS = {"tests", "test"}
_BUILD_DIR_SUFFIXES = (".build", ".onefile-build")
_BUILD_DIRS = {".nuitka-cache", "nuitka-cache", "__nuitka_cache__"}

_C_SOURCES = {".c", ".cc", ".cpp", ".cxx", ".c++", ".m", ".mm"}
_C_HEADERS = {".h", ".hh", ".hpp", ".hxx", ".h++", ".inl"}
_OBJECTS = {".o", ".obj", ".a"}
_SSH_KEYS = {"id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "identity"}
_KEY_STORES = {".p12", ".pfx", ".jks", ".keystore", ".ppk", ".bks"}
_CREDENTIAL_FILES = {".netrc", "_netrc", ".pypirc", ".git-credentials", ".npmrc", ".dockercfg",
                     ".htpasswd", ".pgpass", ".s3cfg", ".boto"}
_ENV_TEMPLATES = {".env.example", ".env.sample", ".env.template", ".env.dist", ".env.defaults"}
_BUILD_FILES = {"scons-debug.py", "scons-debug.sh", "scons-report.txt", "nuitka-crash-report.xml",
                "build_definitions.h"}
_DROPPING_FILES = {".ds_store", "thumbs.db", "ehthumbs.db", "desktop.ini", ".directory", ".gitignore",
                   ".gitattributes", ".gitmodules", ".hgignore", ".cvsignore", ".project", ".cproject"}
_CI_FILES = {".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml", "jenkinsfile", ".drone.yml",
             "bitbucket-pipelines.yml", "appveyor.yml", ".appveyor.yml", "cloudbuild.yaml",
             ".pre-commit-config.yaml", "tox.ini", "noxfile.py", "pyproject.toml", "setup.py", "setup.cfg",
             "pipfile", "pipfile.lock", "poetry.lock", "makefile", "dockerfile", ".dockerignore",
             "manifest.in", "conftest.py", "pytest.ini", ".coveragerc", ".flake8", ".pylintrc"}


@dataclass
class _Hit:
    """A leftover a rule matched: the rule, its severity here and the message."""

    rule: Rule
    severity: Severity
    message: str


def _parts(relpath: str) -> list[str]:
    """Path components, with onefile payload boundaries ('BIN!/inner') treated as folders."""
    return [p for p in relpath.replace("!/", "/").split("/") if p]


def _ext(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _folder_rule(name: str) -> Optional[_Hit]:
    low = name.lower()
    if name in _VCS_DIRS:
        return _Hit(VCS, VCS.severity, f"version control folder {name} ships in the dist")
    if low.endswith(_BUILD_DIR_SUFFIXES) or low in _BUILD_DIRS:
        return _Hit(NUITKA_BUILD, NUITKA_BUILD.severity, f"Nuitka build folder {name} ships in the dist")
    if name == "__pycache__":
        return _Hit(PYCACHE, PYCACHE.severity, "__pycache__ folder (Python bytecode) ships in the dist")
    if name in _EDITOR_DIRS:
        return _Hit(DROPPINGS, DROPPINGS.severity, f"editor/tool folder {name} ships in the dist")
    if name in _CI_DIRS:
        return _Hit(PROJECT_FILES, PROJECT_FILES.severity, f"CI configuration folder {name} ships in the dist")
    if low in _TEST_DIRS:
        return _Hit(TESTS, TESTS.severity, f"test folder {name} ships in the dist")
    return None


def _is_private_pem(head: bytes) -> Optional[bool]:
    """None: no PEM private key; True: at least one unencrypted; False: only encrypted ones."""
    found = None
    for m in _PEM_KEY.finditer(head):
        if m.group(1).strip() == b"ENCRYPTED" or b"Proc-Type: 4,ENCRYPTED" in head[m.end():m.end() + 200]:
            found = False
            continue
        return True
    return found


def _read_head(ctx: CheckContext, file) -> bytes:
    if file.kind != "data":
        return b""
    limit = min(KEY_SCAN_BYTES, ctx.config.limits.max_scan_bytes)
    try:
        with open(file.fs_path, "rb") as fh:
            return fh.read(limit)
    except OSError:
        return b""


def _file_rule(ctx: CheckContext, file, name: str, intended: set[str], inner: str) -> Optional[_Hit]:
    low = name.lower()
    ext = _ext(name)
    # secrets first: a key named like a source file is still a key
    if low in _ENV_TEMPLATES:
        return _Hit(ENV_FILE, Severity.LOW, f"environment file template {name} ships in the dist")
    if low in (".env", ".envrc") or low.startswith(".env.") or (ext == ".env" and low != ".env"):
        return _Hit(ENV_FILE, ENV_FILE.severity, f"environment file {name} ships in the dist (often holds credentials)")
    if low in _SSH_KEYS:
        return _Hit(KEY_FILE, KEY_FILE.severity, f"SSH private key file {name} ships in the dist")
    if ext in _KEY_STORES:
        return _Hit(KEY_FILE, KEY_FILE.severity, f"key store {name} ({ext}) ships in the dist")
    if low in _CREDENTIAL_FILES or (low in ("credentials", "config") and "/.aws/" in f"/{inner}"):
        return _Hit(KEY_FILE, KEY_FILE.severity, f"credential file {name} ships in the dist")
    if ext in (".pem", ".key", ".crt", ".cer", ".der", ".prv") or low.endswith(("_rsa", "_dsa", "_ed25519", "_ecdsa")):
        private = _is_private_pem(_read_head(ctx, file))
        if private is True:
            return _Hit(KEY_FILE, Severity.CRITICAL, f"unencrypted private key in {name} ships in the dist")
        if private is False:
            return _Hit(KEY_FILE, KEY_FILE.severity, f"encrypted private key in {name} ships in the dist")
        if ext == ".key" or ext == ".prv" or low.endswith(("_rsa", "_dsa", "_ed25519", "_ecdsa")):
            return _Hit(KEY_FILE, Severity.MEDIUM, f"{name} looks like a key file (no PEM private key found in it)")
        return None
    # build and project files
    if low in _BUILD_FILES or low.startswith(".sconsign") or ext == ".const":
        return _Hit(NUITKA_BUILD, NUITKA_BUILD.severity, f"Nuitka build file {name} ships in the dist")
    if low in _CI_FILES or low.startswith("requirements") and ext in (".txt", ".in"):
        return _Hit(PROJECT_FILES, PROJECT_FILES.severity, f"CI/project file {name} ships in the dist")
    if low in _DROPPING_FILES or name.endswith("~") or name.startswith("._") or \
            (name.startswith(".") and ext in (".swp", ".swo", ".swn")) or ext in (".orig", ".rej") or \
            (name.startswith("#") and name.endswith("#")):
        return _Hit(DROPPINGS, DROPPINGS.severity, f"editor/OS dropping {name} ships in the dist")
    # Python and C leftovers
    if ext in (".py", ".pyw"):
        if inner in intended:
            return _Hit(PY_SOURCE, Severity.LOW, f"Python source {name} ships in the dist (listed as a data "
                                                 "file in the Nuitka report)")
        return _Hit(PY_SOURCE, PY_SOURCE.severity, f"Python source {name} ships beside the compiled program")
    if ext in (".pyc", ".pyo"):
        return _Hit(BYTECODE, BYTECODE.severity, f"Python bytecode {name} ships in the dist")
    return None


def _folder_kind(name: str) -> Optional[tuple[Rule, Severity, str]]:
    """Per-folder aggregated file kinds: C sources/headers and objects."""
    ext = _ext(name)
    if ext in _C_SOURCES:
        return C_SOURCE, C_SOURCE.severity, "C/C++ source files"
    if ext in _C_HEADERS:
        return C_SOURCE, Severity.LOW, "C/C++ header files"
    if ext in _OBJECTS:
        return OBJECTS, OBJECTS.severity, "object files / static libraries"
    if ext == ".lib":
        return OBJECTS, Severity.LOW, "Windows .lib (import or static library) files"
    return None


def _allowed(parts: list[str], allow: tuple[str, ...]) -> bool:
    if not allow:
        return False
    for i in range(1, len(parts)):
        folder = "/".join(parts[:i])
        for pattern in allow:
            pat = pattern.strip("/")
            if folder == pat or fnmatch.fnmatchcase(folder, pat):
                return True
    return False


def _intended_data_files(ctx: CheckContext) -> set[str]:
    try:
        from hardnut.checks.build import get_report
    except ImportError:  # pragma: no cover - both ship together
        return set()
    report = get_report(ctx)
    return {d.name.replace("\\", "/") for d in report.data_files} if report else set()


def run(ctx: CheckContext) -> Iterable[Finding]:
    findings: list[Finding] = []
    intended = _intended_data_files(ctx)
    folders: dict[str, tuple[_Hit, list[str]]] = {}  # folder relpath -> (hit, files below)
    kinds: dict[tuple[str, str], tuple[Rule, Severity, str, list[str]]] = {}  # (folder, label) -> files
    per_rule: dict[str, int] = {}
    stubs: list[str] = []
    for file in ctx.files():
        parts = _parts(file.relpath)
        if not parts or _allowed(parts, ctx.config.allow_dirs):
            continue
        # the outermost leftover folder on the path swallows everything below it
        hit_folder = None
        for i, part in enumerate(parts[:-1]):
            hit = _folder_rule(part)
            if hit is not None:
                hit_folder = (_join(file.relpath, i), hit)
                break
        if hit_folder is not None:
            folder, hit = hit_folder
            folders.setdefault(folder, (hit, []))[1].append(file.relpath)
            continue
        name = parts[-1]
        inner = file.relpath.rsplit("!/", 1)[-1]
        if _ext(name) == ".pyi":
            stubs.append(file.relpath)
            continue
        kind = _folder_kind(name)
        if kind is not None:
            folder = file.relpath.rsplit("/", 1)[0] if "/" in file.relpath else "."
            kinds.setdefault((folder, kind[2]), (*kind, []))[3].append(name)
            continue
        hit = _file_rule(ctx, file, name, intended, inner)
        if hit is None:
            continue
        count = per_rule[hit.rule.id] = per_rule.get(hit.rule.id, 0) + 1
        if count <= MAX_PER_RULE or hit.severity >= Severity.HIGH:  # secrets are never summarised away
            findings.append(rule_finding(hit.rule, file.relpath, hit.message, severity=hit.severity))
    for rule_id, count in per_rule.items():
        rule = next(r for r in RULES if r.id == rule_id)
        if count > MAX_PER_RULE and rule.severity < Severity.HIGH:
            findings.append(rule_finding(rule, ".", f"{count - MAX_PER_RULE} more files of this kind not listed",
                                         severity=rule.severity))
    for folder, (hit, files) in sorted(folders.items()):
        findings.append(rule_finding(hit.rule, folder, hit.message, severity=hit.severity,
                                     evidence=_summary(files, folder)))
    for (folder, label), (rule, severity, _label, names) in sorted(kinds.items()):
        findings.append(rule_finding(rule, folder, f"{label} ship in {folder}", severity=severity,
                                     evidence=_summary(names)))
    if stubs:
        findings.append(rule_finding(TYPE_STUBS, stubs[0].rsplit("/", 1)[0] if "/" in stubs[0] else ".",
                                     "type stub files (.pyi) ship in the dist", evidence=_summary(stubs)))
    return findings


def _join(relpath: str, index: int) -> str:
    """The relpath of the folder at component `index` (payload separators 'BIN!' kept)."""
    return "/".join(relpath.split("/")[:index + 1])


def _summary(items: list[str], base: str = "") -> str:
    shown = [i[len(base) + 1:] if base and i.startswith(base + "/") else i for i in items[:3]]
    more = f", … ({len(items)} files)" if len(items) > 3 else f" ({len(items)} file{'s' if len(items) != 1 else ''})"
    return ", ".join(shown) + more
