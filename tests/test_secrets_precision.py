"""Precision on real, clean material: GnuTLS' built-in self-test private keys (in every libgnutls,
bundled by PyAV and others) are recognised by the known-public fingerprint list and reported at
info only; a PEM header without a key body is not a key file; known-public data has its source."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest

from hardnut.checks.secrets import file_findings
from hardnut.model import Severity
from hardnut.secrets.engine import Engine
from hardnut.secrets.rules import _KNOWN_PUBLIC_FILE, known_public
from helpers_secrets import Fakes

LIBGNUTLS = sorted(glob.glob("/usr/lib/*/libgnutls.so.30*") + glob.glob("/usr/lib64/libgnutls.so.30*"))


@pytest.mark.skipif(not LIBGNUTLS, reason="libgnutls30 not installed (scripts/_setup.sh installs it)")
def test_gnutls_self_test_keys_are_info_only():
    lib = Path(LIBGNUTLS[-1]).resolve()
    scan = Engine().scan_file(lib)
    keys = [m for m in scan.matches if m.rule_id == "HN-SEC-018"]
    assert len(keys) >= 8, "the self-test keys should be found (and then recognised)"
    assert all(m.severity == Severity.INFO and "well-known public" in m.note for m in keys)
    assert not [m for m in scan.matches if m.severity >= Severity.MEDIUM]


def test_known_public_list_is_data_with_sources():
    data = json.loads(_KNOWN_PUBLIC_FILE.read_text())
    for group in data["groups"]:
        assert group["what"] and group["source"] and group["sha256"]
        assert all(len(fp) == 64 and int(fp, 16) >= 0 for fp in group["sha256"])
    assert len(known_public()) >= 13


def test_a_fresh_key_is_still_critical():
    pem = Fakes(3).pem("EC")
    [m] = Engine().scan_buffer(pem.encode())
    assert (m.rule_id, m.severity) == ("HN-SEC-018", Severity.CRITICAL)


def test_pem_header_without_body_is_not_a_key_file(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("-----BEGIN RSA PRIVATE KEY-----\n-----BEGIN EC PRIVATE KEY-----\n")
    assert file_findings("labels.txt", labels) == []
    key = tmp_path / "id.pem"
    key.write_text(Fakes(4).pem("RSA"))
    assert [f.rule for f in file_findings("id.pem", key)] == ["HN-SEC-200"]
