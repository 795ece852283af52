"""Jaeger and Tempo sources read a real run's trace as each API serves it.

Documents come from tests/support/backends.py, built from the run's exported spans and
served by an HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from dqx.common import TraceReadError
from dqx.traces import JaegerTraceSource, TempoTraceSource, Trace, TraceSource
from tests.support.backends import (
    JAEGER_V1_NOT_FOUND,
    JAEGER_V3_NOT_FOUND,
    Reply,
    jaeger_routes,
    jaeger_v3,
    serve,
    tempo_routes,
    tempo_v2,
)
from tests.support.runs import Run


def _assert_is_the_run(trace: Trace | None, run: Run) -> None:
    assert trace is not None and trace.trace_id == run.execution_id
    assert sorted(s.span_id for s in trace.spans) == sorted(
        f"{s.context.span_id:016x}" for s in run.spans if s.context is not None
    )
    assert trace.root is not None and trace.root.name == "dqx.suite.run"
    events = {e.attributes["dqx.metric.id"]: e.attributes for _s, e in trace.events("dqx.metric")}
    assert set(events) == {m.id for m in run.metrics}
    for metric in run.metrics:
        assert events[metric.id]["dqx.metric.name"] == metric.name
        assert events[metric.id].get("dqx.metric.value") == metric.value  # bit for bit


# -- Jaeger ---------------------------------------------------------------------------


def test_jaeger_api_v3_is_read_first(run: Run) -> None:
    with serve(jaeger_routes(run.execution_id, run.spans)) as backend:
        source = JaegerTraceSource(backend.base_url + "/", headers={"Authorization": "Bearer t"})
        assert isinstance(source, TraceSource)
        trace = source.get_trace(run.execution_id)

    _assert_is_the_run(trace, run)
    assert backend.paths() == [f"/api/v3/traces/{run.execution_id}"]
    assert backend.requests[0][1]["authorization"] == "Bearer t"


def test_jaeger_without_api_v3_falls_back_to_the_v1_api(run: Run) -> None:
    with serve(jaeger_routes(run.execution_id, run.spans, v3=False)) as backend:
        trace = JaegerTraceSource(backend.base_url).get_trace(run.execution_id)

    _assert_is_the_run(trace, run)
    assert trace is not None and trace.spans[0].service_name == "dqx-tests"
    assert backend.paths() == [
        f"/api/v3/traces/{run.execution_id}",
        f"/api/traces/{run.execution_id}",
    ]


def test_jaeger_api_v3_streaming_a_trace_in_several_chunks_is_read_whole(run: Run) -> None:
    half = len(run.spans) // 2
    body = json.dumps(jaeger_v3(run.spans[:half])) + json.dumps(jaeger_v3(run.spans[half:]))
    routes = {f"/api/v3/traces/{run.execution_id}": Reply(200, body.encode())}
    with serve(routes) as backend:
        trace = JaegerTraceSource(backend.base_url).get_trace(run.execution_id)

    _assert_is_the_run(trace, run)


def test_a_trace_jaeger_does_not_know_is_none(run: Run) -> None:
    routes = {
        f"/api/v3/traces/{run.execution_id}": Reply.json(JAEGER_V3_NOT_FOUND, 404),
        f"/api/traces/{run.execution_id}": Reply.json(JAEGER_V1_NOT_FOUND, 404),
    }
    with serve(routes) as backend:
        assert JaegerTraceSource(backend.base_url).get_trace(run.execution_id) is None
    assert len(backend.requests) == 2


def test_an_injected_httpx_client_is_used_and_left_open(run: Run) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.startswith("/api/v3/"):
            return httpx.Response(200, json=jaeger_v3(run.spans))
        return httpx.Response(404)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    trace = JaegerTraceSource("http://jaeger.invalid:16686", client=client).get_trace(
        run.execution_id
    )

    _assert_is_the_run(trace, run)
    assert seen == [f"/api/v3/traces/{run.execution_id}"]
    assert not client.is_closed
    client.close()


# -- Tempo ----------------------------------------------------------------------------


def test_tempo_api_v2_with_base64_ids_is_read_first(run: Run) -> None:
    with serve(tempo_routes(run.execution_id, run.spans)) as backend:
        source = TempoTraceSource(backend.base_url, headers={"X-Scope-OrgID": "team-a"})
        trace = source.get_trace(run.execution_id)

    _assert_is_the_run(trace, run)
    assert backend.paths() == [f"/api/v2/traces/{run.execution_id}"]
    assert backend.requests[0][1]["x-scope-orgid"] == "team-a"


def test_tempo_without_api_v2_falls_back_to_batches_from_the_v1_api(run: Run) -> None:
    with serve(tempo_routes(run.execution_id, run.spans, v2=False)) as backend:
        trace = TempoTraceSource(backend.base_url).get_trace(run.execution_id)

    _assert_is_the_run(trace, run)
    assert backend.paths()[-1] == f"/api/traces/{run.execution_id}"


def test_a_partial_tempo_trace_carries_tempos_warning(run: Run) -> None:
    document = {**tempo_v2(run.spans), "status": "PARTIAL", "message": "too large"}
    with serve({f"/api/v2/traces/{run.execution_id}": Reply.json(document)}) as backend:
        trace = TempoTraceSource(backend.base_url).get_trace(run.execution_id)

    assert trace is not None and any("PARTIAL" in w for w in trace.warnings)


def test_a_trace_tempo_does_not_know_is_none(run: Run) -> None:
    with serve({}) as backend:
        assert TempoTraceSource(backend.base_url).get_trace(run.execution_id) is None
    assert backend.paths() == [
        f"/api/v2/traces/{run.execution_id}",
        f"/api/traces/{run.execution_id}",
    ]


# -- failures -------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("source_type", [JaegerTraceSource, TempoTraceSource])
def test_an_unreachable_backend_is_a_trace_read_error_naming_it(
    run: Run, source_type: type[JaegerTraceSource | TempoTraceSource]
) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(TraceReadError, match="cannot reach") as raised:
        source_type(base_url).get_trace(run.execution_id)
    assert base_url in str(raised.value)


def test_a_backend_that_does_not_answer_in_time_is_a_trace_read_error(run: Run) -> None:
    with serve({}) as backend:
        backend.stall = True
        with pytest.raises(TraceReadError, match=r"did not answer within 0\.2 s"):
            JaegerTraceSource(backend.base_url, timeout=0.2).get_trace(run.execution_id)


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_are_a_trace_read_error_saying_so(run: Run, status: int) -> None:
    routes = {f"/api/v2/traces/{run.execution_id}": Reply.json({"error": "no"}, status)}
    with (
        serve(routes) as backend,
        pytest.raises(TraceReadError, match=rf"HTTP {status}.*headers= or auth="),
    ):
        TempoTraceSource(backend.base_url).get_trace(run.execution_id)
    assert len(backend.requests) == 1


def test_documents_that_are_not_traces_are_a_trace_read_error(run: Run) -> None:
    routes = {
        f"/api/v3/traces/{run.execution_id}": Reply(200, b"<html>Jaeger UI</html>", "text/html"),
        f"/api/traces/{run.execution_id}": Reply.json({"unexpected": True}),
    }
    with serve(routes) as backend, pytest.raises(TraceReadError) as raised:
        JaegerTraceSource(backend.base_url).get_trace(run.execution_id)
    message = str(raised.value)
    assert "not JSON" in message and "no 'data'" in message
    assert f"/api/traces/{run.execution_id}" in message


def test_a_server_error_with_no_fallback_answer_is_a_trace_read_error(run: Run) -> None:
    routes = {
        f"/api/v2/traces/{run.execution_id}": Reply(500, b"ingester unavailable", "text/plain"),
    }
    with (
        serve(routes) as backend,
        pytest.raises(TraceReadError, match=r"HTTP 500.*ingester unavailable"),
    ):
        TempoTraceSource(backend.base_url).get_trace(run.execution_id)


def test_a_base_url_that_is_not_http_is_refused_up_front() -> None:
    with pytest.raises(TraceReadError, match="http"):
        JaegerTraceSource("localhost:16686")
