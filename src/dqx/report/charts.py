"""A metric's history as a small inline SVG, drawn here so the report needs no script.

One circle per stored day (``class="run"`` for the value this run computed,
``history`` for a lagged value it reused, none for the other days), a line through them, the
assertion's bound as a dashed line with the violating side shaded, and the value
range and first and last day as labels. Every circle's ``<title>`` (the browser's
tooltip) starts with its day, then its value and the run that computed it.
"""

from __future__ import annotations

import datetime as dt
import math
from html import escape

from dqx.humanize import Bound, ValueStyle, format_value
from dqx.report.model import Chart, Point

__all__ = ["HEIGHT", "WIDTH", "chart_svg"]

WIDTH = 280
HEIGHT = 84
_LEFT, _RIGHT, _TOP, _BOTTOM = 6, 6, 10, 16
# A bound further than this many value ranges away would flatten the line into a
# stripe: it is written in the caption instead of drawn.
_BOUND_REACH = 2.0


def _finite(points: list[Point]) -> list[float]:
    return [p.value for p in points if p.value is not None and math.isfinite(p.value)]


def _bound_values(bound: Bound | None) -> list[float]:
    if bound is None:
        return []
    values = [bound.low] if bound.high is None else [bound.low, bound.high]
    return [v for v in values if math.isfinite(v)]


def _y_range(values: list[float], bounds: list[float]) -> tuple[float, float, list[float]]:
    """The value range to draw, and the bounds close enough to draw within it."""
    low, high = min(values), max(values)
    reach = max(high - low, abs(high) * 0.05, 1e-12) * _BOUND_REACH
    drawn = [b for b in bounds if low - reach <= b <= high + reach]
    low, high = min([low, *drawn]), max([high, *drawn])
    if high == low:
        pad = abs(high) * 0.1 or 1.0
        low, high = low - pad, high + pad
    return low, high, drawn


class _Frame:
    """Days to x, values to y, inside the chart's margins."""

    def __init__(self, first: dt.date, last: dt.date, low: float, high: float) -> None:
        self.first, self.days = first, max((last - first).days, 1)
        self.low, self.span = low, high - low
        self.plot_w = WIDTH - _LEFT - _RIGHT
        self.plot_h = HEIGHT - _TOP - _BOTTOM

    def x(self, day: dt.date) -> float:
        return _LEFT + (day - self.first).days / self.days * self.plot_w

    def y(self, value: float) -> float:
        return _TOP + (1 - (value - self.low) / self.span) * self.plot_h


def _bound_shapes(bound: Bound, drawn: list[float], frame: _Frame) -> list[str]:
    """The bound's line(s), with the side that fails the assertion shaded."""
    top, bottom = _TOP, HEIGHT - _BOTTOM
    shapes = []

    def shade(y0: float, y1: float) -> None:
        y0, y1 = sorted((max(top, min(bottom, y0)), max(top, min(bottom, y1))))
        if y1 > y0:
            shapes.append(
                f'<rect class="bad" x="{_LEFT}" y="{y0:.1f}" width="{frame.plot_w}" '
                f'height="{y1 - y0:.1f}"/>'
            )

    if bound.op == "between" and bound.high is not None:
        shade(top, frame.y(bound.high) if bound.high in drawn else top)
        shade(frame.y(bound.low) if bound.low in drawn else bottom, bottom)
    elif bound.low in drawn and bound.op in ("<", "<="):
        shade(top, frame.y(bound.low))
    elif bound.low in drawn and bound.op in (">", ">="):
        shade(frame.y(bound.low), bottom)
    for value in drawn:
        y = frame.y(value)
        shapes.append(
            f'<line class="bound" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
    return shapes


_ORIGIN = {"run": " · this run", "history": " · reused by this run", "stored": ""}


def _coordinate(value: float) -> str:
    # Whole pixels: at this size a tenth is invisible, and a thousand charts of thirty
    # points make every byte of a coordinate count.
    return str(round(value))


def _circle(point: Point, frame: _Frame, style: ValueStyle) -> str:
    """One day: its date first in the tooltip (the tests read it there); the radius
    comes from the stylesheet, by class."""
    # Stored days, most of the points, need no class: the stylesheet styles circles.
    classes: str = "" if point.mark == "stored" else point.mark
    shown = format_value(point.value, style) if point.value is not None else "NULL"
    title = (
        f"{point.yyyy_mm_dd.isoformat()} · {shown} · {point.execution_id[:8]}{_ORIGIN[point.mark]}"
    )
    if point.value is None or not math.isfinite(point.value):
        # No value to place: a hollow mark on the axis keeps the day counted.
        y = float(HEIGHT - _BOTTOM)
        classes += " none" if classes else "none"
    else:
        y = frame.y(point.value)
    marked = f' class="{classes}"' if classes else ""
    return (
        f'<circle{marked} cx="{_coordinate(frame.x(point.yyyy_mm_dd))}" '
        # Dates, formatted numbers and hex ids: nothing in a title needs escaping.
        f'cy="{_coordinate(y)}"><title>{title}</title></circle>'
    )


def chart_svg(chart: Chart, first: dt.date, last: dt.date) -> str:
    """The chart of ``chart`` over the days ``first`` to ``last``."""
    label = escape(f"{chart.name} on {chart.dataset}, {len(chart.points)} day(s)")
    head = (
        f'<svg class="chart" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}" '
        f'data-points="{len(chart.points)}">'
    )
    values = _finite(chart.points)
    if not values:
        dots = "".join(_circle(p, _Frame(first, last, 0.0, 1.0), chart.style) for p in chart.points)
        empty = f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}">no value</text>'
        return f"{head}{empty}{dots}</svg>"
    low, high, drawn = _y_range(values, _bound_values(chart.bound))
    frame = _Frame(first, last, low, high)
    parts = [head]
    if chart.bound is not None:
        parts += _bound_shapes(chart.bound, drawn, frame)
    line = " ".join(
        f"{_coordinate(frame.x(p.yyyy_mm_dd))},{_coordinate(frame.y(p.value))}"
        for p in chart.points
        if p.value is not None and math.isfinite(p.value)
    )
    if len(values) > 1:
        parts.append(f'<polyline class="line" points="{line}"/>')
    parts += [_circle(p, frame, chart.style) for p in chart.points]
    bottom = HEIGHT - 4
    most, least = (escape(format_value(v, chart.style)) for v in (max(values), min(values)))
    parts += [
        f'<text class="axis" x="{_LEFT}" y="{_TOP - 2}">max {most}</text>',
        f'<text class="axis end" x="{WIDTH - _RIGHT}" y="{_TOP - 2}">min {least}</text>',
        f'<text class="axis" x="{_LEFT}" y="{bottom}">{first.isoformat()}</text>',
        f'<text class="axis end" x="{WIDTH - _RIGHT}" y="{bottom}">{last.isoformat()}</text>',
        "</svg>",
    ]
    return "".join(parts)
