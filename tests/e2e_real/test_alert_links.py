"""An alert's trace links, followed to the real Jaeger.

``dqx run`` exports through the collector; ``dqx alert`` then builds the alert for the
run's failed assertion with Jaeger's ``/trace/<id>`` link. That link is the UI page
for the trace (served by Jaeger's query service; this build has no UI assets, so the
page is Jaeger's placeholder), and its API form ``/api/traces/<id>`` (what the UI
page loads; ``/api/v3/traces/<id>`` too) returns the run's trace, holding the failed
assertion with the value the alert reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from dqx.traces.model import Trace
from tests.e2e_real.real_programs import Collector, Jaeger, dqx, wait_for
from tests.e2e_real.real_runs import DAY, bits, orders_table

CHECKS = """
from dqx import check


@check(name="Orders", severity="P1")
def orders(mp, ctx):
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="average price below 100").is_lt(100)
"""


def test_the_alerts_jaeger_link_and_its_api_link_return_the_runs_trace(
    collector: Collector, jaeger: Jaeger, tmp_path: Path
) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(orders_table(), tmp_path / "orders.parquet")
    env = {
        "DQX_DB_URL": f"sqlite:///{tmp_path / 'dqx.db'}",
        "DQX_JAEGER_URL": jaeger.query_url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    }
    ran = dqx(
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--date",
        DAY.isoformat(),
        "--otlp-endpoint",
        collector.http_endpoint,
        "--format",
        "json",
        env=env,
        cwd=tmp_path,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr  # the average is far above 100
    result = json.loads(ran.stdout)
    execution_id = result["execution_id"]
    assert "trace export failed" not in ran.stderr
    [failed] = [r for r in result["results"] if r["status"] != "OK"]

    alerted = dqx("alert", execution_id, "--format", "alertmanager", env=env, cwd=tmp_path)
    assert alerted.returncode == 0, alerted.stdout + alerted.stderr
    [alert] = json.loads(alerted.stdout)
    link = alert["annotations"]["jaeger_url"]
    assert link == f"{jaeger.query_url}/trace/{execution_id}"
    assert alert["generatorURL"] == link

    # Jaeger's query service serves the link: the UI page for the trace (any path of the
    # UI answers with the page, so what counts is the API below, on the same server).
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")

    # The API form of the link returns the run's trace, with the failed assertion.
    def root_arrived() -> Trace | None:
        trace = jaeger.source("v1").get_trace(execution_id)
        return (
            trace
            if trace is not None and trace.root is not None and trace.root.name == "dqx.suite.run"
            else None
        )

    wait_for(f"the root span of {execution_id} in Jaeger", root_arrived)
    document = httpx.get(link.replace("/trace/", "/api/traces/"), timeout=10).json()
    [trace] = document["data"]
    assert trace["traceID"] == execution_id
    names = {span["operationName"] for span in trace["spans"]}
    assert {"dqx.suite.run", "dqx.analyze", "dqx.persist", "dqx.evaluate"} <= names
    events = [
        {field["key"]: field["value"] for field in log["fields"]}
        for span in trace["spans"]
        for log in span.get("logs", [])
    ]
    failures = [
        e
        for e in events
        if e.get("event") == "dqx.assertion" and e.get("dqx.assertion.status") == "FAILURE"
    ]
    assert [e["dqx.assertion.name"] for e in failures] == [failed["assertion"]]
    # The value the alert reports is the value in the trace, to the last bit.
    reported = float(alert["annotations"]["value"])
    assert bits(float(failures[0]["dqx.assertion.value"])) == bits(reported)
    assert reported == failed["value"]

    v3 = httpx.get(link.replace("/trace/", "/api/v3/traces/"), timeout=10)
    assert v3.status_code == 200
    trace_ids = {
        span["traceId"]
        for resource in v3.json()["result"]["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    }
    assert trace_ids == {execution_id}
