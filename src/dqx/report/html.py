"""The run report as one self-contained HTML file: no script, no font, nothing fetched.

Styles are inline, charts are inline SVG (:mod:`dqx.report.charts`), and a Content
Security Policy forbids every fetch, so the page reads the same from a mail
attachment, an artifact store or a laptop offline. Every text a user wrote (suite,
check and assertion names, tags, expressions, SQL) is escaped.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from html import escape
from importlib.metadata import PackageNotFoundError, version

from dqx.common import SEVERITIES
from dqx.display import reconciliation_rows
from dqx.humanize import ValueStyle, format_bound, format_exact, format_value
from dqx.links import RUNBOOK_BASE_ENV, clickable
from dqx.redaction import redact
from dqx.report.charts import chart_svg
from dqx.report.model import AssertionView, Chart, RunReport

__all__ = ["render_html"]

_CSS = """
:root{--bad:#c62828;--warn:#b26a00;--ok:#2e7d32;--ink:#1d2330;--mute:#5f6b7a;--line:#dde3ea;
--bg:#f6f8fa;--card:#fff;--accent:#1f5fbf}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
color:var(--ink);background:var(--bg)}
main{max-width:1240px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
h3{font-size:14px;margin:16px 0 8px;color:var(--mute)}
a{color:var(--accent)}code,pre{font:12px/1.4 ui-monospace,"DejaVu Sans Mono",monospace}
pre{background:#f0f3f6;border:1px solid var(--line);padding:8px;overflow-x:auto;
white-space:pre-wrap;word-break:break-word;margin:6px 0}
header.run{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:16px 20px}
.meta{display:flex;flex-wrap:wrap;gap:6px 22px;color:var(--mute);margin-top:8px}
.meta b{color:var(--ink);font-weight:600}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:700;
color:#fff;background:var(--mute);vertical-align:middle}
.s-failed,.s-FAILURE{background:var(--bad)}.s-ERROR,.s-persist_failed,.s-interrupted,
.s-error{background:var(--warn)}.s-passed,.s-OK{background:var(--ok)}
.tag{background:#e8eef6;border-radius:4px;padding:0 6px;margin-right:4px;color:var(--ink)}
.counts span{margin-right:14px}.n-bad{color:var(--bad);font-weight:700}
.n-warn{color:var(--warn);font-weight:700}
.failure{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--bad);
border-radius:6px;padding:12px 16px;margin:10px 0}
.failure.ERROR{border-left-color:var(--warn)}
.failure .what{font-weight:600;font-size:15px}.failure .check{color:var(--mute);font-weight:400}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
.facts dt{color:var(--mute)}.facts dd{margin:0}
.value{font-weight:700}.value.bad{color:var(--bad)}
.charts{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:6px;
padding:6px 8px;width:298px}
figure.failing{border-color:#e7a3a3}
figcaption{font-size:12px;overflow-wrap:anywhere}figcaption .ds{color:var(--mute)}
svg.chart{display:block}
svg .line{fill:none;stroke:#7d8ea3;stroke-width:1.2}
svg circle{fill:#7d8ea3;r:2.2px}svg circle.run{r:3.5px}
svg circle.history{fill:#fff;stroke:#1f5fbf;stroke-width:1.4}
svg circle.run{fill:var(--accent);stroke:#fff;stroke-width:1}
svg circle.none{fill:#fff;stroke:#999}
figure.failing svg circle.run{fill:var(--bad)}
svg .bound{stroke:var(--bad);stroke-dasharray:4 3;stroke-width:1}
svg .bad{fill:var(--bad);opacity:.08}
svg text{font-size:9px;fill:var(--mute)}svg .end{text-anchor:end}
svg .empty{text-anchor:middle}
table{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line)}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#eef2f6;font-weight:600}td.num{text-align:right;white-space:nowrap}
.legend{color:var(--mute);font-size:12px;margin:0 0 8px}
.legend i{display:inline-block;width:9px;height:9px;border-radius:50%;margin:0 4px 0 10px;
vertical-align:middle;background:#7d8ea3}
.legend i.run{background:var(--accent)}.legend i.history{background:#fff;border:1.5px solid #1f5fbf}
.note{color:var(--mute)}
footer{color:var(--mute);font-size:12px;margin-top:30px}
"""

# Nothing may be fetched: styles are inline, images are SVG in the page.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _link(url: str | None, label: str) -> str:
    if not url:
        return ""
    return f'<a href="{_text(redact(url))}">{_text(label)}</a>'


def _runbook(url: str | None, name: str) -> str:
    # A repository path resolves against wherever the report file was opened: shown as
    # text, not as a link that opens nothing.
    return _code(url) if url and not clickable(url) else _link(url, name)


def _badge(status: str) -> str:
    return f'<span class="badge s-{_text(status)}">{_text(status)}</span>'


def _tags(tags: dict[str, str]) -> str:
    return "".join(
        f'<span class="tag">{_text(key)}={_text(value)}</span>'
        for key, value in sorted(tags.items())
    )


def _code(text: str) -> str:
    return f"<code>{_text(text)}</code>"


def _table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """Cells are HTML already; a cell starting with ``#`` is a number, right-aligned."""
    head = "".join(f"<th>{header}</th>" for header in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{cell[1:]}</td>' if cell.startswith("#") else f"<td>{cell}</td>"
            for cell in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{title}</h2>{body}</section>'


def _note(text: str) -> str:
    return f'<p class="note">{_text(text)}</p>'


def _value(value: float | None, style: ValueStyle, status: str = "OK") -> str:
    raw = "no value" if value is None else repr(value)
    bad = " bad" if status != "OK" else ""
    shown = format_value(value, style)
    return f'<span class="value{bad}" title="{_text(raw)}">{_text(shown)}</span>'


def _when(moment: dt.datetime | None) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") + " UTC" if moment else "-"


def _header(report: RunReport) -> str:
    run, counts, links = report.run, report.run.counts, report.links
    trace = " · ".join(
        filter(None, [_link(links.trace.jaeger, "Jaeger"), _link(links.trace.grafana, "Grafana")])
    ) or _note("no Jaeger or Grafana URL configured (DQX_JAEGER_URL, DQX_GRAFANA_URL)")
    runbooks = " · ".join(_runbook(url, name) for name, url in links.runbooks.items())
    if not all(clickable(url) for url in links.runbooks.values()):
        runbooks += " " + _note(f"(in the dqx repository; set {RUNBOOK_BASE_ENV} to link them)")
    failed = "n-bad" if counts["FAILURE"] else ""
    errors = "n-warn" if counts["ERROR"] else ""
    skipped = f"<span>{counts['SKIPPED']:,} skipped</span>" if counts["SKIPPED"] else ""
    message = _note(run.message) if run.message else ""
    return f"""<header class="run">
<h1>{_text(run.suite)} <span class="note">for</span> {run.yyyy_mm_dd.isoformat()}
{_badge(run.status)}</h1>
<div class="counts"><span class="{failed}">{counts["FAILURE"]:,} failed</span>
<span class="{errors}">{counts["ERROR"]:,} errors</span>{skipped}<span>{counts["OK"]:,} ok</span>
<span>{run.metric_count:,} metrics</span><span>{len(report.statements):,} SQL statements</span>
</div>
<div class="meta"><span>execution id <b>{_code(run.execution_id)}</b></span>
<span>tags {_tags(run.tags) or "none"}</span><span>started <b>{_when(run.started)}</b></span>
<span>finished <b>{_when(run.finished)}</b></span></div>
<div class="meta"><span>trace {trace}</span><span>runbooks {runbooks}</span></div>
{message}</header>"""


#: A failure shows at most this much of a statement; the whole one is listed once,
#: under "SQL statements" (a 1,000-metric statement repeated per failure would
#: outweigh the rest of the report).
_EXCERPT = 2000
#: The metrics a statement computes, named up to this many.
_NAMES = 12


def _statement(report: RunReport, position: int, *, excerpt: bool = False) -> str:
    statement = report.statements[position]
    facts = [
        f"dataset <b>{_text(statement.dataset)}</b>",
        "dates " + ", ".join(day.isoformat() for day in statement.dates),
    ]
    if math.isfinite(statement.seconds):
        facts.append(f"{statement.seconds * 1000:,.1f} ms")
    if statement.rows_scanned is not None:
        facts.append(f"{statement.rows_scanned:,} rows scanned")
    if statement.metrics:
        names = ", ".join(_code(name) for name in statement.metrics[:_NAMES])
        more = len(statement.metrics) - _NAMES
        facts.append(f"computes {names}" + (f" and {more:,} more" if more > 0 else ""))
    error = f'<p class="n-bad">{_text(statement.error)}</p>' if statement.error else ""
    bound = ", ".join(f"{key} = {value!r}" for key, value in statement.params.items())
    sql = statement.sql
    if excerpt and len(sql) + len(bound) > _EXCERPT:
        whole = f'<a href="#sql-{position + 1}">#{position + 1}</a>'
        sql = sql[:_EXCERPT] + "…"
        bound = ""
        facts.append(
            f"{len(statement.sql):,} characters, shortened: the whole statement is {whole}"
        )
    params = f"<pre>{_text(bound)}</pre>" if bound else ""
    ident = "" if excerpt else f' id="sql-{position + 1}"'
    return (
        f'<div class="stmt"{ident}><div class="note">#{position + 1} · '
        f"{' · '.join(facts)}</div>{error}<pre>{_text(sql)}</pre>{params}</div>"
    )


def _figure(report: RunReport, chart: Chart, *, anchor: bool = True) -> str:
    last = report.run.yyyy_mm_dd
    # The axis starts at the first stored day: a young metric is not squeezed into
    # the right edge of a mostly empty window.
    first = min((p.yyyy_mm_dd for p in chart.points), default=last)
    first = min(first, last - dt.timedelta(days=1))
    bound = (
        f" · bound {_code(format_bound(chart.bound_text, chart.style))}" if chart.bound_text else ""
    )
    ident = f' id="{chart.anchor}"' if anchor else ""
    classes = "chart-card failing" if chart.failing else "chart-card"
    return (
        f'<figure class="{classes}"{ident} data-metric="{_text(chart.name)}" '
        f'data-dataset="{_text(chart.dataset)}" data-identity="{chart.identity}">'
        f'<figcaption>{_code(chart.name)} <span class="ds">on {_text(chart.dataset)}</span> '
        f"{_tags(chart.tags)}{bound}</figcaption>{chart_svg(chart, first, last)}</figure>"
    )


def _failure(report: RunReport, view: AssertionView) -> str:
    record = view.record
    failure_class = "metric-error" if record.status == "ERROR" else "assertion-failed"
    facts = [
        ("value", _value(record.value, view.style, record.status)),
        ("bound", _code(format_bound(record.bound, view.style))),
        ("expression", _code(record.expression)),
    ]
    if record.message:
        facts.append(("reason", _text(record.message)))
    facts.append(("runbook", _runbook(report.links.runbooks.get(failure_class), failure_class)))
    charts = [c for c in (report.chart(identity) for identity in view.charts) if c is not None]
    figures = "".join(_figure(report, chart, anchor=False) for chart in charts)
    sql = "".join(_statement(report, position, excerpt=True) for position in view.statements)
    sql_block = (
        f"<details open><summary>SQL that computed its metrics ({len(view.statements)})"
        f"</summary>{sql}</details>"
        if view.statements
        else _note(f"SQL: none recorded; {report.statements_note}")
    )
    attributes = " ".join(
        f'data-{name}="{_text(value)}"'
        for name, value in (
            ("assertion", record.assertion),
            ("check", record.check),
            ("status", record.status),
            ("severity", record.severity),
        )
    )
    return (
        f'<article class="failure {_text(record.status)}" {attributes}>'
        f'<div class="what">{_badge(record.status)} {_text(record.assertion)} '
        f'<span class="check">in {_text(record.check)}</span></div><dl class="facts">'
        + "".join(f"<dt>{name}</dt><dd>{html}</dd>" for name, html in facts)
        + "</dl>"
        + (f'<div class="charts">{figures}</div>' if figures else "")
        + sql_block
        + "</article>"
    )


def _failures(report: RunReport) -> str:
    failures = report.failures
    if not failures:
        return _section("failures", "Failures", "<p>Every assertion passed.</p>")
    unknown = sorted({view.record.severity for view in failures} - set(SEVERITIES))
    groups = []
    for severity in [*SEVERITIES, *unknown]:
        group = [view for view in failures if view.record.severity == severity]
        if group:
            articles = "".join(_failure(report, view) for view in group)
            groups.append(f"<h3>{_text(severity)} · {len(group)}</h3>{articles}")
    return _section("failures", f"Failures ({len(failures)})", "".join(groups))


def _assertions(report: RunReport) -> str:
    ordered = sorted(report.assertions, key=lambda v: (v.passed, v.record.severity, v.record.check))
    rows = [
        [
            _badge(v.record.status),
            _text(v.record.severity),
            _text(v.record.check),
            _text(v.record.assertion),
            "#" + _value(v.record.value, v.style, v.record.status),
            _code(format_bound(v.record.bound, v.style)),
            _code(
                v.record.message
                if v.record.status in ("ERROR", "SKIPPED") and v.record.message
                else v.record.expression
            ),
        ]
        for v in ordered
    ]
    headers = ("status", "sev", "check", "assertion", "value", "bound", "expression / reason")
    title = "Assertions not passing" if report.only_failures else "All assertions"
    return _section("assertions", f"{title} ({len(rows)})", _table(headers, rows))


def _charts(report: RunReport) -> str:
    legend = (
        f'<p class="legend">one point per stored day, the last {report.days} days up to the '
        'run\'s date<i class="run"></i>computed by this run<i class="history"></i>reused by '
        "this run from history<i></i>stored by other runs · dashed: the bound, shaded: the "
        "failing side</p>"
    )
    notes = "".join(_note(note) for note in report.notes)
    figures = "".join(_figure(report, chart) for chart in report.charts)
    title = f"Metric history ({len(report.charts)} metrics)"
    return _section("metrics", title, f'{legend}{notes}<div class="charts">{figures}</div>')


def _reconciliation(report: RunReport) -> str:
    rec = report.reconciliation
    if rec is None:
        note = report.reconciliation_note or "No trace source was given."
        return _section("reconciliation", "Store and trace", _note(note))
    rows = [
        [
            _text(row["problem"]),
            _text(row["yyyy_mm_dd"]),
            _text(row["dataset"] or ""),
            _code(row["metric"]),
            "#" + _text(format_exact(row["db_value"])),
            "#" + _text(format_exact(row["trace_value"])),
            _text(row["differs"]),
        ]
        for row in reconciliation_rows(rec)
    ]
    headers = ("problem", "date", "dataset", "metric", "db value", "trace value", "differs")
    counts = (
        f"{len(rec.matched):,} matched, {len(rec.missing_in_db):,} only in the trace, "
        f"{len(rec.missing_in_trace):,} only in the store, {len(rec.mismatched):,} differ."
    )
    body = f'<p data-ok="{str(bool(rec.ok)).lower()}">{_text(rec.summary)}</p>{_note(counts)}' + (
        _table(headers, rows) if rows else ""
    )
    return _section("reconciliation", f"Store and trace: {'agree' if rec.ok else 'DISAGREE'}", body)


def _statements(report: RunReport) -> str:
    body = "".join(_statement(report, i) for i in range(len(report.statements)))
    title = f"SQL statements ({len(report.statements)})"
    return _section("statements", title, _note(report.statements_note) + body)


def render_html(report: RunReport) -> str:
    """The whole page."""
    try:
        dqx_version = version("dqx")
    except PackageNotFoundError:
        dqx_version = "unknown"
    run = report.run
    title = f"dqx · {run.suite} · {run.yyyy_mm_dd.isoformat()} · {run.status}"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_text(title)}</title><style>{_CSS}</style></head><body><main>",
            _header(report),
            _failures(report),
            _charts(report),
            _assertions(report),
            _reconciliation(report),
            _statements(report),
            f"<footer>dqx {_text(dqx_version)} · report written {_when(report.generated)} · "
            "values are rounded for reading; hover one for its exact float</footer>",
            "</main></body></html>",
        ]
    )
