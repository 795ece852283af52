"""``ReportPlugin``: the HTML report of every run, written when the run finishes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from dqx.report.html import render_html
from dqx.report.model import DEFAULT_DAYS, report_from_result

if TYPE_CHECKING:
    from dqx.orm.repositories import MetricDB
    from dqx.records import SuiteResult

__all__ = ["ReportPlugin"]


class ReportPlugin:
    """Writes the run's HTML report (see :mod:`dqx.report`) after each run.

    ``path`` may name the run's fields, ``{execution_id}``, ``{suite}`` and ``{date}``,
    so each run keeps its own file (``reports/{date}-{execution_id}.html``); a fixed
    path is overwritten by every run. ``db`` (the suite's store) adds the history of
    the days the run did not use; without it the charts show the run's own values.
    ``only_failures`` leaves out the assertions that passed and the metrics only they
    use. The store is not compared with the trace here: the trace is still being
    exported while plugins run; ``dqx report ID --trace-file ...`` does that later.
    """

    name = "html-report"

    def __init__(
        self,
        path: str | Path,
        *,
        db: MetricDB | None = None,
        days: int = DEFAULT_DAYS,
        only_failures: bool = False,
        jaeger: str | None = None,
        grafana: str | None = None,
        runbook_base_url: str | None = None,
    ) -> None:
        self._path = str(path)
        self._db = db
        self._days = days
        self._only_failures = only_failures
        self._jaeger, self._grafana, self._runbooks = jaeger, grafana, runbook_base_url
        #: Where the last report was written.
        self.written: Path | None = None

    def path_for(self, result: SuiteResult) -> Path:
        return Path(
            self._path.format(
                execution_id=result.execution_id,
                suite=result.suite,
                date=result.key.yyyy_mm_dd.isoformat(),
            )
        )

    def after_run(self, result: SuiteResult) -> None:
        report = report_from_result(
            result,
            self._db,
            days=self._days,
            only_failures=self._only_failures,
            jaeger=self._jaeger,
            grafana=self._grafana,
            runbook_base_url=self._runbooks,
        )
        path = self.path_for(result)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_html(report), encoding="utf-8")
        self.written = path
