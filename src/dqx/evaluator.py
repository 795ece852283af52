"""Expressions and metric values in, floats or reasons out; assertions judged on them.

Arithmetic is plain IEEE float arithmetic: nothing is rounded. Anything that cannot
give a number (a missing value, SQL NULL, NaN, division by zero) is a ``Failure``
carrying the reason, which an assertion reports as ``ERROR``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from returns.result import Failure, Result, Success

from dqx.common import AssertionStatus
from dqx.kinds import AnySpec
from dqx.provider import Abs, BinOp, Const, Expr, ExtendedSymbol, MetricSymbol, Neg
from dqx.specs import MetricSpec

__all__ = [
    "Comparison",
    "MetricKey",
    "Values",
    "derive",
    "evaluate",
    "judge",
]

#: (spec, dataset, date) of one value a run uses: stored, computed or derived.
MetricKey = tuple[AnySpec, str, dt.date]
#: Known values; ``Success(None)`` is SQL NULL, ``Failure`` says why there is none.
Values = Mapping[MetricKey, Result[float | None, str]]


def _describe(spec: MetricSpec, dataset: str, day: dt.date) -> str:
    return f"{spec.name} on dataset {dataset!r} for {day.isoformat()}"


def base_value(values: Values, spec: MetricSpec, dataset: str, day: dt.date) -> Result[float, str]:
    found = values.get((spec, dataset, day))
    where = _describe(spec, dataset, day)
    if found is None:
        return Failure(f"no value for {where}")
    match found:
        case Success(None):
            return Failure(f"{where} is NULL (no non-null values to aggregate)")
        case Success(number) if math.isnan(number):
            return Failure(f"{where} is NaN")
        case Success(number):
            return Success(float(number))
        case _:
            return found  # type: ignore[return-value]


def _dataset(symbol: MetricSymbol) -> str:
    assert symbol.dataset is not None, "symbols are resolved to a dataset before evaluation"
    return symbol.dataset


def derive(symbol: ExtendedSymbol, key_date: dt.date, values: Values) -> Result[float, str]:
    """An extended metric's value from its base's values: computed once per run, then
    looked up like any other value."""
    base = symbol.base
    dataset = _dataset(base)
    points: list[tuple[dt.date, float]] = []
    for lag in symbol.base_lags():
        day = key_date - dt.timedelta(days=lag)
        match base_value(values, base.spec, dataset, day):
            case Success(number):
                points.append((day, number))
            case Failure(reason):
                return Failure(f"{symbol.name}: {reason}")
    match symbol.spec.combine(points):
        case Failure(reason):
            return Failure(f"{symbol.name} on dataset {dataset!r}: {reason}")
        case derived:
            return derived


def evaluate(expr: Expr, key_date: dt.date, values: Values) -> Result[float, str]:
    """The float value of ``expr`` on the run's date, or why it has none."""
    match expr:
        case Const(value):
            return Success(value)
        case MetricSymbol():
            day = key_date - dt.timedelta(days=expr.lag)
            return base_value(values, expr.spec, _dataset(expr), day)
        case ExtendedSymbol():
            day = key_date - dt.timedelta(days=expr.lag)
            found = values.get((expr.spec, _dataset(expr.base), day))
            if found is None:
                return Failure(f"no value for {expr.name} on dataset {expr.dataset!r} for {day}")
            return found  # type: ignore[return-value]
        case Neg(operand):
            return evaluate(operand, key_date, values).map(lambda v: -v)
        case Abs(operand):
            return evaluate(operand, key_date, values).map(abs)
        case BinOp(op, left, right):
            left_value = evaluate(left, key_date, values)
            right_value = evaluate(right, key_date, values)
            match left_value, right_value:
                case Success(a), Success(b):
                    return _arithmetic(op, a, b, expr)
                case Failure(_), _:
                    return left_value
                case _:
                    return right_value
    raise TypeError(f"cannot evaluate {type(expr).__name__}")


def _arithmetic(op: str, a: float, b: float, expr: BinOp) -> Result[float, str]:
    if op == "/" and b == 0:
        return Failure(f"division by zero in {expr}: {expr.right} is 0")
    result = {"+": a + b, "-": a - b, "*": a * b}[op] if op != "/" else a / b
    if math.isnan(result):
        return Failure(f"{expr} is NaN")
    return Success(result)


Operator = Literal["eq", "neq", "gt", "geq", "lt", "leq", "between"]
_SYMBOLS = {"eq": "==", "neq": "!=", "gt": ">", "geq": ">=", "lt": "<", "leq": "<="}


@dataclass(frozen=True)
class Comparison:
    """What an assertion promises about its value: an operator and its bounds."""

    op: Operator
    bounds: tuple[Expr, ...]
    tol: float = 0.0

    def describe(self) -> str:
        if self.op == "between":
            return f"between {self.bounds[0]} and {self.bounds[1]}"
        text = f"{_SYMBOLS[self.op]} {self.bounds[0]}"
        if self.op in ("eq", "neq") and self.tol:
            text += f" ± {self.tol:g}"
        return text

    def holds(self, value: float, bounds: Sequence[float]) -> bool:
        match self.op:
            case "eq":
                return abs(value - bounds[0]) <= self.tol
            case "neq":
                return abs(value - bounds[0]) > self.tol
            case "gt":
                return value > bounds[0]
            case "geq":
                return value >= bounds[0]
            case "lt":
                return value < bounds[0]
            case "leq":
                return value <= bounds[0]
            case "between":
                return bounds[0] <= value <= bounds[1]


def judge(
    expr: Expr, comparison: Comparison, key_date: dt.date, values: Values
) -> tuple[AssertionStatus, Result[float, str]]:
    """Evaluate an assertion: OK, FAILURE (bound violated) or ERROR (no number)."""
    value = evaluate(expr, key_date, values)
    match value:
        case Failure(_):
            return "ERROR", value
    number = value.unwrap()
    bounds: list[float] = []
    for bound in comparison.bounds:
        match evaluate(bound, key_date, values):
            case Success(b):
                bounds.append(b)
            case Failure(reason):
                return "ERROR", Failure(f"bound {bound}: {reason}")
    return ("OK" if comparison.holds(number, bounds) else "FAILURE"), value
