"""hardnut.nuitka.report_xml on the reports of real Nuitka builds, and on hostile report text."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hardnut.nuitka import report_xml
from hardnut.nuitka.report_xml import ReportError, parse_report, parse_report_text, redact

from helpers_onefile import onefile_build


@pytest.fixture(scope="module")
def reports():
    return {v: onefile_build(v).report for v in ("compressed", "plain")}


def test_real_report_facts(reports):
    from nuitka.Version import getNuitkaVersion

    r = parse_report(reports["compressed"])
    assert r.nuitka_version == getNuitkaVersion() and r.mode == "onefile" and r.completed
    assert r.onefile.cache_mode == "temporary"
    assert r.onefile.unpack_dir == "{TEMP}/onefile_{PID}_{TIME_US}_{RANDOM}"
    assert r.onefile.resource_mode == "incbin" and r.onefile.binary == "app.bin"
    assert r.compiler.c_compiler == "gcc"
    assert not r.deployment and r.downloads_allowed and not r.uac.admin
    assert r.option_values("--nofollow-import-to") == ["xml.dom"]
    assert r.options[-1].endswith("/src/app.py")
    # modules, with the main module's imports
    main = r.module("__main__")
    assert main.kind == "PythonMainModule" and main.is_user_code and not main.is_stdlib
    missing = [u for u in main.usages if u.finding == "not-found"]
    assert [(u.name, u.line, u.reason) for u in missing] == [("hardnut_fixture_missing", 7, "import")]
    assert r.module("os").is_stdlib and not r.module("os").is_user_code
    # what the dist received
    data = {d.name: d for d in r.data_files}
    assert data["data/greeting.txt"].kind == "data_file"
    assert data["data/greeting.txt"].size == len("hello from the hardnut onefile fixture\n")
    ext = {i.dest_path: i for i in r.included if i.kind == "extension"}
    assert ext["_bz2.so"].source_path.startswith("${sys.real_prefix}/") and "copy" in ext["_bz2.so"].tags
    assert r.distributions == ()


def test_cached_deployment_report(reports):
    r = parse_report(reports["plain"])
    assert r.onefile.cache_mode == "cached" and r.onefile.unpack_dir == "{CACHE_DIR}/hardnut-fixture-plain"
    assert r.deployment and not r.downloads_allowed and r.no_deployment_flags == ()


def test_standalone_shape_without_onefile(reports):
    text = reports["compressed"].read_text()
    root = ET.fromstring(text.encode())
    for tag in ("onefile", "onefile_binary", "scons_environment"):
        for el in root.findall(tag):
            root.remove(el)
    root.set("mode", "standalone")
    r = parse_report_text(ET.tostring(root))
    assert r.onefile is None and r.compiler is None and r.mode == "standalone"


def test_doctype_and_entities_refused_fast(reports):
    text = reports["compressed"].read_text()
    laughs = ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
              + "".join(f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(3, 10)) + "]>")
    hostile = text.replace("<nuitka-compilation-report", laughs + "<nuitka-compilation-report", 1)
    hostile = hostile.replace('mode="onefile"', 'mode="&lol9;"', 1)
    start = time.monotonic()
    with pytest.raises(ReportError, match="DOCTYPE"):
        parse_report_text(hostile)
    assert time.monotonic() - start < 1
    external = text.replace("<nuitka-compilation-report",
                            '<!DOCTYPE r SYSTEM "file:///etc/passwd"><nuitka-compilation-report', 1)
    with pytest.raises(ReportError):
        parse_report_text(external)


def test_non_ascii_content(reports):
    """Nuitka declares encoding='utf8'; a path with non-ASCII characters must still parse."""
    text = reports["compressed"].read_text().replace("data/greeting.txt", "données/grüße.txt")
    r = parse_report_text(text.encode("utf-8"))
    assert "données/grüße.txt" in {d.name for d in r.data_files}


def test_malformed_reports(reports, tmp_path):
    text = reports["compressed"].read_text()
    for bad in (text[: len(text) // 2], "<other-root/>", "", "\x00\x01garbage"):
        with pytest.raises(ReportError):
            parse_report_text(bad)
    with pytest.raises(ReportError, match="larger than"):
        parse_report(reports["compressed"], max_bytes=1000)
    with pytest.raises(ReportError, match="cannot read"):
        parse_report(tmp_path / "missing.xml")


SECRETS = {
    "--windows-certificate-password=hunter2hunter2": "hunter2hunter2",
    "--report-user-provided=api_token=ghp_Zx81kQ2mN7pLw4vT9sR3aB6cD1eF0gH5jK": "ghp_Zx81kQ2mN7pLw4vT9sR3aB6cD1eF0gH5jK",
    "--signing-thing=Q2x9fK3mZ8pL1wV7tR4sN6bD0cH5jA2e": "Q2x9fK3mZ8pL1wV7tR4sN6bD0cH5jA2e",
    "--index-url=https://deploy:S3cr3t-P4ss@pypi.example.com/simple": "S3cr3t-P4ss",
}


def test_redact_masks_secrets_and_keeps_the_rest(reports):
    text = reports["plain"].read_text()
    options = "".join(f'    <option value="{o}" />\n' for o in SECRETS)
    text = text.replace("<command_line>\n", "<command_line>\n" + options, 1)
    text = text.replace('<path value="${cwd}" />', '<path value="git+https://bob:Pa55word99@git.example.com/x" />')
    out = redact(text)
    for secret in list(SECRETS.values()) + ["Pa55word99"]:
        assert secret not in out
    r = parse_report_text(out)  # still a report
    assert "--deployment" in r.options and "--onefile-tempdir-spec={CACHE_DIR}/hardnut-fixture-plain" in r.options
    assert any(o.startswith("--output-dir=/") and o.endswith("/plain/out") for o in r.options)  # paths untouched
    masked = {o.split("=", 1)[0]: o for o in r.options}
    assert masked["--windows-certificate-password"] == "--windows-certificate-password=hunt…(14 chars)"
    assert masked["--report-user-provided"].startswith("--report-user-provided=api_token=ghp_…(")
    assert masked["--index-url"] == "--index-url=https://deploy:S3…(11 chars)@pypi.example.com/simple"
    assert "git+https://bob:Pa…(10 chars)@git.example.com/x" in out
    assert redact(out) == out  # idempotent


def test_redact_leaves_ordinary_options(reports):
    text = reports["compressed"].read_text()
    assert redact(text) == text


@pytest.mark.parametrize("value,secret", [
    ("hello-world-option", False), ("xml.dom", False), ("/usr/lib/python3.11/site-packages", False),
    ("aaaaaaaaaaaaaaaaaaaaaaaa", False), ("3.11.7", False), ("src/pkg/module.py", False),
    ("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", True),
    ("AKIAZ3QWERTY7UIOP2LK", True), ("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", True),
])
def test_entropy_heuristic(value, secret):
    assert report_xml._looks_secret(value) is secret


def test_the_last_report_parsed_is_reused_only_for_the_same_text(reports):
    """verify, the SBOM and the audit of one build read one report: parsed once; any other text (an
    edited report, another build's) is parsed anew, and a refused text is never remembered."""
    text = reports["compressed"].read_text()
    first = parse_report(reports["compressed"])
    assert parse_report_text(text) is first
    edited = parse_report_text(text.replace('mode="onefile"', 'mode="standalone"', 1))
    assert edited is not first and edited.mode == "standalone" and first.mode == "onefile"
    with pytest.raises(ReportError):
        parse_report_text("<not-a-report/>")
    assert parse_report_text(text) == first and parse_report_text(text) is not edited


def test_attribute_escaping_is_saxutils():
    """redact's own attribute (un)escaping gives what xml.sax.saxutils gives (which it no longer imports)."""
    import random
    from xml.sax.saxutils import escape, unescape

    rng = random.Random(7)
    parts = ["&", "<", ">", '"', "'", "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&amp;lt;", "&#39;", "a", "=", " "]
    for _ in range(3000):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 12)))
        assert report_xml._unescape_attr(text) == unescape(text, {"&quot;": '"', "&apos;": "'"})
        assert report_xml._escape_attr(text) == escape(text, {'"': "&quot;"})


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["https://", "ftp://", "git+ssh://", "user", "pw", ":", "@", "/", "\n", " ", "\r",
                                 "x", "Z9", '"', "<", "://", "a:b@", "hx://u:p@h"]), max_size=40))
def test_url_credentials_masked_line_by_line_as_over_the_whole_text(parts):
    """redact applies the URL-credentials pattern only to lines with '://': the same text as applying it
    to the whole report."""
    from hardnut.model import mask
    from hardnut.nuitka.report_xml import _URL_CREDENTIALS, _mask_url_credentials

    text = "".join(parts)
    whole = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{mask(m['pw'])}@", text)
    assert _mask_url_credentials(text) == whole
