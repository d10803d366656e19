"""hardnut.names.canonical_name gives packaging.utils.canonicalize_name's names."""

from __future__ import annotations

import random
import string

from packaging.utils import canonicalize_name

from hardnut.names import canonical_name


def test_same_names_as_packaging():
    names = ["Foo_Bar", "foo.bar", "FOO--BAR", "a-_.b", "zope.interface", "Django", "ruamel.yaml.clib",
             "backports.zoneinfo", "-x-", "", "._-", "Ünïcode_Name", "A__B..C--D", "typing_extensions"]
    rng = random.Random(1)
    alphabet = string.ascii_letters + string.digits + "-_." + "İıß"
    names += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(5000)]
    for name in names:
        assert canonical_name(name) == canonicalize_name(name), name


def test_a_build_does_not_import_packaging_tags(tmp_path):
    """The point of the module: check-source, verify and the SBOM name distributions without it."""
    import subprocess
    import sys

    code = ("import sys, hardnut.source.deps, hardnut.sbom, hardnut.audit.inventory; "
            "hardnut.sbom.purl_for(hardnut.sbom.Distribution('A_b', '1')); print('packaging.tags' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
