"""The OSV API path against a real HTTP server on 127.0.0.1 that answers like api.osv.dev
(POST /v1/querybatch, GET /v1/vulns/<id>), serving the real records of tests/data/osv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hardnut.audit import osv
from hardnut.audit.engine import NoDatabase, run_audit
from hardnut.audit.inventory import Inventory, Package
from hardnut.audit.online import OnlineSource

OSV = Path(__file__).resolve().parent / "data" / "osv"


class FakeOSV(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.db = osv.load([OSV / "pypa"])
        self.log: list[str] = []
        self.mode = "ok"  # "ok", "error" (HTTP 500), "flaky" (one 503 first), "slow" (sleeps past timeouts)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeOSV

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, code: int, doc) -> None:
        body = json.dumps(doc, default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _gate(self) -> bool:
        self.server.log.append(f"{self.command} {self.path}")
        mode = self.server.mode
        if mode == "slow":
            time.sleep(1.5)
        if mode == "error" or (mode == "flaky" and len(self.server.log) == 1):
            self._send(500 if mode == "error" else 503, {"code": 13, "message": "internal error"})
            return False
        return True

    def do_POST(self) -> None:
        if not self._gate():
            return
        if self.path != "/v1/querybatch":
            return self._send(404, {"message": "not found"})
        queries = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["queries"]
        results = []
        for q in queries:
            hits = self.server.db.query(q["package"]["ecosystem"], q["package"]["name"], q["version"])
            results.append({"vulns": [{"id": a.id, "modified": a.modified} for a, _ in hits]} if hits else {})
        self._send(200, {"results": results})

    def do_GET(self) -> None:
        if not self._gate():
            return
        vid = self.path.rsplit("/", 1)[-1]
        adv = self.server.db.by_id.get(vid) if self.path.startswith("/v1/vulns/") else None
        if adv is None:
            return self._send(404, {"code": 5, "message": "Bug not found."})
        self._send(200, adv.raw)


@pytest.fixture
def server():
    srv = FakeOSV()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


INVENTORY = [Package("urllib3", "1.26.17", "app.cdx.json"), Package("certifi", "2024.8.30", "app.cdx.json"),
             Package("Jinja2", "2.10", "app.cdx.json")]


def _inventory() -> Inventory:
    inv = Inventory("app.cdx.json")
    for p in INVENTORY:
        inv.add(p)
    return inv


def test_batch_query_then_records_then_the_cache(server, tmp_path):
    source = OnlineSource(api=server.url, cache_dir=tmp_path / "cache")
    outcome = run_audit(_inventory(), source)
    assert sorted((m.package.name, m.advisory.id, m.fixed) for m in outcome.matches) == [
        ("Jinja2", "PYSEC-2019-217", ("2.10.1",)), ("Jinja2", "PYSEC-2021-66", ("2.11.3",)),
        ("urllib3", "PYSEC-2023-212", ("1.26.18", "2.0.7"))]
    assert server.log == ["POST /v1/querybatch", "GET /v1/vulns/PYSEC-2019-217", "GET /v1/vulns/PYSEC-2021-66",
                          "GET /v1/vulns/PYSEC-2023-212"]
    server.log.clear()
    again = run_audit(_inventory(), OnlineSource(api=server.url, cache_dir=tmp_path / "cache"))
    assert server.log == []  # everything came from the cache
    assert [m.advisory.id for m in again.matches] == [m.advisory.id for m in outcome.matches]
    stale = OnlineSource(api=server.url, cache_dir=tmp_path / "cache", max_age=0)
    run_audit(_inventory(), stale)
    assert server.log[0] == "POST /v1/querybatch"  # an entry older than max_age is fetched again


def test_server_error_is_retried_then_a_clear_error(server, tmp_path):
    server.mode = "flaky"
    outcome = run_audit(_inventory(), OnlineSource(api=server.url, cache_dir=tmp_path / "c1"))
    assert len(outcome.matches) == 3 and server.log[:2] == ["POST /v1/querybatch", "POST /v1/querybatch"]
    server.mode = "error"
    server.log.clear()
    with pytest.raises(NoDatabase, match=r"cannot use the OSV API .*\(HTTP 500\)"):
        run_audit(_inventory(), OnlineSource(api=server.url, cache_dir=tmp_path / "c2", retries=2))
    assert server.log == ["POST /v1/querybatch"] * 3


def test_timeout_is_a_clear_error(server, tmp_path):
    server.mode = "slow"
    started = time.monotonic()
    with pytest.raises(NoDatabase, match="timed out"):
        run_audit(_inventory(), OnlineSource(api=server.url, cache_dir=tmp_path / "c", timeout=0.3, retries=1))
    assert time.monotonic() - started < 5


def _sbom(tmp_path: Path) -> Path:
    from hardnut.nuitka.report_xml import Distribution
    from hardnut.sbom import ReportFacts, build_bom, to_json

    facts = ReportFacts(nuitka_version="4.3.3", python_version="3.12.7",
                        distributions=[Distribution(p.name, p.version) for p in INVENTORY])
    path = tmp_path / "app.cdx.json"
    path.write_text(to_json(build_bom("app", facts, [])))
    return path


def test_cli_online_uses_the_cache_and_offline_never_connects(server, tmp_path):
    env = dict(os.environ, HARDNUT_OSV_API=server.url, HARDNUT_CACHE_DIR=str(tmp_path / "cache"))
    sbom = _sbom(tmp_path)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "hardnut", "audit", str(sbom), "--format", "json", *args],
                              capture_output=True, text=True, env=env, timeout=120)

    first = run()
    assert first.returncode == 0, first.stderr  # fail_on high; these are medium
    ids = sorted(f["vulnerability"] for f in json.loads(first.stdout)["findings"])
    assert ids == ["PYSEC-2019-217", "PYSEC-2021-66", "PYSEC-2023-212"]
    requests = len(server.log)
    assert requests == 4
    second = run()
    assert sorted(f["vulnerability"] for f in json.loads(second.stdout)["findings"]) == ids
    assert len(server.log) == requests  # the second run used the cache
    offline = run("--offline")
    assert offline.returncode == 2 and "--offline needs an advisory database" in offline.stderr
    assert len(server.log) == requests
    server.mode = "error"
    env["HARDNUT_CACHE_DIR"] = str(tmp_path / "empty-cache")
    down = run()
    assert down.returncode == 2 and "cannot use the OSV API" in down.stderr and "Traceback" not in down.stderr
