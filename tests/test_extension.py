"""A metric kind of one's own: one spec class and one provider function, nothing else.

Both kinds here live only in this module, as a plugin's would: ``median(c)`` is a plain
aggregate in the shared statement, ``mode_count(c)`` (rows holding the most frequent
value) aggregates over the grouped rows that ``unique_count(c)`` uses too. They run
through a real suite on DuckDB, are checked against plain Python, stored, and rebuilt
from the store by their ``kind``.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success
from sqlglot import exp

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import DefinitionError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB
from dqx.provider import MetricSymbol
from dqx.specs import GroupKeys, MetricSpec, Params, quoted_column

DAY = dt.date(2024, 6, 5)
YESTERDAY = DAY - dt.timedelta(days=1)
Measure = Callable[..., dict[str, Result[float, str]]]  # the `measure` fixture of conftest


@dataclass(frozen=True)
class Median(MetricSpec):
    """The middle value, halfway between the two middle ones for an even count."""

    kind: ClassVar[str] = "median"
    column: str

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        return cls(parameters["column"])

    @property
    def parameters(self) -> dict[str, Any]:
        return {"column": self.column}

    @property
    def name(self) -> str:
        return f"median({self.column})"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return (self.column,)

    def aggregate(self, params: Params, dialect: str) -> exp.Expr:
        return exp.Median(this=quoted_column(self.column))


@dataclass(frozen=True)
class ModeCount(MetricSpec):
    """Rows holding the column's most frequent non-null value."""

    kind: ClassVar[str] = "mode_count"
    empty_value: ClassVar[float | None] = 0.0
    column: str

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        return cls(parameters["column"])

    @property
    def parameters(self) -> dict[str, Any]:
        return {"column": self.column}

    @property
    def name(self) -> str:
        return f"mode_count({self.column})"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    @property
    def grouped_by(self) -> tuple[str, ...]:
        return (self.column,)

    def grouped_value(
        self, keys: GroupKeys, rows: exp.Expr, params: Params, dialect: str
    ) -> exp.Expr:
        present = exp.Not(this=exp.Is(this=keys[self.column].copy(), expression=exp.Null()))
        largest = exp.Filter(this=exp.Max(this=rows.copy()), expression=exp.Where(this=present))
        return exp.Coalesce(this=largest, expressions=[exp.Literal.number(0)])


# The "provider methods": what a plugin hands its users beside mp.average(...).
def median(
    mp: MetricProvider, column: str, dataset: str | None = None, lag: int = 0
) -> MetricSymbol:
    return mp.metric(Median(column), dataset, lag)


def mode_count(
    mp: MetricProvider, column: str, dataset: str | None = None, lag: int = 0
) -> MetricSymbol:
    return mp.metric(ModeCount(column), dataset, lag)


ROWS: list[tuple[dt.date, float | None, str | None]] = [
    (YESTERDAY, 4.0, "a"),
    (YESTERDAY, 1.0, "b"),
    (YESTERDAY, None, "b"),
    (DAY, 3.0, "a"),
    (DAY, 10.0, "b"),
    (DAY, 2.0, "b"),
    (DAY, None, None),
    (DAY, 7.5, None),
    (DAY, 2.0, "c"),
    (DAY, 8.0, None),
]


def orders() -> DuckRelationDataSource:
    table = pa.table(
        {
            "yyyy_mm_dd": pa.array([r[0] for r in ROWS], pa.date32()),
            "price": pa.array([r[1] for r in ROWS], pa.float64()),
            "status": pa.array([r[2] for r in ROWS], pa.string()),
        }
    )
    return DuckRelationDataSource.from_arrow(table, "orders")


def oracle_median(day: dt.date) -> float:
    return statistics.median(r[1] for r in ROWS if r[0] == day and r[1] is not None)


def oracle_mode_count(day: dt.date) -> int:
    return max(Counter(r[2] for r in ROWS if r[0] == day and r[2] is not None).values())


@check(name="Orders")
def order_checks(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(median(mp, "price")).where(name="median").is_gt(0)
    ctx.assert_that(median(mp, "price", lag=1)).where(name="median yesterday").is_gt(0)
    ctx.assert_that(mode_count(mp, "status")).where(name="mode").is_geq(0)
    ctx.assert_that(mp.unique_count("status")).where(name="statuses").is_geq(0)
    ctx.assert_that(mp.ext.day_over_day(median(mp, "price"))).where(name="median dod").is_gt(-1)


def test_a_kind_defined_outside_dqx_runs_is_stored_and_comes_back() -> None:
    db = InMemoryMetricDB()
    suite = VerificationSuite([order_checks], db, "Plugin kinds")
    suite.run([orders()], ResultKey(DAY))

    results = {r.assertion: r.value for r in suite.collect_results()}
    assert results["median"] == Success(oracle_median(DAY))
    assert results["median yesterday"] == Success(oracle_median(YESTERDAY))
    assert results["mode"] == Success(float(oracle_mode_count(DAY)))
    assert results["statuses"] == Success(3.0)
    change = (oracle_median(DAY) - oracle_median(YESTERDAY)) / oracle_median(YESTERDAY)
    assert results["median dod"] == Success(pytest.approx(change))

    # The grouped kind shares the grouped statement of its column with unique_count.
    grouped = [s for s in suite.statements if "mode_count(status)" in s.metrics]
    assert [set(s.metrics) for s in grouped] == [{"mode_count(status)", "unique_count(status)"}]

    stored = {(m.name, m.yyyy_mm_dd): m for m in db.search()}
    for name, day, expected in [
        ("median(price)", DAY, oracle_median(DAY)),
        ("median(price)", YESTERDAY, oracle_median(YESTERDAY)),
        ("mode_count(status)", DAY, oracle_mode_count(DAY)),
    ]:
        metric = stored[(name, day)]
        assert metric.value == expected
        # dqx.kinds finds this module's classes by the stored kind.
        rebuilt = metric.to_spec()
        assert rebuilt == (Median("price") if name.startswith("median") else ModeCount("status"))
        assert type(rebuilt) in (Median, ModeCount) and rebuilt.name == name
    extended = stored[("day_over_day(median(price))", DAY)].to_spec()
    assert extended.name == "day_over_day(median(price))"


def test_a_kind_of_ones_own_is_validated_before_any_scan() -> None:
    @check(name="Bad")
    def bad(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(median(mp, "status")).where(name="median").is_gt(0)

    suite = VerificationSuite([bad], InMemoryMetricDB(), "Plugin kinds")
    with pytest.raises(DefinitionError, match=r"median\(status\) needs a numeric column"):
        suite.run([orders()], ResultKey(DAY))
    assert suite.statements == []


def number(value: Result[float, str]) -> float | None:
    return float(value.unwrap()) if isinstance(value, Success) else None


@pytest.mark.slow
@given(
    st.lists(
        st.tuples(st.none() | st.floats(-1e6, 1e6), st.none() | st.sampled_from("xyz")),
        max_size=25,
    )
)
def test_own_kinds_match_plain_python(
    measure: Measure, rows: list[tuple[float | None, str | None]]
) -> None:
    table = pa.table(
        {
            "v": pa.array([r[0] for r in rows], pa.float64()),
            "s": pa.array([r[1] for r in rows], pa.string()),
        }
    )
    got = measure(
        table,
        {
            "median": lambda mp: median(mp, "v"),
            "mode": lambda mp: mode_count(mp, "s"),
        },
    )
    values = [r[0] for r in rows if r[0] is not None]
    if values:
        assert number(got["median"]) == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-9)
    else:
        assert isinstance(got["median"], Failure)
    labels = Counter(r[1] for r in rows if r[1] is not None)
    assert number(got["mode"]) == max(labels.values(), default=0)
