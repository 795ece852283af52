"""OTLP JSON lines as the Collector's file exporter writes them, from real SDK spans.

The document shape is checked against the OTLP/JSON rules (lowerCamelCase keys, hex
ids, integer enums) and parsed back strictly into opentelemetry-proto's TracesData.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from dqx.traces import OTLPFileTraceSource
from dqx.traces.otlp_file import OTLPJsonFileSpanExporter

_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def make_spans() -> list[ReadableSpan]:
    """A small trace with every feature the encoding has to carry."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "file-test"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("dqx", "0.1.0")
    caller = tracer.start_span("caller")
    caller.end()
    root = tracer.start_span(
        "dqx.suite.run",
        kind=SpanKind.SERVER,
        links=[Link(caller.get_span_context(), {"dqx.link": "caller"})],
        attributes={
            "dqx.execution_id": "ab" * 16,
            "dqx.metric.count": 42,
            "dqx.suite.passed": False,
            "dqx.dates": ["2024-01-01", "2024-01-02"],
        },
    )
    with (
        trace.use_span(root, end_on_exit=True),
        tracer.start_as_current_span("dqx.metrics") as child,
    ):
        child.add_event("dqx.metric", {"dqx.metric.value": 0.1 + 0.2, "dqx.tags.env": "ü"})
        child.set_status(Status(StatusCode.ERROR, "boom"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def walk_keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from walk_keys(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_keys(item)


def to_protobuf_json(node: Any) -> Any:
    """Undo the one OTLP/JSON difference from protobuf JSON: ids back to base64."""
    if isinstance(node, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode()
            if key in ("traceId", "spanId", "parentSpanId")
            else to_protobuf_json(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [to_protobuf_json(item) for item in node]
    return node


def spans_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        span
        for resource_spans in document["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def test_a_line_is_an_otlp_json_traces_data_document(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "traces.jsonl"
    assert OTLPJsonFileSpanExporter(path).export(spans) is SpanExportResult.SUCCESS

    raw = path.read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    document = json.loads(raw.decode("utf-8"))
    assert set(document) == {"resourceSpans"}
    assert all(_CAMEL.match(key) for key in walk_keys(document))

    by_name = {span["name"]: span for span in spans_of(document)}
    for span in spans:
        written = by_name[span.name]
        assert written["traceId"] == f"{span.context.trace_id:032x}"
        assert written["spanId"] == f"{span.context.span_id:016x}"
        if span.parent is not None:
            assert written["parentSpanId"] == f"{span.parent.span_id:016x}"
        else:
            assert "parentSpanId" not in written
    root, child = by_name["dqx.suite.run"], by_name["dqx.metrics"]
    assert root["kind"] == 2  # SPAN_KIND_SERVER, as an integer
    assert child["status"] == {"code": 2, "message": "boom"}  # STATUS_CODE_ERROR
    (link,) = root["links"]
    caller = by_name["caller"]
    assert (link["traceId"], link["spanId"]) == (caller["traceId"], caller["spanId"])
    attributes = {a["key"]: a["value"] for a in root["attributes"]}
    assert attributes["dqx.metric.count"] == {"intValue": "42"}
    assert attributes["dqx.suite.passed"] == {"boolValue": False}
    (event,) = child["events"]
    event_attributes = {a["key"]: a["value"] for a in event["attributes"]}
    assert event_attributes["dqx.metric.value"] == {"doubleValue": 0.1 + 0.2}
    assert event_attributes["dqx.tags.env"] == {"stringValue": "ü"}

    # Strictly the TracesData schema, carrying exactly what the OTLP encoder encodes.
    parsed = json_format.ParseDict(to_protobuf_json(document), trace_pb2.TracesData())
    assert parsed.SerializeToString() == encode_spans(spans).SerializeToString()


def test_each_export_call_is_one_line_like_the_collectors_requests(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "traces.jsonl"
    exporter = OTLPJsonFileSpanExporter(path)
    exporter.export(spans[:2])
    exporter.export(spans[2:])
    assert exporter.export([]) is SpanExportResult.SUCCESS

    lines = path.read_text(encoding="utf-8").splitlines()
    assert [len(spans_of(json.loads(line))) for line in lines] == [2, len(spans) - 2]

    # Under a batch processor, one batch is one export call and one line.
    batched = tmp_path / "batched.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPJsonFileSpanExporter(batched)))
    tracer = provider.get_tracer("t")
    for n in range(5):
        tracer.start_span(f"s{n}").end()
    provider.force_flush()
    (line,) = batched.read_text(encoding="utf-8").splitlines()
    assert len(spans_of(json.loads(line))) == 5
    provider.shutdown()


def test_appends_survive_existing_content_and_rotation(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "traces.jsonl"
    path.write_text('{"resourceSpans":[]}\n', encoding="utf-8")
    exporter = OTLPJsonFileSpanExporter(path)
    exporter.export(spans[:1])
    rotated = path.rename(tmp_path / "traces.jsonl.1")
    exporter.export(spans[1:])

    old = rotated.read_text(encoding="utf-8").splitlines()
    assert old[0] == '{"resourceSpans":[]}' and len(old) == 2
    (new,) = path.read_text(encoding="utf-8").splitlines()
    assert len(spans_of(json.loads(new))) == len(spans) - 1


def test_a_gz_path_gets_one_gzip_member_per_export_and_reads_back(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "traces.jsonl.gz"
    exporter = OTLPJsonFileSpanExporter(path)
    exporter.export(spans[:1])
    exporter.export(spans[1:])

    assert path.read_bytes().count(b"\x1f\x8b\x08") >= 2
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    assert sum(len(spans_of(json.loads(line))) for line in lines) == len(spans)
    assert len(lines) == 2

    run = next(s for s in spans if s.name == "dqx.suite.run")
    found = OTLPFileTraceSource(path).get_trace(f"{run.context.trace_id:032x}")
    assert found is not None
    assert {s.name for s in found.spans} == {"dqx.suite.run", "dqx.metrics"}


def test_exporters_sharing_a_file_never_interleave_lines(tmp_path: Path) -> None:
    spans = make_spans()
    path = tmp_path / "shared.jsonl"
    exporters = [OTLPJsonFileSpanExporter(path) for _ in range(4)]

    def write(exporter: OTLPJsonFileSpanExporter) -> None:
        for _ in range(25):
            exporter.export(spans)

    threads = [threading.Thread(target=write, args=(e,)) for e in exporters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 100
    assert all(len(spans_of(json.loads(line))) == len(spans) for line in lines)


def test_export_reports_failure_instead_of_raising(tmp_path: Path) -> None:
    spans = make_spans()
    (tmp_path / "a-directory").mkdir()
    assert OTLPJsonFileSpanExporter(tmp_path / "a-directory").export(spans) is (
        SpanExportResult.FAILURE
    )

    path = tmp_path / "closed.jsonl"
    exporter = OTLPJsonFileSpanExporter(path)
    exporter.shutdown()
    assert exporter.export(spans) is SpanExportResult.FAILURE
    assert not path.exists()


def test_missing_directories_are_created_but_not_for_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "traces.jsonl"
    exporter = OTLPJsonFileSpanExporter(path)
    assert exporter.export([]) is SpanExportResult.SUCCESS
    assert not path.parent.exists()
    assert exporter.export(make_spans()) is SpanExportResult.SUCCESS
    assert path.read_text(encoding="utf-8").count("\n") == 1
