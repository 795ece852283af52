"""A run's OpenTelemetry metrics: what each instrument records, and that every point
leads back to the run through an exemplar whose trace id is the execution id.

The SDK's in-memory metric reader collects what a real run recorded through
``VerificationSuite(..., meter_provider=...)``; exporting (OTLP over HTTP, the JSON-lines
file) goes through ``telemetry.configure(..., metrics=True)`` as an application would.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, Metric, NumberDataPoint
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from dqx import (
    Context,
    MetricProvider,
    ResultKey,
    VerificationSuite,
    check,
    metrics_by_execution_id,
    telemetry,
)
from dqx.cli import main
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from dqx.traces import OTLPFileTraceSource
from tests.support.receivers import Receiver, receive
from tests.support.runs import DAY, Traced, orders, orders_check

SUITE = "Orders"


class Metered:
    """An SDK meter provider whose points a test collects on demand."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def collect(self) -> dict[str, Metric]:
        data = self.reader.get_metrics_data()
        assert data is not None, "nothing was recorded"
        return {
            metric.name: metric
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }


@pytest.fixture
def metered() -> Iterator[Metered]:
    metering = Metered()
    yield metering
    metering.provider.shutdown()


def _run(
    db: MetricDB, traced: Traced, metered: Metered, **tags: str
) -> tuple[VerificationSuite, dict[str, Metric]]:
    suite = VerificationSuite(
        [orders_check], db, SUITE, tracer_provider=traced.provider, meter_provider=metered.provider
    )
    suite.run([orders()], ResultKey(DAY, tags or {"env": "test"}))
    return suite, metered.collect()


def _points(metric: Metric) -> list[Any]:
    return list(metric.data.data_points)


def test_each_metric_of_the_run_date_is_a_gauge_point_labelled_without_the_run(
    db: MetricDB, traced: Traced, metered: Metered
) -> None:
    suite, recorded = _run(db, traced, metered, env="prod", team="sales")
    points = {p.attributes["dqx.metric.name"]: p for p in _points(recorded["dqx.metric.value"])}
    result = suite.result
    assert result is not None
    today = {m.name: m.value for m in result.metrics if m.yyyy_mm_dd == DAY}
    assert {name: p.value for name, p in points.items()} == today
    # The day-over-day check reads yesterday's sum too: that is yesterday's run's point.
    assert any(m.yyyy_mm_dd != DAY for m in result.metrics)
    for point in points.values():
        assert isinstance(point, NumberDataPoint)
        assert point.attributes == {
            "dqx.suite.name": SUITE,
            "dqx.dataset": "orders",
            "dqx.metric.name": point.attributes["dqx.metric.name"],
            "dqx.tags.env": "prod",
            "dqx.tags.team": "sales",
        }
    # One series per run would grow a metrics back-end without bound.
    every_value = [
        str(value) for m in recorded.values() for p in _points(m) for value in p.attributes.values()
    ]
    assert suite.execution_id not in every_value


def test_every_point_carries_an_exemplar_whose_trace_id_is_the_execution_id(
    db: MetricDB, traced: Traced, metered: Metered
) -> None:
    suite, recorded = _run(db, traced, metered)
    assert set(recorded) == {
        "dqx.metric.value",
        "dqx.assertions",
        "dqx.run.duration",
        "dqx.run.rows_scanned",
    }
    root = traced.one("dqx.suite.run")
    assert root.context is not None
    for metric in recorded.values():
        for point in _points(metric):
            assert point.exemplars, f"{metric.name} {dict(point.attributes)} has no exemplar"
            for exemplar in point.exemplars:
                assert f"{exemplar.trace_id:032x}" == suite.execution_id
                # Recorded in the root span itself: the exemplar opens the whole run.
                assert exemplar.span_id == root.context.span_id


def test_assertions_are_counted_by_status_and_severity(
    db: MetricDB, traced: Traced, metered: Metered
) -> None:
    suite, recorded = _run(db, traced, metered)
    counted = {
        (p.attributes["dqx.assertion.status"], p.attributes["dqx.assertion.severity"]): p.value
        for p in _points(recorded["dqx.assertions"])
    }
    expected: dict[tuple[str, str], int] = {}
    for result in suite.collect_results():
        key = (result.status, result.severity)
        expected[key] = expected.get(key, 0) + 1
    assert counted == expected
    assert sum(counted.values()) == len(suite.collect_results()) == 4
    assert recorded["dqx.assertions"].unit == "{assertion}"


def test_run_duration_and_rows_scanned_are_histograms(
    db: MetricDB, traced: Traced, metered: Metered
) -> None:
    suite, recorded = _run(db, traced, metered)
    result = suite.result
    assert result is not None
    [duration] = _points(recorded["dqx.run.duration"])
    assert recorded["dqx.run.duration"].unit == "s"
    assert duration.count == 1
    assert duration.attributes == {"dqx.suite.name": SUITE, "dqx.run.status": result.status}
    assert duration.sum == pytest.approx((result.finished - result.started).total_seconds())
    [rows] = _points(recorded["dqx.run.rows_scanned"])
    assert rows.attributes == {"dqx.suite.name": SUITE, "dqx.dataset": "orders"}
    assert rows.sum == sum(s.rows_scanned or 0 for s in result.statements) > 0
    # Rows scanned reach the millions: the buckets do too.
    assert max(rows.explicit_bounds) >= 1e9


def test_a_run_whose_trace_is_sampled_out_records_its_values_without_exemplars(
    db: MetricDB, metered: Metered
) -> None:
    # The trace-based filter keeps no exemplar where there is no trace to open.
    traced = Traced(sampler=ALWAYS_OFF)
    suite, recorded = _run(db, traced, metered)
    points = _points(recorded["dqx.metric.value"])
    assert points and all(not p.exemplars for p in points)
    assert suite.result is not None and suite.result.trace_sampled is False


def test_without_a_meter_provider_the_run_records_through_the_global_no_op(
    db: MetricDB, traced: Traced
) -> None:
    suite = VerificationSuite([orders_check], db, SUITE, tracer_provider=traced.provider)
    result = suite.run([orders()], ResultKey(DAY, {"env": "test"}))
    assert result.status in ("passed", "failed")


class _BrokenMeterProvider(MeterProvider):
    def get_meter(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("meter backend exploded")


def test_a_meter_that_breaks_changes_nothing_about_the_run(
    db: MetricDB, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    plain = VerificationSuite([orders_check], db, SUITE, tracer_provider=traced.provider)
    expected = [r.status for r in plain.run([orders()], ResultKey(DAY, {"env": "a"})).results]
    suite = VerificationSuite(
        [orders_check],
        db,
        SUITE,
        tracer_provider=traced.provider,
        meter_provider=_BrokenMeterProvider(),
    )
    with caplog.at_level(logging.WARNING, logger="dqx"):
        result = suite.run([orders()], ResultKey(DAY, {"env": "b"}))
    assert [r.status for r in result.results] == expected
    assert db.run(suite.execution_id) is not None
    assert any("meter backend exploded" in r.getMessage() for r in caplog.records)


# -- exported: configure(..., metrics=True) ---------------------------------------------


@check(name="Rows", severity="P2")
def rows_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)


def _exemplar_trace_ids(document: dict[str, Any]) -> dict[str, set[str]]:
    """Metric name -> the trace ids of its points' exemplars, in a MetricsData document."""
    found: dict[str, set[str]] = {}
    for resource in document["resourceMetrics"]:
        for scope in resource["scopeMetrics"]:
            for metric in scope["metrics"]:
                body = next(v for k, v in metric.items() if isinstance(v, dict))
                ids = found.setdefault(metric["name"], set())
                for point in body["dataPoints"]:
                    ids.update(e["traceId"] for e in point.get("exemplars", []))
    return found


@pytest.mark.parametrize("name", ["run.jsonl", "run.jsonl.gz"])
def test_the_otlp_json_file_holds_the_metrics_beside_the_trace(
    db: MetricDB, tmp_path: Path, name: str
) -> None:
    path = tmp_path / name
    provider = telemetry.configure(exporter="file", path=path, set_global=False, metrics=True)
    meters = telemetry.meter_provider(provider)
    assert meters is not None
    suite = VerificationSuite(
        [rows_check], db, "Rows", tracer_provider=provider, meter_provider=meters
    )
    table = pa.table({"x": [1, 2, 3]})
    suite.run([DuckRelationDataSource.from_arrow(table, "t")], ResultKey(dt.date(2024, 5, 6)))
    provider.shutdown()  # flushes the spans and collects the metrics once more
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt") as handle:
        documents = [json.loads(line) for line in handle]
    metric_documents = [d for d in documents if "resourceMetrics" in d]
    assert metric_documents and any("resourceSpans" in d for d in documents)
    exemplars = _exemplar_trace_ids(metric_documents[-1])
    assert set(exemplars) == {
        "dqx.metric.value",
        "dqx.assertions",
        "dqx.run.duration",
        "dqx.run.rows_scanned",
    }
    assert all(ids == {suite.execution_id} for ids in exemplars.values())
    # The trace reader skips the metrics lines, though their exemplars name the run.
    read_back = metrics_by_execution_id(db, suite.execution_id, trace=OTLPFileTraceSource(path))
    assert {m.tags["__origin"] for m in read_back} == {"db+trace"}


def test_without_metrics_configure_builds_no_meter_provider(tmp_path: Path) -> None:
    provider = telemetry.configure(exporter="file", path=tmp_path / "t.jsonl", set_global=False)
    assert telemetry.meter_provider(provider) is None
    provider.shutdown()
    assert telemetry.meter_provider(MeterProvider()) is None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receive() as served:
        yield served


def test_otlp_sends_the_metrics_to_the_same_collector_as_the_trace(
    db: MetricDB, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"):
        monkeypatch.delenv(variable, raising=False)
    endpoint = receiver.url
    provider = telemetry.configure(
        exporter="otlp", endpoint=endpoint, set_global=False, metrics=True
    )
    suite = VerificationSuite(
        [rows_check],
        db,
        "Rows",
        tracer_provider=provider,
        meter_provider=telemetry.meter_provider(provider),
    )
    table = pa.table({"x": [1, 2, 3]})
    suite.run([DuckRelationDataSource.from_arrow(table, "t")], ResultKey(dt.date(2024, 5, 6)))
    provider.shutdown()
    assert {post.path for post in receiver.posts} == {"/v1/traces", "/v1/metrics"}
    trace_ids = set()
    for body in receiver.bodies("/v1/metrics"):
        request = ExportMetricsServiceRequest.FromString(body)
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == "dqx.metric.value":
                        for point in metric.gauge.data_points:
                            trace_ids.update(e.trace_id.hex() for e in point.exemplars)
    assert trace_ids == {suite.execution_id}


_GLOBAL_SCRIPT = """
import datetime as dt, sys
import pyarrow as pa
from opentelemetry import metrics
from dqx import ResultKey, VerificationSuite, check, telemetry
from dqx.cli import main
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB

@check(name="Rows")
def rows(mp, ctx):
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)

# Made before any provider is installed: the run looks both global ones up itself.
suite = VerificationSuite([rows], InMemoryMetricDB(), "Rows")
provider = telemetry.configure(exporter="file", path=sys.argv[1], metrics=True)
assert metrics.get_meter_provider() is telemetry.meter_provider(provider)
source = DuckRelationDataSource.from_arrow(pa.table({"x": [1, 2]}), "t")
suite.run([source], ResultKey(dt.date(2024, 5, 6)))
provider.shutdown()
print(suite.execution_id)
"""


def test_configure_with_metrics_installs_the_global_meter_provider_runs_use(
    tmp_path: Path,
) -> None:
    path = tmp_path / "global.jsonl"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    execution_id = done.stdout.strip()
    documents = [json.loads(line) for line in path.read_text().splitlines()]
    [metrics] = [d for d in documents if "resourceMetrics" in d]
    assert _exemplar_trace_ids(metrics)["dqx.metric.value"] == {execution_id}


def test_dqx_run_over_otlp_sends_the_run_metrics_to_the_collector_too(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for variable in [v for v in os.environ if v.startswith(("OTEL_", "DQX_"))]:
        monkeypatch.delenv(variable)
    (tmp_path / "checks.py").write_text(
        "from dqx import check\n\n"
        "@check(name='Rows', severity='P2')\n"
        "def rows(mp, ctx):\n"
        "    ctx.assert_that(mp.num_rows()).where(name='rows').is_gt(0)\n"
    )
    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "t.parquet")
    endpoint = receiver.url
    monkeypatch.chdir(tmp_path)
    flags = ["--db", f"sqlite:///{tmp_path / 'dqx.db'}", "--otlp-endpoint", endpoint]
    outcome = CliRunner().invoke(
        main,
        [
            "run",
            "checks.py",
            "--data",
            "t=t.parquet",
            "--date",
            "2024-05-06",
            "--format",
            "json",
            *flags,
        ],
    )
    assert outcome.exit_code == 0, outcome.output
    execution_id = json.loads(outcome.stdout)["execution_id"]
    [body] = receiver.bodies("/v1/metrics")
    request = ExportMetricsServiceRequest.FromString(body)
    values = {
        metric.name: [
            (point.as_double, {e.trace_id.hex() for e in point.exemplars})
            for point in metric.gauge.data_points
        ]
        for resource in request.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "dqx.metric.value"
    }
    assert values == {"dqx.metric.value": [(3.0, {execution_id})]}
