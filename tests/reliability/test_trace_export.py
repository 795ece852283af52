"""A run whose spans never reached the collector is recorded as not exported.

``dqx run`` exports to an OTLP endpoint nobody listens on. The run itself finishes and
is recorded whole (status, metrics, assertion results); once the flush has failed, its
record also says ``trace_exported = false``, so reconciling it against any trace source
says no trace was expected, instead of reporting a missing trace.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from dqx.cli.reconcile import reconcile_command
from dqx.orm.repositories import MetricDB
from tests.support.backends import serve
from tests.support.slow_scan import dqx, one_line

CHECKS = """
from dqx import check


@check(name="Orders", severity="P1")
def orders(mp, ctx):
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price sane").is_gt(0)
"""


def _closed_port() -> int:
    """A localhost port nothing listens on: the OS handed it out, then it was closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_run_whose_spans_never_reached_the_collector_is_recorded_as_not_exported(
    store_url: str, tmp_path: Path
) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(pa.table({"price": [10.0, 12.5, 11.0]}), tmp_path / "orders.parquet")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    run = dqx(
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--date",
        "2024-03-10",
        "--db",
        store_url,
        "--otlp-endpoint",
        endpoint,
        cwd=tmp_path,
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "2"},
    )

    assert run.returncode == 0, run.stdout + run.stderr  # the run itself passed
    [execution_id] = {
        line.split()[2] for line in run.stdout.splitlines() if line.startswith("trace id")
    }
    assert f"trace id {execution_id} (export FAILED, see below)" in one_line(run.stdout)
    said = one_line(run.stderr)
    assert f"did not reach {endpoint}" in said
    assert "the run is recorded as not exported (dqx reconcile expects no trace of it)" in said

    db = MetricDB(store_url)
    try:
        record = db.run(execution_id)
        assertions = db.assertions(execution_id)
        metrics = db.metrics_for_execution(execution_id)
    finally:
        db.dispose()
    assert record is not None
    assert (record.status, record.trace_sampled, record.trace_exported) == ("passed", True, False)
    # Only that column changed: the run's results and metrics are as the run wrote them.
    assert [(a.assertion, a.status) for a in assertions] == [
        ("rows arrived", "OK"),
        ("price sane", "OK"),
    ]
    assert record.metric_count == len(metrics) == 2

    # No trace source has it, and none is expected to.
    (tmp_path / "collector.jsonl").write_text("")
    with serve() as jaeger:  # a Jaeger that never saw the run: 404
        for flags in (
            ["--trace-file", str(tmp_path / "collector.jsonl")],
            ["--jaeger", jaeger.base_url],
        ):
            rec = CliRunner().invoke(
                reconcile_command, [execution_id, "--db", store_url, *flags], env={"COLUMNS": "400"}
            )
            assert rec.exit_code == 0, rec.output
            assert one_line(rec.stdout) == (
                f"run {execution_id}: ok; trace not expected (sampled out or never exported), "
                "2 metrics in the database"
            )
