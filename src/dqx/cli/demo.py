"""``dqx demo``: two weeks of generated orders, one anomaly, the whole loop end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dqx.cli.output import print_links, stderr, stdout

if TYPE_CHECKING:
    from rich.console import Console

    from dqx.orm.repositories import MetricDB

__all__ = ["demo_command"]


@click.command("demo")
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the demo writes its data, database and traces.",
)
def demo_command(workdir: Path) -> None:
    """Run the demo suite on two weeks of generated orders (DuckDB + SQLite + trace file).

    Prints the results, the execution id, the trace links, then the run's metrics
    reconciled against the trace file.
    """
    from dqx import telemetry
    from dqx.api import VerificationSuite
    from dqx.common import DQXError, ResultKey
    from dqx.datasource import DuckRelationDataSource
    from dqx.demo import DEMO_DAYS, DEMO_END, demo_checks, write_orders
    from dqx.display import print_results
    from dqx.orm.repositories import MetricDB

    console = stdout()
    workdir.mkdir(parents=True, exist_ok=True)
    data = write_orders(workdir / "demo-data" / "orders.parquet")
    trace_file = workdir / "dqx-traces.jsonl"
    provider = telemetry.configure(
        service_name="dqx-demo", exporter="file", path=trace_file, set_global=False
    )
    db = MetricDB(f"sqlite:///{(workdir / 'dqx.db').resolve()}")
    source = DuckRelationDataSource.from_parquet(data, "orders")
    try:
        with stderr().status("building two weeks of history…"):
            for offset in range(DEMO_DAYS - 1, 0, -1):
                day = DEMO_END - dt.timedelta(days=offset)
                VerificationSuite(demo_checks(), db, "Orders", tracer_provider=provider).run(
                    [source], ResultKey(day, {"env": "demo"})
                )
        suite = VerificationSuite(demo_checks(), db, "Orders", tracer_provider=provider)
        result = suite.run([source], ResultKey(DEMO_END, {"env": "demo"}))
    except DQXError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        provider.shutdown()
        source.close()
    print_results(
        result.results, suite.execution_id, title=f"Orders suite for {DEMO_END}", console=console
    )
    links = telemetry.trace_url(
        suite.execution_id, jaeger="http://localhost:16686", grafana="http://localhost:3000"
    )
    print_links(console, links, f"written to {trace_file}")
    _demo_metrics(console, db, suite.execution_id, trace_file)
    console.print(
        f"{len(result.statements)} SQL statement(s) scanned {DEMO_END} only; "
        "earlier days came from history."
    )
    console.print(
        f"next: dqx alert {suite.execution_id} --db sqlite:///{workdir / 'dqx.db'}",
        markup=False,
        highlight=False,
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
    console.print(reconcile(db, execution_id, source).summary, markup=False, highlight=False)
