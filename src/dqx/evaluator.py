"""Expressions and metric values in, floats or reasons out; assertions judged on them.

Arithmetic is plain IEEE float arithmetic: nothing is rounded. Anything that cannot
give a number (a missing value, SQL NULL, NaN, an infinity, division by zero) is a ``Failure``
carrying the reason, which an assertion reports as ``ERROR``; a reason that is a
:class:`SkipReason` (history too short yet, a baseline marked bad) says the value is
not available *yet or by rule*, and the assertion is ``SKIPPED`` instead.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from returns.result import Failure, Result, Success

from dqx.anomaly import DEFAULT_SENSITIVITY, DEFAULT_WINDOW, Band, Method, expected_band, min_points
from dqx.common import AssertionStatus
from dqx.kinds import AnySpec
from dqx.provider import Abs, BinOp, Const, Expr, ExtendedSymbol, MetricSymbol, Neg
from dqx.specs import MetricSpec

__all__ = [
    "Anomaly",
    "Comparison",
    "MetricKey",
    "SkipReason",
    "Values",
    "Verdict",
    "derive",
    "evaluate",
    "judge",
    "status_of",
]

#: (spec, dataset, date) of one value a run uses: stored, computed or derived.
MetricKey = tuple[AnySpec, str, dt.date]
#: Known values; ``Success(None)`` is SQL NULL, ``Failure`` says why there is none.
Values = Mapping[MetricKey, Result[float | None, str]]


class SkipReason(str):
    """Why a value is not available yet or by rule (warm-up, a bad baseline): a reason
    that makes an assertion ``SKIPPED``, not ``ERROR``. It stays one through
    :func:`reword`."""


def reword(reason: str, text: str) -> str:
    """``text`` as the new reason, keeping a skip reason a skip reason."""
    return SkipReason(text) if isinstance(reason, SkipReason) else text


def status_of(reason: str) -> AssertionStatus:
    return "SKIPPED" if isinstance(reason, SkipReason) else "ERROR"


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
        case Success(number) if math.isinf(number):
            # DuckDB divides a float by zero into inf where PostgreSQL raises: judging
            # no infinity keeps the status the same on every engine.
            return Failure(f"{where} is infinite ({number})")
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
                return Failure(reword(reason, f"{symbol.name}: {reason}"))
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
                case Failure(left_reason), Failure(right_reason):
                    # Something broken outweighs something not available yet.
                    skipped = isinstance(left_reason, SkipReason)
                    return (
                        right_value
                        if skipped and not isinstance(right_reason, SkipReason)
                        else left_value
                    )
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
    if math.isinf(result) and math.isfinite(a) and math.isfinite(b):
        # Metric values are finite here, so this is an overflow; an infinity the user
        # wrote as a number (a bound of inf) is theirs and judges as usual.
        return Failure(f"{expr} is infinite: the arithmetic overflows a float")
    return Success(result)


Operator = Literal["eq", "neq", "gt", "geq", "lt", "leq", "between", "not_anomalous"]
_SYMBOLS = {"eq": "==", "neq": "!=", "gt": ">", "geq": ">=", "lt": "<", "leq": "<="}


@dataclass(frozen=True)
class Anomaly:
    """``is_not_anomalous``: today's value within the band ``window`` days of history
    expect (:mod:`dqx.anomaly`)."""

    method: Method = "mad"
    window: int = DEFAULT_WINDOW
    sensitivity: float = DEFAULT_SENSITIVITY

    def describe(self) -> str:
        return f"{self.method} over {self.window} days, sensitivity {self.sensitivity:g}"


@dataclass(frozen=True)
class Comparison:
    """What an assertion promises about its value: an operator and its bounds, or, for
    ``not_anomalous``, the band its history expects."""

    op: Operator
    bounds: tuple[Expr, ...]
    tol: float = 0.0
    anomaly: Anomaly | None = None

    def describe(self) -> str:
        if self.anomaly is not None:
            return f"not anomalous ({self.anomaly.describe()})"
        if self.op == "between":
            return f"between {self.bounds[0]} and {self.bounds[1]}"
        text = f"{_SYMBOLS[self.op]} {self.bounds[0]}"
        if self.op in ("eq", "neq") and self.tol:
            text += f" ± {self.tol:g}"
        return text

    def reads(self, expr: Expr) -> tuple[Expr, ...]:
        """Every expression judging ``expr`` reads besides ``expr`` itself: the bounds,
        or ``expr`` on each day of the anomaly window."""
        if self.anomaly is not None:
            return tuple(expr.shifted(days) for days in range(1, self.anomaly.window + 1))
        return self.bounds

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
        raise ValueError(f"{self.op} has no fixed bounds")


@dataclass(frozen=True)
class Verdict:
    """One assertion judged: its status and value; the bound as judged (an anomaly
    assertion's band, in numbers) and, for anomalies, the band and the score."""

    status: AssertionStatus
    value: Result[float, str]
    bound: str
    band: tuple[float, float] | None = None
    score: float | None = None


def judge(expr: Expr, comparison: Comparison, key_date: dt.date, values: Values) -> Verdict:
    """Evaluate an assertion: OK, FAILURE (bound violated), ERROR (no number) or
    SKIPPED (not available yet or by rule)."""
    value = evaluate(expr, key_date, values)
    match value:
        case Failure(reason):
            return Verdict(status_of(reason), value, comparison.describe())
    number = value.unwrap()
    if comparison.anomaly is not None:
        return _judge_anomaly(expr, comparison.anomaly, number, key_date, values)
    bounds: list[float] = []
    for bound in comparison.bounds:
        match evaluate(bound, key_date, values):
            case Success(b):
                bounds.append(b)
            case Failure(reason):
                failure = Failure(reword(reason, f"bound {bound}: {reason}"))
                return Verdict(status_of(reason), failure, comparison.describe())
    status: AssertionStatus = "OK" if comparison.holds(number, bounds) else "FAILURE"
    return Verdict(status, value, comparison.describe())


def _judge_anomaly(
    expr: Expr, anomaly: Anomaly, number: float, key_date: dt.date, values: Values
) -> Verdict:
    """Today's value against the band of the days before it; days without a value
    (not in history yet, a baseline marked bad, a gap) are left out."""
    points: list[tuple[dt.date, float]] = []
    missing: list[str] = []
    for days in range(1, anomaly.window + 1):
        match evaluate(expr.shifted(days), key_date, values):
            case Success(past):
                points.append((key_date - dt.timedelta(days=days), past))
            case Failure(reason):
                missing.append(reason)
    needed = min_points(anomaly.method, anomaly.window)
    band = expected_band(anomaly.method, points, key_date, anomaly.sensitivity)
    if len(points) < needed or not isinstance(band, Band):
        why = (
            f"is_not_anomalous needs {needed} of the {anomaly.window} days before "
            f"{key_date.isoformat()} in history, and has {len(points)}"
            if len(points) < needed
            else f"is_not_anomalous ({anomaly.method}) has no band: {band}"
        )
        broken = [reason for reason in missing if not isinstance(reason, SkipReason)]
        if broken:
            return Verdict(
                "ERROR", Failure(f"{why}; {broken[0]}"), f"not anomalous ({anomaly.describe()})"
            )
        first = f"; {missing[0]}" if missing else ""
        return Verdict(
            "SKIPPED", Failure(SkipReason(f"{why}{first}")), f"not anomalous ({anomaly.describe()})"
        )
    score = band.score(number)
    how = f"{anomaly.method} over {len(points)} days, score {score:.3g}"
    shown = f"between {band.low!r} and {band.high!r} ({how}, limit {anomaly.sensitivity:g})"
    status: AssertionStatus = "OK" if band.holds(number) else "FAILURE"
    return Verdict(status, Success(number), shown, (band.low, band.high), score)
