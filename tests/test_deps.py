"""Dependency hygiene: requirement/pyproject/lock parsing and the HN-SRC-02x rules on real files."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from hardnut.checks.source import check_source
from hardnut.profile import load_profile
from hardnut.source.deps import discover, imported_distributions, read_declarations


def _by_name(decl):
    return {d.name: d for d in decl.declared}


def test_requirements_pins_hashes_options_and_includes(tmp_path):
    (tmp_path / "base.txt").write_text("attrs==23.2.0 \\\n    --hash=sha256:" + "a" * 64 + "\n")
    (tmp_path / "constraints.txt").write_text("idna==3.7\n")
    (tmp_path / "requirements.txt").write_text(
        "# comment line\n"
        "--index-url https://user:s3cr3t-in-url@pypi.example.invalid/simple\n"
        "-r base.txt\n"
        "-c constraints.txt\n"
        "Click>=8.1  # trailing comment\n"
        "requests[socks]==2.32.*\n"
        "urllib3===2.2.1\n"
        "packaging==24.0 ; python_version >= '3.8' --hash=sha256:" + "b" * 64 + "\n"
        "idna\n"
        "zstandard ==0.22.0\n"
        "wheelpkg @ https://files.example.invalid/wheelpkg-1.0-py3-none-any.whl\n"
        "vcspkg @ git+https://github.com/example/vcspkg@main\n"
        "pinnedvcs @ git+https://github.com/example/pinnedvcs@" + "c" * 40 + "\n"
        "-e .\n"
        "not a requirement !!\n"
    )
    decl = read_declarations([tmp_path / "requirements.txt"])
    by = _by_name(decl)
    assert by["click"].pinned is False and by["click"].line == 5
    assert by["requests"].pinned is False, "a wildcard is not a pin"
    assert by["urllib3"].pinned and by["zstandard"].pinned
    assert by["packaging"].pinned and by["packaging"].hashed and by["packaging"].line == 8
    assert by["attrs"].hashed and by["attrs"].kind == "requirements"  # followed through -r
    assert by["idna"].kind == "requirements" and not by["idna"].pinned
    assert [d for d in decl.declared if d.kind == "constraint"][0].name == "idna"
    assert by["wheelpkg"].pinned and not by["vcspkg"].pinned and by["pinnedvcs"].pinned
    assert by["vcspkg"].display == "vcspkg @ <url>"  # never the URL itself
    assert [(p.line, p.message) for p in decl.problems] == [(15, "not a valid requirement (PEP 508)")]
    assert all("s3cr3t" not in d.display for d in decl.declared)


def test_missing_include_and_cycle_are_problems_not_crashes(tmp_path):
    (tmp_path / "requirements.txt").write_text("-r requirements-dev.txt\n-r nope.txt\nsix==1.16.0\n")
    (tmp_path / "requirements-dev.txt").write_text("-r requirements.txt\npytest>=8\n")
    decl = read_declarations([tmp_path / "requirements.txt"])
    assert {d.name for d in decl.declared} == {"six", "pytest"}
    assert [p.message for p in decl.problems] == ["included file nope.txt not found"]


def test_pyproject_and_lock_files(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "My_App"\nversion = "1"\ndependencies = [\n  "click>=8",\n  "rich==13.7.1",\n]\n')
    (tmp_path / "uv.lock").write_text(
        'version = 1\n'
        '[[package]]\nname = "click"\nversion = "8.1.7"\nsource = { registry = "https://pypi.org/simple" }\n'
        'sdist = { url = "https://x.invalid/click-8.1.7.tar.gz", hash = "sha256:' + "d" * 64 + '", size = 1 }\n'
        '[[package]]\nname = "my-app"\nversion = "1"\nsource = { editable = "." }\n'
        '[[package]]\nname = "nohash"\nversion = "1.0"\nsource = { registry = "https://pypi.org/simple" }\n')
    (tmp_path / "poetry.lock").write_text(
        '[[package]]\nname = "tomli"\nversion = "2.0.1"\nfiles = [\n  {file = "tomli-2.0.1.tar.gz", hash = "sha256:'
        + "e" * 64 + '"},\n]\n[[package]]\nname = "bare"\nversion = "1.0"\nfiles = []\n')
    (tmp_path / "Pipfile.lock").write_text(json.dumps({
        "_meta": {}, "default": {"six": {"version": "==1.16.0", "hashes": ["sha256:" + "f" * 64]},
                                 "loose": {"version": "==2.0"}},
        "develop": {"pytest": {"version": "==8.0.0"}}}))
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n[[packages]]\nname = "attrs"\nversion = "23.2.0"\n'
        '[[packages.wheels]]\nurl = "https://x.invalid/attrs.whl"\nhashes = {sha256 = "' + "1" * 64 + '"}\n')
    (tmp_path / "requirements-notes.md").write_text("not a requirement file\n")
    files = discover([tmp_path])
    assert [f.name for f in files] == ["Pipfile.lock", "poetry.lock", "pylock.toml", "pyproject.toml", "uv.lock"]
    decl = read_declarations(files)
    locks = {d.name: d for d in decl.declared if d.kind == "lock"}
    assert locks["click"].hashed and locks["click"].line == 3
    assert locks["my-app"].local and not locks["nohash"].hashed
    assert locks["tomli"].hashed and not locks["bare"].hashed
    assert locks["six"].hashed and not locks["loose"].hashed and "pytest" not in locks  # develop is not shipped
    assert locks["attrs"].hashed
    assert "my-app" in decl.project_names and decl.has_lock()
    project = {d.name: d for d in decl.declared if d.kind == "pyproject"}
    assert not project["click"].pinned and project["click"].line == 5 and project["rich"].pinned


@pytest.mark.parametrize("name, text", [
    ("pyproject.toml", "[project\nname="),
    ("uv.lock", "version = = 1"),
    ("Pipfile.lock", "{not json"),
    ("requirements.txt", "\udcff".encode("utf-8", "surrogateescape").decode("latin-1") + "\x00\n==1\n"),
])
def test_malformed_files_are_problems(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="latin-1")
    decl = read_declarations([path])
    assert decl.problems and decl.problems[0].file == path
    assert all(p.message for p in decl.problems)


def test_imported_distributions_map_to_the_build_environment():
    found = imported_distributions(["markupsafe", "elftools", "json", "planted_nothing", "__future__"])
    assert set(found) == {"markupsafe", "elftools"}
    assert found["markupsafe"].distributions[0][:2] == ("markupsafe", "MarkupSafe")
    assert found["elftools"].distributions[0][0] == "pyelftools"
    from importlib import metadata

    version = found["markupsafe"].distributions[0][2]
    assert version and version == metadata.version("markupsafe")


def test_only_standard_library_imports_do_not_read_the_environment(monkeypatch):
    from importlib import metadata

    def refuse():
        raise AssertionError("the installed distributions were read")

    monkeypatch.setattr(metadata, "distributions", refuse)
    monkeypatch.setattr(metadata, "packages_distributions", refuse)
    assert imported_distributions(["json", "os.path".split(".")[0], "__future__"]) == {}


def test_providers_agree_with_importlib_metadata():
    """The import names -> publishing distributions of this environment, as packages_distributions()
    maps them (which parses every METADATA; _providers parses only the providers')."""
    from importlib import metadata

    from hardnut.source.deps import _providers

    full = metadata.packages_distributions()
    mine = _providers(metadata, set(full))
    assert full and {k: sorted(v) for k, v in mine.items()} == {k: sorted(v) for k, v in full.items()}
    assert _providers(metadata, {"markupsafe"}) == {"markupsafe": ["MarkupSafe"]}


def test_top_level_names_inferred_from_record(tmp_path):
    """No top_level.txt: the first component of each installed path, a module file's name without its
    suffixes (an extension module too), nothing with a dot (dist-info folders, ../../bin scripts)."""
    from importlib import metadata

    from hardnut.source.deps import _top_level_names

    info = tmp_path / "fake-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake\nVersion: 1.0\n")
    (info / "RECORD").write_text("pkg/__init__.py,sha256=x,1\npkg/sub/mod.py,,\n"
                                 "_cext.cpython-311-x86_64-linux-gnu.so,,\nsingle.py,,\n"
                                 '"quoted,name/a.py",,\n../../bin/tool,,\nfake-1.0.dist-info/METADATA,,\n')
    assert _top_level_names(metadata.PathDistribution(info)) == {"pkg", "_cext", "single", "quoted,name"}
    (info / "top_level.txt").write_text("declared\n")
    assert _top_level_names(metadata.PathDistribution(info)) == {"declared"}


def _app(tmp_path, requirements=None, require_hashes=False, extra_files=()):
    (tmp_path / "app.py").write_text("import json\nimport markupsafe\nimport elftools.elf\nimport helper\n")
    (tmp_path / "helper.py").write_text("import click\n")
    if requirements is not None:
        (tmp_path / "requirements.txt").write_text(requirements)
    for name, text in extra_files:
        (tmp_path / name).write_text(text)
    (tmp_path / "hardnut.toml").write_text(
        f'[app]\nentry = "app.py"\n[source]\nrequire_hashes = {"true" if require_hashes else "false"}\n')
    return load_profile(tmp_path / "hardnut.toml")


def test_undeclared_imports_point_at_the_import(tmp_path):
    profile = _app(tmp_path, requirements="MarkupSafe==3.0.4\n")
    undeclared = {(f.path, f.line): f.message for f in check_source(profile, secrets=False) if f.rule == "HN-SRC-022"}
    # markupsafe is declared (other spelling), json is stdlib, helper is the app's own module
    assert set(undeclared) == {("app.py", 3), ("helper.py", 1)}
    assert undeclared[("app.py", 3)].startswith(f"imports 'elftools' from pyelftools {version('pyelftools')} ")
    assert "'click' from click" in undeclared[("helper.py", 1)] and "(requirements.txt)" in undeclared[("helper.py", 1)]


def test_unpinned_and_unhashed(tmp_path):
    profile = _app(tmp_path, requirements="markupsafe>=3\npyelftools==0.33\nclick==8.1.7 --hash=sha256:" + "a" * 64
                   + "\n", require_hashes=True)
    found = [(f.rule, f.path, f.line) for f in check_source(profile, secrets=False) if f.rule.startswith("HN-SRC-02")]
    assert ("HN-SRC-020", "requirements.txt", 1) in found
    assert ("HN-SRC-021", "requirements.txt", 1) in found and ("HN-SRC-021", "requirements.txt", 2) in found
    assert ("HN-SRC-021", "requirements.txt", 3) not in found and ("HN-SRC-020", "requirements.txt", 2) not in found
    assert not [f for f in found if f[0] == "HN-SRC-022"]  # everything imported is declared


def test_pyproject_ranges_only_matter_without_a_lock(tmp_path):
    pyproject = ('[project]\nname = "x"\nversion = "1"\ndependencies = ["markupsafe>=3", "pyelftools", '
                 '"click"]\n')
    profile = _app(tmp_path, extra_files=[("pyproject.toml", pyproject)])
    loose = [f for f in check_source(profile, secrets=False) if f.rule == "HN-SRC-020"]
    assert {f.message.split(":")[0] for f in loose} == {"markupsafe>=3", "pyelftools", "click"}
    assert all(f.path == "pyproject.toml" and f.line == 4 for f in loose)
    (tmp_path / "uv.lock").write_text('version = 1\n[[package]]\nname = "markupsafe"\nversion = "3.0.4"\n')
    assert not [f for f in check_source(profile, secrets=False) if f.rule == "HN-SRC-020"]


def test_require_hashes_without_any_hashable_file(tmp_path):
    profile = _app(tmp_path, require_hashes=True)
    unhashed = [f for f in check_source(profile, secrets=False) if f.rule == "HN-SRC-021"]
    assert len(unhashed) == 1 and unhashed[0].path == "hardnut.toml"


def test_explicit_requirements_setting_and_missing_file(tmp_path):
    _app(tmp_path, requirements="markupsafe==3.0.4\n")
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / "prod.txt").write_text("pyelftools>=0.30\nmarkupsafe==3.0.4\nclick==8.1.7\n")
    (tmp_path / "hardnut.toml").write_text('[app]\nentry = "app.py"\n[source]\nrequirements = ["locks/prod.txt", '
                                           '"locks/missing.txt"]\n')
    findings = check_source(load_profile(tmp_path / "hardnut.toml"), secrets=False)
    got = {(f.rule, f.path, f.line) for f in findings if f.rule.startswith("HN-SRC-02")}
    assert got == {("HN-SRC-020", "locks/prod.txt", 1), ("HN-SRC-023", "locks/missing.txt", None)}
