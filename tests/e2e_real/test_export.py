"""A run exported over OTLP (HTTP and gRPC) through the real collector, read back.

dqx exports with ``telemetry.configure(exporter="otlp")`` to the collector running
otel-collector.yaml; the collector forwards to Jaeger (and to the second Jaeger that
stands in for Tempo) and writes its JSON-lines file. Jaeger's api_v3 and v1, and the
collector's file, must each hold every span the SDK finished, and reconcile with the
store: every metric matched, every value the same 64 bits.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dqx import metrics_by_execution_id, reconcile, telemetry
from dqx.orm.repositories import Metric, MetricDB
from dqx.traces import TraceSource
from dqx.traces.model import Trace
from tests.e2e_real.real_programs import Collector, Jaeger, metric_store
from tests.e2e_real.real_runs import DAY, LocalCopy, run_suite, stored, traced


@dataclass
class ExportedRun:
    protocol: str
    execution_id: str
    span_ids: set[str]
    metrics: list[Metric]  # what the run computed or reused, as it held them
    db: MetricDB
    export: telemetry.ExportStatus


@pytest.fixture(
    scope="module",
    params=[("http/protobuf", "sqlite"), ("grpc", "postgresql")],
    ids=["http-sqlite", "grpc-postgresql"],
)
def exported(
    request: pytest.FixtureRequest, collector: Collector, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ExportedRun]:
    """Two days of one suite, exported over ``protocol`` into ``store``; the second day
    is the run the tests read back (it reuses the first day's values as history)."""
    protocol, store = request.param
    with metric_store(store, tmp_path_factory.mktemp("store")) as url:
        yield from _exported(protocol, url, collector)


def _exported(protocol: str, store_url: str, collector: Collector) -> Iterator[ExportedRun]:
    endpoint = collector.http_endpoint if protocol == "http/protobuf" else collector.grpc_endpoint
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            env.delenv(name)
        env.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", protocol)
        provider = telemetry.configure(
            service_name=f"dqx-e2e-{protocol.split('/')[0]}",
            exporter="otlp",
            endpoint=endpoint,
            set_global=False,
        )
    local = LocalCopy(provider)
    db = MetricDB(store_url)
    run_suite(db, provider, DAY - dt.timedelta(days=1))
    suite = run_suite(db, provider, DAY)
    provider.shutdown()  # exports what is still buffered
    export = telemetry.export_status(provider)
    assert export is not None
    assert suite.result is not None
    yield ExportedRun(
        protocol,
        suite.execution_id,
        local.span_ids(suite.execution_id),
        suite.result.metrics,
        db,
        export,
    )
    db.dispose()


def test_every_span_was_accepted_by_the_collector(exported: ExportedRun) -> None:
    assert exported.export.ok, exported.export
    assert exported.export.failed == 0
    # Two runs' spans, all accepted; the second run alone has over 100 metric events.
    assert exported.export.exported > len(exported.span_ids) >= 5
    assert len(exported.metrics) > 100


def _read(source_name: str, run: ExportedRun, jaeger: Jaeger, collector: Collector) -> Trace:
    if source_name == "otlp-file":
        return collector.file_trace(run.execution_id, run.span_ids)
    return jaeger.trace(run.execution_id, run.span_ids, api=source_name.removeprefix("jaeger-"))


def _source(source_name: str, jaeger: Jaeger, collector: Collector) -> TraceSource:
    if source_name == "otlp-file":
        return collector.file_source()
    return jaeger.source(source_name.removeprefix("jaeger-"))


@pytest.mark.parametrize("source_name", ["jaeger-v3", "jaeger-v1", "otlp-file"])
def test_the_trace_read_back_reconciles_with_the_store_bit_for_bit(
    exported: ExportedRun, source_name: str, jaeger: Jaeger, collector: Collector
) -> None:
    execution_id = exported.execution_id
    trace = _read(source_name, exported, jaeger, collector)
    # Exactly the spans the SDK finished: nothing lost, nothing from elsewhere.
    assert {span.span_id for span in trace.spans} == exported.span_ids
    assert trace.root is not None and trace.root.name == "dqx.suite.run"
    assert trace.root.attributes["dqx.execution_id"] == execution_id
    if source_name == "jaeger-v3":
        assert "/api/v3/traces/" in trace.origin
    elif source_name == "jaeger-v1":
        assert "/api/traces/" in trace.origin and "/api/v3/" not in trace.origin

    source = _source(source_name, jaeger, collector)
    rec = reconcile(exported.db, execution_id, source)
    assert rec.ok and rec.trace_found and rec.trace_expected, rec.summary
    assert not rec.missing_in_db and not rec.missing_in_trace and not rec.mismatched
    assert {m.id for m in rec.matched} == {m.id for m in exported.metrics}
    assert {m.origin for m in rec.matched} == {"computed", "history"}

    # Bit for bit: what the run held, what the store holds, what the trace carries.
    in_store = stored(exported.db.metrics_for_execution(execution_id))
    assert in_store == stored(exported.metrics)
    assert traced(trace) == in_store

    union = metrics_by_execution_id(exported.db, execution_id, trace=source)
    assert len(union) == len(exported.metrics)
    assert {symbol.tags["__origin"] for symbol in union} == {"db+trace"}


def test_the_tempo_exporter_delivered_the_same_trace(
    exported: ExportedRun, tempo_standin: Jaeger
) -> None:
    trace = tempo_standin.trace(exported.execution_id, exported.span_ids)
    assert {span.span_id for span in trace.spans} == exported.span_ids
    assert traced(trace) == stored(exported.metrics)


def test_the_collector_file_holds_otlp_json_lines(
    exported: ExportedRun, collector: Collector
) -> None:
    collector.file_trace(exported.execution_id, exported.span_ids)
    lines = Path(collector.trace_file).read_text().splitlines()
    assert lines and all(line.startswith('{"resourceSpans":') for line in lines)
    assert any(exported.execution_id in line for line in lines)  # ids in hex
