"""The trace readers take what real deployments hand them: the Collector's files
compressed with zstd (its file exporter's only compression) as well as gzip, answers
that come through a proxy's redirects, and Tempo's word that a trace is PARTIAL, which
the reconciliation's summary repeats.

The zstd files are written as the Collector writes them (fileexporter ``codec.go`` and
``file_writer.go``: each export a 4-byte big-endian length, then one zstd frame of the
JSON document, or of the protobuf with ``format: proto``), with the zstandard library;
tests/e2e_real/test_zstd_file.py reads one the real Collector wrote.
"""

from __future__ import annotations

import gzip
import http.server
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from dqx import reconcile
from dqx.orm.repositories import MetricDB
from dqx.traces import JaegerTraceSource, OTLPFileTraceSource, TempoTraceSource
from tests.support.backends import Reply, jaeger_routes, otlp_json, serve, tempo_routes, tempo_v2
from tests.support.runs import Traced, run_suite


def _batches(spans: list[ReadableSpan], size: int = 3) -> list[list[ReadableSpan]]:
    return [spans[i : i + size] for i in range(0, len(spans), size)]


def _record(payload: bytes, *, sized: bool = True) -> bytes:
    if sized:
        frame = zstandard.ZstdCompressor().compress(payload)
    else:
        # A streaming writer's frame does not say its size.
        compressor = zstandard.ZstdCompressor().compressobj()
        frame = compressor.compress(payload) + compressor.flush()
    return len(frame).to_bytes(4, "big") + frame


def _collector_zstd_json(spans: list[ReadableSpan], path: Path) -> Path:
    records = [
        _record(json.dumps(otlp_json(batch)).encode(), sized=i % 2 == 0)
        for i, batch in enumerate(_batches(spans))
    ]
    path.write_bytes(b"".join(records))
    return path


def _collector_zstd_proto(spans: list[ReadableSpan], path: Path) -> Path:
    payloads = [encode_spans(batch).SerializeToString() for batch in _batches(spans)]
    path.write_bytes(b"".join(_record(payload) for payload in payloads))
    return path


def _collector_proto(spans: list[ReadableSpan], path: Path) -> Path:
    payloads = [encode_spans(batch).SerializeToString() for batch in _batches(spans)]
    path.write_bytes(b"".join(len(p).to_bytes(4, "big") + p for p in payloads))
    return path


def _lines(spans: list[ReadableSpan]) -> bytes:
    return b"".join(json.dumps(otlp_json(b)).encode() + b"\n" for b in _batches(spans))


def _logrotate_zstd(spans: list[ReadableSpan], path: Path) -> Path:
    # The live file is empty; the rotated one, compressed whole, holds the run.
    path.write_bytes(b"")
    (path.parent / f"{path.name}.1.zst").write_bytes(
        zstandard.ZstdCompressor().compress(_lines(spans))
    )
    return path


def _logrotate_gzip(spans: list[ReadableSpan], path: Path) -> Path:
    path.write_bytes(b"")
    (path.parent / f"{path.name}.1.gz").write_bytes(gzip.compress(_lines(spans)))
    return path


WRITERS: dict[str, Callable[[list[ReadableSpan], Path], Path]] = {
    "collector zstd json": _collector_zstd_json,
    "collector zstd proto": _collector_zstd_proto,
    "collector proto": _collector_proto,
    "logrotate zstd": _logrotate_zstd,
    "logrotate gzip": _logrotate_gzip,
}


@pytest.mark.parametrize("written_as", list(WRITERS))
def test_collector_files_compressed_with_zstd_reconcile_like_plain_ones(
    store: MetricDB, traced: Traced, tmp_path: Path, written_as: str
) -> None:
    suite = run_suite(store, traced)
    spans = traced.spans(suite.execution_id)
    path = WRITERS[written_as](spans, tmp_path / "dqx-traces.jsonl")

    source = OTLPFileTraceSource(path)
    trace = source.get_trace(suite.execution_id)
    assert trace is not None and len(trace.spans) == len(spans)
    rec = reconcile(store, suite.execution_id, source)
    assert rec.ok and len(rec.matched) == len(store.metrics_for_execution(suite.execution_id))


def test_a_record_the_collector_is_still_writing_is_left_for_the_next_lookup(
    store: MetricDB, traced: Traced, tmp_path: Path
) -> None:
    suite = run_suite(store, traced)
    spans = traced.spans(suite.execution_id)
    path = _collector_zstd_json(spans, tmp_path / "dqx-traces.jsonl")
    whole = path.read_bytes()
    path.write_bytes(whole + _record(b'{"resourceSpans": []}')[:9])

    assert reconcile(store, suite.execution_id, OTLPFileTraceSource(path)).ok


class _Proxy:
    """A proxy in front of a back-end: every path outside ``prefix`` is redirected
    (with its query) into it, where the back-end's routes answer."""

    def __init__(self, routes: dict[str, Reply], prefix: str, status: int) -> None:
        self.routes = {prefix + path: reply for path, reply in routes.items()}
        self.prefix = prefix
        self.status = status
        self.asked: list[str] = []


@pytest.fixture
def proxy_server() -> Iterator[Callable[[_Proxy], str]]:
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(proxy: _Proxy) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.asked.append(self.path)
                path = self.path.partition("?")[0]
                if not path.startswith(proxy.prefix):
                    self.send_response(proxy.status)
                    self.send_header("Location", proxy.prefix + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                reply = proxy.routes.get(path, Reply.json({}, 404))
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("backend", ["jaeger", "tempo"])
def test_a_proxys_redirects_are_followed_to_the_trace_window_and_all(
    store: MetricDB,
    traced: Traced,
    proxy_server: Callable[[_Proxy], str],
    backend: str,
    status: int,
) -> None:
    suite = run_suite(store, traced)
    execution_id = suite.execution_id
    spans = traced.spans(execution_id)
    routes = (jaeger_routes if backend == "jaeger" else tempo_routes)(execution_id, spans)
    proxy = _Proxy(routes, f"/{backend}", status)
    base_url = proxy_server(proxy)
    source = (JaegerTraceSource if backend == "jaeger" else TempoTraceSource)(base_url)

    rec = reconcile(store, execution_id, source)
    assert rec.ok, rec.summary
    assert rec.trace_origin.startswith(f"{base_url}/{backend}/api/")
    # The run's window went through the redirect with the rest of the query.
    followed = [path for path in proxy.asked if path.startswith(f"/{backend}/")]
    assert followed and all("start" in path and "end" in path for path in followed)


@pytest.mark.parametrize("short", [False, True], ids=["every span", "metric spans missing"])
def test_tempos_partial_trace_is_named_in_the_summary(
    store: MetricDB, traced: Traced, short: bool
) -> None:
    suite = run_suite(store, traced)
    execution_id = suite.execution_id
    spans = traced.spans(execution_id)
    returned = [s for s in spans if not (short and s.name == "dqx.metrics")]
    document = {
        **tempo_v2(returned),
        "status": "PARTIAL",
        "message": "trace exceeds max size (max bytes: 5000000)",
    }
    with serve({f"/api/v2/traces/{execution_id}": Reply.json(document)}) as tempo:
        rec = reconcile(store, execution_id, TempoTraceSource(tempo.base_url))

    assert rec.trace_partial
    assert "PARTIAL trace" in rec.summary
    assert any("trace exceeds max size" in warning for warning in rec.warnings)
    assert rec.ok is not short
    assert bool(rec.missing_in_trace) is short
