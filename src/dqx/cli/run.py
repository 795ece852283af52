"""``dqx run``: a checks file against datasets, with the results, the trace and alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from dqx.alerts.sinks import SINKS
from dqx.cli.backfill import RunSetup, date_span, range_options, run_backfill
from dqx.cli.caller import caller_trace
from dqx.cli.checks_file import load_checks
from dqx.cli.datasets import observed_sources
from dqx.cli.ending import finish_run, interrupted_line
from dqx.cli.errors import EXIT_FAILED, dqx_errors, operational, usage
from dqx.cli.interrupts import StopSignals
from dqx.cli.options import db_option, fail_on_option, format_option, parse_pairs
from dqx.cli.output import assertion_json, either, emit_json, print_links, say, stderr, stdout
from dqx.cli.progress import ScanProgress
from dqx.cli.wiring import (
    EXPORT_FAILED_NOTE,
    TRACE_SOURCES,
    check_trace_file,
    link_options,
    load,
    open_db,
    trace_links,
    tracer_provider,
)
from dqx.common import SEVERITIES

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
    from rich.console import Console

    from dqx.alerts.plugin import AlertPlugin
    from dqx.api import VerificationSuite
    from dqx.checks import Check
    from dqx.common import ResultKey
    from dqx.config import Settings
    from dqx.display import TerminalReport
    from dqx.links import TraceLinks
    from dqx.orm.repositories import MetricDB
    from dqx.records import SuiteResult
    from dqx.telemetry.sdk import ExportStatus

__all__ = ["report_outcome", "run_command", "run_settings"]

#: Exit code of a run stopped by an interrupt no signal handler saw (128 + SIGINT).
EXIT_INTERRUPTED = 130


@click.command("run")
@click.argument("checks_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    metavar="NAME=LOCATION",
    help="A dataset: a .parquet or .csv file, a glob or a directory of them (Hive "
    "partitions found), postgresql://.../db#schema.table, duckdb:///file.db#table or "
    "spark:TABLE. Repeatable.",
)
@click.option(
    "--date-column",
    multiple=True,
    metavar="NAME=COLUMN",
    help="The date column of dataset NAME (default: a column named yyyy_mm_dd).",
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The date the run is about (default: today).",
)
@range_options
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A run tag. Repeatable.")
@click.option("--suite", "suite_name", help="Suite name (default: the checks file's name).")
@db_option
@fail_on_option
@click.option(
    "--trace-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the run's trace to this OTLP JSON-lines file (env DQX_TRACE_FILE).",
)
@click.option(
    "--otlp-endpoint",
    metavar="URL",
    help="Export the run's trace to this OTLP collector (env OTEL_EXPORTER_OTLP_ENDPOINT).",
)
@click.option(
    "--recompute",
    is_flag=True,
    help="Recompute lagged values from the data instead of reusing stored history.",
)
@click.option(
    "--alert",
    "alert_sinks",
    multiple=True,
    metavar="SINK=URL",
    help=f"After the run, post failures at --fail-on or above to URL; SINK is "
    f"{either(list(SINKS))}. Repeatable.",
)
@click.option(
    "--only-failures",
    is_flag=True,
    help="List only the assertions that did not pass in the results table (JSON output "
    "always carries every result).",
)
@click.option(
    "--all",
    "list_all",
    is_flag=True,
    help="List every assertion in the results table. Without it, a wide run's table "
    "lists those that did not pass and counts the passes: laying out 10,000 rows takes "
    "seconds.",
)
@format_option("table", "json")
@click.pass_context
def run_command(
    ctx: click.Context,
    checks_file: Path,
    data: tuple[str, ...],
    date_column: tuple[str, ...],
    day: dt.datetime | None,
    tags: tuple[str, ...],
    suite_name: str | None,
    db_url: str | None,
    fail_on: str | None,
    trace_file: Path | None,
    otlp_endpoint: str | None,
    recompute: bool,
    alert_sinks: tuple[str, ...],
    only_failures: bool,
    list_all: bool,
    fmt: str,
) -> None:
    """Run the @check functions of CHECKS_FILE against the given datasets.

    \b
    dqx run checks.py --data orders=data/orders/*.parquet --date 2024-03-14 \\
        --tag env=prod --db sqlite:///dqx.db --trace-file traces.jsonl

    Prints the results and the trace links; exits 0 when nothing at or above
    --fail-on failed, 1 when something did, 2 on usage errors, 3 when the metric
    database could not take the run's metrics, 130 (Ctrl-C) or 143 (SIGTERM) when a
    signal stopped the run, which is then recorded as interrupted. With --since D1
    --until D2 instead of --date it backfills: each day of the range is a run of its
    own, and one line per day is printed.
    """
    result: SuiteResult | None = None
    with StopSignals() as stop:
        try:
            settings, threshold = run_settings(db_url, fail_on, trace_file, otlp_endpoint)
            # Everything wrong with the command line is found before data is read.
            check_trace_file(settings)
            datasets, date_columns, checks, key = _inputs(data, date_column, checks_file, day, tags)
            span = date_span(ctx, day)
            progress = ScanProgress(stderr(), list(datasets))
            report = _results_table(fmt == "table" and span is None, only_failures, list_all)
            plugins = _plugins(progress, report, alert_sinks, settings, threshold)
            sources = observed_sources(datasets, date_columns, progress)
            db = open_db(settings, must_exist=False)
            provider, trace_note = tracer_provider(settings)
            name = suite_name or checks_file.stem
            setup = RunSetup(
                checks, name, plugins, recompute, db, provider, sources, progress, stop, settings
            )
            if span is not None:
                return run_backfill(ctx, setup, span, key.identity_tags, fmt, threshold)
            result, persist_problem = _run_suite(setup, key)
            report_outcome(
                ctx, fmt, settings, result, threshold, trace_note, provider, persist_problem, db.url
            )
        except KeyboardInterrupt:
            _stopped_outside_the_run(stop, result)


def _inputs(
    data: Sequence[str],
    date_column: Sequence[str],
    checks_file: Path,
    day: dt.datetime | None,
    tags: tuple[str, ...],
) -> tuple[dict[str, str], dict[str, str], list[Check], ResultKey]:
    """The datasets and their date columns, the checks and the run's key, each refused
    with a usage error when given wrongly, before any data is read."""
    return (
        parse_pairs(data, "--data", "NAME=LOCATION"),
        parse_pairs(date_column, "--date-column", "NAME=COLUMN"),
        load_checks(checks_file),
        _result_key(day, tags),
    )


def _stopped_outside_the_run(stop: StopSignals, result: SuiteResult | None) -> NoReturn:
    """A signal before the run began, or while its outcome printed: exit 130 or 143."""
    stop.ending()
    when = (
        "before the run began; nothing recorded"
        if result is None
        else f"after run {result.execution_id} was recorded as {result.status}"
    )
    say(stderr(), f"dqx: stopped by {stop.first} {when}")
    raise click.exceptions.Exit(stop.exit_code or EXIT_INTERRUPTED)


def report_outcome(
    ctx: click.Context,
    fmt: str,
    settings: Settings,
    result: SuiteResult,
    threshold: str,
    trace_note: str,
    provider: SDKTracerProvider | None,
    persist_problem: str | None,
    db_url: str,
) -> None:
    """The results, the trace links, what did not reach the store or the collector,
    and the exit code the assertions call for."""
    err = stderr()
    if export_problem := _trace_export_problem(provider, result.execution_id):
        trace_note = EXPORT_FAILED_NOTE
    _print_outcome(stdout(), fmt, settings, result, threshold, trace_note)
    if export_problem:
        say(err, export_problem)
    if persist_problem:
        operational(_persist_message(result, settings, db_url, trace_note, persist_problem))
    if failed := result.failed(threshold):
        say(err, f"{len(failed)} assertion(s) at {threshold} or above did not pass")
        ctx.exit(EXIT_FAILED)


def _hide_alert_addresses(alert_sinks: Sequence[str]) -> None:
    """Each ``--alert SINK=URL``'s address is a credential: never shown, even in the
    error about a malformed pair."""
    from dqx.cli.redacting import current

    for pair in alert_sinks:
        _, sep, url = pair.partition("=")
        # 'slack=' names no address to hide; hiding the whole pair would mask the error.
        current().add_url(url if sep else pair, address=True)


def run_settings(
    db_url: str | None, fail_on: str | None, trace_file: Path | None, otlp_endpoint: str | None
) -> tuple[Settings, str]:
    """The settings, and the severity at or above which the run fails."""
    settings = load(
        db_url=db_url,
        fail_on=fail_on,
        trace_file=str(trace_file) if trace_file else None,
        otlp_endpoint=otlp_endpoint,
    )
    threshold = settings.require("fail_on")
    if threshold not in SEVERITIES:
        usage(f"fail_on {threshold!r} (from {settings.origin['fail_on']}) is not P0..P3")
    return settings, threshold


def _print_outcome(
    out: Console,
    fmt: str,
    settings: Settings,
    result: SuiteResult,
    threshold: str,
    trace_note: str,
) -> None:
    links = trace_links(settings, result.execution_id, result.started, result.finished)
    if fmt == "json":
        emit_json(_result_document(result, threshold, links))
    else:
        # The results table was printed by the TerminalReport plugin.
        print_links(out, links, trace_note)


def _result_key(day: dt.datetime | None, tags: tuple[str, ...]) -> ResultKey:
    from dqx.common import ResultKey

    with dqx_errors():
        return ResultKey(
            day.date() if day else dt.date.today(), parse_pairs(tags, "--tag", "KEY=VALUE")
        )


def _run_suite(setup: RunSetup, key: ResultKey) -> tuple[SuiteResult, str | None]:
    """The run's result and, when its metrics were not stored, why; then the trace is
    flushed, its fate recorded, and all is closed.

    A signal ends the command here (exit 130 or 143) once the run is recorded as
    interrupted and its trace flushed, with one line saying so.
    """
    from dqx.common import PersistError

    provider, sources, db, stop = setup.provider, setup.sources, setup.db, setup.stop
    suite: VerificationSuite | None = None
    outcome: tuple[SuiteResult, str | None]
    try:
        suite = setup.suite()
        with setup.progress, dqx_errors(), caller_trace():
            try:
                outcome = suite.run(sources, key), None
            except PersistError as exc:
                if suite.result is None:
                    raise
                outcome = suite.result, str(exc)
    except BaseException as exc:
        # An interrupt or an error on its way up: StopSignals holds back any further
        # signal meanwhile, so the flush and the record's last word complete.
        execution_id = suite.execution_id if suite is not None else None
        status = finish_run(provider, sources, db, execution_id)
        if isinstance(exc, KeyboardInterrupt) and execution_id is not None:
            _stopped(db, execution_id, stop, status, setup.settings)
        db.dispose()
        raise
    with stop.held():
        # The run is recorded; a signal now must not cut its trace short.
        status = finish_run(provider, sources, db, suite.execution_id)
        if stop.received:
            _stopped(db, suite.execution_id, stop, status, setup.settings)
    db.dispose()
    return outcome


def _stopped(
    db: MetricDB,
    execution_id: str,
    stop: StopSignals,
    status: ExportStatus | None,
    settings: Settings,
) -> NoReturn:
    """Say what the signal left of run ``execution_id``; exit 130 or 143."""
    from dqx.alerts.model import runbook_url

    stop.ending()
    runbook = runbook_url("run-interrupted", settings.get("runbook_base_url"))
    try:
        say(stderr(), interrupted_line(db, execution_id, stop.first, status, runbook))
    finally:
        db.dispose()
    raise click.exceptions.Exit(stop.exit_code or EXIT_INTERRUPTED)


def _results_table(wanted: bool, only_failures: bool, list_all: bool) -> TerminalReport | None:
    """The plugin printing the results table, when ``wanted``: only what did not pass
    with ``only_failures``, every row with ``list_all``, else up to the row limit."""
    if only_failures and list_all:
        usage("--only-failures and --all ask for opposite tables: give one of them")
    # A backfill prints one summary of its days, not a results table per day.
    if not wanted:
        return None
    from dqx.display import TABLE_ROWS, TerminalReport

    return TerminalReport(
        stdout(),
        only_failures=only_failures,
        max_rows=None if list_all else TABLE_ROWS,
        list_all="--all lists them, --format json carries every result",
    )


def _plugins(
    progress: ScanProgress,
    report: TerminalReport | None,
    sinks: Sequence[str],
    settings: Settings,
    threshold: str,
) -> list[Any]:
    """The suite's plugins: the progress bar, the results table (on stdout, when
    ``report``), the alerts."""
    plugins: list[Any] = [progress]
    if report is not None:
        plugins.append(report)
    plugins.extend(_alert_plugins(sinks, settings, threshold))
    return plugins


def _alert_plugins(sinks: Sequence[str], settings: Settings, threshold: str) -> list[AlertPlugin]:
    """One AlertPlugin per --alert SINK=URL, with the trace and runbook links."""
    from dqx.alerts.plugin import AlertPlugin

    _hide_alert_addresses(sinks)
    for pair in sinks:
        sink, sep, url = pair.partition("=")
        if sep and sink.strip() and not url.strip():
            usage(
                f"--alert {sink.strip()}= has an empty URL (an unset variable?); "
                "pass an http:// or https:// URL"
            )
    plugins = []
    for sink, url in parse_pairs(sinks, "--alert", "SINK=URL").items():
        if sink not in SINKS:
            usage(f"--alert {sink}=...: unknown sink; use one of {', '.join(SINKS)}")
        with dqx_errors():
            plugins.append(
                AlertPlugin(
                    sink,
                    url,
                    min_severity=threshold,
                    **link_options(settings),
                    runbook_base_url=settings.get("runbook_base_url"),
                )
            )
    return plugins


def _trace_export_problem(provider: SDKTracerProvider | None, execution_id: str) -> str | None:
    """Why the run's trace did not (all) reach where it was exported, or None if it did.

    Read after the provider's shutdown, which exports what was still buffered.
    """
    from dqx import telemetry

    status = telemetry.export_status(provider) if provider is not None else None
    if status is None or status.ok:
        return None
    return (
        f"trace export failed: {status.failed} of {status.failed + status.exported} span(s) "
        f"of run {execution_id} did not reach {status.destination} ({status.error}), so its "
        "trace there is incomplete or missing, and the run is recorded as not exported "
        "(dqx reconcile expects no trace of it). The run itself finished: its results "
        f"and metrics are in the metric database (dqx metrics {execution_id})."
    )


def _persist_message(
    result: SuiteResult, settings: Settings, db_url: str, trace_note: str, problem: str
) -> str:
    """Why the run's metrics are not in the database, and the command that restores them."""
    detail = result.persist_error or problem
    head = (
        f"run {result.execution_id} finished, but its {len(result.metrics)} metric(s) could "
        f"not be written to {db_url}: {detail}."
    )
    if not result.trace_sampled or trace_note == EXPORT_FAILED_NOTE:
        return (
            f"{head} Its trace was not recorded, so nothing holds them: re-run the same "
            "command once the database is back (a new execution id)."
        )
    db_flag = f" --db {db_url}" if settings.origin["db_url"] == "flag" else ""
    trace_file = settings.get("trace_file")
    if trace_note == f"written to {trace_file}":
        source = f"--trace-file {trace_file}"
    else:
        # Exported over OTLP: the collector passed it on to a trace back-end.
        services = [
            f"{kind.flag} {kind.metavar}" for kind in TRACE_SOURCES if kind.setting != "trace_file"
        ]
        source = f"{services[0]} (or {' or '.join(services[1:])})"
    return (
        f"{head} Every metric is in trace {result.execution_id}; once the database is "
        f"back, run: dqx reconcile {result.execution_id}{db_flag} {source} --recover"
    )


def _result_document(result: SuiteResult, fail_on: str, links: TraceLinks) -> dict[str, Any]:
    return {
        "execution_id": result.execution_id,
        "suite": result.suite,
        "date": result.key.yyyy_mm_dd.isoformat(),
        # As recorded in dq_run: a CI step tells "failed" from "persist_failed" without
        # reading stderr (the exit code says only 1 or 3).
        "status": result.status,
        "persist_error": result.persist_error,
        "fail_on": fail_on,
        "failed": len(result.failed(fail_on)),
        "links": links.as_dict(),
        "results": [assertion_json(r) for r in result.results],
    }
