"""Grafana trace links search the run's own time, so a link to an old run finds it.

Each caller that knows the run's times (alerts, the report, `dqx runs`, `dqx run`) is
checked on a real traced run: the spans its trace holds lie inside the link's range.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import urllib.parse
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.alerts import alert_for_run
from dqx.alerts.model import build_alert
from dqx.cli.runs import runs_command
from dqx.datasource import DuckRelationDataSource
from dqx.links import trace_url
from dqx.orm.repositories import MetricDB
from dqx.records import RunRecord
from dqx.report.model import report_from_result, report_from_store
from dqx.traces import OTLPFileTraceSource

GRAFANA = "https://grafana.example"
EXECUTION_ID = "0af7651916cd43dd8448eb211c80319c"
DAY = dt.date(2024, 3, 9)
HOUR_MS = 3_600_000


def _range(link: str | None) -> tuple[str, str]:
    """The time range Grafana Explore opens ``link`` on."""
    assert link is not None
    url = urllib.parse.urlsplit(link)
    (pane,) = json.loads(urllib.parse.parse_qs(url.query)["panes"][0]).values()
    return pane["range"]["from"], pane["range"]["to"]


def _ms(moment: dt.datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or dt.UTC).timestamp() * 1000)


def _covers(link: str | None, spans: list[tuple[int, int]]) -> bool:
    """Whether every (start, end) span, in nanoseconds, lies inside the link's range."""
    start, end = (int(edge) for edge in _range(link))
    return bool(spans) and all(start * 10**6 <= a and b <= end * 10**6 for a, b in spans)


def test_a_link_to_a_finished_run_searches_its_time_and_a_little_around_it() -> None:
    started = dt.datetime(2024, 1, 5, 6, 0, 0)  # naive UTC, as dq_run keeps it
    finished = started + dt.timedelta(seconds=42)
    link = trace_url(EXECUTION_ID, grafana=GRAFANA, started=started, finished=finished).grafana
    start, end = (int(edge) for edge in _range(link))
    assert start <= _ms(started) and end >= _ms(finished)
    # A little margin: no more than an hour either side, not a month.
    assert _ms(started) - start <= HOUR_MS and end - _ms(finished) <= HOUR_MS
    # The same instants given in another zone make the same link.
    zone = dt.timezone(dt.timedelta(hours=5, minutes=30))
    local = trace_url(
        EXECUTION_ID,
        grafana=GRAFANA,
        started=started.replace(tzinfo=dt.UTC).astimezone(zone),
        finished=finished.replace(tzinfo=dt.UTC).astimezone(zone),
    ).grafana
    assert _range(local) == _range(link)


def test_a_run_of_unknown_time_keeps_the_last_30_days_and_a_running_one_reaches_now() -> None:
    assert _range(trace_url(EXECUTION_ID, grafana=GRAFANA).grafana) == ("now-30d", "now")
    started = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    start, end = (
        int(e) for e in _range(trace_url(EXECUTION_ID, grafana=GRAFANA, started=started).grafana)
    )
    assert start <= _ms(started) and end >= _ms(dt.datetime.now(dt.UTC))


@check(name="Rows", severity="P1", datasets=["orders"])
def rows_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(5)


def _spans(finished: tuple[ReadableSpan, ...]) -> list[tuple[int, int]]:
    return [(s.start_time or 0, s.end_time or 0) for s in finished]


def test_alerts_and_reports_link_a_real_run_on_its_own_time(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    suite = VerificationSuite([rows_check], db, "Rows", tracer_provider=provider)
    source = DuckRelationDataSource.from_arrow(pa.table({"x": [1, 2]}), "orders")
    result = suite.run([source], ResultKey(DAY))
    spans = _spans(exporter.get_finished_spans())
    execution_id = suite.execution_id

    alert = alert_for_run(db, execution_id, grafana=GRAFANA)
    assert alert.failures  # "rows arrived" failed: a real alert with a trace link
    links = {
        "alert": alert.links.grafana,
        "report from the store": report_from_store(
            db, execution_id, grafana=GRAFANA
        ).links.trace.grafana,
        "report of the result": report_from_result(result, db, grafana=GRAFANA).links.trace.grafana,
    }
    for where, link in links.items():
        assert "now" not in _range(link), where  # absolute: right whenever it is opened
        assert _covers(link, spans), where

    # The same run's record 90 days on: its link reaches back to it; "now-30d" cannot.
    run = db.run(execution_id)
    assert isinstance(run, RunRecord) and run.finished is not None
    age = dt.timedelta(days=90)
    old = dataclasses.replace(run, started=run.started - age, finished=run.finished - age)
    old_link = build_alert(old, db.assertions(execution_id), grafana=GRAFANA).links.grafana
    age_ns = int(age.total_seconds()) * 10**9
    assert _covers(old_link, [(a - age_ns, b - age_ns) for a, b in spans])
    now_ms = _ms(dt.datetime.now(dt.UTC))
    assert int(_range(old_link)[1]) < now_ms - 30 * 24 * HOUR_MS  # outside "now-30d"
    db.dispose()


CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Rows", severity="P1", datasets=["orders"])
    def rows(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    """
)


def test_dqx_run_and_dqx_runs_link_the_run_on_its_own_time(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(pa.table({"x": [1, 2, 3]}), tmp_path / "orders.parquet")
    db_url = f"sqlite:///{tmp_path / 'dqx.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    outcome = subprocess.run(
        [
            *(str(Path(sys.executable).with_name("dqx")), "run", "checks.py"),
            *("--data", "orders=orders.parquet", "--date", DAY.isoformat(), "--db", db_url),
            *("--trace-file", "traces.jsonl", "--format", "json"),
        ],
        cwd=tmp_path,
        env={**env, "DQX_GRAFANA_URL": GRAFANA},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome.returncode == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    trace = OTLPFileTraceSource(tmp_path / "traces.jsonl").get_trace(document["execution_id"])
    assert trace is not None
    spans = [(s.start_time_unix_nano, s.end_time_unix_nano) for s in trace.spans]
    assert _covers(document["links"]["grafana"], spans)

    listed = CliRunner().invoke(
        runs_command, ["--db", db_url, "--grafana", GRAFANA, "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    [row] = json.loads(listed.output)
    assert _covers(row["trace_url"], spans)
