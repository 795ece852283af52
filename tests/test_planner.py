"""Cutting a dataset's metrics into statements never changes a value.

A wide suite is cut into statements of a bounded width, its ``count_values`` on one
column folded into one grouped count; every value must be the one the single-statement
plan (:data:`dqx.shapes.ONE_STATEMENT`) gives, whatever the width, the mix of metric
kinds, the data (NULL, NaN, -0.0, empty days, an empty table) or the column names.
Folded counts are also checked against plain Python.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from returns.result import Success

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.analyzer import Analyzer, Computed
from dqx.common import DefinitionError
from dqx.datasource import DataSource, DuckRelationDataSource, PostgresDataSource
from dqx.orm.repositories import InMemoryMetricDB
from dqx.shapes import ONE_STATEMENT, StatementShape
from dqx.specs import (
    Average,
    BindValue,
    CountValues,
    CustomSQL,
    Maximum,
    MetricSpec,
    Minimum,
    NullCount,
    NumRows,
    Sum,
    UniqueCount,
    Variance,
)

D1, D2, EMPTY = dt.date(2024, 3, 9), dt.date(2024, 3, 10), dt.date(2024, 3, 11)

names = st.lists(
    st.sampled_from(["a b", 'say "hi"', "it's", "select", "Ünïcødé", "group", "列", "x;--", "n"]),
    min_size=3,
    max_size=3,
    unique_by=str.lower,
)
floats = st.none() | st.just(math.nan) | st.sampled_from([0.0, -0.0, 1.5, 2.0, -3.25, 1e300])
ints = st.none() | st.integers(-3, 3) | st.just(2**40)
texts = st.none() | st.sampled_from(["a", "b", "", "A", "ä", "it's"])
float_values = st.sampled_from([0.0, -0.0, 1.5, 2.0, 7.0, 1e300])
int_values = st.integers(-3, 4)
text_values = st.sampled_from(["a", "b", "", "A", "ä", "it's", "zz"])


def one_or_list(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return values | st.lists(values, min_size=1, max_size=3)


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, str, str, str]:
    f, i, s = draw(names)
    rows = draw(st.lists(st.tuples(st.sampled_from([D1, D2]), floats, ints, texts), max_size=25))
    table = pa.table(
        {
            "yyyy_mm_dd": pa.array([r[0] for r in rows], pa.date32()),
            f: pa.array([r[1] for r in rows], pa.float64()),
            i: pa.array([r[2] for r in rows], pa.int64()),
            s: pa.array([r[3] for r in rows], pa.string()),
        }
    )
    return table, f, i, s


@st.composite
def suites(
    draw: st.DrawFn,
    f: str,
    i: str,
    s: str,
    max_size: int = 40,
    mark: str = '"',
    booleans: bool = True,
) -> list[MetricSpec]:
    """A random mix of metric kinds, many of them ``count_values`` and null counts;
    a ``custom_sql``'s names quoted with ``mark`` (the engine's quote), booleans
    counted in the integer column only where the engine compares them (``booleans``)."""

    def quote(name: str) -> str:
        return mark + name.replace(mark, mark * 2) + mark

    numeric = st.sampled_from([f, i])
    any_column = st.sampled_from([f, i, s])
    kinds: list[st.SearchStrategy[MetricSpec]] = [
        st.just(NumRows()),
        st.builds(NullCount, column=any_column),
        st.builds(Sum, column=numeric),
        st.builds(Average, column=numeric),
        st.builds(Minimum, column=numeric),
        st.builds(Maximum, column=numeric),
        st.builds(Variance, column=numeric),
        st.builds(UniqueCount, column=any_column),
        st.builds(CountValues.of, st.just(f), one_or_list(float_values)),
        st.builds(CountValues.of, st.just(i), one_or_list(int_values)),
        st.builds(CountValues.of, st.just(i), st.booleans() if booleans else int_values),
        st.builds(CountValues.of, st.just(s), one_or_list(text_values)),
        st.builds(
            CustomSQL.of,
            st.sampled_from(
                [f"COUNT(*) FILTER (WHERE {quote(i)} > 0)", "COUNT(*) FILTER (WHERE 1 = 0)"]
            )
            | st.just(f"SUM({quote(f)})"),
        ),
    ]
    return draw(st.lists(st.one_of(kinds), max_size=max_size))


shapes = st.builds(
    StatementShape,
    width=st.none() | st.integers(1, 6),
    filtered_width=st.none() | st.integers(1, 3),
    fold_from=st.none() | st.integers(1, 3),
)


def canonical(value: Computed) -> Any:
    """A value comparable with ``==``: NaN equal to NaN."""
    match value:
        case Success(float() as number) if math.isnan(number):
            return ("NaN",)
    return value


def compute(
    source: DataSource, shape: StatementShape, specs: Sequence[MetricSpec], dates: Any
) -> tuple[dict[Any, Any], int]:
    source.statement_shape = shape
    values, statements = Analyzer(source).compute(specs, dates)
    return {key: canonical(value) for key, value in values.items()}, len(statements)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_cut_gives_the_values_of_one_statement(data: st.DataObject) -> None:
    table, f, i, s = data.draw(tables())
    specs = data.draw(suites(f, i, s))
    shape = data.draw(shapes)
    partitioned = data.draw(st.booleans())
    dates = (D1, D2, EMPTY) if partitioned else (D2,)
    source = DuckRelationDataSource.from_arrow(
        table, "t", date_column="yyyy_mm_dd" if partitioned else None
    )
    expected, _ = compute(source, ONE_STATEMENT, specs, dates)
    got, _ = compute(source, shape, specs, dates)
    assert got == expected


def python_count(
    table: pa.Table, column: str, values: Sequence[BindValue], day: dt.date | None
) -> float:
    """Rows whose column equals one of ``values``, as SQL's ``=`` compares them: NULL
    and NaN equal nothing asked for (count_values refuses NaN), -0.0 equals 0.0."""
    days = table.column("yyyy_mm_dd").to_pylist()
    cells = table.column(column).to_pylist()
    return float(
        sum(
            1
            for when, cell in zip(days, cells, strict=True)
            if (day is None or when == day)
            and cell is not None
            and any(cell == value for value in values)
        )
    )


@pytest.mark.slow
@settings(max_examples=40, deadline=None)
@given(tables(), st.data())
def test_folded_counts_match_python(drawn: Any, data: st.DataObject) -> None:
    table, f, i, s = drawn
    pools: dict[str, st.SearchStrategy[Any]] = {f: float_values, i: int_values, s: text_values}
    specs = [
        CountValues.of(column, data.draw(one_or_list(pool)))
        for column, pool in pools.items()
        for _ in range(data.draw(st.integers(1, 6)))
    ]
    source = DuckRelationDataSource.from_arrow(table, "t", date_column="yyyy_mm_dd")
    source.statement_shape = StatementShape(fold_from=1)
    values, statements = Analyzer(source).compute(specs, (D1, D2, EMPTY))
    # One folded count per column, and the statement that counts the rows scanned.
    assert len(statements) == 4
    for spec in specs:
        assert isinstance(spec, CountValues)
        for day in (D1, D2, EMPTY):
            expected = python_count(table, spec.column, spec.values, day)
            assert values[(spec, day)] == Success(expected), (spec.name, day)


# -- statement counts, through a run -----------------------------------------------------


def wide_table(columns: int, rows: int = 50) -> pa.Table:
    return pa.table(
        {
            f"c{n}": pa.array([None if r % (n + 2) == 0 else r for r in range(rows)], pa.int64())
            for n in range(columns)
        }
    )


def run(source: DataSource, build: Callable[[MetricProvider, Context], None]) -> VerificationSuite:
    suite = VerificationSuite([check(name="wide")(build)], InMemoryMetricDB(), "wide")
    suite.run([source], ResultKey(D2))
    return suite


def test_a_wide_suite_runs_as_statements_of_the_shapes_width() -> None:
    source = DuckRelationDataSource.from_arrow(wide_table(250), "wide")
    source.statement_shape = StatementShape(width=100)

    def nulls(mp: MetricProvider, ctx: Context) -> None:
        for n in range(250):
            ctx.assert_that(mp.null_count(f"c{n}")).where(name=f"c{n} nulls").is_geq(0)

    suite = run(source, nulls)
    widths = [len(statement.metrics) for statement in suite.statements]
    # The row count rides in each statement; it is a metric of the first only.
    assert widths == [100, 100, 50]
    assert [statement.rows_scanned for statement in suite.statements] == [50, 50, 50]
    results = {r.assertion: r.value for r in suite.collect_results()}
    for n in range(250):
        assert results[f"c{n} nulls"] == Success(float(len(range(0, 50, n + 2))))


def test_count_values_on_one_column_fold_into_one_grouped_count() -> None:
    table = pa.table({"status": ["a", "b", "b", None, "c", "b"]})
    source = DuckRelationDataSource.from_arrow(table, "orders")
    source.statement_shape = StatementShape(fold_from=3)
    wanted = [f"v{n}" for n in range(40)] + ["a", "b", ["a", "c"]]

    def statuses(mp: MetricProvider, ctx: Context) -> None:
        for value in wanted:
            ctx.assert_that(mp.count_values("status", value)).where(name=repr(value)).is_geq(0)

    suite = run(source, statuses)
    folded, counting = suite.statements
    assert len(folded.metrics) == 43
    assert "JOIN" in folded.sql and "GROUP BY" in folded.sql
    assert counting.metrics == ()
    assert counting.rows_scanned == 6
    results = {r.assertion: r.value for r in suite.collect_results()}
    assert results["'a'"] == Success(1.0)
    assert results["'b'"] == Success(3.0)
    assert results["['a', 'c']"] == Success(2.0)
    assert results["'v7'"] == Success(0.0)


def test_count_values_with_values_of_two_types_are_not_folded() -> None:
    table = pa.table({"qty": pa.array([1, 2, 2, None], pa.int64())})
    source = DuckRelationDataSource.from_arrow(table, "orders")
    source.statement_shape = StatementShape(fold_from=1)

    def mixed(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.count_values("qty", [2, 1.0])).where(name="mixed").is_geq(0)
        ctx.assert_that(mp.count_values("qty", 2)).where(name="two").is_geq(0)

    suite = run(source, mixed)
    folded, shared = suite.statements
    assert folded.metrics == ("count_values(qty, 2)",)
    assert shared.metrics == ("count_values(qty, [2, 1.0])",)
    results = {r.assertion: r.value for r in suite.collect_results()}
    assert results == {"mixed": Success(3.0), "two": Success(2.0)}


class RefusesJoins(DuckRelationDataSource):
    """DuckDB, as an engine would be that cannot run the folded statement's join."""

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if " JOIN " in sql:
            raise RuntimeError("joins are not supported here")
        return super().execute(sql, params)


def test_a_fold_the_engine_refuses_is_counted_the_plain_way() -> None:
    table = pa.table({"status": ["a", "b", "b", None]})
    source = RefusesJoins.from_arrow(table, "orders")
    source.statement_shape = StatementShape(fold_from=2)

    def statuses(mp: MetricProvider, ctx: Context) -> None:
        for value in ("a", "b", "c"):
            ctx.assert_that(mp.count_values("status", value)).where(name=value).is_geq(0)

    suite = run(source, statuses)
    refused, plain = suite.statements
    assert refused.error is not None and "joins are not supported" in refused.error
    assert plain.error is None and len(plain.metrics) == 3
    results = {r.assertion: r.value for r in suite.collect_results()}
    assert results == {"a": Success(1.0), "b": Success(2.0), "c": Success(0.0)}


def test_a_shape_takes_positive_widths_only() -> None:
    with pytest.raises(DefinitionError, match=r"width=\.\.\.\) must be a positive int"):
        StatementShape(width=0)
    with pytest.raises(DefinitionError, match="fold_from"):
        StatementShape(fold_from=True)


# -- PostgreSQL ------------------------------------------------------------------------------


def test_postgres_folded_counts_equal_one_statement(postgres_url: str) -> None:
    import psycopg
    from psycopg import sql

    table = "fold_" + dt.datetime.now().strftime("%H%M%S%f")
    rows = [
        (D1, 1, 1.5, "a"),
        (D1, None, -0.0, "b"),
        (D2, 2, math.nan, None),
        (D2, 2, 0.0, "it's"),
        (D2, 3, None, "A"),
    ]
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql")) as connection:
        connection.execute(
            sql.SQL("CREATE TABLE {} (d date, qty bigint, price double precision, s text)").format(
                sql.Identifier(table)
            )
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                sql.SQL("INSERT INTO {} VALUES (%s, %s, %s, %s)").format(sql.Identifier(table)),
                rows,
            )
    source = PostgresDataSource.from_table(postgres_url, table, "t", date_column="d")
    specs: list[MetricSpec] = [
        *(CountValues.of("qty", v) for v in (1, 2, 3, 4, [1, 3], 2**40)),
        *(CountValues.of("price", v) for v in (1.5, 0.0, -0.0, [2.5, 1.5])),
        *(CountValues.of("s", v) for v in ("a", "A", "it's", ["a", "b"], "")),
        NullCount("qty"),
        NullCount("price"),
        Sum("qty"),
    ]
    try:
        expected, _ = compute(source, ONE_STATEMENT, specs, (D1, D2, EMPTY))
        got, statements = compute(
            source, StatementShape(width=2, fold_from=1), specs, (D1, D2, EMPTY)
        )
    finally:
        source.close()
    assert got == expected
    # Three folded counts, the three other aggregates two to a statement.
    assert statements == 5
    assert got[(CountValues.of("qty", 2), D2)] == Success(2.0)
    assert got[(CountValues.of("price", 0.0), D1)] == Success(1.0)


@pytest.mark.slow
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_cut_on_spark_gives_the_values_of_one_statement(
    spark: Any, data: st.DataObject
) -> None:
    # Spark folds count_values (bench 13e): its join and its `=` must count alike. Few
    # examples, in statements of 3 or more: each statement is a Spark job.
    from pyspark.sql import types as t

    from dqx.datasource import SparkDataSource

    table, f, i, s = data.draw(tables())
    specs = data.draw(suites(f, i, s, max_size=20, mark="`", booleans=False))
    shape = data.draw(
        st.builds(
            StatementShape,
            width=st.none() | st.integers(3, 8),
            filtered_width=st.none() | st.integers(2, 3),
            fold_from=st.none() | st.integers(1, 3),
        )
    )
    schema = t.StructType(
        [
            t.StructField("yyyy_mm_dd", t.DateType()),
            t.StructField(f, t.DoubleType()),
            t.StructField(i, t.LongType()),
            t.StructField(s, t.StringType()),
        ]
    )
    frame = spark.createDataFrame([tuple(row.values()) for row in table.to_pylist()], schema)
    source = SparkDataSource.from_dataframe(frame, "t", date_column="yyyy_mm_dd")
    try:
        expected, _ = compute(source, ONE_STATEMENT, specs, (D1, D2, EMPTY))
        got, _ = compute(source, shape, specs, (D1, D2, EMPTY))
    finally:
        source.close()
    assert got == expected


@pytest.mark.slow
def test_spark_folded_counts_equal_one_statement(spark: Any) -> None:
    # Spark's source folds from 256 (bench 13e); told to fold from one, its folds must
    # still give the values of one statement.
    from dqx.datasource import SparkDataSource

    rows = [(D1, 1, 1.5, "a"), (D1, None, -0.0, "b"), (D2, 2, None, None), (D2, 2, 0.0, "it's")]
    frame = spark.createDataFrame(rows, "d date, qty bigint, price double, s string")
    source = SparkDataSource.from_dataframe(frame, "t", date_column="d")
    specs: list[MetricSpec] = [
        *(CountValues.of("qty", v) for v in (1, 2, 3, [1, 2])),
        *(CountValues.of("price", v) for v in (1.5, 0.0, [2.5, 1.5])),
        *(CountValues.of("s", v) for v in ("a", "it's", ["a", "b"])),
    ]
    try:
        expected, _ = compute(source, ONE_STATEMENT, specs, (D1, D2, EMPTY))
        source.statement_shape = StatementShape(fold_from=1)
        values, statements = Analyzer(source).compute(specs, (D1, D2, EMPTY))
    finally:
        source.close()
    got = {key: canonical(value) for key, value in values.items()}
    assert got == expected
    # A fold per column, and the row count; none refused by Spark.
    assert [s.error for s in statements] == [None] * 4
    assert sum("JOIN" in s.sql for s in statements) == 3
    assert got[(CountValues.of("qty", 2), D2)] == Success(2.0)
