"""Backfills: ``suite.run_range`` over real DuckDB sources and real metric stores.

Every day's values are checked against pyarrow on that day's rows, every day's run
against its own trace, and day N+1's lags against what day N recorded.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.backfill import MAX_DAYS, BackfillError
from dqx.common import DefinitionError, StoreError, SuiteStateError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from tests.support.runs import Traced

FIRST = dt.date(2024, 1, 1)
SINCE = dt.date(2024, 1, 5)
UNTIL = dt.date(2024, 1, 14)
DAYS = [SINCE + dt.timedelta(days=n) for n in range((UNTIL - SINCE).days + 1)]
#: A day with no rows at all, inside the range.
EMPTY = dt.date(2024, 1, 9)


def _table() -> pa.Table:
    dates: list[dt.date] = []
    for offset in range(20):
        day = FIRST + dt.timedelta(days=offset)
        if day != EMPTY:
            dates.extend([day] * (offset % 5 + 2))
    return pa.table(
        {
            "day": dates,
            "price": [float(i % 13) + i / 7 for i in range(len(dates))],
            "email": [None if i % 3 == 0 else f"u{i % 5}" for i in range(len(dates))],
        }
    )


TABLE = _table()


def _orders() -> DuckRelationDataSource:
    return DuckRelationDataSource.from_arrow(TABLE, "orders", date_column="day")


@check(name="Orders", severity="P1")
def orders(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_geq(0)
    ctx.assert_that(mp.sum("price")).where(name="sum").is_geq(0)
    ctx.assert_that(mp.null_count("email")).where(name="nulls").is_geq(0)
    ctx.assert_that(mp.unique_count("email")).where(name="distinct").is_geq(0)
    ctx.assert_that(mp.num_rows(lag=1)).where(name="rows yesterday").is_geq(0)
    ctx.assert_that(mp.ext.day_over_day(mp.num_rows())).where(name="dod").is_gt(-10)


def _expected(day: dt.date) -> dict[str, float | None]:
    """The day's values, from pyarrow alone."""
    rows = TABLE.filter(pc.equal(TABLE["day"], pa.scalar(day)))
    emails = rows["email"].drop_null()
    return {
        "rows": float(rows.num_rows),
        "sum": pc.sum(rows["price"]).as_py() if rows.num_rows else None,
        "nulls": float(rows["email"].null_count),
        "distinct": float(len(pc.unique(emails))),
    }


def _values(result: Any) -> dict[str, float | None]:
    return {r.assertion: r.number for r in result.results}


def test_every_day_is_its_own_recorded_run_with_the_values_pyarrow_computes(
    store_url: str,
) -> None:
    db = MetricDB(store_url)
    try:
        suite = VerificationSuite([orders], db, "backfill")
        backfilled = suite.run_range([_orders()], SINCE, UNTIL, tags={"env": "test"})
        assert [day.key.yyyy_mm_dd for day in backfilled.days] == DAYS
        ids = backfilled.execution_ids
        assert len(set(ids.values())) == len(DAYS)
        for result in backfilled.days:
            day = result.key.yyyy_mm_dd
            got = _values(result)
            want = _expected(day)
            assert got["rows"] == want["rows"]
            assert got["nulls"] == want["nulls"]
            assert got["distinct"] == want["distinct"]
            if want["sum"] is None:
                assert day == EMPTY
                assert next(r for r in result.results if r.assertion == "sum").status == "ERROR"
            else:
                assert got["sum"] == pytest.approx(want["sum"], rel=1e-12)
            assert result.key.identity_tags == {"env": "test"}
            record = db.run(result.execution_id)
            assert record is not None and record.yyyy_mm_dd == day
            assert record.status == result.status
            stored = {m.name for m in db.metrics_for_execution(result.execution_id)}
            assert "num_rows()" in stored
        assert suite.result is backfilled.days[-1]
    finally:
        db.dispose()


def test_day_n_plus_one_reads_day_n_from_the_same_backfill(store: MetricDB) -> None:
    db = store
    backfilled = VerificationSuite([orders], db, "backfill").run_range([_orders()], SINCE, UNTIL)
    by_day = {day.key.yyyy_mm_dd: day for day in backfilled.days}
    for day in DAYS[1:]:
        today, yesterday = by_day[day], by_day[day - dt.timedelta(days=1)]
        assert _values(today)["rows yesterday"] == _values(yesterday)["rows"]
        # The lagged value is day N's own record, read back from the store.
        lagged = [
            m
            for m in today.metrics
            if m.name == "num_rows()" and m.yyyy_mm_dd == day - dt.timedelta(days=1)
        ]
        assert [(m.origin, m.source_execution_id) for m in lagged] == [
            ("history", yesterday.execution_id)
        ]
        rows, before = _expected(day)["rows"], _expected(day - dt.timedelta(days=1))["rows"]
        assert rows is not None and before is not None
        dod = next(r for r in today.results if r.assertion == "dod")
        if before:
            assert dod.number == pytest.approx((rows - before) / before)
        else:
            assert dod.status == "ERROR"
    # The day before the range was computed, in the first batch, from the data.
    first = _values(by_day[SINCE])["rows yesterday"]
    assert first == _expected(SINCE - dt.timedelta(days=1))["rows"]


def test_days_are_computed_in_batches_of_statements(db: MetricDB) -> None:
    suite = VerificationSuite([orders], db, "backfill")
    backfilled = suite.run_range([_orders()], SINCE, UNTIL, batch_days=4)
    # Three batches (4 + 4 + 2 days), each one shared and one grouped statement, run by
    # the batch's first day; the first batch also reads the day before the range.
    statements = backfilled.statements
    assert len(statements) == 6
    assert [len(day.statements) for day in backfilled.days] == [2, 0, 0, 0, 2, 0, 0, 0, 2, 0]
    assert set(statements[0].dates) == {SINCE - dt.timedelta(days=1), *DAYS[:4]}
    assert set(statements[2].dates) == set(DAYS[4:8])
    assert set(statements[4].dates) == set(DAYS[8:])
    assert db.statements(backfilled.days[0].execution_id)[0].dates == statements[0].dates


def test_a_year_takes_a_handful_of_statements(db: MetricDB) -> None:
    dates = [dt.date(2023, 1, 1) + dt.timedelta(days=n) for n in range(365) for _ in range(2)]
    table = pa.table({"day": dates, "price": [float(i) for i in range(len(dates))]})
    source = DuckRelationDataSource.from_arrow(table, "orders", date_column="day")

    @check(name="Sum")
    def total(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.sum("price")).where(name="sum").is_geq(0)

    backfilled = VerificationSuite([total], db, "year").run_range(
        [source], dt.date(2023, 1, 1), dt.date(2023, 12, 31)
    )
    assert len(backfilled.days) == 365
    assert len(backfilled.statements) == 1
    for index, result in enumerate(backfilled.days):
        assert _values(result)["sum"] == float(4 * index + 1)


def test_each_day_has_its_own_trace_whose_id_is_its_execution_id(
    db: MetricDB, traced: Traced
) -> None:
    suite = VerificationSuite([orders], db, "backfill", tracer_provider=traced.provider)
    backfilled = suite.run_range([_orders()], SINCE, dt.date(2024, 1, 7))
    roots = [span for span in traced.spans() if span.parent is None]
    assert len(roots) == 3
    for result in backfilled.days:
        spans = traced.spans(result.execution_id)
        (root,) = [span for span in spans if span.parent is None]
        assert root.context is not None
        assert f"{root.context.trace_id:032x}" == result.execution_id
        attributes = dict(root.attributes or {})
        assert result.key.yyyy_mm_dd.isoformat() in attributes.values()
    # Only the first day's analyze phase ran statements; the others took the batch's
    # values from memory.
    statements = {
        f"{span.context.trace_id:032x}": dict(span.attributes or {})["dqx.statement.count"]
        for span in traced.named("dqx.analyze")
        if span.context is not None
    }
    ids = [day.execution_id for day in backfilled.days]
    assert statements == dict(zip(ids, [2, 0, 0], strict=True))


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (dt.date(2024, 1, 10), dt.date(2024, 1, 9), "is after its until"),
        (dt.date(2000, 1, 1), dt.date(2000, 1, 1) + dt.timedelta(days=MAX_DAYS), "split the range"),
        (dt.datetime(2024, 1, 1), dt.date(2024, 1, 2), "must be a datetime.date"),
        ("2024-01-01", dt.date(2024, 1, 2), "must be a datetime.date"),
    ],
)
def test_bad_ranges_are_refused_before_anything_is_recorded(
    db: MetricDB, since: Any, until: Any, message: str
) -> None:
    suite = VerificationSuite([orders], db, "backfill")
    with pytest.raises(DefinitionError, match=message):
        suite.run_range([_orders()], since, until)
    assert db.runs() == []


def test_a_source_without_a_date_column_is_refused(db: MetricDB) -> None:
    snapshot = DuckRelationDataSource.from_arrow(TABLE, "orders")
    with pytest.raises(DefinitionError, match=r"'orders'.*without a date column"):
        VerificationSuite([orders], db, "backfill").run_range([snapshot], SINCE, UNTIL)
    assert db.runs() == []


def test_reserved_tags_and_a_suite_that_ran_are_refused(db: MetricDB) -> None:
    suite = VerificationSuite([orders], db, "backfill")
    with pytest.raises(DefinitionError, match="reserved"):
        suite.run_range([_orders()], SINCE, UNTIL, tags={"__mine": "x"})
    with pytest.raises(DefinitionError, match="batch_days"):
        suite.run_range([_orders()], SINCE, UNTIL, batch_days=0)
    suite.run([_orders()], ResultKey(SINCE))
    with pytest.raises(SuiteStateError, match="already ran"):
        suite.run_range([_orders()], SINCE, UNTIL)


class _FailingOnThirdPersist(MetricDB):
    calls = 0

    def persist(self, metrics: Any) -> int:
        self.calls += 1
        if self.calls == 3:
            raise StoreError("disk full")
        return super().persist(metrics)


def test_a_failure_midway_leaves_the_finished_days_recorded(store_url: str) -> None:
    db = _FailingOnThirdPersist(store_url)
    try:
        suite = VerificationSuite([orders], db, "backfill")
        with pytest.raises(BackfillError, match="stopped at 2024-01-07") as caught:
            suite.run_range([_orders()], SINCE, UNTIL)
        error = caught.value
        assert error.day == dt.date(2024, 1, 7)
        assert "resume with since=2024-01-07" in str(error)
        assert [r.key.yyyy_mm_dd for r in error.results] == DAYS[:2]
        statuses = {r.yyyy_mm_dd: r.status for r in db.runs()}
        assert statuses[DAYS[0]] in ("passed", "failed")
        assert statuses[DAYS[1]] in ("passed", "failed")
        assert statuses[DAYS[2]] == "persist_failed"
        assert set(statuses) == set(DAYS[:3])
    finally:
        db.dispose()


@pytest.mark.parametrize(("batch_days", "statements"), [(366, 2), (3, 8)])
def test_recompute_always_takes_lagged_days_from_the_batch_not_the_store(
    db: MetricDB, batch_days: int, statements: int
) -> None:
    suite = VerificationSuite([orders], db, "backfill", recompute="always")
    backfilled = suite.run_range([_orders()], SINCE, UNTIL, batch_days=batch_days)
    # Two statements per batch: the day before a batch is still held, never rescanned.
    assert len(backfilled.statements) == statements
    for result in backfilled.days:
        day = result.key.yyyy_mm_dd
        assert _values(result)["rows yesterday"] == _expected(day - dt.timedelta(days=1))["rows"]
        lagged = [m for m in result.metrics if m.yyyy_mm_dd == day - dt.timedelta(days=1)]
        assert lagged and {m.origin for m in lagged} == {"computed"}


class _InterruptedOn(DuckRelationDataSource):
    """Ctrl-C lands while the statement of a batch reading ``day`` runs."""

    day: dt.date

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if self.day in params.values():
            raise KeyboardInterrupt
        return super().execute(sql, params)


def test_an_interrupt_leaves_the_finished_days_and_the_day_it_hit_recorded(db: MetricDB) -> None:
    import duckdb

    connection = duckdb.connect()
    connection.register("orders", TABLE)
    source = _InterruptedOn(connection, "orders", "orders", date_column="day")
    source.day = DAYS[4]
    suite = VerificationSuite([orders], db, "backfill")
    with pytest.raises(KeyboardInterrupt):
        suite.run_range([source], SINCE, UNTIL, batch_days=4)
    statuses = {r.yyyy_mm_dd: r.status for r in db.runs()}
    assert set(statuses) == set(DAYS[:5])
    assert statuses[DAYS[4]] == "interrupted"
    assert "interrupted" not in [statuses[day] for day in DAYS[:4]]


def test_an_unexpected_error_midway_is_a_backfill_error_saying_what_is_recorded(
    db: MetricDB,
) -> None:
    class Broken(DuckRelationDataSource):
        # A buggy custom source: the rows of the batch reading DAYS[2] come back one
        # column short.
        def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            rows = super().execute(sql, params)
            return [row[:-1] for row in rows] if DAYS[2] in params.values() else rows

    import duckdb

    connection = duckdb.connect()
    connection.register("orders", TABLE)
    source = Broken(connection, "orders", "orders", date_column="day")
    with pytest.raises(BackfillError, match="stopped at 2024-01-07: IndexError") as caught:
        VerificationSuite([orders], db, "backfill").run_range([source], SINCE, UNTIL, batch_days=2)
    assert isinstance(caught.value.__cause__, IndexError)
    assert len(caught.value.results) == 2
    assert {r.yyyy_mm_dd: r.status for r in db.runs()}[DAYS[2]] == "error"


# -- the command line --------------------------------------------------------------------

CLI_CHECKS = """
from dqx import check

@check(name="Orders", severity="P1", datasets=["orders"])
def orders(mp, ctx):
    ctx.assert_that(mp.num_rows()).where(name="rows").is_geq(3)
    ctx.assert_that(mp.num_rows(lag=1)).where(name="rows yesterday").is_geq(0)
"""


def _cli(tmp_path: Any, *args: str, checks: str = CLI_CHECKS) -> Any:
    import os
    import subprocess
    import sys
    from pathlib import Path

    import pyarrow.parquet as pq

    pq.write_table(TABLE, tmp_path / "orders.parquet")
    (tmp_path / "checks.py").write_text(checks)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    environment["COLUMNS"] = "200"
    dqx = Path(sys.executable).with_name("dqx")
    data = ("--data", "orders=orders.parquet", "--date-column", "orders=day")
    return subprocess.run(
        [str(dqx), "run", "checks.py", *data, "--db", "sqlite:///dqx.db", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_dqx_run_since_until_records_each_day_and_exits_by_fail_on(tmp_path: Any) -> None:
    import json

    done = _cli(tmp_path, "--since", "2024-01-05", "--until", "2024-01-14", "--format", "json")
    # 2024-01-06 has 2 rows and 2024-01-09 none (< 3): P1 failures, exit 1.
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert [day["date"] for day in document["days"]] == [d.isoformat() for d in DAYS]
    failed = {day["date"] for day in document["days"] if day["failed"]}
    assert failed == {d.isoformat() for d in DAYS if (_expected(d)["rows"] or 0) < 3}
    assert document["failed"] == len(failed)
    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    try:
        for day in document["days"]:
            record = db.run(day["execution_id"])
            assert record is not None and record.yyyy_mm_dd.isoformat() == day["date"]
            rows = {r["assertion"]: r["value"] for r in day["results"]}
            date = dt.date.fromisoformat(day["date"])
            assert rows["rows"] == _expected(date)["rows"]
            assert rows["rows yesterday"] == _expected(date - dt.timedelta(days=1))["rows"]
    finally:
        db.dispose()
    assert [day["statements"] for day in document["days"]] == [1] + [0] * 9

    table = _cli(tmp_path, "--since", "2024-01-10", "--until", "2024-01-12", "--fail-on", "P0")
    assert table.returncode == 0, table.stderr
    for day in ("2024-01-10", "2024-01-11", "2024-01-12"):
        assert day in table.stdout
    assert "3 day(s) run" in table.stdout


SKIPPING_CHECKS = """
from dqx import check

@check(name="Orders", severity="P1", datasets=["orders"])
def orders(mp, ctx):
    ctx.assert_that(mp.num_rows()).where(name="rows").is_geq(3)
    ctx.assert_that(mp.average("price")).where(name="price", requires="rows").is_gt(0)
"""


@pytest.mark.slow
def test_dqx_run_since_until_table_counts_the_skipped_assertions(tmp_path: Any) -> None:
    import re

    # 2024-01-06 has 2 rows: "rows" fails and "price", which requires it, is SKIPPED.
    table = _cli(tmp_path, "--since", "2024-01-06", "--until", "2024-01-06", checks=SKIPPING_CHECKS)
    assert table.returncode == 1, table.stderr
    header = next(line for line in table.stdout.splitlines() if "execution id" in line)
    assert re.findall(r"\w[\w ]*\w", header) == [
        "date",
        "execution id",
        "status",
        "ok",
        "failed",
        "errors",
        "skipped",
        "statements",
    ]
    row = next(line for line in table.stdout.splitlines() if line.startswith("│ 2024-01-06"))
    assert re.findall(r"│ +(\d+) +", row.split("failed", 1)[1]) == ["0", "1", "0", "1", "1"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2024-01-05"], "--since and --until go together"),
        (
            ["--since", "2024-01-05", "--until", "2024-01-06", "--date", "2024-01-05"],
            "give one or the other",
        ),
        (["--since", "2024-01-06", "--until", "2024-01-05"], "is after its until"),
        (["--since", "2024-01-05", "--until", "2024-13-01"], "2024-13-01"),
    ],
)
def test_dqx_run_refuses_a_bad_range_before_reading_data(
    tmp_path: Any, args: list[str], message: str
) -> None:
    done = _cli(tmp_path, *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert (
        not (tmp_path / "dqx.db").exists()
        or MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}").runs() == []
    )


# -- signals ------------------------------------------------------------------------------


def test_a_signal_between_scans_waits_for_the_next_scan() -> None:
    import os
    import signal

    from dqx.cli.interrupts import StopSignals

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        with StopSignals() as stop:
            with stop.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                bookkeeping_finished = True
                assert stop.received == [signal.SIGTERM]
                with pytest.raises(KeyboardInterrupt, match="SIGTERM"), stop.interruptible():
                    pytest.fail("the scan must not start once a signal waits")
                with stop.interruptible():
                    scanned = True  # the waiting signal was raised once, not again
            assert bookkeeping_finished and scanned
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


@pytest.mark.slow
def test_a_signal_mid_scan_stops_a_backfill_with_the_day_recorded_as_interrupted(
    tmp_path: Any,
) -> None:
    import signal
    import subprocess
    import time

    from tests.support.slow_scan import CHECKS, DAY, dqx_argv, dqx_env, endless_orders, one_line

    (tmp_path / "checks.py").write_text(CHECKS)
    day = dt.date.fromisoformat(DAY)
    db_url = f"sqlite:///{tmp_path / 'dqx.db'}"
    run = subprocess.Popen(
        dqx_argv(
            "run",
            "checks.py",
            "--data",
            endless_orders(tmp_path),
            "--since",
            (day - dt.timedelta(days=2)).isoformat(),
            "--until",
            DAY,
            "--db",
            db_url,
        ),
        cwd=tmp_path,
        env=dqx_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    for line in run.stderr:
        if line.startswith("scanning dataset 'orders'"):
            time.sleep(0.5)  # well inside the query, as tests/reliability/ waits
            break
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 130, out + err
    message = one_line(err)
    assert "interrupted (SIGINT) while analyzing dataset 'orders'" in message
    db = MetricDB(db_url)
    try:
        # The batch's scan was the first day's: it is the one interrupted, none ran after.
        assert [(r.yyyy_mm_dd, r.status) for r in db.runs()] == [
            (day - dt.timedelta(days=2), "interrupted")
        ]
    finally:
        db.dispose()
