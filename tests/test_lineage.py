"""OpenLineage: each run reaches a lineage back-end as one OpenLineage run.

A real run sends its events through the OpenLineage client to a local HTTP receiver
standing in for Marquez (``POST /api/v1/lineage``); every event is checked against the
OpenLineage JSON Schema (tests/support/openlineage_schema.py) and each facet against
the schema its ``_schemaURL`` names.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.lineage import TRACE_FACET, OpenLineagePlugin, trace_facet_schema
from dqx.orm.repositories import MetricDB
from tests.support import openlineage_schema
from tests.support.receivers import Receiver, receive
from tests.support.runs import DAY, Traced, orders, orders_check

JAEGER = "http://jaeger.example:16686"


def _run(
    db: MetricDB, traced: Traced, plugin: OpenLineagePlugin, checks: list[Any] | None = None
) -> VerificationSuite:
    suite = VerificationSuite(
        checks or [orders_check], db, "Orders", tracer_provider=traced.provider, plugins=[plugin]
    )
    suite.run([orders()], ResultKey(DAY, {"env": "test"}))
    return suite


def _sent(receiver: Receiver) -> list[dict[str, Any]]:
    assert {post.path for post in receiver.posts} == {"/api/v1/lineage"}
    return [post.json() for post in receiver.posts]


def _facet_problems(facets: dict[str, Any]) -> list[str]:
    problems = []
    for name, facet in facets.items():
        if name == TRACE_FACET:
            schema = trace_facet_schema()
        else:
            file = facet["_schemaURL"].split("#")[0].rsplit("/", 1)[-1]
            schema = openlineage_schema.FACETS[file]
        problems += [f"{name}: {p}" for p in openlineage_schema.errors(facet, schema)]
    return problems


def _valid(event: dict[str, Any]) -> None:
    problems = openlineage_schema.errors(event, openlineage_schema.RUN_EVENT)
    problems += _facet_problems(event["run"].get("facets", {}))
    for dataset in event.get("inputs", []):
        problems += _facet_problems(dataset.get("inputFacets", {}))
    assert problems == []


def test_a_run_is_one_openlineage_run_whose_id_is_the_execution_id(
    db: MetricDB, traced: Traced
) -> None:
    with receive() as marquez:
        suite = _run(db, traced, OpenLineagePlugin(marquez.url, jaeger=JAEGER))
    start, end = _sent(marquez)
    for event in (start, end):
        _valid(event)
        assert event["run"]["runId"] == str(uuid.UUID(suite.execution_id))
        assert event["job"] == {"namespace": "dqx", "name": "Orders", "facets": {}}
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [("dqx", "orders")]
        trace = event["run"]["facets"][TRACE_FACET]
        assert trace["traceId"] == trace["executionId"] == suite.execution_id
        assert trace["traceUrl"] == f"{JAEGER}/trace/{suite.execution_id}"
        assert event["run"]["facets"]["nominalTime"]["nominalStartTime"].startswith("2024-03-02T")
    result = suite.result
    assert result is not None
    assert start["eventType"] == "START"
    assert end["eventType"] == ("COMPLETE" if result.passed else "FAIL")
    assert dt.datetime.fromisoformat(start["eventTime"]) == result.started.replace(tzinfo=dt.UTC)
    assert dt.datetime.fromisoformat(end["eventTime"]) == result.finished.replace(tzinfo=dt.UTC)


def test_the_end_event_carries_the_metrics_and_each_assertions_success(
    db: MetricDB, traced: Traced
) -> None:
    with receive() as marquez:
        suite = _run(db, traced, OpenLineagePlugin(marquez.url))
    start, end = _sent(marquez)
    assert start["inputs"][0].get("inputFacets", {}) == {}
    facets = end["inputs"][0]["inputFacets"]
    result = suite.result
    assert result is not None
    today = {m.name: m.value for m in result.metrics if m.yyyy_mm_dd == DAY}
    metrics = facets["dataQualityMetrics"]
    assert metrics["rowCount"] == today["num_rows()"] == 5
    # tests/support/runs.orders: DAY holds rows 0-4, price 10 + i/3, email null when i % 4 == 0.
    assert metrics["columnMetrics"] == {
        "email": {"nullCount": sum(i % 4 == 0 for i in range(5))},
        "price": {"sum": pytest.approx(sum(10 + i / 3 for i in range(5)))},
    }
    assert metrics["columnMetrics"]["email"]["nullCount"] == today["null_count(email)"]
    assertions = facets["dataQualityAssertions"]["assertions"]
    assert [(a["assertion"], a["success"], a["severity"]) for a in assertions] == [
        (f"{r.check}: {r.assertion}", r.status == "OK", r.severity) for r in result.results
    ]


@check(name="Strict", severity="P1")
def strict(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="cheap", severity="P3").is_lt(1)


@pytest.mark.parametrize(("fail_on", "expected"), [("P3", "FAIL"), ("P1", "COMPLETE")])
def test_the_run_fails_in_lineage_when_an_assertion_at_fail_on_fails(
    db: MetricDB, traced: Traced, fail_on: str, expected: str
) -> None:
    with receive() as marquez:
        suite = _run(db, traced, OpenLineagePlugin(marquez.url, fail_on=fail_on), [strict])
    assert [r.status for r in suite.collect_results()] == ["OK", "FAILURE"]
    assert [e["eventType"] for e in _sent(marquez)] == ["START", expected]


def test_datasets_are_named_as_the_lineage_tool_knows_them(db: MetricDB, traced: Traced) -> None:
    with receive() as marquez:
        plugin = OpenLineagePlugin(
            marquez.url,
            namespace="quality",
            datasets={"orders": ("postgres://db.internal:5432", "shop.public.orders")},
        )
        _run(db, traced, plugin)
    for event in _sent(marquez):
        assert event["job"]["namespace"] == "quality"
        assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
            ("postgres://db.internal:5432", "shop.public.orders")
        ]


def test_a_file_transport_appends_both_events_as_json_lines(
    db: MetricDB, traced: Traced, tmp_path: Path
) -> None:
    path = tmp_path / "lineage.jsonl"
    suite = _run(db, traced, OpenLineagePlugin(file=path))
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["eventType"] for e in events] in (["START", "COMPLETE"], ["START", "FAIL"])
    assert {e["run"]["runId"] for e in events} == {str(uuid.UUID(suite.execution_id))}
    for event in events:
        _valid(event)


def test_a_lineage_back_end_that_refuses_changes_nothing_about_the_run(
    db: MetricDB, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    with receive(status=500) as marquez, caplog.at_level(logging.ERROR, logger="dqx"):
        suite = _run(db, traced, OpenLineagePlugin(marquez.url))
    result = suite.result
    assert result is not None and result.status in ("passed", "failed")
    stored = db.run(suite.execution_id)
    assert stored is not None and stored.status == result.status
    [failure] = [r for r in caplog.records if "plugin openlineage failed" in r.getMessage()]
    assert suite.execution_id in failure.getMessage()


def test_the_plugin_takes_one_destination_and_a_known_severity(tmp_path: Path) -> None:
    from dqx.common import DefinitionError

    with pytest.raises(DefinitionError, match="one of url=, client= or file="):
        OpenLineagePlugin("http://marquez:5000", file=tmp_path / "x.jsonl")
    with pytest.raises(DefinitionError, match="fail_on"):
        OpenLineagePlugin("http://marquez:5000", fail_on="P9")
    # The URL can carry a token; the plugin's repr never shows it.
    assert "hunter2" not in repr(OpenLineagePlugin("http://user:hunter2@marquez:5000"))
