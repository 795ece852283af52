"""History across runs: lagged and extended metrics read what earlier runs stored."""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path

import pyarrow as pa
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.checks import Check
from dqx.data import metrics_by_execution_id
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB

MONDAY = dt.date(2024, 3, 11)
TUESDAY = MONDAY + dt.timedelta(days=1)


@check(name="Prices", severity="P1")
def prices_dod(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.ext.day_over_day(mp.average("price"))).where(name="dod").is_lt(0.5)


def snapshot(*prices: float) -> DuckRelationDataSource:
    """A source without a date column: its rows are the run's day, nothing else."""
    return DuckRelationDataSource.from_arrow(pa.table({"price": list(prices)}), "orders")


def run(
    db: MetricDB,
    checks: list[Check],
    source: DuckRelationDataSource,
    key: ResultKey,
    **options: str,
) -> VerificationSuite:
    suite = VerificationSuite(checks, db, "History suite", **options)  # type: ignore[arg-type]
    suite.run([source], key)
    return suite


def only_result(suite: VerificationSuite) -> tuple[str, float | None, str]:
    (result,) = suite.collect_results()
    return result.status, result.number, result.message


def test_day_over_day_on_a_snapshot_uses_the_stored_value_after_a_restart(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'metrics.db'}"
    first_db = MetricDB(url)
    monday = run(first_db, [prices_dod], snapshot(10.0, 30.0), ResultKey(MONDAY))
    first_db.dispose()

    # A new process would build a new MetricDB on the same file: history must survive it.
    db = MetricDB(url)
    tuesday = run(db, [prices_dod], snapshot(30.0, 30.0), ResultKey(TUESDAY))
    # (30 - 20) / 20 = 0.5, and the bound is < 0.5.
    assert only_result(tuesday) == ("FAILURE", 0.5, "")

    recorded = {(m.name, m.yyyy_mm_dd): m for m in db.metrics_for_execution(tuesday.execution_id)}
    used = recorded[("average(price)", MONDAY)]
    assert used.value == 20.0
    assert used.origin == "history"
    assert used.source_execution_id == monday.execution_id
    assert recorded[("average(price)", TUESDAY)].origin == "computed"
    assert recorded[("day_over_day(average(price))", TUESDAY)].value == 0.5
    # Only Tuesday's rows were read: the snapshot cannot produce Monday.
    assert [s.rows_scanned for s in tuesday.statements] == [2]


def test_prod_and_dev_histories_stay_apart_and_tag_order_does_not_matter(
    tmp_path: Path,
) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    prod = {"env": "prod", "region": "eu"}
    dev = {"env": "dev", "region": "eu"}
    run(db, [prices_dod], snapshot(100.0), ResultKey(MONDAY, prod))
    run(db, [prices_dod], snapshot(1.0), ResultKey(MONDAY, dev))

    prod_tuesday = run(
        db, [prices_dod], snapshot(110.0), ResultKey(TUESDAY, {"region": "eu", "env": "prod"})
    )
    dev_tuesday = run(db, [prices_dod], snapshot(4.0), ResultKey(TUESDAY, dev))
    assert only_result(prod_tuesday)[:2] == ("OK", pytest.approx(0.1, rel=1e-12))
    assert only_result(dev_tuesday)[:2] == ("FAILURE", 3.0)

    other = run(db, [prices_dod], snapshot(5.0), ResultKey(TUESDAY, {"env": "staging"}))
    status, _, message = only_result(other)
    # No staging history at all yet: warm-up, not a broken run.
    assert status == "SKIPPED" and "not in history yet" in message


def test_a_snapshot_without_history_is_skipped_naming_dataset_metric_and_date(
    tmp_path: Path,
) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    suite = run(db, [prices_dod], snapshot(10.0), ResultKey(TUESDAY, {"env": "prod"}))
    status, number, message = only_result(suite)
    assert (status, number) == ("SKIPPED", None)
    assert suite.result is not None and suite.result.passed
    assert "'orders'" in message
    assert "average(price)" in message
    assert MONDAY.isoformat() in message
    # Today's rows were never passed off as Monday's.
    assert [m.yyyy_mm_dd for m in db.metrics_for_execution(suite.execution_id)] == [TUESDAY]


def test_the_readme_says_what_a_snapshot_lag_gives_before_and_after_history_begins(
    tmp_path: Path,
) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    # No history of average(price) yet: Monday is before it begins.
    warm_up, _, _ = only_result(run(db, [prices_dod], snapshot(10.0), ResultKey(TUESDAY)))
    # History began on Sunday (stored by that run); Tuesday's lag, Monday, is a gap.
    run(db, [prices_dod], snapshot(10.0), ResultKey(MONDAY - dt.timedelta(days=1)))
    gap, _, _ = only_result(run(db, [prices_dod], snapshot(10.0), ResultKey(TUESDAY)))
    assert (warm_up, gap) == ("SKIPPED", "ERROR")

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    (paragraph,) = [p for p in readme.split("\n\n") if "snapshot of the run's date" in p]
    said = " ".join(paragraph.split())
    assert f"before that metric's history begins is `{warm_up}`" in said
    assert (
        f"a day missing after its history began, or history that could not be read, is an `{gap}`"
        in said
    )
    db.dispose()


# -- a daily suite with a 7-day window --------------------------------------------------

KEY = dt.date(2024, 3, 18)
WEEK = [KEY - dt.timedelta(days=lag) for lag in range(7, -1, -1)]


def partitioned() -> tuple[DuckRelationDataSource, dict[dt.date, list[float]]]:
    """Eight days of prices, a different number of rows and a different average each day."""
    by_day = {day: [float(i % 7 + d) for i in range(10 + 3 * d)] for d, day in enumerate(WEEK)}
    days = [day for day, prices in by_day.items() for _ in prices]
    prices = [price for day_prices in by_day.values() for price in day_prices]
    table = pa.table({"yyyy_mm_dd": pa.array(days, pa.date32()), "price": prices})
    return DuckRelationDataSource.from_arrow(table, "orders"), by_day


@check(name="Daily prices", severity="P1")
def average_only(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.average("price")).where(name="avg").is_gt(0)


@check(name="Weekly prices", severity="P1")
def weekly(mp: MetricProvider, ctx: Context) -> None:
    average = mp.average("price")
    ctx.assert_that(mp.ext.week_over_week(average)).where(name="wow").is_lt(10)
    ctx.assert_that(mp.ext.stddev(average, n=7)).where(name="spread").is_lt(100)


def store_a_week(db: MetricDB, source: DuckRelationDataSource) -> dict[dt.date, str]:
    runs = {}
    for day in WEEK[:-1]:
        runs[day] = run(db, [average_only], source, ResultKey(day, {"env": "prod"})).execution_id
    return runs


def bound_dates(params: dict[str, object]) -> list[dt.date]:
    return sorted(value for value in params.values() if isinstance(value, dt.date))


def test_a_stored_week_means_the_daily_run_scans_only_its_own_date(tmp_path: Path) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    source, by_day = partitioned()
    history_runs = store_a_week(db, source)

    suite = run(db, [weekly], source, ResultKey(KEY, {"env": "prod"}))
    (statement,) = suite.statements
    assert bound_dates(statement.params) == [KEY]
    assert statement.dates == (KEY,)
    assert statement.rows_scanned == len(by_day[KEY])

    averages = {day: statistics.fmean(prices) for day, prices in by_day.items()}
    results = {r.assertion: r for r in suite.collect_results()}
    assert results["wow"].number == pytest.approx(
        (averages[KEY] - averages[WEEK[0]]) / averages[WEEK[0]], rel=1e-12
    )
    assert results["spread"].number == pytest.approx(
        statistics.stdev(averages[day] for day in WEEK[1:]), rel=1e-12
    )

    # The run's record holds every value it used: today computed, the week from
    # history with the run that computed each day, and the two extended metrics.
    symbols = metrics_by_execution_id(db, suite.execution_id)
    assert [(s.metric, s.yyyy_mm_dd) for s in symbols] == [
        *[("average(price)", day) for day in WEEK[:-1]],
        ("average(price)", KEY),
        ("stddev(average(price), offset=0, n=7)", KEY),
        ("week_over_week(average(price))", KEY),
    ]
    assert [s.name for s in symbols] == [f"m_{i}" for i in range(1, 11)]
    assert all(s.tags == {"env": "prod", "__execution_id": suite.execution_id} for s in symbols)
    stored = {(m.name, m.yyyy_mm_dd): m for m in db.metrics_for_execution(suite.execution_id)}
    for day in WEEK[:-1]:
        assert stored[("average(price)", day)].origin == "history"
        assert stored[("average(price)", day)].source_execution_id == history_runs[day]
        assert stored[("average(price)", day)].value == pytest.approx(averages[day], rel=1e-12)
    assert stored[("week_over_week(average(price))", KEY)].value == results["wow"].number


def test_recompute_always_scans_all_eight_dates(tmp_path: Path) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    source, by_day = partitioned()
    store_a_week(db, source)

    suite = run(db, [weekly], source, ResultKey(KEY, {"env": "prod"}), recompute="always")
    (statement,) = suite.statements
    assert bound_dates(statement.params) == WEEK
    assert statement.rows_scanned == sum(len(prices) for prices in by_day.values())
    origins = {m.origin for m in db.metrics_for_execution(suite.execution_id)}
    assert origins == {"computed"}


def test_without_history_a_partitioned_source_computes_the_window_in_one_statement(
    tmp_path: Path,
) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    source, by_day = partitioned()
    suite = run(db, [weekly], source, ResultKey(KEY, {"env": "prod"}))
    (statement,) = suite.statements
    assert bound_dates(statement.params) == WEEK
    assert {r.status for r in suite.collect_results()} == {"OK"}
    # Running the day again finds the whole window in history and scans one day.
    following = run(db, [weekly], source, ResultKey(KEY, {"env": "prod"}))
    assert [s.rows_scanned for s in following.statements] == [len(by_day[KEY])]


def _break_metric_table(db: MetricDB) -> None:
    from sqlalchemy import text

    db.ensure_schema()
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE dq_metric RENAME TO dq_metric_gone"))


def test_an_unreadable_history_recomputes_partitioned_days_and_errors_on_snapshots(
    tmp_path: Path,
) -> None:
    from dqx.common import PersistError

    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    _break_metric_table(db)

    partitioned = DuckRelationDataSource.from_arrow(
        pa.table({"price": [10.0, 30.0, 30.0, 30.0], "yyyy_mm_dd": [MONDAY] * 2 + [TUESDAY] * 2}),
        "orders",
    )
    suite = VerificationSuite([prices_dod], db, "History suite")
    with pytest.raises(PersistError):
        suite.run([partitioned], ResultKey(TUESDAY))
    # Monday came from the data, not from the store that could not be read.
    assert only_result(suite) == ("FAILURE", 0.5, "")

    suite = VerificationSuite([prices_dod], db, "History suite")
    with pytest.raises(PersistError):
        suite.run([snapshot(30.0, 30.0)], ResultKey(TUESDAY))
    status, number, message = only_result(suite)
    assert (status, number) == ("ERROR", None)
    assert "reading history failed" in message
    assert "average(price)" in message and "'orders'" in message and str(MONDAY) in message


def test_day_two_reuses_day_ones_value_though_each_carries_its_own_execution_id(
    tmp_path: Path,
) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'metrics.db'}")
    days = [MONDAY, MONDAY, TUESDAY, TUESDAY]
    table = pa.table({"price": [10.0, 30.0, 30.0, 30.0], "yyyy_mm_dd": days})
    source = DuckRelationDataSource.from_arrow(table, "orders")

    monday = run(db, [prices_dod], source, ResultKey(MONDAY, {"env": "prod"}))
    (stored_monday,) = [
        m
        for m in db.metrics_for_execution(monday.execution_id)
        if (m.name, m.yyyy_mm_dd) == ("average(price)", MONDAY)
    ]
    assert stored_monday.tags == {"env": "prod", "__execution_id": monday.execution_id}

    tuesday = run(db, [prices_dod], source, ResultKey(TUESDAY, {"env": "prod"}))
    # A date-partitioned source could rescan Monday; history makes it unnecessary.
    assert [s.dates for s in tuesday.statements] == [(TUESDAY,)]
    assert only_result(tuesday) == ("FAILURE", 0.5, "")
    used = {(m.name, m.yyyy_mm_dd): m for m in db.metrics_for_execution(tuesday.execution_id)}[
        ("average(price)", MONDAY)
    ]
    assert (used.origin, used.source_execution_id, used.value) == (
        "history",
        monday.execution_id,
        20.0,
    )
    assert used.tags == {"env": "prod", "__execution_id": tuesday.execution_id}
