"""Trace back-ends for tests: real runs' spans served as Jaeger and Tempo serve them.

No Jaeger or Tempo can run here, so a real ``http.server`` on 127.0.0.1 serves
documents shaped as each API documents them, built from the spans a real run exported
to the SDK's in-memory exporter (``tests.support.runs.Traced``):

* Jaeger api_v3 ``GET /api/v3/traces/{id}``: ``{"result": TracesData}`` in OTLP/JSON
  (hex ids, enums as integers, int64 as strings); unknown trace: 404 with
  ``{"error": {"httpCode": 404, "message": ...}}``.
* Jaeger v1 ``GET /api/traces/{id}``: ``{"data": [{"traceID", "spans", "processes",
  "warnings"}], "total", "limit", "offset", "errors"}``; events are span ``logs`` whose
  ``fields`` hold the event name in a field ``event``; times in microseconds.
* Tempo ``GET /api/v2/traces/{id}``: ``{"trace": TracesData, "metrics": {...}}`` in
  protobuf JSON (base64 ids, enums by name, int64 as strings).
* Tempo ``GET /api/traces/{id}``: ``{"batches": [ResourceSpans...]}``, same encoding.
"""

from __future__ import annotations

import base64
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

# -- documents ---------------------------------------------------------------------------

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _ids_to_hex(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: base64.b64decode(value).hex()
            if key in _ID_FIELDS and isinstance(value, str)
            else _ids_to_hex(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_ids_to_hex(item) for item in node]
    return node


def protobuf_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """TracesData as protobuf's JSON mapping writes it (Tempo): base64 ids, enum names."""
    document: dict[str, Any] = MessageToDict(encode_spans(spans))
    return document


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """TracesData as OTLP/JSON (Collector file exporter, Jaeger api_v3): hex ids, enum ints."""
    document = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    converted: dict[str, Any] = _ids_to_hex(document)
    return converted


def jaeger_v3(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    return {"result": otlp_json(spans)}


def tempo_v2(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    return {"trace": protobuf_json(spans), "metrics": {"inspectedBytes": "4096"}}


def tempo_v1(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    return {"batches": protobuf_json(spans).get("resourceSpans", [])}


def _jaeger_tag(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    if isinstance(value, float):
        return {"key": key, "type": "float64", "value": value}
    if isinstance(value, tuple | list):
        return {"key": key, "type": "string", "value": json.dumps(list(value))}
    return {"key": key, "type": "string", "value": str(value)}


def jaeger_v1(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """Jaeger's v1 ``/api/traces/{id}`` document for spans of one trace."""
    if not spans:
        return {"data": [], "total": 0, "limit": 0, "offset": 0, "errors": None}
    first = spans[0].context
    assert first is not None
    trace_id = f"{first.trace_id:032x}"
    rendered = []
    for span in spans:
        context = span.context
        assert context is not None and span.start_time is not None and span.end_time is not None
        references = []
        if span.parent is not None:
            references.append(
                {
                    "refType": "CHILD_OF",
                    "traceID": trace_id,
                    "spanID": f"{span.parent.span_id:016x}",
                }
            )
        tags = [_jaeger_tag(k, v) for k, v in (span.attributes or {}).items()]
        tags.append(_jaeger_tag("span.kind", "internal"))
        tags.append(_jaeger_tag("otel.scope.name", "dqx"))
        if span.status.status_code.name != "UNSET":
            tags.append(_jaeger_tag("otel.status_code", span.status.status_code.name))
        logs = [
            {
                "timestamp": event.timestamp // 1000,
                "fields": [
                    _jaeger_tag("event", event.name),
                    *(_jaeger_tag(k, v) for k, v in (event.attributes or {}).items()),
                ],
            }
            for event in span.events
        ]
        rendered.append(
            {
                "traceID": trace_id,
                "spanID": f"{context.span_id:016x}",
                "operationName": span.name,
                "references": references,
                "startTime": span.start_time // 1000,
                "duration": (span.end_time - span.start_time) // 1000,
                "tags": tags,
                "logs": logs,
                "processID": "p1",
                "warnings": None,
            }
        )
    return {
        "data": [
            {
                "traceID": trace_id,
                "spans": rendered,
                "processes": {
                    "p1": {
                        "serviceName": "dqx-tests",
                        "tags": [_jaeger_tag("telemetry.sdk.language", "python")],
                    }
                },
                "warnings": None,
            }
        ],
        "total": 0,
        "limit": 0,
        "offset": 0,
        "errors": None,
    }


JAEGER_V3_NOT_FOUND = {"error": {"httpCode": 404, "message": "trace not found"}}
JAEGER_V1_NOT_FOUND = {
    "data": None,
    "total": 0,
    "limit": 0,
    "offset": 0,
    "errors": [{"code": 404, "msg": "trace not found"}],
}


# -- the HTTP server ---------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, document: Any, status: int = 200) -> Reply:
        return cls(status, json.dumps(document).encode())


@dataclass
class Backend:
    """What a served back-end answers, and what it was asked."""

    base_url: str
    routes: dict[str, Reply] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    stall: bool = False

    def paths(self) -> list[str]:
        """The paths asked for, without their query."""
        return [path.partition("?")[0] for path, _headers in self.requests]

    def queries(self) -> list[dict[str, str]]:
        """The query parameters of each request, in order."""
        return [dict(urllib.parse.parse_qsl(path.partition("?")[2])) for path, _h in self.requests]


@contextmanager
def serve(routes: Mapping[str, Reply] | None = None) -> Iterator[Backend]:
    """An HTTP server on 127.0.0.1; unknown paths answer 404 with an empty JSON object."""
    backend = Backend("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            backend.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
            if backend.stall:
                backend.release.wait(30)
            # A lookup may carry a query (a time window): routes are by path.
            reply = backend.routes.get(self.path.partition("?")[0], Reply.json({}, 404))
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    backend.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    backend.routes.update(routes or {})
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        backend.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def jaeger_routes(
    trace_id: str, spans: Sequence[ReadableSpan], *, v3: bool = True
) -> dict[str, Reply]:
    """Jaeger with both APIs (or, ``v3=False``, one predating api_v3)."""
    routes = {f"/api/traces/{trace_id}": Reply.json(jaeger_v1(spans))}
    if v3:
        routes[f"/api/v3/traces/{trace_id}"] = Reply.json(jaeger_v3(spans))
    return routes


def tempo_routes(
    trace_id: str, spans: Sequence[ReadableSpan], *, v2: bool = True
) -> dict[str, Reply]:
    """Tempo with both APIs (or, ``v2=False``, one predating /api/v2)."""
    routes = {f"/api/traces/{trace_id}": Reply.json(tempo_v1(spans))}
    if v2:
        routes[f"/api/v2/traces/{trace_id}"] = Reply.json(tempo_v2(spans))
    return routes


def write_otlp_lines(path: Any, spans: Sequence[ReadableSpan], *, per_line: int = 3) -> None:
    """The spans as OTLP JSON lines, a few spans a line, as a Collector batches them."""
    with open(path, "a", encoding="utf-8") as handle:
        for start in range(0, len(spans), per_line):
            handle.write(json.dumps(otlp_json(spans[start : start + per_line])) + "\n")
