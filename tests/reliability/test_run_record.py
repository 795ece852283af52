"""A run's record never lies: a final write that fails raises, the trace restores the
record with its assertions, and runs whose process died are reaped as interrupted."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from dqx import ResultKey, VerificationSuite, reconcile
from dqx.alerts import alert_for_run
from dqx.common import PersistError, new_execution_id
from dqx.orm.repositories import MetricDB, RunRecord
from dqx.traces import InMemoryTraceSource
from tests.support.runs import DAY, Traced, orders, orders_check

DAY_KEY = ResultKey(DAY, {"env": "test"})

# The final write replaces the "running" marker: refuse any other status, as a full
# disk or a terminated backend would refuse that one write.
_FAIL_FINAL_RECORD = {
    "sqlite": [
        "CREATE TRIGGER dqx_no_final BEFORE UPDATE ON dq_run WHEN NEW.status <> 'running' "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full (simulated)'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION dqx_no_final() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'could not extend file (simulated)'; END $$",
        "CREATE TRIGGER dqx_no_final BEFORE UPDATE ON dq_run FOR EACH ROW "
        "WHEN (NEW.status <> 'running') EXECUTE FUNCTION dqx_no_final()",
    ],
}
_HEAL = {
    "sqlite": ["DROP TRIGGER dqx_no_final"],
    "postgresql": ["DROP TRIGGER dqx_no_final ON dq_run", "DROP FUNCTION dqx_no_final()"],
}


def _execute(db: MetricDB, statements: list[str]) -> None:
    db.ensure_schema()  # the triggers go on dqx's tables, which a fresh store lacks
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_a_failed_final_record_raises_and_recovery_restores_the_run_and_its_assertions(
    store: MetricDB,
) -> None:
    traced = Traced()
    backend = store.engine.dialect.name
    _execute(store, _FAIL_FINAL_RECORD[backend])
    suite = VerificationSuite([orders_check], store, "Orders", tracer_provider=traced.provider)
    with pytest.raises(PersistError, match="its run record could not be written") as raised:
        suite.run([orders()], DAY_KEY)
    result = raised.value.result
    assert result is not None and result.execution_id == suite.execution_id
    assert [r.assertion for r in result.results] == [r.assertion for r in suite.collect_results()]
    assert f"dqx reconcile {suite.execution_id} --recover" in str(raised.value)
    # The metrics made it; the record still says running, with no assertion rows.
    assert len(store.metrics_for_execution(suite.execution_id)) == len(result.metrics)
    stuck = store.run(suite.execution_id)
    assert stuck is not None and stuck.status == "running"
    assert store.assertions(suite.execution_id) == []

    _execute(store, _HEAL[backend])
    rec = reconcile(store, suite.execution_id, InMemoryTraceSource(traced.exporter))
    assert not rec.ok and rec.run_missing_in_db is not None
    assert "run record missing in db" in rec.summary
    assert rec.recover(store) == 0  # every metric was already there

    restored = store.run(suite.execution_id)
    assert restored is not None
    assert (restored.status, restored.suite, restored.yyyy_mm_dd, restored.tags) == (
        result.status,
        "Orders",
        DAY,
        {"env": "test"},
    )
    assert restored.metric_count == len(result.metrics)
    assert (restored.assertions_ok, restored.assertions_failed, restored.assertions_error) == (
        result.counts()["OK"],
        result.counts()["FAILURE"],
        result.counts()["ERROR"],
    )
    assert [(a.assertion, a.status, a.value) for a in store.assertions(suite.execution_id)] == [
        (r.assertion, r.status, r.number) for r in result.results
    ]
    # What an on-call engineer reads now sees the run's failures.
    failed = {f.assertion for f in alert_for_run(store, suite.execution_id).failures}
    assert failed == {r.assertion for r in result.results if r.status != "OK"}
    assert reconcile(store, suite.execution_id, InMemoryTraceSource(traced.exporter)).ok
    traced.provider.shutdown()


# The metric write fails too: the run is persist_failed, and only its trace says so.
_FAIL_METRICS = {
    "sqlite": [
        "CREATE TRIGGER dqx_no_metrics BEFORE INSERT ON dq_metric "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error (simulated)'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION dqx_no_metrics() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk full (simulated)'; END $$",
        "CREATE TRIGGER dqx_no_metrics BEFORE INSERT ON dq_metric "
        "FOR EACH STATEMENT EXECUTE FUNCTION dqx_no_metrics()",
    ],
}
_HEAL_METRICS = {
    "sqlite": ["DROP TRIGGER dqx_no_metrics"],
    "postgresql": ["DROP TRIGGER dqx_no_metrics ON dq_metric", "DROP FUNCTION dqx_no_metrics()"],
}


def test_a_run_restored_with_its_metrics_from_the_trace_is_judged_not_persist_failed(
    store: MetricDB,
) -> None:
    traced = Traced()
    backend = store.engine.dialect.name
    _execute(store, _FAIL_FINAL_RECORD[backend] + _FAIL_METRICS[backend])
    suite = VerificationSuite([orders_check], store, "Orders", tracer_provider=traced.provider)
    with pytest.raises(PersistError):
        suite.run([orders()], DAY_KEY)
    result = suite.result
    assert result is not None and result.status == "persist_failed"
    stuck = store.run(suite.execution_id)
    assert stuck is not None and stuck.status == "running"
    _execute(store, _HEAL[backend] + _HEAL_METRICS[backend])

    rec = reconcile(store, suite.execution_id, InMemoryTraceSource(traced.exporter))
    assert rec.run_missing_in_db is not None
    assert rec.run_missing_in_db.status == "persist_failed"  # as the trace recorded it
    assert rec.recover(store) == len(result.metrics)

    restored = store.run(suite.execution_id)
    problems = [r for r in suite.collect_results() if r.status in ("FAILURE", "ERROR")]
    assert restored is not None
    assert restored.status == ("failed" if problems else "passed")
    assert restored.metric_count == len(result.metrics)
    assert restored.message is not None and "recovered from the trace" in restored.message
    assert reconcile(store, suite.execution_id, InMemoryTraceSource(traced.exporter)).ok
    traced.provider.shutdown()


def test_runs_left_running_by_a_dead_process_are_reaped_as_interrupted(store: MetricDB) -> None:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    dead, alive, done = new_execution_id(), new_execution_id(), new_execution_id()
    for execution_id, started, status in (
        (dead, now - dt.timedelta(hours=7), "running"),
        (alive, now - dt.timedelta(minutes=5), "running"),
        (done, now - dt.timedelta(hours=9), "passed"),
    ):
        store.record_run(RunRecord(execution_id, "Orders", DAY, {}, started, None, status, True, 0))

    reaped = store.reap_stale(dt.timedelta(hours=6))

    assert [run.execution_id for run in reaped] == [dead]
    record = store.run(dead)
    assert record is not None and record.status == "interrupted"
    assert record.finished is not None and record.message and "stale" in record.message
    assert [store.run(x).status for x in (alive, done)] == ["running", "passed"]  # type: ignore[union-attr]
    assert store.reap_stale(dt.timedelta(hours=6)) == []  # nothing left to reap
