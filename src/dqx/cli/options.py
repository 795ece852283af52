"""Options more than one command takes, the ``KEY=VALUE`` pairs several repeat, and
durations (``90m``, ``6h``, ``2d``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from dqx.cli.errors import usage
from dqx.common import SEVERITIES

__all__ = [
    "db_option",
    "duration",
    "fail_on_option",
    "format_duration",
    "format_option",
    "parse_pairs",
]

F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        help="Metric database URL (env DQX_DB_URL; default sqlite:///dqx.db).",
    )(fn)


def fail_on_option(fn: F) -> F:
    return click.option(
        "--fail-on",
        type=click.Choice(SEVERITIES),
        help="Exit 1 when an assertion this severe or worse fails or errors (default P1).",
    )(fn)


def format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def parse_pairs(values: Sequence[str], option: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        key = key.strip()
        if not sep or not key or not rest:
            usage(f"{option} takes {what}, got {value!r}")
        if key in pairs:
            usage(f"{option} {key!r} given twice")
        pairs[key] = rest
    return pairs


_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.timedelta | None:
    """An option callback reading ``90m``, ``6h``, ``2d``, ``1h30m``: whole days, hours,
    minutes and seconds."""
    if value is None:
        return None
    text = value.strip().lower()
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise click.BadParameter(f"{value!r} is not a duration such as 90m, 6h, 2d or 1h30m")
    seconds = sum(int(number) * _UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise click.BadParameter(f"{value!r} is no time at all; give a positive duration")
    return dt.timedelta(seconds=seconds)


def format_duration(duration: dt.timedelta) -> str:
    """``duration`` as :func:`duration` reads it: ``6h``, ``1h30m``, ``2d``."""
    left = int(duration.total_seconds())
    parts = []
    for unit, seconds in _UNITS.items():
        if left >= seconds:
            parts.append(f"{left // seconds}{unit}")
            left %= seconds
    return "".join(parts) or "0s"
