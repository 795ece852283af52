"""Terminal rendering with rich. Nothing below api.py imports this module."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from dqx.common import ORIGIN_TAG, SEVERITIES, AssertionResult, SymbolInfo
from dqx.humanize import format_bound, format_exact, format_value, value_style
from dqx.records import RunStatus

if TYPE_CHECKING:
    from dqx.data import Reconciliation
    from dqx.records import RunRecord, SuiteResult

__all__ = [
    "TABLE_ROWS",
    "TerminalReport",
    "print_metrics",
    "print_results",
    "reconciliation_rows",
    "reconciliation_table",
    "results_table",
    "runs_table",
    "symbols_table",
]

#: A results table of more assertions than this lists every one that did not pass and
#: counts the passes in the summary line. rich lays a row out in about half a
#: millisecond, so 200 rows print in a tenth of a second where 10,000 took 4.5 s, more
#: than the rest of the run (bench/FINDINGS.md, 13-15); and 200 rows, four screens, are
#: about as many as anyone reads row by row.
TABLE_ROWS = 200
#: How a library user lists them all; the CLI names its own flags instead.
_LIST_ALL = "TerminalReport(max_rows=None) lists them"

_STATUS_STYLE = {"OK": "green", "FAILURE": "bold red", "ERROR": "bold yellow", "SKIPPED": "cyan"}
_STATUS_ORDER = {"FAILURE": 0, "ERROR": 1, "SKIPPED": 2, "OK": 3}
_RUN_STYLE: dict[RunStatus, str] = {
    "running": "cyan",
    "passed": "green",
    "failed": "bold red",
    "persist_failed": "bold yellow",
    "error": "bold magenta",
    "interrupted": "magenta",
}


def results_table(
    results: Sequence[AssertionResult], *, title: str | None = None, only_failures: bool = False
) -> Table:
    """One row per assertion, failures first, then errors, then skipped ones (with the
    reason), then passes (with ``only_failures``, the passes are left out). Values are
    rounded for reading (:mod:`dqx.humanize`); ``--format json`` and the store keep the
    exact float."""
    table = Table(title=title, title_justify="left", expand=False)
    table.add_column("status")
    table.add_column("sev")
    table.add_column("check")
    table.add_column("assertion")
    table.add_column("value", justify="right")
    table.add_column("bound")
    table.add_column("expression / reason", overflow="fold")
    ordered = sorted(
        results,
        key=lambda r: (_STATUS_ORDER[r.status], SEVERITIES.index(r.severity), r.check),
    )
    for result in ordered:
        if only_failures and result.status == "OK":
            continue
        detail = result.message if result.status in ("ERROR", "SKIPPED") else result.expression
        style = value_style(result.expression)
        # User text goes in as Text, never markup: "[order_id]" must print as written.
        table.add_row(
            Text(result.status, style=_STATUS_STYLE[result.status]),
            Text(result.severity),
            Text(result.check),
            Text(result.assertion),
            Text(format_value(result.number, style)),
            Text(format_bound(result.bound, style)),
            Text(detail),
        )
    return table


def summary_line(
    results: Sequence[AssertionResult],
    execution_id: str,
    *,
    only_failures: bool = False,
    over_limit: str | None = None,
) -> Text:
    """The counts by status; with ``only_failures``, or ``over_limit`` (why the passes
    were left out, and how to list them), says the passes were not listed."""
    counts = {status: 0 for status in _STATUS_ORDER}
    for result in results:
        counts[result.status] += 1
    text = Text()
    text.append(f"{counts['OK']} ok", style="green")
    text.append(", ")
    text.append(f"{counts['FAILURE']} failed", style="bold red" if counts["FAILURE"] else "")
    text.append(", ")
    text.append(f"{counts['ERROR']} errors", style="bold yellow" if counts["ERROR"] else "")
    text.append(", ")
    text.append(f"{counts['SKIPPED']} skipped", style="cyan" if counts["SKIPPED"] else "")
    if over_limit is not None and counts["OK"]:
        text.append(f" (the {counts['OK']} ok not listed: {over_limit})")
    elif only_failures and counts["OK"]:
        text.append(f" (the {counts['OK']} ok not listed)")
    text.append(f"  execution id {execution_id}")
    return text


def print_results(
    results: Sequence[AssertionResult],
    execution_id: str,
    *,
    title: str | None = None,
    console: Console | None = None,
    only_failures: bool = False,
    max_rows: int | None = TABLE_ROWS,
    list_all: str = _LIST_ALL,
) -> None:
    """The results table and the summary line; ``only_failures`` lists only the
    assertions that did not pass (the summary still counts every one). So does a run
    of more than ``max_rows`` assertions (None: no limit), its summary line saying how
    many passes were left out and, in ``list_all``, how to list them."""
    console = console or Console()
    over_limit = None
    if not only_failures and max_rows is not None and len(results) > max_rows:
        over_limit = f"more than {max_rows} assertions; {list_all}"
    passes_left_out = only_failures or over_limit is not None
    if not passes_left_out or any(result.status != "OK" for result in results):
        console.print(results_table(results, title=title, only_failures=passes_left_out))
    console.print(
        summary_line(results, execution_id, only_failures=only_failures, over_limit=over_limit)
    )


class TerminalReport:
    """A plugin that prints each run's results table and summary line to a console.

    ``VerificationSuite(..., plugins=[TerminalReport()])`` prints to standard output;
    ``TerminalReport(only_failures=True)`` lists only what did not pass. A run of more
    than ``max_rows`` assertions (:data:`TABLE_ROWS`) lists every one that did not pass
    and counts the passes in its summary line; ``max_rows=None`` lists every row, and
    ``list_all`` is how that line tells the reader to see them all.
    """

    name = "terminal-report"

    def __init__(
        self,
        console: Console | None = None,
        *,
        only_failures: bool = False,
        max_rows: int | None = TABLE_ROWS,
        list_all: str = _LIST_ALL,
    ) -> None:
        self._console = console
        self._only_failures = only_failures
        self._max_rows = max_rows
        self._list_all = list_all

    def after_run(self, result: SuiteResult) -> None:
        print_results(
            result.results,
            result.execution_id,
            title=f"{result.suite} for {result.key.yyyy_mm_dd}",
            console=self._console,
            only_failures=self._only_failures,
            max_rows=self._max_rows,
            list_all=self._list_all,
        )


def symbols_table(symbols: Sequence[SymbolInfo], *, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("name")
    table.add_column("date")
    table.add_column("dataset")
    table.add_column("metric", overflow="fold")
    table.add_column("value", justify="right")
    table.add_column("origin")
    for symbol in symbols:
        number = symbol.value.value_or(None)
        table.add_row(
            Text(symbol.name),
            Text(symbol.yyyy_mm_dd.isoformat()),
            Text(symbol.dataset or ""),
            Text(symbol.metric),
            Text(
                format_value(number, value_style(symbol.metric)) if number is not None else "NULL"
            ),
            # Without a trace to compare, every metric was read from the database.
            Text(symbol.tags.get(ORIGIN_TAG, "db")),
        )
    return table


def print_metrics(
    symbols: Sequence[SymbolInfo], *, title: str | None = None, console: Console | None = None
) -> None:
    (console or Console()).print(symbols_table(symbols, title=title))


def runs_table(
    runs: Sequence[RunRecord],
    *,
    title: str | None = None,
    stale_after: dt.timedelta | None = None,
) -> Table:
    """One row per run, as listed (newest first from ``MetricDB.runs``); with
    ``stale_after``, a run still running that long after it started shows as stale."""
    table = Table(title=title, title_justify="left")
    table.add_column("execution id", no_wrap=True)
    table.add_column("suite")
    table.add_column("date")
    table.add_column("tags", overflow="fold")
    table.add_column("status")
    table.add_column("ok", justify="right")
    table.add_column("failed", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("skipped", justify="right")
    table.add_column("metrics", justify="right")
    table.add_column("traced")
    for run in runs:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(run.tags.items()))
        traced = "-" if run.trace_sampled is None else ("yes" if run.trace_sampled else "no")
        table.add_row(
            Text(run.execution_id),
            Text(run.suite),
            Text(run.yyyy_mm_dd.isoformat()),
            Text(tags),
            _status(run, stale_after),
            Text(str(run.assertions_ok)),
            Text(str(run.assertions_failed), style="bold red" if run.assertions_failed else ""),
            Text(str(run.assertions_error), style="bold yellow" if run.assertions_error else ""),
            Text(str(run.assertions_skipped), style="cyan" if run.assertions_skipped else ""),
            Text(str(run.metric_count)),
            Text(traced),
        )
    return table


def _status(run: RunRecord, stale_after: dt.timedelta | None) -> Text:
    if stale_after is not None and run.is_stale(stale_after):
        # Its process died: `dqx runs --reap` records it as interrupted.
        return Text("stale", style="bold yellow")
    return Text(run.status, style=_RUN_STYLE.get(run.status, ""))  # type: ignore[call-overload]


def reconciliation_rows(rec: Reconciliation) -> list[dict[str, Any]]:
    """Every disagreement between a run's database record and its trace, one per metric."""
    rows: list[dict[str, Any]] = []

    def add(problem: str, metric: Any, db_value: Any, trace_value: Any, differs: str) -> None:
        rows.append(
            {
                "problem": problem,
                "id": metric.id,
                "metric": metric.name,
                "dataset": metric.dataset,
                "yyyy_mm_dd": metric.yyyy_mm_dd.isoformat(),
                "db_value": db_value,
                "trace_value": trace_value,
                "differs": differs,
            }
        )

    for metric in rec.missing_in_db:
        add("missing_in_db", metric, None, metric.value, "")
    for metric in rec.missing_in_trace:
        add("missing_in_trace", metric, metric.value, None, "")
    for mismatch in rec.mismatched:
        add(
            "mismatched",
            mismatch.db,
            mismatch.db.value,
            mismatch.trace.value,
            ",".join(mismatch.fields),
        )
    return rows


def reconciliation_table(rec: Reconciliation, *, title: str | None = None) -> Table:
    """The disagreements of :func:`reconciliation_rows` as a table."""
    table = Table(title=title, title_justify="left")
    table.add_column("problem")
    table.add_column("date")
    table.add_column("dataset")
    table.add_column("metric", overflow="fold")
    table.add_column("db value", justify="right")
    table.add_column("trace value", justify="right")
    table.add_column("differs")
    for row in reconciliation_rows(rec):
        table.add_row(
            Text(row["problem"], style="bold red"),
            Text(row["yyyy_mm_dd"]),
            Text(row["dataset"] or ""),
            Text(row["metric"]),
            Text(format_exact(row["db_value"])),
            Text(format_exact(row["trace_value"])),
            Text(row["differs"]),
        )
    return table
