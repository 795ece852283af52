"""Declaring checks, the suite's life cycle, and bad input refused before any scan."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from returns.result import Success

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import DefinitionError, DQXError, SuiteStateError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB

DAY = dt.date(2024, 6, 1)


class CountingSource:
    """A real DuckDB source whose every scan advances a sequence, so scans are countable."""

    def __init__(self, name: str = "sales") -> None:
        self.connection = duckdb.connect()
        table = pa.table({"price": [1.0, 2.0, 3.0], "qty": [1, 2, 3], "status": ["a", "b", None]})
        self.connection.register("raw", table)
        self.connection.execute(
            "CREATE SEQUENCE scans; CREATE VIEW counted AS "
            "SELECT * FROM raw WHERE nextval('scans') > 0"
        )
        self.source = DuckRelationDataSource(self.connection, "counted", name)

    @property
    def rows_scanned(self) -> int:
        row = self.connection.execute(
            "SELECT last_value FROM duckdb_sequences() WHERE sequence_name = 'scans'"
        ).fetchone()
        assert row is not None
        return int(row[0] or 0)


def one_check(body: Callable[[MetricProvider, Context], None], **options: Any) -> Any:
    return check(name="Sales", **options)(body)


def test_a_valid_run_scans_the_counting_source() -> None:
    counting = CountingSource()

    def body(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.sum("price")).where(name="sum").is_eq(6)

    suite = VerificationSuite([one_check(body)], InMemoryMetricDB(), "s")
    suite.run([counting.source], ResultKey(DAY))
    assert counting.rows_scanned >= 3
    assert [r.status for r in suite.collect_results()] == ["OK"]


BAD_CHECKS: dict[str, tuple[Callable[[MetricProvider, Context], None], list[str]]] = {
    "unknown dataset": (
        lambda mp, ctx: ctx.assert_that(mp.sum("price", dataset="slaes")).where(name="a").is_gt(0),
        ["'slaes'", "did you mean 'sales'"],
    ),
    "unknown column": (
        lambda mp, ctx: ctx.assert_that(mp.average("pirce")).where(name="a").is_gt(0),
        ["'pirce'", "average(pirce)", "did you mean 'price'", "check 'Sales'", "assertion 'a'"],
    ),
    "unknown column in a lagged extended metric": (
        lambda mp, ctx: (
            ctx.assert_that(mp.ext.day_over_day(mp.sum("qtty"))).where(name="a").is_gt(0)
        ),
        ["'qtty'", "did you mean 'qty'"],
    ),
    "unknown column in custom_sql": (
        lambda mp, ctx: ctx.assert_that(mp.custom_sql("SUM(pricee)")).where(name="a").is_gt(0),
        ["'pricee'", "custom_sql(SUM(pricee))"],
    ),
    "numeric metric on a text column": (
        lambda mp, ctx: ctx.assert_that(mp.sum("status")).where(name="a").is_gt(0),
        ["sum(status)", "numeric", "'status'", "VARCHAR"],
    ),
    "text value for a numeric column": (
        lambda mp, ctx: ctx.assert_that(mp.count_values("qty", "three")).where(name="a").is_gt(0),
        ["'three'", "'qty'"],
    ),
    "empty check": (lambda mp, ctx: None, ["'Sales'", "no assertions"]),
    "duplicate assertion names": (
        lambda mp, ctx: [
            ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0),
            ctx.assert_that(mp.sum("qty")).where(name="rows").is_gt(0),
        ],
        ["'Sales'", "'rows'"],
    ),
    "invalid assertion severity": (
        lambda mp, ctx: ctx.assert_that(mp.num_rows()).where(name="a", severity="P9").is_gt(0),
        ["'P9'", "'a'", "P0"],
    ),
    "custom_sql subquery": (
        lambda mp, ctx: (
            ctx.assert_that(mp.custom_sql("(SELECT MAX(price) FROM raw)")).where(name="a").is_gt(0)
        ),
        ["subquery"],
    ),
    "custom_sql statement": (
        lambda mp, ctx: (
            ctx.assert_that(mp.custom_sql("SUM(price); DROP VIEW counted")).where(name="a").is_gt(0)
        ),
        ["exactly one expression"],
    ),
    "custom_sql table function": (
        lambda mp, ctx: (
            ctx.assert_that(mp.custom_sql("COUNT(read_csv('x.csv'))")).where(name="a").is_gt(0)
        ),
        ["read_csv"],
    ),
    "custom_sql without aggregate": (
        lambda mp, ctx: ctx.assert_that(mp.custom_sql("price * 2")).where(name="a").is_gt(0),
        ["custom_sql(price * 2)", "aggregate"],
    ),
    "negative lag": (
        lambda mp, ctx: ctx.assert_that(mp.num_rows(lag=-1)).where(name="a").is_gt(0),
        ["lag", "-1"],
    ),
    "fractional lag": (
        lambda mp, ctx: ctx.assert_that(mp.num_rows(lag=1.5)).where(name="a").is_gt(0),  # type: ignore[arg-type]
        ["lag", "1.5"],
    ),
    "stddev over one day": (
        lambda mp, ctx: ctx.assert_that(mp.ext.stddev(mp.num_rows(), n=1)).where(name="a").is_gt(0),
        ["n=1"],
    ),
    "an assertion named but never compared": (
        lambda mp, ctx: [
            ctx.assert_that(mp.num_rows()).where(name="rows"),
            ctx.assert_that(mp.sum("qty")).where(name="qty").is_gt(0),
        ],
        ["'rows'", "'Sales'", "no comparison", ".is_gt("],
    ),
    "an assertion neither named nor compared": (
        lambda mp, ctx: [
            ctx.assert_that(mp.sum("price")),
            ctx.assert_that(mp.sum("qty")).where(name="qty").is_gt(0),
        ],
        ["sum(price)", "'Sales'", ".where(name="],
    ),
    "a comparison before where()": (
        lambda mp, ctx: ctx.assert_that(mp.num_rows()).is_gt(0),  # type: ignore[attr-defined]
        ["'Sales'", "is_gt", ".where(name="],
    ),
    "a metric declared with a bad argument": (
        lambda mp, ctx: ctx.assert_that(mp.average(3)).where(name="a").is_gt(0),  # type: ignore[arg-type]
        ["'Sales'", "average()", "3"],
    ),
    "between with its bounds reversed": (
        lambda mp, ctx: ctx.assert_that(mp.num_rows()).where(name="a").is_between(10, 1),
        ["'a'", "'Sales'", "10", "1", "is_between(1, 10)"],
    ),
    "boolean value for a text column": (
        lambda mp, ctx: ctx.assert_that(mp.count_values("status", True)).where(name="a").is_gt(0),
        ["True", "'status'", "VARCHAR"],
    ),
    "a check that crashes": (
        lambda mp, ctx: ctx.assert_that(1 / 0).where(name="a").is_gt(0),
        ["'Sales'", "ZeroDivisionError"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_CHECKS))
def test_bad_definitions_are_refused_before_any_scan(case: str) -> None:
    body, culprits = BAD_CHECKS[case]
    counting = CountingSource()
    suite = VerificationSuite([one_check(body)], InMemoryMetricDB(), "s")
    with pytest.raises(DefinitionError) as raised:
        suite.run([counting.source], ResultKey(DAY))
    for culprit in culprits:
        assert culprit in str(raised.value)
    assert counting.rows_scanned == 0
    assert suite.statements == []
    with pytest.raises(SuiteStateError):
        suite.collect_results()


def test_a_metric_without_dataset_is_ambiguous_among_several_sources() -> None:
    first, second = CountingSource("sales"), CountingSource("refunds")

    def body(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)

    suite = VerificationSuite([one_check(body)], InMemoryMetricDB(), "s")
    with pytest.raises(DefinitionError, match=r"'sales', 'refunds'.*pass dataset="):
        suite.run([first.source, second.source], ResultKey(DAY))
    assert first.rows_scanned == second.rows_scanned == 0
    # Naming the datasets on the check resolves it.
    suite = VerificationSuite([one_check(body, datasets=["refunds"])], InMemoryMetricDB(), "s")
    suite.run([first.source, second.source], ResultKey(DAY))
    assert first.rows_scanned == 0
    assert second.rows_scanned > 0


def test_a_check_listing_an_unknown_dataset_is_refused() -> None:
    counting = CountingSource()

    def body(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)

    suite = VerificationSuite([one_check(body, datasets=["sale"])], InMemoryMetricDB(), "s")
    with pytest.raises(DefinitionError, match=r"'sale'.*did you mean 'sales'"):
        suite.run([counting.source], ResultKey(DAY))
    assert counting.rows_scanned == 0


@pytest.mark.parametrize("severity", ["P4", "p1", "high", ""])
def test_check_severity_must_be_p0_to_p3(severity: str) -> None:
    with pytest.raises(DefinitionError, match=repr(severity)):
        check(name="x", severity=severity)(lambda mp, ctx: None)


def test_suite_without_checks_or_with_twin_checks_is_refused() -> None:
    with pytest.raises(DefinitionError, match="no checks"):
        VerificationSuite([], InMemoryMetricDB(), "empty")
    twin = check(name="twin")(lambda mp, ctx: None)
    with pytest.raises(DefinitionError, match="'twin'"):
        VerificationSuite([twin, twin], InMemoryMetricDB(), "twins")


def _rows_check() -> Any:
    @check(name="Rows", severity="P2")
    def rows(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="has rows").is_gt(0)
        ctx.assert_that(mp.num_rows()).where(name="urgent", severity="P0").is_gt(10)

    return rows


def test_execution_ids_are_128_random_bits_not_uuid4() -> None:
    db = InMemoryMetricDB()
    ids = [VerificationSuite([_rows_check()], db, "s").execution_id for _ in range(200)]
    for execution_id in ids:
        assert len(execution_id) == 32
        assert execution_id == execution_id.lower()
        assert uuid.UUID(execution_id).hex == execution_id
    assert len(set(ids)) == len(ids)
    # uuid4 fixes the version nibble to 4 and the variant bits to 10xx.
    assert len({execution_id[12] for execution_id in ids}) > 4
    assert len({execution_id[16] for execution_id in ids}) > 4


def test_a_suite_runs_once_until_reset() -> None:
    source = DuckRelationDataSource.from_arrow(pa.table({"x": [1, 2]}), "t")
    suite = VerificationSuite([_rows_check()], InMemoryMetricDB(), "s")
    with pytest.raises(SuiteStateError, match="run"):
        suite.collect_results()
    first_id = suite.execution_id
    suite.run([source], ResultKey(DAY))
    assert {r.execution_id for r in suite.collect_results()} == {first_id}
    with pytest.raises(SuiteStateError, match=first_id):
        suite.run([source], ResultKey(DAY))
    assert issubclass(SuiteStateError, DQXError)

    suite.reset()
    assert suite.execution_id != first_id
    with pytest.raises(SuiteStateError):
        suite.collect_results()
    suite.run([source], ResultKey(DAY + dt.timedelta(days=1)))
    results = suite.collect_results()
    assert {r.execution_id for r in results} == {suite.execution_id}
    assert {r.yyyy_mm_dd for r in results} == {DAY + dt.timedelta(days=1)}


def test_assertion_results_carry_their_context() -> None:
    source = DuckRelationDataSource.from_arrow(pa.table({"x": [1, 2]}), "t")
    suite = VerificationSuite([_rows_check()], InMemoryMetricDB(), "Row suite")
    suite.run([source], ResultKey(DAY, {"env": "prod", "team": "data"}))
    by_name = {r.assertion: r for r in suite.collect_results()}
    ok, urgent = by_name["has rows"], by_name["urgent"]
    assert (ok.status, ok.severity, ok.value) == ("OK", "P2", Success(2.0))
    assert (urgent.status, urgent.severity, urgent.value) == ("FAILURE", "P0", Success(2.0))
    for result in (ok, urgent):
        assert result.suite == "Row suite"
        assert result.check == "Rows"
        assert result.expression == "num_rows()"
        assert result.tags == {"env": "prod", "team": "data"}
        assert result.yyyy_mm_dd == DAY
        assert result.execution_id == suite.execution_id


def test_a_run_that_breaks_midway_is_recorded_as_error_not_running() -> None:
    class TruncatingSource(DuckRelationDataSource):
        # A buggy custom source: rows come back one column short.
        def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            return [row[:-1] for row in super().execute(sql, params)]

    @check(name="Rows")
    def rows(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.average("x")).where(name="avg").is_gt(0)

    connection = duckdb.connect()
    connection.register("t", pa.table({"x": [1.0, 2.0]}))
    db = InMemoryMetricDB()
    suite = VerificationSuite([rows], db, "Broken")
    with pytest.raises(IndexError):
        suite.run([TruncatingSource(connection, "t", "t")], ResultKey(dt.date(2024, 1, 1)))
    run = db.run(suite.execution_id)
    assert run is not None
    assert (run.status, run.finished is not None) == ("error", True)
