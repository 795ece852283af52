"""dqx's OpenTelemetry side, split as opentelemetry-python splits API and SDK.

* :mod:`dqx.telemetry.tracing`: the API-only run tracing library code uses
  (:func:`get_tracer`, :func:`start_run_span`, :func:`record_error`, :func:`emit_events`).
* :mod:`dqx.telemetry.metering`: the API-only metrics each run records
  (``dqx.metric.value``, ``dqx.assertions``, run duration and rows scanned).
* :mod:`dqx.telemetry.sdk`: :func:`configure`, the exporters, :func:`export_status` and
  :func:`meter_provider`, for applications, the CLI and tests.
* :mod:`dqx.links`: :func:`trace_url` and :class:`TraceLinks`, no OpenTelemetry at all.

``from dqx import telemetry`` offers the tracing, SDK and link helpers; the SDK module
loads on first use of one of its names, so importing the tracing helpers never loads
``opentelemetry.sdk``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dqx.links import TraceLinks, trace_url
from dqx.telemetry.tracing import (
    EVENTS_PER_SPAN,
    emit_events,
    get_tracer,
    record_error,
    start_run_span,
)

if TYPE_CHECKING:
    from dqx.telemetry.sdk import Exporter, ExportStatus, configure, export_status, meter_provider

__all__ = [
    "EVENTS_PER_SPAN",
    "ExportStatus",
    "Exporter",
    "TraceLinks",
    "configure",
    "emit_events",
    "export_status",
    "get_tracer",
    "meter_provider",
    "record_error",
    "start_run_span",
    "trace_url",
]

_FROM_SDK = frozenset({"ExportStatus", "Exporter", "configure", "export_status", "meter_provider"})


def __getattr__(name: str) -> Any:
    if name not in _FROM_SDK:
        raise AttributeError(f"module 'dqx.telemetry' has no attribute {name!r}")
    from dqx.telemetry import sdk

    return getattr(sdk, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
