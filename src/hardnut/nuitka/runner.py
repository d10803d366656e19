"""Run Nuitka (or the built program) as a child process tree that can always be stopped.

The child gets its own session (process group); on timeout or Ctrl-C the whole group is killed, so no
scons/gcc grandchild keeps running or writing.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from hardnut.errors import BuildFailed

# Nuitka's progress, as a user would name the phases.
PHASES = (
    (re.compile(r"^Nuitka: Starting Python compilation"), "compiling Python to C"),
    (re.compile(r"^Nuitka: Completed Python level compilation"), "Python level compilation done"),
    (re.compile(r"^Nuitka: Generating source code for C backend"), "generating C source"),
    (re.compile(r"^Nuitka: Running data composer"), "composing constants"),
    (re.compile(r"^Nuitka: Running C compilation via Scons"), "compiling C"),
    (re.compile(r"^Nuitka-Scons: Backend linking"), "linking"),
    (re.compile(r"^Nuitka(-Standalone)?: Copying (extension modules|DLLs|dependencies)|^Nuitka-Standalone:"), "collecting dependencies"),
    (re.compile(r"^Nuitka-Onefile:"), "packing onefile payload"),
    (re.compile(r"^Nuitka: Successfully created"), "done"),
)


@dataclass
class RunResult:
    """How a streamed command ended: its exit code, the last lines of its output, its wall and CPU time."""

    returncode: int
    tail: str
    duration: float
    # CPU time (user + system) of the child's process tree, from this process's reaped-children usage
    # over the run (POSIX; None elsewhere): it counts any other child reaped meanwhile too
    cpu: Optional[float] = None


def _children_cpu() -> Optional[float]:
    try:
        import resource
    except ImportError:  # Windows
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Cancelled(BuildFailed):
    """run_streaming stopped the child because its `cancel` event was set (the caller knows why)."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM/SIGHUP (a CI job cancelled, a closed terminal) while the child runs: handled like Ctrl-C.
    Without this hardnut would die at once and leave the child's session, which does not get the signal
    (start_new_session), compiling on into the output folder."""


def _on_terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    raise _Terminated()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # grandchildren may outlive the leader
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_streaming(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
    stdin_devnull: bool = True,
    on_line: Optional[Callable[[str], None]] = None,
    tail_lines: int = 30,
    what: str = "Nuitka",
    on_tick: Optional[Callable[[float], None]] = None,
    tick: float = 15.0,
    cancel: Optional[threading.Event] = None,
) -> RunResult:
    """Run argv (no shell), stream merged output lines to `on_line`, enforce `timeout` on the tree.
    While it runs, `on_tick(seconds elapsed)` is called every `tick` seconds (a heartbeat); when
    `cancel` is set (by another thread) the tree is stopped within a tenth of a second.

    Raises BuildFailed on timeout or interruption, Cancelled on `cancel`, with the last lines of output."""
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    start = time.monotonic()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                previous[getattr(signal, name)] = signal.signal(getattr(signal, name), _on_terminate)
    try:
        return _run(argv, env, cwd, timeout, stdin_devnull, on_line, tail, what, start, on_tick, tick, cancel)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _CancelSeen(Exception):
    pass


def _wait(proc: subprocess.Popen, timeout: float, start: float, on_tick, tick: float,
          cancel: Optional[threading.Event] = None, ended: Optional[threading.Event] = None,
          wake: Optional[threading.Event] = None) -> None:
    """proc.wait(timeout) with a call to on_tick every `tick` seconds; _CancelSeen once `cancel` is set.
    `ended` (set by the output reader at end of output, which a child's exit brings) and `wake` (set
    with it, and by _relay when `cancel` is set) end the wait at once, so a long compile is not polled:
    the child is looked at every 0.5 s only for a grandchild that keeps the output open after it exited
    (polling every 10 ms cost 14 ms of CPU per second of compile: 2.2 s of a 160 s one)."""
    deadline = start + timeout
    next_tick = start + tick
    while True:
        now = time.monotonic()
        remaining = deadline - now
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        if cancel is not None and cancel.is_set():
            raise _CancelSeen()
        step = remaining
        if on_tick is not None:
            step = min(step, max(next_tick - now, 0.0))
        try:
            if ended is not None and not ended.is_set():
                (wake or ended).wait(min(step, 0.5))
                if proc.poll() is None:
                    raise subprocess.TimeoutExpired(proc.args, step)
            else:  # output ended: the child is exiting (or a grandchild outlives it: proc.wait polls)
                proc.wait(timeout=min(step, 0.1) if cancel is not None else step)
            return
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                raise
            if on_tick is not None and time.monotonic() >= next_tick:
                on_tick(time.monotonic() - start)
                next_tick += tick


def _relay(cancel: threading.Event, wake: threading.Event, done: threading.Event) -> None:
    """Set `wake` as soon as `cancel` is set (until `done`): the wait for the child then ends at once."""
    while not done.is_set():
        if cancel.wait(0.5):
            wake.set()
            return


def _run(argv, env, cwd, timeout, stdin_devnull, on_line, tail, what, start, on_tick=None, tick=15.0,
         cancel=None) -> RunResult:
    cpu_before = _children_cpu()
    try:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL if stdin_devnull else None, start_new_session=True,
        )
    except OSError as exc:
        raise BuildFailed(f"cannot start {what}: {exc.strerror}") from None

    ended, wake, done = threading.Event(), threading.Event(), threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        try:
            for raw in iter(proc.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                tail.append(line)
                if on_line:
                    on_line(line)
        finally:
            ended.set()
            wake.set()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    if cancel is not None:
        threading.Thread(target=_relay, args=(cancel, wake, done), daemon=True).start()
    try:
        _wait(proc, timeout, start, on_tick, tick, cancel, ended, wake)
    except _CancelSeen:
        _kill_group(proc)
        reader.join(timeout=5)
        raise Cancelled(f"{what} was stopped", "\n".join(tail)) from None
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        reader.join(timeout=5)
        raise BuildFailed(f"{what} did not finish within {timeout:g} s and was stopped", "\n".join(tail)) from None
    except KeyboardInterrupt:
        _kill_group(proc)
        reader.join(timeout=5)
        raise BuildFailed(f"{what} was interrupted; its processes were stopped", "\n".join(tail)) from None
    finally:
        done.set()  # the relay ends within 0.5 s
    reader.join(timeout=5)
    cpu_after = _children_cpu()
    cpu = None if cpu_before is None or cpu_after is None else round(cpu_after - cpu_before, 3)
    return RunResult(proc.returncode, "\n".join(tail), time.monotonic() - start, cpu)


def phase_of(line: str) -> Optional[str]:
    for pattern, name in PHASES:
        if pattern.search(line):
            return name
    return None
