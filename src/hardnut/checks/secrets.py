"""Secrets shipped inside the artifact: in binaries (incl. Nuitka's constants blob and onefile
payload entries), in archives inside the dist, and in data files (.env, JSON, YAML, INI, TOML).

Every ELF/PE/data file is scanned byte-wise (ASCII/UTF-8 and UTF-16LE) by `hardnut.secrets`. For
Nuitka binaries the constants blob is decoded too: its string constants are scanned one by one
(so word boundaries hold at their edges), name/value pairs (module constants, default arguments,
dict items) feed the context rules, and every finding inside the blob names its Python module.
Findings carry the masked secret as evidence and a location-independent fingerprint. The decoded
blob of each binary is left in ctx.cache["constants_blob:<relpath>"] (None when there is none).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional

from hardnut.checks.base import CheckContext, audit_key, rule_finding
from hardnut.inspect.constants_blob import BlobError, BlobReadError, ConstantsBlob, read_constants_blob
from hardnut.limits import Limits
from hardnut.model import Finding, Rule, Severity, mask, secret_fingerprint
from hardnut.secrets.engine import Engine, FileScan, RawMatch, map_files, resolve_overlaps, shared_engine
from hardnut.secrets.rules import RULES_BY_ID, SECRET_RULES

PRIVATE_KEY_FILE = Rule(
    "HN-SEC-200", "private key file", "secret", Severity.HIGH,
    "A file whose content is a private key (PEM, OpenSSH, PuTTY) or a PKCS#12 / Java key store "
    "(.p12, .pfx, .jks, .keystore). Key files shipped with an application are readable by every "
    "user who installs it. The key material itself is also reported by HN-SEC-018/019.",
)
DOTENV_FILE = Rule(
    "HN-SEC-201", "dotenv file", "secret", Severity.MEDIUM,
    "A .env file in the artifact. These hold per-deployment configuration, typically credentials, "
    "and are meant to stay on the machine they were written for. Templates (.env.example, "
    ".env.sample, .env.template) are reported at low.",
)
SCAN_INCOMPLETE = Rule(
    "HN-SEC-300", "secret scan incomplete", "secret", Severity.HIGH,
    "Part of a file or archive was not scanned for secrets: the file is larger than "
    "limits.max_scan_bytes / max_file_size, an archive is nested deeper than "
    "limits.max_archive_depth, decompresses beyond max_payload_size or max_payload_ratio, or "
    "cannot be read. What was not read cannot be proven free of secrets.",
)

RULES: list[Rule] = [r.as_rule() for r in SECRET_RULES] + [PRIVATE_KEY_FILE, DOTENV_FILE, SCAN_INCOMPLETE]
_RULE = {r.id: r for r in RULES}

ARCHIVE_SUFFIXES = (".zip", ".whl", ".egg", ".jar", ".pyz", ".apk", ".nupkg", ".war")
KEYSTORE_SUFFIXES = (".p12", ".pfx", ".jks", ".keystore")
DOTENV_TEMPLATES = (".example", ".sample", ".template", ".dist", ".defaults")
_MEMBER_IN_MEMORY = 64 * 1024 * 1024  # nested archives are read into memory up to this size
# a PEM private key file: the header, optional RFC 1421 headers, then a line of key body (a header
# alone, as in a library's list of PEM labels, is not a key)
_PEM_KEY_FILE = re.compile(
    rb"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----\r?\n(?:[A-Za-z\-]+: [^\r\n]*\r?\n)*\r?\n?"
    rb"[A-Za-z0-9+/=]{40,}")


def engine_for(ctx: CheckContext) -> Engine:
    """The secret engine of this verify (with the profile's gitleaks rules), shared by every check."""
    gitleaks = ctx.config.gitleaks
    return ctx.cached("secrets:engine", lambda: shared_engine(gitleaks))


class _Audit:
    """The team's detect-secrets baseline applied to matches: accepted ones are collected (by
    checks.base.audit_key) for the suppression step of verify."""

    def __init__(self, baseline) -> None:
        self.baseline = baseline
        self.keys: set[tuple] = set()

    def accepts(self, m: RawMatch, path: str, fs_path: Optional[Path]) -> bool:
        from hardnut.secrets.detect_secrets import line_in_file

        b = self.baseline
        line = None
        if b.exclude_lines and fs_path is not None:
            line = line_in_file(fs_path, m.offset, m.length, m.encoding == "utf-16le")
        return b.suppresses(m.secret, line, path)


def run(ctx: CheckContext) -> Iterable[Finding]:
    limits = ctx.config.limits
    gitleaks = ctx.config.gitleaks
    engine = engine_for(ctx)
    audit = _Audit(ctx.config.detect_secrets) if ctx.config.detect_secrets is not None else None
    if audit is not None:
        ctx.cache["secrets:audited"] = audit.keys
    files = [f for f in ctx.files() if f.kind in ("elf", "pe", "macho", "data")]
    if gitleaks is not None:  # paths the team's .gitleaks.toml allowlists are not scanned
        files = [f for f in files if not gitleaks.skip_path(f.relpath)]
    findings: list[Finding] = []
    jobs = []
    for f in files:
        if f.size > limits.max_file_size:
            findings.append(rule_finding(SCAN_INCOMPLETE, f.relpath,
                                         f"{f.size} bytes exceed limits.max_file_size: not scanned for secrets"))
        elif f.size > 0:
            jobs.append((f.relpath, f.fs_path))
    by_path = {f.relpath: f for f in files}
    done = ctx.cache.get("secrets:scans", {})  # hardnut.checks.perfile.prefetch: scanned with the parse
    todo = [(rel, p) for rel, p in jobs if rel not in done]
    fresh = dict(zip((rel for rel, _ in todo), map_files(
        scan_one, [(str(p), by_path[rel].kind, limits.max_scan_bytes) for rel, p in todo],
        [min(by_path[rel].size, limits.max_scan_bytes) for rel, _ in todo], engine)))
    results = [done[rel] if rel in done else fresh[rel] for rel, _ in jobs]
    scans = {}
    for (rel, _p), (scan, blob) in zip(jobs, results):
        scans[rel] = scan, blob
        if by_path[rel].kind in ("elf", "pe", "macho"):
            ctx.cache.setdefault(f"constants_blob:{rel}", blob)
    for f in files:
        if f.relpath not in scans:
            continue
        scan, blob = scans[f.relpath]
        findings.extend(_findings(f.relpath, scan.matches, blob, engine, audit, f.fs_path))
        findings.extend(_scan_problems(f.relpath, scan, limits))
        if f.kind == "data":
            head = _head(f.fs_path)
            findings.extend(file_findings(f.relpath, f.fs_path, head))
            if _looks_like_archive(f.relpath, f.fs_path, head):
                depth = f.relpath.count("!/")
                findings.extend(scan_archive(engine, f.relpath, f.fs_path, depth, limits, audit))
    return sorted(findings, key=lambda x: (x.path, x.offset if x.offset is not None else -1, x.rule, x.fingerprint))


def scan_one(engine: Engine, path: str, kind: str, max_bytes: int,
             data: Optional[bytes] = None) -> tuple[FileScan, Optional[ConstantsBlob]]:
    """Raw scan of one file plus, for ELF/PE, its constants blob: decoded strings and name/value
    pairs are scanned too (ELF, PE and Mach-O). Runs in a worker process for large dists. `data`:
    the whole file when the caller has read it already."""
    scan = engine.scan_file(Path(path), max_bytes, data=data)
    blob = None
    if kind in ("elf", "pe", "macho") and not scan.error:
        try:
            blob = read_constants_blob(path, kind, max_bytes)
        except BlobReadError as exc:  # read once, not twice: the compiled constants went unscanned
            scan.error = f"its constants blob could not be read ({exc})"
        except BlobError:
            blob = None  # raw scanning already covered the file; parse problems are other checks' job
        if blob is not None:
            scan.matches = resolve_overlaps(scan.matches + blob_matches(engine, blob))
    return scan, blob


def blob_matches(engine: Engine, blob: ConstantsBlob) -> list[RawMatch]:
    """Matches from the blob's decoded strings and name/value pairs (file offsets)."""
    strings = [(s.offset, s.raw) for m in blob.modules for s in m.strings if s.length >= 8]
    pairs = [(name.raw, value.offset, value.raw) for m in blob.modules for name, value in m.pairs(min_value=8)]
    return engine.scan_strings(strings) + engine.scan_pairs(pairs)


def _findings(path: str, matches: Iterable[RawMatch], blob: Optional[ConstantsBlob],
              engine: Optional[Engine] = None, audit: Optional[_Audit] = None,
              fs_path: Optional[Path] = None) -> list[Finding]:
    out = []
    rules = engine.rule_map if engine is not None else RULES_BY_ID
    gitleaks = engine.gitleaks if engine is not None else None
    for m in matches:
        srule = rules[m.rule_id]
        if gitleaks is not None and gitleaks.path_allowed(srule, m.secret.encode("latin-1"), path):
            continue
        module = None
        if blob is not None:
            part = blob.module_at(m.offset)
            module = part.module if part is not None else None
        evidence = mask(m.secret)
        message = f"{srule.name} {evidence}"
        if module:
            message += f" in the constants of module {module}"
        elif blob is not None and blob.module_at(m.offset) is not None:
            message += " in the Nuitka constants blob"
        if m.encoding == "utf-16le":
            message += " (UTF-16LE text)"
        if m.note:
            message += f": {m.note}"
        finding = rule_finding(
            _RULE.get(m.rule_id) or srule.as_rule(), path, message, severity=m.severity, offset=m.offset, length=m.length,
            module=module, evidence=evidence, fingerprint=secret_fingerprint(m.rule_id, m.secret))
        if audit is not None and audit.accepts(m, path, fs_path):
            audit.keys.add(audit_key(finding))
        out.append(finding)
    return out


def _scan_problems(path: str, scan: FileScan, limits: Limits) -> list[Finding]:
    if scan.error:
        return [rule_finding(SCAN_INCOMPLETE, path, f"not scanned for secrets: {scan.error}")]
    if scan.truncated:
        return [rule_finding(SCAN_INCOMPLETE, path,
                             f"only the first {scan.scanned} of {scan.size} bytes scanned (limits.max_scan_bytes)")]
    return []


def _head(path: Path) -> Optional[bytes]:
    try:
        with open(path, "rb") as fh:
            return fh.read(4096)
    except OSError:
        return None


def file_findings(relpath: str, path: Path, head: Optional[bytes] = None) -> list[Finding]:
    """Findings about the file itself: private key files, .env files (`head`: its first 4 KiB, when
    the caller has read them)."""
    name = PurePosixPath(relpath).name.lower()
    out = []
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        if name.endswith(DOTENV_TEMPLATES):
            out.append(rule_finding(DOTENV_FILE, relpath, "dotenv template file shipped", severity=Severity.LOW))
        else:
            out.append(rule_finding(DOTENV_FILE, relpath, "dotenv file shipped: per-deployment settings and credentials"))
    if head is None:
        head = _head(path)
    if head is None:
        return out
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if _PEM_KEY_FILE.match(text) or text.startswith(b"PuTTY-User-Key-File-"):
        out.append(rule_finding(PRIVATE_KEY_FILE, relpath, "the file is a private key"))
    elif name.endswith(KEYSTORE_SUFFIXES):
        out.append(rule_finding(PRIVATE_KEY_FILE, relpath, "key store file (PKCS#12 / Java key store) shipped"))
    return out


def _looks_like_archive(relpath: str, path: Path, head: Optional[bytes] = None) -> bool:
    if relpath.lower().endswith(ARCHIVE_SUFFIXES):
        return True
    if head is None:
        head = _head(path)
    return head is not None and head[:4] == b"PK\x03\x04"


def scan_archive(engine: Engine, relpath: str, source, depth: int, limits: Limits,
                 audit: Optional[_Audit] = None) -> list[Finding]:
    """Scan the members of a zip-like archive (path or file object), recursing into nested ones.

    Member paths are reported as 'archive!/member'; offsets are into the decompressed member.
    """
    out: list[Finding] = []
    if depth >= limits.max_archive_depth:
        return [rule_finding(SCAN_INCOMPLETE, relpath,
                             f"archive nested deeper than limits.max_archive_depth ({limits.max_archive_depth}): not scanned")]
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        if relpath.lower().endswith(ARCHIVE_SUFFIXES):
            out.append(rule_finding(SCAN_INCOMPLETE, relpath, f"archive cannot be opened: {type(exc).__name__}"))
        return out
    budget = limits.max_payload_size
    with zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            member = f"{relpath}!/{info.filename}"
            ratio = info.file_size / max(1, info.compress_size)
            if info.file_size > budget or (info.file_size > 1024 * 1024 and ratio > limits.max_payload_ratio):
                out.append(rule_finding(SCAN_INCOMPLETE, member,
                                        f"{info.file_size} bytes decompressed (ratio {ratio:.0f}) exceed "
                                        "limits.max_payload_size / max_payload_ratio: not scanned"))
                continue
            budget -= info.file_size
            try:
                nested = info.filename.lower().endswith(ARCHIVE_SUFFIXES)
                with zf.open(info) as fh:
                    if nested and info.file_size <= _MEMBER_IN_MEMORY:
                        data = fh.read(info.file_size + 1)
                        scan = engine.scan_stream(io.BytesIO(data), limits.max_scan_bytes, info.file_size)
                    else:
                        data = None
                        scan = engine.scan_stream(fh, limits.max_scan_bytes, info.file_size)
            except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError) as exc:
                # RuntimeError: encrypted member; NotImplementedError: unsupported compression
                out.append(rule_finding(SCAN_INCOMPLETE, member, f"archive member cannot be read: {type(exc).__name__}"))
                continue
            out.extend(_findings(member, scan.matches, None, engine, audit))
            out.extend(_scan_problems(member, scan, limits))
            out.extend(_member_file_findings(member, info.filename))
            if data is not None:
                out.extend(scan_archive(engine, member, io.BytesIO(data), depth + 1, limits, audit))
    return out


def _member_file_findings(member: str, filename: str) -> list[Finding]:
    name = PurePosixPath(filename).name.lower()
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        sev = Severity.LOW if name.endswith(DOTENV_TEMPLATES) else DOTENV_FILE.severity
        return [rule_finding(DOTENV_FILE, member, "dotenv file inside an archive", severity=sev)]
    if name.endswith(KEYSTORE_SUFFIXES):
        return [rule_finding(PRIVATE_KEY_FILE, member, "key store file inside an archive")]
    return []
