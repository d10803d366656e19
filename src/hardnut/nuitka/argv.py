"""Turn a profile into Nuitka's argv and environment: pure functions, no I/O.

Every value that comes from the profile was validated (module names, relative data paths, refused
options) when the profile was loaded, and each lands in a single `--option=value` argument, so no
profile value can inject another Nuitka option or a shell command (Nuitka runs without a shell).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from hardnut.model import mask
from hardnut.profile import Profile

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASS|KEY|AUTH|CREDENTIAL|PRIVATE|SIGN", re.IGNORECASE)

# Hardening flags per toolchain family. Nuitka appends CFLAGS/CCFLAGS to the compile line and LDFLAGS
# to the link line (nuitka/build/SconsCompilerSettings.py: importEnvironmentVariableSettings).
HARDENING = {
    # gcc / clang on Linux and other ELF platforms (checksec: canary, FORTIFY, full RELRO, NX)
    "elf": {
        "CFLAGS": ["-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fstack-clash-protection"],
        "LDFLAGS": ["-Wl,-z,relro", "-Wl,-z,now", "-Wl,-z,noexecstack"],
    },
    # MinGW-w64 gcc on Windows (BinSkim BA2009/BA2015/BA2016; canary through libssp)
    "mingw": {
        "CFLAGS": ["-fstack-protector-strong"],
        "LDFLAGS": ["-Wl,--dynamicbase", "-Wl,--nxcompat", "-Wl,--high-entropy-va", "-fstack-protector-strong"],
    },
    # MSVC (BinSkim BA2008 CFG, BA2009 ASLR, BA2015 HEASLR, BA2016 DEP; /GS canary is on by default)
    "msvc": {
        "CFLAGS": ["/GS", "/guard:cf", "/sdl"],
        "LDFLAGS": ["/DYNAMICBASE", "/NXCOMPAT", "/HIGHENTROPYVA", "/guard:cf"],
    },
    # Apple clang on macOS: PIE is the default there; canary and FORTIFY are what we can add
    "macho": {
        "CFLAGS": ["-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"],
        "LDFLAGS": [],
    },
}


# build.reproducible: a fixed time stamp (https://reproducible-builds.org/specs/source-date-epoch/) and hash
# seed, so set/dict iteration order in Nuitka's own code generation does not vary between runs.
REPRODUCIBLE_ENV = {"SOURCE_DATE_EPOCH": "0", "PYTHONHASHSEED": "0"}


@dataclass(frozen=True)
class NuitkaCommand:
    """The Nuitka command hardnut runs for a profile: its arguments, the environment it sets, where its output
    goes."""

    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]  # only the variables hardnut sets or changes
    stdin_devnull: bool  # downloads not allowed: Nuitka's download prompts read from /dev/null
    build_dir: Path
    report: Path

    def shown_env(self) -> dict[str, str]:
        """The environment for printing and manifests: values of secret-sounding variables masked."""
        return {k: mask(v) if SECRET_NAME.search(k) else v for k, v in self.env}

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        env = dict(base)
        env.update(dict(self.env))
        return env


def toolchain(platform: str, compiler: str = "") -> str:
    """The HARDENING key for a target platform (sys.platform style) and compiler hint."""
    if platform.startswith("win"):
        return "mingw" if compiler in ("mingw", "gcc", "clang") else "msvc"
    if platform == "darwin":
        return "macho"
    return "elf"


def hardening_env(base: Mapping[str, str], family: str) -> dict[str, str]:
    """CFLAGS/LDFLAGS with the hardening flags appended to whatever the user already set."""
    out = {}
    for var, flags in HARDENING[family].items():
        existing = base.get(var, "").split()
        merged = existing + [f for f in flags if f not in existing]
        if merged:
            out[var] = " ".join(merged)
    return out


def nuitka_command(
    profile: Profile,
    *,
    python: str,
    build_dir: Path,
    platform: str,
    base_env: Mapping[str, str],
    compiler: str = "",
) -> NuitkaCommand:
    """The exact command hardnut runs for `profile`, building into `build_dir` (a temporary folder
    that is moved into place only when the build succeeded)."""
    app, build = profile.app, profile.build
    if app.entry is None:
        raise ValueError("profile has no app.entry")
    report = build_dir / f"{app.name}.report.xml"
    argv: list[str] = [
        python, "-m", "nuitka",
        f"--mode={app.mode}",
        f"--output-dir={build_dir}",
        f"--output-filename={app.name}{'.exe' if platform.startswith('win') else ''}",
        f"--report={report}",
        "--update-check=never",
        "--progress-bar=none",
        f"--lto={build.lto}",
    ]
    if build.jobs:
        argv.append(f"--jobs={build.jobs}")
    if build.deployment:
        argv.append("--deployment")
    if build.allow_downloads:
        argv.append("--assume-yes-for-downloads")
    if build.reproducible:
        argv.append("--reproducible=yes")
    argv += [f"--python-flag={flag}" for flag in build.python_flags]
    argv += [f"--include-package={name}" for name in app.include_packages]
    argv += [f"--include-module={name}" for name in app.include_modules]
    for item in app.include_data:
        option = "--include-data-dir" if item.is_dir else "--include-data-files"
        argv.append(f"{option}={item.src}={item.dest}")
    argv += [f"--noinclude-data-files={pattern}" for pattern in app.exclude_data]
    argv += [f"--nofollow-import-to={name}" for name in app.nofollow]
    if app.mode == "onefile" and app.onefile_tempdir:
        argv.append(f"--onefile-tempdir-spec={app.onefile_tempdir}")
    argv += list(build.extra_args)
    argv.append(str(app.entry))

    env: dict[str, str] = {"NUITKA_UPDATE_CHECK": "never", **dict(build.env)}
    if build.reproducible:  # the profile's own env still wins (an explicit SOURCE_DATE_EPOCH, say)
        env = {**REPRODUCIBLE_ENV, **env}
    if build.hardening:  # merged after the profile's env, so no CFLAGS/LDFLAGS there can drop the flags
        env.update(hardening_env({**base_env, **dict(build.env)}, toolchain(platform, compiler)))
    return NuitkaCommand(
        argv=tuple(argv), env=tuple(sorted(env.items())), stdin_devnull=not build.allow_downloads,
        build_dir=build_dir, report=report,
    )


def produced_paths(profile: Profile, build_dir: Path, platform: str) -> tuple[Path, Path | None]:
    """Where Nuitka leaves the executable and (standalone) the dist folder inside `build_dir`."""
    exe = profile.app.name + (".exe" if platform.startswith("win") else "")
    if profile.app.mode == "onefile":
        return build_dir / exe, None
    dist = build_dir / f"{profile.app.entry.stem}.dist"
    return dist / exe, dist
