"""otel-collector.yaml, loaded by a real OpenTelemetry Collector.

The collector is ``tools/otelcol-dqx``: built from the Collector's Go modules at one
release, with exactly the components the file names. The file is used as shipped;
addresses and the trace file change only through the ``DQX_COLLECTOR_*`` variables
it reads.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.e2e_real.real_programs import COLLECTOR_CONFIG, Collector, Jaeger, collector_env

#: Where the metrics would go; nothing needs to listen for validate and print-config.
PROMETHEUS = "http://127.0.0.1:9/api/v1/otlp"
KINDS = ("receivers", "processors", "exporters", "extensions", "connectors")


def otelcol(binary: Path, *args: str, env: Mapping[str, str] | None = None) -> Any:
    return subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DQX_COLLECTOR_")},
            **(env or {}),
        },
    )


def resolved(binary: Path, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The configuration as the collector resolves it (variables, then defaults)."""
    answer = otelcol(
        binary, "print-config", "--mode", "unredacted", "--config", str(COLLECTOR_CONFIG), env=env
    )
    assert answer.returncode == 0, answer.stderr
    document = yaml.safe_load(answer.stdout)
    assert isinstance(document, dict)
    return document


def leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every scalar of a document, by its dotted path (list items by index)."""
    if isinstance(node, dict | list):
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            yield from leaves(value, (*path, str(key)))
    else:
        yield ".".join(path), node


def test_the_collector_has_exactly_the_components_the_config_uses(otelcol_bin: Path) -> None:
    config = yaml.safe_load(COLLECTOR_CONFIG.read_text())
    used = {kind: {name.split("/")[0] for name in config.get(kind) or {}} for kind in KINDS}
    answer = otelcol(otelcol_bin, "components")
    assert answer.returncode == 0, answer.stderr
    listed = yaml.safe_load(answer.stdout)
    built = {kind: {c["name"] for c in listed.get(kind) or []} for kind in KINDS}
    assert built == used
    assert used["exporters"] == {"otlp", "otlphttp", "file", "debug"}
    assert used["extensions"] == {"health_check"}


def test_validate_passes_on_the_file_as_shipped(
    otelcol_bin: Path, jaeger: Jaeger, tempo_standin: Jaeger, tmp_path: Path
) -> None:
    # With nothing set (the defaults compose relies on) and with the tests' addresses.
    env = collector_env(jaeger, tempo_standin, tmp_path / "traces.jsonl", PROMETHEUS)
    for variables in ({}, env):
        answer = otelcol(otelcol_bin, "validate", "--config", str(COLLECTOR_CONFIG), env=variables)
        assert answer.returncode == 0, answer.stdout + answer.stderr
    # validate does read the variables: a bad one is refused, naming the field.
    answer = otelcol(
        otelcol_bin,
        "validate",
        "--config",
        str(COLLECTOR_CONFIG),
        env={**env, "DQX_COLLECTOR_METRICS_PORT": "not-a-port"},
    )
    assert answer.returncode != 0
    assert "prometheus.port" in answer.stdout + answer.stderr


def test_the_environment_changes_addresses_and_paths_and_nothing_else(
    otelcol_bin: Path, jaeger: Jaeger, tempo_standin: Jaeger, tmp_path: Path
) -> None:
    env = collector_env(jaeger, tempo_standin, tmp_path / "traces.jsonl", PROMETHEUS)
    shipped = dict(leaves(resolved(otelcol_bin)))
    moved = dict(leaves(resolved(otelcol_bin, env)))
    assert shipped.keys() == moved.keys()
    changed = {path: moved[path] for path in shipped if shipped[path] != moved[path]}
    prometheus = "service.telemetry.metrics.readers.0.pull.exporter.prometheus"
    assert changed == {
        "receivers.otlp.protocols.grpc.endpoint": env["DQX_COLLECTOR_OTLP_GRPC_ENDPOINT"],
        "receivers.otlp.protocols.http.endpoint": env["DQX_COLLECTOR_OTLP_HTTP_ENDPOINT"],
        "extensions.health_check.endpoint": env["DQX_COLLECTOR_HEALTH_ENDPOINT"],
        "exporters.otlp/jaeger.endpoint": env["DQX_COLLECTOR_JAEGER_ENDPOINT"],
        "exporters.otlp/tempo.endpoint": env["DQX_COLLECTOR_TEMPO_ENDPOINT"],
        "exporters.file/traces.path": env["DQX_COLLECTOR_TRACE_FILE"],
        "exporters.otlphttp/prometheus.endpoint": env["DQX_COLLECTOR_PROMETHEUS_ENDPOINT"],
        "exporters.file/metrics.path": env["DQX_COLLECTOR_METRICS_FILE"],
        f"{prometheus}.host": env["DQX_COLLECTOR_METRICS_HOST"],
        f"{prometheus}.port": int(env["DQX_COLLECTOR_METRICS_PORT"]),
    }
    # Without the variables the shipped defaults apply: compose's service names.
    assert shipped["exporters.otlp/jaeger.endpoint"] == "jaeger:4317"
    assert shipped["exporters.otlp/tempo.endpoint"] == "tempo:4317"
    assert shipped["receivers.otlp.protocols.grpc.endpoint"] == "0.0.0.0:4317"
    assert shipped["exporters.file/traces.path"] == "/var/lib/dqx/traces/dqx-traces.jsonl"
    assert shipped["exporters.otlphttp/prometheus.endpoint"] == "http://prometheus:9090/api/v1/otlp"
    assert shipped["exporters.file/metrics.path"] == "/var/lib/dqx/traces/dqx-metrics.jsonl"


def test_the_collector_runs_the_file_and_reports_healthy(collector: Collector) -> None:
    assert collector.program.running
    assert httpx.get(collector.health_url, timeout=5).status_code == 200
    assert "Everything is ready" in collector.program.log()
    # Both OTLP receivers listen where the variables said.
    for endpoint in (collector.grpc_endpoint, collector.http_endpoint):
        host, port = endpoint.removeprefix("http://").rsplit(":", 1)
        socket.create_connection((host, int(port)), timeout=5).close()
