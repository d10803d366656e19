"""HTML for people: one self-contained page (inline CSS, inline SVG chart, a few lines of inline script
for the search box; no fetches of any kind, and a Content-Security-Policy that forbids them).

`render(result, rules, color)` renders a verify / check-source report (findings grouped by severity,
a chart of findings per rule, searchable findings and files tables); `render_exposure(exposure)`
renders `hardnut exposure` (a chart of modules by recoverable bytes, the summary, a searchable
modules table). Every text is HTML-escaped; secrets reach this module already masked
(`hardnut.model.mask`) and nothing here unmasks or re-reads artifact bytes.
"""

from __future__ import annotations

import html
from typing import Iterable, Sequence

from hardnut.model import Rule, Severity, VerifyResult

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
SEVERITY_COLORS = {"critical": "#8e24aa", "high": "#d32f2f", "medium": "#f9a825", "low": "#0288d1", "info": "#757575"}

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:19px}
header .sub{opacity:.8;font-size:13px;word-break:break-all}
main{padding:16px 24px;max-width:1400px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 16px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#555}
.verdict-pass{color:#2e7d32}.verdict-fail{color:#c62828}
h2{font-size:16px;margin:22px 0 8px}
svg.chart{background:#fff;border:1px solid #ddd;border-radius:6px;display:block}
input.search{padding:6px 10px;width:340px;max-width:90%;border:1px solid #aaa;border-radius:4px;margin:4px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eceff1;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.sev{color:#fff;border-radius:3px;padding:1px 6px;font-size:11px;font-weight:600}
td:first-child .mono,.nowrap{word-break:normal;white-space:nowrap}
.own{font-weight:600}.muted{color:#666}.count{color:#555;font-size:12px;margin-left:8px}
"""

_SCRIPT = """
document.querySelectorAll('input.search').forEach(function(box){
  var table=document.getElementById(box.dataset.table), counter=document.getElementById(box.dataset.table+'-count');
  function apply(){
    var q=box.value.toLowerCase().trim(), shown=0, rows=table.tBodies[0].rows;
    for(var i=0;i<rows.length;i++){var hit=!q||rows[i].textContent.toLowerCase().indexOf(q)>=0;
      rows[i].style.display=hit?'':'none'; if(hit)shown++;}
    if(counter)counter.textContent=shown+' of '+rows.length+' rows';
  }
  box.addEventListener('input',apply); apply();
});
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, subtitle: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><div class=\"sub\">{esc(subtitle)}</div></header><main>{body}</main>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def cards(items: Iterable[tuple[str, object]], extra_class: dict | None = None) -> str:
    extra_class = extra_class or {}
    out = "".join(f"<div class=\"card\"><b class=\"{esc(extra_class.get(label, ''))}\">{esc(value)}</b>"
                  f"<span>{esc(label)}</span></div>" for label, value in items)
    return f"<div class=\"cards\">{out}</div>"


def bar_chart(chart_id: str, bars: Sequence[tuple[str, int, str]], unit: str = "", width: int = 900) -> str:
    """A horizontal bar chart as inline SVG: (label, value, colour) per bar, largest first as given."""
    if not bars:
        return "<p class=\"muted\">nothing to chart</p>"
    row, label_w, pad = 22, 300, 8
    top = max(v for _, v, _ in bars) or 1
    height = pad * 2 + row * len(bars)
    parts = [f"<svg class=\"chart\" id=\"{esc(chart_id)}\" width=\"{width}\" height=\"{height}\" "
             f"viewBox=\"0 0 {width} {height}\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">"]
    avail = width - label_w - 120
    for i, (label, value, color) in enumerate(bars):
        y = pad + i * row
        w = max(2, round(avail * value / top))
        shown = label if len(label) <= 42 else label[:41] + "…"
        parts.append(
            f"<g class=\"bar\"><title>{esc(label)}: {value}{esc(unit)}</title>"
            f"<text x=\"{label_w - 6}\" y=\"{y + 15}\" text-anchor=\"end\" font-size=\"12\">{esc(shown)}</text>"
            f"<rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{w}\" height=\"{row - 6}\" fill=\"{esc(color)}\" rx=\"2\"/>"
            f"<text x=\"{label_w + w + 6}\" y=\"{y + 15}\" font-size=\"12\">{value}{esc(unit)}</text></g>")
    parts.append("</svg>")
    return "".join(parts)


def table(table_id: str, headers: Sequence[str], rows: Iterable[Sequence[str]], searchable: bool = True) -> str:
    """`rows` hold already-escaped cell HTML."""
    rows = list(rows)
    search = ""
    if searchable:
        search = (f"<input class=\"search\" type=\"search\" placeholder=\"Search…\" aria-label=\"Search\" "
                  f"id=\"{esc(table_id)}-search\" data-table=\"{esc(table_id)}\">"
                  f"<span class=\"count\" id=\"{esc(table_id)}-count\">{len(rows)} rows</span>")
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" if not c.startswith("<td") else c for c in r) + "</tr>"
                   for r in rows)
    return f"{search}<table id=\"{esc(table_id)}\"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def num(value: object) -> str:
    return f"<td class=\"num\">{esc(value)}</td>"


# ----------------------------------------------------------------------------------------------- verify


def render(result: VerifyResult, rules: dict[str, Rule], color: bool = False) -> str:
    counts = result.counts()
    verdict = result.verdict
    summary = cards([("verdict", verdict.upper()), ("files", len(result.files)),
                     ("findings", len(result.findings))] + [(k, v) for k, v in counts.items()]
                    + ([("suppressed", result.suppressed)] if result.suppressed else []),
                    {"verdict": f"verdict-{verdict}"})
    per_rule: dict[str, list] = {}
    for f in result.findings:
        per_rule.setdefault(f.rule, []).append(f)
    bars = sorted(((rid, len(fs), SEVERITY_COLORS[max(x.severity for x in fs).label]) for rid, fs in per_rule.items()),
                  key=lambda b: (-b[1], b[0]))
    body = [summary, f"<p>failing at <b>{esc(result.fail_on.label)}</b> or above"
            + (f"; needs glibc ≥ {esc(result.facts['glibc_max'])}" if result.facts.get("glibc_max") else "")
            + "</p>", "<h2>Findings per rule</h2>", bar_chart("chart", bars[:40])]
    body.append("<h2>Findings</h2>")
    rows = []
    for sev in sorted(Severity, reverse=True):
        for f in (x for x in result.findings if x.severity == sev):
            where = f.path + (f":{f.line}" if f.line is not None else f"@0x{f.offset:x}" if f.offset is not None else "")
            name = rules[f.rule].name if f.rule in rules else ""
            rows.append([
                f"<span class=\"sev\" style=\"background:{SEVERITY_COLORS[sev.label]}\">{esc(sev.label)}</span>",
                f"<span class=\"mono nowrap\" title=\"{esc(name)}\">{esc(f.rule)}</span>",
                f"<span class=\"mono\">{esc(where)}</span>" + (f" <span class=\"muted\">[{esc(f.module)}]</span>"
                                                              if f.module else ""),
                esc(f.message)])
    body.append(table("findings", ["severity", "rule", "where", "message"], rows))
    body.append("<h2>Files</h2>")
    body.append(table("files", ["path", "format", "size", "sha256"],
                      ([f"<span class=\"mono\">{esc(r.path)}</span>", esc(r.format), num(r.size),
                        f"<span class=\"mono\">{esc(r.sha256)}</span>"] for r in result.files)))
    return page(f"hardnut {result.command}: {verdict.upper()}", result.target, "".join(body))


# ----------------------------------------------------------------------------------------------- exposure


def render_exposure(exp) -> str:
    from hardnut.exposure import CLASSES

    s = exp.summary()
    body = [cards([("compiled modules", s["compiled"]), ("as bytecode", s["bytecode"]), ("as source", s["source"]),
                   ("strings", s["strings"]), ("identifiers", s["identifiers"]),
                   ("recoverable bytes", s["recoverable_bytes"]),
                   ("docstrings present", "yes" if s["docstrings_present"] else "no"),
                   ("secret-like (masked)", s["secrets_masked"])])]
    own = ", ".join(s["own_modules"]) or "none found"
    body.append(f"<p>Own modules (<code>{esc(', '.join(exp.own_patterns))}</code>): <b>{esc(own)}</b></p>")
    flag_rows = []
    for f in exp.flags:
        what = (f"{f.removes_count} constants, {f.removes_bytes} bytes in {len(f.modules)} modules"
                + (" (estimated: sources not found)" if f.basis == "heuristic" else "")) if f.removes_count \
            else "nothing left to remove"
        flag_rows.append([f"<code>{esc(f.flag)}</code>", esc("on" if f.enabled else "off"), esc(what),
                          esc(", ".join(f.modules))])
    body.append("<h2>Release flags</h2>")
    body.append(table("flags", ["flag", "build", "would remove", "modules"], flag_rows, searchable=False))
    bars = [(m.name, m.recoverable_bytes, "#c62828" if m.own else "#546e7a")
            for m in sorted(exp.compiled, key=lambda m: -m.recoverable_bytes)[:40]]
    body.append("<h2>Modules by recoverable bytes of constants</h2>")
    body.append(bar_chart("chart", bars, " B"))
    body.append("<h2>Modules</h2>")
    rows = []
    for m in exp.compiled:
        samples = "; ".join(f"{c}: " + " | ".join(m.classes[c].samples[:3])
                            for c in ("docstrings", "assert_messages", "strings", "paths") if m.classes[c].samples)
        if m.secret_samples:
            samples = "secret-like: " + " | ".join(m.secret_samples) + ("; " + samples if samples else "")
        rows.append([f"<span class=\"mono{' own' if m.own else ''}\">{esc(m.name)}</span>", esc("compiled"),
                     num(m.recoverable_bytes)] + [num(m.classes[c].count) for c in CLASSES]
                    + [num(m.line_info), f"<span class=\"mono\">{esc(samples)}</span>"])
    for sm in exp.shipped:
        rows.append([f"<span class=\"mono{' own' if sm.own else ''}\">{esc(sm.name)}</span>", esc(sm.form),
                     num("")] + [num("") for _ in CLASSES] + [num(""), esc(sm.how + (f" [{sm.path}]" if sm.path else ""))])
    body.append(table("modules", ["module", "form", "bytes"] + list(CLASSES) + ["code objects", "samples / how"],
                      rows))
    if exp.data_files:
        body.append(f"<h2>Data files shipped as-is ({len(exp.data_files)})</h2>")
        body.append(table("data", ["file"], ([f"<span class=\"mono\">{esc(d)}</span>"] for d in exp.data_files)))
    if exp.notes:
        body.append("<h2>Notes</h2><ul>" + "".join(f"<li>{esc(n)}</li>" for n in exp.notes) + "</ul>")
    return page("hardnut exposure", exp.target, "".join(body))
