"""``dqx evaluate ID --checks new_checks.py``: new or changed assertions judged over the
metrics a past run stored, without reading any data.

Changing a bound, adding an assertion over metrics already computed, trying
``is_not_anomalous`` on yesterday's numbers: none of it needs a scan. The result is a
run of its own (recorded, traced, its trace linked to the original's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from dqx.cli.checks_file import load_checks
from dqx.cli.ending import finish_run
from dqx.cli.errors import bad_news, dqx_errors
from dqx.cli.options import db_option, fail_on_option, format_option
from dqx.cli.output import say, stderr, stdout
from dqx.cli.run import report_outcome, run_settings
from dqx.cli.wiring import check_trace_file, meter_provider, open_db, tracer_provider

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider

    from dqx.checks import Check
    from dqx.orm.repositories import MetricDB
    from dqx.records import SuiteResult

__all__ = ["evaluate_command"]


@click.command("evaluate")
@click.argument("execution_id")
@click.option(
    "--checks",
    "checks_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The @check functions to judge the run's stored metrics with.",
)
@click.option("--suite", "suite_name", help="Suite name (default: the original run's).")
@db_option
@fail_on_option
@click.option(
    "--trace-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the re-evaluation's trace to this OTLP JSON-lines file.",
)
@click.option("--otlp-endpoint", metavar="URL", help="Export its trace to this OTLP collector.")
@format_option("table", "json")
@click.pass_context
def evaluate_command(
    ctx: click.Context,
    execution_id: str,
    checks_file: Path,
    suite_name: str | None,
    db_url: str | None,
    fail_on: str | None,
    trace_file: Path | None,
    otlp_endpoint: str | None,
    fmt: str,
) -> None:
    """Judge the @checks of --checks over the metrics run EXECUTION_ID stored.

    \b
    dqx evaluate 4bf92f3577b34da6a3ce929d0e0e4736 --checks new_checks.py

    No data source is read: the run's stored values stand in for the data. It is
    recorded as a new run about the same date and tags, whose metrics are the
    original's (origin history), and its trace links to the original's trace. An
    assertion needing a metric that run did not compute is an ERROR naming it. Exit
    codes as `dqx run`.
    """
    from dqx.common import normalize_execution_id
    from dqx.display import TerminalReport

    settings, threshold = run_settings(db_url, fail_on, trace_file, otlp_endpoint)
    check_trace_file(settings)
    checks = load_checks(checks_file)
    db = open_db(settings, must_exist=True)
    with dqx_errors():
        original = normalize_execution_id(execution_id)
        run = db.run(original)
        if not db.metrics_for_execution(original):
            if run is None:
                bad_news(f"no run {original} in {db.url}: nothing to re-evaluate")
            # An interrupted run judged nothing and stored nothing: bad news, not a
            # store failure.
            bad_news(
                f"run {original} ({run.status}) has no metrics stored in {db.url}: "
                "nothing to re-evaluate"
            )
    provider, trace_note = tracer_provider(settings)
    suite = _Suite(
        checks,
        suite_name or (run.suite if run is not None else checks_file.stem),
        [TerminalReport(stdout(), list_all="--format json lists every result")]
        if fmt == "table"
        else [],
    )
    result, persist_problem = suite.evaluate(db, provider, original)
    say(
        stderr(),
        f"re-evaluated the metrics run {original} stored (no data read) as run "
        f"{result.execution_id}",
    )
    report_outcome(
        ctx, fmt, settings, result, threshold, trace_note, provider, persist_problem, db.url
    )


@dataclass(frozen=True)
class _Suite:
    checks: Sequence[Check]
    name: str
    plugins: Sequence[Any]

    def evaluate(
        self, db: MetricDB, provider: SDKTracerProvider | None, original: str
    ) -> tuple[SuiteResult, str | None]:
        """The re-evaluation's result and, when its metrics were not stored, why; the
        trace flushed and its fate recorded, the store closed."""
        from dqx.api import VerificationSuite
        from dqx.common import PersistError

        suite: VerificationSuite | None = None
        try:
            with dqx_errors():
                suite = VerificationSuite(
                    self.checks,
                    db,
                    self.name,
                    tracer_provider=provider,
                    plugins=self.plugins,
                    meter_provider=meter_provider(provider),
                )
                try:
                    return suite.evaluate_execution(original), None
                except PersistError as exc:
                    if suite.result is None:
                        raise
                    return suite.result, str(exc)
        finally:
            finish_run(provider, [], db, suite.execution_id if suite is not None else None)
            db.dispose()
