"""The HTML run report: one self-contained file an on-call engineer can open anywhere.

It shows the run's header (suite, date, tags, status, counts, execution id, trace and
runbook links), the failures first, grouped by severity, each with its expression,
value, bound, the charts of its metrics and the SQL that computed them; a chart of
every metric's history over the last days (one point per stored day, this run's
point and the lagged points it reused marked, the bound drawn in); every assertion;
the store reconciled with the trace when a trace source is given; every statement.

* ``ReportPlugin(path, db=db)``: written after each run;
* :func:`write_report` / ``dqx report EXECUTION_ID --out report.html``: for a past run,
  from the metric store (and its trace).

Modules: :mod:`~dqx.report.model` gathers, :mod:`~dqx.report.charts` draws the SVG,
:mod:`~dqx.report.html` writes the page, :mod:`~dqx.report.plugin` is the plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dqx.report.html import render_html
from dqx.report.model import DEFAULT_DAYS, RunReport, report_from_result, report_from_store
from dqx.report.plugin import ReportPlugin

if TYPE_CHECKING:
    from dqx.orm.repositories import MetricDB
    from dqx.traces.model import TraceSource

__all__ = [
    "ReportPlugin",
    "RunReport",
    "render_html",
    "report_from_result",
    "report_from_store",
    "write_report",
]


def write_report(
    db: MetricDB,
    execution_id: str,
    path: str | Path,
    *,
    trace: TraceSource | None = None,
    days: int = DEFAULT_DAYS,
    only_failures: bool = False,
    jaeger: str | None = None,
    grafana: str | None = None,
    runbook_base_url: str | None = None,
) -> RunReport:
    """Write the report of run ``execution_id`` from ``db`` (and ``trace``) to ``path``."""
    report = report_from_store(
        db,
        execution_id,
        trace=trace,
        days=days,
        only_failures=only_failures,
        jaeger=jaeger,
        grafana=grafana,
        runbook_base_url=runbook_base_url,
    )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(report), encoding="utf-8")
    return report
