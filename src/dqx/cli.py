"""The dqx command line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dqx")
def main() -> None:
    """dqx: data quality as code, every run one OpenTelemetry trace."""


@main.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the demo writes its data, database and traces.",
)
def demo(workdir: Path) -> None:
    """Run the demo suite on two weeks of generated orders (DuckDB + SQLite + trace file)."""
    from rich.console import Console

    from dqx import telemetry
    from dqx.api import VerificationSuite
    from dqx.common import DQXError, ResultKey
    from dqx.data import metrics_by_execution_id
    from dqx.datasource import DuckRelationDataSource
    from dqx.demo import DEMO_DAYS, DEMO_END, demo_checks, write_orders
    from dqx.display import print_metrics, print_results
    from dqx.orm.repositories import MetricDB

    console = Console()
    workdir.mkdir(parents=True, exist_ok=True)
    data = write_orders(workdir / "demo-data" / "orders.parquet")
    trace_file = workdir / "dqx-traces.jsonl"
    provider = telemetry.configure(
        service_name="dqx-demo", exporter="file", path=trace_file, set_global=False
    )
    db = MetricDB(f"sqlite:///{(workdir / 'dqx.db').resolve()}")
    source = DuckRelationDataSource.from_parquet(data, "orders")
    try:
        with console.status("building two weeks of history…"):
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
        provider.force_flush()
    print_results(
        result.results, suite.execution_id, title=f"Orders suite for {DEMO_END}", console=console
    )
    links = telemetry.trace_url(
        suite.execution_id, jaeger="http://localhost:16686", grafana="http://localhost:3000"
    )
    console.print(f"trace id  {links.trace_id}  (written to {trace_file})")
    console.print(f"jaeger    {links.jaeger}")
    console.print(f"grafana   {links.grafana}", soft_wrap=True)
    print_metrics(
        metrics_by_execution_id(db, suite.execution_id),
        title=f"metrics of run {suite.execution_id}",
        console=console,
    )
    console.print(
        f"{len(result.statements)} SQL statement(s) scanned {DEMO_END} only; "
        "earlier days came from history."
    )
    provider.shutdown()


if __name__ == "__main__":
    main()
