"""``dqx run --since D1 --until D2``: a backfill, one run per day, with a per-day summary.

The range options live here, with what a backfill prints, so ``dqx run`` only
branches: the wiring (sources, store, tracing, plugins) is the same as one day's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from dqx.cli.caller import caller_trace
from dqx.cli.ending import finish_run, interrupted_line
from dqx.cli.errors import EXIT_FAILED, dqx_errors, operational, usage
from dqx.cli.output import assertion_json, emit_json, say, stderr, stdout
from dqx.common import DefinitionError, DQXError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider

    from dqx.api import VerificationSuite
    from dqx.backfill import BackfillResult
    from dqx.checks import Check
    from dqx.cli.interrupts import StopSignals
    from dqx.cli.progress import ScanProgress
    from dqx.config import Settings
    from dqx.datasource import DataSource
    from dqx.orm.repositories import MetricDB
    from dqx.records import SuiteResult
    from dqx.telemetry.sdk import ExportStatus

__all__ = ["RunSetup", "date_span", "range_options", "run_backfill"]

F = TypeVar("F", bound=Callable[..., Any])

_SINCE, _UNTIL = "dqx.backfill.since", "dqx.backfill.until"


def _remember(meta_key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: dt.datetime | None) -> None:
        ctx.meta[meta_key] = value.date() if value is not None else None

    return callback


def range_options(fn: F) -> F:
    """``--since`` and ``--until``; kept on the context, read by :func:`date_span`."""
    for flag, meta_key, help_text in (
        ("--until", _UNTIL, "With --since: the last day of a backfill (included)."),
        (
            "--since",
            _SINCE,
            "Backfill: run every day from this date to --until, each its own run "
            "(execution id, trace, record), reading date-partitioned datasets a batch of "
            "days per statement. Not with --date.",
        ),
    ):
        fn = click.option(
            flag,
            type=click.DateTime(formats=["%Y-%m-%d"]),
            expose_value=False,
            callback=_remember(meta_key),
            help=help_text,
        )(fn)
    return fn


def date_span(ctx: click.Context, day: dt.datetime | None) -> tuple[dt.date, dt.date] | None:
    """The backfill's (since, until), None for a one-day run; a usage error when the
    options contradict each other or the range is refused."""
    from dqx.backfill import days_between

    since, until = ctx.meta.get(_SINCE), ctx.meta.get(_UNTIL)
    if since is None and until is None:
        return None
    if since is None or until is None:
        usage("--since and --until go together: a backfill needs both ends of its range")
    if day is not None:
        usage("--date runs one day and --since/--until a range of days: give one or the other")
    with dqx_errors():
        days_between(since, until)
    return since, until


@dataclass(frozen=True)
class RunSetup:
    """What ``dqx run`` wired up, for one day or a backfill alike."""

    checks: Sequence[Check]
    name: str
    plugins: Sequence[Any]
    recompute: bool
    db: MetricDB
    provider: SDKTracerProvider | None
    sources: Sequence[DataSource]
    progress: ScanProgress
    stop: StopSignals
    settings: Settings

    def suite(self) -> VerificationSuite:
        from dqx.api import VerificationSuite
        from dqx.cli.wiring import meter_provider

        with dqx_errors():
            return VerificationSuite(
                self.checks,
                self.db,
                self.name,
                tracer_provider=self.provider,
                plugins=self.plugins,
                recompute="always" if self.recompute else "missing",
                meter_provider=meter_provider(self.provider),
            )


def run_backfill(
    ctx: click.Context,
    setup: RunSetup,
    span: tuple[dt.date, dt.date],
    tags: dict[str, str],
    fmt: str,
    threshold: str,
) -> None:
    """Run the backfill, flush its traces, print each day, exit by ``threshold``."""
    from dqx.backfill import BackfillError, BackfillResult

    suite = setup.suite()
    _interruptible_scans(setup)
    try:
        # A signal between scans waits for the next one: most of a backfill is the
        # days' bookkeeping, and an interrupt there would leave a day "running".
        with setup.progress, setup.stop.deferred(), caller_trace():
            backfilled = suite.run_range(setup.sources, *span, tags=tags)
        failure: DQXError | None = None
    except BackfillError as exc:
        backfilled, failure = BackfillResult(*span, tuple(exc.results)), exc
    except BaseException as exc:
        # A refused definition, an interrupt: the day that was running is recorded
        # with the status it reached; the finished days are recorded already.
        status = _finish(setup, [suite.execution_id])
        if isinstance(exc, KeyboardInterrupt):
            _interrupted(setup, suite.execution_id, status)
        setup.db.dispose()
        if isinstance(exc, DQXError):
            with dqx_errors():
                raise
        raise
    with setup.stop.held():
        ids = [day.execution_id for day in backfilled.days]
        # The day a failure stopped has a record (and a trace) of its own too.
        status = _finish(
            setup, [*ids, suite.execution_id] if suite.execution_id not in ids else ids
        )
        if setup.stop.received:
            _interrupted(setup, suite.execution_id, status)
    setup.db.dispose()
    _print(backfilled, fmt, threshold, failure)
    if failure is not None:
        if isinstance(failure.__cause__, DefinitionError):
            usage(str(failure))
        operational(str(failure))
    if failed := backfilled.failed(threshold):
        say(stderr(), f"{len(failed)} assertion(s) at {threshold} or above did not pass")
        ctx.exit(EXIT_FAILED)


def _interruptible_scans(setup: RunSetup) -> None:
    """Each source's statements run where a signal stops them at once."""
    for source in setup.sources:
        execute = source.execute

        def interruptible(
            sql: str, params: dict[str, Any], execute: Any = execute
        ) -> list[tuple[Any, ...]]:
            with setup.stop.interruptible():
                rows: list[tuple[Any, ...]] = execute(sql, params)
                return rows

        vars(source)["execute"] = interruptible


def _finish(setup: RunSetup, execution_ids: Sequence[str]) -> ExportStatus | None:
    """Flush the traces (one per day) and record for each day whether it got out."""
    status = finish_run(setup.provider, setup.sources, setup.db, execution_ids[-1])
    if status is None or not (status.exported or status.failed):
        return status
    for execution_id in execution_ids[:-1]:
        try:
            setup.db.record_trace_export(execution_id, status.ok)
        except DQXError as exc:
            say(stderr(), f"dqx: could not record the trace export of run {execution_id}: {exc}")
    return status


def _interrupted(setup: RunSetup, execution_id: str, status: ExportStatus | None) -> NoReturn:
    from dqx.alerts.model import runbook_url

    stop = setup.stop
    stop.ending()
    runbook = runbook_url("run-interrupted", setup.settings.get("runbook_base_url"))
    try:
        say(stderr(), interrupted_line(setup.db, execution_id, stop.first, status, runbook))
        say(
            stderr(),
            "dqx: the backfill stopped there; the days before it are recorded as their own "
            "runs (dqx runs), the days after it did not run",
        )
    finally:
        setup.db.dispose()
    # 128 + SIGINT, as `dqx run` exits when no handler saw the interrupt.
    raise click.exceptions.Exit(stop.exit_code or 130)


def _print(backfilled: BackfillResult, fmt: str, threshold: str, failure: DQXError | None) -> None:
    if fmt == "json":
        emit_json(_document(backfilled, threshold, failure))
        return
    from rich.table import Table

    table = Table(title=f"Backfill {backfilled.since} .. {backfilled.until}", title_justify="left")
    columns = ("date", "execution id", "status", "ok", "failed", "errors", "skipped", "statements")
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("date", "execution id", "status") else "right"
        )
    for day in backfilled.days:
        counts = day.counts()
        table.add_row(
            day.key.yyyy_mm_dd.isoformat(),
            day.execution_id,
            day.status,
            str(counts["OK"]),
            str(counts["FAILURE"]),
            str(counts["ERROR"]),
            str(counts["SKIPPED"]),
            str(len(day.statements)),
        )
    out = stdout()
    out.print(table)
    statuses = [day.status for day in backfilled.days]
    say(
        out,
        f"{len(statuses)} day(s) run: {statuses.count('passed')} passed, "
        f"{len(statuses) - statuses.count('passed')} not; "
        f"{len(backfilled.statements)} statement(s) in all",
    )


def _document(
    backfilled: BackfillResult, threshold: str, failure: DQXError | None
) -> dict[str, Any]:
    return {
        "since": backfilled.since.isoformat(),
        "until": backfilled.until.isoformat(),
        "fail_on": threshold,
        "failed": len(backfilled.failed(threshold)),
        "error": str(failure) if failure is not None else None,
        "days": [_day_document(day, threshold) for day in backfilled.days],
    }


def _day_document(day: SuiteResult, threshold: str) -> dict[str, Any]:
    return {
        "date": day.key.yyyy_mm_dd.isoformat(),
        "execution_id": day.execution_id,
        "status": day.status,
        "failed": len(day.failed(threshold)),
        "statements": len(day.statements),
        "results": [assertion_json(r) for r in day.results],
    }
