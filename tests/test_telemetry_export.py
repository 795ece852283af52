"""telemetry.export_status: whether a configured provider's spans got where they were sent.

OpenTelemetry exports in the background and only logs a failure; the CLI reads this
status after shutting its provider down to say that a run's trace did not arrive.
The real collector going away mid-run is tests/e2e_real/test_collector_outage.py.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

from dqx import telemetry


def _spans(provider: TracerProvider, count: int) -> None:
    tracer = provider.get_tracer("dqx-test")
    for i in range(count):
        with tracer.start_as_current_span(f"span {i}"):
            pass


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_every_span_written_is_counted(tmp_path: Path) -> None:
    provider = telemetry.configure(exporter="file", path=tmp_path / "t.jsonl", set_global=False)
    _spans(provider, 3)
    provider.shutdown()
    status = telemetry.export_status(provider)
    assert status is not None and status.ok
    assert (status.exported, status.failed, status.error) == (3, 0, None)
    assert status.destination == str(tmp_path / "t.jsonl")


def test_spans_a_collector_never_took_are_counted_as_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "1")  # seconds, for the retries
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    provider = telemetry.configure(exporter="otlp", endpoint=endpoint, set_global=False)
    _spans(provider, 2)
    provider.shutdown()
    status = telemetry.export_status(provider)
    assert status is not None and not status.ok
    assert (status.exported, status.failed) == (0, 2)
    assert status.destination == endpoint and status.error


def test_a_provider_configure_did_not_build_has_no_status() -> None:
    assert telemetry.export_status(TracerProvider()) is None
    assert telemetry.export_status(telemetry.configure(exporter="none", set_global=False)) is None
