"""Installing the OpenTelemetry SDK: :func:`configure`, its exporters, what they delivered.

Applications, the CLI and tests import this; library code never does (it traces through
:mod:`dqx.telemetry.tracing`, the API only), so a program that brings its own SDK set-up,
or none, loads no part of the SDK because of dqx.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Literal, get_args

from opentelemetry import metrics as metrics_api
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from dqx.common import DQXError
from dqx.redaction import redact
from dqx.traces.otlp_file import OTLPJsonFileMetricExporter, OTLPJsonFileSpanExporter

__all__ = ["ExportStatus", "Exporter", "configure", "export_status", "meter_provider"]

Exporter = Literal["otlp", "file", "console", "none"]

# The attribute of a provider built by configure() that holds its ExportStatus.
_EXPORT_STATUS = "dqx_export_status"


def configure(
    service_name: str = "dqx",
    exporter: Exporter = "otlp",
    path: str | os.PathLike[str] = "dqx-traces.jsonl",
    endpoint: str | None = None,
    set_global: bool = True,
    *,
    metrics: bool = False,
) -> TracerProvider:
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

    With ``metrics`` an SDK meter provider is built too, exporting to the same place
    (``file``: the same file, one MetricsData document a line), read from the returned
    provider with :func:`meter_provider` and passed as
    ``VerificationSuite(..., meter_provider=...)``; with ``set_global`` it becomes the
    global meter provider. The returned provider's ``shutdown()`` and
    ``force_flush()`` then flush both signals. Metrics are collected every
    ``OTEL_METRIC_EXPORT_INTERVAL`` milliseconds (60 s by default) and at shutdown;
    exemplars follow ``OTEL_METRICS_EXEMPLAR_FILTER`` (``trace_based`` by default:
    a point recorded in a sampled run carries the run's trace id).
    """
    if exporter not in get_args(Exporter):
        raise DQXError(f"unknown exporter {exporter!r}; use 'otlp', 'file', 'console' or 'none'")
    resource = _resource(service_name)
    meters = _meter_provider(exporter, endpoint, path, resource) if metrics else None
    if exporter == "none":
        # Recording spans nobody exports would mark runs as traced when no trace exists.
        provider: TracerProvider = _TracerAndMeterProvider(
            meters, resource=resource, sampler=ALWAYS_OFF
        )
        return _installed(provider, set_global)
    provider = _TracerAndMeterProvider(meters, resource=resource)
    status = ExportStatus(_destination(exporter, endpoint, path))
    observed = _ObservedExporter(_span_exporter(exporter, endpoint, path), status)
    setattr(provider, _EXPORT_STATUS, status)
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(observed))
    else:
        provider.add_span_processor(BatchSpanProcessor(observed))
    return _installed(provider, set_global)


def _resource(service_name: str) -> Resource:
    # The environment names the service when it says anything; the argument is the
    # fallback, since its default cannot be told apart from an explicit choice.
    from_env = OTELResourceDetector().detect().attributes.get("service.name")
    return Resource.create({} if from_env else {"service.name": service_name})


def _span_exporter(
    exporter: Exporter, endpoint: str | None, path: str | os.PathLike[str]
) -> SpanExporter:
    match exporter:
        case "otlp":
            return _otlp_exporter(endpoint)
        case "file":
            return OTLPJsonFileSpanExporter(path)
        case _:  # "console"; "none" has no exporter
            return ConsoleSpanExporter()


def _installed(provider: TracerProvider, set_global: bool) -> TracerProvider:
    if not set_global:
        return provider
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
    meters = meter_provider(provider)
    if meters is not None:
        metrics_api.set_meter_provider(meters)
        if metrics_api.get_meter_provider() is not meters:
            provider.shutdown()
            raise DQXError(
                "a global meter provider is already installed (the tracer provider was "
                "installed and is now shut down); call configure(..., set_global=False) "
                "and pass meter_provider(provider) as VerificationSuite(..., meter_provider=...)"
            )
    return provider


class _TracerAndMeterProvider(TracerProvider):
    """A tracer provider that owns the meter provider :func:`configure` built beside
    it, so one ``shutdown()`` or ``force_flush()`` delivers both signals."""

    def __init__(self, meters: MeterProvider | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dqx_meter_provider = meters

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        flushed = super().force_flush(timeout_millis)
        if self.dqx_meter_provider is not None:
            flushed = self.dqx_meter_provider.force_flush(timeout_millis) and flushed
        return flushed

    def shutdown(self) -> None:
        super().shutdown()
        if self.dqx_meter_provider is not None:
            self.dqx_meter_provider.shutdown()


def meter_provider(provider: object) -> MeterProvider | None:
    """The meter provider :func:`configure` built with ``metrics=True`` beside
    ``provider``; None for any other provider."""
    meters = getattr(provider, "dqx_meter_provider", None)
    return meters if isinstance(meters, MeterProvider) else None


def _meter_provider(
    exporter: Exporter, endpoint: str | None, path: str | os.PathLike[str], resource: Resource
) -> MeterProvider:
    if exporter == "none":
        return MeterProvider(resource=resource)
    reader = PeriodicExportingMetricReader(_metric_exporter(exporter, endpoint, path))
    return MeterProvider(resource=resource, metric_readers=[reader])


def _metric_exporter(
    exporter: Exporter, endpoint: str | None, path: str | os.PathLike[str]
) -> MetricExporter:
    match exporter:
        case "otlp":
            return _otlp_metric_exporter(endpoint)
        case "file":
            return OTLPJsonFileMetricExporter(path)
        case _:
            return ConsoleMetricExporter()


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


def _destination(exporter: str, endpoint: str | None, path: str | os.PathLike[str]) -> str:
    if exporter == "file":
        return os.fspath(path)
    if exporter == "otlp":
        # Shown in messages: a collector URL may carry user:password@.
        return redact(endpoint) if endpoint else "the OTEL_EXPORTER_OTLP_* endpoint"
    return exporter


class _ObservedExporter(SpanExporter):
    """Passes spans to the wrapped exporter and records in ``status`` what became of them."""

    def __init__(self, wrapped: SpanExporter, status: ExportStatus) -> None:
        self._wrapped = wrapped
        self._status = status

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
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


def _otlp_protocol(signal: str) -> str:
    protocol = (
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol not in ("grpc", "http/protobuf"):
        # OpenTelemetry Python has no http/json exporter: sending protobuf to a
        # receiver told to expect JSON would fail on every export, so say so now.
        raise DQXError(
            f"unsupported OTLP protocol {protocol!r} (from OTEL_EXPORTER_OTLP_PROTOCOL); "
            "use grpc or http/protobuf"
        )
    return protocol


def _signal_url(endpoint: str, path: str) -> str:
    """An OTLP/HTTP base URL, or another signal's full URL, made the URL of ``path``."""
    base = endpoint.rstrip("/")
    for known in ("/v1/traces", "/v1/metrics"):
        base = base.removesuffix(known)
    return base + path


def _otlp_metric_exporter(endpoint: str | None) -> MetricExporter:
    if _otlp_protocol("METRICS") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        return GrpcMetricExporter(endpoint=endpoint) if endpoint else GrpcMetricExporter()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
        OTLPMetricExporter as HttpMetricExporter,
    )

    if endpoint:
        return HttpMetricExporter(endpoint=_signal_url(endpoint, "/v1/metrics"))
    return HttpMetricExporter()


def _otlp_exporter(endpoint: str | None) -> SpanExporter:
    # Only the chosen protocol's exporter is imported: each brings its own transport
    # (grpcio, requests), and a run needs one.
    protocol = _otlp_protocol("TRACES")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(endpoint=endpoint) if endpoint else GrpcExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return HttpExporter(endpoint=endpoint) if endpoint else HttpExporter()
