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
    returncode: int
    tail: str
    duration: float


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
) -> RunResult:
    """Run argv (no shell), stream merged output lines to `on_line`, enforce `timeout` on the tree.
    While it runs, `on_tick(seconds elapsed)` is called every `tick` seconds (a heartbeat).

    Raises BuildFailed on timeout or interruption, with the last lines of output."""
    tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
    start = time.monotonic()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                previous[getattr(signal, name)] = signal.signal(getattr(signal, name), _on_terminate)
    try:
        return _run(argv, env, cwd, timeout, stdin_devnull, on_line, tail, what, start, on_tick, tick)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _wait(proc: subprocess.Popen, timeout: float, start: float, on_tick, tick: float) -> None:
    """proc.wait(timeout) with a call to on_tick every `tick` seconds."""
    deadline = start + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        try:
            proc.wait(timeout=min(remaining, tick) if on_tick else remaining)
            return
        except subprocess.TimeoutExpired:
            if on_tick is None or time.monotonic() >= deadline:
                raise
            on_tick(time.monotonic() - start)


def _run(argv, env, cwd, timeout, stdin_devnull, on_line, tail, what, start, on_tick=None, tick=15.0) -> RunResult:
    try:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL if stdin_devnull else None, start_new_session=True,
        )
    except OSError as exc:
        raise BuildFailed(f"cannot start {what}: {exc.strerror}") from None

    def pump() -> None:
        assert proc.stdout is not None
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            tail.append(line)
            if on_line:
                on_line(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        _wait(proc, timeout, start, on_tick, tick)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        reader.join(timeout=5)
        raise BuildFailed(f"{what} did not finish within {timeout:g} s and was stopped", "\n".join(tail)) from None
    except KeyboardInterrupt:
        _kill_group(proc)
        reader.join(timeout=5)
        raise BuildFailed(f"{what} was interrupted; its processes were stopped", "\n".join(tail)) from None
    reader.join(timeout=5)
    return RunResult(proc.returncode, "\n".join(tail), time.monotonic() - start)


def phase_of(line: str) -> Optional[str]:
    for pattern, name in PHASES:
        if pattern.search(line):
            return name
    return None
