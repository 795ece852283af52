"""The run metrics in the deploy stack: collector -> Prometheus -> a Grafana panel whose
points open the run's trace. Structural, as the rest of tests/deploy: no Docker engine
runs here (the collector's metrics pipeline runs for real in tests/e2e_real).

The last test ties the dashboard to the code: the series and labels its PromQL names
are the ones a real run records, named as Prometheus names OTLP metrics.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from dqx import ResultKey, VerificationSuite
from dqx.orm.repositories import MetricDB
from tests.deploy.test_compose import DEPLOY, compose, mounted_config, mounts, published
from tests.deploy.test_grafana import dashboard, datasources
from tests.support.runs import DAY, Traced, orders, orders_check


def _prometheus() -> dict[str, Any]:
    service: dict[str, Any] = compose()["services"]["prometheus"]
    return service


def _metric_panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["datasource"]["type"] == "prometheus"]


def test_the_collector_pushes_metrics_to_prometheus_otlp_receiver() -> None:
    services = compose()["services"]
    collector = services["otel-collector"]
    config = mounted_config(collector, "/etc/otelcol-contrib/config.yaml")
    metrics = config["service"]["pipelines"]["metrics"]
    assert metrics["receivers"] == ["otlp"]
    assert metrics["processors"][-1] == "batch"
    [to_prometheus] = [name for name in metrics["exporters"] if name.startswith("otlphttp/")]
    url = urlsplit(config["exporters"][to_prometheus]["endpoint"])
    # The exporter appends /v1/metrics: Prometheus takes OTLP at /api/v1/otlp/v1/metrics.
    assert (url.scheme, url.hostname, url.port, url.path) == (
        "http",
        "prometheus",
        9090,
        "/api/v1/otlp",
    )
    assert "prometheus" in collector["depends_on"]
    # The metrics file lands beside the trace file, in the directory mounted from the host.
    [to_file] = [name for name in metrics["exporters"] if name.startswith("file/")]
    path = PurePosixPath(config["exporters"][to_file]["path"])
    assert str(path.parent) in mounts(collector)
    assert path != PurePosixPath(config["exporters"]["file/traces"]["path"])


def test_prometheus_takes_otlp_and_keeps_exemplars() -> None:
    prometheus = _prometheus()
    flags = prometheus["command"]
    assert "--web.enable-otlp-receiver" in flags
    assert "--enable-feature=exemplar-storage" in flags
    assert not any(flag.startswith("--web.listen-address") for flag in flags)  # so 9090
    assert published(prometheus).get(9090) == 9090
    [config_flag] = [f for f in flags if f.startswith("--config.file=")]
    config = mounted_config(prometheus, config_flag.split("=", 1)[1])
    assert config["storage"]["exemplars"]["max_exemplars"] > 0
    assert Path(DEPLOY / "prometheus.yml").is_file()
    assert "prometheus-data" in compose()["volumes"]


def test_grafana_reads_prometheus_and_opens_exemplars_in_tempo() -> None:
    by_uid = {source["uid"]: source for source in datasources()}
    prometheus = by_uid["prometheus"]
    assert prometheus["type"] == "prometheus"
    assert urlsplit(prometheus["url"])[1:3] == ("prometheus:9090", "")
    [destination] = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    # Prometheus labels an OTLP exemplar's trace id trace_id.
    assert destination["name"] == "trace_id"
    assert by_uid[destination["datasourceUid"]]["type"] == "tempo"
    grafana = compose()["services"]["grafana"]
    assert "prometheus" in grafana["depends_on"]


def test_the_dashboard_plots_dqx_metric_value_with_exemplars() -> None:
    [panel] = _metric_panels()
    assert panel["type"] == "timeseries"
    targets = {t["refId"]: t for t in panel["targets"]}
    assert "dqx_metric_value{" in targets["A"]["expr"]
    assert all(t["exemplar"] is True for t in targets.values())
    assert all(
        t["datasource"] == {"type": "prometheus", "uid": "prometheus"} for t in targets.values()
    )
    # The template variables come from the metric store; metric names hold parentheses,
    # so every one is interpolated as an escaped regular expression.
    variables = re.findall(r"\$\{?(\w+)(:\w+)?\}?", " ".join(t["expr"] for t in targets.values()))
    assert variables and all(fmt == ":regex" for _, fmt in variables)
    known = {variable["name"] for variable in dashboard()["templating"]["list"]}
    assert {name for name, _ in variables} <= known


def _prometheus_name(metric: Any) -> list[str]:
    """The series names Prometheus 3 gives an OTLP metric (UnderscoreEscapingWithSuffixes)."""
    base = metric.name.replace(".", "_")
    if metric.unit == "s":
        base += "_seconds"
    kind = type(metric.data).__name__
    if kind == "Sum":
        return [base + "_total"]
    if kind == "Histogram":
        return [base + suffix for suffix in ("_bucket", "_sum", "_count")]
    return [base]


def test_every_series_and_label_the_panel_names_is_one_a_run_records(
    db: MetricDB, traced: Traced
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    suite = VerificationSuite(
        [orders_check], db, "Orders", tracer_provider=traced.provider, meter_provider=provider
    )
    suite.run([orders()], ResultKey(DAY, {"env": "test"}))
    data = reader.get_metrics_data()
    assert data is not None
    labels: dict[str, set[str]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                keys = {
                    key.replace(".", "_")
                    for point in metric.data.data_points
                    for key in (point.attributes or {})
                }
                for name in _prometheus_name(metric):
                    labels[name] = keys | ({"le"} if name.endswith("_bucket") else set())
    provider.shutdown()
    [panel] = _metric_panels()
    for target in panel["targets"]:
        for series, matchers in re.findall(r"(\w+)\{([^}]*)\}", target["expr"]):
            assert series in labels, f"{target['refId']}: no run records {series}"
            used = set(re.findall(r"(\w+)\s*=~?", matchers))
            assert used <= labels[series], f"{series} has no label {used - labels[series]}"
        for legend_label in re.findall(r"\{\{(\w+)\}\}", target.get("legendFormat", "")):
            assert any(legend_label in found for found in labels.values())
