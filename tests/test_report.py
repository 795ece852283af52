"""The HTML run report: what it gathers (charts, links to SQL) and what it writes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import DQXError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from dqx.report import ReportPlugin, render_html, report_from_store, write_report
from dqx.traces import InMemoryTraceSource
from tests.support.runs import Traced

LAST = dt.date(2024, 6, 10)
DAYS = 6


def prices(last_price: float = 10.0) -> DuckRelationDataSource:
    """DAYS days of ten orders; the last day's price is ``last_price``."""
    days = [LAST - dt.timedelta(days=d) for d in range(DAYS) for _ in range(10)]
    price = [last_price if day == LAST else 10.0 for day in days]
    return DuckRelationDataSource.from_arrow(
        pa.table({"yyyy_mm_dd": days, "price": price, "email": ["a@x.io"] * len(days)}), "shop"
    )


@check(name="Prices <main>", severity="P0")
def price_checks(mp: MetricProvider, ctx: Context) -> None:
    average = mp.average("price")
    ctx.assert_that(mp.ext.day_over_day(average)).where(name="steady").is_between(-0.2, 0.2)
    ctx.assert_that(mp.num_rows()).where(name="rows", severity="P2").is_gt(0)
    ctx.assert_that(mp.null_count("email") / mp.num_rows()).where(name="emails").is_lt(0.5)


def history(db: MetricDB, traced: Traced | None = None) -> VerificationSuite:
    """Daily runs before LAST, then LAST with prices doubled; returns the last suite."""
    provider = traced.provider if traced else None
    for offset in range(DAYS - 1, 0, -1):
        day = LAST - dt.timedelta(days=offset)
        VerificationSuite([price_checks], db, "Shop", tracer_provider=provider).run(
            [prices()], ResultKey(day, {"env": "test"})
        )
    suite = VerificationSuite([price_checks], db, "Shop", tracer_provider=provider)
    suite.run([prices(20.0)], ResultKey(LAST, {"env": "test"}))
    return suite


def test_the_report_from_the_store_marks_this_run_and_its_reused_history(db: MetricDB) -> None:
    suite = history(db)
    report = report_from_store(db, suite.execution_id, days=DAYS)
    assert [view.record.assertion for view in report.failures] == ["steady"]
    average = next(chart for chart in report.charts if chart.name == "average(price)")
    marks = {point.yyyy_mm_dd: point.mark for point in average.points}
    # Today computed by the run; yesterday reused from history for the day-over-day.
    assert marks[LAST] == "run" and marks[LAST - dt.timedelta(days=1)] == "history"
    assert set(marks.values()) == {"run", "history", "stored"}
    assert len(average.points) == DAYS
    dod = next(chart for chart in report.charts if chart.name.startswith("day_over_day"))
    assert dod.failing and dod.bound is not None and (dod.bound.low, dod.bound.high) == (-0.2, 0.2)
    assert report.charts[0].failing  # the failing metrics come first
    # Each failure links to the statement that computed its metrics, stored with the run.
    [steady] = report.failures
    assert steady.statements and all(
        "average(price)" in report.statements[i].metrics for i in steady.statements
    )
    assert report.statements_note == "as the metric store recorded them"


def test_the_page_escapes_user_text_and_fetches_nothing(db: MetricDB) -> None:
    suite = history(db)
    page = render_html(report_from_store(db, suite.execution_id, jaeger="http://jaeger:16686"))
    assert "Prices &lt;main&gt;" in page and "Prices <main>" not in page
    assert "default-src 'none'" in page  # the policy forbids every fetch
    # No reference to anything outside the page: links only, never a src or an import.
    assert not re.search(r"""\ssrc=|@import|url\(|<script|<link""", page)
    assert f'href="http://jaeger:16686/trace/{suite.execution_id}"' in page
    assert "+100%" in page and "between -20% and +20%" in page  # the change, for people
    assert 'title="1.0"' in page  # the exact float is one hover away
    assert page.count('class="failure FAILURE"') == 1


def test_only_failures_keeps_what_did_not_pass_and_its_metrics(db: MetricDB) -> None:
    suite = history(db)
    report = report_from_store(db, suite.execution_id, only_failures=True)
    assert [view.record.assertion for view in report.assertions] == ["steady"]
    assert {chart.name for chart in report.charts} == {
        "average(price)",
        "day_over_day(average(price))",
    }


def test_the_plugin_writes_each_run_to_its_own_file(db: MetricDB, tmp_path: Path) -> None:
    plugin = ReportPlugin(tmp_path / "reports" / "{date}-{execution_id}.html", db=db)
    suite = VerificationSuite([price_checks], db, "Shop", plugins=[plugin])
    suite.run([prices()], ResultKey(LAST, {"env": "test"}))
    assert plugin.written == tmp_path / "reports" / f"{LAST}-{suite.execution_id}.html"
    page = plugin.written.read_text()
    assert "Every assertion passed." in page and "as the run executed them" in page
    alone = ReportPlugin(tmp_path / "alone.html")
    alone.after_run(suite.result)  # type: ignore[arg-type]
    assert "No metric store was given" in (tmp_path / "alone.html").read_text()


def test_with_a_trace_the_report_reconciles_and_reads_sql_the_store_lacks(
    db: MetricDB, traced: Traced, tmp_path: Path
) -> None:
    suite = history(db, traced)
    source = InMemoryTraceSource(traced.exporter)
    report = write_report(db, suite.execution_id, tmp_path / "r.html", trace=source)
    assert report.reconciliation is not None and report.reconciliation.ok
    assert 'data-ok="true"' in (tmp_path / "r.html").read_text()
    # A run recorded before dq_statement existed: its SQL comes from its trace.
    with db.engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM dq_statement")
    again = report_from_store(db, suite.execution_id, trace=source)
    assert again.statements and "read from the run's trace" in again.statements_note
    assert all(s.dataset == "shop" and s.sql.startswith("SELECT") for s in again.statements)
    assert again.failures[0].statements  # linked by dataset
    without = report_from_store(db, suite.execution_id)
    assert without.statements == [] and "pass a trace source" in without.statements_note


def test_an_unknown_run_and_an_empty_window_are_refused(db: MetricDB) -> None:
    with pytest.raises(DQXError, match="no run"):
        report_from_store(db, "0" * 32)
    suite = history(db)
    with pytest.raises(DQXError, match="at least one day"):
        report_from_store(db, suite.execution_id, days=0)


def test_skipped_and_anomaly_assertions_show_their_reason_and_band(db: MetricDB) -> None:
    @check(name="History")
    def history_checks(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.week_over_week(mp.num_rows())).where(name="wow").is_lt(1)
        ctx.assert_that(mp.average("price")).where(name="usual").is_not_anomalous(window=7)

    source = prices(20.0)
    for offset in range(DAYS - 1, -1, -1):
        suite = VerificationSuite([history_checks], db, "Shop")
        suite.run([source], ResultKey(LAST - dt.timedelta(days=offset), {"env": "test"}))
    report = report_from_store(db, suite.execution_id, days=DAYS)
    statuses = {view.record.assertion: view.record.status for view in report.assertions}
    # Six days of data: last week is not there yet; five days of history, short of seven.
    assert statuses == {"wow": "SKIPPED", "usual": "SKIPPED"}
    assert report.failures == []  # skipped is not failed
    page = render_html(report)
    assert "2 skipped" in page
    assert "not in history yet" in page and "is_not_anomalous needs 7 of the 7 days" in page


@pytest.mark.parametrize("base", [None, "docs/runbooks"], ids=["unset", "repository-default"])
def test_an_unpublished_runbook_is_named_as_text_not_a_dead_link(
    db: MetricDB, base: str | None
) -> None:
    suite = history(db)
    page = render_html(report_from_store(db, suite.execution_id, runbook_base_url=base))
    # A report file opened from anywhere cannot resolve a repository path.
    assert 'href="docs/runbooks' not in page
    assert "<code>docs/runbooks/assertion-failed.md</code>" in page
    assert "DQX_RUNBOOK_BASE_URL" in page


def test_a_published_runbook_is_linked(db: MetricDB) -> None:
    suite = history(db)
    base = "https://runbooks.example/dqx"
    page = render_html(report_from_store(db, suite.execution_id, runbook_base_url=base))
    assert f'href="{base}/assertion-failed.md"' in page
    assert "DQX_RUNBOOK_BASE_URL" not in page


def test_a_run_that_executed_no_sql_is_not_said_to_predate_the_statement_store(
    db: MetricDB,
) -> None:
    # A re-evaluation and a backfill's later day execute nothing, by design.
    suite = history(db)
    again = VerificationSuite([price_checks], db, "Shop").evaluate_execution(suite.execution_id)
    note = report_from_store(db, again.execution_id, days=DAYS).statements_note
    assert note.startswith("A re-evaluation reads no data") and suite.execution_id in note

    backfill = VerificationSuite([price_checks], db, "Shop backfill")
    days = backfill.run_range([prices()], LAST - dt.timedelta(days=2), LAST).days
    assert [len(day.statements) > 0 for day in days] == [True, False, False]
    note = report_from_store(db, days[1].execution_id, days=DAYS).statements_note
    assert "predates" not in note and "a backfill day other than the first" in note
