"""Reading a run's trace back: from an in-memory exporter, OTLP files, Jaeger or Tempo.

Every source has ``get_trace(trace_id) -> Trace | None`` (the :class:`TraceSource`
protocol); :func:`dqx.data.reconcile` compares the trace's ``dqx.metric`` events with
the metric database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dqx.traces.files import OTLPFileTraceSource
    from dqx.traces.http import JaegerTraceSource, TempoTraceSource
    from dqx.traces.memory import InMemoryTraceSource
    from dqx.traces.model import SpanEvent, Trace, TraceSource, TraceSpan

__all__ = [
    "InMemoryTraceSource",
    "JaegerTraceSource",
    "OTLPFileTraceSource",
    "SpanEvent",
    "TempoTraceSource",
    "Trace",
    "TraceSource",
    "TraceSpan",
]

# telemetry.configure(exporter="file") imports dqx.traces.otlp_file, which runs this
# file first: the readers (and httpx) load only when asked for.
_LAZY = {
    "InMemoryTraceSource": "dqx.traces.memory",
    "OTLPFileTraceSource": "dqx.traces.files",
    "JaegerTraceSource": "dqx.traces.http",
    "TempoTraceSource": "dqx.traces.http",
    "SpanEvent": "dqx.traces.model",
    "Trace": "dqx.traces.model",
    "TraceSource": "dqx.traces.model",
    "TraceSpan": "dqx.traces.model",
}


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dqx.traces' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
