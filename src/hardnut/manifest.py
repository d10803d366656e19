"""The build manifest written beside the artifact, and the check of an artifact against one.

The manifest records sha256, size and permission bits of every file (onefile payload entries included),
symlink targets, the resolved profile, tool versions and the verification verdict. `hardnut verify
--manifest FILE TARGET` turns every added, removed or changed file into a critical finding, and (without
-p) verifies with the verify settings the build used (`verify_profile`): the check a release job runs
on an artifact handed over from a build job, with the same verdict as at build time.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

from hardnut import __version__
from hardnut.errors import HardnutError
from hardnut.model import FileRecord, Finding, Rule, Severity

if TYPE_CHECKING:  # pragma: no cover
    from hardnut.model import VerifyResult
    from hardnut.profile import Profile

MANIFEST_CHANGED = Rule(
    "HN-MAN-001", "artifact differs from its manifest", "build", Severity.CRITICAL,
    "The artifact does not match the manifest written when it was built: a file was added, removed or "
    "changed (size or sha256), a symlink points elsewhere, or a file's permissions changed in a way "
    "that matters (execute bit lost or added, set-id bits, newly group/world-writable; not on Windows). "
    "A lost execute bit is what an artifact upload/download without an archive does: keep modes with a "
    "tar archive. Whatever happened between the build job and this one, what would be "
    "released is not what was built and verified.",
)
RULES = [MANIFEST_CHANGED]


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base).replace(os.sep, "/")


def file_records(target: Path, limits=None) -> list[FileRecord]:
    from hardnut.artifact.walk import open_target

    with open_target(target, limits) as art:
        return sorted((f.record() for f in art.files), key=lambda r: r.path)


def build_manifest(profile: "Profile", *, base: Path, target: Path, artifact: Path, report: Optional[Path],
                   shown_env: dict[str, str], smoke: dict[str, Any], verify: Optional["VerifyResult"],
                   extra: dict[str, Any], versions: dict[str, str]) -> dict[str, Any]:
    """The manifest document of one build. `base` is the manifest's folder (paths are relative to it);
    `verify` the build's verify result when it ran (its file list is reused), `extra` side files."""
    files = verify.files if verify is not None else file_records(target, profile.verify.limits)
    verification = None
    if verify is not None:
        verification = {"verdict": verify.verdict, "fail_on": verify.fail_on.label,
                        "counts": verify.counts(), "suppressed": verify.suppressed}
    return {
        "tool": {"name": "hardnut", "version": __version__},
        "created": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "mode": profile.app.mode,
        "target": _rel(target, base),
        "artifact": _rel(artifact, base),
        "report": _rel(report, base) if report else None,
        "versions": versions,
        "profile": {"path": str(profile.path) if profile.path else None, "extends_chain": list(profile.chain),
                    "resolved": _without_env_values(profile.resolved, shown_env)},
        "hardening_env": shown_env,
        "smoke": smoke,
        "verification": verification,
        **_extra_files(extra, base),
        "files": [r.to_dict() for r in files],
    }


def _without_env_values(resolved: dict[str, Any], shown: dict[str, str]) -> dict[str, Any]:
    """The resolved profile with build.env values as shown (secret-sounding ones masked)."""
    env = resolved.get("build", {}).get("env")
    if not env:
        return resolved
    build = dict(resolved["build"], env={k: shown.get(k, v) for k, v in env.items()})
    return dict(resolved, build=build)


def _extra_files(extra: dict[str, Any], base: Path) -> dict[str, Any]:
    """Side files of the build (the SBOM): path relative to the manifest, and their sha256."""
    import hashlib

    out: dict[str, Any] = {}
    for key, value in extra.items():
        path = Path(value)
        if path.is_file():
            out[key] = {"path": _rel(path, base), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        from hardnut.safeio import read_regular
        from hardnut.verify import MAX_INPUT_BYTES

        doc = json.loads(read_regular(path, MAX_INPUT_BYTES).decode("utf-8"))
        if doc.get("tool", {}).get("name") != "hardnut" or not isinstance(doc.get("files"), list):
            raise ValueError("not a hardnut manifest")
        for entry in doc["files"]:
            if not isinstance(entry, dict) or not {"path", "size", "sha256"} <= set(entry):
                raise ValueError("file entry without path, size and sha256")
        return doc
    except FileNotFoundError:
        raise HardnutError(f"manifest not found: {path}") from None
    except (OSError, ValueError, AttributeError) as exc:
        raise HardnutError(f"manifest {path} cannot be used: {exc}") from None


def verify_profile(doc: dict[str, Any], path: Path) -> "Profile":
    """The profile `hardnut build` verified with, from the manifest's resolved profile: its [verify]
    table (fail_on, suppressions, allow lists, limits), validated like a profile file. Build settings
    are not needed to verify and are left out."""
    from hardnut.profile import validate

    resolved = doc.get("profile", {}).get("resolved") if isinstance(doc.get("profile"), dict) else None
    if not isinstance(resolved, dict):
        raise HardnutError(f"manifest {path} holds no resolved profile; pass -p PROFILE")
    verify = resolved.get("verify", {})
    if not isinstance(verify, dict):
        raise HardnutError(f"manifest {path}: profile.resolved.verify is not a table")
    return validate({"verify": verify}, path.resolve().parent, None, (f"{path} (manifest)",), require_entry=False)


def main_program(doc: dict[str, Any]) -> Optional[str]:
    """The built executable, relative to the verified target (None for a onefile target: it is the target)."""
    target, artifact = doc.get("target"), doc.get("artifact")
    if isinstance(target, str) and isinstance(artifact, str) and artifact.startswith(target.rstrip("/") + "/"):
        return artifact[len(target.rstrip("/")) + 1:]
    return None


def compare(expected: Iterable[dict[str, Any]], actual: Iterable[FileRecord],
            compare_modes: bool = os.name != "nt") -> list[Finding]:
    """Critical findings for every added, removed or changed file, changed symlink and (where the file
    system has POSIX permissions) lost execute permission or other relevant mode change."""
    want = {e["path"]: e for e in expected}
    have = {r.path: r for r in actual}
    out: list[Finding] = []

    def finding(path: str, message: str) -> Finding:
        return Finding(MANIFEST_CHANGED.id, MANIFEST_CHANGED.category, MANIFEST_CHANGED.severity, path, message)

    for path in sorted(set(want) | set(have)):
        if path not in have:
            out.append(finding(path, "file listed in the manifest is missing from the artifact"))
        elif path not in want:
            out.append(finding(path, f"file not in the manifest was added ({have[path].size} bytes)"))
        else:
            e, r = want[path], have[path]
            if e.get("link_target") is not None and e.get("link_target") != r.link_target:
                out.append(finding(path, f"symlink changed since the build ({e['link_target']} -> "
                                         f"{r.link_target if r.link_target is not None else 'not a symlink'})"))
            elif e["sha256"] != r.sha256 or int(e["size"]) != r.size:
                out.append(finding(path, f"file changed since the build (size {e['size']} -> {r.size}, "
                                         f"sha256 {str(e['sha256'])[:12]}… -> {r.sha256[:12]}…)"))
            elif compare_modes:
                why = mode_change(e.get("mode"), r.mode)
                if why:
                    out.append(finding(path, f"permissions changed since the build ({e['mode']} -> {r.mode}): {why}"))
    return out


def mode_change(recorded: Any, actual: Optional[str]) -> Optional[str]:
    """Why a file's permission change matters, or None. Compared: the execute bits (a lost one and the
    program no longer starts; a new one makes data runnable), set-user/group-id and sticky bits, and
    write permission newly given to group or others. A umask that only removes permissions (0775 ->
    0755 after a download) is not a change."""
    if not isinstance(recorded, str) or actual is None:
        return None
    try:
        before, after = int(recorded, 8), int(actual, 8)
    except ValueError:
        return None
    if (before & 0o111) != (after & 0o111):
        return "the execute permission was lost" if before & 0o111 and not after & 0o111 else \
            "the execute permission changed"
    if (before & 0o7000) != (after & 0o7000):
        return "set-user-id, set-group-id or sticky bit changed"
    if after & 0o022 & ~before:
        return "group or others may now write it"
    return None
