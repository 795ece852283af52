"""``dqx history METRIC --dataset D``: a metric's value by day, with the run behind each."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from dqx.cli.errors import bad_news, dqx_errors, usage
from dqx.cli.options import db_option, format_option, parse_pairs
from dqx.cli.output import emit_csv, emit_json, say, stdout

if TYPE_CHECKING:
    from rich.console import Console

    from dqx.series import Series

__all__ = ["history_command"]

_CSV_COLUMNS = (
    "metric",
    "dataset",
    "tags",
    "yyyy_mm_dd",
    "value",
    "execution_id",
    "origin",
    "rows",
)


@click.command("history")
@click.argument("metric")
@click.option("--dataset", required=True, help="The dataset the metric is computed on.")
@click.option(
    "--tags",
    "--tag",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Only series carrying this tag. Repeatable.",
)
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d"]), help="First day (inclusive).")
@click.option(
    "--until",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Last day (inclusive; default: the newest stored day).",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Without --since, how many days up to --until to show.",
)
@db_option
@format_option("table", "json", "csv")
def history_command(
    metric: str,
    dataset: str,
    tags: tuple[str, ...],
    since: dt.datetime | None,
    until: dt.datetime | None,
    days: int,
    db_url: str | None,
    fmt: str,
) -> None:
    """METRIC's value on --dataset by day, as written (average(price), num_rows()),
    with the execution id of the run that computed each day's value.

    One series per tag set the metric was stored with; --tags narrows them. JSON and
    CSV carry the exact float.
    """
    from dqx.cli.wiring import load, open_db
    from dqx.common import identity_tags
    from dqx.series import metric_history

    if since and until and since > until:
        usage(f"--since {since:%Y-%m-%d} is after --until {until:%Y-%m-%d}; both days are included")
    settings = load(db_url=db_url)
    db = open_db(settings, must_exist=True)
    wanted = parse_pairs(tags, "--tags", "KEY=VALUE")
    with dqx_errors():
        found = metric_history(
            db,
            metric,
            dataset=dataset,
            tags=identity_tags(wanted) or None,
            since=since.date() if since else None,
            until=until.date() if until else None,
            days=days,
        )
    if not found:
        bad_news(f"no values of {metric} on dataset {dataset!r} in {db.url} for those days/tags")
    if fmt == "json":
        emit_json({"metric": metric, "dataset": dataset, "series": [s.as_dict() for s in found]})
    elif fmt == "csv":
        emit_csv(_CSV_COLUMNS, _csv_rows(found))
    else:
        out = stdout()
        for series in found:
            _print_series(out, series)


def _csv_rows(found: Sequence[Series]) -> list[list[object]]:
    from dqx.common import canonical_json

    return [
        [
            series.name,
            series.dataset,
            canonical_json(series.tags),
            day.yyyy_mm_dd.isoformat(),
            day.value,
            day.execution_id,
            day.origin,
            day.rows,
        ]
        for series in found
        for day in series.days
    ]


def _print_series(out: Console, series: Series) -> None:
    from rich.table import Table
    from rich.text import Text

    from dqx.humanize import format_value, sparkline, value_style

    style = value_style(series.name)
    tags = ", ".join(f"{k}={v}" for k, v in sorted(series.tags.items())) or "no tags"
    values = [day.value for day in series.days]
    table = Table(title=f"{series.name} on {series.dataset} ({tags})", title_justify="left")
    table.add_column("date")
    table.add_column("value", justify="right")
    table.add_column("", no_wrap=True)
    table.add_column("execution id", no_wrap=True)
    table.add_column("origin")
    marks = sparkline(values)
    for day, mark in zip(series.days, marks, strict=True):
        shown = "NULL" if day.value is None else format_value(day.value, style)
        origin = day.origin if day.rows == 1 else f"{day.origin} ({day.rows} rows)"
        table.add_row(
            Text(day.yyyy_mm_dd.isoformat()),
            Text(shown),
            Text(mark),
            Text(day.execution_id),
            Text(origin),
        )
    out.print(table)
    # NaN compares false with everything, so min()/max() over it depend on the order.
    numbers = [v for v in values if v is not None and not math.isnan(v)]
    if numbers:
        # The newest day as it is, NULL too: not the newest day that had a value.
        last = "NULL" if values[-1] is None else format_value(values[-1], style)
        say(
            out,
            f"{marks}  {len(series.days)} day(s), min {format_value(min(numbers), style)}, "
            f"max {format_value(max(numbers), style)}, last {last}",
        )
