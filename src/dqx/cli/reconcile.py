"""``dqx reconcile ID``: the store against the trace, and the way out when they differ."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dqx.cli.errors import EXIT_FAILED, bad_news, dqx_errors, usage
from dqx.cli.options import db_option, format_option
from dqx.cli.output import either, emit_csv, emit_json, say, stderr, stdout
from dqx.cli.wiring import (
    TRACE_SOURCES,
    TraceFlags,
    configured_sources,
    load,
    open_run,
    reading_flags,
    source_name,
    trace_source_options,
)

if TYPE_CHECKING:
    from rich.console import Console

    from dqx.data import Reconciliation

__all__ = ["reconcile_command"]

_CSV_COLUMNS = (
    "problem",
    "metric",
    "dataset",
    "yyyy_mm_dd",
    "db_value",
    "trace_value",
    "id",
    "differs",
)
_HELP = f"""Compare run EXECUTION_ID's metrics in the database with its trace.

The trace comes from {reading_flags()}, else from
{either([str(kind.env) for kind in configured_sources()])} (or the same keys in dqx.toml).
Exits 0 when the records agree (after --recover, when they agree afterwards), 1 when
they do not, or when the run never finished (interrupted, or still running).
"""


@click.command("reconcile", help=_HELP)
@click.argument("execution_id")
@db_option
@trace_source_options
@click.option(
    "--recover",
    is_flag=True,
    help="Write metrics found only in the trace back to the database, under the same id.",
)
@format_option("table", "json", "csv")
@click.pass_context
def reconcile_command(
    ctx: click.Context,
    execution_id: str,
    db_url: str | None,
    trace_flags: TraceFlags,
    recover: bool,
    fmt: str,
) -> None:
    from dqx.data import reconcile

    settings = load(db_url=db_url)
    execution_id, db, source = open_run(settings, execution_id, trace_flags, fall_back=True)
    if source is None:
        usage(f"reconcile needs a trace: pass {reading_flags()}")
    err = stderr()
    with dqx_errors():
        rec = reconcile(db, execution_id, source)
        if not rec.trace_found and not rec.db_count and db.run(execution_id) is None:
            bad_news(
                f"no run {execution_id} in {db.url}, and no trace of it in "
                f"{source_name(source)}; list runs with `dqx runs`"
            )
        if recover:
            written = rec.recover(db)
            err.print(f"recovered {written} metric(s) from the trace", highlight=False)
            rec = reconcile(db, execution_id, source)
    for warning in rec.warnings:
        say(err, f"warning: {warning}")
    _print(rec, execution_id, fmt)
    if not rec.ok:
        _way_out(err, rec, execution_id, settings.get("runbook_base_url"))
        ctx.exit(EXIT_FAILED)


def _print(rec: Reconciliation, execution_id: str, fmt: str) -> None:
    from dqx.display import reconciliation_rows, reconciliation_table

    if fmt == "json":
        emit_json(
            {
                "execution_id": rec.execution_id,
                "ok": bool(rec.ok),
                "trace_found": bool(rec.trace_found),
                "trace_expected": rec.trace_expected,
                "run_status": rec.run_status,
                "summary": rec.summary,
                "matched": len(rec.matched),
                "discrepancies": reconciliation_rows(rec),
            }
        )
    elif fmt == "csv":
        rows = reconciliation_rows(rec)
        emit_csv(_CSV_COLUMNS, [[row[column] for column in _CSV_COLUMNS] for row in rows])
    else:
        out = stdout()
        # The library's summary names recover(), a Python method; here it is a flag.
        say(out, rec.summary.split("; recover()")[0])
        if rec.missing_in_db or rec.missing_in_trace or rec.mismatched:
            out.print(reconciliation_table(rec, title=f"run {execution_id}: db vs trace"))


def _way_out(err: Console, rec: Reconciliation, execution_id: str, runbooks: str | None) -> None:
    """What the operator does next, on stderr so JSON and CSV stay clean."""
    from dqx.alerts.model import runbook_url

    if rec.unfinished:
        what_next = (
            "no reconciliation makes it whole: run its command again"
            if rec.run_status == "interrupted"
            else "wait for it to finish; if its process is gone, `dqx runs --reap` records "
            "it as interrupted"
        )
        say(err, f"run {execution_id}: {what_next}; see {runbook_url('run-interrupted', runbooks)}")
    if not rec.trace_found:
        if rec.trace_expected:
            others = ", ".join(kind.flag for kind in TRACE_SOURCES)
            say(
                err,
                f"trace {execution_id} not found in that source: try another ({others}); "
                f"see {runbook_url('trace-missing', runbooks)}",
            )
        return
    if rec.missing_in_db:
        say(
            err,
            f"{len(rec.missing_in_db)} metric(s) only in the trace: run the same command "
            "with --recover to write them back",
        )
    if rec.mismatched or rec.missing_in_trace:
        say(
            err,
            f"see {runbook_url('reconciliation-mismatch', runbooks)} before trusting either record",
        )
