"""The anomaly bands of dqx.anomaly against a computation written here from the
definitions (median, MAD, Tukey's biweight midvariance with c = 9, weekday offsets)."""

from __future__ import annotations

import datetime as dt
import math
import random

import pyarrow as pa
import pytest

from dqx.anomaly import Band, expected_band, min_points, min_window

MONDAY = dt.date(2024, 4, 1)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def biweight_scale(values: list[float]) -> tuple[float, float]:
    """Median and biweight midvariance standard deviation, straight from the formula."""
    m = median(values)
    mad = median([abs(v - m) for v in values])
    us = [(v - m) / (9 * mad) for v in values]
    inside = [(v, u) for v, u in zip(values, us, strict=True) if abs(u) < 1]
    numerator = len(values) * sum((v - m) ** 2 * (1 - u**2) ** 4 for v, u in inside)
    denominator = sum((1 - u**2) * (1 - 5 * u**2) for _, u in inside) ** 2
    return m, math.sqrt(numerator / denominator)


def history(values: list[float], before: dt.date) -> list[tuple[dt.date, float]]:
    return [(before - dt.timedelta(days=i + 1), v) for i, v in enumerate(values)]


def test_mad_band_is_the_median_plus_minus_sensitivity_biweight_deviations() -> None:
    rng = random.Random(7)
    values = [100 + rng.gauss(0, 5) for _ in range(27)] + [400.0]  # one spike in history
    band = expected_band("mad", history(values, MONDAY), MONDAY, 3.0)
    assert isinstance(band, Band)
    center, scale = biweight_scale(values)
    assert band.expected == pytest.approx(center, rel=1e-12)
    assert band.scale == pytest.approx(scale, rel=1e-12)
    assert (band.low, band.high) == pytest.approx((center - 3 * scale, center + 3 * scale))
    assert band.points == 28
    # The spike in history barely widens the band: a robust scale, unlike the stddev.
    assert scale < 0.5 * statistics_stdev(values)
    assert band.score(center + 2 * scale) == pytest.approx(2.0)
    assert band.holds(center + 2.9 * scale) and not band.holds(center - 3.1 * scale)


def statistics_stdev(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def test_seasonal_band_takes_todays_weekday_offset_and_widens_for_its_estimate() -> None:
    rng = random.Random(11)
    weekly = [100, 105, 110, 108, 120, 40, 30]  # weekends are quiet
    points = [
        (
            MONDAY - dt.timedelta(days=d),
            weekly[(MONDAY - dt.timedelta(days=d)).weekday()] + rng.gauss(0, 2),
        )
        for d in range(1, 29)
    ]
    saturday = MONDAY + dt.timedelta(days=5)
    band = expected_band("seasonal", points, saturday, 4.0)
    assert isinstance(band, Band)

    overall = median([v for _, v in points])
    per_day: dict[int, list[float]] = {}
    for day, value in points:
        per_day.setdefault(day.weekday(), []).append(value)
    offsets = {wd: median(vs) - overall for wd, vs in per_day.items()}
    residuals = [v - offsets[day.weekday()] for day, v in points]
    center, scale = biweight_scale(residuals)
    k = len(per_day[5])
    widened = scale * math.sqrt((1 + math.pi / (2 * k)) / (1 - 1 / k))
    assert band.expected == pytest.approx(center + offsets[5], rel=1e-12)
    assert band.scale == pytest.approx(widened, rel=1e-12)
    # A quiet Saturday is expected; the same value on a Monday is not.
    assert band.holds(weekly[5])
    monday_band = expected_band("seasonal", points, MONDAY, 4.0)
    assert isinstance(monday_band, Band) and not monday_band.holds(weekly[5])
    # mad over the same history cannot tell the weekend from a drop.
    flat = expected_band("mad", points, saturday, 4.0)
    assert isinstance(flat, Band) and flat.scale > 3 * band.scale


def test_a_constant_history_expects_that_value_only() -> None:
    band = expected_band("mad", history([5.0] * 10, MONDAY), MONDAY, 3.0)
    assert isinstance(band, Band)
    assert (band.low, band.high, band.score(5.0)) == (5.0, 5.0, 0.0)
    assert band.score(5.5) == math.inf and band.score(4.0) == -math.inf
    assert not band.holds(5.5)


def test_seasonal_needs_two_values_of_todays_weekday() -> None:
    points = history([1.0, 2, 3, 4, 5, 6, 7, 8], MONDAY)  # one Monday only (7 days back)
    why = expected_band("seasonal", points, MONDAY, 3.0)
    assert why == "1 value(s) of its weekday (Monday) in history, needs 2"


def test_minimum_history() -> None:
    assert (min_window("mad"), min_window("seasonal")) == (7, 14)
    assert min_points("mad", 28) == 14 and min_points("mad", 7) == 7
    assert min_points("seasonal", 20) == 14


def test_is_not_anomalous_refuses_bad_arguments_naming_the_assertion() -> None:
    from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
    from dqx.common import DefinitionError
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import InMemoryMetricDB

    def suite_with(**arguments: object) -> None:
        @check(name="Prices")
        def prices(mp: MetricProvider, ctx: Context) -> None:
            ctx.assert_that(mp.average("price")).where(name="usual").is_not_anomalous(
                **arguments  # type: ignore[arg-type]
            )

        source = DuckRelationDataSource.from_arrow(pa.table({"price": [1.0]}), "orders")
        VerificationSuite([prices], InMemoryMetricDB(), "S").run([source], ResultKey(MONDAY))

    with pytest.raises(DefinitionError, match=r"'usual'.*method='zscore'.*'mad', 'seasonal'"):
        suite_with(method="zscore")
    with pytest.raises(DefinitionError, match=r"window=10\) needs .* >= 14 for method 'seasonal'"):
        suite_with(window=10, method="seasonal")
    with pytest.raises(DefinitionError, match=r"window=3\) needs"):
        suite_with(window=3)
    with pytest.raises(DefinitionError, match=r"sensitivity=0\) needs a number > 0"):
        suite_with(sensitivity=0)
