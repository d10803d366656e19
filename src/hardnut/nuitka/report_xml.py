"""Nuitka's compilation report (`--report=FILE.xml`, written by nuitka/reports/Reports.py) as data.

`parse_report(path)` / `parse_report_text(text)` give a frozen `NuitkaReport`; `redact(text)` masks
secret-looking option values and URL credentials so the report can be kept beside the artifact.

The XML is read with xml.etree after refusing what makes XML dangerous: a DOCTYPE (and with it every
entity definition: no billion laughs, no external entities) and files beyond a size bound. Anything
malformed raises `ReportError`.

Paths in the report are as Nuitka wrote them: `${sys.prefix}`, `${sys.real_prefix}` and `${cwd}` stand
for the build machine's interpreter prefixes and working folder.
"""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from hardnut.errors import HardnutError
from hardnut.model import mask

MAX_REPORT_BYTES = 256 * 1024 * 1024
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?\s*<\?xml[^>]{0,200}\?>")


class ReportError(HardnutError):
    """The report XML is unreadable, too large, not a Nuitka report, or uses DTD/entity features."""


@dataclass(frozen=True)
class ModuleUsage:
    """An import one module makes, as Nuitka's report records it."""

    name: str
    finding: str  # "absolute", "relative", "built-in", "not-found", "excluded"
    reason: str  # "import", "import fromlist", "import path parent", ...
    line: Optional[int] = None
    exclusion_reason: Optional[str] = None


@dataclass(frozen=True)
class Module:
    """A module Nuitka compiled or included, with its imports and the distributions it comes from."""

    name: str
    kind: str  # "CompiledPythonModule", "UncompiledPythonModule", "PythonExtensionModule", ...
    usage: str  # "root_module", "stdlib", "import", "import fromlist", ...
    reason: str
    source_path: str
    distributions: tuple[str, ...] = ()
    usages: tuple[ModuleUsage, ...] = ()

    @property
    def is_stdlib(self) -> bool:
        """Part of the Python standard library: Nuitka tags it so, or it lives in the interpreter's
        prefix outside site-packages (lib/pythonX.Y, lib-dynload; Lib and DLLs on Windows)."""
        if self.usage == "stdlib":
            return True
        low = self.source_path.replace("\\", "/").lower()
        if self.is_third_party or not low:
            return False
        return low.startswith(("${sys.real_prefix}/", "${sys.prefix}/lib/", "${sys.prefix}/dlls/"))

    @property
    def is_third_party(self) -> bool:
        low = self.source_path.replace("\\", "/").lower()
        return bool(self.distributions) or "/site-packages/" in low or "/dist-packages/" in low

    @property
    def is_user_code(self) -> bool:
        """The program's own code: the main module, or compiled modules from outside any prefix."""
        return self.usage == "root_module" or not (self.is_stdlib or self.is_third_party)


def local_source(source_path: str) -> Optional[Path]:
    """Where a report's module source_path is on this machine, when it is: Nuitka writes paths with
    ${sys.prefix}, ${sys.real_prefix} (and ${sys.base_prefix}) and ${cwd} placeholders, expanded here with
    this interpreter's values and the current folder. None when the result is not a regular file."""
    import os
    import sys

    values = {"${sys.prefix}": sys.prefix, "${sys.real_prefix}": getattr(sys, "real_prefix", sys.base_prefix),
              "${sys.base_prefix}": sys.base_prefix, "${cwd}": os.getcwd()}
    path = source_path
    for key, value in values.items():
        if path.startswith(key):
            path = value + path[len(key):]
            break
    if not path or "${" in path:
        return None
    candidate = Path(path)
    try:
        return candidate if candidate.is_file() else None
    except OSError:
        return None


@dataclass(frozen=True)
class IncludedFile:
    """An `included_<kind>` entry: extension modules, DLLs, executables the dist received."""

    kind: str  # "extension", "dll", "exe", ... (the element name after 'included_')
    name: str
    dest_path: str
    source_path: str
    package: str = ""
    ignored: bool = False
    reason: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class DataFile:
    """A data file Nuitka included."""

    kind: str  # "data_file", "data_blob", "data_file_generated"
    name: str  # destination path in the dist
    source: Optional[str] = None
    size: Optional[int] = None
    reason: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExcludedDll:
    """A DLL Nuitka left out, and why."""

    name: str
    used_by: str
    reason: str


@dataclass(frozen=True)
class Distribution:
    """A Python distribution Nuitka included (name, version, installer)."""

    name: str
    version: str
    installer: str = ""
    vendored: bool = False


@dataclass(frozen=True)
class CompilerSettings:
    """The C compiler Nuitka used."""

    c_compiler: str = ""
    the_cc_name: str = ""
    the_compiler: str = ""
    cpp_flags: str = ""
    c_flags: str = ""
    cc_flags: str = ""
    cxx_flags: str = ""
    ld_flags: str = ""

    @property
    def compile_flags(self) -> tuple[str, ...]:
        return tuple(" ".join((self.cpp_flags, self.c_flags, self.cc_flags, self.cxx_flags)).split())

    @property
    def link_flags(self) -> tuple[str, ...]:
        return tuple(self.ld_flags.split())


@dataclass(frozen=True)
class OnefileSettings:
    """How a onefile program unpacks itself (cache mode, folder) and how its payload is linked in."""

    cache_mode: str  # "temporary" or "cached"
    unpack_dir: str  # the --onefile-tempdir-spec in effect, e.g. "{TEMP}/onefile_{PID}_{TIME_US}_{RANDOM}"
    resource_mode: Optional[str] = None  # how the payload was linked in (4.1+): "incbin", "coff_obj", ...
    binary: Optional[str] = None


@dataclass(frozen=True)
class WindowsUac:
    """The Windows UAC options of a build."""

    admin: bool = False  # --windows-uac-admin: the manifest asks for elevation
    uiaccess: bool = False  # --windows-uac-uiaccess


@dataclass(frozen=True)
class NuitkaReport:
    """Nuitka's compilation report (--report), parsed."""

    nuitka_version: str
    mode: str  # "standalone", "onefile", "accelerated", "module", "app", ...
    completion: str  # "yes" for a finished build
    commercial_version: str = ""
    exit_message: Optional[str] = None
    options: tuple[str, ...] = ()  # the command line (project and environment options included)
    modules: tuple[Module, ...] = ()
    included: tuple[IncludedFile, ...] = ()
    excluded_dlls: tuple[ExcludedDll, ...] = ()
    data_files: tuple[DataFile, ...] = ()
    distributions: tuple[Distribution, ...] = ()
    onefile: Optional[OnefileSettings] = None
    compiler: Optional[CompilerSettings] = None
    plugins: tuple[str, ...] = ()  # plugins the user enabled
    python_version: str = ""
    os_name: str = ""
    arch_name: str = ""
    run_filename: Optional[str] = None
    _by_name: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def completed(self) -> bool:
        return self.completion == "yes"

    def has_flag(self, name: str) -> bool:
        """Whether option `name` (e.g. "--deployment") was given (bare or with a value)."""
        return any(o == name or o.startswith(name + "=") for o in self.options)

    def option_values(self, name: str) -> list[str]:
        """Values of `--name=value` (and `--name value`) options, in order."""
        out = []
        for i, o in enumerate(self.options):
            if o.startswith(name + "="):
                out.append(o.split("=", 1)[1])
            elif o == name and i + 1 < len(self.options) and not self.options[i + 1].startswith("-"):
                out.append(self.options[i + 1])
        return out

    @property
    def deployment(self) -> bool:
        return self.has_flag("--deployment")

    @property
    def no_deployment_flags(self) -> tuple[str, ...]:
        return tuple(self.option_values("--no-deployment-flag"))

    @property
    def downloads_allowed(self) -> bool:
        return self.has_flag("--assume-yes-for-downloads")

    @property
    def uac(self) -> WindowsUac:
        return WindowsUac(self.has_flag("--windows-uac-admin"), self.has_flag("--windows-uac-uiaccess"))

    def module(self, name: str) -> Optional[Module]:
        if not self._by_name:
            self._by_name.update((m.name, m) for m in self.modules)
        return self._by_name.get(name)


def _bool(value: Optional[str]) -> bool:
    return value == "yes"


def _tags(value: Optional[str]) -> tuple[str, ...]:
    return tuple(t for t in (value or "").split(",") if t)


def _int(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _check_text(raw: bytes) -> None:
    if len(raw) > MAX_REPORT_BYTES:
        raise ReportError(f"report is larger than {MAX_REPORT_BYTES} bytes")
    if _FORBIDDEN.search(raw):
        raise ReportError("report uses a DOCTYPE or entity declaration; refused (Nuitka never writes one)")


def _decode(raw: bytes) -> str:
    """The report as text. Nuitka declares encoding='utf8', a name expat only copes with while the
    content is ASCII, so decode here (per the declaration) and hand expat the declaration-free text."""
    m = _DECLARATION.match(raw)
    encoding = "utf-8"
    if m:
        enc = re.search(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""", m.group(0))
        encoding = enc.group(1).decode("ascii") if enc else "utf-8"
        raw = raw[m.end():]
    try:
        return raw.decode(encoding)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ReportError(f"report text cannot be decoded as {encoding}: {exc}") from None


_LAST_PARSED: Optional[tuple[bytes, NuitkaReport]] = None  # (sha256 of the text, its report)


def parse_report_text(text: str | bytes) -> NuitkaReport:
    """Parse report XML text. Raises ReportError. The last text parsed is remembered by its sha256
    (a build's verify, SBOM and audit read the same report; a NuitkaReport is frozen)."""
    global _LAST_PARSED
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    digest = hashlib.sha256(raw).digest()
    last = _LAST_PARSED
    if last is not None and last[0] == digest:
        return last[1]
    report = _parse(raw)
    _LAST_PARSED = (digest, report)
    return report


def _parse(raw: bytes) -> NuitkaReport:
    _check_text(raw)
    try:
        root = ET.fromstring(_decode(raw))
    except ET.ParseError as exc:
        raise ReportError(f"report is not well-formed XML: {exc}") from None
    if root.tag != "nuitka-compilation-report":
        raise ReportError(f"not a Nuitka compilation report (root element <{root.tag[:60]}>)")
    try:
        return _from_tree(root)
    except (ValueError, TypeError, AttributeError) as exc:  # defensive: attributes of odd types
        raise ReportError(f"unexpected report content: {exc}") from None


def parse_report(path: Path, max_bytes: int = MAX_REPORT_BYTES) -> NuitkaReport:
    """Read and parse a report file, at most `max_bytes`. Raises ReportError."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as exc:
        raise ReportError(f"cannot read report {path}: {exc.strerror}") from None
    if len(raw) > max_bytes:
        raise ReportError(f"report {Path(path).name} is larger than {max_bytes} bytes")
    return parse_report_text(raw)


def _from_tree(root: ET.Element) -> NuitkaReport:
    a = root.attrib
    modules = []
    for m in root.iterfind("module"):
        usages = tuple(
            ModuleUsage(u.get("name", ""), u.get("finding", ""), u.get("reason", ""), _int(u.get("line")),
                        u.get("exclusion_reason"))
            for u in m.iterfind("module_usages/module_usage"))
        modules.append(Module(
            m.get("name", ""), m.get("kind", ""), m.get("usage", ""), m.get("reason", ""),
            m.get("source_path", ""), _tags(m.get("distribution")), usages))
    included = []
    for el in root:
        if isinstance(el.tag, str) and el.tag.startswith("included_") and el.tag != "included_metadata":
            included.append(IncludedFile(
                el.tag[len("included_"):], el.get("name", ""), el.get("dest_path", ""), el.get("source_path", ""),
                el.get("package", ""), _bool(el.get("ignored")), el.get("reason", ""), _tags(el.get("tags"))))
    data_files = tuple(
        DataFile(el.tag, el.get("name", ""), el.get("source"), _int(el.get("size")), el.get("reason", ""),
                 _tags(el.get("tags")))
        for el in root if el.tag in ("data_file", "data_blob", "data_file_generated"))
    scons = root.find("scons_environment")
    compiler = None if scons is None else CompilerSettings(**{
        k: scons.get(k, "") for k in ("c_compiler", "the_cc_name", "the_compiler", "cpp_flags", "c_flags",
                                      "cc_flags", "cxx_flags", "ld_flags")})
    onefile = None
    of = root.find("onefile")
    if of is not None:
        ob = root.find("onefile_binary")
        onefile = OnefileSettings(of.get("cache_mode", ""), of.get("unpack_dir", ""),
                                  ob.get("onefile_resource_mode") if ob is not None else None,
                                  ob.get("filename") if ob is not None else None)
    python = root.find("python")
    output = root.find("output")
    return NuitkaReport(
        nuitka_version=a.get("nuitka_version", ""),
        mode=a.get("mode", ""),
        completion=a.get("completion", ""),
        commercial_version=a.get("nuitka_commercial_version", ""),
        exit_message=a.get("exit_message"),
        options=tuple(o.get("value", "") for o in root.iterfind("command_line/option")),
        modules=tuple(modules),
        included=tuple(included),
        excluded_dlls=tuple(ExcludedDll(e.get("name", ""), e.get("used_by", ""), e.get("reason", ""))
                            for e in root.iterfind("excluded_dll")),
        data_files=data_files,
        distributions=tuple(Distribution(d.get("name", ""), d.get("version", ""), d.get("installer", ""),
                                         _bool(d.get("vendored")))
                            for d in root.iterfind("distributions/distribution")),
        onefile=onefile,
        compiler=compiler,
        plugins=tuple(p.get("name", "") for p in root.iterfind("plugins/plugin") if _bool(p.get("user_enabled"))),
        python_version=python.get("python_version", "") if python is not None else "",
        os_name=python.get("os_name", "") if python is not None else "",
        arch_name=python.get("arch_name", "") if python is not None else "",
        run_filename=output.get("run_filename") if output is not None else None,
    )


# ---------------------------------------------------------------------------------------- redaction

_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|access[-_]?key|private[-_]?key|"
    r"credential|auth|signing|cert[-_]?pass|license[-_]?key|key)$|(^|[-_])key([-_]|$)", re.IGNORECASE)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,20}://)(?P<user>[^\s:/@\"'<>]+):(?P<pw>[^\s@/\"'<>]+)@")
_OPTION_ATTR = re.compile(r'(<option\s+value=")([^"]*)(")')


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    if not text:
        return 0.0
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def _path_like(value: str) -> bool:
    if value.startswith(("/", "./", "../", "~", "{", "$", "%")) or re.match(r"^[A-Za-z]:[\\/]", value):
        return True
    segments = re.split(r"[\\/]", value)
    return len(segments) > 1 and any("." in seg or not seg for seg in segments)


def _looks_secret(value: str) -> bool:
    """A long, high-entropy token that is not a path, a list or a number (base64 keys may hold '/')."""
    if len(value) < 16 or any(c in value for c in " ,;{}") or _path_like(value) \
            or value.replace(".", "").isdigit():
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return entropy(value) >= 3.5 and classes >= 2


def redact_option(option: str) -> str:
    """One command-line option with a secret-looking value masked (see `redact`)."""
    option = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{mask(m['pw'])}@", option)
    if option.startswith("-") and "=" in option:
        name, value = option.split("=", 1)
        if "…(" in value:  # already masked
            return option
        inner = re.match(r"^([A-Za-z_][A-Za-z0-9_.-]{0,60})=(.+)$", value)
        if inner and not _SECRET_NAME.search(name.lstrip("-")):  # KEY=VALUE options (--report-user-provided)
            key, secret = inner.groups()
            if _SECRET_NAME.search(key) or _looks_secret(secret):
                return f"{name}={key}={mask(secret)}"
            return option
        if value and (_SECRET_NAME.search(name.lstrip("-")) or _looks_secret(value)):
            return f"{name}={mask(value)}"
    return option


def _unescape_attr(value: str) -> str:
    """What xml.sax.saxutils.unescape(value, {"&quot;": '"', "&apos;": "'"}) returns, the same replacements
    in the same order, without importing it (it imports urllib.request, http.client and ssl: ~10 ms)."""
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&")):
        value = value.replace(entity, char)
    return value


def _escape_attr(value: str) -> str:
    """What xml.sax.saxutils.escape(value, {'"': "&quot;"}) returns (see _unescape_attr)."""
    for char, entity in (("&", "&amp;"), (">", "&gt;"), ("<", "&lt;"), ('"', "&quot;")):
        value = value.replace(char, entity)
    return value


def redact(xml_text: str) -> str:
    """The report text with secrets masked: `--option=value` command-line options whose name sounds
    secret (…password, …token, …key, …secret, auth…) or whose value is a long high-entropy token, and
    `scheme://user:password@` credentials anywhere in the text. Masking uses hardnut.model.mask (a
    prefix and the length). The result is still well-formed XML."""

    def option(m: re.Match) -> str:
        value = _unescape_attr(m.group(2))
        return m.group(1) + _escape_attr(redact_option(value)) + m.group(3)

    text = _OPTION_ATTR.sub(option, xml_text)
    return _mask_url_credentials(text)


def _mask_url_credentials(text: str) -> str:
    """_URL_CREDENTIALS.sub over the text, applied only to the lines that hold '://': a match never
    spans a line (no part of the pattern matches a line break), and searching a whole report for the
    pattern, which tries every letter as a scheme's start, took ~20 ms per build."""
    if "://" not in text:
        return text
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if "://" in line:
            lines[i] = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{mask(m['pw'])}@", line)
    return "\n".join(lines)


def iter_not_found(report: NuitkaReport) -> Iterable[tuple[Module, ModuleUsage]]:
    """(importing module, usage) for each import Nuitka could not resolve."""
    for m in report.modules:
        for u in m.usages:
            if u.finding == "not-found":
                yield m, u
