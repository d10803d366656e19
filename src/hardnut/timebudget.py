"""Time budgets: run one piece of work (one file's inspection, one check module) for at most N seconds.

`within(seconds, fn, *args)` calls `fn(*args)` and raises `FileTimeout` when it runs longer. On POSIX,
in the main thread, the budget is a real-time interval timer (SIGALRM) that interrupts pure-Python
parsing (pyelftools, pefile, the payload reader) wherever it is; the interruption unwinds as
`BudgetExpired`, a BaseException, so `except Exception` blocks in the interrupted code cannot swallow
it, and `finally`/context managers still clean up. Elsewhere (other threads, Windows) the timer is not
available: the work runs unbounded there and only the cooperative deadlines apply — code that loops
can check `expired()` / `remaining()`, which always work.

Budgets nest: an inner budget longer than what is left of the outer one does not arm a timer (the
outer one fires first, and its expiry passes through the inner `within` untouched); a shorter one
takes over the timer and hands the rest back to the outer budget when it ends.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from typing import Any, Callable, Optional, TypeVar

__all__ = ["FileTimeout", "BudgetExpired", "within", "expired", "remaining"]

T = TypeVar("T")
_MAX_SECONDS = 10.0 * 365 * 24 * 3600  # setitimer overflows on absurd values; a decade is "no limit"


class FileTimeout(Exception):
    """The work given to `within` ran out of time. `what` names it (a file's display path)."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what}: time limit of {seconds:g} s reached")
        self.what = what
        self.seconds = seconds


class BudgetExpired(BaseException):
    """Raised inside the work when its timer fires; `within` turns its own into FileTimeout."""

    def __init__(self, token: object) -> None:
        super().__init__("time budget expired")
        self.token = token


_local = threading.local()


def _deadlines() -> list[float]:
    stack = getattr(_local, "deadlines", None)
    if stack is None:
        stack = _local.deadlines = []
    return stack


def remaining() -> Optional[float]:
    """Seconds left of the innermost budget in this thread (None when no budget is running)."""
    stack = _deadlines()
    if not stack:
        return None
    return min(stack) - time.monotonic()


def expired() -> bool:
    """True when a budget of this thread has run out (for code that wants to stop cooperatively)."""
    left = remaining()
    return left is not None and left <= 0


def _timer_usable() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def within(seconds: Optional[float], fn: Callable[..., T], *args: Any, what: str = "work", **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, stopped after `seconds` (None, 0 or a non-finite value: no budget).

    Raises FileTimeout(what, seconds) when this budget ran out; anything `fn` raises passes through."""
    if seconds is None or not math.isfinite(seconds) or seconds <= 0 or seconds >= _MAX_SECONDS:
        return fn(*args, **kwargs)
    stack = _deadlines()
    start = time.monotonic()
    deadline = start + seconds
    stack.append(deadline)
    token = object()
    armed = False
    prev_handler: Any = None
    prev_left = prev_interval = 0.0
    try:
        if _timer_usable():
            prev_left, prev_interval = signal.getitimer(signal.ITIMER_REAL)
            if not prev_left or prev_left > seconds:
                def on_alarm(signum, frame):  # noqa: ARG001 - signal handler signature
                    raise BudgetExpired(token)

                prev_handler = signal.signal(signal.SIGALRM, on_alarm)
                signal.setitimer(signal.ITIMER_REAL, seconds)
                armed = True
        try:
            return fn(*args, **kwargs)
        finally:
            if armed:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, prev_handler)
                if prev_left:  # give the outer budget back what is left of it
                    left = prev_left - (time.monotonic() - start)
                    signal.setitimer(signal.ITIMER_REAL, max(left, 1e-4), prev_interval)
    except BudgetExpired as exc:
        if exc.token is not token:
            raise
        raise FileTimeout(what, seconds) from None
    finally:
        stack.remove(deadline)
