"""A run's record as its trace holds it: the metrics of its ``dqx.metric`` events.

An event a span limit or a back-end cut (its tags dropped, its parameters truncated)
is kept apart as a :class:`~dqx.events.MetricReading` with what arrived and what did
not, so that the readers (:mod:`dqx.data`) flag that one metric; an event that lost
its id cannot be told apart from any other and is only counted in the warnings.
Nothing here raises for one bad event.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dqx.common import TraceReadError, normalize_execution_id
from dqx.events import METRIC_EVENT, SUITE_NAME, MetricReading, read_metric_event
from dqx.records import Metric
from dqx.traces.model import TimeWindow, Trace, TraceSource

__all__ = ["TracedMetrics", "fetch_trace", "traced_metrics"]


def _takes_window(get_trace: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(get_trace).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "window" or p.kind is p.VAR_KEYWORD for p in parameters)


@dataclass(frozen=True)
class TracedMetrics:
    """The metrics a run's trace records, by metric id (the first event of an id wins)."""

    #: Events that arrived whole.
    whole: Mapping[str, Metric]
    #: Events a limit or a back-end cut, with what arrived of them.
    damaged: Mapping[str, MetricReading]
    #: What went wrong with events that lost their metric id.
    unattributed: tuple[str, ...] = ()

    def __contains__(self, metric_id: object) -> bool:
        return metric_id in self.whole or metric_id in self.damaged

    @property
    def problems(self) -> tuple[str, ...]:
        """One line per event that did not arrive whole, naming what was cut."""
        return (*(reading.problem for reading in self.damaged.values()), *self.unattributed)


def traced_metrics(trace: Trace) -> TracedMetrics:
    """Read every ``dqx.metric`` event of ``trace``."""
    execution_id = normalize_execution_id(trace.trace_id)
    root = trace.root
    suite_name = root.attributes.get(SUITE_NAME) if root is not None else None
    suite = str(suite_name) if suite_name is not None else None
    whole: dict[str, Metric] = {}
    damaged: dict[str, MetricReading] = {}
    unattributed: list[str] = []
    for index, (span, event) in enumerate(trace.events(METRIC_EVENT)):
        reading = read_metric_event(
            event.attributes,
            execution_id=execution_id,
            suite=suite,
            time_unix_nano=event.time_unix_nano,
            where=f"trace {execution_id}, span {span.name} {span.span_id}, event {index}",
        )
        metric = reading.metric()
        if reading.metric_id is None:
            unattributed.append(reading.problem)
        elif reading.metric_id in whole or reading.metric_id in damaged:
            continue
        elif metric is not None:
            whole[reading.metric_id] = metric
        else:
            damaged[reading.metric_id] = reading
    return TracedMetrics(whole, damaged, tuple(unattributed))


def fetch_trace(
    source: TraceSource, execution_id: str, window: TimeWindow | None = None
) -> Trace | None:
    """``source.get_trace(execution_id)``, with ``window=`` when the source takes one,
    checked to be a trace source and a Trace."""
    get_trace = getattr(source, "get_trace", None)
    if not callable(get_trace):
        raise TraceReadError(
            f"{source!r} is not a trace source: pass InMemoryTraceSource, OTLPFileTraceSource, "
            "JaegerTraceSource, TempoTraceSource or anything with get_trace(trace_id)"
        )
    if window is not None and _takes_window(get_trace):
        trace = get_trace(execution_id, window=window)
    else:
        trace = get_trace(execution_id)
    if trace is not None and not isinstance(trace, Trace):
        raise TraceReadError(f"{source!r}.get_trace returned {type(trace).__name__}, not a Trace")
    return trace
