"""Progress while statements run: DuckDB's own bar never prints from the library; the
CLI shows one line per statement on a terminal, fed by the engine, and nothing of the
kind off a terminal."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import duckdb
import pytest
from rich.console import Console

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.cli.datasets import observed_sources
from dqx.cli.progress import ScanProgress
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB

DAY = dt.date(2024, 3, 10)
#: Rows enough for a scan of a few seconds on a loaded machine, so that the engine's
#: progress is read more than once while it runs.
ROWS = 300_000_000


@check(name="Orders")
def orders(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.average("price")).where(name="price").is_gt(0)


def long_view(connection: duckdb.DuckDBPyConnection) -> None:
    connection.execute(
        f"CREATE VIEW orders AS SELECT (i % 9973)::DOUBLE AS price FROM range({ROWS}) t(i)"
    )


def test_duckdbs_own_progress_bar_never_prints(capfd: pytest.CaptureFixture[str]) -> None:
    # A connection set up as an interactive session sets it: the bar on, shown at once.
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = true")
    connection.execute("SET progress_bar_time = 10")
    long_view(connection)
    source = DuckRelationDataSource(connection, "orders", "orders")
    suite = VerificationSuite([orders], InMemoryMetricDB(), "quiet")
    suite.run([source], ResultKey(DAY))
    assert [r.status for r in suite.collect_results()] == ["OK"]
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_a_watched_duckdb_source_reports_the_engines_progress() -> None:
    connection = duckdb.connect()
    long_view(connection)
    source = DuckRelationDataSource(connection, "orders", "orders")
    seen: list[float] = []
    source.on_progress = seen.append
    [(rows,)] = source.execute('SELECT COUNT(*) FROM "orders" WHERE "price" >= $p', {"p": 0})
    assert rows == ROWS
    assert seen, "a scan of seconds reported no progress"
    assert all(0 <= percent <= 100 for percent in seen)
    assert seen == sorted(seen)


def run_cli_sources(tmp_path: Path, console: Console) -> None:
    path = tmp_path / "orders.duckdb"
    with duckdb.connect(str(path)) as connection:
        long_view(connection)
    progress = ScanProgress(console, ["orders"])
    with progress:
        sources = observed_sources({"orders": f"duckdb:///{path}#orders"}, {}, progress)
        suite = VerificationSuite([orders], InMemoryMetricDB(), "cli")
        suite.run(sources, ResultKey(DAY))
    for source in sources:
        source.close()
    assert [r.status for r in suite.collect_results()] == ["OK"]


def test_on_a_terminal_each_statement_gets_a_line_with_the_engines_progress(
    tmp_path: Path,
) -> None:
    out = io.StringIO()
    run_cli_sources(tmp_path, Console(file=out, force_terminal=True, width=120))
    shown = out.getvalue()
    assert "orders: statement 1" in shown
    assert "orders: statement 1, " in shown and "%" in shown


def test_off_a_terminal_only_the_dataset_is_named(tmp_path: Path) -> None:
    out = io.StringIO()
    run_cli_sources(tmp_path, Console(file=out, force_terminal=False, width=120))
    assert out.getvalue() == "scanning dataset 'orders' (1/1)\n"
