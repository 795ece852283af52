"""OTLPFileTraceSource reads a run's trace from OTLP JSON lines, rotated and gzipped too."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dqx import telemetry
from dqx.common import TraceReadError
from dqx.orm.repositories import InMemoryMetricDB
from dqx.traces import OTLPFileTraceSource, Trace
from tests.support.backends import otlp_json, protobuf_json, write_otlp_lines
from tests.support.runs import Run, Traced, run_suite


def _metric_ids(trace: Trace | None) -> set[str]:
    assert trace is not None
    return {str(e.attributes["dqx.metric.id"]) for _s, e in trace.events("dqx.metric")}


def test_a_trace_written_by_dqxs_file_exporter_is_read_back(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    provider = telemetry.configure(exporter="file", path=path, set_global=False)
    db = InMemoryMetricDB()
    traced = Traced()
    traced.provider = provider  # the run exports through the file exporter only
    first = run_suite(db, traced)
    second = run_suite(db, traced)
    provider.shutdown()
    assert first.result is not None and second.result is not None

    trace = OTLPFileTraceSource(path).get_trace(first.execution_id)

    assert trace is not None and trace.root is not None
    assert trace.root.attributes["dqx.execution_id"] == first.execution_id
    assert _metric_ids(trace) == {m.id for m in first.result.metrics}
    assert all(span.trace_id == first.execution_id for span in trace.spans)


def test_spans_spread_over_rotated_and_gzipped_files_are_all_read(tmp_path: Path, run: Run) -> None:
    spans = run.spans
    third = len(spans) // 3
    write_otlp_lines(tmp_path / "traces.jsonl", spans[:third])
    # The Collector's rotation keeps backups as <name>-<time><ext>, gzipped when asked.
    backup = tmp_path / "traces-2024-03-02T10-00-00.000.jsonl"
    write_otlp_lines(backup, spans[third : 2 * third])
    with open(backup, "rb") as plain, gzip.open(f"{backup}.gz", "wb") as packed:
        packed.write(plain.read())
    backup.unlink()
    # logrotate's numbering.
    write_otlp_lines(tmp_path / "traces.jsonl.1", spans[2 * third :])
    (tmp_path / "unrelated.jsonl").write_text("not json at all\n")

    source = OTLPFileTraceSource(tmp_path / "traces.jsonl")

    assert {p.name for p in source.files()} == {
        "traces.jsonl",
        "traces-2024-03-02T10-00-00.000.jsonl.gz",
        "traces.jsonl.1",
    }
    trace = source.get_trace(run.execution_id)
    assert trace is not None and len(trace.spans) == len(spans)
    assert _metric_ids(trace) == {m.id for m in run.metrics}


def test_a_gzipped_file_reads_back_whatever_second_it_was_written_in(
    tmp_path: Path, run: Run
) -> None:
    # gzip's header holds the writing time (MTIME, little-endian, from byte 4); every
    # low byte of it comes round once in 256 seconds, and each must read the same.
    plain = tmp_path / "traces.jsonl"
    write_otlp_lines(plain, run.spans)
    lines = plain.read_bytes()
    expected = {m.id for m in run.metrics}
    unread = []
    for low_byte in range(256):
        packed = tmp_path / f"at-{low_byte}.jsonl.gz"
        packed.write_bytes(gzip.compress(lines, mtime=1_764_000_000 // 256 * 256 + low_byte))
        trace = OTLPFileTraceSource(packed).get_trace(run.execution_id)
        if trace is None or _metric_ids(trace) != expected:
            unread.append(low_byte)
    assert unread == []


def test_a_directory_a_glob_and_a_list_of_files_are_all_sources(tmp_path: Path, run: Run) -> None:
    half = len(run.spans) // 2
    write_otlp_lines(tmp_path / "a.json", run.spans[:half])
    write_otlp_lines(tmp_path / "b.json", run.spans[half:])
    expected = {m.id for m in run.metrics}

    assert _metric_ids(OTLPFileTraceSource(tmp_path).get_trace(run.execution_id)) == expected
    pattern = str(tmp_path / "*.json")
    assert _metric_ids(OTLPFileTraceSource(pattern).get_trace(run.execution_id)) == expected
    both = OTLPFileTraceSource([tmp_path / "a.json", tmp_path / "b.json"])
    assert _metric_ids(both.get_trace(run.execution_id)) == expected


def test_protobuf_json_lines_with_base64_ids_are_read_too(tmp_path: Path, run: Run) -> None:
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(protobuf_json(run.spans)) + "\n")

    assert _metric_ids(OTLPFileTraceSource(path).get_trace(run.execution_id)) == {
        m.id for m in run.metrics
    }


def test_a_trace_the_files_do_not_hold_is_none(tmp_path: Path, run: Run) -> None:
    write_otlp_lines(tmp_path / "traces.jsonl", run.spans)
    assert OTLPFileTraceSource(tmp_path / "traces.jsonl").get_trace("e" * 32) is None


def test_no_file_at_the_path_is_a_trace_read_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    with pytest.raises(TraceReadError, match="no OTLP trace file") as raised:
        OTLPFileTraceSource(missing).get_trace("a" * 32)
    assert str(missing) in str(raised.value)


def test_a_corrupt_line_of_the_trace_is_a_trace_read_error_with_file_and_line(
    tmp_path: Path, run: Run
) -> None:
    path = tmp_path / "traces.jsonl"
    good = json.dumps(otlp_json(run.spans))
    path.write_text("{}\n" + good[: len(good) // 2] + "\n")

    with pytest.raises(TraceReadError, match=rf"{path.name}:2: not a line of OTLP JSON"):
        OTLPFileTraceSource(path).get_trace(run.execution_id)
