"""``dqx runs``: recent runs, newest first, with their status and trace links.

A run still ``running`` long after it started belongs to a process that died without
recording how it ended (SIGKILL, a lost machine): it is shown as stale, and ``--reap``
records it as interrupted.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

import click

from dqx.cli.baselines import mark_bad_command, unmark_bad_command
from dqx.cli.errors import dqx_errors
from dqx.cli.options import db_option, duration, format_duration, format_option
from dqx.cli.output import emit_csv, emit_json, say, stderr, stdout
from dqx.cli.wiring import load, open_db, trace_links

if TYPE_CHECKING:
    from dqx.links import TraceLinks
    from dqx.orm.repositories import MetricDB
    from dqx.records import RunRecord

__all__ = ["runs_command"]

_CSV_COLUMNS = (
    "execution_id",
    "suite",
    "yyyy_mm_dd",
    "tags",
    "status",
    "stale",
    "ok",
    "failed",
    "errors",
    "skipped",
    "metrics",
    "trace_sampled",
    "trace_exported",
    "started",
    "finished",
    "message",
    "source_execution_id",
    "marked_bad",
    "trace_url",
)


@click.group("runs", invoke_without_command=True)
@db_option
@click.option("--suite", help="Only runs of this suite.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only runs about this date or later.",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--jaeger", "jaeger_url", metavar="URL", help="Jaeger UI base for trace links.")
@click.option("--grafana", "grafana_url", metavar="URL", help="Grafana base for trace links.")
@click.option(
    "--stale-after",
    callback=duration,
    metavar="DURATION",
    help="A run still running this long after it started is stale: its process died "
    "(90m, 6h, 2d; default: the store's STALE_AFTER, 6h).",
)
@click.option(
    "--reap",
    is_flag=True,
    help="First record every stale run as interrupted, saying why, then list.",
)
@format_option("table", "json", "csv")
@click.pass_context
def runs_command(
    ctx: click.Context,
    db_url: str | None,
    suite: str | None,
    since: dt.datetime | None,
    limit: int,
    jaeger_url: str | None,
    grafana_url: str | None,
    stale_after: dt.timedelta | None,
    reap: bool,
    fmt: str,
) -> None:
    """Recent runs, newest first, with their status and trace links; `dqx runs
    mark-bad ID --reason ...` and `dqx runs unmark-bad ID` mark a run as a bad baseline
    and clear it.

    A run still running --stale-after its start is shown as stale (JSON and CSV: the
    stale field); --reap records those runs (of any suite) as interrupted. JSON and CSV
    rows carry trace_url when --jaeger or --grafana (else DQX_JAEGER_URL /
    DQX_GRAFANA_URL, or dqx.toml) says where the traces are; Jaeger wins.
    """
    if ctx.invoked_subcommand is not None:
        return
    from dqx.orm.repositories import STALE_AFTER

    older_than = stale_after or STALE_AFTER
    settings = load(db_url=db_url, jaeger_url=jaeger_url, grafana_url=grafana_url)
    db = open_db(settings, must_exist=True)
    with dqx_errors():
        if reap:
            _reap(db, older_than)
        runs = db.runs(suite=suite, since=since.date() if since else None, limit=limit)
        marks = {m.execution_id: m.reason for m in db.bad_runs([r.execution_id for r in runs])}
    rows = [
        {
            **_run_row(
                run, trace_links(settings, run.execution_id, run.started, run.finished), older_than
            ),
            "marked_bad": marks.get(run.execution_id),
        }
        for run in runs
    ]
    if fmt == "json":
        emit_json(rows)
    elif fmt == "csv":
        emit_csv(
            _CSV_COLUMNS, [[_csv_cell(row.get(column)) for column in _CSV_COLUMNS] for row in rows]
        )
    else:
        from dqx.display import runs_table

        stdout().print(runs_table(runs, title=f"runs in {db.url}", stale_after=older_than))


def _reap(db: MetricDB, older_than: dt.timedelta) -> None:
    """Record stale runs as interrupted; say which, on stderr so JSON and CSV stay clean."""
    reaped = db.reap_stale(older_than)
    age = format_duration(older_than)
    if not reaped:
        say(stderr(), f"no stale runs: none still running more than {age} after it started")
        return
    listed = ", ".join(f"{run.execution_id} ({run.suite})" for run in reaped)
    say(
        stderr(),
        f"reaped {len(reaped)} run(s) still running more than {age} after they started, "
        f"now recorded as interrupted: {listed}",
    )


def _csv_cell(value: Any) -> Any:
    # Tags are a mapping: one cell holds them as the JSON output writes them, so a
    # reader parses them back with a JSON parser instead of guessing at a separator.
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return value


def _run_row(run: RunRecord, links: TraceLinks | None, stale_after: dt.timedelta) -> dict[str, Any]:
    row: dict[str, Any] = {
        "execution_id": run.execution_id,
        "suite": run.suite,
        "yyyy_mm_dd": run.yyyy_mm_dd.isoformat(),
        "tags": dict(run.tags),
        "status": run.status,
        "stale": run.is_stale(stale_after),
        "ok": run.assertions_ok,
        "failed": run.assertions_failed,
        "errors": run.assertions_error,
        "skipped": run.assertions_skipped,
        "metrics": run.metric_count,
        "trace_sampled": run.trace_sampled,
        "trace_exported": run.trace_exported,
        "started": _utc(run.started),
        "finished": _utc(run.finished) if run.finished else None,
        "message": run.message,
        # A re-evaluation's original run.
        "source_execution_id": run.source_execution_id,
    }
    if links is not None and (links.jaeger or links.grafana):
        row["trace_url"] = links.jaeger or links.grafana
    return row


def _utc(moment: dt.datetime) -> str:
    # The store keeps UTC without a zone; a reader elsewhere must not take it as local.
    return moment.replace(tzinfo=dt.UTC).isoformat()


runs_command.add_command(mark_bad_command)
runs_command.add_command(unmark_bad_command)
