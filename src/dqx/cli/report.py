"""``dqx report ID --out report.html``: a run's HTML report, from the store and its trace."""

from __future__ import annotations

from pathlib import Path

import click

from dqx.cli.errors import bad_news, dqx_errors, usage
from dqx.cli.options import db_option
from dqx.cli.output import say, stderr
from dqx.cli.wiring import TraceFlags, load, open_run, reading_flags, trace_source_options

__all__ = ["report_command"]

_HELP = f"""Write run EXECUTION_ID's HTML report: one self-contained file.

Failures first, grouped by severity, with the SQL that computed their metrics; a
chart of each metric's history over the last --days days; every assertion; the
statements the run executed. With a trace source ({reading_flags()}) the report also
compares the store with the run's trace. Links to the trace use DQX_JAEGER_URL /
DQX_GRAFANA_URL, to the runbooks DQX_RUNBOOK_BASE_URL (or dqx.toml).
"""


@click.command("report", help=_HELP)
@click.argument("execution_id")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="Where to write the report.",
)
@db_option
@trace_source_options
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Days of history per chart, ending on the run's date.",
)
@click.option(
    "--only-failures",
    is_flag=True,
    help="Leave out the assertions that passed and the metrics only they use.",
)
def report_command(
    execution_id: str,
    out: Path,
    db_url: str | None,
    trace_flags: TraceFlags,
    days: int,
    only_failures: bool,
) -> None:
    from dqx.report import write_report

    settings = load(db_url=db_url)
    execution_id, db, source = open_run(settings, execution_id, trace_flags, fall_back=False)
    with dqx_errors():
        if db.run(execution_id) is None:
            bad_news(f"no run {execution_id} in {db.url}; list runs with `dqx runs`")
        try:
            report = write_report(
                db,
                execution_id,
                out,
                trace=source,
                days=days,
                only_failures=only_failures,
                jaeger=settings.get("jaeger_url") or trace_flags.get("jaeger_url"),
                grafana=settings.get("grafana_url"),
                runbook_base_url=settings.get("runbook_base_url"),
            )
        except OSError as exc:
            # The store's own failures arrive as DQXError; an OSError here is the file.
            usage(f"cannot write the report to {out}: {exc.strerror or exc}; pass a writable --out")
    failures = len(report.failures)
    say(
        stderr(),
        f"wrote {out} ({out.stat().st_size / 1024:,.0f} KiB): run {execution_id}, "
        f"{report.run.status}, {failures} assertion(s) not passing, {len(report.charts)} "
        "metric chart(s)",
    )
