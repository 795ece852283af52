"""A custom_sql that calls a set-returning function is refused before any scan, on every
dialect: beside an aggregate such a function turns the statement's one row into many
(one of which was stored as the metric) or, given an empty input, into none (which sank
every metric of the batch)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import DefinitionError
from dqx.custom_sql import parse_custom_sql
from dqx.datasource import DataSource, DuckRelationDataSource, PostgresDataSource, SparkDataSource
from dqx.orm.repositories import MetricDB

DAY = dt.date(2024, 3, 14)

# What a user might write, in each engine's spelling; each is refused on all three.
SET_RETURNING = [
    ("SUM(x) + UNNEST([1, 2])", "unnest"),
    ("SUM(x) + unlist([1, 2])", "unlist"),
    ("SUM(UNNEST(a))", "unnest"),
    ("SUM(x) * generate_subscripts(a, 1)", "generate_subscripts"),
    ("SUM(x) + generate_series(1, 2)", "generate_series"),
    ("COUNT(regexp_split_to_table(s, ','))", "regexp_split_to_table"),
    ("COUNT(jsonb_array_elements(j))", "jsonb_array_elements"),
    ("COUNT(json_each(j))", "json_each"),
    ("COUNT(jsonb_object_keys(j))", "jsonb_object_keys"),
    ("COUNT(string_to_table(s, ','))", "string_to_table"),
    ("SUM(x) + explode(array(1, 2))", "explode"),
    ("COUNT(explode_outer(a))", "explode_outer"),
    ("COUNT(posexplode(a))", "posexplode"),
    ("COUNT(inline_outer(a))", "inline_outer"),
    ("SUM(stack(2, 1, 2))", "stack"),
    ("COUNT(json_tuple(s, 'k'))", "json_tuple"),
]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
@pytest.mark.parametrize(("sql", "function"), SET_RETURNING, ids=[s for s, _ in SET_RETURNING])
def test_set_returning_functions_in_custom_sql_are_refused_on_every_dialect(
    dialect: str, sql: str, function: str
) -> None:
    try:
        parse_custom_sql(sql, dialect)
    except DefinitionError as refused:
        message = str(refused)
    else:
        pytest.fail(f"{sql!r} was accepted in {dialect}")
    # Some spellings are not SQL in every dialect (DuckDB's [1, 2] list in Spark);
    # refusing those as unparsable is as good, as long as nothing is accepted.
    assert f"may not call {function}()" in message or "not valid SQL" in message, message
    if "not valid SQL" not in message:
        assert "returns a set of rows" in message


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_aggregates_over_arrays_and_text_are_still_accepted(dialect: str) -> None:
    for sql in ("SUM(x) + COUNT(*)", "MAX(LENGTH(s))", "SUM(CASE WHEN x > 1 THEN 1 ELSE 0 END)"):
        parse_custom_sql(sql, dialect)


def test_a_name_is_judged_by_what_it_means_in_the_dialect_that_reads_it() -> None:
    # regexp_matches returns a row per match in PostgreSQL, a boolean in DuckDB.
    with pytest.raises(DefinitionError, match=r"regexp_matches\(\): it returns a set"):
        parse_custom_sql("COUNT(regexp_matches(s, 'a', 'g'))", "postgres")
    parse_custom_sql("COUNT(*) FILTER (WHERE regexp_matches(s, '^a'))", "duckdb")


def _duckdb(request: pytest.FixtureRequest) -> DataSource:
    table = pa.table({"yyyy_mm_dd": [DAY, DAY], "x": [1.0, 2.0], "a": [[1, 2], [3]]})
    return DuckRelationDataSource.from_arrow(table, "orders")


def _postgres(request: pytest.FixtureRequest) -> DataSource:
    url = request.getfixturevalue("postgres_url")
    query = (
        "SELECT DATE '2024-03-14' AS yyyy_mm_dd, x::float8 AS x, ARRAY[1, 2] AS a "
        "FROM (VALUES (1), (2)) AS v(x)"
    )
    return PostgresDataSource.from_query(url, query, "orders")


def _spark(request: pytest.FixtureRequest) -> DataSource:
    spark = request.getfixturevalue("spark")
    frame = spark.createDataFrame(
        [(DAY, 1.0, [1, 2]), (DAY, 2.0, [3])], "yyyy_mm_dd date, x double, a array<int>"
    )
    return SparkDataSource.from_dataframe(frame, "orders")


ENGINE_SOURCES: dict[str, Callable[[pytest.FixtureRequest], DataSource]] = {
    "duckdb": _duckdb,
    "postgres": _postgres,
    "spark": _spark,
}
# One expression each engine runs (UNNEST is DuckDB's and PostgreSQL's, explode Spark's)
# and that used to store 1 + 2 + 1 = 4 for a sum of 3.
ENGINE_SQL = {
    "duckdb": "SUM(x) + UNNEST([1, 2])",
    "postgres": "SUM(x) + UNNEST(ARRAY[1, 2])",
    "spark": "SUM(x) + explode(array(1, 2))",
}


# Spark starts a JVM and a session: its case is slow, the others are not.
@pytest.mark.parametrize(
    "engine",
    [pytest.param(e, marks=pytest.mark.slow) if e == "spark" else e for e in ENGINE_SOURCES],
)
def test_a_run_with_set_returning_custom_sql_is_refused_before_the_scan_and_stores_nothing(
    engine: str, store: MetricDB, request: pytest.FixtureRequest
) -> None:
    source = ENGINE_SOURCES[engine](request)
    sql = ENGINE_SQL[engine]

    @check(name="Orders")
    def orders(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
        ctx.assert_that(mp.custom_sql(sql)).where(name="sum plus set").is_geq(0)

    suite = VerificationSuite([orders], store, "Orders")
    with pytest.raises(DefinitionError, match=r"returns a set of rows") as refused:
        suite.run([source], ResultKey(DAY))
    assert "check 'Orders', assertion 'sum plus set'" in str(refused.value)
    assert refused.value.metric == f"custom_sql({sql})"
    assert store.runs() == [] and store.search() == []
    assert suite.statements == []


def test_the_engine_really_returns_many_rows_or_none_for_such_an_expression() -> None:
    """Why the rule exists: DuckDB answers one aggregate plus UNNEST with two rows."""
    import duckdb

    rows: Any = duckdb.sql("SELECT SUM(x) + UNNEST([1, 2]) FROM (VALUES (1.0), (2.0)) v(x)")
    assert sorted(rows.fetchall()) == [(4.0,), (5.0,)]
    empty: Any = duckdb.sql("SELECT SUM(x) + UNNEST([]::INT[]) FROM (VALUES (1.0)) v(x)")
    assert empty.fetchall() == []
