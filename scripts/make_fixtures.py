#!/usr/bin/env python3
"""Build the binary fixtures for the inspect/dependency/debug/hardening tests into OUTDIR.

    python scripts/make_fixtures.py OUTDIR        (the tests use tests/fixtures/build/binaries)

Sources live in tests/fixtures/src/binaries/. ELF fixtures need gcc (32-bit ones gcc -m32); PE fixtures
need x86_64-w64-mingw32-gcc (32-bit ones i686-w64-mingw32-gcc). A missing toolchain is recorded in
OUTDIR/manifest.json and its fixtures are skipped. Idempotent and quick: when the sources, this script and
the compiler versions are unchanged (OUTDIR/.stamp) nothing is rebuilt; otherwise everything is built in
a scratch folder that then replaces OUTDIR.

Layout:
  elf/   hardened unstripped partial_relro norelro nocanary nofortify nopie execstack plain debug rwx
         textrel.so
  pe/    hardened.exe nodyn.exe debug.exe wx.exe
  dists/ elf_ok elf_missing elf_mismatch elf_rpath pe_ok pe_missing pe_mismatch  (one artifact each)
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "tests" / "fixtures" / "src" / "binaries"

GCC = "gcc"
MINGW64 = "x86_64-w64-mingw32-gcc"
MINGW32 = "i686-w64-mingw32-gcc"
HARD_CFLAGS = ["-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fPIE"]
HARD_LDFLAGS = ["-pie", "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack"]


class BuildError(Exception):
    pass


def run(*cmd: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(list(cmd), cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{proc.stderr.strip()}")
    return proc.stdout


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


def tool_version(tool: str) -> str:
    return run(tool, "--version").splitlines()[0] if have(tool) else "absent"


def stamp() -> str:
    h = hashlib.sha256(Path(__file__).read_bytes())
    for src in sorted(SRC.iterdir()):
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    for tool in (GCC, MINGW64, MINGW32):
        h.update(tool_version(tool).encode())
    return h.hexdigest()


def cc(out: Path, *args: str, compiler: str = GCC, cwd: Path | None = None) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    run(compiler, *args, "-o", str(out), cwd=cwd)
    return out


def src(name: str) -> str:
    return str(SRC / name)


# ------------------------------------------------------------------------------------------------ ELF


def build_elf(out: Path, scratch: Path, manifest: dict) -> None:
    elf = out / "elf"
    hello = src("hello.c")
    hard = HARD_CFLAGS + HARD_LDFLAGS
    cc(elf / "hardened", *hard, "-s", hello)
    cc(elf / "unstripped", *hard, hello)
    cc(elf / "partial_relro", *HARD_CFLAGS, "-pie", "-Wl,-z,relro,-z,lazy", "-Wl,-z,noexecstack", "-s", hello)
    cc(elf / "norelro", *HARD_CFLAGS, "-pie", "-Wl,-z,norelro", "-Wl,-z,noexecstack", "-s", hello)
    cc(elf / "nocanary", *hard, "-fno-stack-protector", "-s", hello)
    cc(elf / "nofortify", *hard, "-U_FORTIFY_SOURCE", "-s", hello)
    cc(elf / "nopie", "-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2", "-fno-PIE", "-no-pie",
       "-Wl,-z,relro,-z,now", "-Wl,-z,noexecstack", "-s", hello)
    cc(elf / "execstack", *hard, "-Wl,-z,execstack", "-s", hello)
    cc(elf / "plain", "-O2", "-fno-stack-protector", "-U_FORTIFY_SOURCE", "-fno-PIE", "-no-pie",
       "-Wl,-z,norelro", "-Wl,-z,execstack", hello)
    # -g, compiled inside a temporary build folder so DW_AT_comp_dir is a /tmp/<dir>/<dir> path
    builddir = Path(tempfile.mkdtemp(prefix="hardnut-fixture-")) / "src"
    try:
        builddir.mkdir()
        shutil.copy(SRC / "hello.c", builddir / "hello.c")
        cc(elf / "debug", *hard, "-g", "-DEMBED_BUILD_PATH", "hello.c", cwd=builddir)
        manifest["comp_dir"] = str(builddir)
    finally:
        shutil.rmtree(builddir.parent, ignore_errors=True)
    cc(elf / "rwx", *hard, "-Wl,--no-warn-rwx-segments", "-s", src("rwx.c"))
    cc(elf / "textrel.so", "-O2", "-fPIC", "-shared", "-Wl,-z,notext", "-Wl,-z,relro,-z,now",
       "-s", src("textrel.c"))

    # libok.so.1.0 (soname libok.so.1) and the libok.so.1 link the linker reads
    libdir = scratch / "elf-lib"
    libok = cc(libdir / "libok.so.1.0", "-O2", "-fPIC", "-shared", "-fstack-protector-strong",
               "-Wl,-soname,libok.so.1", "-Wl,-z,relro,-z,now", "-s", src("libok.c"))
    os.symlink("libok.so.1.0", libdir / "libok.so.1")
    link_ok = ["-L" + str(libdir), "-l:libok.so.1"]

    # elf_ok: RUNPATH $ORIGIN/lib, lib/libok.so.1 -> libok.so.1.0; sub/tool uses RPATH ${ORIGIN}/../lib
    d = out / "dists" / "elf_ok"
    cc(d / "app", *hard, "-s", src("useok.c"), *link_ok, "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN/lib")
    cc(d / "sub" / "tool", *hard, "-s", src("useok.c"), *link_ok, "-Wl,--disable-new-dtags",
       "-Wl,-rpath,${ORIGIN}/../lib")
    (d / "lib").mkdir()
    shutil.copy(libok, d / "lib" / "libok.so.1.0")
    os.symlink("libok.so.1.0", d / "lib" / "libok.so.1")

    # elf_missing: NEEDED libgone.so, built for the link and then left behind
    gone = cc(scratch / "elf-gone" / "libgone.so", "-O2", "-fPIC", "-shared", src("gone.c"))
    cc(out / "dists" / "elf_missing" / "app", *hard, "-s", src("usegone.c"), "-L" + str(gone.parent), "-lgone",
       "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN")

    # elf_rpath: an absolute RPATH and one climbing out of the artifact; libok.so.1 sits at the dist root
    d = out / "dists" / "elf_rpath"
    cc(d / "app", *hard, "-s", src("useok.c"), *link_ok, "-Wl,--disable-new-dtags",
       "-Wl,-rpath,/home/alice/lib:$ORIGIN/../../outside")
    shutil.copy(libok, d / "libok.so.1")

    # elf_mismatch: the only libok.so.1 in the artifact is 32-bit
    d = out / "dists" / "elf_mismatch"
    cc(d / "app", *hard, "-s", src("useok.c"), *link_ok, "-Wl,--enable-new-dtags", "-Wl,-rpath,$ORIGIN")
    try:
        cc(d / "libok.so.1", "-m32", "-nostdlib", "-shared", "-fPIC", "-Wl,-soname,libok.so.1", src("libok.c"))
        manifest["elf32"] = True
    except BuildError as exc:
        manifest["elf32"] = False
        manifest.setdefault("skipped", []).append(f"elf_mismatch 32-bit library: {exc}".splitlines()[0])
    manifest["elf"] = True


# ------------------------------------------------------------------------------------------------- PE


def build_pe(out: Path, scratch: Path, manifest: dict) -> None:
    pe = out / "pe"
    hello = src("hello.c")
    cc(pe / "hardened.exe", "-O2", "-s", hello, compiler=MINGW64)
    cc(pe / "nodyn.exe", "-O2", "-s", hello, "-Wl,--disable-dynamicbase,--disable-nxcompat,--disable-high-entropy-va",
       compiler=MINGW64)
    pdb = scratch / "pe-debug" / "hello.pdb"
    pdb.parent.mkdir(parents=True)
    cc(pe / "debug.exe", "-g", "-DEMBED_WIN_PATH", hello, f"-Wl,--pdb={pdb}", compiler=MINGW64)
    cc(pe / "wx.exe", "-O2", "-s", src("rwx.c"), compiler=MINGW64)

    # ok.dll with its import library; gone.dll built for the link only; delayed.dll as a delay-load lib
    lib = scratch / "pe-lib"
    cc(lib / "ok.dll", "-O2", "-shared", "-s", src("libok.c"), f"-Wl,--out-implib,{lib / 'libok.dll.a'}",
       compiler=MINGW64)
    cc(lib / "gone.dll", "-O2", "-shared", src("gone.c"), f"-Wl,--out-implib,{lib / 'libgone.dll.a'}",
       compiler=MINGW64)
    (lib / "delayed.def").write_text("LIBRARY delayed.dll\nEXPORTS\ndelayed_func\n")
    run("x86_64-w64-mingw32-dlltool", "--input-def", str(lib / "delayed.def"), "--output-delaylib",
        str(lib / "libdelayed.a"), "--dllname", "delayed.dll")

    # pe_ok: app.exe imports ok.dll, shipped as Ok.DLL (Windows matches names case-insensitively);
    # plugins/plugin.dll imports it too and finds it at the dist root
    d = out / "dists" / "pe_ok"
    cc(d / "app.exe", "-O2", "-s", src("useok.c"), "-L" + str(lib), "-lok", compiler=MINGW64)
    cc(d / "plugins" / "plugin.dll", "-O2", "-s", "-shared", src("useok.c"), "-L" + str(lib), "-lok",
       compiler=MINGW64)
    shutil.copy(lib / "ok.dll", d / "Ok.DLL")

    # pe_missing: imports gone.dll (not shipped) and delay-loads delayed.dll (not shipped)
    app = cc(d.parent / "pe_missing" / "app.exe", "-O2", "-DUSE_DELAYED", src("usegone.c"), "-L" + str(lib),
             "-lgone", "-ldelayed", compiler=MINGW64)
    manifest["pe_delay"] = _mark_delay_imports(app)

    # pe_mismatch: the only ok.dll in the artifact is 32-bit
    d = out / "dists" / "pe_mismatch"
    cc(d / "app.exe", "-O2", "-s", src("useok.c"), "-L" + str(lib), "-lok", compiler=MINGW64)
    if have(MINGW32):
        cc(d / "ok.dll", "-O2", "-shared", "-s", src("libok.c"), compiler=MINGW32)
        manifest["pe32"] = True
    else:
        manifest["pe32"] = False
        manifest.setdefault("skipped", []).append(f"pe_mismatch 32-bit DLL: {MINGW32} not installed")
    manifest["pe"] = True


def _mark_delay_imports(exe: Path) -> bool:
    """GNU ld links dlltool's delay-load stubs but leaves the delay-import data directory empty (the stubs
    work without it). Point the directory at the descriptor, as MSVC's linker would, so the file carries
    a real delay import."""
    try:
        import pefile
    except ImportError:
        return False
    symbols = run("x86_64-w64-mingw32-nm", str(exe))
    addr = next((int(line.split()[0], 16) for line in symbols.splitlines()
                 if "__DELAY_IMPORT_DESCRIPTOR_" in line), None)
    if addr is None:
        return False
    pe = pefile.PE(str(exe))
    entry = pe.OPTIONAL_HEADER.DATA_DIRECTORY[13]
    entry.VirtualAddress = addr - pe.OPTIONAL_HEADER.ImageBase
    entry.Size = 32
    data = pe.write()
    pe.close()
    exe.write_bytes(data)
    return True


# ----------------------------------------------------------------------------------------------- main


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = Path(argv[1]).resolve()
    want = stamp()
    stamp_file = out / ".stamp"
    if stamp_file.is_file() and stamp_file.read_text() == want:
        print(f"fixtures up to date in {out}")
        return 0
    if not have(GCC):
        print("gcc is not installed: cannot build the binary fixtures", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    scratch = Path(tempfile.mkdtemp(prefix="hardnut-fixture-scratch-"))
    manifest: dict = {"elf": False, "elf32": False, "pe": False, "pe32": False, "pe_delay": False}
    try:
        build_elf(tmp, scratch, manifest)
        if have(MINGW64):
            build_pe(tmp, scratch, manifest)
        else:
            manifest.setdefault("skipped", []).append(f"PE fixtures: {MINGW64} not installed")
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        (tmp / ".stamp").write_text(want)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / "x")
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, out)
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"fixtures built in {out}: {json.dumps(manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
