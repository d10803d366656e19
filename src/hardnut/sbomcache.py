"""The last SBOM a build wrote, kept so that the next build of the same app can reuse its rendering.

An SBOM (hardnut.sbom) is a pure function of its inputs: the app's name, the facts read from Nuitka's
report, the native files with their sizes, formats, owners and recognised libraries, and the versions of
the code that renders it. Only its serial number and timestamp are new every time. A rebuild after an
edit changes the inputs in one way only, as a rule: the sha256 of the files that were compiled again.

So `hardnut build` keeps the JSON that cyclonedx-python-lib rendered last, with a key over every input
except those sha256 values (`shape`). When the next build's key is the same, its SBOM is that JSON with
each file component's SHA-256 set to the new value and a fresh serial number and timestamp (`patched`).
No input other than a hash can differ then, and a hash appears nowhere else in the document: the
components are ordered by type and name (a file's name is its path) and referenced by `file:<path>`.
tests/test_sbomcache.py renders real builds' SBOMs both ways, with other hashes, and compares the texts.
Any other change (a distribution, a file added or renamed, another hardnut, cyclonedx-python-lib or
Python version, an audit) is a different key: the SBOM is rendered from scratch and kept instead.

One file per app (named by the app and its profile's folder) in the build cache's `files/` folder
(hardnut.buildcache.BuildCache.sbom_template), pruned with the per-file results (least recently used
first). `--no-cache` neither reads nor writes it; deleting it is always safe. Reading it is best effort:
a missing, corrupt or foreign file is a miss; writing it is atomic and never fails a build.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from hardnut.buildcache import FILES_TEMP_PREFIX, code_identity  # FILES_TEMP_PREFIX: a write in progress

FORMAT = 1
# the libraries whose code shapes the JSON text
LIBRARIES = ("cyclonedx-python-lib", "py-serializable", "packageurl-python", "sortedcontainers")


def _static_inputs() -> dict[str, Any]:
    """hardnut (version and the hash of its modules), the rendering libraries' versions and Python."""
    return {"format": FORMAT, **code_identity(LIBRARIES)}


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def shape(app_name: str, facts: Any, files: Iterable[Any], app_version: Optional[str] = None
          ) -> tuple[str, dict[str, str]]:
    """(the key: a sha256 over every input of the SBOM except the files' sha256 values, those values by
    path). `facts`: hardnut.sbom.ReportFacts; `files`: hardnut.sbom.NativeFile (every field counts, so a
    field added to either is in the key without a change here)."""
    hashes: dict[str, str] = {}
    listed = []
    for f in files:
        record = asdict(f)
        hashes[record["path"]] = record.pop("sha256")
        listed.append(record)
    doc = {"static": _static_inputs(), "app": [app_name, app_version], "facts": asdict(facts), "files": listed,
           "paths": len(hashes)}
    text = json.dumps(doc, sort_keys=True, default=_plain)
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), hashes


def patched(path: Optional[Path], key: str, hashes: dict[str, str]) -> Optional[str]:
    """The kept SBOM of the same key with `hashes` (path -> sha256) set, a new serial number and the
    current time; None when there is none, its key differs, or it is not what `remember` wrote."""
    if path is None or len(hashes) == 0:
        return None
    try:
        kept = json.loads(Path(path).read_text(encoding="utf-8"))
        if kept.get("format") != FORMAT or kept.get("key") != key:
            return None
        doc = json.loads(kept["text"])
        seen = set()
        for comp in doc.get("components", []):
            ref = comp.get("bom-ref", "")
            if comp.get("type") != "file" or not ref.startswith("file:"):
                continue
            file_path = ref[len("file:"):]
            entries = comp.get("hashes")
            if file_path != comp.get("name") or file_path not in hashes or file_path in seen \
                    or not isinstance(entries, list) or len(entries) != 1 or entries[0].get("alg") != "SHA-256":
                return None
            entries[0]["content"] = hashes[file_path]
            seen.add(file_path)
        if seen != set(hashes) or not str(doc.get("serialNumber", "")).startswith("urn:uuid:") \
                or "timestamp" not in doc.get("metadata", {}):
            return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    import datetime
    import uuid

    try:
        os.utime(path)  # a use: the least recently used go first when the cache is pruned
    except OSError:
        pass

    doc["serialNumber"] = f"urn:uuid:{uuid.uuid4()}"  # as cyclonedx-python-lib makes them
    doc["metadata"]["timestamp"] = datetime.datetime.now(tz=datetime.timezone.utc).isoformat()
    return json.dumps(doc, indent=2) + "\n"  # hardnut.sbom.to_json's layout


def remember(path: Optional[Path], key: str, text: str) -> None:
    """Keep `text` (an SBOM rendered from scratch) under `key` at `path`; best effort, atomic."""
    from hardnut.safeio import write_quietly

    if path is not None:
        write_quietly(path, json.dumps({"format": FORMAT, "key": key, "text": text}).encode("utf-8"),
                      prefix=FILES_TEMP_PREFIX)


def usable(path: Optional[Path]) -> bool:
    """Whether a kept SBOM is there (the next SBOM will likely be patched from it, so the rendering
    library need not be imported ahead)."""
    return path is not None and Path(path).is_file()
