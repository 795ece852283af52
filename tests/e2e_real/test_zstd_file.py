"""The real Collector's file exporter with ``compression: zstd`` (its only compression):
the file it writes is read back and reconciles with the store, in the library and
through ``dqx reconcile --trace-file``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqx import reconcile, telemetry
from dqx.orm.repositories import MetricDB
from tests.e2e_real.real_programs import Collector, Jaeger, dqx, otlp_base, start_collector
from tests.e2e_real.real_runs import DAY, LocalCopy, run_suite
from tests.support.receivers import Receiver

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@pytest.fixture
def zstd_collector(
    otelcol_bin: Path,
    jaeger: Jaeger,
    tempo_standin: Jaeger,
    prometheus_standin: Receiver,
    tmp_path: Path,
) -> Iterator[Collector]:
    started = start_collector(
        otelcol_bin,
        jaeger,
        tempo_standin,
        tmp_path,
        otlp_base(prometheus_standin),
        "zstd-collector",
        overrides={"exporters::file/traces::compression": "zstd"},
    )
    yield started
    started.program.stop()


def test_a_trace_file_the_collector_compressed_with_zstd_reconciles(
    zstd_collector: Collector, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    provider = telemetry.configure(
        service_name="dqx-e2e-zstd",
        exporter="otlp",
        endpoint=zstd_collector.http_endpoint,
        set_global=False,
    )
    local = LocalCopy(provider)
    url = f"sqlite:///{tmp_path / 'dqx.db'}"
    db = MetricDB(url)
    suite = run_suite(db, provider, DAY)
    provider.shutdown()

    trace = zstd_collector.file_trace(suite.execution_id, local.span_ids(suite.execution_id))
    head = zstd_collector.trace_file.read_bytes()[:8]
    # What the Collector wrote: a record's length, then a zstd frame, no JSON lines.
    assert head[4:8] == ZSTD_MAGIC, head
    assert trace.spans
    rec = reconcile(db, suite.execution_id, zstd_collector.file_source())
    assert rec.ok and len(rec.matched) > 100, rec.summary
    outcome = dqx(
        "reconcile",
        suite.execution_id,
        "--db",
        url,
        "--trace-file",
        str(zstd_collector.trace_file),
    )
    assert outcome.returncode == 0, outcome.stderr
    db.dispose()
