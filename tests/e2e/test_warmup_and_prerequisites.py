"""SKIPPED: warm-up (history too short yet) and prerequisites that did not pass.

Each test runs on SQLite and PostgreSQL. A SKIPPED assertion never fails its run nor
pages, and every output (results, run record, trace, alert) shows it with its reason.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.alerts.model import build_alert
from dqx.checks import Check
from dqx.common import DefinitionError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from tests.support.runs import Traced

DAY = dt.date(2024, 3, 8)


@check(name="Prices", severity="P0")
def weekly(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.ext.week_over_week(mp.average("price"))).where(name="wow").is_lt(0.5)
    ctx.assert_that(mp.average("price")).where(name="positive").is_gt(0)


def snapshot(*prices: float) -> DuckRelationDataSource:
    return DuckRelationDataSource.from_arrow(pa.table({"price": list(prices)}), "orders")


def run(
    db: MetricDB,
    checks: list[Check],
    sources: list[DuckRelationDataSource],
    day: dt.date,
    traced: Traced | None = None,
) -> VerificationSuite:
    provider = traced.provider if traced is not None else None
    suite = VerificationSuite(checks, db, "Warm-up", tracer_provider=provider)
    suite.run(sources, ResultKey(day))
    return suite


def by_name(suite: VerificationSuite) -> dict[str, tuple[str, str]]:
    return {r.assertion: (r.status, r.message) for r in suite.collect_results()}


def test_first_week_of_a_week_over_week_check_is_skipped_and_passes(
    store_url: str, traced: Traced
) -> None:
    db = MetricDB(store_url)
    suite = run(db, [weekly], [snapshot(10.0, 20.0)], DAY, traced)
    results = by_name(suite)
    status, message = results["wow"]
    assert status == "SKIPPED"
    assert "2024-03-01" in message and "not in history yet" in message
    assert results["positive"] == ("OK", "")
    assert suite.result is not None and suite.result.passed

    run_record = db.run(suite.execution_id)
    assert run_record is not None
    assert (run_record.status, run_record.assertions_skipped) == ("passed", 1)
    stored = {a.assertion: a for a in db.assertions(suite.execution_id)}
    assert stored["wow"].status == "SKIPPED" and stored["wow"].message == message

    root = traced.one("dqx.suite.run")
    assert root.attributes is not None
    assert root.attributes["dqx.assertion.skipped"] == 1
    events = {e["dqx.assertion.name"]: e for e in traced.events("dqx.assertion")}
    assert events["wow"]["dqx.assertion.status"] == "SKIPPED"
    assert events["wow"]["dqx.assertion.message"] == message
    # Nothing pages: a skipped assertion is no alert entry.
    alert = build_alert(run_record, db.assertions(suite.execution_id))
    assert alert.failures == ()
    db.dispose()


def test_a_gap_after_history_began_stays_an_error(store_url: str) -> None:
    db = MetricDB(store_url)

    @check(name="Daily")
    def daily(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.average("price"))).where(name="dod").is_lt(1)

    run(db, [daily], [snapshot(10.0)], DAY)
    # DAY + 1 never ran: on DAY + 2 yesterday is a hole in history, not warm-up.
    suite = run(db, [daily], [snapshot(10.0)], DAY + dt.timedelta(days=2))
    status, message = by_name(suite)["dod"]
    assert status == "ERROR" and "history has none" in message
    assert suite.result is not None and not suite.result.passed
    # Once history covers the window, the check is judged.
    run(db, [daily], [snapshot(10.0)], DAY + dt.timedelta(days=3))
    judged = run(db, [daily], [snapshot(12.0)], DAY + dt.timedelta(days=4))
    assert by_name(judged)["dod"][0] == "OK"
    db.dispose()


def test_a_partitioned_source_before_its_first_day_is_warm_up(store_url: str) -> None:
    db = MetricDB(store_url)
    days = [DAY - dt.timedelta(days=1), DAY]
    table = pa.table(
        {"yyyy_mm_dd": pa.array([days[0], days[1], days[1]], pa.date32()), "price": [4.0, 6, 8]}
    )
    source = DuckRelationDataSource.from_arrow(table, "orders")
    suite = run(db, [weekly], [source], DAY)
    status, message = by_name(suite)["wow"]
    assert status == "SKIPPED"
    assert "2024-03-01" in message and "no rows that day" in message
    # A day with rows inside the window is no warm-up: the data is there.

    @check(name="Daily")
    def daily(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.average("price"))).where(name="dod").is_lt(1)

    judged = run(MetricDB(store_url), [daily], [source], DAY)
    (result,) = judged.collect_results()
    assert (result.status, result.number) == ("OK", (7.0 - 4.0) / 4.0)
    db.dispose()


# -- prerequisites ------------------------------------------------------------------------


@check(name="Orders", severity="P1")
def orders(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="orders arrived", severity="P0").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="avg", requires="orders arrived").is_gt(1)
    ctx.assert_that(mp.minimum("price")).where(name="min", requires="avg").is_geq(0)
    ctx.assert_that(mp.null_count("price")).where(name="no nulls").is_zero()


def test_a_failed_prerequisite_skips_its_dependents_naming_it(store_url: str) -> None:
    db = MetricDB(store_url)
    suite = run(db, [orders], [snapshot(0.5, 0.5)], DAY)
    results = by_name(suite)
    assert results["orders arrived"] == ("OK", "")
    assert results["avg"][0] == "FAILURE"
    # "min" requires "avg", which failed: skipped, naming it.
    assert results["min"] == (
        "SKIPPED",
        "not judged: it requires 'avg' (check 'Orders'), which is FAILURE",
    )
    assert results["no nulls"] == ("OK", "")
    record = db.run(suite.execution_id)
    assert record is not None and record.counts == {
        "OK": 2,
        "FAILURE": 1,
        "ERROR": 0,
        "SKIPPED": 1,
    }
    db.dispose()


def test_an_empty_day_pages_once_for_what_it_is(store_url: str) -> None:
    db = MetricDB(store_url)
    empty = DuckRelationDataSource.from_arrow(
        pa.table({"price": pa.array([], pa.float64())}), "orders"
    )
    suite = run(db, [orders], [empty], DAY)
    results = by_name(suite)
    assert results["orders arrived"][0] == "FAILURE"
    for name in ("avg", "min", "no nulls"):
        status, message = results[name]
        assert status == "SKIPPED", name
        assert "'orders arrived'" in message
    # "no nulls" declares no requirement: the empty-dataset rule skipped it.
    assert "dataset 'orders' has no rows for 2024-03-08" in results["no nulls"][1]
    record = db.run(suite.execution_id)
    assert record is not None
    alert = build_alert(record, db.assertions(suite.execution_id))
    assert [f.assertion for f in alert.failures] == ["orders arrived"]
    db.dispose()


def test_an_empty_run_date_is_news_not_warm_up_when_the_suite_also_reads_history(
    store_url: str,
) -> None:
    # A lagged metric makes the run ask history why values are missing; the run's own
    # empty date must still fail its volume assertion, not pass as "not in history yet".
    db = MetricDB(store_url)

    @check(name="Daily", severity="P1")
    def daily(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="orders arrived").is_gt(0)
        ctx.assert_that(mp.sum("price")).where(name="revenue").is_geq(0)
        ctx.assert_that(mp.num_rows(lag=1)).where(name="yesterday").is_geq(0)

    yesterday = DAY - dt.timedelta(days=1)
    table = pa.table({"yyyy_mm_dd": pa.array([yesterday] * 2, pa.date32()), "price": [1.0, 2]})
    results = by_name(run(db, [daily], [DuckRelationDataSource.from_arrow(table, "orders")], DAY))
    assert results["orders arrived"] == ("FAILURE", "")
    status, message = results["revenue"]
    assert status == "SKIPPED" and "'orders arrived'" in message
    assert "not in history yet" not in message
    db.dispose()


def test_without_a_volume_assertion_an_empty_day_is_judged_as_usual(store_url: str) -> None:
    db = MetricDB(store_url)

    @check(name="Nulls")
    def nulls(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.null_count("price")).where(name="no nulls").is_zero()

    empty = DuckRelationDataSource.from_arrow(
        pa.table({"price": pa.array([], pa.float64())}), "orders"
    )
    assert by_name(run(db, [nulls], [empty], DAY)) == {"no nulls": ("OK", "")}
    db.dispose()


def test_unknown_ambiguous_and_circular_requirements_are_refused_before_reading() -> None:
    from dqx.orm.repositories import InMemoryMetricDB

    @check(name="Typo")
    def typo(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="orders arrived").is_gt(0)
        ctx.assert_that(mp.average("price")).where(name="avg", requires="order arrived").is_gt(0)

    with pytest.raises(DefinitionError, match="did you mean 'orders arrived'"):
        run(InMemoryMetricDB(), [typo], [snapshot(1.0)], DAY)

    @check(name="Circle")
    def circle(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="a", requires="b").is_gt(0)
        ctx.assert_that(mp.average("price")).where(name="b", requires="a").is_gt(0)

    with pytest.raises(DefinitionError, match="in a circle"):
        run(InMemoryMetricDB(), [circle], [snapshot(1.0)], DAY)

    @check(name="Self")
    def itself(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="a", requires="a").is_gt(0)

    with pytest.raises(DefinitionError, match="requires itself"):
        run(InMemoryMetricDB(), [itself], [snapshot(1.0)], DAY)
