"""No secret leaves dqx in clear: every command of the real console script, fed distinct
secrets through the environment, dqx.toml and flags, writes none of them to stdout,
stderr or its log, and posts none of them in an alert; trace links stay usable.

The secrets are of every kind an operator configures: a database password, Slack-style
and generic webhook addresses (the path is the credential), a ``?token=`` query,
``user:pass@`` in Jaeger, Tempo, Grafana and OTLP URLs, and OTLP headers. The webhook
receiver refuses each alert once, echoing the address it was sent to, so the retry
warnings and the receiver's error text are exercised too; the trace back-end answers
with errors that quote the request.
"""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check, telemetry
from dqx.alerts import AlertPlugin
from dqx.alerts.delivery import AlertDeliveryError, post_webhook
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB

DQX = Path(sys.executable).with_name("dqx")

CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Volume", severity="P1", datasets=["orders"])
    def volume(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="a thousand orders").is_gt(1000)
    """
)

# Each secret is distinct, so a leak names where it came from.
DB_PASSWORD = "Env-Db-Pa55word"
SECRETS = {
    "env jaeger password": "EnvJaegerSecret7",
    "env otlp password": "EnvOtlpSecret7",
    "env otlp header": "EnvHeaderToken7",
    "toml tempo password": "TomlTempoSecret7",
    "toml grafana password": "TomlGrafanaSecret7",
    "toml webhook path": "TomlWebhookPath7",
    "flag alert path": "FlagAlertPath7",
    "flag alert query token": "FlagQueryToken7",
    "flag slack key": "FlagSlackKey7",
    "flag webhook path": "FlagWebhookPath7",
    "flag jaeger password": "FlagJaegerSecret7",
    "flag tempo password": "FlagTempoSecret7",
    "flag runs jaeger password": "FlagRunsJaeger7",
    "flag db password": "FlagDbSecret7",
    "flag malformed alert": "FlagMalformedAlert7",
}


@dataclass
class Receiver:
    """One HTTP server for everything dqx calls out to.

    POST (a webhook): the first request to a path is refused with 500 and a body that
    quotes the path, the next accepted. GET (Jaeger, Tempo): 503 quoting the path for
    Jaeger's APIs, 404 for Tempo's.
    """

    base_url: str = ""
    bodies: list[tuple[str, str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self, status: int, text: str) -> None:
            body = json.dumps({"message": text}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            state.bodies.append((self.path, self.rfile.read(length).decode()))
            if self.path not in state.seen:
                state.seen.add(self.path)
                self._answer(500, f"no hook configured at {self.path}, try again")
            else:
                self._answer(200, "ok")

        def do_GET(self) -> None:
            if self.path.startswith("/api/v2/"):
                self._answer(404, "not found")
            else:
                self._answer(503, f"upstream failed for GET {self.path}")

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.base_url = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def db_url(store_url: str) -> tuple[str, str | None]:
    """The store's URL and the password planted in it (the test server trusts local
    users, so any password gets in; SQLite has none)."""
    if store_url.startswith("sqlite"):
        return store_url, None
    return store_url.replace("://postgres@", f"://postgres:{DB_PASSWORD}@", 1), DB_PASSWORD


def _dqx(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    # A narrow terminal makes rich wrap and fold long lines: secrets must not survive
    # being cut in two.
    environment.update({"COLUMNS": "60", **env})
    return subprocess.run(
        [str(DQX), "-vv", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.slow
def test_no_planted_secret_appears_in_any_output_or_alert_of_any_command(
    tmp_path: Path, receiver: Receiver, db_url: tuple[str, str | None]
) -> None:
    url, db_password = db_url
    planted = dict(SECRETS, **({"env db password": db_password} if db_password else {}))
    host = receiver.base_url
    s = SECRETS
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(pa.table({"x": [1.0, 2.0, 3.0]}), tmp_path / "orders.parquet")
    (tmp_path / "dqx.toml").write_text(
        f'tempo_url = "http://tempo:{s["toml tempo password"]}@{host}"\n'
        f'grafana_url = "https://grafana:{s["toml grafana password"]}@grafana.example"\n'
        f'webhook_url = "http://{host}/hooks/{s["toml webhook path"]}"\n'
    )
    env = {
        "DQX_DB_URL": url,
        "DQX_JAEGER_URL": f"http://jaeger:{s['env jaeger password']}@{host}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://otel:{s['env otlp password']}@127.0.0.1:9",
        "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {s['env otlp header']}",
    }
    alert = (
        f"webhook=http://{host}/alerts/{s['flag alert path']}?token={s['flag alert query token']}"
    )
    slack = f"slack=http://{host}/services/T0001/B0001/{s['flag slack key']}"
    outputs: dict[str, subprocess.CompletedProcess[str]] = {}

    def run(name: str, *args: str, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        outputs[name] = _dqx(*args, cwd=cwd, env=env)
        return outputs[name]

    ran = run(
        "run",
        *("run", "checks.py", "--data", "orders=orders.parquet", "--date", "2024-03-14"),
        *("--trace-file", "traces.jsonl", "--alert", alert, "--alert", slack),
    )
    assert ran.returncode == 1, ran.stderr
    runs = run("runs --format json", "runs", "--format", "json")
    execution_id = json.loads(runs.stdout)[0]["execution_id"]
    jaeger_flag = f"http://jaeger:{s['flag jaeger password']}@{host}"
    tempo_flag = f"http://tempo:{s['flag tempo password']}@{host}"
    run("config", "config")
    run("config --format json", "config", "--format", "json")
    run("runs", "runs", "--jaeger", f"http://j:{s['flag runs jaeger password']}@{host}")
    run(
        "runs, db unreachable",
        "runs",
        "--db",
        f"postgresql://u:{s['flag db password']}@127.0.0.1:9/x",
    )
    run("metrics", "metrics", execution_id, "--format", "csv")
    run("metrics --jaeger", "metrics", execution_id, "--jaeger", jaeger_flag)
    run("reconcile --jaeger", "reconcile", execution_id, "--jaeger", jaeger_flag)
    run("reconcile --tempo", "reconcile", execution_id, "--tempo", tempo_flag)
    run("reconcile, from dqx.toml", "reconcile", execution_id, "--format", "json")
    run("alert", "alert", execution_id, "--webhook", "")
    # Where no dqx.toml names a webhook, the alert is printed.
    (tmp_path / "elsewhere").mkdir()
    run("alert, printed", "alert", execution_id, "--format", "slack", cwd=tmp_path / "elsewhere")
    run(
        "alert --webhook",
        "alert",
        execution_id,
        "--webhook",
        f"http://{host}/x/{s['flag webhook path']}",
    )
    run("alert, dqx.toml webhook", "alert", execution_id, "--format", "markdown")
    malformed = f"http://{host}/hook-without-sink/{s['flag malformed alert']}"
    run(
        "run, malformed --alert",
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--alert",
        malformed,
    )

    leaks = [
        f"{what} in {name} {stream}"
        for name, done in outputs.items()
        for stream, text in (("stdout", done.stdout), ("stderr", done.stderr))
        for what, secret in planted.items()
        if secret in text
    ]
    leaks += [
        f"{what} posted to {path}"
        for path, body in receiver.bodies
        for what, secret in planted.items()
        if secret in body
    ]
    if os.environ.get("DQX_SHOW_OUTPUTS"):
        for name, done in outputs.items():
            print(f"===== {name} ({done.returncode})\n{done.stdout}\n----- stderr\n{done.stderr}")
    assert leaks == []
    # What the operator needs is still there: the retries were logged, the alerts
    # went out, the failures were reported, the settings show where each came from.
    assert "attempt 1/4 failed" in ran.stderr and "retrying" in ran.stderr
    assert {path.split("/")[1] for path, _ in receiver.bodies} >= {
        "alerts",
        "services",
        "x",
        "hooks",
    }
    assert "posted 1 failure(s)" in outputs["alert --webhook"].stderr
    assert "jaeger:***@" in outputs["alert, printed"].stdout
    config = json.loads(outputs["config --format json"].stdout)["values"]
    assert config["tempo_url"] == f"http://tempo:***@{host}"
    assert config["webhook_url"] == f"http://{host}/***"
    assert config["db_url"] == (url.replace(db_password, "***") if db_password else url)
    assert outputs["reconcile --jaeger"].returncode == 3
    assert "HTTP 503" in outputs["reconcile --jaeger"].stderr
    assert outputs["run, malformed --alert"].returncode == 2


@pytest.mark.slow
def test_trace_links_without_credentials_are_left_whole(tmp_path: Path, receiver: Receiver) -> None:
    host = receiver.base_url
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "orders.parquet")
    env = {
        "DQX_DB_URL": f"sqlite:///{tmp_path / 'dqx.db'}",
        "DQX_JAEGER_URL": "http://jaeger.internal:16686",
        "DQX_GRAFANA_URL": "https://grafana.internal",
    }
    slack = f"slack=http://{host}/services/T0001/B0001/{SECRETS['flag slack key']}"
    ran = _dqx(
        *("run", "checks.py", "--data", "orders=orders.parquet", "--format", "json"),
        *("--trace-file", "traces.jsonl", "--alert", slack),
        cwd=tmp_path,
        env=env,
    )
    links = json.loads(ran.stdout)["links"]
    execution_id = links["trace_id"]
    assert links["jaeger"] == f"http://jaeger.internal:16686/trace/{execution_id}"
    assert links["grafana"].startswith("https://grafana.internal/explore?schemaVersion=1&panes=")
    posted = json.loads(receiver.bodies[-1][1])
    buttons = [
        element["url"]
        for block in posted["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert links["jaeger"] in buttons and links["grafana"] in buttons


def test_library_alerts_log_and_raise_without_the_webhook_address(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://{receiver.base_url}/hooks/{SECRETS['flag alert path']}"
    caplog.set_level(logging.DEBUG)
    assert post_webhook(url, {"text": "hi"}, backoff=0.01) == 200
    gone = f"http://127.0.0.1:9/services/T1/B1/{SECRETS['flag slack key']}"
    with pytest.raises(AlertDeliveryError) as refused:
        post_webhook(gone, {"text": "hi"}, attempts=2, backoff=0.01, timeout=2)
    with pytest.raises(Exception) as bad:
        AlertPlugin("slack", f"hooks.slack.com/services/T1/B1/{SECRETS['flag slack key']}")
    # httpx logs its own requests, URL and all; what dqx logs is what dqx answers for.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("dqx"))
    texts = [logged, str(refused.value), str(bad.value), repr(refused.value)]
    assert "attempt 1/4 failed" in logged
    assert [t for t in texts for secret in SECRETS.values() if secret in t] == []
    assert refused.value.url == gone  # the caller still has the address itself


def test_a_collector_url_with_credentials_is_reported_without_its_password() -> None:
    secret = SECRETS["env otlp password"]
    provider = telemetry.configure(
        exporter="otlp", endpoint=f"http://otel:{secret}@127.0.0.1:9", set_global=False
    )
    status = telemetry.export_status(provider)
    assert status is not None and secret not in status.destination + repr(status)
    assert status.destination == "http://otel:***@127.0.0.1:9"
    provider.shutdown()


def test_every_record_a_run_logs_is_redacted_a_plugins_error_included(
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = SECRETS["flag slack key"]

    class Poster:
        def after_run(self, result: object) -> None:
            raise RuntimeError(f"could not post to https://hooks.slack.com/services/T1/B2/{key}")

    @check(name="Rows")
    def rows(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="some").is_gt(0)

    caplog.set_level(logging.INFO, logger="dqx")
    suite = VerificationSuite([rows], InMemoryMetricDB(), "Rows", plugins=[Poster()])
    table = pa.table({"x": [1.0]})
    suite.run([DuckRelationDataSource.from_arrow(table, "orders")], ResultKey(dt.date(2024, 1, 2)))
    shown = "\n".join(
        logging.Formatter().format(r) for r in caplog.records if r.name.startswith("dqx")
    )
    assert "plugin" in shown and "hooks.slack.com/services/***" in shown
    assert key not in shown
