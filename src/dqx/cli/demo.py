"""``dqx demo``: two weeks of generated orders, one anomaly, the whole loop end to end.

The demo keeps to files of its own in its directory (``demo.db``, ``demo-traces.jsonl``,
``demo-data/``) and removes them before each run, so a second ``make run`` shows the
same 14 runs, not 28, and never touches a ``dqx.db`` of the user's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dqx.cli.errors import usage
from dqx.cli.output import say, stderr, stdout

if TYPE_CHECKING:
    from rich.console import Console

    from dqx.orm.repositories import MetricDB
    from dqx.records import SuiteResult

__all__ = ["demo_command"]


@dataclass(frozen=True)
class _DemoFiles:
    """Everything the demo writes, under its directory."""

    directory: Path

    @property
    def db(self) -> Path:
        return self.directory / "demo.db"

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.db}"

    @property
    def traces(self) -> Path:
        return self.directory / "demo-traces.jsonl"

    @property
    def orders(self) -> Path:
        return self.directory / "demo-data" / "orders.parquet"

    def clear(self) -> bool:
        """Remove what an earlier demo left; whether there was anything."""
        stale = [
            path
            for path in (self.db, Path(f"{self.db}-wal"), Path(f"{self.db}-shm"), self.traces)
            if path.exists()
        ]
        for path in stale:
            path.unlink()
        return bool(stale)


@click.command("demo")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("dqx-demo"),
    show_default=True,
    help="The demo's directory: its data, demo.db and demo-traces.jsonl, "
    "removed and written again on every run.",
)
def demo_command(workdir: Path) -> None:
    """Run the demo suite on two weeks of generated orders (DuckDB + SQLite + trace file).

    The last day has an anomaly planted on purpose, which the checks catch. Prints the
    results, the execution id, where the trace was written, then the run's metrics
    reconciled against the trace file. Each run starts from a fresh demo database.
    """
    from dqx.demo import DEMO_END, DEMO_START, PLANTED

    console = stdout()
    files = _DemoFiles(workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        usage(f"cannot create the demo directory {workdir}: {exc.strerror or exc}; pass --dir")
    reused = files.clear()
    say(
        console,
        f"dqx demo: orders from {DEMO_START} to {DEMO_END}, one run per day, in a fresh "
        f"database {files.db}" + (" (the previous demo's runs removed)" if reused else ""),
    )
    say(
        console,
        f"planted on purpose on {DEMO_END}: {PLANTED}. Day-over-day checks are judged "
        "from the second day, the anomaly band from the eighth, once there is a past to "
        "compare; before that they are SKIPPED.",
    )
    _report(console, files, _run_demo(files))


@dataclass(frozen=True)
class _DemoRuns:
    first: SuiteResult
    last: SuiteResult
    #: The run of BAD_DAY, marked as a bad baseline right after it ran.
    bad: SuiteResult


def _run_demo(files: _DemoFiles) -> _DemoRuns:
    """Thirteen days of history, run by run (one over a partial load, marked bad), then
    the day with the anomaly."""
    import datetime as dt

    from dqx import telemetry
    from dqx.api import VerificationSuite
    from dqx.common import DQXError, ResultKey
    from dqx.datasource import DuckRelationDataSource
    from dqx.demo import (
        BAD_DAY,
        DEMO_DAYS,
        DEMO_END,
        PARTIAL,
        demo_checks,
        partial_load,
        write_orders,
    )
    from dqx.orm.repositories import MetricDB

    data = write_orders(files.orders)
    provider = telemetry.configure(
        service_name="dqx-demo", exporter="file", path=files.traces, set_global=False
    )
    db = MetricDB(files.db_url)
    source = DuckRelationDataSource.from_parquet(data, "orders")
    partial = DuckRelationDataSource.from_arrow(partial_load(data), "orders")
    results: dict[dt.date, SuiteResult] = {}
    try:
        with stderr().status("building two weeks of history…"):
            for offset in range(DEMO_DAYS - 1, -1, -1):
                day = DEMO_END - dt.timedelta(days=offset)
                suite = VerificationSuite(demo_checks(), db, "Orders", tracer_provider=provider)
                seen = partial if day == BAD_DAY else source
                results[day] = suite.run([seen], ResultKey(day, {"env": "demo"}))
                if day == BAD_DAY:
                    db.mark_bad(suite.execution_id, PARTIAL, by="dqx demo")
    except DQXError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        provider.shutdown()
        source.close()
        partial.close()
        db.dispose()
    ordered = [results[day] for day in sorted(results)]
    return _DemoRuns(ordered[0], ordered[-1], results[BAD_DAY])


def _report(console: Console, files: _DemoFiles, runs: _DemoRuns) -> None:
    from dqx.demo import DEMO_END, PLANTED
    from dqx.display import print_results
    from dqx.orm.repositories import MetricDB

    result = runs.last
    execution_id = result.execution_id
    db = MetricDB(files.db_url)
    earlier = [run.status for run in db.runs(suite="Orders") if run.execution_id != execution_id]
    say(
        console,
        f"{len(earlier)} earlier day(s): "
        + ", ".join(f"{earlier.count(s)} {s}" for s in sorted(set(earlier))),
    )
    _warm_up(console, runs.first)
    _bad_baseline(console, db, runs)
    print_results(
        result.results, execution_id, title=f"Orders suite for {DEMO_END}", console=console
    )
    failed = [r for r in result.results if r.status != "OK"]
    say(
        console,
        f"{len(failed)} of {len(result.results)} assertion(s) not OK on {DEMO_END}: the "
        f"anomaly planted on purpose ({PLANTED}), caught; 'average price usual' by "
        "is_not_anomalous, its band learnt from the 13 days before.",
    )
    say(console, f"trace id  {execution_id}  (written to {files.traces})")
    say(
        console,
        "The demo exports to that file only, so it prints no Jaeger or Grafana link. To "
        "browse runs there, start the stack (docker compose -f deploy/compose.yaml up -d) "
        "and point dqx at it: deploy/README.md, steps 1 and 2.",
    )
    _demo_metrics(console, db, execution_id, files.traces)
    say(
        console,
        f"{len(result.statements)} SQL statement(s) scanned {DEMO_END} only; "
        "earlier days came from history.",
    )
    say(console, f"next: dqx alert {execution_id} --db {files.db_url}")


def _warm_up(console: Console, first: SuiteResult) -> None:
    skipped = [r for r in first.results if r.status == "SKIPPED"]
    say(
        console,
        f"warm-up on {first.key.yyyy_mm_dd}: {len(skipped)} assertion(s) SKIPPED, not "
        "failed, for want of history, e.g. "
        + "; ".join(f"{r.assertion!r}: {r.message}" for r in skipped[:1]),
    )


def _bad_baseline(console: Console, db: MetricDB, runs: _DemoRuns) -> None:
    from dqx.demo import BAD_DAY, PARTIAL

    bad_id = runs.bad.execution_id
    used = [
        m
        for m in db.metrics_for_execution(runs.last.execution_id)
        if m.yyyy_mm_dd == BAD_DAY and m.name == "average(price)"
    ]
    source = used[0].source_execution_id if used else None
    say(
        console,
        f"bad baseline: on {BAD_DAY} {PARTIAL}; run {bad_id} was marked bad "
        f"(dqx runs mark-bad {bad_id} --reason ...), so the next run recomputed "
        f"{BAD_DAY} from the data and the last run's window used that value"
        + (f" (from run {source}), not the bad run's" if source and source != bad_id else ""),
    )


def _demo_metrics(console: Console, db: MetricDB, execution_id: str, trace_file: Path) -> None:
    """The run's metrics, each marked with the record(s) holding it, then the verdict."""
    from dqx.data import metrics_by_execution_id, reconcile
    from dqx.display import print_metrics
    from dqx.traces import OTLPFileTraceSource

    source = OTLPFileTraceSource(trace_file)
    print_metrics(
        metrics_by_execution_id(db, execution_id, trace=source),
        title=f"metrics of run {execution_id}: database vs trace {trace_file.name}",
        console=console,
    )
    say(console, reconcile(db, execution_id, source).summary)
