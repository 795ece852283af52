"""Options more than one command takes, and the ``KEY=VALUE`` pairs several repeat."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from dqx.cli.errors import usage

__all__ = ["db_option", "format_option", "parse_pairs"]

F = TypeVar("F", bound=Callable[..., Any])


def db_option(fn: F) -> F:
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        help="Metric database URL (env DQX_DB_URL; default sqlite:///dqx.db).",
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
