"""Reading Jaeger's v1 query API document (``GET /api/traces/{id}``).

``{"data": [{"traceID", "spans": [...], "processes": {...}}], "errors": ...}``: times in
microseconds, attributes as typed ``tags``, span events as ``logs`` whose ``fields``
carry the event's name in a field called ``event`` (Jaeger's OTLP translation).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from dqx.common import TraceReadError
from dqx.traces.model import (
    SpanEvent,
    TraceSpan,
    malformed_document,
    normalize_span_id,
    normalize_trace_id,
)

__all__ = ["spans_from_jaeger_v1"]


def _tag_value(tag: Mapping[str, Any]) -> Any:
    value = tag.get("value")
    match str(tag.get("type", "string")).lower():
        case "bool":
            return value if isinstance(value, bool) else str(value).lower() == "true"
        case "int64":
            return int(value)  # type: ignore[arg-type]
        case "float64":
            return float(value)  # type: ignore[arg-type]
        case "binary":
            return base64.b64decode(str(value))
        case _:
            return value if value is None else str(value)


def _tags(tags: Any) -> dict[str, Any]:
    return {str(tag["key"]): _tag_value(tag) for tag in tags or ()}


def _parent(span: Mapping[str, Any]) -> str | None:
    for reference in span.get("references") or ():
        if reference.get("refType", "CHILD_OF") == "CHILD_OF" and reference.get("spanID"):
            return normalize_span_id(reference["spanID"])
    return None


def _status(tags: Mapping[str, Any]) -> str:
    code = tags.get("otel.status_code")
    if isinstance(code, str) and code:
        return code.upper()
    return "ERROR" if tags.get("error") is True else "UNSET"


def _span(span: Mapping[str, Any], services: Mapping[str, str | None]) -> TraceSpan:
    tags = _tags(span.get("tags"))
    start = int(span.get("startTime", 0))
    events = []
    for log in span.get("logs") or ():
        fields = _tags(log.get("fields"))
        name = fields.pop("event", "")
        events.append(SpanEvent(str(name), int(log.get("timestamp", 0)) * 1000, fields))
    return TraceSpan(
        trace_id=normalize_trace_id(span.get("traceID")),
        span_id=normalize_span_id(span.get("spanID")),
        parent_span_id=_parent(span),
        name=str(span.get("operationName", "")),
        start_time_unix_nano=start * 1000,
        end_time_unix_nano=(start + int(span.get("duration", 0))) * 1000,
        attributes=tags,
        events=tuple(events),
        status=_status(tags),
        service_name=services.get(str(span.get("processID", ""))),
    )


def spans_from_jaeger_v1(document: Any, *, where: str) -> list[TraceSpan]:
    """Every span of every trace in a Jaeger v1 ``/api/traces`` response."""
    if not isinstance(document, Mapping) or "data" not in document:
        raise TraceReadError(f"{where}: not a Jaeger API response (no 'data'): {document!r:.80}")
    spans: list[TraceSpan] = []
    with malformed_document(where, "Jaeger trace"):
        for trace in document["data"] or ():
            services = {
                str(key): process.get("serviceName")
                for key, process in (trace.get("processes") or {}).items()
            }
            for span in trace.get("spans") or ():
                spans.append(_span(span, services))
    return spans
