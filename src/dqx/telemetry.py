"""Tracing a run: one trace per run, whose trace id is the run's execution id.

Library code here depends on the OpenTelemetry API only. It never sets the global
tracer provider, never flushes or shuts one down; :func:`configure` is the explicit
helper an application (or the dqx CLI) calls to install an SDK provider.
"""

from __future__ import annotations

import contextvars
import json
import os
import random
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, get_args

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

from dqx.common import DQXError, normalize_execution_id
from dqx.runlog import run_scope

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

__all__ = [
    "EVENTS_PER_SPAN",
    "ExportStatus",
    "TraceLinks",
    "configure",
    "emit_events",
    "export_status",
    "get_tracer",
    "record_error",
    "start_run_span",
    "trace_url",
]

#: The SDK keeps the newest 128 events of a span and drops the rest silently, so
#: events are spread over child spans holding at most this many.
EVENTS_PER_SPAN = 100

_forced_trace_id: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "dqx_forced_trace_id", default=None
)


def _package_version() -> str:
    try:
        return version("dqx")
    except PackageNotFoundError:
        return "0+unknown"


def get_tracer(provider: TracerProvider | None = None) -> Tracer:
    """dqx's tracer from ``provider``, else from the global provider as it is now."""
    source = provider if provider is not None else trace.get_tracer_provider()
    return source.get_tracer("dqx", _package_version())


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


@contextmanager
def start_run_span(
    tracer: Tracer, execution_id: str, attributes: Mapping[str, Any]
) -> Iterator[Span]:
    """Start ``dqx.suite.run`` as the root of a new trace with trace id = execution id.

    An ambient span (the caller's task, say) becomes a link, not the parent, so every
    run keeps a trace of its own. The span is current inside the block, and dqx's log
    records emitted there carry the execution id (:mod:`dqx.runlog`).
    """
    trace_id = int(normalize_execution_id(execution_id), 16)
    ambient = trace.get_current_span().get_span_context()
    links = [Link(ambient, {"dqx.link": "caller"})] if ambient.is_valid else []
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


# -- links ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceLinks:
    """Where a run's trace can be opened."""

    trace_id: str
    jaeger: str | None = None
    grafana: str | None = None

    def as_dict(self) -> dict[str, str]:
        links = {"trace_id": self.trace_id}
        if self.jaeger:
            links["jaeger"] = self.jaeger
        if self.grafana:
            links["grafana"] = self.grafana
        return links


def trace_url(
    execution_id: str,
    jaeger: str | None = None,
    grafana: str | None = None,
    tempo_uid: str = "tempo",
) -> TraceLinks:
    """Deep links to the run's trace in Jaeger (``/trace/<id>``) and Grafana Explore.

    Base URLs default to the ``DQX_JAEGER_URL`` and ``DQX_GRAFANA_URL`` environment
    variables; a link is left out when neither says where the back-end is.
    """
    trace_id = normalize_execution_id(execution_id)
    jaeger = jaeger or os.environ.get("DQX_JAEGER_URL")
    grafana = grafana or os.environ.get("DQX_GRAFANA_URL")
    jaeger_link = f"{jaeger.rstrip('/')}/trace/{trace_id}" if jaeger else None
    grafana_link = None
    if grafana:
        panes = {
            "dqx": {
                "datasource": tempo_uid,
                "queries": [
                    {
                        "refId": "A",
                        "datasource": {"type": "tempo", "uid": tempo_uid},
                        "queryType": "traceql",
                        "query": trace_id,
                    }
                ],
                "range": {"from": "now-30d", "to": "now"},
            }
        }
        query = urllib.parse.urlencode(
            {"schemaVersion": "1", "panes": json.dumps(panes, separators=(",", ":"))}
        )
        grafana_link = f"{grafana.rstrip('/')}/explore?{query}"
    return TraceLinks(trace_id, jaeger_link, grafana_link)


# -- configuration (applications and the CLI only) --------------------------------------

Exporter = Literal["otlp", "file", "console", "none"]


def configure(
    service_name: str = "dqx",
    exporter: Exporter = "otlp",
    path: str | os.PathLike[str] = "dqx-traces.jsonl",
    endpoint: str | None = None,
    set_global: bool = True,
) -> SDKTracerProvider:
    """Build an SDK tracer provider exporting dqx's traces, and install it globally.

    * ``otlp``: OTLP to a collector; ``endpoint`` or the standard ``OTEL_EXPORTER_OTLP_*``
      variables say where, ``OTEL_EXPORTER_OTLP_PROTOCOL`` picks grpc or http/protobuf.
    * ``file``: OTLP JSON lines at ``path``, the format of the Collector's file exporter.
    * ``console``: spans printed to stdout.
    * ``none``: no trace at all. Runs are sampled out, so ``dq_run.trace_sampled`` is
      false and reconciliation expects no trace; the execution id still flows through
      the span context to logs and propagated headers.

    ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` are honoured (a service
    name set there wins over ``service_name``), as are the SDK's own variables
    (``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ``OTEL_SDK_DISABLED``). The caller owns
    the provider: shut it down at exit to flush what is buffered, then
    :func:`export_status` says whether every span was delivered. With ``set_global``
    the provider becomes the process's global one; OpenTelemetry allows that once, so
    a second global install raises :class:`DQXError` instead of being ignored.
    """
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    if exporter not in get_args(Exporter):
        raise DQXError(f"unknown exporter {exporter!r}; use 'otlp', 'file', 'console' or 'none'")
    # The environment names the service when it says anything; the argument is the
    # fallback, since its default cannot be told apart from an explicit choice.
    from_env = OTELResourceDetector().detect().attributes.get("service.name")
    attributes = {} if from_env else {"service.name": service_name}
    resource = Resource.create(attributes)
    if exporter == "none":
        # Recording spans nobody exports would mark runs as traced when no trace exists.
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        provider = SDKTracerProvider(resource=resource, sampler=ALWAYS_OFF)
    else:
        provider = SDKTracerProvider(resource=resource)
    span_exporter: SpanExporter | None
    match exporter:
        case "otlp":
            span_exporter = _otlp_exporter(endpoint)
        case "file":
            from dqx.traces.otlp_file import OTLPJsonFileSpanExporter

            span_exporter = OTLPJsonFileSpanExporter(path)
        case "console":
            span_exporter = ConsoleSpanExporter()
        case _:  # "none", checked above
            span_exporter = None
    if span_exporter is not None:
        span_exporter = _observed(provider, span_exporter, _destination(exporter, endpoint, path))
        if exporter == "console":
            provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        else:
            provider.add_span_processor(BatchSpanProcessor(span_exporter))
    if set_global:
        trace.set_tracer_provider(provider)
        if trace.get_tracer_provider() is not provider:
            # The API logs and ignores a second install; a silent no-op would send
            # this provider's spans nowhere while the caller believes otherwise.
            provider.shutdown()
            raise DQXError(
                "a global tracer provider is already installed; call "
                "configure(..., set_global=False) and pass the provider to "
                "VerificationSuite(..., tracer_provider=provider)"
            )
    return provider


# -- export outcome (applications and the CLI only) -------------------------------------

_EXPORT_STATUS = "dqx_export_status"


class ExportStatus:
    """What the exporter of a provider made by :func:`configure` delivered, so far.

    OpenTelemetry exports in the background and only logs a failure; this keeps count,
    so an application can say that a run's trace did not arrive. Read it after the
    provider's ``shutdown()`` (or ``force_flush()``), which exports what is buffered.
    """

    def __init__(self, destination: str) -> None:
        self.destination = destination
        self._lock = threading.Lock()
        self._exported = 0
        self._failed = 0
        self._error: str | None = None

    def _record(self, spans: int, error: str | None) -> None:
        with self._lock:
            if error is None:
                self._exported += spans
            else:
                self._failed += spans
                self._error = error

    @property
    def exported(self) -> int:
        """Spans the back-end accepted."""
        with self._lock:
            return self._exported

    @property
    def failed(self) -> int:
        """Spans the exporter gave up on (back-end down, refused, timed out)."""
        with self._lock:
            return self._failed

    @property
    def error(self) -> str | None:
        """The last failure, as the exporter reported it."""
        with self._lock:
            return self._error

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def __repr__(self) -> str:
        return (
            f"ExportStatus({self.destination!r}, exported={self.exported}, "
            f"failed={self.failed}, error={self.error!r})"
        )


def export_status(provider: object) -> ExportStatus | None:
    """The export outcome of a provider :func:`configure` built; None for any other."""
    status = getattr(provider, _EXPORT_STATUS, None)
    return status if isinstance(status, ExportStatus) else None


def _observed(
    provider: SDKTracerProvider, exporter: SpanExporter, destination: str
) -> SpanExporter:
    """``exporter``, counting what it delivers in the provider's :class:`ExportStatus`."""
    status = ExportStatus(destination)
    setattr(provider, _EXPORT_STATUS, status)
    return cast("SpanExporter", _ObservedExporter(exporter, status))


def _destination(exporter: str, endpoint: str | None, path: str | os.PathLike[str]) -> str:
    if exporter == "file":
        return os.fspath(path)
    if exporter == "otlp":
        return endpoint or "the OTEL_EXPORTER_OTLP_* endpoint"
    return exporter


class _ObservedExporter:
    """Passes spans to the wrapped exporter and records in ``status`` what became of them.

    Duck-typed as a SpanExporter (the SDK's processors only call these three methods),
    so this module keeps importing no SDK code until :func:`configure` runs.
    """

    def __init__(self, wrapped: SpanExporter, status: ExportStatus) -> None:
        self._wrapped = wrapped
        self._status = status

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        from opentelemetry.sdk.trace.export import SpanExportResult

        try:
            result = self._wrapped.export(spans)
        except Exception as exc:
            self._status._record(len(spans), f"{type(exc).__name__}: {exc}")
            raise
        if result is SpanExportResult.SUCCESS:
            self._status._record(len(spans), None)
        else:
            # The SDK's exporters log why; the result only says that it failed.
            self._status._record(len(spans), "the exporter gave up; its log says why")
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._wrapped.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self._wrapped.shutdown()


def _otlp_exporter(endpoint: str | None) -> Any:
    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=endpoint) if endpoint else GrpcExporter()
    if protocol != "http/protobuf":
        # OpenTelemetry Python has no http/json exporter: sending protobuf to a
        # receiver told to expect JSON would fail on every export, so say so now.
        raise DQXError(
            f"unsupported OTLP protocol {protocol!r} (from OTEL_EXPORTER_OTLP_PROTOCOL); "
            "use grpc or http/protobuf"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint) if endpoint else HttpExporter()
