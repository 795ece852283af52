"""Reading a trace from the spans an in-memory exporter kept (tests, notebooks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dqx.traces.model import SpanEvent, Trace, TraceSpan, normalize_trace_id

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

__all__ = ["InMemoryTraceSource"]


def _plain(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    # The SDK keeps sequence attributes as tuples; the JSON readers give lists.
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in (attributes or {}).items()
    }


def _span(span: ReadableSpan) -> TraceSpan:
    context = span.get_span_context()
    assert context is not None  # a finished SDK span always has one
    parent = span.parent
    service = span.resource.attributes.get("service.name") if span.resource else None
    return TraceSpan(
        trace_id=f"{context.trace_id:032x}",
        span_id=f"{context.span_id:016x}",
        parent_span_id=f"{parent.span_id:016x}" if parent is not None else None,
        name=span.name,
        start_time_unix_nano=span.start_time or 0,
        end_time_unix_nano=span.end_time or 0,
        attributes=_plain(span.attributes),
        events=tuple(
            SpanEvent(event.name, event.timestamp, _plain(event.attributes))
            for event in span.events
        ),
        status=span.status.status_code.name,
        service_name=str(service) if service is not None else None,
    )


class InMemoryTraceSource:
    """The finished spans of an SDK ``InMemorySpanExporter``."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._exporter!r})"

    def get_trace(self, trace_id: str) -> Trace | None:
        trace_id = normalize_trace_id(trace_id)
        spans = [
            _span(span)
            for span in self._exporter.get_finished_spans()
            if span.context is not None and f"{span.context.trace_id:032x}" == trace_id
        ]
        if not spans:
            return None
        return Trace.of(trace_id, spans, origin="in-memory exporter")
