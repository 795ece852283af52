"""is_not_anomalous over stored history, and runs marked as bad baselines.

Each test runs on SQLite and PostgreSQL. History is written as earlier runs would have
written it (one computed value per day, each under its own execution id); the band a
run reports is checked against dqx.anomaly on the values it should have used, whose
math tests/test_anomaly.py checks against the definitions.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics

import pyarrow as pa
import pytest
from click.testing import CliRunner

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.anomaly import Band, expected_band
from dqx.cli import main
from dqx.common import StoreError, new_execution_id
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from dqx.records import Metric, RunRecord
from tests.support.runs import Traced

DAY = dt.date(2024, 6, 3)


def store_history(db: MetricDB, values: dict[dt.date, float], execution_id: str = "") -> str:
    """average(price) on dataset 'orders' for each day, as runs would have stored it."""
    run_id = execution_id or new_execution_id()
    db.persist(
        Metric(
            kind="average",
            parameters={"column": "price"},
            name="average(price)",
            dataset="orders",
            yyyy_mm_dd=day,
            tags={},
            value=value,
            execution_id=execution_id or new_execution_id(),
            suite="Shop",
        )
        for day, value in values.items()
    )
    return run_id


def noisy_days(days: int, level: float = 100.0, seed: int = 3) -> dict[dt.date, float]:
    rng = random.Random(seed)
    return {DAY - dt.timedelta(days=d): level + rng.gauss(0, 2) for d in range(1, days + 1)}


@check(name="Prices", severity="P1")
def anomalies(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.average("price")).where(name="avg usual").is_not_anomalous(
        window=28, method="mad", sensitivity=4
    )


def today(*prices: float) -> DuckRelationDataSource:
    return DuckRelationDataSource.from_arrow(pa.table({"price": list(prices)}), "orders")


def run(
    db: MetricDB, source: DuckRelationDataSource, traced: Traced | None = None
) -> VerificationSuite:
    suite = VerificationSuite(
        [anomalies], db, "Shop", tracer_provider=traced.provider if traced else None
    )
    suite.run([source], ResultKey(DAY))
    return suite


def band_of(values: dict[dt.date, float]) -> Band:
    band = expected_band("mad", list(values.items()), DAY, 4.0)
    assert isinstance(band, Band)
    return band


def test_an_anomaly_fails_with_its_band_and_score_everywhere(
    store_url: str, traced: Traced
) -> None:
    db = MetricDB(store_url)
    history = noisy_days(28)
    store_history(db, history)
    expected = band_of(history)

    usual = run(db, today(99.0, 101.0))
    (ok,) = usual.collect_results()
    assert ok.status == "OK" and ok.band == (expected.low, expected.high)

    spike = run(db, today(150.0, 170.0), traced)
    (result,) = spike.collect_results()
    assert result.status == "FAILURE"
    assert result.band == (expected.low, expected.high)
    assert result.score == pytest.approx((160.0 - expected.expected) / expected.scale)
    assert result.bound.startswith(f"between {expected.low!r} and {expected.high!r} (mad")
    [stored] = db.assertions(spike.execution_id)
    assert (stored.band_low, stored.band_high, stored.score) == (
        expected.low,
        expected.high,
        result.score,
    )
    [event] = traced.events("dqx.assertion")
    assert event["dqx.assertion.band.low"] == expected.low
    assert event["dqx.assertion.score"] == result.score
    db.dispose()


def test_too_little_history_is_skipped_and_a_gap_filled_window_still_judges(
    store_url: str,
) -> None:
    db = MetricDB(store_url)
    store_history(db, noisy_days(10))
    (result,) = run(db, today(100.0)).collect_results()
    assert result.status == "SKIPPED"
    assert "needs 14 of the 28 days before 2024-06-03 in history, and has 10" in result.message
    assert "not in history yet" in result.message
    db.dispose()


def test_a_bad_baseline_is_left_out_of_the_band_and_back_when_cleared(store_url: str) -> None:
    db = MetricDB(store_url)
    good = noisy_days(28)
    store_history(db, good)
    # A broken loader wrote ten days at five times the level, all in one run.
    broken = {day: 500.0 + i for i, day in enumerate(sorted(good)[-10:])}
    bad_run = new_execution_id()
    store_history(db, broken, bad_run)
    # The newest value of each day is the broken one: the band follows it.
    newest = {**good, **broken}
    (poisoned,) = run(db, today(100.0)).collect_results()
    assert poisoned.band == (band_of(newest).low, band_of(newest).high)

    mark = db.mark_bad(bad_run, "double load of 2024-05-24..06-02", by="oncall")
    assert (mark.execution_id, mark.marked_by, mark.reason) == (
        bad_run,
        "oncall",
        "double load of 2024-05-24..06-02",
    )
    (clean,) = run(db, today(100.0)).collect_results()
    assert clean.band == (band_of(good).low, band_of(good).high)
    assert clean.status == "OK"
    # The run's metrics are untouched: only history skips them.
    assert sorted(m.value for m in db.metrics_for_execution(bad_run)) == sorted(broken.values())

    cleared = db.unmark_bad(bad_run, "it was fine after all", by="lead")
    assert cleared is not None and (cleared.cleared_by, cleared.active) == ("lead", False)
    assert db.bad_runs() == []
    assert [m.reason for m in db.bad_runs(include_cleared=True)] == [mark.reason]
    (again,) = run(db, today(100.0)).collect_results()
    assert again.band == poisoned.band
    assert db.unmark_bad(bad_run) is None
    db.dispose()


def test_a_snapshot_lag_on_a_bad_run_is_skipped_naming_the_mark(store_url: str) -> None:
    db = MetricDB(store_url)

    @check(name="Daily")
    def daily(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.average("price"))).where(name="dod").is_lt(1)

    def day_run(day: dt.date, *prices: float) -> VerificationSuite:
        suite = VerificationSuite([daily], db, "Shop")
        suite.run([today(*prices)], ResultKey(day))
        return suite

    monday = day_run(DAY, 10.0)
    db.mark_bad(monday.execution_id, "prices doubled by a bad join", by="oncall")
    (result,) = day_run(DAY + dt.timedelta(days=1), 11.0).collect_results()
    assert result.status == "SKIPPED"
    assert f"from run {monday.execution_id}, marked bad by oncall" in result.message
    assert "prices doubled by a bad join" in result.message
    db.unmark_bad(monday.execution_id)
    (judged,) = day_run(DAY + dt.timedelta(days=1), 11.0).collect_results()
    assert (judged.status, judged.number) == ("OK", pytest.approx(0.1))
    db.dispose()


def test_a_partitioned_source_recomputes_a_bad_day_from_its_rows(store_url: str) -> None:
    db = MetricDB(store_url)
    yesterday = DAY - dt.timedelta(days=1)
    rows = {yesterday: [4.0, 6.0], DAY: [6.0, 9.0]}
    table = pa.table(
        {
            "yyyy_mm_dd": pa.array([d for d, ps in rows.items() for _ in ps], pa.date32()),
            "price": [p for ps in rows.values() for p in ps],
        }
    )
    source = DuckRelationDataSource.from_arrow(table, "orders")
    bad_run = store_history(db, {yesterday: 1000.0}, new_execution_id())
    db.mark_bad(bad_run, "wrong prices", by="oncall")

    @check(name="Daily")
    def daily(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.average("price"))).where(name="dod").is_lt(1)

    suite = VerificationSuite([daily], db, "Shop")
    suite.run([source], ResultKey(DAY))
    (result,) = suite.collect_results()
    before, now = statistics.fmean(rows[yesterday]), statistics.fmean(rows[DAY])
    assert (result.status, result.number) == ("OK", (now - before) / before)
    used = {m.yyyy_mm_dd: m for m in db.metrics_for_execution(suite.execution_id)}
    assert used[yesterday].origin == "computed" and used[yesterday].value == before
    # The marked run's value stays where it was.
    assert [m.value for m in db.metrics_for_execution(bad_run)] == [1000.0]
    db.dispose()


def test_marking_an_unknown_run_is_refused(store_url: str) -> None:
    db = MetricDB(store_url)
    with pytest.raises(StoreError, match="nothing to mark bad"):
        db.mark_bad(new_execution_id(), "why")
    db.dispose()


def test_mark_bad_and_unmark_bad_on_the_command_line(store_url: str) -> None:
    db = MetricDB(store_url)
    run_id = new_execution_id()
    db.record_run(
        RunRecord(
            execution_id=run_id,
            suite="Shop",
            yyyy_mm_dd=DAY,
            tags={},
            started=dt.datetime(2024, 6, 3, 6, 0),
            finished=dt.datetime(2024, 6, 3, 6, 1),
            status="passed",
            trace_sampled=True,
            metric_count=0,
        )
    )
    cli = CliRunner()
    args = ["--db", store_url]
    marked = cli.invoke(
        main, ["runs", "mark-bad", run_id, "--reason", "late data", "--by", "me", *args]
    )
    assert marked.exit_code == 0, marked.output
    assert f"run {run_id} is marked bad by me" in marked.output
    assert [m.reason for m in db.bad_runs()] == ["late data"]
    listed = cli.invoke(main, ["runs", *args, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert (row["execution_id"], row["marked_bad"]) == (run_id, "late data")

    cleared = cli.invoke(
        main, ["runs", "unmark-bad", run_id, "--reason", "fine", *args, "--format", "json"]
    )
    assert cleared.exit_code == 0, cleared.output
    document = json.loads(cleared.output)
    assert (document["active"], document["cleared_reason"], document["reason"]) == (
        False,
        "fine",
        "late data",
    )
    [row] = json.loads(cli.invoke(main, ["runs", *args, "--format", "json"]).output)
    assert row["marked_bad"] is None
    again = cli.invoke(main, ["runs", "unmark-bad", run_id, *args])
    assert again.exit_code == 1 and "not marked bad" in again.output
    no_reason = cli.invoke(main, ["runs", "mark-bad", run_id, "--reason", " ", *args])
    assert no_reason.exit_code == 2
    # A run the store does not know is bad news (exit 1), as in every command; not exit 3.
    unknown = cli.invoke(main, ["runs", "mark-bad", "0" * 32, "--reason", "late", *args])
    assert unknown.exit_code == 1 and f"no run {'0' * 32}" in unknown.output
    malformed = cli.invoke(main, ["runs", "mark-bad", "xyz", "--reason", "late", *args])
    assert malformed.exit_code == 2 and "invalid execution id 'xyz'" in malformed.output
    db.dispose()
