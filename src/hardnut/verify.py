"""Verify a target: walk it, run every check module, apply suppressions and baselines.

The one place where artifact, inspect and checks meet; `hardnut verify` and `hardnut build` call it.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from hardnut import checks
from hardnut.artifact.walk import open_target
from hardnut.checks.base import CheckContext, VerifyConfig, audit_key
from hardnut.checks.walk import TOOL_ERROR
from hardnut.errors import HardnutError
from hardnut.model import Finding, Severity, VerifyResult
from hardnut.profile import AuditConfig, Profile, Suppression
from hardnut.safeio import read_regular



def _load_team_file(path: Optional[Path], module: str, error: str, label: str):
    """Load a team's secrets file with `hardnut.secrets.<module>.load`; its `error` becomes a one-line
    HardnutError prefixed with `label`. None when no path is set."""
    if path is None:
        return None
    import importlib

    mod = importlib.import_module(f"hardnut.secrets.{module}")
    try:
        return mod.load(Path(path))
    except getattr(mod, error) as exc:
        raise HardnutError(f"{label}: {exc}") from None


def load_gitleaks(path: Optional[Path]):
    """The team's .gitleaks.toml (profile secrets.gitleaks_config or --gitleaks-config), or None."""
    return _load_team_file(path, "gitleaks", "GitleaksConfigError", "gitleaks config")


def load_detect_secrets(path: Optional[Path]):
    """The team's detect-secrets baseline (profile secrets.detect_secrets_baseline or
    --detect-secrets-baseline), or None."""
    return _load_team_file(path, "detect_secrets", "BaselineError", "detect-secrets baseline")


@dataclass
class VerifyOptions:
    """How to verify: the failing severity, the limits and secret configuration, suppressions, baseline and
    audit."""

    fail_on: Severity = Severity.HIGH
    config: VerifyConfig = field(default_factory=VerifyConfig)
    suppress: tuple[Suppression, ...] = ()
    baseline: frozenset[str] = frozenset()
    main_programs: tuple[str, ...] = ()
    audit: AuditConfig = field(default_factory=AuditConfig)  # [audit]: run when enabled
    profile_path: Optional[str] = None  # for findings about the profile itself (expired ignores)
    log: Optional[Callable[[str], None]] = None  # audit warnings (malformed advisories...)
    # `hardnut build` only: a folder of per-file results (hardnut.filecache) reused for unchanged files
    file_cache: Optional[Path] = None

    @classmethod
    def from_profile(cls, profile: Profile, fail_on: Optional[Severity] = None) -> "VerifyOptions":
        v = profile.verify
        from hardnut.exposure import own_modules

        app = profile.app
        own = own_modules(profile.root, app.include_packages + app.include_modules) if profile.path else ()
        config = VerifyConfig(allow_external=v.allow_external, limits=v.limits,
                              require_glibc_max=v.require_glibc_max, require_macos_min=v.require_macos_min,
                              require_signed=v.require_signed, python_flags=profile.build.python_flags,
                              own_packages=own, source_roots=(profile.root,) if profile.path else (),
                              gitleaks=load_gitleaks(profile.secrets.gitleaks_config),
                              detect_secrets=load_detect_secrets(profile.secrets.detect_secrets_baseline))
        return cls(fail_on=fail_on if fail_on is not None else v.fail_on, config=config, suppress=v.suppress,
                   audit=profile.audit, profile_path=str(profile.path) if profile.path else None)


def run_checks(ctx: CheckContext) -> list[Finding]:
    """Every check module in turn. A module gets limits.file_timeout seconds per file of the artifact
    (a backstop: the walk and the inspectors bound each file themselves); one that runs out is
    stopped and reported as HN-WALK-004, and the others still run."""
    from hardnut.artifact.walk import finish_digests
    from hardnut.checks.perfile import prefetch
    from hardnut.checks.walk import LIMIT
    from hardnut.timebudget import FileTimeout, within

    findings: list[Finding] = []
    per_file = ctx.config.limits.file_timeout
    try:  # every file parsed and scanned once, in worker processes for large artifacts
        within(per_file * max(1, len(ctx.artifact.files)), prefetch, ctx, what="per-file work")
    except HardnutError:
        raise
    except Exception:  # FileTimeout, or a failure: each check computes what is missing itself, under its
        pass  # own budget and error handling (which report the limit or the failure)
    finish_digests(ctx.artifact, ctx.config.limits)  # what the per-file step did not hash (bounded, reported)
    for module in checks.modules():
        name = module.__name__.rsplit(".", 1)[-1]
        try:
            budget = per_file * max(1, len(ctx.artifact.files))
            findings.extend(within(budget, lambda: list(module.run(ctx)), what=f"check '{name}'"))
        except FileTimeout as exc:
            findings.append(Finding(LIMIT.id, LIMIT.category, LIMIT.severity, ".",
                                    f"check '{name}' stopped after {exc.seconds:g} s (limits.file_timeout "
                                    f"{per_file:g} s per file); its rules did not finish"))
        except HardnutError:
            raise
        except Exception as exc:  # a check bug must not hide the rest of the report
            findings.append(Finding(TOOL_ERROR.id, TOOL_ERROR.category, TOOL_ERROR.severity, ".",
                                    f"check '{name}' failed with {type(exc).__name__}; its rules did not run"))
    return findings


def _with_signature(record, summary):
    """The file record with `signed` / `signature` (PE and Mach-O files whose signature was inspected)."""
    if not summary:
        return record
    from dataclasses import replace

    return replace(record, signed=summary["signed"], signature=summary.get("signature"))


def _order(f: Finding) -> tuple:
    return (-int(f.severity), f.category, f.rule, f.path, f.offset or 0, f.message)


HELPER_BUILD_MIN_BYTES = 64 * 1024 * 1024  # a build's verify starts the Helper for this much uncached work


def prepare(options: VerifyOptions, helper: bool = False, previous: Optional[list] = None) -> None:
    """Import what a verify will need and build its secret engine, ahead of it (`hardnut build` calls
    this beside Nuitka's compile, so verify does not wait for them afterwards). `helper`: for a large
    verify, also start the engine's Helper process, with which the verify shares its files (two cores;
    stop it with hardnut.secrets.engine.stop_helper), and compile every secret rule's patterns now.
    `previous`: the file records of the last build's manifest (None on a first build into output_dir,
    which starts no Helper); the verify to come is large when HELPER_BUILD_MIN_BYTES or more of them lack
    a result in options.file_cache. A smaller verify (a rebuild's after an edit, which parses and scans a
    few changed files; a first build of a small app) compiles the patterns it meets: the Helper (~0.25 s
    of CPU to start) and the patterns of rules whose keywords its files do not hold are not worth their
    CPU time. Changes no result."""
    import elftools.elf.elffile  # noqa: F401 - the pyelftools fallback of hardnut.inspect.elf

    from hardnut.checks import all_rules
    from hardnut.checks.perfile import uncached_bytes, warm_helper
    from hardnut.secrets.engine import shared_engine, start_helper, worker_count

    all_rules()
    engine = shared_engine(options.config.gitleaks)
    if not helper or previous is None or worker_count() < 2:
        return
    # only after an earlier build (a first build into output_dir is usually a cold compile, half a minute
    # for the sample app, where the helper's ~0.1 s of wall time is noise and its ~0.3 s of CPU is not), and
    # only for a large verify: for the sample app's 20 MB, first builds with an empty build cache, 3 each,
    # the helper saved 0.05 s of wall time (medians 0.46 vs 0.50 s) for 0.5 s of CPU (1.34 vs 0.85 s)
    pending = uncached_bytes(previous, options.config.limits, engine,
                             str(options.file_cache) if options.file_cache is not None else None)
    if pending >= HELPER_BUILD_MIN_BYTES:
        start_helper(engine, warm=warm_helper)
        # every rule's patterns, beside the compile: a verify this large meets most of them (a first build
        # of the sample app with an empty build cache meets 22 of 70 rules and compiles 6 of their
        # wrappers, ~25 ms, against 73 ms for all of them)
        engine.precompile()


def verify_target(target: Path, options: VerifyOptions) -> VerifyResult:
    with open_target(Path(target), options.config.limits, hash_files=False) as art:
        art.main_programs.update(options.main_programs)
        ctx = CheckContext(art, options.config, file_cache=options.file_cache)
        findings = run_checks(ctx)
        audited = ctx.cache.get("secrets:audited", set())  # accepted by the detect-secrets baseline
        signatures = ctx.facts.pop("file_signatures", {})
        files = sorted((_with_signature(f.record(), signatures.get(f.relpath)) for f in art.files),
                       key=lambda r: r.path)
        facts = dict(ctx.facts)
        outcome = None
        if options.audit.enabled:
            found, outcome = _audit(art, options, facts)
            findings += found
    kept, suppressed = [], 0
    seen: set[tuple] = set()
    for f in sorted(findings, key=_order):
        key = (f.rule, f.path, f.offset, f.message)
        if key in seen:
            continue
        seen.add(key)
        if (f.fingerprint in options.baseline or audit_key(f) in audited
                or any(s.matches(f.rule, f.path, f.fingerprint) for s in options.suppress)):
            suppressed += 1
            continue
        kept.append(f)
    if outcome is not None:
        suppressed += len(outcome.ignored)  # [audit] ignore entries count like suppressions
    result = VerifyResult(target=str(target), fail_on=options.fail_on, findings=kept, files=files,
                          suppressed=suppressed, facts=facts)
    result.audit = outcome
    return result


def _audit(art, options: VerifyOptions, facts: dict):
    """The [audit] step of verify (and so of build): same inventory as `hardnut audit`, from this walk."""
    from hardnut.audit.command import audit_inventory
    from hardnut.audit.inventory import from_open_artifact
    from hardnut.checks.audit import audit_facts

    inventory = from_open_artifact(art, options.config.limits)
    findings, outcome = audit_inventory(inventory, options.audit, log=options.log, profile_path=options.profile_path)
    facts["audit"] = audit_facts(outcome)
    return findings, outcome


# ----------------------------------------------------------------------------------------------
# baselines: known findings, by fingerprint (location independent for secrets)


MAX_INPUT_BYTES = 256 * 1024 * 1024  # baselines and manifests: a regular file of at most this size


def read_baseline(path: Path) -> frozenset[str]:
    try:
        data = json.loads(read_regular(path, MAX_INPUT_BYTES).decode("utf-8"))
        entries = data["findings"]
        return frozenset(str(e["fingerprint"]) for e in entries)
    except FileNotFoundError:
        raise HardnutError(f"baseline not found: {path}") from None
    except OSError as exc:
        raise HardnutError(f"cannot read baseline: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise HardnutError(f"baseline {path} is not a hardnut baseline ({type(exc).__name__})") from None


def baseline_document(findings: Iterable[Finding]) -> dict:
    entries = {}
    for f in findings:
        entries.setdefault(f.fingerprint, {"fingerprint": f.fingerprint, "rule": f.rule, "path": f.path})
    return {"version": 1, "tool": "hardnut", "findings": sorted(entries.values(), key=lambda e: (e["rule"], e["path"]))}


def _umask() -> int:
    mask = os.umask(0o077)  # there is no way to read it without setting it
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write a whole file or nothing: a temporary file in the same folder, then a rename. The file gets
    the permissions the umask gives a new file (0644 typically): what hardnut writes (profiles,
    reports, SBOMs, manifests, baselines) holds no unmasked secret, and the temporary file is private
    until it is complete. A device or a pipe (/dev/null, /dev/stdout, a FIFO) is written to instead."""
    path = Path(path)
    try:
        st = os.stat(path)  # links followed: /dev/stdout is one
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        # a device or a pipe (-o /dev/null, /dev/stdout, a FIFO): written to as a stream; a rename
        # would put a regular file in the device's place
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
