"""hardnut.distfiles reads what importlib.metadata reads, for every installed distribution and for one in
a zip (no folder)."""

from __future__ import annotations

import zipfile
from importlib import metadata

from hardnut.distfiles import headers, read_bytes, read_text


def test_same_files_and_headers_as_importlib_metadata():
    dists = list(metadata.distributions())
    assert len(dists) > 10
    for dist in dists:
        for name in ("METADATA", "RECORD", "top_level.txt", "entry_points.txt", "no-such-file"):
            expected = dist.read_text(name)
            got = read_text(dist, name)
            assert (got is None) == (expected is None), (dist, name)
            if expected is not None:
                assert got.replace("\r\n", "\n") == expected, (dist, name)
        md, hd = dist.metadata, headers(dist)
        for field in ("Name", "Version", "Summary", "Requires-Python"):
            assert hd[field] == md[field], (dist, field)
        assert hd.get_all("Requires-Dist") == md.get_all("Requires-Dist")


def test_a_zipped_distribution_goes_through_importlib_metadata(tmp_path, monkeypatch):
    archive = tmp_path / "z.zip"
    meta = "Metadata-Version: 2.1\nName: zipped-probe\nVersion: 2.0\n\nA long description.\nVersion: no\n"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipped_probe-2.0.dist-info/METADATA", meta)
        zf.writestr("zipped_probe-2.0.dist-info/RECORD", "zipped_probe/__init__.py,,\n")
    monkeypatch.syspath_prepend(str(archive))
    dist = metadata.distribution("zipped-probe")
    assert read_bytes(dist, "METADATA") == meta.encode()
    assert read_text(dist, "RECORD") == "zipped_probe/__init__.py,,\n"
    assert read_bytes(dist, "top_level.txt") is None
    assert headers(dist)["Version"] == "2.0"  # the body's "Version: no" is not a header
