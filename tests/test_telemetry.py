"""dqx.telemetry: the root span's id, deep links, and configure() with each exporter.

Exports go through the real OpenTelemetry exporters to receivers the tests start on
127.0.0.1 (OTLP/HTTP and gRPC), decoded with opentelemetry-proto.
"""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import os
import subprocess
import sys
import textwrap
import threading
import urllib.parse
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry import trace
from opentelemetry.context import Context as OTelContext
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.id_generator import IdGenerator

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check, telemetry
from dqx.common import DQXError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB

DAY = dt.date(2024, 5, 6)
EXECUTION_ID = "0af7651916cd43dd8448eb211c80319c"


@check(name="Rows")
def rows_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price").is_gt(0)


def run_suite(provider: trace.TracerProvider) -> VerificationSuite:
    source = DuckRelationDataSource.from_arrow(pa.table({"price": [1.0, 2.0, 4.0]}), "orders")
    suite = VerificationSuite([rows_check], InMemoryMetricDB(), "Rows", tracer_provider=provider)
    suite.run([source], ResultKey(DAY, {"env": "test"}))
    return suite


# -- the root span's trace id -------------------------------------------------------------


class Sequential(IdGenerator):
    """Predictable ids, so a test can tell which generator made a span's ids."""

    def __init__(self) -> None:
        self.trace_ids = itertools.count(1)
        self.span_ids = itertools.count(1)

    def generate_trace_id(self) -> int:
        return next(self.trace_ids)

    def generate_span_id(self) -> int:
        return next(self.span_ids)


def test_only_the_run_root_takes_the_execution_id_other_spans_keep_their_generator() -> None:
    generator = Sequential()
    provider = TracerProvider(id_generator=generator)
    app = provider.get_tracer("app")
    dqx_tracer = telemetry.get_tracer(provider)

    before = app.start_span("before")
    with telemetry.start_run_span(dqx_tracer, EXECUTION_ID, {}) as root:
        inside_new_trace = app.start_span("elsewhere", context=OTelContext())
        child = dqx_tracer.start_span("child")
    after = dqx_tracer.start_span("after", context=OTelContext())

    assert root.get_span_context().trace_id == int(EXECUTION_ID, 16)
    assert child.get_span_context().trace_id == int(EXECUTION_ID, 16)
    assert [s.get_span_context().trace_id for s in (before, inside_new_trace, after)] == [1, 2, 3]
    # The execution id is random; a generator that is not random keeps saying so.
    assert root.get_span_context().trace_flags.random_trace_id
    assert not after.get_span_context().trace_flags.random_trace_id
    assert not trace.get_current_span().get_span_context().is_valid


def test_the_execution_id_is_accepted_in_its_dashed_uppercase_form() -> None:
    provider = TracerProvider()
    dashed = str(EXECUTION_ID.upper())
    dashed = f"{dashed[:8]}-{dashed[8:12]}-{dashed[12:16]}-{dashed[16:20]}-{dashed[20:]}"
    with telemetry.start_run_span(telemetry.get_tracer(provider), dashed, {}) as root:
        assert root.get_span_context().trace_id == int(EXECUTION_ID, 16)


# -- trace_url ----------------------------------------------------------------------------


@pytest.fixture
def no_link_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DQX_JAEGER_URL", raising=False)
    monkeypatch.delenv("DQX_GRAFANA_URL", raising=False)


@pytest.mark.usefixtures("no_link_env")
def test_trace_url_links_jaeger_and_grafana_explore_by_trace_id() -> None:
    links = telemetry.trace_url(
        EXECUTION_ID,
        jaeger="http://jaeger:16686/",
        grafana="https://grafana.example/",
        tempo_uid="tempo-main",
    )
    assert links.trace_id == EXECUTION_ID
    assert links.jaeger == f"http://jaeger:16686/trace/{EXECUTION_ID}"

    assert links.grafana is not None
    url = urllib.parse.urlsplit(links.grafana)
    assert (url.scheme, url.netloc, url.path) == ("https", "grafana.example", "/explore")
    query = urllib.parse.parse_qs(url.query)
    (pane,) = json.loads(query["panes"][0]).values()
    assert pane["datasource"] == "tempo-main"
    (tempo_query,) = pane["queries"]
    assert tempo_query["datasource"] == {"type": "tempo", "uid": "tempo-main"}
    assert tempo_query["queryType"] == "traceql"
    assert tempo_query["query"] == EXECUTION_ID
    assert links.as_dict() == {
        "trace_id": EXECUTION_ID,
        "jaeger": links.jaeger,
        "grafana": links.grafana,
    }


@pytest.mark.usefixtures("no_link_env")
def test_trace_url_normalises_ids_and_rejects_malformed_ones() -> None:
    dashed = "0AF76519-16CD-43DD-8448-EB211C80319C"
    assert telemetry.trace_url(dashed, jaeger="http://j").jaeger == f"http://j/trace/{EXECUTION_ID}"
    for bad in ("", "0af7651916cd43dd", EXECUTION_ID + "00", "zz" * 16):
        with pytest.raises(ValueError, match="execution id"):
            telemetry.trace_url(bad, jaeger="http://j")


def test_trace_url_reads_base_urls_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQX_JAEGER_URL", "http://jaeger.internal")
    monkeypatch.delenv("DQX_GRAFANA_URL", raising=False)
    links = telemetry.trace_url(EXECUTION_ID)
    assert links.jaeger == f"http://jaeger.internal/trace/{EXECUTION_ID}"
    assert links.grafana is None
    assert links.as_dict() == {"trace_id": EXECUTION_ID, "jaeger": links.jaeger}


# -- configure(): receivers -----------------------------------------------------------------


@dataclass
class Received:
    requests: list[trace_service_pb2.ExportTraceServiceRequest] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def spans(self) -> list[tuple[dict[str, Any], trace_pb2.Span]]:
        """Every span received, with its resource's attributes."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = trace_service_pb2.ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.requests.append(request)
            received.paths.append(self.path)
            received.headers.append({k.lower(): v for k, v in self.headers.items()})
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def grpc_receiver() -> Iterator[tuple[str, Received]]:
    import grpc

    received = Received()

    class Service(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(
            self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
        ) -> trace_service_pb2.ExportTraceServiceResponse:
            received.requests.append(request)
            received.headers.append(dict(context.invocation_metadata()))
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}", received
    server.stop(None)


@pytest.fixture
def clean_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


def assert_run_received(received: Received, suite: VerificationSuite) -> dict[str, Any]:
    spans = received.spans()
    run_spans = [s for _r, s in spans if s.trace_id == bytes.fromhex(suite.execution_id)]
    names = {s.name for s in run_spans}
    assert {"dqx.suite.run", "dqx.analyze", "dqx.persist", "dqx.evaluate"} <= names
    (root,) = [s for s in run_spans if s.name == "dqx.suite.run"]
    assert root.parent_span_id == b""
    metric_events = [e for s in run_spans for e in s.events if e.name == "dqx.metric"]
    assert len(metric_events) == len(suite.result.metrics if suite.result else ())
    resources = [r for r, s in spans if s.trace_id == bytes.fromhex(suite.execution_id)]
    return resources[0]


@pytest.mark.usefixtures("clean_otel_env")
def test_configure_otlp_sends_the_run_over_http_protobuf(
    http_receiver: tuple[str, Received],
) -> None:
    endpoint, received = http_receiver
    provider = telemetry.configure(
        service_name="orders-dq", exporter="otlp", endpoint=endpoint, set_global=False
    )
    suite = run_suite(provider)
    provider.shutdown()  # flushes the batch processor

    assert set(received.paths) == {"/v1/traces"}
    assert {h["content-type"] for h in received.headers} == {"application/x-protobuf"}
    resource = assert_run_received(received, suite)
    assert resource["service.name"] == "orders-dq"


@pytest.mark.usefixtures("clean_otel_env")
def test_configure_otlp_honours_the_standard_environment(
    http_receiver: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, received = http_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=data-quality")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "nightly-dq")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci")
    provider = telemetry.configure(exporter="otlp", set_global=False)
    suite = run_suite(provider)
    provider.shutdown()

    # The generic endpoint gets the signal path appended, as the spec says.
    assert set(received.paths) == {"/v1/traces"}
    assert {h["x-team"] for h in received.headers} == {"data-quality"}
    resource = assert_run_received(received, suite)
    assert resource["service.name"] == "nightly-dq"
    assert resource["deployment.environment"] == "ci"


@pytest.mark.usefixtures("clean_otel_env")
def test_a_service_name_in_resource_attributes_wins_over_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    provider = telemetry.configure(exporter="none", set_global=False)
    assert provider.resource.attributes["service.name"] == "from-attributes"
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES")
    provider = telemetry.configure(service_name="given", exporter="none", set_global=False)
    assert provider.resource.attributes["service.name"] == "given"


@pytest.mark.usefixtures("clean_otel_env")
def test_configure_otlp_sends_the_run_over_grpc(
    grpc_receiver: tuple[str, Received], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, received = grpc_receiver
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team=data-quality")
    provider = telemetry.configure(
        service_name="grpc-dq", exporter="otlp", endpoint=endpoint, set_global=False
    )
    suite = run_suite(provider)
    provider.shutdown()

    assert {h["x-team"] for h in received.headers} == {"data-quality"}
    assert assert_run_received(received, suite)["service.name"] == "grpc-dq"


@pytest.mark.usefixtures("clean_otel_env")
def test_configure_rejects_protocols_and_exporters_it_cannot_serve(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
    with pytest.raises(DQXError, match="http/json"):
        telemetry.configure(exporter="otlp", set_global=False)
    with pytest.raises(DQXError, match="'zipkin'"):
        telemetry.configure(exporter="zipkin", set_global=False)  # type: ignore[arg-type]


@pytest.mark.usefixtures("clean_otel_env")
def test_configure_file_writes_otlp_json_lines_holding_the_run(tmp_path: Path) -> None:
    path = tmp_path / "traces" / "dqx.jsonl"
    provider = telemetry.configure(exporter="file", path=path, set_global=False)
    suite = run_suite(provider)
    provider.shutdown()

    documents = [json.loads(line) for line in path.read_text().splitlines()]
    spans = [
        span
        for document in documents
        for resource_spans in document["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]
    run_spans = [s for s in spans if s["traceId"] == suite.execution_id]
    assert {s["name"] for s in run_spans} >= {"dqx.suite.run", "dqx.persist", "dqx.evaluate"}
    (root,) = [s for s in run_spans if s["name"] == "dqx.suite.run"]
    assert "parentSpanId" not in root
    attributes = {a["key"]: a["value"] for a in root["attributes"]}
    assert attributes["dqx.execution_id"] == {"stringValue": suite.execution_id}


@pytest.mark.usefixtures("clean_otel_env")
def test_configure_none_records_nothing_and_says_so(tmp_path: Path) -> None:
    provider = telemetry.configure(exporter="none", set_global=False)
    suite = run_suite(provider)
    assert suite.result is not None and suite.result.trace_sampled is False
    assert len(suite.collect_results()) == 2


def test_configure_without_set_global_leaves_the_global_provider_alone() -> None:
    before = trace.get_tracer_provider()
    provider = telemetry.configure(exporter="none", set_global=False)
    assert trace.get_tracer_provider() is before is not provider


_GLOBAL_SCRIPT = textwrap.dedent(
    """
    import datetime as dt, sys
    import pyarrow as pa
    from opentelemetry import trace
    from dqx import ResultKey, VerificationSuite, check, telemetry
    from dqx.common import DQXError
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import InMemoryMetricDB

    @check(name="Rows")
    def rows(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)

    # Made before any provider is installed: the run looks the global one up itself.
    suite = VerificationSuite([rows], InMemoryMetricDB(), "Rows")
    provider = telemetry.configure(exporter=sys.argv[1], path=sys.argv[2])
    assert trace.get_tracer_provider() is provider
    source = DuckRelationDataSource.from_arrow(pa.table({"x": [1, 2]}), "t")
    suite.run([source], ResultKey(dt.date(2024, 5, 6)))
    try:
        telemetry.configure(exporter="none")
    except DQXError as exc:
        print("second install:", exc, file=sys.stderr)
    provider.shutdown()
    print(suite.execution_id)
    """
)


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", _GLOBAL_SCRIPT, *args],
        capture_output=True,
        text=True,
        env=clean | (env or {}),
        timeout=120,
        check=False,
    )


def test_configure_installs_the_global_provider_once_and_runs_use_it(tmp_path: Path) -> None:
    path = tmp_path / "global.jsonl"
    done = run_script("file", str(path))
    assert done.returncode == 0, done.stderr
    execution_id = done.stdout.strip()
    assert "second install: a global tracer provider is already installed" in done.stderr
    trace_ids = {
        span["traceId"]
        for line in path.read_text().splitlines()
        for resource_spans in json.loads(line)["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    }
    assert trace_ids == {execution_id}


def test_configure_console_prints_the_spans_to_stdout(tmp_path: Path) -> None:
    done = run_script("console", str(tmp_path / "unused"), env={"OTEL_SERVICE_NAME": "printed"})
    assert done.returncode == 0, done.stderr
    execution_id = done.stdout.strip().splitlines()[-1]
    printed = done.stdout
    assert '"name": "dqx.suite.run"' in printed
    assert f'"trace_id": "0x{execution_id}"' in printed
    assert '"service.name": "printed"' in printed
    assert not (tmp_path / "unused").exists()


# -- API and SDK apart ---------------------------------------------------------------------

_IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys
    import dqx.links
    links_load = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
    import dqx.api
    from dqx import telemetry
    telemetry.trace_url("0af7651916cd43dd8448eb211c80319c", jaeger="http://j")
    library_loads_sdk = "opentelemetry.sdk" in sys.modules
    telemetry.configure(exporter="none", set_global=False)
    print(json.dumps([links_load, library_loads_sdk, "opentelemetry.sdk" in sys.modules]))
    """
)


def test_library_code_traces_through_the_api_and_only_configure_loads_the_sdk() -> None:
    # A fresh interpreter: this test process has imported the SDK long ago.
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    links_load, library_loads_sdk, configured = json.loads(done.stdout)
    assert links_load == []  # trace links need no OpenTelemetry at all
    assert library_loads_sdk is False
    assert configured is True
