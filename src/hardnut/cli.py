"""The hardnut command line: parses options, wires the layers together, prints. No logic of its own."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Optional

import click

from hardnut import __version__
from hardnut.errors import BuildFailed, HardnutError

VERIFY_FORMATS = ("text", "json", "sarif", "junit", "markdown", "html")


def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    # no-color.org: a NO_COLOR that is present and not empty turns colour off
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def emit(text: str, output: Optional[Path]) -> None:
    """Print, or write the whole file atomically (nothing half-written on failure)."""
    if output is None:
        click.echo(text, nl=False)
        return
    from hardnut.verify import write_atomic

    try:
        write_atomic(output, text)
    except OSError as exc:
        raise HardnutError(f"cannot write {output}: {exc.strerror}") from None


def log_to_stderr(quiet: bool):
    color = use_color(sys.stderr)

    def log(line: str) -> None:
        if not quiet:
            click.echo(click.style(line, dim=True) if color and line.startswith("  ") else line, err=True)

    return log


def _profile(path: Optional[str], require_entry: bool = True):
    from hardnut.profile import load_profile, load_template

    if path and not Path(path).exists() and "/" not in path and not path.endswith(".toml"):
        return load_template(path)  # a shipped template by name, e.g. -p ci-verify
    return load_profile(Path(path) if path else None, require_entry=require_entry)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hardnut")
def cli() -> None:
    """Hardened Nuitka release builds, and proof of what an artifact contains."""


# ----------------------------------------------------------------------------------------------- build


@cli.command()
@click.option("-p", "--profile", "profile_path", metavar="PROFILE",
              help="TOML profile (default ./hardnut.toml, else [tool.hardnut] in ./pyproject.toml).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the result here.")
@click.option("--dry-run", is_flag=True, help="Print the Nuitka command line and environment, build nothing.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the result.")
@click.option("-v", "--verbose", is_flag=True, help="Stream all of Nuitka's output.")
@click.option("--no-cache", is_flag=True,
              help="Compile even when nothing changed, and do not store the result in the build cache.")
@click.option("--check-reproducible", is_flag=True,
              help="Build twice (--reproducible, SOURCE_DATE_EPOCH, fixed PYTHONHASHSEED, two temporary build "
                   "folders) and report their diff; exit 0 when identical, 1 when not. Keeps no artifact.")
def build(profile_path, fmt, output, dry_run, quiet, verbose, no_cache, check_reproducible) -> None:
    """Compile the app with hardened Nuitka, smoke-run it, verify it, put it in place."""
    from hardnut.build import command_for, run_build

    profile = _profile(profile_path)
    if check_reproducible and not dry_run:
        from hardnut.build import check_reproducible as check

        result = check(profile, log_to_stderr(quiet), verbose=verbose)
        emit(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n" if fmt == "json"
             else result.render_text(), output)
        sys.exit(0 if result.identical else 1)
    if dry_run:
        cmd = command_for(profile, profile.app.output_dir / ".hardnut-build-XXXXXX" / "nuitka")
        if fmt == "json":
            emit(json.dumps({"argv": list(cmd.argv), "env": cmd.shown_env(), "stdin": "/dev/null" if cmd.stdin_devnull
                             else "inherited"}, indent=2) + "\n", output)
        else:
            env = " ".join(f"{k}={shlex.quote(v)}" for k, v in cmd.shown_env().items())
            stdin = " < /dev/null" if cmd.stdin_devnull else ""
            emit(f"{env} {shlex.join(cmd.argv)}{stdin}\n", output)
        return
    log = log_to_stderr(quiet)
    from hardnut.buildcache import BuildCache

    cache = None if no_cache else BuildCache.for_profile(profile)

    def verify_step(target, profile):
        # verify's per-file results live in the build cache too: unchanged files are not parsed again
        from hardnut.checks.perfile import FILE_CACHE_STATS

        hits = FILE_CACHE_STATS["hits"]
        result = _verify_built(target, profile, log, file_cache=cache.file_folder_for_verify() if cache else None)
        if FILE_CACHE_STATS["hits"] > hits:
            log(f"  verify: {FILE_CACHE_STATS['hits'] - hits} files unchanged since an earlier build: their parse "
                f"and secret scan results were reused")
        return result

    def after_step(profile, target, report, verify_result=None):
        return _after_build(profile, target, report, verify_result=verify_result,
                            template=cache.sbom_template(profile) if cache else None)

    # a heartbeat every 15 s on a terminal (every 60 s in a CI log), so a long cold build is never silent
    heartbeat = 15.0 if sys.stderr.isatty() else 60.0
    try:
        outcome = run_build(profile, log, verbose=verbose, verify=verify_step, extra_steps=after_step,
                            before_build=_before_build, cache=cache, heartbeat=heartbeat,
                            prepare=lambda profile, verify=True: _prepare_after_build(profile, verify, cache))
    finally:
        engine = sys.modules.get("hardnut.secrets.engine")
        if engine is not None:
            engine.stop_helper()  # started beside the compile by _prepare_after_build
    result = outcome.verify
    doc = {
        "artifact": str(outcome.artifact),
        "dist": str(outcome.dist) if outcome.dist else None,
        "mode": profile.app.mode,
        "report": str(outcome.report) if outcome.report else None,
        "manifest": str(outcome.manifest),
        "seconds": outcome.seconds,
        "cpu_seconds": outcome.cpu_seconds,
        "smoke": {"ran": outcome.smoke.ran, "exit_code": outcome.smoke.exit_code, "ok": outcome.smoke.ok,
                  "seconds": outcome.smoke.seconds, "cpu_seconds": outcome.smoke.cpu_seconds},
        "verdict": result.verdict if result else None,
        **{k: str(v) for k, v in outcome.extra.items()},
    }
    if result is not None:
        from hardnut.report.json_format import document

        doc["verify"] = {k: v for k, v in document(result).items() if k != "files"}
    if fmt == "json":
        emit(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", output)
    else:
        lines = []
        if result is not None and not quiet:
            from hardnut.checks import all_rules
            from hardnut.report import renderer

            lines.append(renderer("text")(result, all_rules(), use_color()))
        lines.append(f"built {outcome.artifact}\n")
        emit("".join(lines), output)
    if result is not None and result.verdict == "fail":
        sys.exit(1)


def _program_name(profile) -> str:
    return profile.app.name + (".exe" if sys.platform == "win32" else "")


def _verify_built(target: Path, profile, log=None, file_cache: Optional[Path] = None):
    from hardnut.verify import VerifyOptions, verify_target

    options = VerifyOptions.from_profile(profile)
    options.log = log
    options.main_programs = (_program_name(profile),)
    options.file_cache = file_cache
    return verify_target(target, options)


def _before_build(profile, log) -> None:
    """check-source (source.check), beside Nuitka's compile (hardnut.build.run_build): findings at or above
    verify.fail_on stop the build with exit code 1; the findings are logged with the text renderer."""
    from hardnut.checks.source import preflight_source

    preflight_source(profile, log)


def _prepare_after_build(profile, verify: bool = True, cache=None) -> None:
    """Beside Nuitka's compile: the imports and the secret engine that verify (when `verify`) and the SBOM
    will need, so they do not wait for them afterwards (best effort: they are made again later if this
    fails). With the build `cache`, the last build's manifest tells whether verify's helper process is
    worth starting (hardnut.verify.prepare)."""
    try:
        from hardnut.sbom import prepare as prepare_sbom

        prepare_sbom(cache.sbom_template(profile) if cache is not None else None)
        if verify and profile.verify.run:
            import dataclasses

            from hardnut.verify import VerifyOptions, prepare

            options, previous = VerifyOptions.from_profile(profile), None
            folder = cache.file_folder_for_verify() if cache is not None else None
            if folder is not None:
                options = dataclasses.replace(options, file_cache=folder)
                previous = _previous_files(profile)
            prepare(options, helper=True, previous=previous)
    except Exception:  # noqa: BLE001 - an optimisation only: verify reports any real problem itself
        pass


def _previous_files(profile) -> Optional[list]:
    """The file records of the last build into app.output_dir (its manifest), or None."""
    from hardnut.build import final_paths
    from hardnut.manifest import read_manifest

    manifest = final_paths(profile)[3]
    if not manifest.is_file():
        return None
    try:
        return read_manifest(manifest)["files"]
    except HardnutError:
        return None


def _after_build(profile, target: Path, report: Optional[Path], audit=None, verify_result=None,
                 template: Optional[Path] = None) -> dict:
    """Write the CycloneDX SBOM beside the (still temporary) target; run_build moves it into output_dir.
    With an audit outcome (verify ran with [audit] enabled) the SBOM gets its vulnerabilities section.
    `verify_result` (the target's, same limits): its file list and hashes spare the SBOM a second walk.
    `template`: where the build cache keeps this app's last SBOM (hardnut.sbomcache)."""
    from hardnut.sbom import write_sbom

    if verify_result is not None and audit is None:
        audit = verify_result.audit
    path = target.parent / f"{profile.app.name}.cdx.json"
    return {"sbom": write_sbom(target, report, path, app_name=profile.app.name, limits=profile.verify.limits,
                               audit=audit, files=verify_result.files if verify_result is not None else None,
                               template=template)}


# ----------------------------------------------------------------------------------------------- verify


SEVERITY_CHOICE = click.Choice(["critical", "high", "medium", "low", "info"])


def report_options(command):
    """--fail-on, --format, -o and --sarif-min-severity, shared by verify and check-source."""
    for option in reversed((
        click.option("--fail-on", type=SEVERITY_CHOICE,
                     help="Lowest severity that fails (default: the profile's verify.fail_on, else high)."),
        click.option("--format", "fmt", type=click.Choice(VERIFY_FORMATS), multiple=True,
                     help="Output format (default text). Repeatable: one check, several reports, each -o "
                          "writing the --format given just before it (one format may go to stdout)."),
        click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
                     help="Write the report here (repeatable, one per --format)."),
        click.option("--sarif-min-severity", type=SEVERITY_CHOICE,
                     help="Lowest severity in SARIF (default: --fail-on's level, or medium if that is higher)."),
    )):
        command = option(command)
    return command


def gitleaks_option(command):
    command = click.option(
        "--detect-secrets-baseline", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
        help="A detect-secrets .secrets.baseline: findings whose secret it accepts (audited false "
             "positives, unaudited entries) are suppressed, its regex filters applied (overrides the "
             "profile's secrets.detect_secrets_baseline; see docs/secrets.md).")(command)
    return click.option(
        "--gitleaks-config", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
        help="A .gitleaks.toml: its custom rules and allowlists apply to every secret scan "
             "(overrides the profile's secrets.gitleaks_config; see docs/secrets.md).")(command)


def _with_gitleaks(profile, path: Optional[Path], baseline: Optional[Path] = None):
    """The profile with the secret configuration files given on the command line."""
    import dataclasses

    changes = {}
    if path is not None:
        if not path.is_file():
            raise HardnutError(f"gitleaks config not found: {path}")
        changes["gitleaks_config"] = path.resolve()
    if baseline is not None:
        if not baseline.is_file():
            raise HardnutError(f"detect-secrets baseline not found: {baseline}")
        changes["detect_secrets_baseline"] = baseline.resolve()
    if not changes:
        return profile
    return dataclasses.replace(profile, secrets=dataclasses.replace(profile.secrets, **changes))


def _gitleaks_notes(profile) -> None:
    """Say which parts of the gitleaks config and detect-secrets baseline hardnut does not apply
    (never silently); a broken file stops here with exit code 2."""
    from hardnut.verify import load_detect_secrets, load_gitleaks

    cfg = load_gitleaks(profile.secrets.gitleaks_config)
    for note in cfg.notes if cfg is not None else ():
        click.echo(f"hardnut: gitleaks config: {note}", err=True)
    baseline = load_detect_secrets(profile.secrets.detect_secrets_baseline)
    for note in baseline.notes if baseline is not None else ():
        click.echo(f"hardnut: detect-secrets baseline: {note}", err=True)


class ReportCommand(click.Command):
    """A command with repeatable --format/-o: remembers the order they were given in, so that each -o
    belongs to the --format next to it (click keeps each option's values, not their interleaving)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        sequence: list[tuple[str, str]] = []
        tokens = list(args)
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == "--":
                break
            for kind, names in (("format", ("--format",)), ("output", ("-o", "--output"))):
                if tok in names and i + 1 < len(tokens):
                    sequence.append((kind, tokens[i + 1]))
                    i += 1
                    break
                hit = next((n for n in names if tok.startswith(n + "=")), None)
                if hit:
                    sequence.append((kind, tok[len(hit) + 1:]))
                    break
                if kind == "output" and tok.startswith("-o") and len(tok) > 2 and not tok.startswith("--"):
                    sequence.append((kind, tok[2:]))
                    break
            i += 1
        ctx.meta["hardnut.report_sequence"] = sequence
        return super().parse_args(ctx, args)


def _report_targets(fmts: tuple[str, ...], outputs: tuple[Path, ...]) -> list[tuple[str, Optional[Path]]]:
    """Pair formats with outputs, checked before any work is done: an -o belongs to the --format just
    before it (or, given first, to the next --format without one); at most one format goes to stdout."""
    ctx = click.get_current_context(silent=True)
    sequence = ctx.meta.get("hardnut.report_sequence") if ctx is not None else None
    if sequence is None or [v for k, v in sequence if k == "format"] != list(fmts) \
            or len([1 for k, _ in sequence if k == "output"]) != len(outputs):
        sequence = [("format", f) for f in fmts] + [("output", str(o)) for o in outputs]  # by position
    pairs: list[list] = []
    pending: list[Path] = []
    out_iter = iter(outputs)
    for kind, _value in sequence:
        if kind == "format":
            pairs.append([_value, pending.pop(0) if pending else None])
        else:
            path = next(out_iter)
            if pairs and pairs[-1][1] is None:
                pairs[-1][1] = path
            else:
                pending.append(path)
    for pair in pairs:
        if pending and pair[1] is None:
            pair[1] = pending.pop(0)
    if not pairs:
        if len(pending) > 1:
            raise click.UsageError("several -o need as many --format options (one per output)")
        pairs = [["text", pending.pop(0) if pending else None]]
    if pending:
        raise click.UsageError(f"{len(outputs)} -o options for {len(fmts)} --format options")
    if sum(1 for _, o in pairs if o is None) > 1:
        raise click.UsageError("at most one --format may go to stdout: give the others an -o each")
    return [(f, o) for f, o in pairs]


def _emit_reports(result, targets: list[tuple[str, Optional[Path]]], sarif_min: Optional[str]) -> None:
    from hardnut.checks import all_rules
    from hardnut.model import Severity
    from hardnut.report import renderer

    rules = all_rules()
    for fmt, output in targets:
        if fmt == "sarif":
            from hardnut.report.sarif_format import render

            text = render(result, rules, min_severity=Severity.parse(sarif_min) if sarif_min else None)
        else:
            text = renderer(fmt)(result, rules, use_color() and output is None)
        emit(text, output)


@cli.command(cls=ReportCommand)
@click.argument("target", type=click.Path(path_type=Path))
@click.option("-p", "--profile", "profile_path", metavar="PROFILE",
              help="Profile (a file, or a template name like ci-verify) for fail_on, allow lists, limits.")
@report_options
@click.option("--allow-external", multiple=True, metavar="LIB", help="Extra system library allowed (repeatable).")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), help="Suppress findings listed here.")
@click.option("--write-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the current findings as a baseline (exit 0: writing it is the success).")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, path_type=Path),
              help="hardnut manifest of the build: any added, removed or changed file (or lost execute bit) is "
                   "critical. Without -p, verify uses the verify settings recorded in it (same verdict as the build).")
@click.option("--limit", "limit_overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one of [verify.limits] for this run, e.g. max_file_size=512M (repeatable).")
@gitleaks_option
def verify(target, profile_path, fail_on, fmt, output, sarif_min_severity, allow_external, baseline, write_baseline,
           manifest_path, limit_overrides, gitleaks_config, detect_secrets_baseline):
    """Inspect a dist folder, a onefile binary or a single binary and report findings.

    Exit 0 when nothing is at or above --fail-on, 1 when something is, 2 when TARGET cannot be read."""
    from hardnut.model import Severity
    from hardnut.profile import default_profile
    from hardnut.verify import VerifyOptions, baseline_document, read_baseline, verify_target, write_atomic

    targets = _report_targets(fmt, output)
    manifest_doc = None
    if manifest_path:
        from hardnut.manifest import read_manifest, verify_profile

        manifest_doc = read_manifest(manifest_path)
    if profile_path:
        profile = _profile(profile_path, require_entry=False)
    elif manifest_doc is not None:
        profile = verify_profile(manifest_doc, manifest_path)  # the settings the build verified with
    else:
        profile = default_profile()
    profile = _with_gitleaks(profile, gitleaks_config, detect_secrets_baseline)
    _gitleaks_notes(profile)
    options = VerifyOptions.from_profile(profile, Severity.parse(fail_on) if fail_on else None)
    options.config.allow_external = tuple(options.config.allow_external) + tuple(allow_external)
    try:
        options.config.limits = options.config.limits.override(limit_overrides)
    except ValueError as exc:
        raise HardnutError(str(exc)) from None
    options.log = log_to_stderr(False)
    if baseline:
        options.baseline = read_baseline(baseline)
    if not target.exists() and not target.is_symlink():
        raise HardnutError(f"target not found: {target}")
    if manifest_doc is not None:
        from hardnut.manifest import main_program

        main = main_program(manifest_doc)
        options.main_programs = (main,) if main else ()
    elif profile.app.entry is not None and target.is_dir():  # the program the profile builds, as at build
        options.main_programs = (_program_name(profile),)
    result = verify_target(target, options)
    if manifest_doc is not None:
        from hardnut.manifest import compare

        result.findings[:0] = compare(manifest_doc["files"], result.files)
    _emit_reports(result, targets, sarif_min_severity)
    if write_baseline:  # writing a baseline is a success, whatever it holds
        write_atomic(write_baseline, json.dumps(baseline_document(result.findings), indent=2) + "\n")
        sys.exit(0)
    sys.exit(1 if result.verdict == "fail" else 0)


# ----------------------------------------------------------------------------------------------- check-source


@cli.command("check-source", cls=ReportCommand)
@click.option("-p", "--profile", "profile_path", metavar="PROFILE",
              help="TOML profile (default ./hardnut.toml, else [tool.hardnut] in ./pyproject.toml).")
@report_options
@gitleaks_option
def check_source(profile_path, fail_on, fmt, output, sarif_min_severity, gitleaks_config, detect_secrets_baseline):
    """Check the app before building: sources, bundled data and dependency files.

    Reads (never imports or runs) the entry's Python files, the data app.include_data would bundle and
    the requirements/pyproject/lock files. Exit 0 when nothing is at or above --fail-on, 1 when
    something is, 2 when the profile cannot be used."""
    from hardnut.checks.source import source_result
    from hardnut.model import Severity

    targets = _report_targets(fmt, output)
    profile = _with_gitleaks(_profile(profile_path), gitleaks_config, detect_secrets_baseline)
    _gitleaks_notes(profile)
    result = source_result(profile, Severity.parse(fail_on) if fail_on else None, log=log_to_stderr(False))
    _emit_reports(result, targets, sarif_min_severity)
    sys.exit(1 if result.verdict == "fail" else 0)


# ----------------------------------------------------------------------------------------------- report


@cli.command(cls=ReportCommand)
@click.argument("result_file", metavar="RESULT.json", type=click.Path(dir_okay=False, path_type=Path))
@report_options
def report(result_file, fail_on, fmt, output, sarif_min_severity):
    """Render a saved result in other formats, without checking again.

    RESULT.json is `hardnut verify --format json` output, or `hardnut build --format json` output (its
    file list is then read from the build's manifest). Exit 0 when nothing is at or above --fail-on
    (default: the level recorded in the result), 1 when something is, 2 when the file cannot be used."""
    from hardnut.model import Severity
    from hardnut.report.json_format import parse
    from hardnut.safeio import read_regular
    from hardnut.verify import MAX_INPUT_BYTES

    targets = _report_targets(fmt, output)
    try:
        doc = json.loads(read_regular(result_file, MAX_INPUT_BYTES).decode("utf-8"))
        manifest = None
        if isinstance(doc, dict) and isinstance(doc.get("verify"), dict):  # hardnut build --format json
            build_doc, doc = doc, dict(doc["verify"])
            doc["target"] = build_doc.get("dist") or build_doc.get("artifact") or doc.get("target", "")
            manifest = build_doc.get("manifest")
        result = parse(doc, command=str(doc.get("command", "verify")))
    except FileNotFoundError:
        raise HardnutError(f"result not found: {result_file}") from None
    except OSError as exc:
        raise HardnutError(f"cannot read {result_file}: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HardnutError(f"{result_file} is not a hardnut verify or build JSON result ({type(exc).__name__})") from None
    if manifest and not result.files:
        from hardnut.manifest import read_manifest
        from hardnut.report.json_format import parse as parse_result

        files = read_manifest(Path(manifest))["files"]
        result.files = parse_result({"target": "", "fail_on": "info", "findings": [], "files": files}).files
    if fail_on:
        result.fail_on = Severity.parse(fail_on)
    _emit_reports(result, targets, sarif_min_severity)
    sys.exit(1 if result.verdict == "fail" else 0)


# ----------------------------------------------------------------------------------------------- audit


@cli.command(cls=ReportCommand)
@click.argument("target", type=click.Path(path_type=Path))
@click.option("-p", "--profile", "profile_path", metavar="PROFILE",
              help="Profile (a file or a template name) for [audit] db/offline/ignore and verify.fail_on.")
@click.option("--db", "db_paths", multiple=True, type=click.Path(path_type=Path), metavar="PATH",
              help="OSV advisory data: an all.zip export or a folder of OSV JSON/YAML records (repeatable). "
                   "Without it the OSV API is queried.")
@click.option("--offline", is_flag=True, help="Never touch the network (needs --db or [audit] db).")
@report_options
def audit(target, profile_path, db_paths, offline, fail_on, fmt, output, sarif_min_severity):
    """Known vulnerabilities in what TARGET ships: a dist folder, a onefile binary or a hardnut SBOM
    (<name>.cdx.json). Bundled distributions, the Nuitka that built it, the CPython branch.

    Exit 0 when nothing is at or above --fail-on, 1 when something is, 2 when TARGET cannot be read
    or no usable advisory database is available."""
    from hardnut.audit.command import audit_result
    from hardnut.model import Severity
    from hardnut.profile import default_profile

    targets = _report_targets(fmt, output)
    profile = _profile(profile_path, require_entry=False) if profile_path else default_profile()
    severity = Severity.parse(fail_on) if fail_on else profile.verify.fail_on
    if not target.exists() and not target.is_symlink():
        raise HardnutError(f"target not found: {target}")
    result, _ = audit_result(target, profile, severity, db=db_paths, offline=offline or None,
                             log=log_to_stderr(False))
    _emit_reports(result, targets, sarif_min_severity)
    sys.exit(1 if result.verdict == "fail" else 0)


# ----------------------------------------------------------------------------------------------- exposure, diff


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("-p", "--profile", "profile_path", metavar="PROFILE",
              help="Profile of the build: its folder holds the sources (docstrings, asserts), its packages are "
                   "your own, its python_flags are what the build asked for.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the result here.")
@click.option("--module", "modules", multiple=True, metavar="GLOB",
              help="Only these modules (name or glob, repeatable); they count as your own.")
@click.option("--source", "sources", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder with the app's sources (default: the profile's folder).")
def exposure(target, profile_path, fmt, output, modules, sources):
    """What a reverse engineer recovers from TARGET (dist folder or onefile binary): per compiled module
    strings, identifiers, docstrings, assert messages, paths and bytes constants; modules shipped as
    bytecode or source; what no_docstrings / no_asserts would remove. Exit 0, or 2 when TARGET cannot
    be read."""
    from hardnut.exposure import collect

    if not target.exists() and not target.is_symlink():
        raise HardnutError(f"target not found: {target}")
    own: tuple[str, ...] = tuple(modules)
    flags: tuple[str, ...] = ()
    roots = list(sources)
    limits = None
    if profile_path:
        profile = _profile(profile_path, require_entry=False)
        roots.append(profile.root)
        if not own:
            from hardnut.exposure import own_modules

            own = own_modules(profile.root, profile.app.include_packages + profile.app.include_modules)
        flags = profile.build.python_flags
        limits = profile.verify.limits
    exp = collect(target, source_roots=roots, own=own, python_flags=flags, limits=limits, module_filter=modules)
    if fmt == "json":
        emit(json.dumps(exp.to_dict(), indent=2, ensure_ascii=False) + "\n", output)
    elif fmt == "html":
        from hardnut.report.html_format import render_exposure

        emit(render_exposure(exp), output)
    else:
        from hardnut.report.exposure_text import render

        emit(render(exp), output)


@cli.command()
@click.argument("a", type=click.Path(path_type=Path))
@click.argument("b", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the result here.")
def diff(a, b, fmt, output):
    """Every difference between A and B: two dist folders, two onefile binaries, or two hardnut manifests.

    Files added/removed/changed (size, sha256, mode); for changed ELF/PE the sections and headers that
    differ; for Nuitka programs the modules whose constants differ and the constants added or removed
    (secret-like ones masked); onefile payload entries. Exit 0 identical, 1 different, 2 unreadable."""
    from hardnut.diff import diff_targets

    result = diff_targets(a, b)
    if fmt == "json":
        emit(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", output)
    else:
        emit(result.render_text(), output)
    sys.exit(0 if result.identical else 1)


# ----------------------------------------------------------------------------------------------- the rest


@cli.command()
@click.argument("binary", type=click.Path(path_type=Path, dir_okay=False))
@click.option("-o", "--output", "out_dir", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="Folder to extract into (must not exist or be empty).")
@click.option("--force", is_flag=True, help="Replace the contents of a non-empty output folder.")
def unpack(binary, out_dir, force):
    """Extract a Nuitka onefile binary's payload (names with '..' or absolute paths are refused)."""
    from hardnut.artifact import onefile

    entries = onefile.unpack(binary, out_dir, overwrite=force)
    click.echo(f"extracted {len(entries)} entries to {out_dir}")
    for e in entries:
        if e.is_symlink and not e.created:
            click.echo(f"  not created: {onefile.display(e.name)} -> {onefile.display(e.link_target)} ({e.note})")


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
@click.option("--category", help="Only rules of this category (e.g. secret: also shows provider and example shape).")
def rules(fmt, category):
    """List every rule: id, category, default severity, name."""
    from hardnut.checks import all_rules
    from hardnut.secrets.rules import RULES_BY_ID

    table = sorted(all_rules().values(), key=lambda r: r.id)
    if category:
        known = sorted({r.category for r in table})
        if category not in known:
            raise HardnutError(f"no rule category {category!r} (one of: {', '.join(known)})")
        table = [r for r in table if r.category == category]

    def extra(r) -> dict:
        sr = RULES_BY_ID.get(r.id)
        return {"provider": sr.provider, "example": sr.example} if sr is not None else {}

    if fmt == "json":
        click.echo(json.dumps([{"id": r.id, "name": r.name, "category": r.category, "severity": r.severity.label,
                                "explanation": r.explanation, "references": list(r.references), **extra(r)}
                               for r in table], indent=2))
        return
    for r in table:
        line = f"{r.id:13} {r.category:10} {r.severity.label:8} {r.name}"
        x = extra(r)
        if category == "secret" and x:
            line = f"{line:62} {x['provider'] or '-':28} {x['example']}"
        click.echo(line)


@cli.command()
@click.argument("rule_ids", metavar="RULE_ID...", nargs=-1, required=True)
def explain(rule_ids):
    """Print the explanation of one or more rules."""
    from hardnut.checks import all_rules

    rules = all_rules()
    unknown = [r for r in rule_ids if r.upper() not in rules]
    if unknown:
        raise HardnutError(f"no rule {unknown[0]!r} (see `hardnut rules`)")
    for n, rule_id in enumerate(rule_ids):
        rule = rules[rule_id.upper()]
        if n:
            click.echo()
        click.echo(f"{rule.id}: {rule.name}\ncategory: {rule.category}    default severity: {rule.severity.label}\n")
        click.echo(click.wrap_text(rule.explanation, width=88))
        for ref in rule.references:
            click.echo(f"see: {ref}")


@cli.command()
@click.option("-t", "--template", default="release", show_default=True, help="Template from `hardnut profiles`.")
@click.option("--entry", default="app.py", show_default=True, help="The script to compile.")
@click.option("--force", is_flag=True, help="Overwrite an existing hardnut.toml.")
@click.argument("path", required=False, type=click.Path())
def init(template, entry, force, path):
    """Write a starter hardnut.toml (to PATH, a folder or file; default ./hardnut.toml).

    PATH ending in a slash, or an existing folder, gets a hardnut.toml inside. --entry is the script as
    seen from the current folder; the profile stores it relative to its own folder."""
    from hardnut.profile import list_templates

    names = [n for n, _ in list_templates()]
    if template not in names:
        raise HardnutError(f"no template {template!r} (one of: {', '.join(names)})")
    raw = path or "hardnut.toml"
    path = Path(raw)
    if path.is_dir() or raw.endswith(("/", os.sep)):
        path = path / "hardnut.toml"
    if path.exists() and not force:
        raise HardnutError(f"{path} exists; use --force to overwrite it")
    text = STARTER.format(template=_toml_str(template), entry=_toml_str(_entry_for(entry, path.parent)),
                          name=_toml_str(_safe_name(Path(entry.replace("\\", "/")).stem)))
    from hardnut.verify import write_atomic

    write_atomic(path, text)
    click.echo(f"wrote {path} (extends {template!r}); next: hardnut build -p {path}")


def _toml_str(text: str) -> str:
    """A TOML basic string (JSON's string escapes are valid TOML: quotes, backslashes, controls)."""
    return json.dumps(text)


def _safe_name(stem: str) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", stem).lstrip(".-+") or "app"
    return name


def _entry_for(entry: str, profile_dir: Path) -> str:
    """--entry as the user typed it: a file that exists relative to the current folder is made
    relative to the profile's folder, with '/' separators; anything else is kept as typed."""
    typed = Path(entry)
    if not typed.exists():
        return entry
    try:
        rel = os.path.relpath(typed.absolute(), profile_dir.absolute())
    except ValueError:  # another drive on Windows
        return typed.absolute().as_posix()
    return Path(rel).as_posix()


STARTER = '''# hardnut build profile. Reference: docs/profile.md in hardnut's repository.
[profile]
extends = {template}

[app]
entry = {entry}
name = {name}
# mode = "standalone"        # or "onefile"
# output_dir = "dist"
# include_packages = []      # module names only
# include_modules = []
# include_data = [{{ src = "data", dest = "data" }}]
# exclude_data = ["*.env"]
# nofollow = []

[build]
# python_flags = ["no_docstrings", "no_asserts", "isolated", "safe_path"]
# hardening = true
# timeout = 3600
# extra_args = []

[verify]
# fail_on = "medium"
# allow_external = []
smoke = {{ args = ["--help"], expect_exit = 0, timeout = 30 }}
'''


@cli.command()
def profiles():
    """List the shipped profile templates, one line each."""
    from hardnut.profile import list_templates

    for name, description in list_templates():
        click.echo(f"{name:16} {description}")


@cli.command()
def doctor():
    """Report Python, Nuitka, C compiler, patchelf, ccache and zstandard: found, or how to get them."""
    from hardnut.doctor import run_checks

    missing = False
    color = use_color()
    for c in run_checks():
        mark = "ok" if c.found else ("MISSING" if c.required else "missing (optional)")
        if color:
            mark = click.style(mark, fg="green" if c.found else ("red" if c.required else "yellow"))
        line = f"{c.name:11} {mark:10} {c.detail}"
        if not c.found:
            line += f"\n{'':11} fix: {c.fix}"
            missing = missing or c.required
        click.echo(line)
    if missing:
        sys.exit(2)


def _terminate(signum, frame):  # a cancelled CI job: clean up like Ctrl-C does
    raise KeyboardInterrupt


def main() -> None:
    import gc
    import signal

    # the collector's young generation was collected every 700 new container objects: 151 passes over
    # the modules a build imports and the objects its checks make, 45-60 ms of CPU on every build of the
    # sample app; every 20,000: 15-30 ms; every 100,000 from here on: 4-5 ms (mypy raises it for the same
    # reason). Cycles are still collected, less often (at most ~100,000 young objects, some MB, wait for
    # it): hardnut's objects are mostly freed by reference counting
    gc.set_threshold(100_000, 20, 20)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        _run_command()
    finally:
        # what is left is freed with the process: the collector's final passes over every object took
        # 40-50 ms after a build, 10 ms frozen (scripts/bench_exit.py); every file hardnut writes is
        # closed by then (with blocks, write_atomic), and atexit handlers still run
        gc.freeze()


def _run_command() -> None:
    try:
        cli.main(standalone_mode=False, prog_name="hardnut")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("hardnut: aborted", err=True)
        sys.exit(130)
    except BuildFailed as exc:
        if exc.tail:
            click.echo("--- last lines of output ---\n" + exc.tail + "\n---", err=True)
        click.echo(f"hardnut: build failed: {exc}", err=True)
        sys.exit(exc.exit_code)
    except HardnutError as exc:
        click.echo(f"hardnut: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("hardnut: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:  # never a traceback for users; HARDNUT_DEBUG=1 shows it
        if os.environ.get("HARDNUT_DEBUG"):
            raise
        click.echo(f"hardnut: internal error: {type(exc).__name__} (set HARDNUT_DEBUG=1 for details)", err=True)
        sys.exit(2)
    sys.exit(0)
