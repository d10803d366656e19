"""`hardnut build`: profile -> preflight -> Nuitka in a temporary folder -> smoke run -> verify ->
move into place -> manifest. A failed or interrupted build leaves the previous artifact untouched."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

from hardnut import __version__
from hardnut.doctor import run_checks as doctor_checks
from hardnut.errors import BuildFailed, HardnutError, ToolMissing
from hardnut.manifest import build_manifest
from hardnut.model import VerifyResult
from hardnut.nuitka.argv import NuitkaCommand, nuitka_command, produced_paths
from hardnut.nuitka.project_options import scan_app
from hardnut.nuitka.runner import Cancelled, phase_of, run_streaming
from hardnut.profile import Profile

if TYPE_CHECKING:
    from hardnut.buildcache import BuildCache

Log = Callable[[str], None]

MANIFEST_SUFFIX = ".hardnut.json"


@dataclass
class SmokeResult:
    """The smoke run of a built program: whether it ran, its exit code against the expected one, its output's
    tail."""

    ran: bool
    exit_code: Optional[int] = None
    expected: int = 0
    ok: bool = True
    output_tail: str = ""
    seconds: float = 0.0
    # the program's CPU time (RunResult.cpu; None where not measured): the app's own, not hardnut's
    cpu_seconds: Optional[float] = None


@dataclass
class BuildOutcome:
    """What `hardnut build` produced: the artifact and its report, manifest and extra files, timings, smoke run
    and verdict."""

    artifact: Path
    dist: Optional[Path]
    report: Optional[Path]
    manifest: Path
    command: NuitkaCommand
    seconds: float
    smoke: SmokeResult
    verify: Optional[VerifyResult] = None
    extra: dict = field(default_factory=dict)
    cpu_seconds: Optional[float] = None  # the compile's CPU time (RunResult.cpu); 0.0 on a cache hit


def preflight(profile: Profile) -> None:
    """Refuse to start when a required tool is missing, or the sources carry nuitka-project options."""
    for check in doctor_checks(onefile=profile.app.mode == "onefile", details=False):
        if check.required and not check.found:
            raise ToolMissing(f"{check.name} is missing: {check.fix}")
    if profile.app.entry is None:
        raise HardnutError("profile has no app.entry")
    team_files = profile.secrets.gitleaks_config or profile.secrets.detect_secrets_baseline
    if team_files and (profile.verify.run or profile.source.check):  # broken: stop now, not after Nuitka
        from hardnut.verify import load_detect_secrets, load_gitleaks

        load_gitleaks(profile.secrets.gitleaks_config)
        load_detect_secrets(profile.secrets.detect_secrets_baseline)
    found = scan_app(profile.app.entry)
    if found and not profile.build.allow_project_options:
        first = found[0]
        rel = os.path.relpath(first.path, profile.root)
        raise HardnutError(
            f"{rel}:{first.line}: '# {first.kind}:' comment found ({len(found)} in all): Nuitka adds these "
            f"as options and evaluates their conditions as code at build time; remove them or set "
            f"build.allow_project_options = true")


def command_for(profile: Profile, build_dir: Path) -> NuitkaCommand:
    return nuitka_command(profile, python=sys.executable, build_dir=build_dir, platform=sys.platform,
                          base_env=os.environ)


def _owned(manifest: Path) -> bool:
    try:
        return json.loads(manifest.read_text(encoding="utf-8")).get("tool", {}).get("name") == "hardnut"
    except (OSError, ValueError, AttributeError):
        return False


def final_paths(profile: Profile) -> tuple[Path, Optional[Path], Path, Path]:
    """(artifact, dist, report, manifest) where a successful build puts them."""
    out, name = profile.app.output_dir, profile.app.name
    exe = name + (".exe" if sys.platform == "win32" else "")
    report = out / f"{name}.report.xml"
    manifest = out / f"{name}{MANIFEST_SUFFIX}"
    if profile.app.mode == "onefile":
        return out / exe, None, report, manifest
    return out / f"{name}.dist" / exe, out / f"{name}.dist", report, manifest


def smoke_run(profile: Profile, exe: Path, log: Log, cancel: Optional[threading.Event] = None) -> SmokeResult:
    """Run the artifact with smoke.args in a clean environment and a temporary working folder (stopped,
    and failed, when `cancel` is set)."""
    smoke = profile.verify.smoke
    if not smoke.enabled:
        return SmokeResult(ran=False)
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "TEMP", "TMP") if k in os.environ}
    log(f"smoke: {exe.name} {' '.join(smoke.args)}")
    with tempfile.TemporaryDirectory(prefix="hardnut-smoke-") as cwd:
        try:
            res = run_streaming([str(exe), *smoke.args], env=env, cwd=Path(cwd), timeout=smoke.timeout,
                                what="smoke run", tail_lines=10, cancel=cancel)
        except BuildFailed as exc:
            return SmokeResult(True, None, smoke.expect_exit, False, exc.tail or str(exc))
    return SmokeResult(True, res.returncode, smoke.expect_exit, res.returncode == smoke.expect_exit, res.tail,
                       round(res.duration, 2), None if res.cpu is None else round(res.cpu, 3))


def tree_state(target: Path) -> list[tuple]:
    """(relative path, mode, size, mtime in ns, inode) of `target` and everything below it, links not
    followed: what a program run could change in its own artifact."""
    out = []
    try:
        st = target.lstat()
    except OSError:
        return out
    out.append(("", st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino))
    if not target.is_dir() or target.is_symlink():
        return out
    stack = [(target, "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            out.append((name, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino))
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), name))
    return sorted(out)


def smoke_and_verify(profile: Profile, exe: Path, target: Path, verify: Callable, log: Log):
    """The smoke run (a thread waiting on the program) and verify of `target` at the same time; returns
    (SmokeResult, verify's result, or None when the smoke run failed). The verdict is the one verify would
    give after the smoke run: if the program changed anything in `target` (compared before and after),
    verify runs again on what it left. When verify raises, the program is stopped first."""
    before = tree_state(target)
    done: dict = {}
    cancel = threading.Event()
    smoking = _Beside(lambda: done.update(smoke=smoke_run(profile, exe, log, cancel=cancel)))
    try:
        result = verify(target, profile)
    except BaseException:
        cancel.set()
        smoking.thread.join(timeout=10)
        raise
    smoking.join()
    smoke = done["smoke"]
    if not smoke.ok:
        return smoke, None
    if tree_state(target) != before:
        log("  the smoke run changed files in the artifact: verifying what it left")
        result = verify(target, profile)
    return smoke, result


def _move_into_place(new: Path, final: Path, trash: Path) -> None:
    if final.exists() or final.is_symlink():
        os.replace(final, trash / ("old-" + final.name))
    os.replace(new, final)


def progress(build_dir: Path) -> str:
    """What Nuitka's C build has done so far, read from its build folder: C files written, and how many
    of them compiled to object files (Nuitka prints no per-file progress when not on a terminal)."""
    c_files = objects = 0
    for folder, _dirs, names in os.walk(build_dir):
        for n in names:
            if n.endswith(".c"):
                c_files += 1
            elif n.endswith(".o") or n.endswith(".obj"):
                objects += 1
    if not c_files:
        return ""
    return f"{objects} of {c_files} C files compiled" if objects else f"{c_files} C files generated"


class _Beside:
    """`steps` (callables without arguments) in turn, in a thread beside the main one (the compile, or
    verify). `failed` is set when one raises, and so is `stop` (given: a step may set it too, to stop the
    compile for its own reason); `join()` waits for the thread and raises what it raised (a
    KeyboardInterrupt in the main thread leaves the thread, a daemon, to end with the process)."""

    def __init__(self, *steps: Callable[[], object], stop: Optional[threading.Event] = None) -> None:
        self.failed = threading.Event()
        self.stop = stop if stop is not None else self.failed
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, args=steps, daemon=True, name="hardnut-beside-build")
        self.thread.start()

    def _run(self, *steps: Callable[[], object]) -> None:
        try:
            for step in steps:
                step()
        except BaseException as exc:  # handed to the main thread by join()
            self.error = exc
            self.failed.set()
            self.stop.set()

    def join(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error


def run_build(profile: Profile, log: Log, *, verbose: bool = False, verify: Optional[Callable] = None,
              extra_steps: Optional[Callable] = None, before_build: Optional[Callable] = None,
              cache: Optional["BuildCache"] = None, heartbeat: Optional[float] = None,
              prepare: Optional[Callable] = None) -> BuildOutcome:
    """`heartbeat`: every so many seconds, log how long Nuitka has run, its phase and the C files compiled.
    `before_build(profile, log)` runs after the preflight, in a thread beside the compile (the CLI passes
    check-source): when it raises, Nuitka is stopped at once and its error is raised; the build goes on
    past the compile (past the smoke run on a cache hit) only once it has returned. `prepare(profile,
    verify=...)` runs after it in the same thread (verify=False on a cache hit, whose verify result may be
    reused): the CLI imports what verify and the SBOM need there.
    `extra_steps(profile, target, report, verify_result=...) -> {key: path}` runs after verify
    (verify_result: this artifact's VerifyResult, or None); paths it returns inside the temporary build
    folder are moved into app.output_dir with the artifact and reported as `extra[key]` (str of the final
    path). With a `cache` (hardnut.buildcache), Nuitka's output for unchanged inputs is restored instead of
    compiled (Nuitka is started at once and the key computed beside it, in the first step of the thread:
    on a hit the compile is stopped, a fraction of a second in); the smoke run, verify and manifest run
    either way."""
    preflight(profile)
    out = profile.app.output_dir
    artifact, dist, report, manifest = final_paths(profile)
    sbom = out / f"{profile.app.name}.cdx.json"
    existing = [p for p in (dist if dist else artifact, report, sbom) if p.exists() or p.is_symlink()]
    if (manifest.exists() or manifest.is_symlink()) and not _owned(manifest):
        raise HardnutError(f"refusing to replace {manifest}: it was not made by hardnut; move it away or choose "
                           f"another app.output_dir")
    if existing and not _owned(manifest):
        raise HardnutError(f"refusing to replace {existing[0]}: it was not made by hardnut (no {manifest.name}); "
                           f"move it away or choose another app.output_dir")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".hardnut-build-", dir=out))
    beside = None
    try:
        command = command_for(profile, work / "nuitka")
        (work / "nuitka").mkdir()
        log(f"building {profile.app.entry.name} ({profile.app.mode}) with Nuitka")
        last_phase = [""]

        def on_line(line: str) -> None:
            if verbose:
                log(line)
                return
            phase = phase_of(line)
            if phase and phase != last_phase[0]:
                last_phase[0] = phase
                log(f"  {phase}")

        def on_tick(seconds: float) -> None:
            done = progress(command.build_dir)
            log(f"  {seconds:.0f} s: {last_phase[0] or 'starting'}" + (f", {done}" if done else ""))

        built_exe, built_dist = produced_paths(profile, command.build_dir, sys.platform)
        # Nuitka starts at once; the cache key is computed beside it (the first step), and on a hit the
        # compile is stopped and the cached one restored: a rebuild after an edit does not wait for the key
        keyed: dict = {}
        stop, restored = threading.Event(), threading.Event()

        def key_step() -> None:
            from hardnut.buildcache import cache_key, key_inputs

            keyed["inputs"] = key_inputs(profile, command.argv, command.environment(os.environ), command.build_dir)
            keyed["key"] = cache_key(keyed["inputs"])
            if cache.has(keyed["key"]):
                keyed["hit"] = True
                stop.set()
                # the next steps (pure Python) wait for the restore, whose many short system calls would
                # each wait for the GIL
                restored.wait()

        steps = [] if cache is None else [key_step]
        if before_build is not None:
            steps.append(lambda: before_build(profile, log))
        if prepare is not None:
            steps.append(lambda: prepare(profile, verify=not keyed.get("hit")))
        beside = _Beside(*steps, stop=stop) if steps else None

        def compile_(cancel: Optional[threading.Event]):
            return run_streaming(command.argv, env=command.environment(os.environ), cwd=profile.root,
                                 timeout=profile.build.timeout, stdin_devnull=command.stdin_devnull,
                                 on_line=on_line, on_tick=on_tick if heartbeat else None, tick=heartbeat or 15.0,
                                 cancel=cancel)

        def fresh_build_dir() -> None:
            shutil.rmtree(command.build_dir, ignore_errors=True)
            command.build_dir.mkdir()

        hit, res = False, None
        try:
            res = compile_(stop if beside is not None else None)
        except Cancelled:
            if beside.failed.is_set() or not keyed.get("hit"):
                restored.set()
                beside.join()  # raises the reason
                raise
            # unchanged inputs: the compile that had just started was stopped; its cached output is used
            try:
                fresh_build_dir()
                hit = cache.restore(keyed["key"], built_dist if built_dist else built_exe, command.report)
            finally:
                restored.set()
            if not hit:  # the entry went away meanwhile (pruned), is unreadable or damaged: compile after all
                log(f"  the cached compile {keyed['key'][:12]} could not be restored (removed meanwhile, unreadable, "
                    f"or its files are not the ones its build verified): compiling")
                fresh_build_dir()
                try:
                    res = compile_(beside.failed)
                except Cancelled:
                    beside.join()  # raises the reason
                    raise
        finally:
            restored.set()  # never left waiting (the compile ended, failed or was interrupted)
        if hit:
            log(f"  unchanged inputs: reusing the cached compile {keyed['key'][:12]} (--no-cache compiles anyway)")
            duration, tail, cpu = 0.0, "", 0.0
        else:
            if beside is not None:
                beside.join()  # its error comes first: it would have stopped the compile
            if res.returncode != 0:
                raise BuildFailed(f"Nuitka failed with exit code {res.returncode}", res.tail)
            duration, tail, cpu = res.duration, res.tail, res.cpu
        if not built_exe.is_file():
            raise BuildFailed(f"Nuitka reported success but {built_exe.name} was not produced", tail)
        if not hit:
            log(f"  compiled in {duration:.0f} s")
        key, inputs = keyed.get("key"), keyed.get("inputs")  # the key step has ended (joined, or it hit)

        new_target = built_dist if built_dist else built_exe
        built_report = command.report if command.report.is_file() else None
        # Bring report into the place verify looks for it (beside the target) under its final name.
        if built_report is not None and built_report.parent != new_target.parent:
            built_report = Path(shutil.move(str(built_report), new_target.parent / report.name))
        if built_report is not None:
            redact_report(built_report)
        result = None
        run_verify = verify is not None and profile.verify.run
        if run_verify:
            verifier = f"{getattr(verify, '__module__', '')}.{getattr(verify, '__qualname__', '')}"
            # an audit is never reused: advisories are published every day
            result = cache.verify_result(key, verifier) if hit and not profile.audit.enabled else None
            if result is not None:
                log("  verify: unchanged artifact, profile and hardnut: the stored result is reused")
        if run_verify and result is None and profile.verify.smoke.enabled:
            smoke, result = smoke_and_verify(profile, built_exe, new_target, verify, log)
        else:
            smoke = smoke_run(profile, built_exe, log)
            if run_verify and result is None and smoke.ok:
                result = verify(new_target, profile)
        if hit and beside is not None:
            beside.join()  # after the smoke run, which it overlaps (a compile is longer than both)
        if not smoke.ok:
            got = "timed out" if smoke.exit_code is None else f"exited {smoke.exit_code}"
            raise BuildFailed(f"smoke run failed: {built_exe.name} {' '.join(profile.verify.smoke.args)} {got}, "
                              f"expected {smoke.expected}; the previous artifact was kept", smoke.output_tail)
        if cache is not None and not hit and key is not None:
            cache.store(key, new_target, built_report, inputs,
                        (verifier, result) if result is not None else None)
        extra = extra_steps(profile, new_target, built_report, verify_result=result) if extra_steps else {}

        trash = work / "trash"
        trash.mkdir()
        _move_into_place(new_target, dist if dist else artifact, trash)
        if built_report is not None:
            _move_into_place(built_report, report, trash)
        for key, value in list(extra.items()):  # e.g. the SBOM, written beside the temporary target
            if isinstance(value, Path) and work in value.parents and value.exists():
                final = out / value.name
                _move_into_place(value, final, trash)
                extra[key] = str(final)
        if result is not None:
            result.target = str(dist if dist else artifact)  # verified in the temporary folder, now in place
        outcome = BuildOutcome(artifact=artifact, dist=dist, report=report if built_report else None,
                               manifest=manifest, command=command, seconds=round(duration, 1), smoke=smoke,
                               verify=result, extra=extra, cpu_seconds=None if cpu is None else round(cpu, 2))
        write_manifest(profile, outcome, inputs)
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_reproducible(profile: Profile, log: Log, *, verbose: bool = False):
    """Build twice from the same inputs with build.reproducible on (Nuitka --reproducible=yes,
    SOURCE_DATE_EPOCH, a fixed PYTHONHASHSEED), each in its own temporary output and build folder, and
    return the `hardnut.diff.DiffResult` of the two artifacts. Both builds are removed afterwards; the
    artifact in app.output_dir is not touched. Verification is skipped, the smoke run is kept."""
    import dataclasses

    from hardnut.diff import diff_targets

    preflight(profile)
    build = dataclasses.replace(profile.build, reproducible=True)
    verify = dataclasses.replace(profile.verify, run=False)
    out = profile.app.output_dir
    out.mkdir(parents=True, exist_ok=True)
    folders = [Path(tempfile.mkdtemp(prefix=f".hardnut-repro{i}-", dir=out)) for i in (1, 2)]
    try:
        targets = []
        for i, folder in enumerate(folders, 1):
            log(f"reproducibility build {i} of 2")
            app = dataclasses.replace(profile.app, output_dir=folder)
            outcome = run_build(dataclasses.replace(profile, app=app, build=build, verify=verify), log,
                                verbose=verbose)
            targets.append(outcome.dist or outcome.artifact)
        result = diff_targets(targets[0], targets[1])
        # report paths relative to each build's folder: the two folders differ by construction
        result.a, result.b = "build 1", "build 2"
        return result
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


def redact_report(path: Path) -> None:
    """Nuitka's report keeps the command line unredacted: mask secret-looking values in place."""
    from hardnut.nuitka.report_xml import redact

    text = path.read_text(encoding="utf-8", errors="replace")
    redacted = redact(text)
    if redacted != text:
        path.write_text(redacted, encoding="utf-8")


def tool_versions(inputs: Optional[dict] = None) -> dict[str, str]:
    """The versions the manifest records. `inputs`: the build cache key's inputs of this build
    (hardnut.buildcache.key_inputs), which hold Nuitka's version and the compiler's `--version` output:
    read from there instead of asking again (a subprocess and a metadata parse)."""
    import platform

    from hardnut.doctor import c_compiler, command_version, dist_version

    python = platform.python_version()
    compiler = (inputs or {}).get("compiler") or {}
    if inputs and inputs.get("nuitka") and compiler.get("path"):
        first = compiler.get("version", "").strip().splitlines()
        return {"hardnut": __version__, "nuitka": inputs["nuitka"], "python": python,
                "compiler": (first[0].strip() or "unknown") if first else "unknown"}
    cc = c_compiler()
    return {
        "hardnut": __version__,
        "nuitka": dist_version("nuitka") or "unknown",
        "python": python,
        "compiler": (command_version([cc, "--version"]) or "unknown") if cc else "unknown",
    }


def write_manifest(profile: Profile, outcome: BuildOutcome, inputs: Optional[dict] = None) -> None:
    from hardnut.verify import write_atomic

    smoke = outcome.smoke
    doc = build_manifest(profile, base=outcome.manifest.parent, target=outcome.dist or outcome.artifact,
                         artifact=outcome.artifact, report=outcome.report, shown_env=outcome.command.shown_env(),
                         smoke={"ran": smoke.ran, "exit_code": smoke.exit_code, "ok": smoke.ok},
                         verify=outcome.verify, extra=outcome.extra, versions=tool_versions(inputs))
    write_atomic(outcome.manifest, json.dumps(doc, indent=2, sort_keys=False) + "\n")
