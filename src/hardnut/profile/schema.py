"""The profile's keys, their types and defaults: the single table the loader validates against.

Kept as data so the profile reference (docs/profile.md) and the validator cannot drift apart
(tests/test_profile.py checks every key here is documented there).
"""

from __future__ import annotations

from typing import Any

# Types: "str", "bool", "int", "list[str]", "list[data]", "table:<name>", "str|int"...
# Each entry: key -> (type, default, one-line description)
SCHEMA: dict[str, dict[str, tuple[str, Any, str]]] = {
    "profile": {
        "extends": ("str", None, "template from profiles/ by name, or a path relative to this file"),
        "description": ("str", "", "one line shown by `hardnut profiles`"),
    },
    "app": {
        "entry": ("str", None, "the script to compile (required for build)"),
        "name": ("str", None, "executable name (default: the entry's stem)"),
        "mode": ("str", "standalone", '"standalone" or "onefile"'),
        "output_dir": ("str", "dist", "where the artifact is placed"),
        "include_packages": ("list[module]", [], "packages to include in full (module names only)"),
        "include_modules": ("list[module]", [], "single modules to include (module names only)"),
        "include_data": ("list[data]", [], "data to bundle: [{ src = 'data', dest = 'data' }]"),
        "exclude_data": ("list[str]", [], "glob patterns of data files never bundled"),
        "nofollow": ("list[module]", [], "modules not to follow imports into"),
        "onefile_tempdir": ("str", None, "onefile unpack folder spec (default Nuitka's per-run temp folder)"),
    },
    "build": {
        "python_flags": ("list[str]", [], "Nuitka --python-flag values"),
        "hardening": ("bool", True, "stack protector, _FORTIFY_SOURCE, full RELRO, noexecstack"),
        "lto": ("str", "auto", '"auto", "yes" or "no"'),
        "deployment": ("bool", True, "Nuitka --deployment"),
        "allow_downloads": ("bool", False, "pass --assume-yes-for-downloads (otherwise stdin is /dev/null)"),
        "allow_project_options": ("bool", False, "allow `# nuitka-project:` comments in the sources"),
        "jobs": ("int", 0, "C compile jobs, 0 for all cores"),
        "timeout": ("int", 3600, "seconds before the build is stopped"),
        "extra_args": ("list[str]", [], "more Nuitka options; ones that undo hardening are refused"),
        "env": ("table:str", {}, "extra environment variables for the Nuitka process"),
        "reproducible": ("bool", False, "Nuitka --reproducible=yes, SOURCE_DATE_EPOCH and a fixed PYTHONHASHSEED"),
    },
    "verify": {
        "fail_on": ("str", "high", "lowest severity that fails the verdict"),
        "allow_external": ("list[str]", [], "extra system libraries allowed outside the dist"),
        "require_glibc_max": ("str", None, 'e.g. "2.28": files needing a newer glibc are findings'),
        "require_macos_min": ("str", None, 'e.g. "11.0": Mach-O slices needing a newer macOS are findings'),
        "require_signed": ("bool|list[str]", False, "true, or globs: those PE/Mach-O files must be validly signed"),
        "run": ("bool", True, "`hardnut build` verifies what it built"),
        "smoke": ("table:smoke", {}, "run the artifact after the build"),
        "suppress": ("list[suppress]", [], "[{ rule = 'HN-…', path = 'glob', reason = '…' }]"),
        "limits": ("table:limits", {}, "resource limits, see the limits reference"),
    },
    "secrets": {
        "gitleaks_config": ("str", None, "a .gitleaks.toml whose custom rules and allowlists apply to every secret scan"),
        "detect_secrets_baseline": ("str", None, "a detect-secrets .secrets.baseline: its accepted and audited "
                                    "false positives are suppressed, its regex filters applied"),
    },
    "source": {
        "require_hashes": ("bool", False, "requirements must carry --hash"),
        "requirements": ("list[str]", [], "requirement/lock files (default: found beside the entry)"),
        "check": ("bool", True, "`hardnut build` runs check-source first"),
    },
    "audit": {
        "enabled": ("bool", False, "`build`, `verify` and `check-source` also audit for known vulnerabilities"),
        "db": ("list[str]", [], "OSV advisory data: an `all.zip` export or a folder of records (default: the OSV API)"),
        "offline": ("bool", False, "never query the OSV API; `db` is then required"),
        "ignore": ("list[ignore]", [], "[{ id = 'PYSEC-…', reason = '…', expires = 'YYYY-MM-DD' }]; expired ones are findings"),
    },
}

SMOKE_KEYS: dict[str, tuple[str, Any, str]] = {
    "args": ("list[str]", ["--help"], "arguments for the smoke run"),
    "expect_exit": ("int", 0, "expected exit code"),
    "timeout": ("int", 30, "seconds"),
    "enabled": ("bool", True, "set false to skip the smoke run"),
}

SUPPRESS_KEYS = {"rule": "str", "path": "str", "reason": "str", "fingerprint": "str"}

IGNORE_KEYS = {"id": "str", "reason": "str", "expires": "date"}

PYTHON_FLAGS = frozenset({
    "no_site", "-S", "static_hashes", "no_warnings", "no_asserts", "-O", "no_docstrings", "unbuffered", "-u",
    "isolated", "safe_path", "-P", "no_annotations",
})
