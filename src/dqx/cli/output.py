"""What the commands write: rich consoles, strict JSON, CSV, the trace links.

Results go to stdout and everything else (progress, warnings, what to do next) to
stderr, so ``--format json`` and ``--format csv`` pipe cleanly.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from dqx.common import AssertionResult
    from dqx.links import TraceLinks

__all__ = [
    "assertion_json",
    "either",
    "emit_csv",
    "emit_json",
    "json_safe",
    "print_links",
    "say",
    "stderr",
    "stdout",
]

# Scheduler logs (Airflow, CI, cron) are not terminals; rich would assume 80 columns,
# fold every reason into a narrow column and every message over lines. COLUMNS still
# wins when it is set.
_LOG_WIDTH = 160


def stdout() -> Console:
    return _console(soft_wrap=False)


def stderr() -> Console:
    return _console(stderr=True)


def _console(**options: Any) -> Console:
    from rich.console import Console

    console = Console(**options)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(**options, width=_LOG_WIDTH)
    return console


def say(console: Console, text: str) -> None:
    """``text`` as it is (names and values must not be read as rich markup), its
    secrets redacted before rich wraps it."""
    from dqx.cli.redacting import current

    console.print(current()(text), markup=False, highlight=False)


def either(words: Sequence[str]) -> str:
    """``a, b or c``."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def print_links(console: Console, links: TraceLinks, trace_note: str | None = None) -> None:
    console.print(f"trace id  {links.trace_id}" + (f"  ({trace_note})" if trace_note else ""))
    if links.jaeger:
        console.print(f"jaeger    {links.jaeger}", soft_wrap=True)
    if links.grafana:
        console.print(f"grafana   {links.grafana}", soft_wrap=True)


def json_safe(value: Any) -> Any:
    # JSON has no NaN or Infinity; a metric can be either. Their names as strings keep
    # the output parseable by strict readers (jq, JSON.parse) without passing for NULL.
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def emit_json(document: Any) -> None:
    text = json.dumps(
        json_safe(document), indent=2, ensure_ascii=False, allow_nan=False, default=str
    )
    click.echo(text)


def emit_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def assertion_json(result: AssertionResult) -> dict[str, Any]:
    """One assertion's outcome as every ``--format json`` document lists it."""
    return {
        "check": result.check,
        "assertion": result.assertion,
        "severity": result.severity,
        "status": result.status,
        "value": result.number,
        "bound": result.bound,
        "expression": result.expression,
        "message": result.message,
        "band": list(result.band) if result.band is not None else None,
        "score": result.score,
    }
