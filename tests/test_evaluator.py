"""Assertions judged on exact floats: OK, FAILURE, or ERROR with the reason."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from returns.result import Failure, Success

from dqx import (
    Context,
    MetricProvider,
    ResultKey,
    VerificationSuite,
    check,
    metrics_by_execution_id,
)
from dqx.checks import AssertionReady
from dqx.common import AssertionResult, DefinitionError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB

DAY = dt.date(2024, 8, 20)


def judge_all(
    table: pa.Table,
    assertions: dict[str, Callable[[MetricProvider, Context], None]],
    name: str = "nums",
) -> dict[str, AssertionResult]:
    @check(name="Judged")
    def judged(mp: MetricProvider, ctx: Context) -> None:
        for declare in assertions.values():
            declare(mp, ctx)

    suite = VerificationSuite([judged], InMemoryMetricDB(), "eval")
    suite.run([DuckRelationDataSource.from_arrow(table, name)], ResultKey(DAY))
    return {r.assertion: r for r in suite.collect_results()}


def test_values_are_exact_floats_never_rounded() -> None:
    table = pa.table(
        {
            "x": [0.1, 0.2],
            "big": pa.array([123_456_789_012_345, 1], pa.int64()),
            "third": [1.0, 2.0],
        }
    )
    results = judge_all(
        table,
        {
            "sum": lambda mp, ctx: ctx.assert_that(mp.sum("x")).where(name="sum").is_eq(0.3),
            "big": lambda mp, ctx: ctx.assert_that(mp.sum("big")).where(name="big").is_gt(0),
            "ratio": lambda mp, ctx: (
                ctx.assert_that(mp.sum("big") / 7).where(name="ratio").is_gt(0)
            ),
            "scaled": lambda mp, ctx: (
                ctx.assert_that(mp.num_rows() * 0.1 + 0.1).where(name="scaled").is_gt(0)
            ),
            "avg": lambda mp, ctx: (
                ctx.assert_that(mp.average("third") / 3).where(name="avg").is_gt(0)
            ),
        },
    )
    assert results["sum"].value == Success(0.1 + 0.2)
    assert results["sum"].number != 0.3
    # 0.30000000000000004 is within the default tolerance of 1e-9.
    assert results["sum"].status == "OK"
    assert results["big"].value == Success(123456789012346.0)
    assert results["ratio"].value == Success(123456789012346.0 / 7)
    assert results["scaled"].value == Success(2 * 0.1 + 0.1)
    assert results["avg"].value == Success(1.5 / 3)


def test_nan_division_by_zero_and_null_are_errors_naming_metric_dataset_and_date() -> None:
    table = pa.table(
        {
            "x": [1.0, math.nan],
            "never": pa.array([None, None], pa.float64()),
        }
    )
    results = judge_all(
        table,
        {
            "nan": lambda mp, ctx: ctx.assert_that(mp.sum("x")).where(name="nan").is_gt(0),
            # Metric values are finite by now: only an infinite number written in the
            # expression (0 * inf) still makes NaN.
            "nan arithmetic": lambda mp, ctx: (
                ctx.assert_that(mp.null_count("x") * math.inf).where(name="nan arithmetic").is_gt(0)
            ),
            "div": lambda mp, ctx: (
                ctx.assert_that(mp.num_rows() / mp.null_count("x")).where(name="div").is_gt(0)
            ),
            "null": lambda mp, ctx: (
                ctx.assert_that(mp.average("never")).where(name="null").is_gt(0)
            ),
            "null inside": lambda mp, ctx: (
                ctx.assert_that(mp.num_rows() - abs(mp.average("never")))
                .where(name="null inside")
                .is_gt(0)
            ),
            "fine": lambda mp, ctx: ctx.assert_that(mp.num_rows()).where(name="fine").is_eq(2),
        },
        name="readings",
    )
    assert results["fine"].status == "OK"
    for name in ("nan", "nan arithmetic", "div", "null", "null inside"):
        assert results[name].status == "ERROR", results[name]
        assert isinstance(results[name].value, Failure)
    assert "sum(x) on dataset 'readings' for 2024-08-20 is NaN" in results["nan"].message
    assert "NaN" in results["nan arithmetic"].message
    assert "division by zero" in results["div"].message
    assert "null_count(x)" in results["div"].message
    for name in ("null", "null inside"):
        message = results[name].message
        assert "average(never) on dataset 'readings' for 2024-08-20 is NULL" in message


V = 2.5  # sum(x) below

COMPARISONS: list[tuple[str, Callable[[AssertionReady], None], str]] = [
    ("eq exact", lambda a: a.is_eq(2.5), "OK"),
    ("eq within default tol", lambda a: a.is_eq(2.5 + 1e-10), "OK"),
    ("eq outside default tol", lambda a: a.is_eq(2.5 + 1e-8), "FAILURE"),
    ("eq with tol", lambda a: a.is_eq(2.6, tol=0.2), "OK"),
    ("eq other", lambda a: a.is_eq(2.6), "FAILURE"),
    ("neq same", lambda a: a.is_neq(2.5), "FAILURE"),
    ("neq other", lambda a: a.is_neq(3), "OK"),
    ("neq within tol", lambda a: a.is_neq(2.6, tol=0.5), "FAILURE"),
    ("gt equal", lambda a: a.is_gt(2.5), "FAILURE"),
    ("gt below", lambda a: a.is_gt(2), "OK"),
    ("geq equal", lambda a: a.is_geq(2.5), "OK"),
    ("geq above", lambda a: a.is_geq(3), "FAILURE"),
    ("lt equal", lambda a: a.is_lt(2.5), "FAILURE"),
    ("lt above", lambda a: a.is_lt(3), "OK"),
    ("leq equal", lambda a: a.is_leq(2.5), "OK"),
    ("leq below", lambda a: a.is_leq(2), "FAILURE"),
    ("between inclusive", lambda a: a.is_between(2.5, 2.5), "OK"),
    ("between inside", lambda a: a.is_between(0, 3), "OK"),
    ("between above", lambda a: a.is_between(0, 2.4), "FAILURE"),
    ("between below", lambda a: a.is_between(2.6, 3), "FAILURE"),
    ("positive", lambda a: a.is_positive(), "OK"),
    ("negative", lambda a: a.is_negative(), "FAILURE"),
    ("zero", lambda a: a.is_zero(), "FAILURE"),
    ("zero with tol", lambda a: a.is_zero(tol=3), "OK"),
]


@pytest.mark.parametrize("sign", [1, -1, 0])
def test_every_comparator(sign: int) -> None:
    table = pa.table({"x": [1.0, 1.5], "zero": [0.0, 0.0]})
    results = judge_all(
        table,
        {
            label: (
                lambda mp, ctx, label=label, compare=compare: compare(
                    ctx.assert_that(
                        mp.sum("x") if sign == 1 else (-mp.sum("x") if sign else mp.sum("zero"))
                    ).where(name=label)
                )
            )
            for label, compare, _ in COMPARISONS
        },
    )
    value = sign * V
    for label, _, status in COMPARISONS:
        assert results[label].value == Success(value), label
        if sign == 1:
            assert results[label].status == status, label
    if sign == -1:
        assert results["negative"].status == "OK"
        assert results["positive"].status == "FAILURE"
        assert results["lt above"].status == "OK"
        assert results["between inside"].status == "FAILURE"
    if sign == 0:
        assert results["zero"].status == "OK"
        assert results["positive"].status == results["negative"].status == "FAILURE"


def test_bounds_may_be_expressions() -> None:
    table = pa.table({"x": [1.0, 1.5, None], "y": [3.0, 4.0, 5.0]})
    results = judge_all(
        table,
        {
            "below y": lambda mp, ctx: (
                ctx.assert_that(mp.sum("x")).where(name="below y").is_lt(mp.sum("y") / 4)
            ),
            "between": lambda mp, ctx: (
                ctx.assert_that(mp.sum("x"))
                .where(name="between")
                .is_between(mp.null_count("x") * 2, mp.num_rows() - 0.5)
            ),
            "bad bound": lambda mp, ctx: (
                ctx.assert_that(mp.sum("x"))
                .where(name="bad bound")
                .is_lt(mp.num_rows() / mp.null_count("y"))
            ),
        },
    )
    assert results["below y"].status == "OK"  # 2.5 < 12 / 4
    assert results["below y"].bound == "< sum(y) / 4"
    assert results["between"].status == "OK"  # 2 <= 2.5 <= 2.5
    assert results["bad bound"].status == "ERROR"
    assert "bound" in results["bad bound"].message
    assert "division by zero" in results["bad bound"].message


def test_unary_minus_and_abs() -> None:
    table = pa.table({"x": [1.0, -4.0]})
    results = judge_all(
        table,
        {
            "neg": lambda mp, ctx: ctx.assert_that(-mp.sum("x")).where(name="neg").is_eq(3),
            "abs": lambda mp, ctx: ctx.assert_that(abs(mp.sum("x"))).where(name="abs").is_eq(3),
            "mix": lambda mp, ctx: (
                ctx.assert_that(abs(mp.minimum("x") - mp.maximum("x")) / -mp.num_rows())
                .where(name="mix")
                .is_eq(-2.5)
            ),
        },
    )
    assert {name: r.status for name, r in results.items()} == {
        "neg": "OK",
        "abs": "OK",
        "mix": "OK",
    }
    assert results["mix"].expression == "abs(minimum(x) - maximum(x)) / (-num_rows())"


@pytest.mark.parametrize("bad", [-1, math.nan, "1"])
def test_tolerance_must_be_a_number_at_least_zero(bad: Any) -> None:
    @check(name="Tol")
    def tol(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="t").is_eq(1, tol=bad)

    suite = VerificationSuite([tol], InMemoryMetricDB(), "tol")
    with pytest.raises(DefinitionError, match="tol"):
        suite.run([DuckRelationDataSource.from_arrow(pa.table({"x": [1]}), "t")], ResultKey(DAY))


def test_an_extended_metric_of_an_infinite_base_is_an_error_naming_both() -> None:
    inf = math.inf
    days = [DAY - dt.timedelta(days=1), DAY]
    table = pa.table({"yyyy_mm_dd": days, "x": [inf, inf]})

    @check(name="Judged")
    def judged(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.maximum("x"))).where(name="dod").is_lt(0.5)
        ctx.assert_that(mp.ext.stddev(mp.maximum("x"), n=2)).where(name="sd").is_lt(1)

    suite = VerificationSuite([judged], InMemoryMetricDB(), "eval")
    suite.run([DuckRelationDataSource.from_arrow(table, "nums")], ResultKey(DAY))
    results = {r.assertion: r for r in suite.collect_results()}
    for name, metric in (("dod", "day_over_day(maximum(x))"), ("sd", "stddev(maximum(x)")):
        assert results[name].status == "ERROR"
        assert metric in results[name].message
        assert "maximum(x) on dataset 'nums' for 2024-08-20 is infinite" in results[name].message


def test_an_infinite_metric_is_an_error_naming_it_and_is_stored_as_it_is() -> None:
    # DuckDB divides a float by zero into inf where PostgreSQL raises, and a sum over an
    # infinity is one on every engine: an infinite value is an ERROR, like NaN, so the
    # status does not depend on the engine. The value itself is still recorded.
    table = pa.table(
        {
            "Price": [10.0, 2.5],
            "up": [math.inf, 1.0],
            "down": [-math.inf, 1.0],
            "big": [1e200, 1.0],
        }
    )

    @check(name="Judged")
    def judged(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.custom_sql('SUM("Price") / 0')).where(name="by zero").is_gt(0)
        ctx.assert_that(mp.sum("up")).where(name="up").is_gt(0)
        ctx.assert_that(mp.sum("down")).where(name="down").is_lt(0)
        ctx.assert_that(mp.maximum("big") * mp.maximum("big")).where(name="overflow").is_gt(0)
        # An infinite bound the user wrote is theirs to write: it judges as usual.
        ctx.assert_that(mp.sum("Price")).where(name="finite").is_lt(math.inf)

    db = InMemoryMetricDB()
    suite = VerificationSuite([judged], db, "eval")
    suite.run([DuckRelationDataSource.from_arrow(table, "nums")], ResultKey(DAY))
    results = {r.assertion: r for r in suite.collect_results()}
    assert results["finite"].status == "OK"
    where = "on dataset 'nums' for 2024-08-20 is infinite"
    for name, metric in (
        ("by zero", 'custom_sql(SUM("Price") / 0)'),
        ("up", "sum(up)"),
        ("down", "sum(down)"),
        ("overflow", "maximum(big) * maximum(big)"),
    ):
        assert results[name].status == "ERROR", results[name]
        assert isinstance(results[name].value, Failure)
        assert metric in results[name].message and "infinite" in results[name].message
    assert f"sum(up) {where}" in results["up"].message
    assert f"sum(down) {where}" in results["down"].message
    stored = {m.metric: m.value.unwrap() for m in metrics_by_execution_id(db, suite.execution_id)}
    assert stored['custom_sql(SUM("Price") / 0)'] == pc.divide(pc.sum(table["Price"]), 0.0).as_py()
    assert stored["sum(up)"] == pc.sum(table["up"]).as_py() == math.inf
    assert stored["sum(down)"] == pc.sum(table["down"]).as_py() == -math.inf
    assert stored["maximum(big)"] == 1e200


def test_a_stddev_too_wide_for_a_float_is_an_error_not_a_crash() -> None:
    days = [DAY - dt.timedelta(days=1), DAY]
    table = pa.table({"yyyy_mm_dd": days, "x": [1.7e308, -1.7e308]})

    @check(name="Judged")
    def judged(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.stddev(mp.maximum("x"), n=2)).where(name="sd").is_lt(1)

    suite = VerificationSuite([judged], InMemoryMetricDB(), "eval")
    suite.run([DuckRelationDataSource.from_arrow(table, "nums")], ResultKey(DAY))
    (result,) = suite.collect_results()
    assert result.status == "ERROR"
    assert "stddev(maximum(x)" in result.message and "infinite" in result.message
