"""The real programs the end-to-end tests run, on free loopback ports.

* Jaeger v2 (``github.com/jaegertracing/jaeger/cmd/jaeger``) runs ``deploy/jaeger.yaml``
  (in-memory storage) with only its listen addresses changed on the command line.
* A second Jaeger stands in for Tempo (none can be built here), so the collector's
  ``otlp/tempo`` exporter has a real OTLP receiver too.
* The collector (``tools/otelcol-dqx``) runs ``otel-collector.yaml`` as shipped; its
  addresses and files come from the ``DQX_COLLECTOR_*`` variables that file reads. Its
  metrics go to a local HTTP receiver standing in for Prometheus's OTLP receiver.

``make e2e`` builds the binaries (``tools/build.sh``) and passes their paths in
``DQX_JAEGER_BIN`` and ``DQX_OTELCOL_BIN``; without them the tests look in the build
cache. A missing binary skips the tests, saying why, or fails them when
``DQX_REQUIRE_SERVICES`` is set (CI).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from dqx.common import TraceReadError
from dqx.traces import JaegerTraceSource, OTLPFileTraceSource
from dqx.traces.model import Trace
from tests.services import POSTGRES_CONNINFO, POSTGRES_SERVER, require_postgres, unavailable
from tests.support.receivers import Receiver

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIG = ROOT / "otel-collector.yaml"
JAEGER_CONFIG = ROOT / "deploy" / "jaeger.yaml"
BUILD = ROOT / "tools" / "build.sh"
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def tool(name: str, env_var: str) -> Path:
    """The built binary: from ``make e2e``'s variable, else from the build cache."""
    given = os.environ.get(env_var)
    if given:
        path = Path(given)
    else:
        answer = subprocess.run(
            ["bash", str(BUILD), "path", name], capture_output=True, text=True, check=False
        )
        path = Path(answer.stdout.strip())
    if not path.is_file() or not os.access(path, os.X_OK):
        unavailable(f"the {name} binary", f"not built ({path})", remedy="run `make tools`")
    return path


# -- processes ---------------------------------------------------------------------------


@dataclass
class Program:
    """A real program running in the background, its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self, ready: Callable[[], bool], timeout: float = STARTUP_TIMEOUT) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited with {self.process.returncode} while starting:\n"
                    + self.log_tail(),
                    pytrace=False,
                )
            if ready():
                return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"{self.name} not ready after {timeout} s:\n" + self.log_tail(), pytrace=False)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM (the collector then drains and shuts down), SIGKILL if it hangs."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def _http_ok(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return ready


def wait_for(
    what: str, probe: Callable[[], object], timeout: float = 30.0, interval: float = 0.25
) -> object:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` if never."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{what}: not seen within {timeout} s", pytrace=False)
        time.sleep(interval)


# -- Jaeger ------------------------------------------------------------------------------


@dataclass
class Jaeger:
    program: Program
    query_url: str  # UI and query APIs (v1 /api/traces, v3 /api/v3/traces)
    otlp_grpc: str  # host:port of its OTLP/gRPC receiver

    def source(self, api: str = "v3") -> JaegerTraceSource:
        """A reader of this Jaeger; ``api="v1"`` hides api_v3 so the reader falls back."""
        if api == "v3":
            return JaegerTraceSource(self.query_url)
        return JaegerTraceSource(self.query_url, client=httpx.Client(transport=_V1Only()))

    def trace(self, execution_id: str, span_ids: set[str], api: str = "v3") -> Trace:
        """The trace, once Jaeger holds every one of ``span_ids``."""

        def probe() -> Trace | None:
            trace = self.source(api).get_trace(execution_id)
            got = {span.span_id for span in trace.spans} if trace is not None else set()
            return trace if span_ids <= got else None

        what = f"{len(span_ids)} span(s) of trace {execution_id} in {self.program.name}"
        found = wait_for(what, probe)
        assert isinstance(found, Trace)
        return found


class _V1Only(httpx.HTTPTransport):
    """The real server, as if it had no api_v3 (Jaeger v1 answers 404 there)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v3/"):
            return httpx.Response(404, json={"error": {"httpCode": 404}}, request=request)
        return super().handle_request(request)


def start_jaeger(binary: Path, workdir: Path, name: str) -> Jaeger:
    grpc, http, query, query_grpc = (free_port() for _ in range(4))
    overrides = {
        "receivers::otlp::protocols::grpc::endpoint": f"{LOOPBACK}:{grpc}",
        "receivers::otlp::protocols::http::endpoint": f"{LOOPBACK}:{http}",
        "extensions::jaeger_query::http::endpoint": f"{LOOPBACK}:{query}",
        "extensions::jaeger_query::grpc::endpoint": f"{LOOPBACK}:{query_grpc}",
        # Its own metrics would take the fixed port 8888, which the second one needs too.
        "service::telemetry::metrics::level": "none",
    }
    argv = [str(binary), "--config", str(JAEGER_CONFIG)]
    for key, value in overrides.items():
        argv += ["--set", f"{key}={value}"]
    program = Program(name, argv, {}, workdir / f"{name}.log")
    query_url = f"http://{LOOPBACK}:{query}"
    program.start(_http_ok(f"{query_url}/api/services"))
    return Jaeger(program, query_url, f"{LOOPBACK}:{grpc}")


# -- the collector -----------------------------------------------------------------------


@dataclass
class Collector:
    program: Program
    grpc_endpoint: str  # what an OTLP/gRPC SDK is given
    http_endpoint: str  # what an OTLP/HTTP SDK is given (it adds /v1/traces)
    health_url: str
    trace_file: Path
    metrics_file: Path  # OTLP JSON lines of the metrics pipeline

    def file_source(self) -> OTLPFileTraceSource:
        return OTLPFileTraceSource(self.trace_file)

    def file_trace(self, execution_id: str, span_ids: set[str]) -> Trace:
        """The trace, once the file exporter has written every one of ``span_ids``."""

        def probe() -> Trace | None:
            if not self.trace_file.exists():
                return None
            try:
                trace = self.file_source().get_trace(execution_id)
            except TraceReadError:  # a line the collector is still writing
                return None
            got = {span.span_id for span in trace.spans} if trace is not None else set()
            return trace if span_ids <= got else None

        what = f"{len(span_ids)} span(s) of trace {execution_id} in {self.trace_file}"
        found = wait_for(what, probe)
        assert isinstance(found, Trace)
        return found


def collector_env(
    jaeger: Jaeger, tempo: Jaeger, trace_file: Path, prometheus: str
) -> dict[str, str]:
    """Every address and path of otel-collector.yaml, through the variables it reads;
    ``prometheus`` is the base URL of an OTLP/HTTP metrics receiver (the exporter adds
    ``/v1/metrics``)."""
    return {
        "DQX_COLLECTOR_OTLP_GRPC_ENDPOINT": f"{LOOPBACK}:{free_port()}",
        "DQX_COLLECTOR_OTLP_HTTP_ENDPOINT": f"{LOOPBACK}:{free_port()}",
        "DQX_COLLECTOR_HEALTH_ENDPOINT": f"{LOOPBACK}:{free_port()}",
        "DQX_COLLECTOR_METRICS_HOST": LOOPBACK,
        "DQX_COLLECTOR_METRICS_PORT": str(free_port()),
        "DQX_COLLECTOR_JAEGER_ENDPOINT": jaeger.otlp_grpc,
        "DQX_COLLECTOR_TEMPO_ENDPOINT": tempo.otlp_grpc,
        "DQX_COLLECTOR_TRACE_FILE": str(trace_file),
        "DQX_COLLECTOR_PROMETHEUS_ENDPOINT": prometheus,
        "DQX_COLLECTOR_METRICS_FILE": str(trace_file.with_name("dqx-metrics.jsonl")),
    }


def otlp_base(receiver: Receiver) -> str:
    """The receiver as Prometheus's OTLP endpoint (``/api/v1/otlp``), the base URL the
    collector's ``otlphttp/prometheus`` exporter is given."""
    return f"{receiver.url}/api/v1/otlp"


def start_collector(
    binary: Path,
    jaeger: Jaeger,
    tempo: Jaeger,
    workdir: Path,
    prometheus: str,
    name: str = "collector",
    overrides: Mapping[str, str] | None = None,
) -> Collector:
    """The collector on otel-collector.yaml, its metrics sent to ``prometheus`` (an
    OTLP/HTTP base URL); ``overrides`` are ``--set`` on top of it
    (``{"exporters::file/traces::compression": "zstd"}``)."""
    env = collector_env(jaeger, tempo, workdir / "traces" / "dqx-traces.jsonl", prometheus)
    argv = [str(binary), "--config", str(COLLECTOR_CONFIG)]
    argv += [f"--set={key}={value}" for key, value in (overrides or {}).items()]
    program = Program(name, argv, env, workdir / f"{name}.log")
    health = f"http://{env['DQX_COLLECTOR_HEALTH_ENDPOINT']}/"
    program.start(_http_ok(health))
    return Collector(
        program,
        grpc_endpoint=f"http://{env['DQX_COLLECTOR_OTLP_GRPC_ENDPOINT']}",
        http_endpoint=f"http://{env['DQX_COLLECTOR_OTLP_HTTP_ENDPOINT']}",
        health_url=health,
        trace_file=Path(env["DQX_COLLECTOR_TRACE_FILE"]),
        metrics_file=Path(env["DQX_COLLECTOR_METRICS_FILE"]),
    )


# -- the dqx command line ----------------------------------------------------------------


def dqx_argv(*args: str) -> list[str]:
    """The installed ``dqx`` command (the one next to this Python) with ``args``."""
    return [str(Path(sys.executable).with_name("dqx")), *args]


def dqx_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without OTEL_* and DQX_* settings, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DQX_"))}
    return {**clean, "COLUMNS": "200", **(env or {})}


def dqx(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``dqx args`` to the end."""
    return subprocess.run(
        dqx_argv(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=dqx_env(env),
    )


def one_line(text: str) -> str:
    """Terminal output with its wrapping undone, for matching a sentence."""
    return " ".join(text.split())


# -- the metric store --------------------------------------------------------------------


@contextmanager
def metric_store(kind: str, directory: Path) -> Iterator[str]:
    """The URL of an empty metric store: a SQLite file, or a PostgreSQL database of its
    own on the server ``make services`` runs (dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'dqx.db'}"
        return
    import psycopg

    require_postgres()
    name = f"dqx_e2e_{secrets.token_hex(5)}"
    with psycopg.connect(POSTGRES_CONNINFO, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(POSTGRES_CONNINFO, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
