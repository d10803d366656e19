"""The OSV API as an advisory source: `POST /v1/querybatch`, then `GET /v1/vulns/<id>` per advisory.

- Base URL `https://api.osv.dev` (`HARDNUT_OSV_API` overrides it, e.g. for a mirror or a test server).
- Every request has a timeout; a connection error, a timeout, HTTP 429 or a 5xx answer is retried
  (`RETRIES` more times, with a short back-off); anything else is an error.
- Answers are cached on disk (`$HARDNUT_CACHE_DIR`, else `$XDG_CACHE_HOME/hardnut`, else
  `~/.cache/hardnut`, then `osv/`): batch results per package version and records per id, each used
  for `max_age` seconds (default a day). A cached entry is one JSON file, written atomically.
- When the API cannot be reached at all the audit stops with `NoDatabase` (exit 2): never a silent pass.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Sequence
from urllib.parse import quote

from hardnut.audit.inventory import Package
from hardnut.audit.osv import MAX_RECORD_BYTES, Advisory, RecordError, parse_record
from hardnut.errors import HardnutError

DEFAULT_API = "https://api.osv.dev"
BATCH = 1000  # the API's limit of queries per batch
RETRIES = 2
MAX_ANSWER_BYTES = 64 * 1024 * 1024
MAX_PAGES = 20


class OnlineError(HardnutError):
    """The OSV API could not be used (unreachable, timed out, answered with an error or garbage)."""


def default_cache_dir() -> Path:
    if os.environ.get("HARDNUT_CACHE_DIR"):
        return Path(os.environ["HARDNUT_CACHE_DIR"]) / "osv"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hardnut" / "osv"


class Cache:
    def __init__(self, folder: Path, max_age: float) -> None:
        self.folder = Path(folder)
        self.max_age = max_age

    def _path(self, kind: str, key: str) -> Path:
        return self.folder / kind / (hashlib.sha256(key.encode()).hexdigest()[:40] + ".json")

    def get(self, kind: str, key: str):
        path = self._path(kind, key)
        try:
            if time.time() - path.stat().st_mtime > self.max_age:
                return None
            return json.loads(path.read_text("utf-8"))["value"]
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, kind: str, key: str, value) -> None:
        from hardnut.verify import write_atomic

        try:
            write_atomic(self._path(kind, key), json.dumps({"key": key, "value": value}))
        except OSError:
            pass  # a read-only cache folder only costs speed


class OnlineSource:
    def __init__(self, *, api: Optional[str] = None, cache_dir: Optional[Path] = None, max_age: float = 86400,
                 timeout: float = 20.0, retries: int = RETRIES, log: Optional[Callable[[str], None]] = None) -> None:
        self.api = (api or os.environ.get("HARDNUT_OSV_API") or DEFAULT_API).rstrip("/")
        self.cache = Cache(cache_dir or default_cache_dir(), max_age)
        self.timeout = timeout
        self.retries = retries
        self.log = log or (lambda line: None)
        self.warnings: list[str] = []
        self.requests = 0  # HTTP requests made (the cache saves them)
        self.description = f"OSV API {self.api}"

    # -- HTTP

    def _request(self, method: str, path: str, body: Optional[dict] = None):
        url = self.api + path
        data = json.dumps(body).encode() if body is not None else None
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.2 * 2 ** attempt, 2.0))
            req = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json", "User-Agent": "hardnut"})
            self.requests += 1
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) only
                    raw = resp.read(MAX_ANSWER_BYTES + 1)
                if len(raw) > MAX_ANSWER_BYTES:
                    raise OnlineError(f"OSV API {path}: answer larger than {MAX_ANSWER_BYTES} bytes")
                try:
                    return json.loads(raw.decode("utf-8"))
                except ValueError:
                    raise OnlineError(f"OSV API {path}: the answer is not JSON") from None
            except urllib.error.HTTPError as exc:
                if exc.code == 404 and method == "GET":
                    return None
                last = f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    break
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = "timed out" if "timed out" in str(reason) else str(reason)
        raise OnlineError(f"cannot use the OSV API at {self.api} ({last}); pass --db PATH for an offline "
                          f"database (see docs/audit.md)")

    # -- API

    def _batch(self, packages: Sequence[Package]) -> dict[tuple, list[str]]:
        ids: dict[tuple, list[str]] = {}
        todo = []
        for p in packages:
            cached = self.cache.get("query", json.dumps(p.key))
            if cached is not None:
                ids[p.key] = list(cached)
            else:
                todo.append(p)
        for start in range(0, len(todo), BATCH):
            chunk = todo[start:start + BATCH]
            queries = [{"package": {"name": p.key[1], "ecosystem": p.ecosystem}, "version": p.version} for p in chunk]
            found: dict[int, list[str]] = {i: [] for i in range(len(chunk))}
            pending = list(range(len(chunk)))
            for _ in range(MAX_PAGES):
                answer = self._request("POST", "/v1/querybatch", {"queries": [queries[i] for i in pending]})
                results = answer.get("results") if isinstance(answer, dict) else None
                if not isinstance(results, list) or len(results) != len(pending):
                    raise OnlineError("OSV API querybatch: unexpected answer (results do not match the queries)")
                again = []
                for i, res in zip(pending, results):
                    res = res if isinstance(res, dict) else {}
                    for v in res.get("vulns") or []:
                        if isinstance(v, dict) and isinstance(v.get("id"), str):
                            found[i].append(v["id"])
                    if res.get("next_page_token"):
                        queries[i] = dict(queries[i], page_token=res["next_page_token"])
                        again.append(i)
                if not again:
                    break
                pending = again
            for i, p in enumerate(chunk):
                ids[p.key] = sorted(set(found[i]))
                self.cache.put("query", json.dumps(p.key), ids[p.key])
        return ids

    def _record(self, vid: str) -> Optional[Advisory]:
        data = self.cache.get("vuln", vid)
        if data is None:
            data = self._request("GET", f"/v1/vulns/{quote(vid, safe='')}")
            if data is None:
                self.warnings.append(f"OSV API has no record {vid}")
                return None
            if len(json.dumps(data)) > MAX_RECORD_BYTES:
                self.warnings.append(f"skipped advisory {vid}: record too large")
                return None
            self.cache.put("vuln", vid, data)
        try:
            return parse_record(data, f"osv:{vid}")
        except RecordError as exc:
            self.warnings.append(f"skipped malformed advisory {vid}: {exc}")
            return None

    def candidates(self, packages):
        from hardnut.audit.engine import NoDatabase

        try:
            ids = self._batch(packages)
            records: dict[str, Optional[Advisory]] = {}
            for vid in sorted({i for lst in ids.values() for i in lst}):
                records[vid] = self._record(vid)
        except OnlineError as exc:
            raise NoDatabase(str(exc)) from None
        return {key: [records[i] for i in lst if records.get(i) is not None] for key, lst in ids.items()}
