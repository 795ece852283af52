"""Reading OTLP ``TracesData`` in JSON, in each dialect the back-ends write.

* OTLP/JSON (the Collector's ``file`` exporter, Jaeger's ``/api/v3``): ids in hex,
  enums as integers, int64 as strings or numbers.
* Protobuf JSON (Tempo's ``/api/v2/traces`` and ``/api/traces``): ids in base64,
  enums as their names (``STATUS_CODE_ERROR``).
* Older documents name ``scopeSpans`` ``instrumentationLibrarySpans``; Tempo's v1
  API names ``resourceSpans`` ``batches``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dqx.common import TraceReadError
from dqx.traces.model import (
    SpanEvent,
    TraceSpan,
    malformed_document,
    normalize_span_id,
    normalize_trace_id,
    otlp_attributes,
)

__all__ = ["spans_from_otlp_json"]

_STATUS_NAMES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def _status(span: Mapping[str, Any]) -> str:
    code = (span.get("status") or {}).get("code", 0)
    if isinstance(code, str):
        if code.isdigit():
            return _STATUS_NAMES.get(int(code), "UNSET")
        return code.removeprefix("STATUS_CODE_") or "UNSET"
    return _STATUS_NAMES.get(int(code), "UNSET")


def _nanos(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _span(span: Mapping[str, Any], service_name: str | None) -> TraceSpan:
    parent = span.get("parentSpanId") or None
    events = tuple(
        SpanEvent(
            name=str(event.get("name", "")),
            time_unix_nano=_nanos(event.get("timeUnixNano")),
            attributes=otlp_attributes(event.get("attributes")),
        )
        for event in span.get("events") or ()
    )
    return TraceSpan(
        trace_id=normalize_trace_id(span.get("traceId")),
        span_id=normalize_span_id(span.get("spanId")),
        parent_span_id=normalize_span_id(parent) if parent else None,
        name=str(span.get("name", "")),
        start_time_unix_nano=_nanos(span.get("startTimeUnixNano")),
        end_time_unix_nano=_nanos(span.get("endTimeUnixNano")),
        attributes=otlp_attributes(span.get("attributes")),
        events=events,
        status=_status(span),
        service_name=service_name,
    )


def spans_from_otlp_json(document: Any, *, where: str) -> list[TraceSpan]:
    """Every span of a ``TracesData`` document (``resourceSpans`` or Tempo's ``batches``).

    ``where`` names the document in errors: a URL, or a file and line.
    """
    if not isinstance(document, Mapping):
        raise TraceReadError(f"{where}: expected an OTLP TracesData object, got {document!r:.80}")
    if "resourceSpans" in document:
        resource_spans = document["resourceSpans"]
    elif "batches" in document:
        resource_spans = document["batches"]
    else:
        raise TraceReadError(
            f"{where}: not an OTLP TracesData document (no 'resourceSpans' or 'batches'; "
            f"keys {sorted(document)[:5]})"
        )
    spans: list[TraceSpan] = []
    with malformed_document(where, "OTLP TracesData"):
        for resource_span in resource_spans or ():
            resource = otlp_attributes((resource_span.get("resource") or {}).get("attributes"))
            service = resource.get("service.name")
            scopes = resource_span.get("scopeSpans")
            if scopes is None:
                scopes = resource_span.get("instrumentationLibrarySpans")
            for scope in scopes or ():
                for span in scope.get("spans") or ():
                    spans.append(_span(span, str(service) if service is not None else None))
    return spans
