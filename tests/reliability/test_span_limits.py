"""Span limits never make a run's trace lie or unreadable: with many tags, a long
custom_sql, a tracer's real ``SpanLimits`` or a back-end's truncation, what survives
is read back, a cut event flags only its own metric, and the run warns when its
tracer's limits will cut something.

The SDK drops an event's *oldest* attributes when it holds too many and truncates
values at ``max_attribute_length`` (``OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT``); Tempo
truncates values over 2 KB. Each is applied for real here: ``SpanLimits`` on a real
``TracerProvider``, and Tempo's cut on the documents a served Tempo returns.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import SpanLimits, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check, reconcile
from dqx.common import ORIGIN_TAG, identity_tags
from dqx.data import metrics_by_execution_id
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import Metric, MetricDB
from dqx.telemetry.attributes import get_text
from dqx.traces import InMemoryTraceSource, TempoTraceSource
from dqx.traces.model import SpanEvent, Trace, TraceSpan
from tests.support.backends import Reply, serve, tempo_v2

DAY = dt.date(2024, 3, 2)
# A custom_sql of about 5.6 KB: over Tempo's 2 KB attribute limit many times.
LONG_SQL = (
    "SUM(CASE WHEN status IN ("
    + ", ".join(f"'value-{i:04d}'" for i in range(400))
    + ") THEN 1 ELSE 0 END)"
)
MANY_TAGS = {f"tag{i:03d}": f"value {i}" for i in range(130)}


@check(name="Orders")
def orders_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price").is_gt(0)
    ctx.assert_that(mp.custom_sql(LONG_SQL)).where(name="known statuses").is_geq(0)


def _orders() -> DuckRelationDataSource:
    table = pa.table(
        {
            "yyyy_mm_dd": [DAY] * 4,
            "price": [10.0, 11.0, 12.0, 13.0],
            "status": ["value-0001", "value-0399", "other", "value-0002"],
        }
    )
    return DuckRelationDataSource.from_arrow(table, "orders")


class Tracing:
    """A real SDK provider with the given span limits, its spans kept in memory."""

    def __init__(self, limits: SpanLimits | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(span_limits=limits) if limits else TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def run(self, store: MetricDB, tags: dict[str, str] | None = None) -> str:
        suite = VerificationSuite([orders_check], store, "Orders", tracer_provider=self.provider)
        suite.run([_orders()], ResultKey(DAY, tags or {"env": "prod"}))
        return suite.execution_id

    @property
    def source(self) -> InMemoryTraceSource:
        return InMemoryTraceSource(self.exporter)


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    made = Tracing()
    yield made
    made.provider.shutdown()


def _long_metric(store: MetricDB, execution_id: str) -> Metric:
    (metric,) = [m for m in store.metrics_for_execution(execution_id) if m.kind == "custom_sql"]
    return metric


def test_130_tags_keep_every_metric_event_whole_and_the_run_reconciles(
    store: MetricDB, tracing: Tracing
) -> None:
    execution_id = tracing.run(store, MANY_TAGS)

    rec = reconcile(store, execution_id, tracing.source)
    assert rec.ok, rec.summary
    assert len(rec.matched) == len(store.metrics_for_execution(execution_id)) == 3
    assert rec.warnings == ()
    symbols = metrics_by_execution_id(store, execution_id, trace=tracing.source)
    assert {s.tags[ORIGIN_TAG] for s in symbols} == {"db+trace"}
    assert all(identity_tags(s.tags) == MANY_TAGS for s in symbols)
    # The root kept the run's identity: its tags went first, and all are in one JSON.
    (root,) = [s for s in tracing.exporter.get_finished_spans() if s.name == "dqx.suite.run"]
    attributes = dict(root.attributes or {})
    assert attributes["dqx.execution_id"] == execution_id
    tags, problem = get_text(attributes, "dqx.run.tags")
    assert problem is None and json.loads(str(tags)) == MANY_TAGS


def _tempo_cut(node: Any, limit: int = 2048) -> Any:
    """The document as Tempo stores it: every string attribute value cut to 2 KB."""
    if isinstance(node, dict):
        return {
            key: value.encode()[:limit].decode(errors="ignore")
            if key == "stringValue" and isinstance(value, str)
            else _tempo_cut(value, limit)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_tempo_cut(item, limit) for item in node]
    return node


def test_a_custom_sql_over_tempos_2kb_attribute_limit_reads_back_whole_from_tempo(
    store: MetricDB, tracing: Tracing
) -> None:
    execution_id = tracing.run(store)
    spans = list(tracing.exporter.get_finished_spans())
    document = _tempo_cut(tempo_v2(spans))
    routes = {f"/api/v2/traces/{execution_id}": Reply.json(document)}
    with serve(routes) as tempo:
        source = TempoTraceSource(tempo.base_url)
        rec = reconcile(store, execution_id, source)
        symbols = metrics_by_execution_id(store, execution_id, trace=source)

    assert rec.ok, rec.summary
    assert len(rec.matched) == 3 and rec.warnings == ()
    long = _long_metric(store, execution_id)
    assert long in rec.matched and long.name == f"custom_sql({LONG_SQL})"
    assert {s.metric: s.tags[ORIGIN_TAG] for s in symbols}[long.name] == "db+trace"


def test_an_event_over_the_attribute_count_limit_flags_its_metric_and_warns_at_run_time(
    store: MetricDB, caplog: pytest.LogCaptureFixture
) -> None:
    # Fourteen attributes: every ordinary event fits, the long custom_sql's does not.
    tracing = Tracing(SpanLimits(max_event_attributes=14))
    with caplog.at_level(logging.WARNING, logger="dqx"):
        execution_id = tracing.run(store)
    warned = [r.getMessage() for r in caplog.records if "attribute limits" in r.getMessage()]
    assert len(warned) == 1 and "custom_sql(SUM(CASE" in warned[0]
    assert "dqx.tags.env, dqx.metric.tags, dqx.metric.parameters.0" in warned[0]

    rec = reconcile(store, execution_id, tracing.source)
    long = _long_metric(store, execution_id)
    assert not rec.ok
    assert [m.db.id for m in rec.mismatched] == [long.id]
    assert "parameters (cut in the trace)" in rec.mismatched[0].fields
    assert len(rec.matched) == 2 and rec.missing_in_db == [] and rec.missing_in_trace == []
    assert any("dqx.metric.parameters was" in w and long.id in w for w in rec.warnings)
    # Reading the run with its trace does not raise: the cut metric counts as the db's.
    symbols = metrics_by_execution_id(store, execution_id, trace=tracing.source)
    origins = {s.metric: s.tags[ORIGIN_TAG] for s in symbols}
    assert origins.pop(long.name) == "db" and set(origins.values()) == {"db+trace"}
    tracing.provider.shutdown()


@pytest.mark.parametrize("given", ["SpanLimits", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT"])
def test_a_value_length_limit_is_met_by_chunks_below_it_and_nothing_is_cut(
    store: MetricDB, given: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    if given == "SpanLimits":
        tracing = Tracing(SpanLimits(max_attribute_length=64))
    else:
        monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "64")
        tracing = Tracing()
    with caplog.at_level(logging.WARNING, logger="dqx"):
        execution_id = tracing.run(store)

    assert not [r for r in caplog.records if "attribute limits" in r.getMessage()]
    events = [
        dict(event.attributes or {})
        for span in tracing.exporter.get_finished_spans()
        for event in span.events
        if event.name == "dqx.metric"
    ]
    assert max(len(v) for e in events for v in e.values() if isinstance(v, str)) <= 64
    rec = reconcile(store, execution_id, tracing.source)
    assert rec.ok and len(rec.matched) == 3, rec.summary
    tracing.provider.shutdown()


def test_a_cut_event_only_the_trace_holds_is_reported_unreadable_and_not_recovered(
    store: MetricDB,
) -> None:
    tracing = Tracing(SpanLimits(max_event_attributes=14))
    execution_id = tracing.run(store)
    long = _long_metric(store, execution_id)
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM dq_metric WHERE id = :id"), {"id": long.id})

    rec = reconcile(store, execution_id, tracing.source)
    assert not rec.ok and "1 unreadable in trace" in rec.summary
    (unreadable,) = rec.unreadable_in_trace
    assert long.id in unreadable and "dqx.metric.parameters" in unreadable
    assert rec.missing_in_db == [] and len(rec.matched) == 2
    assert rec.recover(store) == 0
    assert long.id not in {m.id for m in store.metrics_for_execution(execution_id)}
    tracing.provider.shutdown()


def _first_format_event(metric: Metric) -> dict[str, Any]:
    """A ``dqx.metric`` event as dqx wrote them before lengths and JSON tags."""
    event: dict[str, Any] = {
        "dqx.metric.id": metric.id,
        "dqx.metric.name": metric.name,
        "dqx.metric.kind": metric.kind,
        "dqx.metric.parameters": json.dumps(
            metric.parameters, sort_keys=True, separators=(",", ":")
        ),
        "dqx.metric.origin": metric.origin,
        "dqx.dataset": metric.dataset,
        "dqx.date": metric.yyyy_mm_dd.isoformat(),
        **{f"dqx.tags.{k}": v for k, v in identity_tags(metric.tags).items()},
    }
    if metric.value is not None:
        event["dqx.metric.value"] = metric.value
    return event


class _OneTrace:
    def __init__(self, trace: Trace) -> None:
        self._trace = trace

    def get_trace(self, trace_id: str) -> Trace:
        return self._trace


def test_events_of_the_first_format_are_read_and_a_truncated_one_flags_only_its_metric(
    store: MetricDB, tracing: Tracing
) -> None:
    execution_id = tracing.run(store)
    events = []
    for metric in store.metrics_for_execution(execution_id):
        attributes = _first_format_event(metric)
        if metric.kind == "custom_sql":
            # What Tempo made of the first format's long values: cut at 2 KB.
            attributes = {k: v[:2048] if isinstance(v, str) else v for k, v in attributes.items()}
        events.append(SpanEvent("dqx.metric", 1, attributes))
    span = TraceSpan(execution_id, "1" * 16, None, "dqx.metrics", events=tuple(events))

    rec = reconcile(store, execution_id, _OneTrace(Trace(execution_id, (span,))))
    assert len(rec.matched) == 2, rec.summary
    (cut,) = rec.mismatched
    assert cut.db.kind == "custom_sql"
    assert "parameters (cut in the trace)" in cut.fields and "name" in cut.fields
    assert any("not whole JSON" in w for w in rec.warnings)
