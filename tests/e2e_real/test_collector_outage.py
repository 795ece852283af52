"""The collector stops in the middle of a `dqx run`.

The run is held inside its check function (a gate the test controls) while the test
stops the collector; then it goes on. It must finish with its results and metrics in
the store, say plainly that its trace did not get through, and the store alone must
still give back every metric the run computed.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq

from dqx.orm.repositories import MetricDB
from tests.e2e_real.real_programs import (
    Collector,
    Jaeger,
    dqx,
    dqx_argv,
    dqx_env,
    one_line,
    wait_for,
)
from tests.e2e_real.real_runs import DAY, bits, orders_table

CHECKS = """
import os
import time
from pathlib import Path

from dqx import check

GATE = Path(os.environ["E2E_GATE"])


@check(name="Orders", severity="P1")
def orders(mp, ctx):
    # Hold the run here until the test has stopped the collector.
    (GATE / "started").touch()
    deadline = time.monotonic() + 120
    while not (GATE / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="average price").is_gt(0)
    ctx.assert_that(mp.variance("price")).where(name="price spread").is_geq(0)
    ctx.assert_that(mp.ext.day_over_day(mp.sum("price"))).where(name="sum steady").is_lt(1)
"""


def test_a_run_outlives_its_collector_and_says_the_trace_was_lost(
    fresh_collector: Collector, jaeger: Jaeger, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(orders_table(), tmp_path / "orders.parquet")
    db_url = f"sqlite:///{tmp_path / 'dqx.db'}"
    env = {
        "DQX_DB_URL": db_url,
        "E2E_GATE": str(gate),
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    argv = dqx_argv(
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--date",
        DAY.isoformat(),
        "--otlp-endpoint",
        fresh_collector.grpc_endpoint,
    )
    with subprocess.Popen(
        argv,
        cwd=tmp_path,
        env=dqx_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as run:
        wait_for("the run reaching its check", (gate / "started").exists, timeout=60)
        assert fresh_collector.program.stop() == 0  # a clean shutdown, as an operator's
        assert not fresh_collector.program.running
        (gate / "go").touch()
        started = time.monotonic()
        stdout, stderr = run.communicate(timeout=120)
    waited = time.monotonic() - started

    # The run finished: results printed, exit status from the assertions alone.
    assert run.returncode == 0, stdout + stderr
    assert "4 ok, 0 failed, 0 errors" in one_line(stdout)
    [execution_id] = {
        line.split()[2] for line in stdout.splitlines() if line.startswith("trace id")
    }
    # ... and says the trace did not get through, where and how much.
    assert f"trace id {execution_id} (export FAILED, see below)" in one_line(stdout)
    message = one_line(stderr)
    assert "trace export failed: " in message
    assert f"span(s) of run {execution_id} did not reach {fresh_collector.grpc_endpoint}" in (
        message
    )
    assert "results and metrics are in the metric database" in message
    assert waited < 60  # the exporter gave up in its own time; nothing hung

    # Nothing of it reached Jaeger.
    assert jaeger.source("v3").get_trace(execution_id) is None

    # The store has the whole run: its record, and every metric through the CLI.
    runs = dqx("runs", "--format", "json", env={"DQX_DB_URL": db_url})
    assert runs.returncode == 0, runs.stderr
    [record] = [r for r in json.loads(runs.stdout) if r["execution_id"] == execution_id]
    assert record["status"] == "passed"
    metrics = dqx("metrics", execution_id, "--format", "json", env={"DQX_DB_URL": db_url})
    assert metrics.returncode == 0, metrics.stderr
    listed = json.loads(metrics.stdout)["metrics"]
    db = MetricDB(db_url)
    try:
        in_store = db.metrics_for_execution(execution_id)
    finally:
        db.dispose()
    assert record["metrics"] == len(in_store) == len(listed) >= 5
    assert sorted(bits(float(m["value"])) for m in listed) == sorted(
        bits(m.value) for m in in_store if m.value is not None
    )

    # The record says the trace never got out, so reconciling against Jaeger, which has
    # no trace of the run, expects none rather than reporting it missing.
    assert record["trace_exported"] is False
    rec = dqx("reconcile", execution_id, "--jaeger", jaeger.query_url, env={"DQX_DB_URL": db_url})
    assert rec.returncode == 0, rec.stdout + rec.stderr
    assert "ok; trace not expected" in one_line(rec.stdout)
