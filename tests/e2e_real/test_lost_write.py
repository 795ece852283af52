"""A lost metric write, recovered from the real Jaeger with the dqx command line.

The store refuses every metric insert (a trigger, as a full disk would), so ``run()``
raises PersistError while the trace goes out through the collector to Jaeger. Once
the store takes writes again, ``dqx reconcile --jaeger URL --recover`` (what the
error tells the operator to run) puts back every metric, bit for bit, under the
run's own execution id. On SQLite and on the PostgreSQL that ``make services`` runs.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from dqx import metrics_by_execution_id, reconcile, telemetry
from dqx.common import PersistError
from dqx.orm.repositories import MetricDB
from tests.e2e_real.real_programs import Collector, Jaeger, dqx, one_line
from tests.e2e_real.real_runs import DAY, LocalCopy, new_suite, run_once, stored, traced

_FAIL_WRITES = {
    "sqlite": [
        "CREATE TRIGGER dqx_lost_write BEFORE INSERT ON dq_metric "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION dqx_lost_write() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$",
        "CREATE TRIGGER dqx_lost_write BEFORE INSERT ON dq_metric "
        "FOR EACH STATEMENT EXECUTE FUNCTION dqx_lost_write()",
    ],
}
_HEAL_WRITES = {
    "sqlite": ["DROP TRIGGER dqx_lost_write"],
    "postgresql": ["DROP TRIGGER dqx_lost_write ON dq_metric", "DROP FUNCTION dqx_lost_write()"],
}


def _execute(db: MetricDB, statements: list[str]) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_a_lost_write_is_recovered_from_the_real_jaeger(
    store_url: str, collector: Collector, jaeger: Jaeger, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = MetricDB(store_url)
    backend = db.engine.dialect.name
    db.ensure_schema()
    _execute(db, _FAIL_WRITES[backend])

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    provider = telemetry.configure(
        service_name="dqx-e2e-lost", endpoint=collector.grpc_endpoint, set_global=False
    )
    local = LocalCopy(provider)
    suite = new_suite(db, provider)
    with pytest.raises(PersistError) as raised:
        run_once(suite, DAY)
    provider.shutdown()
    execution_id = suite.execution_id
    assert raised.value.execution_id == execution_id
    assert suite.result is not None
    computed = stored(suite.result.metrics)
    assert len(computed) > 100
    status = telemetry.export_status(provider)
    assert status is not None and status.ok, status
    # The error names the way back, which the rest of this test takes.
    assert f"dqx reconcile {execution_id} --recover" in str(raised.value)

    run = db.run(execution_id)
    assert run is not None and run.status == "persist_failed"
    assert metrics_by_execution_id(db, execution_id) == []
    # Jaeger holds every span of the run, and in them every metric, bit for bit.
    assert traced(jaeger.trace(execution_id, local.span_ids(execution_id))) == computed

    _execute(db, _HEAL_WRITES[backend])
    env = {"DQX_DB_URL": store_url}
    before = dqx(
        "reconcile", execution_id, "--jaeger", jaeger.query_url, "--format", "json", env=env
    )
    assert before.returncode == 1, before.stdout + before.stderr
    document = json.loads(before.stdout)
    assert document["matched"] == 0
    assert len(document["discrepancies"]) == len(computed)
    assert {row["problem"] for row in document["discrepancies"]} == {"missing_in_db"}

    recovered = dqx("reconcile", execution_id, "--jaeger", jaeger.query_url, "--recover", env=env)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"recovered {len(computed)} metric(s) from the trace" in one_line(recovered.stderr)

    # Back in the store under the run's id: the same 64 bits the run computed.
    assert stored(db.metrics_for_execution(execution_id)) == computed
    rec = reconcile(db, execution_id, jaeger.source("v1"))
    assert rec.ok and len(rec.matched) == len(computed)
    assert rec.recover(db) == 0
    symbols = metrics_by_execution_id(db, execution_id)
    assert len(symbols) == len(computed)
    assert all(s.tags["__execution_id"] == execution_id for s in symbols)
    db.dispose()
