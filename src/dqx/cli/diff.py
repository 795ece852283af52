"""``dqx diff A B``: what changed from run A to run B, section by section.

Exit codes: 0 whatever the runs hold (a difference is an answer, not an error), unless
``--exit-code`` is given: then 1 when anything differs, as ``git diff --exit-code``
does. A run the store does not know is 1; a malformed id is 2; a store that cannot be
read is 3.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from dqx.cli.errors import EXIT_FAILED, bad_news, dqx_errors, usage
from dqx.cli.options import db_option, format_option
from dqx.cli.output import emit_json, say, stdout
from dqx.cli.wiring import load, open_db

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from dqx.diff import Align, MetricChange, MetricValue, RunDiff, StatementChange
    from dqx.records import AssertionRecord, RunRecord, Statement

__all__ = ["diff_command"]

_STATUS_STYLE = {"OK": "green", "FAILURE": "bold red", "ERROR": "bold yellow"}


@click.command("diff")
@click.argument("a", metavar="A")
@click.argument("b", metavar="B")
@db_option
@format_option("table", "json")
@click.option(
    "--rel-tol",
    "rel_tol",
    type=click.FloatRange(min=0.0, max=1.0, max_open=True),
    default=1e-12,
    show_default=True,
    help="Values closer than this, relative to the larger, are the same (0: exact).",
)
@click.option(
    "--align",
    type=click.Choice(["identity", "run"]),
    default="identity",
    show_default=True,
    help="How metrics meet: identity (same metric, dataset, tags and date) or run (same "
    "metric and dataset, the same days before each run's date, tags aside).",
)
@click.option(
    "--exit-code",
    "exit_code",
    is_flag=True,
    help="Exit 1 when anything differs (default: 0 whatever the runs hold).",
)
@click.pass_context
def diff_command(
    ctx: click.Context,
    a: str,
    b: str,
    db_url: str | None,
    fmt: str,
    rel_tol: float,
    align: Align,
    exit_code: bool,
) -> None:
    """What changed from run A to run B: metric values (absolute and relative), metrics
    only one run holds, assertions whose status changed, and SQL statements whose text
    differs.

    A and B are execution ids (32 hex digits, or the dashed UUID form). Metrics are
    matched by metric, dataset, tags and date (--align run: by metric, dataset and
    days before each run's date, so yesterday's run meets today's and staging's
    meets prod's), assertions by check and name, statements by dataset and the
    metrics they compute. --format json prints the document docs/cli.md describes
    (schema dqx.diff/1).

    Exits 0 whatever the runs hold, or 1 with --exit-code when anything differs; a run
    the database does not know is 1, a malformed id 2.
    """
    from dqx.common import normalize_execution_id
    from dqx.diff import UnknownRunError, diff

    settings = load(db_url=db_url)
    with dqx_errors():
        a, b = normalize_execution_id(a), normalize_execution_id(b)
    db = open_db(settings, must_exist=True)
    try:
        with dqx_errors():
            try:
                result = diff(db, a, b, rel_tol=rel_tol, align=align)
            except UnknownRunError as exc:
                bad_news(str(exc))
            except ValueError as exc:
                usage(str(exc))
    finally:
        db.dispose()
    if fmt == "json":
        emit_json(result.to_dict())
    else:
        print_diff(result, stdout())
    if exit_code and not result.identical:
        ctx.exit(EXIT_FAILED)


# -- the table form -----------------------------------------------------------------------


def print_diff(result: RunDiff, console: Console) -> None:
    """The two runs, then one table per section that has something in it, then a
    summary line."""
    _print_runs(result, console)
    sections: list[tuple[str, int, Table | None]] = [
        ("metrics changed", len(result.metrics_changed), _changed_metrics(result)),
        ("metrics only in A", len(result.metrics_only_in_a), _lone_metrics(result, "a")),
        ("metrics only in B", len(result.metrics_only_in_b), _lone_metrics(result, "b")),
        ("assertions changed", len(result.assertions_changed), _changed_assertions(result)),
        ("assertions only in A", len(result.assertions_only_in_a), _lone_assertions(result, "a")),
        ("assertions only in B", len(result.assertions_only_in_b), _lone_assertions(result, "b")),
    ]
    for _, count, table in sections:
        if count and table is not None:
            console.print(table)
    _print_statements(result, console)
    say(console, _summary(result))


def _print_runs(result: RunDiff, console: Console) -> None:
    for label, execution_id, run in (("A", result.a, result.run_a), ("B", result.b, result.run_b)):
        say(console, f"{label}  {execution_id}  {_describe(run)}")
    if result.align == "run":
        say(
            console,
            "metrics paired by days before each run's date (t, t-1, ...), tags aside; "
            "a changed metric shows B's date",
        )


def _describe(run: RunRecord | None) -> str:
    if run is None:
        return "(no run record: metrics only)"
    tags = ", ".join(f"{key}={value}" for key, value in sorted(run.tags.items()))
    return f"{run.suite}  {run.yyyy_mm_dd}  {run.status}" + (f"  {tags}" if tags else "")


def _summary(result: RunDiff) -> str:
    if result.identical:
        return (
            f"no differences: {result.metrics_unchanged} metrics, "
            f"{result.assertions_unchanged} assertions and {result.statements_unchanged} "
            "statements agree"
        )
    counts = result.counts()
    listed = ", ".join(
        f"{count} {name.replace('_', ' ').removesuffix(' a').removesuffix(' b')}"
        + (f" {name[-1].upper()}" if name.endswith(("_a", "_b")) else "")
        for name, count in counts.items()
        if count
    )
    return (
        f"{listed}; unchanged: {result.metrics_unchanged} metrics, "
        f"{result.assertions_unchanged} assertions, {result.statements_unchanged} statements"
    )


def _table(title: str, columns: Sequence[str], right: Sequence[str] = ()) -> Table:
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return table


def _tags(tags: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(tags.items()))


def _value(value: float | None, metric: str) -> str:
    from dqx.humanize import format_value, value_style

    return "NULL" if value is None else format_value(value, value_style(metric))


def _changed_metrics(result: RunDiff) -> Table:
    from rich.text import Text

    from dqx.humanize import format_value

    table = _table(
        f"metrics changed ({len(result.metrics_changed)})",
        ("date", "dataset", "metric", "tags", "A", "B", "B - A", "relative"),
        right=("A", "B", "B - A", "relative"),
    )
    for change in result.metrics_changed:
        absolute = change.absolute
        table.add_row(
            *_metric_cells(change, result),
            Text(_value(change.a, change.metric)),
            Text(_value(change.b, change.metric)),
            Text("-" if absolute is None else ("+" if absolute > 0 else "") + _value(absolute, "")),
            Text(format_value(change.relative, "change")),
        )
    return table


def _metric_cells(item: MetricChange | MetricValue, result: RunDiff) -> tuple[Text, ...]:
    from rich.text import Text

    return (
        Text(_day(item, result)),
        Text(item.dataset),
        Text(item.metric),
        Text(_tags(item.tags)),
    )


def _lone_metrics(result: RunDiff, side: str) -> Table:
    from rich.text import Text

    values = result.metrics_only_in_a if side == "a" else result.metrics_only_in_b
    table = _table(
        f"metrics only in {side.upper()} ({len(values)})",
        ("date", "dataset", "metric", "tags", "value", "origin"),
        right=("value",),
    )
    for value in values:
        table.add_row(
            *_metric_cells(value, result),
            Text(_value(value.value, value.metric)),
            Text(value.origin),
        )
    return table


def _day(item: MetricChange | MetricValue, result: RunDiff) -> str:
    """The metric's date; aligned by run, its place before the run's date first (t-1),
    since the two runs' dates differ."""
    if result.align == "identity" or item.lag is None:
        return item.yyyy_mm_dd.isoformat()
    place = "t" if item.lag == 0 else f"t{-item.lag:+d}"
    return f"{place} ({item.yyyy_mm_dd.isoformat()})"


def _status(status: str) -> Text:
    from rich.text import Text

    # Statuses are the store's text: one this module does not know prints unstyled.
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def _changed_assertions(result: RunDiff) -> Table:
    from rich.text import Text

    table = _table(
        f"assertions changed ({len(result.assertions_changed)})",
        ("sev", "check", "assertion", "A", "B", "value A", "value B", "B's bound / reason"),
        right=("value A", "value B"),
    )
    for change in result.assertions_changed:
        a, b = change.a, change.b
        table.add_row(
            Text(b.severity),
            Text(b.check),
            Text(b.assertion),
            _status(a.status),
            _status(b.status),
            Text(_value(a.value, a.expression)),
            Text(_value(b.value, b.expression)),
            Text(b.message or b.bound),
        )
    return table


def _lone_assertions(result: RunDiff, side: str) -> Table:
    from rich.text import Text

    records: Sequence[AssertionRecord] = (
        result.assertions_only_in_a if side == "a" else result.assertions_only_in_b
    )
    table = _table(
        f"assertions only in {side.upper()} ({len(records)})",
        ("sev", "check", "assertion", "status", "value", "bound / reason"),
        right=("value",),
    )
    for record in records:
        table.add_row(
            Text(record.severity),
            Text(record.check),
            Text(record.assertion),
            _status(record.status),
            Text(_value(record.value, record.expression)),
            Text(record.message or record.bound),
        )
    return table


# -- statements ---------------------------------------------------------------------------


def _print_statements(result: RunDiff, console: Console) -> None:
    for change in result.statements_changed:
        console.print(_statement_change(change))
    for side, statements in (
        ("A", result.statements_only_in_a),
        ("B", result.statements_only_in_b),
    ):
        for statement in statements:
            console.print(_lone_statement(statement, side))


def _statement_change(change: StatementChange) -> Text:
    """The statement's words, those only A had as ``[-...-]`` in red, those only B has
    as ``{+...+}`` in green (git's --word-diff=plain, readable in a log without
    colours): a statement is one long line, so a line diff would show all of it twice."""
    from rich.text import Text

    text = Text()
    text.append(f"statement changed on dataset {change.dataset}", style="bold")
    text.append(f"\n  A: {', '.join(change.a.metrics)} ({_dates(change.a)})")
    text.append(f"\n  B: {', '.join(change.b.metrics)} ({_dates(change.b)})\n  ")
    old, new = change.a.sql.split(), change.b.sql.split()
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            text.append(" ".join(old[i1:i2]) + " ")
            continue
        if i2 > i1:
            text.append("[-" + " ".join(old[i1:i2]) + "-]", style="red")
            text.append(" ")
        if j2 > j1:
            text.append("{+" + " ".join(new[j1:j2]) + "+}", style="green")
            text.append(" ")
    return text


def _lone_statement(statement: Statement, side: str) -> Text:
    from rich.text import Text

    text = Text()
    text.append(f"statement only in {side} on dataset {statement.dataset}", style="bold")
    text.append(f"\n  {', '.join(statement.metrics)} ({_dates(statement)})\n  ")
    text.append(statement.sql)
    return text


def _dates(statement: Statement) -> str:
    return ", ".join(day.isoformat() for day in statement.dates)
