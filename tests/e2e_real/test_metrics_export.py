"""A run's OTel metrics through the real collector's metrics pipeline.

dqx exports both signals over OTLP/HTTP (``telemetry.configure(..., metrics=True)``) to
the collector running otel-collector.yaml as shipped. Its metrics pipeline forwards
them with the ``otlphttp/prometheus`` exporter to Prometheus's OTLP path (a local
receiver stands in: no Prometheus can be built here) and writes them as OTLP JSON
lines. Both must hold every value the run computed, 64 bits exact, each point's
exemplar naming the run's trace, and the assertion counter by status.
"""

from __future__ import annotations

import gzip
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from dqx import VerificationSuite, telemetry
from dqx.orm.repositories import MetricDB
from dqx.traces.model import JSON_DECODER
from tests.e2e_real.real_programs import Collector, wait_for
from tests.e2e_real.real_runs import CHECKS, DAY, bits, run_once
from tests.support.receivers import Receiver

SUITE = "Orders e2e metrics"
METRICS_PATH = "/api/v1/otlp/v1/metrics"

#: (dataset, metric name) -> (value bits, exemplar trace ids), one metric pipeline's view.
Points = dict[tuple[str, str], tuple[str, set[str]]]


def _json_attributes(attributes: list[dict[str, Any]]) -> dict[str, str]:
    return {a["key"]: a["value"].get("stringValue", "") for a in attributes}


def _proto_attributes(attributes: Any) -> dict[str, str]:
    pairs: list[KeyValue] = list(attributes)
    return {pair.key: pair.value.string_value for pair in pairs}


def _from_file(path: Path) -> tuple[Points, Counter[str]]:
    """The run's gauge points and assertion counts in the collector's JSON lines."""
    points: Points = {}
    assertions: Counter[str] = Counter()
    if not path.exists():
        return points, assertions
    for line in path.read_text().splitlines():
        # dqx's decoder: the collector writes a negative zero as -0, an integer to json.
        for resource in JSON_DECODER.decode(line)["resourceMetrics"]:
            for scope in resource["scopeMetrics"]:
                for metric in scope["metrics"]:
                    if metric["name"] == "dqx.metric.value":
                        for point in metric["gauge"]["dataPoints"]:
                            labels = _json_attributes(point["attributes"])
                            if labels.get("dqx.suite.name") != SUITE:
                                continue
                            key = (labels["dqx.dataset"], labels["dqx.metric.name"])
                            ids = {e["traceId"] for e in point.get("exemplars", [])}
                            points[key] = (bits(point["asDouble"]), ids)
                    elif metric["name"] == "dqx.assertions":
                        for point in metric["sum"]["dataPoints"]:
                            labels = _json_attributes(point["attributes"])
                            if labels.get("dqx.suite.name") == SUITE:
                                count = int(point["asInt"])
                                assertions[labels["dqx.assertion.status"]] += count
    return points, assertions


def _from_prometheus_standin(receiver: Receiver) -> Points:
    """The run's gauge points in the OTLP/HTTP requests the collector forwarded."""
    points: Points = {}
    for post in receiver.posts:
        if post.path != METRICS_PATH:
            continue
        # The exporter compresses with gzip by default, as Prometheus accepts.
        gzipped = post.headers.get("content-encoding") == "gzip"
        request = ExportMetricsServiceRequest.FromString(
            gzip.decompress(post.body) if gzipped else post.body
        )
        for resource in request.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != "dqx.metric.value":
                        continue
                    for point in metric.gauge.data_points:
                        labels = _proto_attributes(point.attributes)
                        if labels.get("dqx.suite.name") != SUITE:
                            continue
                        key = (labels["dqx.dataset"], labels["dqx.metric.name"])
                        ids = {e.trace_id.hex() for e in point.exemplars}
                        points[key] = (bits(point.as_double), ids)
    return points


def test_a_runs_metrics_reach_prometheus_and_the_file_with_the_run_as_exemplar(
    collector: Collector,
    prometheus_standin: Receiver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    provider = telemetry.configure(
        service_name="dqx-e2e-metrics",
        exporter="otlp",
        endpoint=collector.http_endpoint,
        set_global=False,
        metrics=True,
    )
    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    suite = VerificationSuite(
        CHECKS,
        db,
        SUITE,
        tracer_provider=provider,
        meter_provider=telemetry.meter_provider(provider),
    )
    run_once(suite)
    provider.shutdown()  # exports both signals
    result = suite.result
    assert result is not None
    expected: Points = {
        (m.dataset, m.name): (bits(m.value), {suite.execution_id})
        for m in result.metrics
        if m.value is not None and m.yyyy_mm_dd == DAY
    }
    assert len(expected) > 100

    # The collector batches: wait until the whole run has come out of both exporters.
    wait_for(
        "the run's metric points at the Prometheus stand-in",
        lambda: _from_prometheus_standin(prometheus_standin).keys() >= expected.keys(),
    )
    assert _from_prometheus_standin(prometheus_standin) == expected
    wait_for(
        f"the run's metric points in {collector.metrics_file}",
        lambda: _from_file(collector.metrics_file)[0].keys() >= expected.keys(),
    )
    points, assertions = _from_file(collector.metrics_file)
    assert points == expected
    assert assertions == Counter(r.status for r in result.results)
