"""One suite, every engine: the same values wherever the rows live.

The same rows go to DuckDB (an Arrow table, a Parquet file, a Hive-partitioned lake, a
database file), PostgreSQL (a table, and a query whose dates are text) and Spark (a
DataFrame, and a table whose dates are text). One suite runs on each: every metric of
the README's table, NULLs, NaN, a day without rows, day-over-day across partitions,
columns named with spaces, quotes, a backtick, a percent sign, keywords, another case
and non-ASCII letters, and a custom_sql. Every engine must give DuckDB-on-Arrow's
values (1e-9 relative) and the same reasons where there is no value, and run the same
plan: one statement for the plain aggregates of the date batch, one per grouped
column set.

PostgreSQL engines skip when the server is down (unless DQX_REQUIRE_SERVICES is set);
Spark engines fail when pyspark cannot start.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from returns.result import Failure, Result, Success

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import (
    DataSource,
    DuckRelationDataSource,
    PostgresDataSource,
    SparkDataSource,
)
from dqx.records import Statement
from tests.support.stores import EngineValuesStore

DAY = dt.date(2024, 3, 14)
# Three days of rows around one without any: DAY - 2 is empty.
DAYS_WITH_ROWS = (DAY - dt.timedelta(days=3), DAY - dt.timedelta(days=1), DAY)

PRICE = "unit price"
LABEL = "select"
ODD = 'naïve "q" `t` 5%'
MIXED = "Order"
TABLE = "order items"
COLUMNS = ("dt", "qty", PRICE, LABEL, "flag", ODD, MIXED, "ratio")
CUSTOM = "SUM(CASE WHEN qty > 2 THEN qty ELSE 0 END) + COUNT(*) FILTER (WHERE flag)"


def make_rows() -> list[tuple[Any, ...]]:
    pick = random.Random(14)
    rows: list[tuple[Any, ...]] = []
    for day in DAYS_WITH_ROWS:
        for _ in range(pick.randint(12, 20)):
            # No ratio three days back but the one row below: a variance of one value.
            ratio = None if day == DAYS_WITH_ROWS[0] else pick.choice([None, 0.5, 1.5])
            rows.append(
                (
                    day,
                    pick.choice([None, 1, 2, 3, 3, 7, 40]),
                    pick.choice([None, 9.99, 10.5, 0.1, 1e6, -2.25]),
                    pick.choice([None, "a", "b", "é", "ü", "", "a b"]),
                    pick.choice([None, True, False]),
                    pick.choice([None, "x", "ÿ", "x "]),
                    pick.randint(1, 3),
                    ratio,
                )
            )
    rows.append((DAYS_WITH_ROWS[0], 1, 2.0, "b", False, None, 1, 4.0))
    # NaN on the run's date only.
    rows.append((DAY, 3, 1.0, "a", True, "x", 2, math.nan))
    return rows


ROWS = make_rows()


def arrow_table(rows: list[tuple[Any, ...]] = ROWS) -> pa.Table:
    types = [pa.date32(), pa.int64(), pa.float64(), pa.string(), pa.bool_()]
    types += [pa.string(), pa.int32(), pa.float64()]
    return pa.table(
        {
            name: pa.array([row[i] for row in rows], kind)
            for i, (name, kind) in enumerate(zip(COLUMNS, types, strict=True))
        }
    )


# -- the suite ---------------------------------------------------------------------------

METRICS: dict[str, Callable[[MetricProvider], Any]] = {
    "rows": lambda mp: mp.num_rows(),
    "rows on the empty day": lambda mp: mp.num_rows(lag=2),
    "sum qty": lambda mp: mp.sum("qty"),
    "sum price": lambda mp: mp.sum(PRICE),
    "sum order (another case)": lambda mp: mp.sum("order"),
    "average qty": lambda mp: mp.average("qty"),
    "average price": lambda mp: mp.average(PRICE),
    "minimum price": lambda mp: mp.minimum(PRICE),
    "maximum price": lambda mp: mp.maximum(PRICE),
    "minimum qty": lambda mp: mp.minimum("qty"),
    "maximum qty": lambda mp: mp.maximum("qty"),
    "variance qty": lambda mp: mp.variance("qty"),
    "variance price": lambda mp: mp.variance(PRICE),
    "variance of one value": lambda mp: mp.variance("ratio", lag=3),
    "variance qty yesterday": lambda mp: mp.variance("qty", lag=1),
    "average on the empty day": lambda mp: mp.average("qty", lag=2),
    "null_count select": lambda mp: mp.null_count(LABEL),
    "null_count odd": lambda mp: mp.null_count(ODD),
    "null_count price": lambda mp: mp.null_count(PRICE),
    "unique_count select": lambda mp: mp.unique_count(LABEL),
    "unique_count odd": lambda mp: mp.unique_count(ODD),
    "unique_count qty": lambda mp: mp.unique_count("qty"),
    "duplicate_count select, flag": lambda mp: mp.duplicate_count([LABEL, "flag"]),
    "count_values é": lambda mp: mp.count_values(LABEL, "é"),
    "count_values list": lambda mp: mp.count_values(LABEL, ["a", "ü", ""]),
    "count_values flag": lambda mp: mp.count_values("flag", True),
    "count_values qty": lambda mp: mp.count_values("qty", 3),
    "count_values odd": lambda mp: mp.count_values(ODD, "x "),
    "custom_sql": lambda mp: mp.custom_sql(CUSTOM),
    "day_over_day rows": lambda mp: mp.ext.day_over_day(mp.num_rows()),
    "day_over_day average price": lambda mp: mp.ext.day_over_day(mp.average(PRICE)),
    "stddev rows over 4 days": lambda mp: mp.ext.stddev(mp.num_rows(), n=4),
    "sum price 3 days ago": lambda mp: mp.sum(PRICE, lag=3),
    # NaN sorts above every number and equals itself on all three engines.
    "sum ratio (NaN)": lambda mp: mp.sum("ratio"),
    "average ratio (NaN)": lambda mp: mp.average("ratio"),
    "minimum ratio (NaN)": lambda mp: mp.minimum("ratio"),
    "maximum ratio (NaN)": lambda mp: mp.maximum("ratio"),
    "unique_count ratio (NaN)": lambda mp: mp.unique_count("ratio"),
    "null_count ratio": lambda mp: mp.null_count("ratio"),
    "maximum ratio yesterday": lambda mp: mp.maximum("ratio", lag=1),
}
#: unique_count(select), (odd), (qty), (ratio) and duplicate_count([select, flag]).
GROUPED_COLUMN_SETS = 5

Values = dict[str, Result[float, str]]


def run_suite(source: DataSource) -> tuple[Values, list[Statement]]:
    @check(name="engines")
    def every_metric(mp: MetricProvider, ctx: Context) -> None:
        for label, build in METRICS.items():
            ctx.assert_that(build(mp)).where(name=label).is_geq(-1e300)

    # Every engine's values as they are, an empty lagged day included (no warm-up).
    suite = VerificationSuite([every_metric], EngineValuesStore(), "engines")
    suite.run([source], ResultKey(DAY))
    return {r.assertion: r.value for r in suite.collect_results()}, list(suite.statements)


# -- the engines -------------------------------------------------------------------------


def duckdb_arrow(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    return DuckRelationDataSource.from_arrow(arrow_table(), "orders", date_column="dt")


def duckdb_parquet(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    pq.write_table(arrow_table(), tmp_path / "orders.parquet")
    return DuckRelationDataSource.from_parquet(tmp_path / "orders.parquet", "orders", "dt")


def duckdb_hive_lake(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    table = arrow_table()
    for day in DAYS_WITH_ROWS:
        part = table.filter(pc.equal(table["dt"], pa.scalar(day, pa.date32()))).drop(["dt"])
        directory = tmp_path / "lake" / f"dt={day.isoformat()}"
        directory.mkdir(parents=True)
        pq.write_table(part, directory / "part-0.parquet")
    # The directory alone: the dt=... partitions are found, and dt is a DATE column.
    return DuckRelationDataSource.from_parquet(tmp_path / "lake", "orders", date_column="dt")


def duckdb_database(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    path = tmp_path / "warehouse.duckdb"
    connection = duckdb.connect(str(path))
    table = arrow_table()
    connection.register("incoming", table)
    connection.execute('CREATE SCHEMA "sales data"')
    connection.execute(f'CREATE TABLE "sales data"."{TABLE}" AS SELECT * FROM incoming')
    connection.close()
    return DuckRelationDataSource.from_database(
        path, TABLE, "orders", schema="sales data", date_column="dt"
    )


PG_TYPES = ("date", "bigint", "double precision", "text", "boolean", "text", "integer")
PG_TYPES += ("double precision",)


def postgres_table(url: str, name: str, rows: list[tuple[Any, ...]] = ROWS) -> None:
    import psycopg
    from psycopg import sql

    conninfo = url.replace("postgresql+psycopg", "postgresql")
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind))
        for column, kind in zip(COLUMNS, PG_TYPES, strict=True)
    )
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), columns))
        with (
            connection.cursor() as cursor,
            cursor.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(name))) as copy,
        ):
            for row in rows:
                copy.write_row(row)


def postgres_from_table(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    url = request.getfixturevalue("postgres_url")
    postgres_table(url, TABLE)
    return PostgresDataSource.from_table(url, TABLE, "orders", date_column="dt")


def postgres_from_query(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    url = request.getfixturevalue("postgres_url")
    postgres_table(url, TABLE)
    # The dates as 'YYYY-MM-DD' text, as a partition column holds them.
    others = ", ".join('"' + c.replace('"', '""') + '"' for c in COLUMNS[1:])
    query = f'SELECT CAST(dt AS text) AS dt, {others} FROM "{TABLE}"'
    return PostgresDataSource.from_query(url, query, "orders", date_column="dt")


def spark_frame(spark: Any, *, text_dates: bool = False) -> Any:
    from pyspark.sql import types as t

    kinds = [t.DateType(), t.LongType(), t.DoubleType(), t.StringType(), t.BooleanType()]
    kinds += [t.StringType(), t.IntegerType(), t.DoubleType()]
    schema = t.StructType([t.StructField(c, k, True) for c, k in zip(COLUMNS, kinds, strict=True)])
    frame = spark.createDataFrame(ROWS, schema)
    if text_dates:
        frame = frame.withColumn("dt", frame["dt"].cast("string"))
    return frame


def spark_from_dataframe(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    spark = request.getfixturevalue("spark")
    return SparkDataSource.from_dataframe(spark_frame(spark), "orders", date_column="dt")


def spark_from_table(request: pytest.FixtureRequest, tmp_path: Path) -> DataSource:
    spark = request.getfixturevalue("spark")
    spark_frame(spark, text_dates=True).createOrReplaceTempView("order_items_text_dates")
    return SparkDataSource.from_table(spark, "order_items_text_dates", "orders", date_column="dt")


ENGINES: dict[str, Callable[[pytest.FixtureRequest, Path], DataSource]] = {
    "duckdb-arrow": duckdb_arrow,
    "duckdb-parquet": duckdb_parquet,
    "duckdb-hive-lake": duckdb_hive_lake,
    "duckdb-database-file": duckdb_database,
    "postgres-table": postgres_from_table,
    "postgres-query-text-dates": postgres_from_query,
    "spark-dataframe": spark_from_dataframe,
    "spark-table-text-dates": spark_from_table,
}


@pytest.fixture(scope="module")
def reference() -> tuple[Values, list[Statement]]:
    """DuckDB on the Arrow table: the values every other engine must give."""
    return run_suite(duckdb_arrow(None, Path()))  # type: ignore[arg-type]


def same(got: Result[float, str], want: Result[float, str]) -> bool:
    match got, want:
        case Success(g), Success(w):
            return math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12)
        case Failure(g), Failure(w):
            return bool(g == w)
    return False


# Spark starts a JVM and a session: its cases are slow, the others are not.
@pytest.mark.parametrize(
    "engine",
    [pytest.param(e, marks=pytest.mark.slow) if e.startswith("spark") else e for e in ENGINES],
)
def test_every_engine_computes_the_same_values_with_the_same_plan(
    engine: str,
    reference: tuple[Values, list[Statement]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    source = ENGINES[engine](request, tmp_path)
    got, statements = run_suite(source)
    want, want_statements = reference

    differing = {
        label: (got[label], want[label]) for label in want if not same(got[label], want[label])
    }
    assert differing == {}

    assert [s.error for s in statements] == [None] * len(statements)
    shared = [s for s in statements if "num_rows()" in s.metrics]
    assert len(shared) == 1, "one statement for every plain aggregate of the date batch"
    assert len(statements) == 1 + GROUPED_COLUMN_SETS == len(want_statements)
    assert all(len(s.dates) == 4 for s in statements), "one batch: the day and its lags"
    # Values are bound, never written into the SQL.
    assert "'é'" not in shared[0].sql and "2024-03" not in shared[0].sql


def test_the_reference_agrees_with_plain_python(reference: tuple[Values, list[Statement]]) -> None:
    values, _ = reference
    today = [row for row in ROWS if row[0] == DAY]
    qty = [row[1] for row in today if row[1] is not None]
    prices = [row[2] for row in today if row[2] is not None]
    mean = sum(qty) / len(qty)
    assert values["rows"] == Success(float(len(today)))
    assert values["rows on the empty day"] == Success(0.0)
    assert values["sum qty"] == Success(float(sum(qty)))
    assert values["average price"] == Success(pytest.approx(sum(prices) / len(prices)))
    variance = sum((q - mean) ** 2 for q in qty) / (len(qty) - 1)
    assert values["variance qty"] == Success(pytest.approx(variance, rel=1e-12))
    assert values["null_count select"] == Success(float(sum(r[3] is None for r in today)))
    labels = {r[3] for r in today if r[3] is not None}
    assert values["unique_count select"] == Success(float(len(labels)))
    pairs = [(r[3], r[4]) for r in today]
    assert values["duplicate_count select, flag"] == Success(float(len(pairs) - len(set(pairs))))
    assert values["count_values list"] == Success(float(sum(r[3] in ("a", "ü", "") for r in today)))
    custom = sum(q for q in qty if q > 2) + sum(r[4] is True for r in today)
    assert values["custom_sql"] == Success(float(custom))
    # The reasons there is no value, the same on every engine.
    assert "is NaN" in values["sum ratio (NaN)"].failure()  # type: ignore[attr-defined]
    assert "is NaN" in values["maximum ratio (NaN)"].failure()  # type: ignore[attr-defined]
    assert values["minimum ratio (NaN)"] == Success(0.5)
    assert "is NULL" in values["variance of one value"].failure()  # type: ignore[attr-defined]
    # NULL over no rows says it was the day that was empty, from the statement's count.
    empty_day = (DAY - dt.timedelta(days=2)).isoformat()
    assert values["average on the empty day"].failure() == (  # type: ignore[attr-defined]
        f"average(qty): no rows for {empty_day} in dataset 'orders'"
    )
