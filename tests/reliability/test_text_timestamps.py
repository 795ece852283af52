"""Timestamps written as text in a date column never make a day look empty: on DuckDB,
PostgreSQL and Spark, each day they would have matched is an ERROR naming the column
and a value found, so a null-count check cannot pass on data never read. Plain
'YYYY-MM-DD' text still matches, and a day truly without rows is still empty (before
the metric's history begins, that is warm-up: SKIPPED, never an ERROR)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DataSource, DuckRelationDataSource, PostgresDataSource, SparkDataSource
from dqx.orm.repositories import MetricDB

DAY = dt.date(2013, 1, 1)
STAMPED = [("2013-01-01T10:00:00Z", None), ("2013-01-01T23:59:59+00:00", 1.0)]
STAMPED += [("2013-01-02T00:00:00Z", 2.0)]
PLAIN = [("2013-01-01", None), ("2013-01-01", 1.0), ("2013-01-02", 2.0)]


@check(name="Events")
def events(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_geq(0)
    ctx.assert_that(mp.null_count("x")).where(name="no nulls").is_eq(0)
    ctx.assert_that(mp.unique_count("x")).where(name="distinct").is_geq(0)
    ctx.assert_that(mp.num_rows(lag=3)).where(name="rows three days back").is_geq(0)


def _duckdb(rows: list[tuple[str, float | None]], request: pytest.FixtureRequest) -> DataSource:
    table = pa.table(
        {"ts": [r[0] for r in rows], "x": pa.array([r[1] for r in rows], pa.float64())}
    )
    return DuckRelationDataSource.from_arrow(table, "events", date_column="ts")


def _postgres(rows: list[tuple[str, float | None]], request: pytest.FixtureRequest) -> DataSource:
    url = request.getfixturevalue("postgres_url")
    values = ", ".join(f"('{ts}', {'NULL' if x is None else x}::float8)" for ts, x in rows)
    query = f"SELECT ts::text AS ts, x FROM (VALUES {values}) AS v(ts, x)"
    return PostgresDataSource.from_query(url, query, "events", date_column="ts")


def _spark(rows: list[tuple[str, float | None]], request: pytest.FixtureRequest) -> DataSource:
    spark = request.getfixturevalue("spark")
    frame = spark.createDataFrame(rows, "ts string, x double")
    return SparkDataSource.from_dataframe(frame, "events", date_column="ts")


ENGINES: dict[str, Callable[[list[tuple[str, float | None]], pytest.FixtureRequest], Any]] = {
    "duckdb": _duckdb,
    "postgres": _postgres,
    "spark": _spark,
}
ENGINE_PARAMS = [
    pytest.param(name, marks=pytest.mark.slow) if name == "spark" else name for name in ENGINES
]


def _run(store: MetricDB, source: DataSource) -> VerificationSuite:
    suite = VerificationSuite([events], store, "Events")
    suite.run([source], ResultKey(DAY))
    return suite


@pytest.mark.parametrize("engine", ENGINE_PARAMS)
def test_timestamps_as_text_are_an_error_naming_the_column_never_an_empty_day(
    engine: str, store: MetricDB, request: pytest.FixtureRequest
) -> None:
    suite = _run(store, ENGINES[engine](STAMPED, request))

    by_name = {r.assertion: r for r in suite.collect_results()}
    for name in ("rows", "no nulls", "distinct"):
        result = by_name[name]
        assert result.status == "ERROR", (name, result.value)
        message = str(result.message)
        assert "date_column 'ts'" in message and "'2013-01-01T" in message
        assert "DATE or TIMESTAMP" in message
    # Three days back nothing starts like the day: that day is empty, as it should be,
    # and with no history yet that is warm-up, not an error.
    assert by_name["rows three days back"].status == "SKIPPED"
    assert "no rows that day" in by_name["rows three days back"].message
    run = store.run(suite.execution_id)
    assert run is not None and run.status == "failed"
    stored = {(m.name, m.yyyy_mm_dd) for m in store.metrics_for_execution(suite.execution_id)}
    assert ("null_count(x)", DAY) not in stored and ("num_rows()", DAY) not in stored


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_plain_date_text_still_matches_its_day(
    engine: str, store: MetricDB, request: pytest.FixtureRequest
) -> None:
    suite = _run(store, ENGINES[engine](PLAIN, request))

    values = {r.assertion: (r.status, r.number) for r in suite.collect_results()}
    assert values == {
        "rows": ("OK", 2.0),
        "no nulls": ("FAILURE", 1.0),
        "distinct": ("OK", 1.0),
        "rows three days back": ("SKIPPED", None),
    }
