"""The build manifest written beside the artifact, and the check of an artifact against one.

The manifest records sha256 and size of every file (onefile payload entries included), the resolved
profile, tool versions and the verification verdict. `hardnut verify --manifest FILE TARGET` turns every
added, removed or changed file into a critical finding: the check a release job runs on an artifact
handed over from a build job.
"""

from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from hardnut import __version__
from hardnut.errors import HardnutError
from hardnut.model import FileRecord, Finding, Rule, Severity

if TYPE_CHECKING:  # pragma: no cover
    from hardnut.build import BuildOutcome
    from hardnut.profile import Profile

MANIFEST_CHANGED = Rule(
    "HN-MAN-001", "artifact differs from its manifest", "build", Severity.CRITICAL,
    "The artifact does not match the manifest written when it was built: a file was added, removed or "
    "changed (size or sha256). Whatever happened between the build job and this one, what would be "
    "released is not what was built and verified.",
)
RULES = [MANIFEST_CHANGED]


def _rel(path: Path, base: Path) -> str:
    return os.path.relpath(path, base).replace(os.sep, "/")


def file_records(target: Path, limits=None) -> list[FileRecord]:
    from hardnut.artifact.walk import open_target

    with open_target(target, limits) as art:
        return sorted((f.record() for f in art.files), key=lambda r: r.path)


def build_manifest(profile: "Profile", outcome: "BuildOutcome", versions: dict[str, str]) -> dict[str, Any]:
    base = outcome.manifest.parent
    target = outcome.dist or outcome.artifact
    if outcome.verify is not None:
        files = outcome.verify.files
    else:
        files = file_records(target, profile.verify.limits)
    verification = None
    if outcome.verify is not None:
        verification = {"verdict": outcome.verify.verdict, "fail_on": outcome.verify.fail_on.label,
                        "counts": outcome.verify.counts(), "suppressed": outcome.verify.suppressed}
    return {
        "tool": {"name": "hardnut", "version": __version__},
        "created": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "mode": profile.app.mode,
        "target": _rel(target, base),
        "artifact": _rel(outcome.artifact, base),
        "report": _rel(outcome.report, base) if outcome.report else None,
        "versions": versions,
        "profile": {"path": str(profile.path) if profile.path else None, "extends_chain": list(profile.chain),
                    "resolved": _without_env_values(profile.resolved, outcome.command.shown_env())},
        "hardening_env": outcome.command.shown_env(),
        "smoke": {"ran": outcome.smoke.ran, "exit_code": outcome.smoke.exit_code, "ok": outcome.smoke.ok},
        "verification": verification,
        **_extra_files(outcome.extra, base),
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


def compare(expected: Iterable[dict[str, Any]], actual: Iterable[FileRecord]) -> list[Finding]:
    """Critical findings for every added, removed or changed file."""
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
            if e["sha256"] != r.sha256 or int(e["size"]) != r.size:
                out.append(finding(path, f"file changed since the build (size {e['size']} -> {r.size}, "
                                         f"sha256 {str(e['sha256'])[:12]}… -> {r.sha256[:12]}…)"))
    return out
