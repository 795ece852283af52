"""Whole daily runs over several days: lags, history reuse, snapshots; SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import statistics

import pyarrow as pa
import pytest
from returns.result import Success

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB

DAY = dt.date(2024, 9, 30)
DAYS = [DAY - dt.timedelta(days=n) for n in range(10, -1, -1)]


def day_rows(day: dt.date) -> list[float]:
    seed = day.toordinal()
    return [float((seed * 7 + i * 13) % 50) + 0.25 for i in range(5 + seed % 4)]


def history_table() -> pa.Table:
    days, prices = [], []
    for day in DAYS:
        rows = day_rows(day)
        days += [day] * len(rows)
        prices += rows
    return pa.table({"yyyy_mm_dd": pa.array(days, pa.date32()), "price": prices})


@check(name="Trends", severity="P2")
def trends(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.ext.day_over_day(mp.num_rows())).where(name="rows dod").is_lt(10)
    ctx.assert_that(mp.ext.week_over_week(mp.sum("price"))).where(name="sum wow").is_lt(10)
    ctx.assert_that(mp.ext.stddev(mp.average("price"), n=7)).where(name="avg sd").is_lt(100)
    ctx.assert_that(mp.sum("price") - mp.sum("price", lag=1)).where(name="delta").is_gt(-1e6)


def test_daily_runs_reuse_history_and_match_python(store: MetricDB) -> None:
    table = history_table()
    yesterday = DAY - dt.timedelta(days=1)
    first = VerificationSuite([trends], store, "daily")
    first.run([DuckRelationDataSource.from_arrow(table, "sales")], ResultKey(yesterday))
    [statement] = first.statements
    # Every lag of the first run is computed in the run's one statement.
    assert statement.dates == tuple(yesterday - dt.timedelta(days=n) for n in range(7, -1, -1))

    second = VerificationSuite([trends], store, "daily")
    second.run([DuckRelationDataSource.from_arrow(table, "sales")], ResultKey(DAY))
    [statement] = second.statements
    # History holds everything but today and sum(price) seven days back.
    assert statement.dates == (DAY - dt.timedelta(days=7), DAY)

    def rows(lag: int) -> list[float]:
        return day_rows(DAY - dt.timedelta(days=lag))

    results = {r.assertion: r for r in second.collect_results()}
    assert results["rows dod"].value == Success((len(rows(0)) - len(rows(1))) / len(rows(1)))
    assert results["sum wow"].value == Success((sum(rows(0)) - sum(rows(7))) / sum(rows(7)))
    averages = [statistics.fmean(rows(lag)) for lag in range(7)]
    assert results["avg sd"].number == pytest.approx(statistics.stdev(averages), rel=1e-12)
    assert results["delta"].value == Success(sum(rows(0)) - sum(rows(1)))
    assert all(r.status == "OK" and r.severity == "P2" for r in results.values())


def test_a_snapshot_has_no_past_until_history_has_it(store: MetricDB) -> None:
    @check(name="Snapshot")
    def snapshot(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.num_rows())).where(name="growth").is_lt(1)
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)

    yesterday = DAY - dt.timedelta(days=1)
    before = VerificationSuite([snapshot], store, "snap")
    before.run(
        [DuckRelationDataSource.from_arrow(pa.table({"x": [1, 2, 3, 4]}), "users")],
        ResultKey(yesterday, {"env": "prod"}),
    )
    first = {r.assertion: r for r in before.collect_results()}
    assert first["rows"].status == "OK"
    # Warm-up: the day before the first run is not in history yet.
    assert first["growth"].status == "SKIPPED"
    message = first["growth"].message
    assert "'users'" in message and "num_rows()" in message
    assert (yesterday - dt.timedelta(days=1)).isoformat() in message

    today = VerificationSuite([snapshot], store, "snap")
    today.run(
        [DuckRelationDataSource.from_arrow(pa.table({"x": [1, 2, 3, 4, 5]}), "users")],
        ResultKey(DAY, {"env": "prod"}),
    )
    results = {r.assertion: r for r in today.collect_results()}
    assert results["growth"].value == Success((5 - 4) / 4)
    [statement] = today.statements
    assert statement.dates == (DAY,)

    # History is per tags: another environment has none.
    other = VerificationSuite([snapshot], store, "snap")
    other.run(
        [DuckRelationDataSource.from_arrow(pa.table({"x": [1]}), "users")],
        ResultKey(DAY, {"env": "dev"}),
    )
    assert {r.assertion: r.status for r in other.collect_results()}["growth"] == "SKIPPED"
