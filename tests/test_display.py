"""Terminal rendering: user text verbatim, values rounded for reading by one rule
(dqx.humanize); machine outputs keep the exact float."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
from returns.result import Success
from rich.console import Console
from rich.table import Table

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import SymbolInfo
from dqx.data import reconcile
from dqx.datasource import DuckRelationDataSource
from dqx.display import (
    TerminalReport,
    reconciliation_rows,
    reconciliation_table,
    results_table,
    runs_table,
    symbols_table,
)
from dqx.orm.repositories import InMemoryMetricDB
from dqx.traces import InMemoryTraceSource
from tests.support.runs import Traced


def text(table: Table) -> str:
    console = Console(width=240, record=True)
    console.print(table)
    return console.export_text()


@check(name="Keys [strict]", severity="P0")
def keys(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.duplicate_count(["order_id"])).where(name="[order_id] unique").is_zero()
    ctx.assert_that(mp.average("price")).where(name="price", severity="P2").is_lt(1)


def run_suite(db: InMemoryMetricDB, tracer_provider: object = None) -> VerificationSuite:
    table = pa.table({"order_id": [1, 1, 2], "price": [0.1, 0.2, 0.30000000000000004]})
    suite = VerificationSuite([keys], db, "Shop", tracer_provider=tracer_provider)  # type: ignore[arg-type]
    suite.run([DuckRelationDataSource.from_arrow(table, "orders")], ResultKey(dt.date(2024, 2, 1)))
    return suite


def test_results_table_prints_user_text_literally_and_failures_first() -> None:
    suite = run_suite(InMemoryMetricDB())
    rendered = text(results_table(suite.collect_results()))
    lines = [line for line in rendered.splitlines() if "Keys [strict]" in line]
    assert "FAILURE" in lines[0] and "[order_id] unique" in lines[0]
    # The exact average is 0.20000000000000004: the table rounds it for reading.
    assert "OK" in lines[1] and "│   0.2 │" in lines[1]


def test_runs_table_lists_each_run_with_counts() -> None:
    db = InMemoryMetricDB()
    suite = run_suite(db)
    rendered = text(runs_table(db.runs()))
    [row] = [line for line in rendered.splitlines() if suite.execution_id in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[1:3] == ["Shop", "2024-02-01"]
    assert cells[4:10] == [
        "failed",
        "1",
        "1",
        "0",
        "0",
        str(len(db.metrics_for_execution(suite.execution_id))),
    ]


def test_reconciliation_rows_name_each_metric_the_database_lost(traced: Traced) -> None:
    traced_db = InMemoryMetricDB()
    suite = run_suite(traced_db, traced.provider)
    # A second database that never received the run's metrics: all of them are lost.
    empty = InMemoryMetricDB()
    rec = reconcile(empty, suite.execution_id, InMemoryTraceSource(traced.exporter))
    rows = reconciliation_rows(rec)
    assert {r["problem"] for r in rows} == {"missing_in_db"}
    assert sorted(r["metric"] for r in rows) == sorted(
        m.name for m in traced_db.metrics_for_execution(suite.execution_id)
    )
    rendered = text(reconciliation_table(rec))
    assert "duplicate_count([order_id])" in rendered and "missing_in_db" in rendered


def test_metrics_read_from_the_database_alone_say_so() -> None:
    # The table says "db" as the CLI's JSON and CSV do, not an empty origin.
    symbol = SymbolInfo(
        name="m_1",
        metric="num_rows()",
        dataset="orders",
        value=Success(4.0),
        yyyy_mm_dd=dt.date(2024, 1, 3),
        tags={"__execution_id": "0" * 32},
        suite="s",
    )
    row = next(line for line in text(symbols_table([symbol])).splitlines() if "m_1" in line)
    assert row.split("│")[-2].strip() == "db"


def test_the_terminal_report_plugin_prints_each_runs_table_and_summary() -> None:
    console = Console(width=240, record=True)
    suite = VerificationSuite(
        [keys], InMemoryMetricDB(), "Keyed", plugins=[TerminalReport(console)]
    )
    table = pa.table({"order_id": [1, 1, 2], "price": [0.1, 0.2, 0.30000000000000004]})
    suite.run([DuckRelationDataSource.from_arrow(table, "orders")], ResultKey(dt.date(2024, 1, 5)))
    shown = console.export_text()
    assert "Keyed for 2024-01-05" in shown
    assert "[order_id] unique" in shown and "Keys [strict]" in shown
    assert "│   0.2 │" in shown  # the average, rounded for reading
    assert suite.execution_id in shown


@check(name="Contacts", severity="P2")
def contacts(mp: MetricProvider, ctx: Context) -> None:
    share = mp.null_count("email") / mp.num_rows()
    ctx.assert_that(share).where(name="emails set").is_lt(0.05)
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(1000)
    ctx.assert_that(mp.sum("amount")).where(name="amount").is_gt(0)


def test_values_read_as_people_read_them_and_only_failures_can_be_listed() -> None:
    console = Console(width=240, record=True)
    report = TerminalReport(console, only_failures=True)
    suite = VerificationSuite([contacts], InMemoryMetricDB(), "Contacts", plugins=[report])
    rows = 1500
    table = pa.table(
        {
            "email": [None if i % 4 == 0 else "a@x.io" for i in range(rows)],
            "amount": [1234.5] * rows,
        }
    )
    suite.run([DuckRelationDataSource.from_arrow(table, "people")], ResultKey(dt.date(2024, 1, 5)))
    shown = console.export_text()
    # A share of rows is a percentage, its bound too; the passing assertions are not listed.
    [emails] = [line for line in shown.splitlines() if "emails set" in line]
    assert "25%" in emails and "< 5%" in emails
    assert "│ rows " not in shown and "amount" not in shown
    assert "2 ok, 1 failed, 0 errors, 0 skipped (the 2 ok not listed)" in shown
    everything = text(results_table(suite.collect_results()))
    assert "1,500" in everything and "1,851,750" in everything


def test_a_run_over_the_row_limit_lists_what_did_not_pass_and_counts_the_rest() -> None:
    def shown(report_of: Console, max_rows: int | None) -> str:
        report = TerminalReport(report_of, max_rows=max_rows)
        suite = VerificationSuite([contacts], InMemoryMetricDB(), "Contacts", plugins=[report])
        table = pa.table({"email": [None, "a@x.io"], "amount": [1.0, 2.0]})
        suite.run(
            [DuckRelationDataSource.from_arrow(table, "people")], ResultKey(dt.date(2024, 1, 5))
        )
        return report_of.export_text()

    # Three assertions over two rows, two failing: over a limit of two, the pass goes.
    over = shown(Console(width=240, record=True), max_rows=2)
    assert "emails set" in over and "│ rows " in over and "amount" not in over
    assert (
        "1 ok, 2 failed, 0 errors, 0 skipped (the 1 ok not listed: more than 2 assertions; "
        "TerminalReport(max_rows=None) lists them)"
    ) in over
    at_limit = shown(Console(width=240, record=True), max_rows=3)
    assert "amount" in at_limit and "not listed" not in at_limit
    unlimited = shown(Console(width=240, record=True), max_rows=None)
    assert "amount" in unlimited and "not listed" not in unlimited
