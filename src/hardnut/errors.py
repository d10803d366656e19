"""Errors that end a command with a clear one-line message and a fixed exit code."""

from __future__ import annotations


class HardnutError(Exception):
    """Bad input, usage or environment: one line to the user, exit code 2."""

    exit_code = 2


class ProfileError(HardnutError):
    """The TOML profile is malformed, has unknown keys or wrong types."""


class ToolMissing(HardnutError):
    """A tool the command needs (Nuitka, a compiler, patchelf...) is not installed."""


class UnreadableTarget(HardnutError):
    """The verify target does not exist or cannot be read at all."""


class BuildFailed(HardnutError):
    """Nuitka ran and failed, timed out or was interrupted: exit code 3."""

    exit_code = 3

    def __init__(self, message: str, tail: str = "") -> None:
        super().__init__(message)
        self.tail = tail
