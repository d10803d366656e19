"""The HTML reports in a real headless Chromium: the page renders, the chart is drawn (bars with a
nonzero size), the search box filters table rows, and no secret appears in full.

A copy of each page gets a small inline probe script appended (the page's own CSP allows inline
scripts and nothing else); Chromium runs it with --dump-dom and the probe writes its measurements
into the DOM as JSON. Chromium comes from Debian's `chromium` package (scripts/_setup.sh installs it
when HARDNUT_WITH_BROWSER=1, as scripts/test.sh sets); without it the test is skipped, saying so.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import EXPOSED_VARIANT_SECRET, hardnut_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (scripts/_setup.sh installs "
                                                         "it with HARDNUT_WITH_BROWSER=1)")

PROBE = """<script>
(function(){
  var r = {title: document.title, bars: [], rows: 0, visible: [], visibleAfterClear: 0};
  document.querySelectorAll('#chart rect').forEach(function(e){
    var b = e.getBoundingClientRect(); r.bars.push([b.width, b.height]); });
  var table = document.getElementById('%(table)s'), box = document.getElementById('%(table)s-search');
  var rows = table.tBodies[0].rows; r.rows = rows.length;
  box.value = %(query)s; box.dispatchEvent(new Event('input'));
  for (var i = 0; i < rows.length; i++) if (rows[i].style.display !== 'none') r.visible.push(rows[i].cells[%(cell)d].textContent);
  r.counter = document.getElementById('%(table)s-count').textContent;
  box.value = ''; box.dispatchEvent(new Event('input'));
  for (var j = 0; j < rows.length; j++) if (rows[j].style.display !== 'none') r.visibleAfterClear++;
  var out = document.createElement('pre'); out.id = 'hardnut-probe'; out.textContent = JSON.stringify(r);
  document.body.appendChild(out);
})();
</script>"""


def run_in_chromium(page: Path, table: str, query: str, cell: int, tmp_path: Path) -> tuple[dict, str]:
    probe = PROBE % {"table": table, "query": json.dumps(query), "cell": cell}
    probed = tmp_path / f"probe-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8")
    profile = tmp_path / "chromium-profile"
    res = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--window-size=1400,1000", "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<pre id="hardnut-probe">(.*?)</pre>', res.stdout, re.S)
    assert m, "the probe did not run: " + res.stdout[-1000:] + res.stderr[-1000:]
    return json.loads(html.unescape(m.group(1))), res.stdout


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert EXPOSED_VARIANT_SECRET not in text and EXPOSED_VARIANT_SECRET[4:16] not in text


@pytest.mark.nuitka
def test_exposure_page_in_chromium(exposed_variant, tmp_path):
    page = tmp_path / "exposure.html"
    res = hardnut_cli("exposure", str(exposed_variant), "--format", "html", "-o", str(page))
    assert res.returncode == 0, res.stderr
    source = page.read_text(encoding="utf-8")
    assert "http://" not in source.replace("http://www.w3.org/2000/svg", "") and "https://" not in source
    result, dom = run_in_chromium(page, "modules", "exposed_app.core", 0, tmp_path)
    assert result["title"] == "hardnut exposure"
    assert len(result["bars"]) >= 3 and all(w > 0 and h > 0 for w, h in result["bars"])
    assert result["rows"] > 10  # compiled modules plus the stdlib shipped as bytecode
    assert result["visible"] == ["exposed_app.core"]
    assert result["counter"] == f"1 of {result['rows']} rows" and result["visibleAfterClear"] == result["rows"]
    assert "ghp_…(40 chars)" in dom  # the token is listed, masked
    assert_no_secret(source, dom)


@pytest.mark.nuitka
def test_verify_page_in_chromium(exposed_variant, tmp_path):
    page = tmp_path / "verify.html"
    res = hardnut_cli("verify", str(exposed_variant), "--format", "html", "-o", str(page), "--fail-on", "critical")
    assert res.returncode == 0, res.stderr
    result, dom = run_in_chromium(page, "findings", "HN-SEC-003", 1, tmp_path)
    assert result["title"].startswith("hardnut verify: ")
    assert result["bars"] and all(w > 0 and h > 0 for w, h in result["bars"])
    assert result["visible"] == ["HN-SEC-003"] and result["rows"] > 1
    assert "ghp_…(40 chars)" in dom
    assert_no_secret(page.read_text(encoding="utf-8"), dom)
