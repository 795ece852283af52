"""OTLP JSON lines: the format of the Collector's ``file`` exporter.

One ``TracesData`` or ``MetricsData`` document a line, encoded by OpenTelemetry's own
protobuf encoder and mapped to JSON as the OTLP specification says: lowerCamelCase
field names, trace and span ids as hex strings (not protobuf JSON's base64; an
exemplar's ids too), enums as integers. Like the Collector's exporter serving a traces
and a metrics pipeline, both signals may share one file: the trace readers skip the
metrics lines.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from dqx.runlog import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

__all__ = [
    "OTLPJsonFileMetricExporter",
    "OTLPJsonFileSpanExporter",
    "metrics_to_otlp_json",
    "spans_to_otlp_json",
]

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")

log = get_logger(__name__)


def _hex_ids(node: Any) -> None:
    # Protobuf's JSON mapping writes bytes as base64; OTLP/JSON wants ids in hex.
    import base64

    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def spans_to_otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """A TracesData document (``{"resourceSpans": [...]}``) for the spans."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    document: dict[str, Any] = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    _hex_ids(document)
    return document


def metrics_to_otlp_json(data: MetricsData) -> dict[str, Any]:
    """A MetricsData document (``{"resourceMetrics": [...]}``) for the SDK's metrics."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics

    document: dict[str, Any] = MessageToDict(encode_metrics(data), use_integers_for_enums=True)
    _hex_ids(document)
    return document


class OTLPJsonFileSpanExporter(SpanExporter):
    """Appends each export call's spans to a file as one line of OTLP JSON.

    One line per export call, like the Collector's file exporter writes one line per
    request it receives. The file is opened for each line and written with a single
    append, so a rotated-away file is simply started anew, and several processes can
    share one file on a local file system without interleaving their lines. A path
    ending in ``.gz`` gets one gzip member per line: concatenated members are one
    valid gzip stream, which ``gzip.open`` and ``zcat`` read as the plain lines.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        written = _write_line(
            self._path, self._lock, spans_to_otlp_json(spans), f"{len(spans)} span(s)"
        )
        return SpanExportResult.SUCCESS if written else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self._closed = True

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        # Nothing is buffered: every export has reached the file when it returns.
        return True


class OTLPJsonFileMetricExporter(MetricExporter):
    """Appends each collection's metrics to a file as one line of OTLP JSON.

    The file may be the one the span exporter writes: each line is a whole document
    of one signal, as the Collector's file exporter writes them. Temporality and
    aggregation are the SDK's defaults (cumulative), as an OTLP exporter's are.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        self._path = Path(path)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        if self._closed:
            return MetricExportResult.FAILURE
        if not metrics_data.resource_metrics:
            return MetricExportResult.SUCCESS
        document = metrics_to_otlp_json(metrics_data)
        written = _write_line(self._path, self._lock, document, "metrics")
        return MetricExportResult.SUCCESS if written else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._closed = True


def _write_line(path: Path, lock: threading.Lock, document: dict[str, Any], what: str) -> bool:
    """Append ``document`` as one line (one gzip member for a ``.gz`` path); False when
    the file refused it, which is logged: the SDK drops a failed export without a word."""
    import json

    line = (json.dumps(document, separators=(",", ":")) + "\n").encode()
    if path.suffix == ".gz":
        import gzip

        line = gzip.compress(line)
    try:
        with lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            _append(path, line)
    except OSError as exc:
        log.warning("cannot append %s to %s: %s", what, path, exc)
        return False
    return True


def _append(path: Path, data: bytes) -> None:
    # O_APPEND puts every write at the current end, even with other writers.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
