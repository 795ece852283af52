"""Metric symbols and the expressions built from them.

``MetricProvider`` hands out symbols (``mp.average("price")``); symbols combine with
``+ - * /``, unary minus, ``abs()`` and numbers into an expression tree of floats.
Nothing here touches data: an expression only says which metric values, on which
dataset and date, it needs; the evaluator fills them in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from dqx.common import DefinitionError
from dqx.extended import DayOverDay, ExtendedSpec, Stddev, WeekOverWeek
from dqx.specs import (
    Average,
    BindValue,
    CountValues,
    CustomSQL,
    DuplicateCount,
    Maximum,
    MetricSpec,
    Minimum,
    NullCount,
    NumRows,
    Sum,
    UniqueCount,
    Variance,
)

__all__ = [
    "Abs",
    "BinOp",
    "Const",
    "Expr",
    "ExtendedMetricProvider",
    "ExtendedSymbol",
    "MetricProvider",
    "MetricSymbol",
    "Neg",
    "as_expr",
]

Number = int | float


def as_expr(value: Expr | Number) -> Expr:
    if isinstance(value, Expr):
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DefinitionError(
            f"metric expressions combine metrics and numbers, got {type(value).__name__} {value!r}"
        )
    number = float(value)
    if math.isnan(number):
        raise DefinitionError("NaN is not a usable number in a metric expression or bound")
    return Const(number)


class Expr:
    """A node of a metric expression. Immutable; arithmetic builds new nodes."""

    def __add__(self, other: Expr | Number) -> Expr:
        return BinOp("+", self, as_expr(other))

    def __radd__(self, other: Number) -> Expr:
        return BinOp("+", as_expr(other), self)

    def __sub__(self, other: Expr | Number) -> Expr:
        return BinOp("-", self, as_expr(other))

    def __rsub__(self, other: Number) -> Expr:
        return BinOp("-", as_expr(other), self)

    def __mul__(self, other: Expr | Number) -> Expr:
        return BinOp("*", self, as_expr(other))

    def __rmul__(self, other: Number) -> Expr:
        return BinOp("*", as_expr(other), self)

    def __truediv__(self, other: Expr | Number) -> Expr:
        return BinOp("/", self, as_expr(other))

    def __rtruediv__(self, other: Number) -> Expr:
        return BinOp("/", as_expr(other), self)

    def __neg__(self) -> Expr:
        return Neg(self)

    def __pos__(self) -> Expr:
        return self

    def __abs__(self) -> Expr:
        return Abs(self)

    def __bool__(self) -> bool:
        raise DefinitionError(
            f"{self} has no truth value while checks are declared; compare it with "
            "ctx.assert_that(...).where(name=...).is_gt(...) and friends"
        )

    def _no_comparison(self, other: object) -> bool:
        # Without this, `mp.num_rows() > 0` is a bare TypeError that does not say what to do.
        raise DefinitionError(
            f"{self} is compared while checks are declared, before any value exists; "
            "use ctx.assert_that(...).where(name=...).is_gt(...) and friends"
        )

    __lt__ = __le__ = __gt__ = __ge__ = _no_comparison

    def children(self) -> tuple[Expr, ...]:
        return ()

    def leaves(self) -> Iterator[MetricSymbol | ExtendedSymbol]:
        """Every metric the expression reads, depth first."""
        for child in self.children():
            yield from child.leaves()

    def map_leaves(
        self, fn: Callable[[MetricSymbol | ExtendedSymbol], MetricSymbol | ExtendedSymbol]
    ) -> Expr:
        raise NotImplementedError

    def precedence(self) -> int:
        return 100

    def shifted(self, days: int) -> Expr:
        """The same expression ``days`` earlier: every metric's lag moved back."""
        return self.map_leaves(lambda leaf: leaf.moved(days))

    def datasets(self) -> set[str]:
        """The datasets the expression's metrics read (resolved ones only)."""
        return {leaf.dataset for leaf in self.leaves() if leaf.dataset is not None}

    def __str__(self) -> str:
        # Metrics print as written (`num_rows()`), so an expression over two datasets
        # would read `unique_count(carrier) - num_rows()`, hiding which is which: then,
        # and only then, each metric carries its dataset: `flights.unique_count(carrier)`.
        return self.text(qualified=len(self.datasets()) > 1)

    def text(self, qualified: bool) -> str:
        """The expression as written; ``qualified`` puts each metric's dataset before it."""
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Const(Expr):
    value: float

    def text(self, qualified: bool) -> str:
        if math.isfinite(self.value) and self.value.is_integer() and abs(self.value) < 1e16:
            return str(int(self.value))
        return repr(self.value)

    def precedence(self) -> int:
        # A negative number reads like unary minus: 2 - (-1), not 2 - -1.
        return _UNARY if self.value < 0 else 100

    def map_leaves(
        self, fn: Callable[[MetricSymbol | ExtendedSymbol], MetricSymbol | ExtendedSymbol]
    ) -> Expr:
        return self


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}
_UNARY = 3


@dataclass(frozen=True, eq=False)
class BinOp(Expr):
    op: Literal["+", "-", "*", "/"]
    left: Expr
    right: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def precedence(self) -> int:
        return _PRECEDENCE[self.op]

    def map_leaves(
        self, fn: Callable[[MetricSymbol | ExtendedSymbol], MetricSymbol | ExtendedSymbol]
    ) -> Expr:
        return BinOp(self.op, self.left.map_leaves(fn), self.right.map_leaves(fn))

    def text(self, qualified: bool) -> str:
        left = self.left.text(qualified)
        if self.left.precedence() < self.precedence():
            left = f"({left})"
        right = self.right.text(qualified)
        # The text keeps the tree's shape, so a * (b / c) stays bracketed: float
        # arithmetic is not associative. A signed operand reads a - (-b), not a - -b.
        if self.right.precedence() <= self.precedence() or self.right.precedence() == _UNARY:
            right = f"({right})"
        return f"{left} {self.op} {right}"


@dataclass(frozen=True, eq=False)
class Neg(Expr):
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def precedence(self) -> int:
        return _UNARY

    def map_leaves(
        self, fn: Callable[[MetricSymbol | ExtendedSymbol], MetricSymbol | ExtendedSymbol]
    ) -> Expr:
        return Neg(self.operand.map_leaves(fn))

    def text(self, qualified: bool) -> str:
        inner = self.operand.text(qualified)
        return f"-({inner})" if self.operand.precedence() < 100 else f"-{inner}"


@dataclass(frozen=True, eq=False)
class Abs(Expr):
    operand: Expr

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def map_leaves(
        self, fn: Callable[[MetricSymbol | ExtendedSymbol], MetricSymbol | ExtendedSymbol]
    ) -> Expr:
        return Abs(self.operand.map_leaves(fn))

    def text(self, qualified: bool) -> str:
        return f"abs({self.operand.text(qualified)})"


@dataclass(frozen=True, eq=False)
class MetricSymbol(Expr):
    """One metric on one dataset, ``lag`` days before the run's date."""

    spec: MetricSpec
    dataset: str | None = None
    lag: int = 0

    def leaves(self) -> Iterator[MetricSymbol | ExtendedSymbol]:
        yield self

    def map_leaves(
        self, fn: Callable[[MetricSymbol | ExtendedSymbol], MetricSymbol | ExtendedSymbol]
    ) -> Expr:
        return fn(self)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def key(self) -> tuple[tuple[str, str], str | None, int]:
        return (self.spec.identity, self.dataset, self.lag)

    def lags(self) -> tuple[int, ...]:
        return (self.lag,)

    def moved(self, days: int) -> MetricSymbol:
        return replace(self, lag=self.lag + days)

    def text(self, qualified: bool) -> str:
        name = self.spec.name
        if self.lag:
            name = f"{name[:-1]}{'' if name.endswith('()') else ', '}lag={self.lag})"
        return _qualify(name, self.dataset, qualified)


@dataclass(frozen=True, eq=False)
class ExtendedSymbol(Expr):
    """A metric computed from a base metric's values on several dates.

    ``spec`` says how (``DayOverDay(Average("price"))``); ``base`` is the base metric
    with its dataset and lag, and always carries ``spec.base``.
    """

    spec: ExtendedSpec
    base: MetricSymbol

    def leaves(self) -> Iterator[MetricSymbol | ExtendedSymbol]:
        yield self

    def map_leaves(
        self, fn: Callable[[MetricSymbol | ExtendedSymbol], MetricSymbol | ExtendedSymbol]
    ) -> Expr:
        return fn(self)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def dataset(self) -> str | None:
        return self.base.dataset

    @property
    def lag(self) -> int:
        return self.base.lag

    def base_lags(self) -> tuple[int, ...]:
        """Days before the run's date whose base values this metric reads."""
        return self.spec.base_lags(self.base.lag)

    def with_base(self, base: MetricSymbol) -> ExtendedSymbol:
        return replace(self, base=base)

    def moved(self, days: int) -> ExtendedSymbol:
        return self.with_base(self.base.moved(days))

    def text(self, qualified: bool) -> str:
        # The spec's name, with the base as written (its lag shown).
        name = self.spec.name.replace(self.spec.base.name, self.base.text(False), 1)
        return _qualify(name, self.dataset, qualified)


def _qualify(name: str, dataset: str | None, qualified: bool) -> str:
    return f"{dataset}.{name}" if qualified and dataset is not None else name


def _check_lag(lag: object) -> int:
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
        raise DefinitionError(f"lag must be a whole number of days >= 0, got {lag!r}")
    return lag


def _check_dataset(dataset: object) -> str | None:
    if dataset is not None and (not isinstance(dataset, str) or not dataset):
        raise DefinitionError(f"dataset must be a non-empty string, got {dataset!r}")
    return dataset


class MetricProvider:
    """Hands out metric symbols. Every method takes ``dataset=`` and ``lag=``."""

    def __init__(self) -> None:
        self.ext = ExtendedMetricProvider()

    def metric(self, spec: MetricSpec, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        """The symbol of any metric kind: the methods below are one-line calls to it,
        and a kind of your own (a :class:`~dqx.specs.MetricSpec` subclass) is used the
        same way: ``mp.metric(Median("price"), dataset="orders")``."""
        if not isinstance(spec, MetricSpec):
            raise DefinitionError(
                f"mp.metric() takes a MetricSpec such as Average('price'), got {spec!r}"
            )
        return MetricSymbol(spec, _check_dataset(dataset), _check_lag(lag))

    def num_rows(self, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(NumRows(), dataset, lag)

    def sum(self, column: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(Sum(column), dataset, lag)

    def average(self, column: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(Average(column), dataset, lag)

    def minimum(self, column: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(Minimum(column), dataset, lag)

    def maximum(self, column: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(Maximum(column), dataset, lag)

    def variance(self, column: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(Variance(column), dataset, lag)

    def null_count(self, column: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(NullCount(column), dataset, lag)

    def unique_count(self, column: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(UniqueCount(column), dataset, lag)

    def duplicate_count(
        self, columns: Sequence[str] | str, dataset: str | None = None, lag: int = 0
    ) -> MetricSymbol:
        over = (columns,) if isinstance(columns, str) else tuple(columns)
        return self.metric(DuplicateCount(over=over), dataset, lag)

    def count_values(
        self,
        column: str,
        values: BindValue | Sequence[BindValue],
        dataset: str | None = None,
        lag: int = 0,
    ) -> MetricSymbol:
        return self.metric(CountValues.of(column, values), dataset, lag)

    def custom_sql(self, sql: str, dataset: str | None = None, lag: int = 0) -> MetricSymbol:
        return self.metric(CustomSQL.of(sql), dataset, lag)


def _extended_base(method: str, metric: object, dataset: str | None, lag: int) -> MetricSymbol:
    """The base symbol of ``mp.ext.<method>(metric, dataset=, lag=)``.

    ``dataset`` names the base's dataset when the base has none; ``lag`` moves the
    whole window back, on top of the base's own lag.
    """
    if not isinstance(metric, MetricSymbol):
        raise DefinitionError(
            f"ext.{method}() takes one metric such as mp.average('price'), got {metric}"
        )
    chosen = _check_dataset(dataset)
    extra = _check_lag(lag)
    if chosen is not None and metric.dataset is not None and chosen != metric.dataset:
        raise DefinitionError(
            f"ext.{method}({metric}, dataset={chosen!r}) contradicts its metric, which reads "
            f"dataset {metric.dataset!r}; pass one of them, or the same name to both",
            dataset=chosen,
            metric=metric.name,
        )
    return replace(metric, dataset=metric.dataset or chosen, lag=metric.lag + extra)


class ExtendedMetricProvider:
    """Metrics over a base metric's history: ``mp.ext.day_over_day(m)`` and friends.

    Each takes ``dataset=`` (the base metric's dataset, when the base names none) and
    ``lag=`` (days to move the whole window back), as every plain metric does.
    """

    def day_over_day(
        self, metric: MetricSymbol, dataset: str | None = None, lag: int = 0
    ) -> ExtendedSymbol:
        """(m(t) - m(t-1)) / m(t-1)."""
        base = _extended_base("day_over_day", metric, dataset, lag)
        return ExtendedSymbol(DayOverDay(base.spec), base)

    def week_over_week(
        self, metric: MetricSymbol, dataset: str | None = None, lag: int = 0
    ) -> ExtendedSymbol:
        """(m(t) - m(t-7)) / m(t-7)."""
        base = _extended_base("week_over_week", metric, dataset, lag)
        return ExtendedSymbol(WeekOverWeek(base.spec), base)

    def stddev(
        self,
        metric: MetricSymbol,
        offset: int = 0,
        n: int = 7,
        dataset: str | None = None,
        lag: int = 0,
    ) -> ExtendedSymbol:
        """Sample standard deviation of m over the n days ending at t - offset."""
        base = _extended_base("stddev", metric, dataset, lag)
        _check_lag(offset)
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise DefinitionError(f"ext.stddev() needs n >= 2 days, got n={n!r}")
        return ExtendedSymbol(Stddev(base.spec, offset=offset, n=n), base)
