"""A run whose metric write failed is recovered from its trace, through every source.

The run goes through the public API on DuckDB with the metric table away, so
``run()`` raises PersistError; the table comes back and reconcile finds every metric
missing in the database, read from the in-memory exporter, an OTLP JSON-lines file,
Jaeger (api_v3 and v1) or Tempo (v2 and v1) served on 127.0.0.1. The store is a
SQLite file and, when the server is reachable, a PostgreSQL schema of the test's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

import pytest
from sqlalchemy import text

from dqx import ResultKey, VerificationSuite, metrics_by_execution_id, reconcile
from dqx.common import PersistError
from dqx.orm.repositories import MetricDB
from dqx.traces import (
    InMemoryTraceSource,
    JaegerTraceSource,
    OTLPFileTraceSource,
    TempoTraceSource,
    TraceSource,
)
from tests.support.backends import jaeger_routes, serve, tempo_routes, write_otlp_lines
from tests.support.runs import DAY, Run, Traced, orders_check
from tests.support.runs import orders as orders_source

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


@pytest.fixture
def lost_run(store: MetricDB) -> Iterator[Run]:
    """A run whose metric write failed (reads still work): only its trace has them."""
    traced = Traced()
    store.ensure_schema()
    backend = store.engine.dialect.name
    _execute(store, _FAIL_WRITES[backend])
    suite = VerificationSuite([orders_check], store, "Orders", tracer_provider=traced.provider)
    with pytest.raises(PersistError) as raised:
        suite.run([orders_source()], ResultKey(DAY, {"env": "prod"}))
    _execute(store, _HEAL_WRITES[backend])
    assert raised.value.execution_id == suite.execution_id
    assert suite.result is not None and suite.result.metrics
    yield Run(suite.execution_id, traced.spans(suite.execution_id), suite.result.metrics, traced)
    traced.provider.shutdown()


Opener = Callable[[Run, Path], AbstractContextManager[TraceSource]]


@contextmanager
def _jaeger(run: Run, _tmp: Path, *, v3: bool) -> Iterator[TraceSource]:
    with serve(jaeger_routes(run.execution_id, run.spans, v3=v3)) as backend:
        yield JaegerTraceSource(backend.base_url)


@contextmanager
def _tempo(run: Run, _tmp: Path, *, v2: bool) -> Iterator[TraceSource]:
    with serve(tempo_routes(run.execution_id, run.spans, v2=v2)) as backend:
        yield TempoTraceSource(backend.base_url, headers={"X-Scope-OrgID": "dqx"})


def _memory(run: Run, _tmp: Path) -> AbstractContextManager[TraceSource]:
    return nullcontext(InMemoryTraceSource(run.traced.exporter))


def _file(run: Run, tmp: Path) -> AbstractContextManager[TraceSource]:
    write_otlp_lines(tmp / "traces.jsonl", run.spans)
    return nullcontext(OTLPFileTraceSource(tmp / "traces.jsonl"))


SOURCES: dict[str, Opener] = {
    "in-memory": _memory,
    "otlp-file": _file,
    "jaeger-v3": lambda run, tmp: _jaeger(run, tmp, v3=True),
    "jaeger-v1": lambda run, tmp: _jaeger(run, tmp, v3=False),
    "tempo-v2": lambda run, tmp: _tempo(run, tmp, v2=True),
    "tempo-v1": lambda run, tmp: _tempo(run, tmp, v2=False),
}


@pytest.mark.parametrize("source_name", list(SOURCES))
def test_a_lost_metric_write_is_detected_and_recovered_from_the_trace(
    store: MetricDB, lost_run: Run, source_name: str, tmp_path: Path
) -> None:
    execution_id = lost_run.execution_id
    assert metrics_by_execution_id(store, execution_id) == []
    run_record = store.run(execution_id)
    assert run_record is not None and run_record.status == "persist_failed"

    with SOURCES[source_name](lost_run, tmp_path) as source:
        rec = reconcile(store, execution_id, source)
        assert rec.trace_found and rec.trace_expected and not rec.ok
        assert {m.id for m in rec.missing_in_db} == {m.id for m in lost_run.metrics}
        assert not rec.matched and not rec.missing_in_trace and not rec.mismatched
        union = metrics_by_execution_id(store, execution_id, trace=source)
        assert {s.tags["__origin"] for s in union} == {"trace"}

        assert rec.recover(store) == len(lost_run.metrics)
        assert rec.recover(store) == 0

        after = reconcile(store, execution_id, source)
        assert after.ok and len(after.matched) == len(lost_run.metrics)
        assert after.recover(store) == 0
        union = metrics_by_execution_id(store, execution_id, trace=source)
        assert {s.tags["__origin"] for s in union} == {"db+trace"}

    # What came back is what the run computed, bit for bit, under the same ids.
    restored = {m.id: m for m in store.metrics_for_execution(execution_id)}
    assert set(restored) == {m.id for m in lost_run.metrics}
    for metric in lost_run.metrics:
        back = restored[metric.id]
        assert (back.name, back.dataset, back.yyyy_mm_dd, back.value) == (
            metric.name,
            metric.dataset,
            metric.yyyy_mm_dd,
            metric.value,
        )
        assert (back.kind, back.parameters, back.tags, back.origin) == (
            metric.kind,
            metric.parameters,
            metric.tags,
            metric.origin,
        )
        assert back.suite == "Orders" and back.execution_id == execution_id
    symbols = metrics_by_execution_id(store, execution_id)
    assert [(s.yyyy_mm_dd, s.metric, s.value.unwrap()) for s in symbols] == sorted(
        (m.yyyy_mm_dd, m.name, m.value) for m in lost_run.metrics
    )
    assert all(s.tags == {"env": "prod", "__execution_id": execution_id} for s in symbols)
    recorded = store.run(execution_id)
    assert recorded is not None and recorded.metric_count == len(lost_run.metrics)
