"""Alerts built from a real run's stored results, rendered and posted to a local webhook."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import TracerProvider

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.alerts import (
    SINKS,
    AlertDeliveryError,
    AlertPlugin,
    alert_for_run,
    post_webhook,
    render,
    to_alertmanager,
    to_markdown,
    to_slack,
    webhook_body,
)
from dqx.alerts.model import Alert
from dqx.common import DefinitionError, DQXError
from dqx.datasource import DuckRelationDataSource
from dqx.links import RUNBOOK_DIR
from dqx.orm.repositories import MetricDB

DAY = dt.date(2024, 5, 2)
JAEGER = "http://jaeger.example:16686"
GRAFANA = "http://grafana.example:3000"
RUNBOOKS = "https://runbooks.example/dqx"


@check(name="Payments", severity="P1", datasets=["payments"])
def payments(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="payments arrived").is_gt(0)
    ctx.assert_that(mp.maximum("amount")).where(name="amount capped", severity="P0").is_leq(100)
    # num_rows() - num_rows() is zero: the ratio cannot be evaluated, so this is an ERROR.
    ctx.assert_that(mp.null_count("amount") / (mp.num_rows() - mp.num_rows())).where(
        name="null share"
    ).is_lt(0.5)
    ctx.assert_that(mp.minimum("amount")).where(name="no tiny payments", severity="P3").is_gt(5)


@dataclass
class Run:
    db_url: str
    execution_id: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("alerts")
    db_url = f"sqlite:///{root / 'dqx.db'}"
    table = pa.table({"amount": [1.0, 20.0, 250.5]})
    # A traced run: its alert may link to the trace.
    suite = VerificationSuite(
        [payments], MetricDB(db_url), "Payments suite", tracer_provider=TracerProvider()
    )
    suite.run(
        [DuckRelationDataSource.from_arrow(table, "payments")],
        ResultKey(DAY, {"env": "prod", "team-name": "billing"}),
    )
    return Run(db_url, suite.execution_id)


def test_alert_names_each_failure_with_value_bound_links_and_runbook(run: Run) -> None:
    alert = alert_for_run(
        MetricDB(run.db_url),
        run.execution_id,
        jaeger=JAEGER,
        grafana=GRAFANA,
        runbook_base_url=RUNBOOKS,
    )
    assert (alert.suite, alert.yyyy_mm_dd, alert.tags) == (
        "Payments suite",
        DAY,
        {"env": "prod", "team-name": "billing"},
    )
    assert alert.links.jaeger == f"{JAEGER}/trace/{run.execution_id}"
    assert alert.links.grafana is not None and run.execution_id in alert.links.grafana
    by_name = {f.assertion: f for f in alert.failures}
    assert set(by_name) == {"amount capped", "null share", "no tiny payments"}
    capped = by_name["amount capped"]
    assert (capped.severity, capped.status, capped.value, capped.bound) == (
        "P0",
        "FAILURE",
        250.5,
        "<= 100",
    )
    assert capped.runbook_url == f"{RUNBOOKS}/assertion-failed.md"
    error = by_name["null share"]
    assert error.status == "ERROR" and error.value is None and error.message
    assert error.runbook_url == f"{RUNBOOKS}/metric-error.md"
    # Most severe first, so truncated renderings keep what matters.
    assert [f.severity for f in alert.failures] == ["P0", "P1", "P3"]

    urgent = alert_for_run(MetricDB(run.db_url), run.execution_id, min_severity="P1")
    assert [f.assertion for f in urgent.failures] == ["amount capped", "null share"]
    assert urgent.failures[0].runbook_url == "docs/runbooks/assertion-failed.md"
    assert alert.trace_note is None  # the links say it
    # A traced run with no Jaeger or Grafana set still tells on-call how to find its trace.
    note = f"trace id {run.execution_id} (the execution id); set DQX_JAEGER_URL"
    assert urgent.trace_link is None and urgent.trace_note is not None and note in urgent.trace_note
    assert note in to_markdown(urgent) and note in json.dumps(to_slack(urgent))
    assert all(note in a["annotations"]["trace_note"] for a in to_alertmanager(urgent))


def test_an_untraced_run_alerts_without_dead_trace_links(tmp_path: Path) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    # No SDK provider anywhere: the run records no trace, and dq_run says so.
    suite = VerificationSuite([payments], db, "Payments suite")
    suite.run(
        [DuckRelationDataSource.from_arrow(pa.table({"amount": [250.5]}), "payments")],
        ResultKey(DAY),
    )
    alert = alert_for_run(db, suite.execution_id, jaeger=JAEGER, grafana=GRAFANA)
    assert alert.trace_sampled is False
    assert (alert.links.jaeger, alert.links.grafana, alert.trace_link) == (None, None, None)
    markdown = to_markdown(alert)
    assert JAEGER not in markdown and "no trace was recorded" in markdown
    (first,) = [a for a in to_alertmanager(alert) if a["labels"]["assertion"] == "amount capped"]
    assert "trace_url" not in first["annotations"]
    assert "no trace was recorded" in first["annotations"]["trace_note"]
    assert JAEGER not in json.dumps(to_slack(alert))


def test_an_interrupted_run_is_not_reported_as_having_no_failures(tmp_path: Path) -> None:
    from dqx.common import new_execution_id
    from dqx.records import RunRecord

    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    stopped = new_execution_id()
    started = dt.datetime(2024, 3, 1, 6, 0)
    db.record_run(
        RunRecord(
            execution_id=stopped,
            suite="Payments suite",
            yyyy_mm_dd=DAY,
            tags={},
            started=started,
            finished=started + dt.timedelta(minutes=1),
            status="interrupted",
            trace_sampled=True,
            metric_count=0,
        )
    )
    markdown = to_markdown(alert_for_run(db, stopped))
    assert "No failed assertions" not in markdown
    assert "No assertion results: the run is interrupted and judged nothing" in markdown
    db.dispose()


def test_alertmanager_rendering_has_labels_annotations_and_generator_url(run: Run) -> None:
    alert = alert_for_run(MetricDB(run.db_url), run.execution_id, jaeger=JAEGER)
    alerts = to_alertmanager(alert)
    assert len(alerts) == 3
    capped = next(a for a in alerts if a["labels"]["assertion"] == "amount capped")
    assert capped["labels"] == {
        "alertname": "DQXAssertionFailed",
        "severity": "P0",
        "status": "FAILURE",
        "suite": "Payments suite",
        "check": "Payments",
        "assertion": "amount capped",
        "execution_id": run.execution_id,
        "yyyy_mm_dd": "2024-05-02",
        "tag_env": "prod",
        "tag_team_name": "billing",
    }
    annotations = capped["annotations"]
    assert annotations["value"] == "250.5" and annotations["bound"] == "<= 100"
    assert annotations["trace_url"] == f"{JAEGER}/trace/{run.execution_id}"
    # No runbook base URL: the path as text, never a runbook_url that opens nothing.
    assert "runbook_url" not in annotations
    assert annotations["runbook"].startswith("docs/runbooks/assertion-failed.md ")
    assert "250.5" in annotations["description"] and "maximum(amount)" in annotations["description"]
    assert capped["generatorURL"] == annotations["trace_url"]
    assert dt.datetime.fromisoformat(capped["startsAt"]).tzinfo is not None
    errored = next(a for a in alerts if a["labels"]["assertion"] == "null share")
    assert errored["labels"]["alertname"] == "DQXMetricError"


def test_slack_and_markdown_renderings(run: Run) -> None:
    alert = alert_for_run(MetricDB(run.db_url), run.execution_id, jaeger=JAEGER, grafana=GRAFANA)
    message = to_slack(alert)
    blocks = message["blocks"]
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    assert "Payments suite" in message["text"]
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert len(sections) == 3
    assert "*[P0] FAILURE*" in sections[0] and "`250.5`" in sections[0]
    assert "&lt;= 100" in sections[0]  # Slack's control characters are escaped
    [actions] = [b for b in blocks if b["type"] == "actions"]
    assert [e["url"] for e in actions["elements"]] == [alert.links.jaeger, alert.links.grafana]
    assert len(blocks) <= 50

    markdown = to_markdown(alert)
    assert markdown.startswith("## dqx: 3 problem(s) in suite 'Payments suite' for 2024-05-02")
    row = next(line for line in markdown.splitlines() if "amount capped" in line)
    assert row.startswith("| P0 | FAILURE | Payments | amount capped | 250.5 | <= 100 |")
    assert "`docs/runbooks/assertion-failed.md`" in row


def _runbook_texts(alert: Alert) -> dict[str, str]:
    """What each link-rendering sink says about the 'amount capped' failure's runbook."""
    [capped] = [a for a in to_alertmanager(alert) if a["labels"]["assertion"] == "amount capped"]
    [section] = [
        b["text"]["text"]
        for b in to_slack(alert)["blocks"]
        if b["type"] == "section" and "amount capped" in b.get("text", {}).get("text", "")
    ]
    markdown = to_markdown(alert)
    [row] = [line for line in markdown.splitlines() if "amount capped" in line]
    return {
        "alertmanager": json.dumps(capped["annotations"]),
        "slack": section.splitlines()[-1],
        "markdown": row.rsplit("|", 2)[-2].strip(),
        "markdown_note": markdown,
    }


@pytest.mark.parametrize("base", [None, RUNBOOK_DIR], ids=["unset", "repository-default"])
def test_without_a_runbook_base_url_sinks_name_the_path_as_text_not_a_link(
    run: Run, base: str | None
) -> None:
    alert = alert_for_run(MetricDB(run.db_url), run.execution_id, runbook_base_url=base)
    path = "docs/runbooks/assertion-failed.md"
    texts = _runbook_texts(alert)

    [capped] = [a for a in to_alertmanager(alert) if a["labels"]["assertion"] == "amount capped"]
    assert "runbook_url" not in capped["annotations"]
    assert capped["annotations"]["runbook"] == (
        f"{path} in the dqx repository (set DQX_RUNBOOK_BASE_URL to link it)"
    )
    # Slack's link syntax is <url|label>: the path must not be wrapped in one.
    assert "<" not in texts["slack"] and "|" not in texts["slack"]
    assert f"`{path}`" in texts["slack"] and "DQX_RUNBOOK_BASE_URL" in texts["slack"]
    assert texts["markdown"] == f"`{path}`"
    assert f"({path})" not in texts["markdown_note"]
    assert "DQX_RUNBOOK_BASE_URL" in texts["markdown_note"]


def test_with_a_runbook_base_url_sinks_link_the_published_runbook(run: Run) -> None:
    alert = alert_for_run(MetricDB(run.db_url), run.execution_id, runbook_base_url=RUNBOOKS)
    url = f"{RUNBOOKS}/assertion-failed.md"
    texts = _runbook_texts(alert)
    [capped] = [a for a in to_alertmanager(alert) if a["labels"]["assertion"] == "amount capped"]
    assert capped["annotations"]["runbook_url"] == url
    assert "runbook" not in capped["annotations"]
    assert texts["slack"] == f"<{url}|Runbook: assertion-failed>"
    assert texts["markdown"] == f"[assertion-failed]({url})"
    assert "DQX_RUNBOOK_BASE_URL" not in texts["markdown_note"]


def test_each_sink_of_the_table_renders_its_alert_and_takes_a_plugin(run: Run) -> None:
    alert = alert_for_run(MetricDB(run.db_url), run.execution_id, jaeger=JAEGER)
    bodies = {sink.name: webhook_body(alert, sink.format) for sink in SINKS.values()}
    assert bodies == {
        "alertmanager": to_alertmanager(alert),
        "slack": to_slack(alert),
        # Any chat webhook taking {"text": ...}: Slack's and Mattermost's do.
        "webhook": {"text": to_markdown(alert)},
    }
    assert render(alert, "markdown") == to_markdown(alert)
    assert json.loads(render(alert, "slack")) == to_slack(alert)
    for sink in SINKS.values():
        assert AlertPlugin(sink.name, "http://127.0.0.1/hook").name == f"alert:{sink.name}"
    with pytest.raises(DQXError, match="use alertmanager, slack or markdown"):
        render(alert, "pagerduty")


@dataclass
class Webhook:
    url: str
    statuses: list[int]
    received: list[Any] = field(default_factory=list)


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """An HTTP server on 127.0.0.1 answering with ``statuses`` in turn (then 200)."""
    hook = Webhook("", [])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            hook.received.append(
                (self.headers["Content-Type"], json.loads(self.rfile.read(length)))
            )
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status == 200 else b"try later")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_retries_after_503_and_delivers_the_payload(run: Run, webhook: Webhook) -> None:
    alert = alert_for_run(MetricDB(run.db_url), run.execution_id, jaeger=JAEGER)
    webhook.statuses = [503]
    status = post_webhook(webhook.url, to_alertmanager(alert), backoff=0.01, timeout=5)
    assert status == 200
    assert len(webhook.received) == 2
    assert webhook.received[0] == webhook.received[1]
    content_type, body = webhook.received[1]
    assert content_type == "application/json"
    assert body == to_alertmanager(alert)


def test_webhook_gives_up_on_4xx_at_once_and_after_attempts_on_5xx(
    run: Run, webhook: Webhook
) -> None:
    webhook.statuses = [400]
    with pytest.raises(AlertDeliveryError) as rejected:
        post_webhook(webhook.url, {"text": "x"}, backoff=0.01)
    assert rejected.value.status == 400 and len(webhook.received) == 1
    # The error names the receiver's host; its path may be the webhook's key.
    host = webhook.url.rsplit("/", 1)[0]
    assert f"webhook {host}/*** did not accept" in str(rejected.value)
    assert rejected.value.url == webhook.url

    webhook.statuses = [500, 502, 503]
    with pytest.raises(AlertDeliveryError) as unavailable:
        post_webhook(webhook.url, {"text": "x"}, attempts=3, backoff=0.01)
    assert unavailable.value.status == 503 and len(webhook.received) == 4


def test_webhook_retries_connection_errors() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more: every attempt is refused.
    with pytest.raises(AlertDeliveryError) as refused:
        post_webhook(f"http://127.0.0.1:{port}/", {}, attempts=2, backoff=0.01, timeout=2)
    assert refused.value.status is None
    assert "ConnectError" in str(refused.value)


def test_cli_posts_slack_message_to_webhook(run: Run, webhook: Webhook, tmp_path: Path) -> None:
    webhook.statuses = [503]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    environment["DQX_JAEGER_URL"] = JAEGER
    outcome = subprocess.run(
        [
            str(Path(sys.executable).with_name("dqx")),
            "alert",
            run.execution_id,
            "--db",
            run.db_url,
            "--format",
            "slack",
            "--min-severity",
            "P1",
            "--webhook",
            webhook.url,
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert outcome.returncode == 0, outcome.stderr
    assert f"posted 2 failure(s) of run {run.execution_id}" in outcome.stderr
    assert "(HTTP 200)" in outcome.stderr
    assert len(webhook.received) == 2  # the 503, then the retry
    _, body = webhook.received[-1]
    assert body["blocks"][0]["type"] == "header"
    assert any(
        e["url"] == f"{JAEGER}/trace/{run.execution_id}"
        for b in body["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )


# -- AlertPlugin: the alert posted by the suite itself ------------------------------------


def _payments_suite(db: MetricDB, plugin: AlertPlugin) -> VerificationSuite:
    return VerificationSuite(
        [payments], db, "Payments suite", tracer_provider=TracerProvider(), plugins=[plugin]
    )


def test_the_alert_plugin_posts_the_runs_failures_to_alertmanager(
    webhook: Webhook, tmp_path: Path
) -> None:
    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    plugin = AlertPlugin("alertmanager", webhook.url, min_severity="P1", jaeger=JAEGER)
    suite = _payments_suite(db, plugin)
    table = pa.table({"amount": [1.0, 20.0, 250.5]})
    suite.run([DuckRelationDataSource.from_arrow(table, "payments")], ResultKey(DAY))

    (received,) = webhook.received
    _, body = received
    # The plugin's alert is the one `dqx alert` builds from the stored run.
    stored = alert_for_run(db, suite.execution_id, min_severity="P1", jaeger=JAEGER)
    assert body == to_alertmanager(stored)
    assert {a["labels"]["assertion"] for a in body} == {"amount capped", "null share"}
    assert {a["labels"]["execution_id"] for a in body} == {suite.execution_id}


def test_the_alert_plugin_posts_nothing_when_nothing_failed_at_its_severity(
    webhook: Webhook, tmp_path: Path
) -> None:
    @check(name="Fine", severity="P2")
    def fine(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(5)  # fails, at P2

    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    plugin = AlertPlugin("slack", webhook.url, min_severity="P1")
    suite = VerificationSuite([fine], db, "Fine suite", plugins=[plugin])
    result = suite.run(
        [DuckRelationDataSource.from_arrow(pa.table({"x": [1]}), "t")], ResultKey(DAY)
    )
    assert result.status == "failed"
    assert webhook.received == []


def test_an_undeliverable_alert_does_not_change_the_run(
    webhook: Webhook, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses = [400]
    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    suite = _payments_suite(db, AlertPlugin("webhook", webhook.url, min_severity="P3"))
    table = pa.table({"amount": [250.5]})
    with caplog.at_level("ERROR", logger="dqx"):
        result = suite.run([DuckRelationDataSource.from_arrow(table, "payments")], ResultKey(DAY))
    assert result.status == "failed"
    run = db.run(suite.execution_id)
    assert run is not None and run.status == "failed"
    _, body = webhook.received[0]
    assert body == {"text": to_markdown(alert_for_run(db, suite.execution_id, min_severity="P3"))}
    assert any(
        "alert:webhook" in r.getMessage() and suite.execution_id in r.getMessage()
        for r in caplog.records
    )


@pytest.mark.parametrize("url", ["", "   ", "not a url", "ftp://host/x", "/relative/path"])
def test_an_alert_plugin_needs_an_absolute_http_url(url: str) -> None:
    with pytest.raises(DefinitionError, match="URL"):
        AlertPlugin("slack", url)


def test_an_alert_plugin_needs_a_known_sink() -> None:
    with pytest.raises(DefinitionError, match="alertmanager, slack, webhook"):
        AlertPlugin("pagerduty", "http://127.0.0.1/x")  # type: ignore[arg-type]
