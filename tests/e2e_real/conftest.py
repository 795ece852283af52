"""Fixtures starting the real programs (see real_programs.py) once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_real.real_programs import (
    Collector,
    Jaeger,
    otlp_base,
    start_collector,
    start_jaeger,
    tool,
)
from tests.support.receivers import Receiver, receive


@pytest.fixture(scope="session")
def jaeger_bin() -> Path:
    return tool("jaeger", "DQX_JAEGER_BIN")


@pytest.fixture(scope="session")
def otelcol_bin() -> Path:
    return tool("otelcol-dqx", "DQX_OTELCOL_BIN")


@pytest.fixture(scope="session")
def jaeger(jaeger_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    started = start_jaeger(jaeger_bin, tmp_path_factory.mktemp("jaeger"), "jaeger")
    yield started
    started.program.stop()


@pytest.fixture(scope="session")
def tempo_standin(jaeger_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    """Where the collector's ``otlp/tempo`` exporter sends: a second, separate Jaeger."""
    started = start_jaeger(jaeger_bin, tmp_path_factory.mktemp("tempo"), "jaeger-as-tempo")
    yield started
    started.program.stop()


@pytest.fixture(scope="session")
def prometheus_standin() -> Iterator[Receiver]:
    """Where the collector's ``otlphttp/prometheus`` exporter sends: an HTTP receiver
    keeping each OTLP request, at Prometheus's OTLP path (``/api/v1/otlp``)."""
    with receive() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def collector(
    otelcol_bin: Path,
    jaeger: Jaeger,
    tempo_standin: Jaeger,
    prometheus_standin: Receiver,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Collector]:
    """One collector for the tests that need it up; the outage test starts its own."""
    workdir = tmp_path_factory.mktemp("otelcol")
    started = start_collector(
        otelcol_bin, jaeger, tempo_standin, workdir, otlp_base(prometheus_standin)
    )
    yield started
    started.program.stop()


@pytest.fixture
def fresh_collector(
    otelcol_bin: Path,
    jaeger: Jaeger,
    tempo_standin: Jaeger,
    prometheus_standin: Receiver,
    tmp_path: Path,
) -> Iterator[Collector]:
    """A collector of the test's own, which the test may stop."""
    started = start_collector(
        otelcol_bin,
        jaeger,
        tempo_standin,
        tmp_path,
        otlp_base(prometheus_standin),
        "own-collector",
    )
    yield started
    started.program.stop()


@pytest.fixture(autouse=True)
def _no_ambient_otel_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's OTEL_* settings must not redirect the tests' exports."""
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
