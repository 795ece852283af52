"""Is today's value what a metric's history expects? Robust bands over a window of days.

Two methods, both robust to the outliers a history holds (yesterday's spike must not
widen today's band):

* ``mad``: the band is centred on the window's median; its half-width is
  ``sensitivity`` robust standard deviations, estimated by the biweight midvariance
  around that median (Tukey's biweight, c = 9). The score is the value's distance from
  the median in those units. The biweight rather than the raw MAD: on 28 points the
  MAD's own noise makes the band too narrow often enough to give about four times the
  false alarms on spikes at the same recall (bench/anomaly.py, bench/RESULTS.md:
  precision 0.84 against 0.96 at sensitivity 4).
* ``seasonal``: for metrics with a weekly cycle. Each weekday's offset from the window's
  median is the median of that weekday's values less it; the band is centred on the
  median of the values with their weekday's offset taken away, plus today's weekday's
  offset; its half-width is the biweight scale of those residuals, widened by
  ``sqrt((1 + pi/(2k)) / (1 - 1/k))`` for k values of today's weekday: the offset is
  itself an estimate from k values (a median's variance is about pi/2 times a mean's),
  and residuals it was fitted to understate the spread of a new day's.

The band is ``expected +/- sensitivity * scale``. A history whose values are all
equal has no spread: then only that value is expected and any other scores infinity.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "DEFAULT_SENSITIVITY",
    "DEFAULT_WINDOW",
    "METHODS",
    "Band",
    "Method",
    "expected_band",
    "min_points",
    "min_window",
]

Method: TypeAlias = Literal["mad", "seasonal"]
METHODS: tuple[Method, ...] = ("mad", "seasonal")
DEFAULT_WINDOW = 28
#: Half-width of the band in robust standard deviations. Chosen on the benchmark
#: (bench/RESULTS.md): precision and recall >= 0.9 on spikes and level shifts.
DEFAULT_SENSITIVITY = 4.0
#: Turns a median absolute deviation into a standard deviation for normal data.
_MAD_TO_SD = 1.4826
#: And a mean absolute deviation, when the MAD is 0 (more than half the values equal).
_MEAN_AD_TO_SD = 1.2533
_BIWEIGHT_C = 9.0


@dataclass(frozen=True)
class Band:
    """What history expects of today's value."""

    expected: float
    #: One robust standard deviation.
    scale: float
    sensitivity: float
    #: History points the band was estimated from.
    points: int

    @property
    def low(self) -> float:
        return self.expected - self.sensitivity * self.scale

    @property
    def high(self) -> float:
        return self.expected + self.sensitivity * self.scale

    def score(self, value: float) -> float:
        """How many robust standard deviations ``value`` lies from the expected, signed."""
        distance = value - self.expected
        if self.scale > 0:
            return distance / self.scale
        return 0.0 if distance == 0 else math.copysign(math.inf, distance)

    def holds(self, value: float) -> bool:
        return abs(self.score(value)) <= self.sensitivity


def min_window(method: Method) -> int:
    """The smallest window a method can use: a week, or two of each weekday."""
    return 14 if method == "seasonal" else 7


def min_points(method: Method, window: int) -> int:
    """History points a band needs: half the window, and never fewer than the method's
    smallest window holds."""
    return max(min_window(method), -(-window // 2))


def expected_band(
    method: Method, history: Sequence[tuple[dt.date, float]], day: dt.date, sensitivity: float
) -> Band | str:
    """The band for ``day`` from ``history`` ((date, value), any order), or why there is
    none (too few points, no value of today's weekday)."""
    values = [value for _, value in history]
    if not values:
        return "no history"
    if method == "mad":
        center, scale = _biweight(values)
        return Band(center, _floor(scale, center), sensitivity, len(values))
    return _seasonal(history, day, sensitivity)


def _seasonal(
    history: Sequence[tuple[dt.date, float]], day: dt.date, sensitivity: float
) -> Band | str:
    overall = statistics.median(value for _, value in history)
    by_weekday: dict[int, list[float]] = {}
    for when, value in history:
        by_weekday.setdefault(when.weekday(), []).append(value)
    today = by_weekday.get(day.weekday(), [])
    if len(today) < 2:
        return f"{len(today)} value(s) of its weekday ({day.strftime('%A')}) in history, needs 2"
    offset = {weekday: statistics.median(found) - overall for weekday, found in by_weekday.items()}
    residuals = [value - offset[when.weekday()] for when, value in history]
    center, scale = _biweight(residuals)
    k = len(today)
    widen = math.sqrt((1 + math.pi / (2 * k)) / (1 - 1 / k))
    expected = center + offset[day.weekday()]
    return Band(expected, _floor(scale * widen, expected), sensitivity, len(history))


def _biweight(values: Sequence[float]) -> tuple[float, float]:
    """The median and the biweight midvariance's standard deviation around it."""
    center = statistics.median(values)
    deviations = [abs(value - center) for value in values]
    mad = statistics.median(deviations)
    if mad == 0:
        return center, statistics.fmean(deviations) * _MEAN_AD_TO_SD
    top = bottom = 0.0
    for value in values:
        u = (value - center) / (_BIWEIGHT_C * mad)
        if abs(u) < 1:
            top += (value - center) ** 2 * (1 - u * u) ** 4
            bottom += (1 - u * u) * (1 - 5 * u * u)
    if bottom == 0:
        return center, mad * _MAD_TO_SD
    return center, math.sqrt(len(values) * top) / abs(bottom)


def _floor(scale: float, expected: float) -> float:
    # Values equal but for float rounding (an average recomputed in another order)
    # are equal: a spread below that is no spread.
    return scale if scale > 1e-12 * abs(expected) else 0.0
