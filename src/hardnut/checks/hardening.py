"""Hardening rules: exploit mitigations of every ELF and PE file, with checksec's definitions for ELF and
BinSkim's rules for PE (their ids are cited in each rule, and where hardnut judges differently the rule's
explanation says how).

Severities depend on who can fix the file. The main program (checks.dependency.main_programs) is built by
this release, so a missing mitigation there is high or medium. Bundled third-party files are reported one
step lower (CPython's own extension modules, e.g. pyenv builds, lack canaries and BIND_NOW). Properties
that weaken the whole process whatever file carries them (an executable stack, writable+executable
memory, RPATHs into the build host's file system) stay high for every file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional

from hardnut.checks.base import CheckContext, rule_finding
from hardnut.checks.dependency import binaries, examples, main_programs, prepare, stable_fingerprint
from hardnut.inspect import is_facts, lddtree
from hardnut.inspect.elf import ElfFacts
from hardnut.model import Finding, Rule, Severity

if TYPE_CHECKING:
    from hardnut.inspect.macho import MachoFacts, MachoSlice
    from hardnut.inspect.pe import PeFacts

CHECKSEC = "https://github.com/slimm609/checksec"
BINSKIM = "https://github.com/microsoft/binskim/blob/main/docs/BinSkimRules.md"

ELF_NO_RELRO = Rule(
    "HN-ELF-001", "no RELRO", "hardening", Severity.HIGH,
    "No PT_GNU_RELRO segment (checksec: 'No RELRO'; BinSkim BA3010). The GOT and other relocated data stay "
    "writable for the life of the process, so a memory-corruption bug can redirect calls by overwriting "
    "function pointers. Link with -Wl,-z,relro,-z,now. High for the main program, medium for bundled files.",
    (CHECKSEC, BINSKIM),
)
ELF_PARTIAL_RELRO = Rule(
    "HN-ELF-002", "partial RELRO (no BIND_NOW)", "hardening", Severity.MEDIUM,
    "PT_GNU_RELRO is present but neither DT_BIND_NOW, DF_BIND_NOW nor DF_1_NOW is set (checksec: 'Partial "
    "RELRO'; BinSkim BA3011). Lazy binding keeps the PLT's GOT writable, which is the classic GOT-overwrite "
    "target. Link with -Wl,-z,now. Medium for the main program, low for bundled files (CPython's own "
    "extension modules are usually built this way).",
    (CHECKSEC, BINSKIM),
)
ELF_NO_CANARY = Rule(
    "HN-ELF-003", "no stack canary", "hardening", Severity.HIGH,
    "No stack-protector symbol (__stack_chk_fail, __stack_chk_guard, __intel_security_cookie) in the dynamic "
    "symbols or the symbol table (checksec: 'No canary found'). Stack buffer overflows then overwrite "
    "return addresses undetected. Compile with -fstack-protector-strong. High for the main program; low for "
    "bundled files, whose builders the release does not control and where a small module without arrays "
    "legitimately needs no canary.",
    (CHECKSEC,),
)
ELF_NO_PIE = Rule(
    "HN-ELF-004", "executable is not PIE", "hardening", Severity.HIGH,
    "An ET_EXEC executable (checksec: 'No PIE'; BinSkim BA3001). It is always loaded at the same address, "
    "which defeats ASLR for its code and data and hands an attacker fixed gadget addresses. Build with "
    "-fPIE -pie. High for the main program, medium for other executables in the artifact.",
    (CHECKSEC, BINSKIM),
)
ELF_NO_FORTIFY = Rule(
    "HN-ELF-005", "no FORTIFY_SOURCE", "hardening", Severity.MEDIUM,
    "The file imports glibc functions that have checked variants (checksec: 'fortifiable', e.g. memcpy, "
    "strcpy, sprintf, read) but not a single checked __*_chk variant (checksec: 'fortified'; BinSkim "
    "BA3030). FORTIFY_SOURCE turns overflows whose size the compiler can see into an abort. Compile with "
    "-O2 -D_FORTIFY_SOURCE=2 (or 3). Medium for the main program, low for bundled files; files with nothing "
    "fortifiable are not reported.",
    (CHECKSEC, BINSKIM),
)
ELF_EXEC_STACK = Rule(
    "HN-ELF-006", "executable stack", "hardening", Severity.HIGH,
    "The PT_GNU_STACK segment is executable, or missing (then the loader assumes an executable stack; "
    "checksec: 'NX disabled'; BinSkim BA3002). glibc makes the stack of the whole process executable as "
    "soon as any loaded object asks for it, so this is high for bundled files too. Usually caused by an "
    "assembly file without a .note.GNU-stack section; link with -Wl,-z,noexecstack.",
    (CHECKSEC, BINSKIM),
)
ELF_UNSAFE_RPATH = Rule(
    "HN-ELF-007", "unsafe RPATH/RUNPATH", "hardening", Severity.HIGH,
    "A DT_RPATH or DT_RUNPATH entry that is not relative to $ORIGIN (checksec flags any RPATH/RUNPATH). "
    "An absolute entry makes the loader search a folder of the build host or target machine (anyone who "
    "can write there, e.g. /tmp or a home folder, can plant a library); an empty or relative entry is "
    "resolved against the process' working directory. Both are high. An $ORIGIN entry that climbs out of "
    "the artifact ($ORIGIN/../..) depends on where the artifact is installed and is medium. Only "
    "$ORIGIN-relative entries inside the artifact are fine.",
    (CHECKSEC, "https://man7.org/linux/man-pages/man8/ld.so.8.html"),
)
ELF_TEXTREL = Rule(
    "HN-ELF-008", "text relocations", "hardening", Severity.HIGH,
    "DT_TEXTREL (or DF_TEXTREL): the loader must make code pages writable to relocate them, which breaks "
    "W^X, prevents sharing the pages between processes and is refused under SELinux execmod policies. "
    "Caused by non-PIC objects in a shared object; compile everything with -fPIC. High for the main "
    "program, medium for bundled files.",
    (CHECKSEC,),
)
ELF_RWX_SEGMENT = Rule(
    "HN-ELF-009", "writable and executable segment", "hardening", Severity.HIGH,
    "A PT_LOAD segment is mapped both writable and executable (ld warns 'has a LOAD segment with RWX "
    "permissions'). Injected data can then be executed directly. High for the main program, medium for "
    "bundled files.",
    (CHECKSEC,),
)
PE_NO_ASLR = Rule(
    "HN-PE-001", "no ASLR (DYNAMIC_BASE)", "hardening", Severity.HIGH,
    "IMAGE_DLLCHARACTERISTICS_DYNAMIC_BASE is not set, or the image has no base relocations (stripped or "
    "empty .reloc), so Windows loads it at its preferred address. Corresponds to BinSkim BA2009 "
    "EnableAddressSpaceLayoutRandomization, which checks DYNAMIC_BASE and the RELOCS_STRIPPED flag; hardnut "
    "also fails an image with no base relocation directory at all (it cannot be rebased either), which "
    "BinSkim checks only for Windows CE. Link with /DYNAMICBASE (MinGW: the default since binutils 2.36; "
    "never --disable-dynamicbase). High for the main program, medium for bundled files.",
    (BINSKIM,),
)
PE_NO_HIGH_ENTROPY_VA = Rule(
    "HN-PE-002", "no high-entropy ASLR", "hardening", Severity.MEDIUM,
    "A 64-bit image with DYNAMIC_BASE but without IMAGE_DLLCHARACTERISTICS_HIGH_ENTROPY_VA only gets "
    "32-bit-era ASLR entropy. Corresponds to BinSkim BA2015 EnableHighEntropyVirtualAddresses, with two "
    "deliberate differences: BinSkim judges only executables (the process's entropy follows the .exe) and "
    "also requires LARGEADDRESSAWARE; hardnut reports DLLs too (one step lower, as bundled files) and does "
    "not report an image without DYNAMIC_BASE twice (HN-PE-001 covers it). Link with /HIGHENTROPYVA "
    "(MinGW: --high-entropy-va). Medium for the main program, low for bundled files.",
    (BINSKIM,),
)
PE_NO_NX = Rule(
    "HN-PE-003", "no DEP (NX_COMPAT)", "hardening", Severity.HIGH,
    "IMAGE_DLLCHARACTERISTICS_NX_COMPAT is not set. Windows decides DEP for the whole process from the "
    "executable's flag, so an executable without it runs with executable data pages: high. In a DLL the "
    "flag has no run-time effect and is reported low. Corresponds to BinSkim BA2016 "
    "MarkImageAsNXCompatible, which fails every 32-bit image alike and skips 64-bit images (64-bit "
    "processes always run with DEP); hardnut reports 64-bit images too, because the flag still documents "
    "how the image was linked.",
    (BINSKIM,),
)
PE_NO_CFG = Rule(
    "HN-PE-004", "no Control Flow Guard", "hardening", Severity.LOW,
    "Control Flow Guard is not in effect (BinSkim BA2008 EnableControlFlowGuard, same test): "
    "IMAGE_DLLCHARACTERISTICS_GUARD_CF is not set, or it is set but the load configuration lacks what makes "
    "CFG work (a CFG check-function pointer, a guard function table, and GuardFlags with CF_INSTRUMENTED "
    "and CF_FUNCTION_TABLE_PRESENT) — a header bit alone protects nothing. Indirect calls are not checked "
    "against valid targets. Needs MSVC or clang with /guard:cf on compiler and linker (MinGW's GNU "
    "toolchain cannot produce it), so it is low for the main program and info for bundled files.",
    (BINSKIM,),
)
PE_WX_SECTION = Rule(
    "HN-PE-005", "writable and executable section", "hardening", Severity.HIGH,
    "A section is both IMAGE_SCN_MEM_WRITE and IMAGE_SCN_MEM_EXECUTE (BinSkim BA2021 "
    "DoNotMarkWritableSectionsAsExecutable): injected data can be executed directly. Common in packed or "
    "self-modifying binaries. High for the main program, medium for bundled files.",
    (BINSKIM,),
)
PE_UNSIGNED = Rule(
    "HN-PE-006", "main program not Authenticode-signed", "hardening", Severity.INFO,
    "The main program has no Authenticode signature (empty security directory). Unsigned programs trigger "
    "SmartScreen warnings and cannot be told apart from tampered copies. Often signing is a later release "
    "step, hence info. A signature that is present is verified by HN-SIG-001; verify.require_signed turns "
    "missing ones into HN-SIG-002.",
    ("https://learn.microsoft.com/windows-hardware/drivers/install/authenticode",),
)
PE_FORCE_INTEGRITY = Rule(
    "HN-PE-007", "FORCE_INTEGRITY", "hardening", Severity.INFO,
    "IMAGE_DLLCHARACTERISTICS_FORCE_INTEGRITY is set: Windows refuses to load the image unless its "
    "signature verifies. Info when the file is signed; medium when it is not, because it will not load "
    "until it is signed.",
    (BINSKIM,),
)

APPLE_RUNTIME = "https://developer.apple.com/documentation/security/hardened-runtime"
APPLE_SIGNING = "https://developer.apple.com/documentation/security/code-signing-services"
MACHO_NO_PIE = Rule(
    "HN-MACHO-001", "executable is not PIE", "hardening", Severity.HIGH,
    "An MH_EXECUTE slice without the MH_PIE header flag (checksec for Mach-O: 'PIE'). It is loaded at a fixed "
    "address, so ASLR does not cover its code. Every current toolchain sets it by default; -no_pie or a very "
    "old deployment target removes it. High for the main program, medium for other executables.",
    (CHECKSEC, "https://opensource.apple.com/source/xnu/xnu-7195.81.3/EXTERNAL_HEADERS/mach-o/loader.h"),
)
MACHO_NO_CANARY = Rule(
    "HN-MACHO-002", "no stack canary", "hardening", Severity.HIGH,
    "No slice imports ___stack_chk_fail or ___stack_chk_guard (checksec for Mach-O: 'Canary'). Stack buffer "
    "overflows then overwrite return addresses undetected. Compile with -fstack-protector-strong. High for "
    "the main program; low for bundled files (a small module without arrays legitimately needs none).",
    (CHECKSEC,),
)
MACHO_EXEC_STACK = Rule(
    "HN-MACHO-003", "executable stack or heap allowed", "hardening", Severity.HIGH,
    "MH_ALLOW_STACK_EXECUTION is set (ld -allow_stack_execute): the process stack is executable, so injected "
    "data can run directly. For 32-bit executables, MH_NO_HEAP_EXECUTION missing leaves the heap "
    "executable (64-bit heaps are never executable) and is reported at medium.",
    (CHECKSEC, "https://opensource.apple.com/source/xnu/xnu-7195.81.3/EXTERNAL_HEADERS/mach-o/loader.h"),
)
MACHO_RWX_SEGMENT = Rule(
    "HN-MACHO-004", "writable and executable segment", "hardening", Severity.HIGH,
    "A segment's initial protection is both writable and executable: injected data can be executed directly "
    "(and the hardened runtime refuses such pages without the allow-unsigned-executable-memory entitlement). "
    "High for the main program, medium for bundled files.",
    (CHECKSEC, APPLE_RUNTIME),
)
MACHO_PAGEZERO = Rule(
    "HN-MACHO-005", "__PAGEZERO / __RESTRICT not sane", "hardening", Severity.HIGH,
    "A 64-bit executable without a __PAGEZERO segment that starts at address 0, is at least 4 GiB and has no "
    "access rights (ld -pagezero_size): null and truncated-pointer dereferences then hit mapped memory "
    "instead of crashing, which turns them into exploitable bugs. Also reported at low: a __RESTRICT "
    "segment without a __restrict section, which dyld ignores (the segment is the legacy way to make dyld "
    "drop DYLD_* environment variables; the hardened runtime does this properly).",
    (CHECKSEC, "https://opensource.apple.com/source/dyld/dyld-852.2/src/dyld2.cpp"),
)
MACHO_UNSIGNED = Rule(
    "HN-MACHO-006", "Mach-O without code signature", "hardening", Severity.HIGH,
    "A slice has no LC_CODE_SIGNATURE. Apple silicon refuses to run unsigned arm64 code (the linker adds an "
    "ad-hoc signature by default, so this usually means a tool rewrote the file afterwards, e.g. "
    "install_name_tool without re-signing), hence high for arm64 slices; medium for x86_64 ones, which "
    "Gatekeeper still blocks when downloaded (low for bundled x86_64 files: wheels built by the x86_64 linker are commonly unsigned and the enclosing signature covers them). Sign with codesign --sign (or at least --sign - for ad-hoc).",
    (APPLE_SIGNING, "https://developer.apple.com/documentation/macos-release-notes/macos-big-sur-11_0_1-universal-apps-release-notes"),
)
MACHO_NO_RUNTIME = Rule(
    "HN-MACHO-007", "no hardened runtime", "hardening", Severity.MEDIUM,
    "The main program's CodeDirectory lacks the runtime flag (CS_RUNTIME, codesign --options runtime). "
    "Without the hardened runtime, other processes can attach to it, DYLD_* variables inject code and "
    "unsigned executable memory is allowed; notarization requires it. Medium for the main program; other "
    "executables and bundled libraries are not reported (the flag only matters for the process' main "
    "executable).",
    (APPLE_RUNTIME, "https://developer.apple.com/documentation/security/notarizing-macos-software-before-distribution"),
)
MACHO_NO_LIBRARY_VALIDATION = Rule(
    "HN-MACHO-008", "no library validation", "hardening", Severity.LOW,
    "The main program is signed without the hardened runtime and without CS_REQUIRE_LV (library "
    "validation): it loads dylibs signed by anyone (or ad-hoc), so a writable bundled-library folder is a "
    "code injection point. The hardened runtime enables library validation unless the "
    "com.apple.security.cs.disable-library-validation entitlement is set.",
    (APPLE_RUNTIME,
     "https://developer.apple.com/documentation/bundleresources/entitlements/com.apple.security.cs.disable-library-validation"),
)
MACHO_ADHOC = Rule(
    "HN-MACHO-009", "main program only ad-hoc signed", "hardening", Severity.INFO,
    "The main program carries an ad-hoc (or linker-generated) signature, not one by a Developer ID: it "
    "proves integrity but not origin, Gatekeeper blocks it when downloaded, and it cannot be notarized. "
    "Often identity signing is a later release step, hence info.",
    (APPLE_SIGNING,),
)

RULES = [
    ELF_NO_RELRO, ELF_PARTIAL_RELRO, ELF_NO_CANARY, ELF_NO_PIE, ELF_NO_FORTIFY, ELF_EXEC_STACK,
    ELF_UNSAFE_RPATH, ELF_TEXTREL, ELF_RWX_SEGMENT,
    PE_NO_ASLR, PE_NO_HIGH_ENTROPY_VA, PE_NO_NX, PE_NO_CFG, PE_WX_SECTION, PE_UNSIGNED, PE_FORCE_INTEGRITY,
    MACHO_NO_PIE, MACHO_NO_CANARY, MACHO_EXEC_STACK, MACHO_RWX_SEGMENT, MACHO_PAGEZERO, MACHO_UNSIGNED,
    MACHO_NO_RUNTIME, MACHO_NO_LIBRARY_VALIDATION, MACHO_ADHOC,
]

_LOWER = {Severity.CRITICAL: Severity.HIGH, Severity.HIGH: Severity.MEDIUM, Severity.MEDIUM: Severity.LOW,
          Severity.LOW: Severity.INFO, Severity.INFO: Severity.INFO}


def run(ctx: CheckContext) -> Iterable[Finding]:
    out = prepare(ctx)
    mains = main_programs(ctx)
    for f, facts in binaries(ctx):
        main = f.relpath in mains
        if isinstance(facts, ElfFacts):
            out.extend(check_elf(f.relpath, facts, main))
        elif is_facts(facts, "macho"):
            out.extend(check_macho(f.relpath, facts, main))
        else:
            out.extend(check_pe(f.relpath, facts, main))
    return out


def _f(rule: Rule, path: str, message: str, main: bool, severity: Optional[Severity] = None,
       key: str = "") -> Finding:
    """A finding at the rule's severity for the main program, one step lower for bundled files, unless
    `severity` is given."""
    sev = severity if severity is not None else (rule.severity if main else _LOWER[rule.severity])
    who = "" if main else " (bundled)"
    return rule_finding(rule, path, f"{path}{who}: {message}", severity=sev,
                        fingerprint=stable_fingerprint(rule, path, key))


def check_elf(path: str, facts: ElfFacts, main: bool) -> list[Finding]:
    """Hardening findings for one ELF file (pure: facts in, findings out)."""
    out: list[Finding] = []
    if facts.elf_type not in ("ET_EXEC", "ET_DYN") or facts.debug_only:
        return out  # objects, core files and separate debug files are leftovers, not loadable code
    if not facts.has_relro:
        out.append(_f(ELF_NO_RELRO, path, "no RELRO (no PT_GNU_RELRO segment)", main))
    elif not facts.bind_now:
        out.append(_f(ELF_PARTIAL_RELRO, path, "partial RELRO: PT_GNU_RELRO without BIND_NOW", main,
                      None if main else Severity.LOW))
    knows_symbols = facts.has_dynamic or facts.has_symtab
    if knows_symbols and not facts.canary_symbols:
        out.append(_f(ELF_NO_CANARY, path, "no stack canary (no __stack_chk_fail)", main,
                      None if main else Severity.LOW))
    if facts.elf_type == "ET_EXEC":
        out.append(_f(ELF_NO_PIE, path, "executable is not position independent (ET_EXEC)", main))
    if facts.fortifiable and not facts.fortified:
        out.append(_f(ELF_NO_FORTIFY, path,
                      f"no FORTIFY_SOURCE: 0 fortified, {len(facts.fortifiable)} fortifiable glibc calls "
                      f"({examples(facts.fortifiable)})", main))
    if facts.stack_executable:
        why = "PT_GNU_STACK is executable" if facts.has_gnu_stack else "no PT_GNU_STACK segment (defaults to executable)"
        out.append(_f(ELF_EXEC_STACK, path, f"executable stack: {why}", main, Severity.HIGH))
    unsafe = _rpath_problems(path, facts)
    if unsafe:
        sev = max(s for _, s in unsafe)
        out.append(_f(ELF_UNSAFE_RPATH, path, "; ".join(m for m, _ in unsafe), main, sev))
    if facts.textrel:
        out.append(_f(ELF_TEXTREL, path, "text relocations (DT_TEXTREL)", main))
    if facts.rwx_segments:
        out.append(_f(ELF_RWX_SEGMENT, path,
                      f"{len(facts.rwx_segments)} PT_LOAD segment(s) mapped writable and executable "
                      f"(program header index {examples(facts.rwx_segments)})", main))
    return out


def _rpath_problems(path: str, facts: ElfFacts) -> list[tuple[str, Severity]]:
    _group, local = lddtree.split_group(path)
    out: list[tuple[str, Severity]] = []
    for tag, entries in (("RPATH", facts.rpath), ("RUNPATH", facts.runpath)):
        for entry in dict.fromkeys(entries):
            folder, why = lddtree.expand_origin(entry, local)
            if folder is not None:
                continue
            if why == "not $ORIGIN-relative":
                if not entry:
                    out.append((f"{tag} has an empty entry (the working directory)", Severity.HIGH))
                elif entry.startswith("/"):
                    out.append((f"{tag} {entry} is an absolute path", Severity.HIGH))
                else:
                    out.append((f"{tag} {entry} is relative to the working directory", Severity.HIGH))
            else:
                out.append((f"{tag} {entry} {why}", Severity.MEDIUM))
    return out


def check_pe(path: str, facts: PeFacts, main: bool) -> list[Finding]:
    """Hardening findings for one PE file (pure: facts in, findings out)."""
    out: list[Finding] = []
    if not any(s.executable for s in facts.sections):
        return out  # resource-only images carry no code to protect (BinSkim skips them too)
    if not facts.dynamic_base:
        out.append(_f(PE_NO_ASLR, path, "DYNAMIC_BASE is not set (no ASLR)", main))
    elif facts.relocs_stripped or not facts.has_relocations:
        out.append(_f(PE_NO_ASLR, path, "DYNAMIC_BASE is set but the image has no base relocations", main))
    if facts.is_64 and facts.dynamic_base and not facts.high_entropy_va:
        out.append(_f(PE_NO_HIGH_ENTROPY_VA, path, "64-bit image without HIGH_ENTROPY_VA", main))
    if not facts.nx_compat:
        sev = Severity.HIGH if facts.is_executable else Severity.LOW
        out.append(_f(PE_NO_NX, path, "NX_COMPAT is not set (no DEP)", main, sev))
    if not facts.guard_cf:
        out.append(_f(PE_NO_CFG, path, "GUARD_CF is not set (no Control Flow Guard)", main))
    elif not facts.cfg_instrumented:
        out.append(_f(PE_NO_CFG, path, "GUARD_CF is set, but the load configuration has no CFG check function, "
                                       "function table or instrumented guard flags: CFG is not in effect", main))
    if facts.wx_sections:
        out.append(_f(PE_WX_SECTION, path, f"writable and executable section(s): {examples(facts.wx_sections)}", main))
    if main and not facts.has_signature:
        out.append(_f(PE_UNSIGNED, path, "no Authenticode signature", main, Severity.INFO))
    if facts.force_integrity:
        if facts.has_signature:
            out.append(_f(PE_FORCE_INTEGRITY, path, "FORCE_INTEGRITY is set (signature required at load)", main,
                          Severity.INFO))
        else:
            out.append(_f(PE_FORCE_INTEGRITY, path, "FORCE_INTEGRITY is set but the file is unsigned: "
                          "Windows will refuse to load it", main, Severity.MEDIUM))
    return out


def _slices(items: list[MachoSlice], facts: MachoFacts) -> str:
    """' (x86_64 slice)' when only some slices of a fat file are concerned."""
    if len(facts.slices) < 2 or len(items) == len(facts.slices):
        return ""
    return f" ({', '.join(s.arch for s in items)} slice{'s' if len(items) > 1 else ''})"


def check_macho(path: str, facts: MachoFacts, main: bool) -> list[Finding]:
    """Hardening findings for one Mach-O file, every slice of a fat file (pure: facts in, findings out).
    One finding per rule and file; the message names the slices when not all are concerned."""
    from hardnut.inspect.macho import CS_REQUIRE_LV, CS_RUNTIME  # imported with the facts

    out: list[Finding] = []
    loadable = [s for s in facts.slices if s.filetype in (0x2, 0x6, 0x8)]  # executables, dylibs, bundles
    if not loadable:
        return out
    exes = [s for s in loadable if s.is_executable]
    no_pie = [s for s in exes if not s.pie]
    if no_pie:
        out.append(_f(MACHO_NO_PIE, path, f"executable is not PIE (no MH_PIE){_slices(no_pie, facts)}", main))
    with_symbols = [s for s in loadable if s.symbol_count]
    if with_symbols and not any(s.canary for s in with_symbols):
        out.append(_f(MACHO_NO_CANARY, path, "no stack canary (no ___stack_chk_fail import)", main,
                      None if main else Severity.LOW))
    stack = [s for s in loadable if s.stack_executable]
    if stack:
        out.append(_f(MACHO_EXEC_STACK, path, f"MH_ALLOW_STACK_EXECUTION is set{_slices(stack, facts)}", main,
                      Severity.HIGH))
    heap = [s for s in exes if not s.is_64 and not s.flags & 0x1000000]
    if heap:
        out.append(_f(MACHO_EXEC_STACK, path, f"32-bit executable without MH_NO_HEAP_EXECUTION{_slices(heap, facts)}",
                      main, Severity.MEDIUM, key="heap"))
    rwx = [(s, g.name) for s in loadable for g in s.segments if g.writable_executable]
    if rwx:
        names = list(dict.fromkeys(n for _s, n in rwx))
        out.append(_f(MACHO_RWX_SEGMENT, path, f"writable and executable segment(s): {examples(names)}"
                      f"{_slices(list(dict.fromkeys(s for s, _n in rwx)), facts)}", main))
    bad_zero = [s for s in exes if s.is_64 and not _pagezero_ok(s)]
    if bad_zero:
        out.append(_f(MACHO_PAGEZERO, path, f"no sane __PAGEZERO (address 0, >= 4 GiB, no access)"
                      f"{_slices(bad_zero, facts)}", main, Severity.HIGH if main else Severity.MEDIUM))
    restrict = [s for s in loadable if (g := s.segment("__RESTRICT")) is not None and "__restrict" not in g.sections]
    if restrict:
        out.append(_f(MACHO_PAGEZERO, path, "__RESTRICT segment without a __restrict section (dyld ignores it)",
                      main, Severity.LOW, key="restrict"))
    unsigned = [s for s in loadable if s.signature is None]
    if unsigned:
        arm = any(s.arch.startswith("arm64") for s in unsigned)
        out.append(_f(MACHO_UNSIGNED, path, f"no code signature (LC_CODE_SIGNATURE){_slices(unsigned, facts)}",
                      main, Severity.HIGH if arm else (Severity.MEDIUM if main else Severity.LOW)))
    if main and exes:
        signed = [s for s in exes if s.signature is not None and s.signature.primary is not None]
        no_runtime = [s for s in signed if not s.signature.flag(CS_RUNTIME)]
        if no_runtime:
            out.append(_f(MACHO_NO_RUNTIME, path, "signed without the hardened runtime (CS_RUNTIME)"
                          f"{_slices(no_runtime, facts)}", main))
        no_lv = [s for s in no_runtime if not s.signature.flag(CS_REQUIRE_LV)]
        if no_lv:
            out.append(_f(MACHO_NO_LIBRARY_VALIDATION, path, "no library validation (neither hardened runtime nor "
                          f"CS_REQUIRE_LV){_slices(no_lv, facts)}", main))
        adhoc = [s for s in signed if s.signature.adhoc]
        if adhoc:
            out.append(_f(MACHO_ADHOC, path, f"ad-hoc signature (no Developer ID){_slices(adhoc, facts)}", main,
                          Severity.INFO))
    return out


def _pagezero_ok(s: MachoSlice) -> bool:
    seg = s.segment("__PAGEZERO")
    return seg is not None and seg.vmaddr == 0 and seg.vmsize >= 1 << 32 and seg.initprot == 0 and seg.maxprot == 0
