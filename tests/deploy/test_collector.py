"""otel-collector.yaml and the other collector-format configs, checked structurally.

No Docker engine runs here, so these tests read the files as the collector would:
every pipeline names components that are defined, and the ports are the OTLP ones.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR = ROOT / "otel-collector.yaml"
JAEGER = ROOT / "deploy" / "jaeger.yaml"


# `${env:NAME:-default}`, as the collector resolves it when NAME is unset (as in compose).
ENV_DEFAULT = re.compile(r"\$\{env:[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(ENV_DEFAULT.sub(r"\1", path.read_text()))
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


@pytest.mark.parametrize("path", [COLLECTOR, JAEGER], ids=["collector", "jaeger"])
def test_every_pipeline_names_defined_components(path: Path) -> None:
    config = load(path)
    service = config["service"]
    pipelines = service["pipelines"]
    assert pipelines, f"{path.name} has no pipelines"
    for name, pipeline in pipelines.items():
        assert pipeline.get("receivers"), f"pipeline {name} has no receivers"
        assert pipeline.get("exporters"), f"pipeline {name} has no exporters"
        for kind in ("receivers", "processors", "exporters"):
            defined = set(config.get(kind) or {})
            for component in pipeline.get(kind) or ():
                assert component in defined, (
                    f"{path.name}: {name} uses undefined {kind} {component}"
                )
    for extension in service.get("extensions") or ():
        assert extension in (config.get("extensions") or {}), f"undefined extension {extension}"
    # A component defined but in no pipeline is a typo waiting to confuse someone.
    for kind in ("receivers", "processors", "exporters"):
        used = {c for p in pipelines.values() for c in p.get(kind) or ()}
        assert set(config.get(kind) or {}) <= used, f"{path.name}: unused {kind}"


def test_collector_receives_otlp_on_4317_and_4318() -> None:
    protocols = load(COLLECTOR)["receivers"]["otlp"]["protocols"]
    assert port(protocols["grpc"]["endpoint"]) == 4317
    assert port(protocols["http"]["endpoint"]) == 4318
    # Inside a container the receiver must listen beyond loopback.
    assert protocols["grpc"]["endpoint"].startswith("0.0.0.0:")
    assert protocols["http"]["endpoint"].startswith("0.0.0.0:")


def test_collector_batches_then_exports_to_jaeger_tempo_and_a_json_lines_file() -> None:
    config = load(COLLECTOR)
    traces = config["service"]["pipelines"]["traces"]
    assert traces["processors"][-1] == "batch"
    exporters = config["exporters"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for name in traces["exporters"]:
        by_type.setdefault(name.split("/", 1)[0], []).append(exporters[name])
    endpoints = {e["endpoint"].split(":")[0] for e in by_type["otlp"]}
    assert endpoints == {"jaeger", "tempo"}
    [file_exporter] = by_type["file"]
    assert file_exporter.get("format", "json") == "json"
    assert file_exporter["path"].endswith(".jsonl")
