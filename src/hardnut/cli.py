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

VERIFY_FORMATS = ("text", "json", "sarif", "junit", "markdown")


def use_color(stream=None) -> bool:
    stream = stream or sys.stdout
    return "NO_COLOR" not in os.environ and hasattr(stream, "isatty") and stream.isatty()


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
def build(profile_path, fmt, output, dry_run, quiet, verbose) -> None:
    """Compile the app with hardened Nuitka, smoke-run it, verify it, put it in place."""
    from hardnut.build import command_for, run_build

    profile = _profile(profile_path)
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
    outcome = run_build(profile, log, verbose=verbose, verify=_verify_built, extra_steps=_after_build,
                        before_build=_before_build)
    result = outcome.verify
    doc = {
        "artifact": str(outcome.artifact),
        "dist": str(outcome.dist) if outcome.dist else None,
        "mode": profile.app.mode,
        "report": str(outcome.report) if outcome.report else None,
        "manifest": str(outcome.manifest),
        "seconds": outcome.seconds,
        "smoke": {"ran": outcome.smoke.ran, "exit_code": outcome.smoke.exit_code, "ok": outcome.smoke.ok},
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


def _verify_built(target: Path, profile):
    from hardnut.verify import VerifyOptions, verify_target

    options = VerifyOptions.from_profile(profile)
    options.main_programs = (profile.app.name + (".exe" if sys.platform == "win32" else ""),)
    return verify_target(target, options)


def _before_build(profile, log) -> None:
    """check-source before Nuitka starts (source.check): findings at or above verify.fail_on stop the
    build with exit code 1; the findings are logged with the text renderer."""
    from hardnut.checks.source import preflight_source

    preflight_source(profile, log)


def _after_build(profile, target: Path, report: Optional[Path]) -> dict:
    """Write the CycloneDX SBOM beside the (still temporary) target; run_build moves it into output_dir."""
    from hardnut.sbom import write_sbom

    path = target.parent / f"{profile.app.name}.cdx.json"
    return {"sbom": write_sbom(target, report, path, app_name=profile.app.name, limits=profile.verify.limits)}


# ----------------------------------------------------------------------------------------------- verify


def report_options(command):
    """--fail-on, --format and -o, shared by verify and check-source."""
    for option in reversed((
        click.option("--fail-on", type=click.Choice(["critical", "high", "medium", "low", "info"]),
                     help="Lowest severity that fails (default: the profile's verify.fail_on, else high)."),
        click.option("--format", "fmt", type=click.Choice(VERIFY_FORMATS), default="text", show_default=True),
        click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here."),
    )):
        command = option(command)
    return command


def gitleaks_option(command):
    return click.option(
        "--gitleaks-config", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
        help="A .gitleaks.toml: its custom rules and allowlists apply to every secret scan "
             "(overrides the profile's secrets.gitleaks_config; see docs/secrets.md).")(command)


def _with_gitleaks(profile, path: Optional[Path]):
    if path is None:
        return profile
    import dataclasses

    from hardnut.profile import SecretsConfig

    if not path.is_file():
        raise HardnutError(f"gitleaks config not found: {path}")
    return dataclasses.replace(profile, secrets=SecretsConfig(gitleaks_config=path.resolve()))


def _gitleaks_notes(profile) -> None:
    """Say which parts of the gitleaks config hardnut does not apply (never silently)."""
    from hardnut.verify import load_gitleaks

    cfg = load_gitleaks(profile.secrets.gitleaks_config)
    for note in cfg.notes if cfg is not None else ():
        click.echo(f"hardnut: gitleaks config: {note}", err=True)


@cli.command()
@click.argument("target", type=click.Path(path_type=Path))
@click.option("-p", "--profile", "profile_path", metavar="PROFILE",
              help="Profile (a file, or a template name like ci-verify) for fail_on, allow lists, limits.")
@report_options
@click.option("--allow-external", multiple=True, metavar="LIB", help="Extra system library allowed (repeatable).")
@click.option("--baseline", type=click.Path(dir_okay=False, path_type=Path), help="Suppress findings listed here.")
@click.option("--write-baseline", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the current findings as a baseline.")
@click.option("--manifest", "manifest_path", type=click.Path(dir_okay=False, path_type=Path),
              help="hardnut manifest of the build: any added, removed or changed file is critical.")
@click.option("--limit", "limit_overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one of [verify.limits] for this run, e.g. max_file_size=512M (repeatable).")
@gitleaks_option
def verify(target, profile_path, fail_on, fmt, output, allow_external, baseline, write_baseline, manifest_path,
           limit_overrides, gitleaks_config):
    """Inspect a dist folder, a onefile binary or a single binary and report findings.

    Exit 0 when nothing is at or above --fail-on, 1 when something is, 2 when TARGET cannot be read."""
    from hardnut.checks import all_rules
    from hardnut.model import Severity
    from hardnut.profile import default_profile
    from hardnut.report import renderer
    from hardnut.verify import VerifyOptions, baseline_document, read_baseline, verify_target, write_atomic

    profile = _profile(profile_path, require_entry=False) if profile_path else default_profile()
    profile = _with_gitleaks(profile, gitleaks_config)
    _gitleaks_notes(profile)
    options = VerifyOptions.from_profile(profile, Severity.parse(fail_on) if fail_on else None)
    options.config.allow_external = tuple(options.config.allow_external) + tuple(allow_external)
    try:
        options.config.limits = options.config.limits.override(limit_overrides)
    except ValueError as exc:
        raise HardnutError(str(exc)) from None
    if baseline:
        options.baseline = read_baseline(baseline)
    if not target.exists() and not target.is_symlink():
        raise HardnutError(f"target not found: {target}")
    result = verify_target(target, options)
    if manifest_path:
        from hardnut.manifest import compare, read_manifest

        doc = read_manifest(manifest_path)
        result.findings[:0] = compare(doc["files"], result.files)
    if write_baseline:
        write_atomic(write_baseline, json.dumps(baseline_document(result.findings), indent=2) + "\n")
    emit(renderer(fmt)(result, all_rules(), use_color() and output is None), output)
    sys.exit(1 if result.verdict == "fail" else 0)


# ----------------------------------------------------------------------------------------------- check-source


@cli.command("check-source")
@click.option("-p", "--profile", "profile_path", metavar="PROFILE",
              help="TOML profile (default ./hardnut.toml, else [tool.hardnut] in ./pyproject.toml).")
@report_options
@gitleaks_option
def check_source(profile_path, fail_on, fmt, output, gitleaks_config):
    """Check the app before building: sources, bundled data and dependency files.

    Reads (never imports or runs) the entry's Python files, the data app.include_data would bundle and
    the requirements/pyproject/lock files. Exit 0 when nothing is at or above --fail-on, 1 when
    something is, 2 when the profile cannot be used."""
    from hardnut.checks import all_rules
    from hardnut.checks.source import source_result
    from hardnut.model import Severity
    from hardnut.report import renderer

    profile = _with_gitleaks(_profile(profile_path), gitleaks_config)
    _gitleaks_notes(profile)
    result = source_result(profile, Severity.parse(fail_on) if fail_on else None)
    emit(renderer(fmt)(result, all_rules(), use_color() and output is None), output)
    sys.exit(1 if result.verdict == "fail" else 0)


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
@click.argument("rule_id")
def explain(rule_id):
    """Print one rule's explanation."""
    from hardnut.checks import all_rules

    rule = all_rules().get(rule_id.upper())
    if rule is None:
        raise HardnutError(f"no rule {rule_id!r} (see `hardnut rules`)")
    click.echo(f"{rule.id}: {rule.name}\ncategory: {rule.category}    default severity: {rule.severity.label}\n")
    click.echo(click.wrap_text(rule.explanation, width=88))
    for ref in rule.references:
        click.echo(f"see: {ref}")


@cli.command()
@click.option("-t", "--template", default="release", show_default=True, help="Template from `hardnut profiles`.")
@click.option("--entry", default="app.py", show_default=True, help="The script to compile.")
@click.option("--force", is_flag=True, help="Overwrite an existing hardnut.toml.")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def init(template, entry, force, path):
    """Write a starter hardnut.toml (to PATH, a folder or file; default ./hardnut.toml)."""
    from hardnut.profile import list_templates

    names = [n for n, _ in list_templates()]
    if template not in names:
        raise HardnutError(f"no template {template!r} (one of: {', '.join(names)})")
    path = path or Path("hardnut.toml")
    if path.is_dir():
        path = path / "hardnut.toml"
    if path.exists() and not force:
        raise HardnutError(f"{path} exists; use --force to overwrite it")
    name = Path(entry).stem
    text = STARTER.format(template=template, entry=entry, name=name)
    from hardnut.verify import write_atomic

    write_atomic(path, text)
    click.echo(f"wrote {path} (extends {template!r}); next: hardnut build -p {path}")


STARTER = '''# hardnut build profile. Reference: the "Profile reference" section of hardnut's README.
[profile]
extends = "{template}"

[app]
entry = "{entry}"
name = "{name}"
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
    import signal

    signal.signal(signal.SIGTERM, _terminate)
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
