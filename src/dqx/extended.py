"""Extended metrics: computed from a base metric's values on several days, not by SQL.

``day_over_day(average(price))`` reads the base on the run's date and the day before.
An extended spec names the days it needs (:meth:`ExtendedSpec.base_lags`) and turns
the base's values on them into its own (:meth:`ExtendedSpec.combine`); the suite
fetches those values from history or the engine and computes each extended value
once. Like any spec it is stored under its kind and parameters, which nest the
base's, so a stored one rebuilds with ``Metric.to_spec()``.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from returns.result import Failure, Result, Success

from dqx.specs import MetricSpec, Spec

__all__ = ["DayOverDay", "ExtendedSpec", "Stddev", "WeekOverWeek"]


@dataclass(frozen=True)
class ExtendedSpec(Spec):
    """Base of the extended kinds: a base metric and a rule over its values."""

    kind: ClassVar[str]
    base: MetricSpec

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any], base: MetricSpec) -> ExtendedSpec:
        """The spec for stored ``parameters``, around the already rebuilt ``base``."""
        return cls(base)

    @property
    def parameters(self) -> dict[str, Any]:
        return {"metric": self.base.kind, "parameters": self.base.parameters}

    @property
    def name(self) -> str:
        return f"{self.kind}({self.base.name})"

    def base_lags(self, lag: int) -> tuple[int, ...]:
        """Days before the run's date whose base values the metric reads, when the base
        itself is ``lag`` days back; the first is the metric's own date."""
        raise NotImplementedError

    def combine(self, points: Sequence[tuple[dt.date, float]]) -> Result[float, str]:
        """The value from the base's (date, value) on :meth:`base_lags`, in that order,
        or the reason there is none."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Change(ExtendedSpec):
    """(m(t) - m(t-k)) / m(t-k)."""

    kind: ClassVar[str]
    days: ClassVar[int]

    def base_lags(self, lag: int) -> tuple[int, ...]:
        return (lag, lag + self.days)

    def combine(self, points: Sequence[tuple[dt.date, float]]) -> Result[float, str]:
        (_, current), (earlier, previous) = points
        if previous == 0:
            return Failure(f"division by zero, {self.base.name} was 0 on {earlier.isoformat()}")
        change = (current - previous) / previous
        # The base's values are finite (the evaluator refuses others), so only an
        # overflow can leave the result unusable.
        if math.isinf(change):
            return Failure(f"the result is infinite ({change}): the change overflows a float")
        return Success(change)


@dataclass(frozen=True)
class DayOverDay(_Change):
    """(m(t) - m(t-1)) / m(t-1)."""

    kind: ClassVar[str] = "day_over_day"
    days: ClassVar[int] = 1


@dataclass(frozen=True)
class WeekOverWeek(_Change):
    """(m(t) - m(t-7)) / m(t-7)."""

    kind: ClassVar[str] = "week_over_week"
    days: ClassVar[int] = 7


@dataclass(frozen=True)
class Stddev(ExtendedSpec):
    """Sample standard deviation of m over the n days ending at t - offset."""

    kind: ClassVar[str] = "stddev"
    offset: int = 0
    n: int = 7

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any], base: MetricSpec) -> ExtendedSpec:
        return cls(base, offset=int(parameters["offset"]), n=int(parameters["n"]))

    @property
    def parameters(self) -> dict[str, Any]:
        return {**super().parameters, "offset": self.offset, "n": self.n}

    @property
    def name(self) -> str:
        return f"stddev({self.base.name}, offset={self.offset}, n={self.n})"

    def base_lags(self, lag: int) -> tuple[int, ...]:
        start = lag + self.offset
        return tuple(range(start, start + self.n))

    def combine(self, points: Sequence[tuple[dt.date, float]]) -> Result[float, str]:
        # The base's values are finite (the evaluator refuses others); stdev computes
        # exactly and raises, rather than giving inf, when the spread is too wide.
        try:
            return Success(statistics.stdev(number for _, number in points))
        except OverflowError:
            return Failure("the result is infinite: the spread overflows a float")
