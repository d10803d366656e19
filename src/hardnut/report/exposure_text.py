"""`hardnut exposure` as text: a one-screen summary, the flags that would shrink it, then per module."""

from __future__ import annotations

from hardnut.exposure import CLASSES, Exposure

LABELS = {"identifiers": "identifiers", "docstrings": "docstrings", "assert_messages": "assert msgs",
          "paths": "paths", "strings": "strings", "bytes": "bytes"}


def _size(n: int) -> str:
    return f"{n} B" if n < 10_000 else f"{n / 1024:.1f} KiB"


def render(exp: Exposure, detail: int = 12) -> str:
    s = exp.summary()
    lines = [f"hardnut exposure {exp.target}"]
    if not exp.binaries:
        lines.append("no Nuitka constants blob found (not a Nuitka program, or not readable)")
    lines.append(
        f"modules: {s['compiled']} compiled, {s['bytecode']} as bytecode, {s['source']} as source"
        f" ({s['extension_modules']} extension modules)")
    if exp.data_files:
        more = f", … {len(exp.data_files) - 3} more" if len(exp.data_files) > 3 else ""
        lines.append(f"data files shipped as-is: {len(exp.data_files)} ({', '.join(exp.data_files[:3])}{more})")
    lines.append(
        f"recoverable: {s['strings']} strings, {s['identifiers']} identifiers, {_size(s['recoverable_bytes'])} "
        f"of constants; docstrings present: {'yes' if s['docstrings_present'] else 'no'} ({s['docstrings']})")
    if s["secrets_masked"]:
        lines.append(f"secret-like constants: {s['secrets_masked']} (shown masked; see `hardnut verify`)")
    lines.append(f"own modules ({', '.join(exp.own_patterns)}): {', '.join(s['own_modules']) or 'none found'}")
    lines.append("release flags:")
    for f in exp.flags:
        state = "on " if f.enabled else "off"
        if f.removes_count:
            what = f"would remove {f.removes_count} constants ({_size(f.removes_bytes)}) in " \
                   f"{len(f.modules)} modules: {', '.join(f.modules[:4])}{', …' if len(f.modules) > 4 else ''}"
            if f.basis == "heuristic":
                what += " (estimated: sources not found)"
        else:
            what = "nothing left to remove"
        lines.append(f"  {f.flag:14} {state} {what}")
    if exp.shipped:
        lines.append(f"not compiled ({len(exp.shipped)}):")
        listed = [m for m in exp.shipped if not m.stdlib][:detail]
        for m in listed:
            mark = "*" if m.own else " "
            where = f" [{m.path}]" if m.path else ""
            lines.append(f" {mark}{m.form:8} {m.name}{where}: {m.how}")
        stdlib = [m for m in exp.shipped if m.stdlib]
        rest = len(exp.shipped) - len(listed) - len(stdlib)
        if stdlib:
            lines.append(f"  {len(stdlib)} standard-library modules as bytecode (Nuitka's default for the stdlib; "
                         f"e.g. {', '.join(m.name for m in stdlib[:3])})")
        if rest > 0:
            lines.append(f"  … {rest} more (--format json lists all)")
    lines.append("compiled modules (own first, then by recoverable bytes):")
    for m in exp.compiled[:detail]:
        mark = "*" if m.own else " "
        counts = ", ".join(f"{m.classes[c].count} {LABELS[c]}" for c in CLASSES if m.classes[c].count)
        lines.append(f" {mark}{m.name}: {_size(m.recoverable_bytes)}; {counts}; {m.line_info} code objects")
        for sample in m.secret_samples:
            lines.append(f"     {'secret-like':12} {sample}")
        if m.own:
            for c in ("docstrings", "assert_messages", "strings", "paths"):
                for sample in m.classes[c].samples[:3]:
                    lines.append(f"     {LABELS[c]:12} {sample!r}" if "…(" not in sample else f"     {LABELS[c]:12} {sample}")
    if len(exp.compiled) > detail:
        lines.append(f"  … {len(exp.compiled) - detail} more modules (--format json or html lists all)")
    for note in exp.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines) + "\n"
