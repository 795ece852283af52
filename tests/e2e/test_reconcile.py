"""A run whose metric write failed is recovered from its trace, through every source.

The run goes through the public API on DuckDB with the metric table away, so
``run()`` raises PersistError; the table comes back and reconcile finds every metric
missing in the database, read from the in-memory exporter, an OTLP JSON-lines file,
Jaeger (api_v3 and v1) or Tempo (v2 and v1) served on 127.0.0.1. The store is a
SQLite file and, when the server is reachable, a PostgreSQL schema of the test's own.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from dqx import (
    Context,
    MetricProvider,
    ResultKey,
    VerificationSuite,
    check,
    metrics_by_execution_id,
    reconcile,
)
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


def _lose_a_run(store: MetricDB, checks: list[Any]) -> Run:
    """A run whose metric write failed (reads still work): only its trace has them."""
    traced = Traced()
    store.ensure_schema()
    backend = store.engine.dialect.name
    _execute(store, _FAIL_WRITES[backend])
    suite = VerificationSuite(checks, store, "Orders", tracer_provider=traced.provider)
    with pytest.raises(PersistError) as raised:
        suite.run([orders_source()], ResultKey(DAY, {"env": "prod"}))
    _execute(store, _HEAL_WRITES[backend])
    assert raised.value.execution_id == suite.execution_id
    assert suite.result is not None and suite.result.metrics
    return Run(suite.execution_id, traced.spans(suite.execution_id), suite.result.metrics, traced)


@pytest.fixture
def lost_run(store: MetricDB) -> Iterator[Run]:
    run = _lose_a_run(store, [orders_check])
    yield run
    run.traced.provider.shutdown()


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


@check(name="Volume", severity="P2")
def volume_check(mp: MetricProvider, ctx: Context) -> None:
    # Five rows a day: this bound is violated, so a run with it fails.
    ctx.assert_that(mp.num_rows()).where(name="a thousand rows").is_geq(1000)


@pytest.mark.parametrize(
    ("checks", "judged"), [([orders_check], "passed"), ([orders_check, volume_check], "failed")]
)
def test_a_recovered_run_takes_the_status_its_assertions_gave_it(
    store: MetricDB, checks: list[Any], judged: str
) -> None:
    lost = _lose_a_run(store, checks)
    execution_id = lost.execution_id
    statuses = {a.assertion: a.status for a in store.assertions(execution_id)}
    assert statuses["a thousand rows" if judged == "failed" else "rows arrived"] == (
        "FAILURE" if judged == "failed" else "OK"
    )
    stuck = store.run(execution_id)
    assert stuck is not None and stuck.status == "persist_failed"

    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    source = InMemoryTraceSource(lost.traced.exporter)
    assert reconcile(store, execution_id, source).recover(store) == len(lost.metrics)
    after = dt.datetime.now(dt.UTC)
    run = store.run(execution_id)
    assert run is not None and run.status == judged
    assert run.metric_count == len(lost.metrics)
    assert (run.assertions_ok, run.assertions_failed) == (
        stuck.assertions_ok,
        stuck.assertions_failed,
    )
    assert run.message is not None and "recovered from the trace" in run.message
    when = re.search(r"at (\S+Z)", run.message)
    assert when is not None
    assert before <= dt.datetime.fromisoformat(when.group(1)) <= after
    # Recovering again finds nothing to do and leaves the record as it is.
    assert reconcile(store, execution_id, source).recover(store) == 0
    assert store.run(execution_id) == run
    lost.traced.provider.shutdown()


def test_a_recovery_the_trace_cannot_complete_leaves_the_run_persist_failed(
    store: MetricDB, lost_run: Run, tmp_path: Path
) -> None:
    # The spans holding the metric events never reached the back-end: the root says
    # how many metrics the run had, and the trace gives none of them back.
    kept = [span for span in lost_run.spans if span.name != "dqx.metrics"]
    assert len(kept) < len(lost_run.spans)
    write_otlp_lines(tmp_path / "traces.jsonl", kept)
    rec = reconcile(store, lost_run.execution_id, OTLPFileTraceSource(tmp_path / "traces.jsonl"))
    assert rec.trace_found and not rec.missing_in_db
    assert rec.recover(store) == 0
    run = store.run(lost_run.execution_id)
    assert run is not None and (run.status, run.metric_count) == ("persist_failed", 0)
    assert run.message is None or "recovered" not in run.message
