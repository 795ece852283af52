"""Every lookup of a stored run's trace by id carries the run's time window, as each API
takes it, so Jaeger on Elasticsearch or OpenSearch (which finds a trace by id only
within ``max_span_age``, 72 h by default, unless the lookup names a time range) and
Tempo find old runs: reconcile, metrics_by_execution_id and ``dqx reconcile`` alike.

Jaeger api_v3 takes ``start_time``/``end_time`` as RFC 3339 (its http_gateway parses
RFC3339Nano), v1 ``start``/``end`` in microseconds, Tempo ``start``/``end`` in unix
seconds; the served back-ends below answer as those APIs do.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from dqx import metrics_by_execution_id, reconcile
from dqx.cli import main
from dqx.orm.repositories import MetricDB, RunRecord
from dqx.traces import JaegerTraceSource, TempoTraceSource
from dqx.traces.model import TimeWindow
from tests.support.backends import jaeger_routes, jaeger_v3, serve, tempo_routes
from tests.support.runs import Traced, run_suite

UTC = dt.UTC


def _moment(value: str, unit: str) -> dt.datetime:
    if unit == "rfc3339":
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    scale = 1_000_000 if unit == "us" else 1
    return dt.datetime.fromtimestamp(int(value) / scale, UTC)


def _covers(query: dict[str, str], keys: tuple[str, str], unit: str, run: RunRecord) -> None:
    start, end = (_moment(query[key], unit) for key in keys)
    started = run.started.replace(tzinfo=UTC)
    assert run.finished is not None
    finished = run.finished.replace(tzinfo=UTC)
    assert start <= started - dt.timedelta(minutes=59) and end >= finished + dt.timedelta(
        minutes=59
    )
    # Widened by an hour each side, not left open: an index per day is all it reads.
    assert end - start < (finished - started) + dt.timedelta(hours=2, minutes=1)


@pytest.mark.parametrize(
    ("backend", "keys", "unit"),
    [
        ("jaeger v3", ("start_time", "end_time"), "rfc3339"),
        ("jaeger v1", ("start", "end"), "us"),
        ("tempo v2", ("start", "end"), "s"),
        ("tempo v1", ("start", "end"), "s"),
    ],
)
def test_each_api_is_asked_within_the_runs_window_in_its_own_format(
    store: MetricDB, traced: Traced, backend: str, keys: tuple[str, str], unit: str
) -> None:
    suite = run_suite(store, traced)
    execution_id = suite.execution_id
    spans = traced.spans(execution_id)
    if backend.startswith("jaeger"):
        routes = jaeger_routes(execution_id, spans, v3=backend == "jaeger v3")
    else:
        routes = tempo_routes(execution_id, spans, v2=backend == "tempo v2")
    run = store.run(execution_id)
    assert run is not None
    with serve(routes) as served:
        source = (JaegerTraceSource if backend.startswith("jaeger") else TempoTraceSource)(
            served.base_url
        )
        assert reconcile(store, execution_id, source).ok
        symbols = metrics_by_execution_id(store, execution_id, trace=source)
    assert {s.tags["__origin"] for s in symbols} == {"db+trace"}
    # Every request carried the window, the one that answered in this API's format.
    asked = list(zip(served.paths(), served.queries(), strict=True))
    assert [query for path, query in asked if path in routes]
    for path, query in asked:
        if path.startswith("/api/v3/"):
            _covers(query, ("start_time", "end_time"), "rfc3339", run)
        elif path in routes:
            _covers(query, keys, unit, run)
        else:
            assert {"start", "end"} <= set(query)


class _ElasticJaeger:
    """Jaeger on Elasticsearch as a by-id lookup meets it: a trace whose spans are older
    than max_span_age is found only when the lookup's time range covers them."""

    def __init__(self, execution_id: str, document: dict[str, Any], started: dt.datetime):
        self.execution_id = execution_id
        self.body = json.dumps(document).encode()
        self.started = started.replace(tzinfo=UTC)
        self.asked: list[str] = []

    def answer(self, path: str) -> tuple[int, bytes]:
        self.asked.append(path)
        route, _, query = path.partition("?")
        if route != f"/api/v3/traces/{self.execution_id}":
            return 404, b"{}"
        window = dict(urllib.parse.parse_qsl(query))
        if "start_time" not in window or "end_time" not in window:
            # Beyond max_span_age, and no range to pick the indices by.
            return 404, json.dumps({"error": {"httpCode": 404, "message": "not found"}}).encode()
        start = _moment(window["start_time"], "rfc3339")
        end = _moment(window["end_time"], "rfc3339")
        return (200, self.body) if start <= self.started <= end else (404, b"{}")


@pytest.fixture
def elastic_jaeger(store: MetricDB, traced: Traced) -> Iterator[tuple[_ElasticJaeger, str, str]]:
    suite = run_suite(store, traced)
    execution_id = suite.execution_id
    run = store.run(execution_id)
    assert run is not None
    jaeger = _ElasticJaeger(execution_id, jaeger_v3(traced.spans(execution_id)), run.started)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = jaeger.answer(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield jaeger, f"http://127.0.0.1:{server.server_address[1]}", execution_id
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_run_older_than_max_span_age_is_found_only_because_its_window_is_sent(
    store: MetricDB, elastic_jaeger: tuple[_ElasticJaeger, str, str]
) -> None:
    jaeger, base_url, execution_id = elastic_jaeger
    source = JaegerTraceSource(base_url)

    # Without the run's window (no record of it, or a caller asking by id alone) the
    # back-end finds nothing: exactly what happened before the window was sent.
    assert source.get_trace(execution_id) is None
    rec = reconcile(store, execution_id, source)
    assert rec.trace_found and rec.ok, rec.summary
    assert any("start_time=" in path for path in jaeger.asked)


def test_dqx_reconcile_finds_an_old_run_in_jaeger_on_elasticsearch(
    store_url: str, store: MetricDB, elastic_jaeger: tuple[_ElasticJaeger, str, str]
) -> None:
    _jaeger, base_url, execution_id = elastic_jaeger
    outcome = CliRunner().invoke(
        main,
        ["reconcile", execution_id, "--db", store_url, "--jaeger", base_url],
        env={"DQX_DB_URL": None, "DQX_JAEGER_URL": None, "DQX_TEMPO_URL": None},
    )
    assert outcome.exit_code == 0, outcome.output
    assert "ok" in outcome.output and "0 missing in db" in outcome.output


def test_a_window_is_the_runs_own_time_widened_by_an_hour_and_open_runs_end_now() -> None:
    started = dt.datetime(2024, 3, 2, 10, 0, 0)
    window = TimeWindow.around(started, started + dt.timedelta(minutes=5))
    assert window.start == dt.datetime(2024, 3, 2, 9, 0, tzinfo=UTC)
    assert window.end == dt.datetime(2024, 3, 2, 11, 5, tzinfo=UTC)
    running = TimeWindow.around(dt.datetime.now(UTC).replace(tzinfo=None))
    assert running.end >= dt.datetime.now(UTC) + dt.timedelta(minutes=59)
