"""InMemoryTraceSource reads a run's trace from the SDK's in-memory exporter."""

from __future__ import annotations

from dqx.traces import InMemoryTraceSource, Trace, TraceSource
from tests.support.runs import Run


def test_the_in_memory_source_returns_every_span_and_metric_event_of_the_run(run: Run) -> None:
    source = InMemoryTraceSource(run.traced.exporter)
    assert isinstance(source, TraceSource)

    trace = source.get_trace(run.execution_id.upper())

    assert isinstance(trace, Trace) and trace.trace_id == run.execution_id
    assert {s.span_id for s in trace.spans} == {f"{s.context.span_id:016x}" for s in run.spans}
    assert trace.root is not None and trace.root.name == "dqx.suite.run"
    assert trace.root.attributes["dqx.execution_id"] == run.execution_id
    ids = [e.attributes["dqx.metric.id"] for _s, e in trace.events("dqx.metric")]
    assert sorted(ids) == sorted(m.id for m in run.metrics)


def test_the_in_memory_source_knows_nothing_of_another_trace(run: Run) -> None:
    assert InMemoryTraceSource(run.traced.exporter).get_trace("f" * 32) is None
