"""Tracing a run with the OpenTelemetry API only: one trace per run, trace id = execution id.

This is what library code imports (the suite, its phases, plugins). It never sets the
global tracer provider and never flushes or shuts one down; with no SDK installed
every helper here is a cheap no-op. Installing an SDK is :mod:`dqx.telemetry.sdk`'s
job, for applications and the CLI.
"""

from __future__ import annotations

import contextvars
import functools
import os
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
    Tracer,
    TracerProvider,
)

from dqx.common import normalize_execution_id
from dqx.runlog import run_scope

__all__ = [
    "EVENTS_PER_SPAN",
    "AttributeLimits",
    "attribute_limits",
    "emit_events",
    "get_tracer",
    "package_version",
    "record_error",
    "root_span_id",
    "run_link",
    "start_run_span",
]

#: The SDK keeps the newest 128 events of a span and drops the rest silently, so
#: events are spread over child spans holding at most this many.
EVENTS_PER_SPAN = 100

_forced_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "dqx_forced_trace_id", default=None
)


@dataclass(frozen=True)
class AttributeLimits:
    """What a tracer keeps of the attributes it is given (None: no limit)."""

    #: Attributes an event keeps; when more are added, the oldest are dropped.
    event_attributes: int | None = 128
    #: Attributes a span keeps, likewise.
    span_attributes: int | None = 128
    #: Characters a string value keeps; longer ones are truncated.
    length: int | None = None


def attribute_limits(tracer: Tracer) -> AttributeLimits:
    """The limits ``tracer`` applies to span and event attributes.

    The SDK's tracer carries its provider's ``SpanLimits``; the API offers no way to
    ask, so the attribute is read where the SDK keeps it. Any other tracer is taken to
    apply the SDK's defaults, from the variables the SDK reads.
    """
    real = getattr(tracer, "_real_tracer", None) or tracer  # the API's ProxyTracer
    limits = getattr(real, "_span_limits", None)
    if limits is not None:
        return AttributeLimits(
            _count(getattr(limits, "max_event_attributes", 128)),
            _count(getattr(limits, "max_span_attributes", 128)),
            _count(getattr(limits, "max_attribute_length", None)),
        )
    default = _count(os.environ.get("OTEL_ATTRIBUTE_COUNT_LIMIT", 128))
    return AttributeLimits(
        _count(os.environ.get("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", default)),
        _count(os.environ.get("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", default)),
        _count(os.environ.get("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")),
    )


def _count(value: object) -> int | None:
    try:
        return int(str(value)) if value is not None and str(value).strip() else None
    except ValueError:
        return None


@functools.cache
def package_version() -> str:
    """dqx's version, as its tracer and meter name it.

    Cached: reading the installed metadata costs a millisecond, paid by every run
    three times over (a backfill of a year would pay it a thousand times)."""
    try:
        return version("dqx")
    except PackageNotFoundError:
        return "0+unknown"


def get_tracer(provider: TracerProvider | None = None) -> Tracer:
    """dqx's tracer from ``provider``, else from the global provider as it is now."""
    source = provider if provider is not None else trace.get_tracer_provider()
    return source.get_tracer("dqx", package_version())


class _ForcedTraceIdGenerator:
    """Wraps an SDK tracer's id generator: gives the forced trace id while one is set.

    The forced id lives in a contextvar set only around the root span's start, so
    concurrent runs in other threads or tasks keep their own ids, and every other
    span of the application gets ids from the wrapped generator as before.
    """

    dqx_wrapper = True

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def generate_trace_id(self) -> int:
        forced = _forced_trace_id.get()
        return forced if forced is not None else int(self._wrapped.generate_trace_id())

    def generate_span_id(self) -> int:
        # The root span's id follows from the execution id too, so a later run (a
        # re-evaluation) can link to it knowing only the id.
        forced = _forced_trace_id.get()
        if forced is not None:
            return root_span_id(f"{forced:032x}")
        return int(self._wrapped.generate_span_id())

    def is_trace_id_random(self) -> bool:
        # A forced id is an execution id: 128 random bits, whatever the wrapped
        # generator would say of its own ids.
        if _forced_trace_id.get() is not None:
            return True
        check = getattr(self._wrapped, "is_trace_id_random", None)
        return bool(check()) if check is not None else False


def _wrap_id_generator(tracer: Tracer) -> bool:
    generator = getattr(tracer, "id_generator", None)
    if generator is None:
        return False
    if not getattr(generator, "dqx_wrapper", False):
        tracer.id_generator = _ForcedTraceIdGenerator(generator)  # type: ignore[attr-defined]
    return True


def root_span_id(execution_id: str) -> int:
    """The span id of a run's root span: the execution id's low 64 bits (never 0)."""
    return int(normalize_execution_id(execution_id), 16) & 0xFFFF_FFFF_FFFF_FFFF or 1


def run_link(execution_id: str, relation: str) -> Link:
    """A link to another run's root span, saying how this run relates to it."""
    context = SpanContext(
        trace_id=int(normalize_execution_id(execution_id), 16),
        span_id=root_span_id(execution_id),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return Link(context, {"dqx.link": relation, "dqx.execution_id": execution_id})


@contextmanager
def start_run_span(
    tracer: Tracer,
    execution_id: str,
    attributes: Mapping[str, Any],
    links_to: Sequence[Link] = (),
) -> Iterator[Span]:
    """Start ``dqx.suite.run`` as the root of a new trace with trace id = execution id.

    An ambient span (the caller's task, say) becomes a link, not the parent, so every
    run keeps a trace of its own; ``links_to`` are more links (a re-evaluation's to
    the run it judged). The span is current inside the block, and dqx's log
    records emitted there carry the execution id (:mod:`dqx.runlog`).
    """
    trace_id = int(normalize_execution_id(execution_id), 16)
    ambient = trace.get_current_span().get_span_context()
    links = [Link(ambient, {"dqx.link": "caller"})] if ambient.is_valid else []
    links.extend(links_to)
    if _wrap_id_generator(tracer):
        parent_context = Context()
        token = _forced_trace_id.set(trace_id)
        try:
            span = tracer.start_span(
                "dqx.suite.run", context=parent_context, links=links, attributes=attributes
            )
        finally:
            _forced_trace_id.reset(token)
    else:
        # No SDK: a non-recording remote parent carries the id, so log correlation
        # and traceparent propagation still see the execution id.
        carrier = NonRecordingSpan(
            SpanContext(
                trace_id=trace_id,
                span_id=random.getrandbits(64) or 1,
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.DEFAULT),
            )
        )
        span = tracer.start_span(
            "dqx.suite.run",
            context=trace.set_span_in_context(carrier, Context()),
            links=links,
            attributes=attributes,
        )
    with (
        run_scope(normalize_execution_id(execution_id)),
        trace.use_span(span, end_on_exit=True, record_exception=True),
    ):
        yield span


def record_error(span: Span, exc: BaseException) -> None:
    """Mark ``span`` failed with the exception, when it records."""
    if span.is_recording():
        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


T = TypeVar("T")


def emit_events(
    tracer: Tracer,
    span_name: str,
    event_name: str,
    items: Sequence[T],
    to_attributes: Callable[[T], Mapping[str, Any]],
    attributes: Mapping[str, Any] | None = None,
) -> int:
    """Emit one event per item on child spans of the current span, at most 100 per span.

    Attributes are built only when the span records, so an untraced run pays nothing.
    Returns the number of child spans used.
    """
    if not trace.get_current_span().is_recording():
        return 0
    events = [to_attributes(item) for item in items]
    spans = 0
    for start in range(0, len(events), EVENTS_PER_SPAN):
        chunk = events[start : start + EVENTS_PER_SPAN]
        span_attributes = {
            **(attributes or {}),
            "dqx.events.first": start,
            "dqx.events.count": len(chunk),
        }
        with tracer.start_as_current_span(span_name, attributes=span_attributes) as span:
            for event in chunk:
                span.add_event(event_name, attributes=dict(event))
        spans += 1
    return spans
