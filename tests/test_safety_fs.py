"""File-system safety of `hardnut verify`: what the target holds is reported, never followed out of the
target, never blocked on, never read when it is not a regular file inside it.

Symlinks (absolute, relative, chained through other links, through a linked folder), symlink loops,
folder links, FIFOs (also where hardnut looks for Nuitka's report), sockets, device nodes, unreadable
files and folders (as an unprivileged user: the suite runs as root, for whom chmod 000 means nothing),
names that are not UTF-8 or carry control characters, and trees deeper than Python's recursion limit.
Every verify runs under a hard timer, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import SAMPLES, hardnut_cli
from hardnut.artifact.digest import file_digest
from hardnut.artifact.walk import open_target
from hardnut.errors import ProfileError, UnreadableTarget
from hardnut.timebudget import within
from hardnut.verify import VerifyOptions, verify_target

HARD_LIMIT = 30.0


def verify(target: Path):
    """verify_target under a hard timer: a hang is a failure, not a stuck suite."""
    return within(HARD_LIMIT, verify_target, target, VerifyOptions(), what=f"verify {target}")


def planted_token() -> str:
    tree = ast.parse((SAMPLES / "planted" / "planted_app" / "tokens.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "GITHUB_TOKEN":
            return ast.literal_eval(node.value)
    raise KeyError("GITHUB_TOKEN")


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder next to the artifact holding a secret the artifact must never be credited with."""
    out = tmp_path / "outside"
    (out / "dir").mkdir(parents=True)
    (out / "secret.env").write_text(f"GITHUB_TOKEN={planted_token()}\n")
    (out / "dir" / "deep.env").write_text(f"GITHUB_TOKEN={planted_token()}\n")
    return out


@pytest.fixture
def art(tmp_path) -> Path:
    a = tmp_path / "art"
    (a / "sub").mkdir(parents=True)
    (a / "README.txt").write_text("hello\n")
    (a / "sub" / "data.txt").write_text("data\n")
    return a


def findings(result, rule: str) -> dict[str, object]:
    return {f.path: f for f in result.findings if f.rule == rule}


def no_secret_read(result) -> None:
    assert not [f for f in result.findings if f.category == "secret" and f.evidence], \
        "content behind a link was read"


# ------------------------------------------------------------------------------------- symlinks


def test_symlinks_out_of_the_target_are_reported_not_followed(art, outside):
    os.symlink(outside / "secret.env", art / "abs.env")  # absolute
    os.symlink(os.path.relpath(outside / "secret.env", art / "sub"), art / "sub" / "rel.env")  # ../../outside
    os.symlink("rel.env", art / "sub" / "chain.env")  # inside -> a link that leaves
    os.symlink(outside / "dir", art / "linkdir")  # a linked folder outside
    os.symlink("linkdir/deep.env", art / "through.env")  # lexically inside, really outside
    os.symlink("sub/data.txt", art / "fine.txt")  # stays inside
    result = verify(art)
    links = findings(result, "HN-WALK-001")
    high = {p for p, f in links.items() if f.severity.label == "high"}
    assert high == {"abs.env", "sub/rel.env", "sub/chain.env", "linkdir", "through.env"}
    assert links["fine.txt"].severity.label == "low"
    no_secret_read(result)
    records = {r.path: r for r in result.files}
    assert records["abs.env"].format == "symlink" and records["abs.env"].size == 0
    assert not any(p.startswith("linkdir/") for p in records), "a linked folder was descended"


def test_symlink_loops_and_folder_loops_end(art):
    os.symlink("b", art / "a")
    os.symlink("a", art / "b")
    os.symlink("self", art / "self")
    os.symlink(".", art / "sub" / "here")
    os.symlink("..", art / "sub" / "up")
    os.symlink(str(art), art / "root")
    result = verify(art)
    links = findings(result, "HN-WALK-001")
    assert {"a", "b", "self", "sub/here", "sub/up", "root"} <= set(links)
    assert len(result.files) == 8  # 2 files + 6 links, nothing walked twice


def test_symlinked_files_are_never_hashed(art, outside):
    os.symlink(outside / "secret.env", art / "abs.env")
    result = verify(art)
    rec = next(r for r in result.files if r.path == "abs.env")
    assert rec.sha256 != file_digest(outside / "secret.env")


# ------------------------------------------------------------------------------- special files


def test_fifo_is_reported_never_opened(art):
    os.mkfifo(art / "pipe")
    os.mkfifo(art / "sub" / "app.report.xml")  # where the report is looked for
    os.mkfifo(art / ".env")  # where the secrets check looks closely
    result = verify(art)
    special = findings(result, "HN-WALK-002")
    assert {"pipe", "sub/app.report.xml", ".env"} <= set(special)
    assert all(r.format == "special" for r in result.files if r.path in special)


def test_fifo_beside_the_target_is_not_taken_for_a_report(tmp_path, art):
    os.mkfifo(tmp_path / "app.report.xml")
    verify(art)  # would block in open() if the FIFO were read


def test_fifo_or_device_as_the_target(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    # a device only where one really is (in some containers /dev/zero and /dev/null are plain files)
    devices = [Path(d) for d in ("/dev/zero", "/dev/null") if os.path.exists(d) and stat.S_ISCHR(os.stat(d).st_mode)]
    for target in (tmp_path / "pipe", *devices[:1]):
        with pytest.raises(UnreadableTarget, match="neither a folder nor a regular file"):
            within(HARD_LIMIT, verify_target, target, VerifyOptions())
    res = hardnut_cli("verify", str(tmp_path / "pipe"), timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr


def test_opening_refuses_what_is_not_a_regular_file(tmp_path):
    """The walk lists, then opens; a FIFO swapped in between is refused at open, without blocking."""
    os.mkfifo(tmp_path / "swapped")
    with pytest.raises(OSError):
        within(HARD_LIMIT, file_digest, tmp_path / "swapped")
    os.symlink("/etc/hostname", tmp_path / "link")
    with pytest.raises(OSError):
        file_digest(tmp_path / "link")


def test_socket_is_reported(tmp_path):
    art = Path(tempfile.mkdtemp(prefix="s", dir="/tmp"))  # AF_UNIX paths must be short
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(art / "s"))
        try:
            result = verify(art)
        finally:
            sock.close()
        assert "s" in findings(result, "HN-WALK-002")
    finally:
        shutil.rmtree(art, ignore_errors=True)


def test_device_node_is_reported(art):
    try:
        os.mknod(art / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot create a device node here: {exc}")
    os.symlink("/dev/zero", art / "zero")
    result = verify(art)
    assert "null" in findings(result, "HN-WALK-002")
    assert findings(result, "HN-WALK-001")["zero"].severity.label == "high"


# ----------------------------------------------------------------------------------- unreadable


def _as_nobody() -> list[str]:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run hardnut as an unprivileged user (root reads chmod 000 files)")
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def test_unreadable_files_and_folders_as_an_unprivileged_user():
    prefix = _as_nobody()
    base = Path(tempfile.mkdtemp(prefix="hardnut-unreadable-"))
    try:
        os.chmod(base, 0o755)
        art = base / "art"
        (art / "locked-dir").mkdir(parents=True)
        (art / "locked-dir" / "inside.txt").write_text("x\n")
        (art / "locked.txt").write_text("secret\n")
        (art / "fine.txt").write_text("fine\n")
        os.chmod(art / "locked.txt", 0)
        os.chmod(art / "locked-dir", 0)
        res = subprocess.run([*prefix, sys.executable, "-m", "hardnut", "verify", str(art), "--format", "json"],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(base)},
                             stdin=subprocess.DEVNULL)
        assert res.returncode == 1, res.stderr
        doc = json.loads(res.stdout)
        unreadable = {f["path"]: f["message"] for f in doc["findings"] if f["rule"] == "HN-WALK-003"}
        assert "cannot read file" in unreadable["locked.txt"]
        assert "cannot read folder" in unreadable["locked-dir"]
        assert [f["path"] for f in doc["files"]] == ["fine.txt"]
        # an unreadable target is exit 2, one line
        os.chmod(art, 0)
        res = subprocess.run([*prefix, sys.executable, "-m", "hardnut", "verify", str(art)], capture_output=True,
                             text=True, timeout=120, env={**os.environ, "HOME": str(base)}, stdin=subprocess.DEVNULL)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert "not readable" in res.stderr or "permission denied" in res.stderr
    finally:
        for root, dirs, _ in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
        os.chmod(base / "art", 0o755) if (base / "art").exists() else None
        shutil.rmtree(base, ignore_errors=True)


# ------------------------------------------------------------------------------------- names


def test_names_not_utf8_or_with_control_characters(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    (art / os.fsdecode(b"bad\xff\xfe.txt")).write_text("x\n")
    (art / "evil\n[critical] HN-FAKE-001 injected.txt").write_text("x\n")
    (art / "esc\x1b[2Jname.txt").write_text("x\n")
    (art / "ünïcödé.txt").write_text("fine\n")
    result = verify(art)
    odd = findings(result, "HN-WALK-005")
    assert set(odd) == {"bad\\xff\\xfe.txt", "evil\\n[critical] HN-FAKE-001 injected.txt", "esc\\x1b[2Jname.txt"}
    assert "ünïcödé.txt" in {r.path for r in result.files}
    for fmt in ("text", "json", "sarif", "junit", "markdown"):
        res = hardnut_cli("verify", str(art), "--format", fmt)
        assert res.returncode == 0 or res.returncode == 1, res.stderr
        assert "\x1b" not in res.stdout and "\n[critical] HN-FAKE" not in res.stdout
        if fmt in ("json", "sarif"):
            json.loads(res.stdout)


# ------------------------------------------------------------------------------------ depth


def test_tree_deeper_than_the_recursion_limit(tmp_path):
    art = tmp_path / "art"
    art.mkdir()
    depth = sys.getrecursionlimit() + 200
    cwd = os.getcwd()
    os.chdir(art)
    try:
        for _ in range(depth):
            os.mkdir("d")
            os.chdir("d")
        Path("bottom.txt").write_text("found\n")
    finally:
        os.chdir(cwd)
    try:
        result = verify(art)
        bottom = [r for r in result.files if r.path.endswith("bottom.txt")]
        assert bottom and bottom[0].path.count("/") == depth
    finally:
        _remove_deep(art)  # shutil.rmtree (and pytest's own cleanup) recurse and fail on this tree


def _remove_deep(top: Path) -> None:
    cwd = os.getcwd()
    os.chdir(top)
    try:
        depth = 0
        while os.path.isdir("d"):
            os.chdir("d")
            depth += 1
        for name in os.listdir("."):
            os.unlink(name)
        for _ in range(depth):
            os.chdir("..")
            os.rmdir("d")
    finally:
        os.chdir(cwd)


# --------------------------------------------------------------------- temporary folders


def _hardnut_temp() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("hardnut-onefile-")}


def test_payload_extractions_are_removed(tmp_path):
    import fuzz_helpers as fh

    made = dict(fh.synthetic_onefiles(fh.FUZZ_BUILD / "onefile"))
    if not made:
        pytest.skip("gcc is needed for the synthetic onefile binaries")
    before = _hardnut_temp()
    with open_target(made["onefile-appended-zstd"]) as art:
        inner = [f for f in art.files if "!/" in f.relpath]
        assert inner and all(f.fs_path.exists() for f in inner)
        during = _hardnut_temp() - before
        assert during
    assert _hardnut_temp() == before
    # also when the block ends with an error
    with pytest.raises(RuntimeError):
        with open_target(made["onefile-appended-raw"]):
            raise RuntimeError("boom")
    assert _hardnut_temp() == before


# ------------------------------------------------------------------------- profiles (build side)


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/stdin", "fifo.toml", "/proc/self/mem"])
def test_profile_extends_never_blocks_on_special_files(tmp_path, target):
    from hardnut.profile import load_profile

    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "hardnut.toml").write_text(f'[profile]\nextends = "{target}"\n')
    with pytest.raises(ProfileError, match="not a regular file|cannot read profile"):
        within(10, load_profile, tmp_path / "hardnut.toml", require_entry=False)


@pytest.mark.parametrize("option", ["--baseline", "--manifest"])
@pytest.mark.parametrize("special", ["fifo", "/dev/zero", "link-to-zero"])
def test_baseline_and_manifest_never_block_on_special_files(tmp_path, art, option, special):
    """A baseline or manifest from the repository (a FIFO, /dev/zero, a link to it) is a one-line error
    (exit 2), not a hang or an out-of-memory."""
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/zero", tmp_path / "link-to-zero")
    path = special if special.startswith("/") else str(tmp_path / special)
    res = hardnut_cli("verify", str(art), option, path, timeout=60)
    assert res.returncode == 2 and "not a regular file" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
