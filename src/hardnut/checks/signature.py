"""Code-signature rules: is every PE (Authenticode) and Mach-O (embedded code signature) file that carries
a signature still intact, and is every file that must be signed (verify.require_signed) signed?

Facts come from `hardnut.inspect.authenticode` (PE) and `hardnut.inspect.macho` (CodeDirectory page
hashes, CMS signer). The per-file summary (signed, signer, valid) is left in
ctx.facts["file_signatures"] for the report's `files` entries. What is verified offline: the file's
bytes against the signed digests, the signer's signature, and that the embedded certificate chain links
up. Whether the root is trusted, revocation and notarization are judged by the target OS, not here.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any, Iterable, Optional

from hardnut.checks.base import CheckContext, rule_finding
from hardnut.checks.dependency import binary_facts, stable_fingerprint
from hardnut.inspect import is_facts
from hardnut.inspect.elf import BinaryParseError
from hardnut.model import Finding, Rule, Severity
from hardnut.timebudget import FileTimeout, within

if TYPE_CHECKING:
    from hardnut.inspect.authenticode import AuthenticodeFacts
    from hardnut.inspect.macho import MachoFacts

TAMPERED = Rule(
    "HN-SIG-001", "code signature does not match the file", "hardening", Severity.HIGH,
    "The file carries a code signature that no longer verifies: for PE, the Authenticode image digest "
    "(the file without its checksum, security directory entry and certificate table) differs from the "
    "signed one, or the signer's signature over it fails; for Mach-O, a CodeDirectory page hash differs "
    "from the page, or the CMS signature does not cover the CodeDirectory. The file was modified after "
    "signing (patched, infected, or rewritten by a tool such as install_name_tool): Windows shows it as "
    "unsigned or refuses it under FORCE_INTEGRITY/WDAC, macOS kills the process at the first bad page. "
    "Re-sign after the last modification, or restore the original file.",
    ("https://learn.microsoft.com/windows-hardware/drivers/install/authenticode",
     "https://download.microsoft.com/download/9/c/5/9c5b2167-8017-4bae-9fde-d599bac8184a/Authenticode_PE.docx",
     "https://developer.apple.com/documentation/technotes/tn3126-inside-code-signing-hashes"),
)
UNSIGNED_REQUIRED = Rule(
    "HN-SIG-002", "required code signature missing", "hardening", Severity.HIGH,
    "verify.require_signed covers this PE or Mach-O file (true for all of them, or a glob matching its "
    "path), but it has no Authenticode signature, or (Mach-O) no signature by an identity: a missing "
    "LC_CODE_SIGNATURE or only an ad-hoc / linker-generated one. A release that must be signed is only as "
    "good as the check that every binary in it, including the DLLs and dylibs inside a onefile payload, "
    "is signed.",
    ("https://learn.microsoft.com/windows/security/application-security/application-control/"
     "app-control-for-business/design/use-code-signing-for-better-control-and-protection",
     "https://developer.apple.com/developer-id/"),
)

RULES = [TAMPERED, UNSIGNED_REQUIRED]


def authenticode_facts(ctx: CheckContext, f: Any) -> Optional[AuthenticodeFacts]:
    """AuthenticodeFacts of a PE file, once per context; None when unreadable (other checks report it)."""
    key = f"authenticode:{f.relpath}"
    if key in ctx.cache:
        return ctx.cache[key]
    from hardnut.inspect.authenticode import inspect_authenticode  # a PE file's: not imported for others

    limits = ctx.config.limits
    result = None
    if f.size <= limits.max_file_size:
        try:
            result = within(limits.file_timeout, inspect_authenticode, f.fs_path, what=f.relpath)
        except (FileTimeout, BinaryParseError):
            result = None
    ctx.cache[key] = result
    return result


def _required(ctx: CheckContext, path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, g) for g in ctx.config.require_signed)


def run(ctx: CheckContext) -> Iterable[Finding]:
    out: list[Finding] = []
    summary: dict[str, dict[str, Any]] = {}
    for f in ctx.files():
        if f.kind == "pe":
            facts = authenticode_facts(ctx, f)
            if facts is None:
                continue
            summary[f.relpath] = _pe_summary(facts)
            if facts.signed and not facts.valid:
                out.append(rule_finding(TAMPERED, f.relpath, f"{f.relpath}: Authenticode signature invalid: {facts.error}"
                                        + (f" (signer {facts.signer})" if facts.signer else ""),
                                        fingerprint=stable_fingerprint(TAMPERED, f.relpath)))
            elif not facts.signed and _required(ctx, f.relpath):
                out.append(rule_finding(UNSIGNED_REQUIRED, f.relpath, f"{f.relpath} has no Authenticode signature",
                                        fingerprint=stable_fingerprint(UNSIGNED_REQUIRED, f.relpath)))
        elif f.kind == "macho":
            mf = binary_facts(ctx, f)
            if not is_facts(mf, "macho"):
                continue
            summary[f.relpath] = _macho_summary(mf)
            out.extend(_macho(ctx, f.relpath, mf))
    ctx.facts["file_signatures"] = summary
    return out


def _pe_summary(facts: AuthenticodeFacts) -> dict[str, Any]:
    if not facts.signed:
        return {"signed": False}
    sig: dict[str, Any] = {"type": "authenticode", "signer": facts.signer, "valid": facts.valid}
    if facts.signing_time:
        sig["signing_time"] = facts.signing_time
    if facts.error:
        sig["error"] = facts.error
    return {"signed": True, "signature": sig}


def _macho_summary(facts: MachoFacts) -> dict[str, Any]:
    sigs = [s.signature for s in facts.slices]
    if not any(sigs):
        return {"signed": False}
    present = [s for s in sigs if s is not None]
    valid = len(present) == len(sigs) and all(s.hashes_match and s.cms_valid is not False for s in present)
    identity = [s for s in present if not s.adhoc]
    sig: dict[str, Any] = {"type": "identity" if identity else "adhoc",
                           "signer": identity[0].signer if identity else None, "valid": valid}
    flags = sorted({n for s in present if s.primary for n in s.primary.flag_names})
    if flags:
        sig["flags"] = flags
    if identity and identity[0].signing_time:
        sig["signing_time"] = identity[0].signing_time
    return {"signed": len(present) == len(sigs), "signature": sig}


def _macho(ctx: CheckContext, path: str, facts: MachoFacts) -> list[Finding]:
    out: list[Finding] = []
    problems = []
    for sl in facts.slices:
        sig = sl.signature
        if sig is None:
            continue
        where = f"{sl.arch}: " if len(facts.slices) > 1 else ""
        if sig.error:
            problems.append(f"{where}unreadable signature ({sig.error})")
            continue
        for cd in sig.directories:
            if not cd.checked:
                problems.append(f"{where}CodeDirectory hash type {cd.hash_type} not checked")
            elif cd.bad_pages:
                problems.append(f"{where}{len(cd.bad_pages)}{'+' if len(cd.bad_pages) >= 16 else ''} page hash(es) "
                                f"differ ({cd.hash_type}, first page {cd.bad_pages[0]} at offset "
                                f"{cd.bad_pages[0] * (cd.page_size or 0):#x})")
            elif cd.bad_special:
                problems.append(f"{where}requirements/entitlements hash differs")
        if sig.cms_valid is False:
            problems.append(f"{where}CMS signature invalid: {sig.cms_error}")
    if problems:
        out.append(rule_finding(TAMPERED, path, f"{path}: code signature invalid: {'; '.join(dict.fromkeys(problems))}",
                                fingerprint=stable_fingerprint(TAMPERED, path)))
    if _required(ctx, path):
        missing = [sl.arch for sl in facts.slices if sl.signature is None]
        adhoc = [sl.arch for sl in facts.slices if sl.signature is not None and sl.signature.adhoc]
        if missing or adhoc:
            what = "no code signature" if missing else "only an ad-hoc signature (no identity)"
            archs = missing or adhoc
            scope = f" ({', '.join(archs)})" if len(facts.slices) > 1 else ""
            out.append(rule_finding(UNSIGNED_REQUIRED, path, f"{path} has {what}{scope}",
                                    severity=Severity.HIGH if missing else Severity.MEDIUM,
                                    fingerprint=stable_fingerprint(UNSIGNED_REQUIRED, path)))
    return out
