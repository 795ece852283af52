"""The HTML report of the demo's planted anomaly, opened in headless Chromium.

The demo's two weeks of orders are run day by day into a SQLite store with a trace
file, then ``dqx report`` (the console script) writes the last run's report, and
Debian's Chromium, driven by Playwright over the DevTools protocol (no browser of
Playwright's own), opens it from disk: the failures listed are exactly the run's
failing assertions, every chart has one point per day the store holds in its window,
and the page asks the network for nothing but itself. The screenshot is kept in the
test's directory; ``DQX_REPORT_SCREENSHOT=docs/report.png`` also writes it there,
which is how the README's picture is made.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dqx import ResultKey, VerificationSuite, telemetry
from dqx.datasource import DuckRelationDataSource
from dqx.demo import DEMO_DAYS, DEMO_END, demo_checks, write_orders
from dqx.orm.repositories import MetricDB, MetricRow
from tests.services import CHROMIUM_ARGS, require_chromium

DQX = Path(sys.executable).with_name("dqx")
ROOT = Path(__file__).resolve().parents[2]
DAYS = 30


def _demo_runs(workdir: Path) -> tuple[str, str, Path]:
    """Fourteen daily runs of the demo suite; the last one meets the anomaly."""
    data = write_orders(workdir / "orders.parquet")
    trace_file = workdir / "traces.jsonl"
    provider = telemetry.configure(
        service_name="dqx-report-test", exporter="file", path=trace_file, set_global=False
    )
    db_url = f"sqlite:///{workdir / 'dqx.db'}"
    db = MetricDB(db_url)
    source = DuckRelationDataSource.from_parquet(data, "orders")
    try:
        for offset in range(DEMO_DAYS - 1, -1, -1):
            suite = VerificationSuite(demo_checks(), db, "Orders", tracer_provider=provider)
            day = DEMO_END - dt.timedelta(days=offset)
            suite.run([source], ResultKey(day, {"env": "demo"}))
    finally:
        provider.shutdown()
        source.close()
        db.dispose()
    return suite.execution_id, db_url, trace_file


def _open(chromium: str, page_file: Path, profile: Path, screenshot: Path) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    with sync_playwright() as playwright:
        # A profile of its own, made fresh for this test: nothing cached, no sync.
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=chromium,
            args=list(CHROMIUM_ARGS),
            headless=True,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            context.on("request", lambda request: requests.append(request.url))
            page = context.new_page()
            page.goto(page_file.as_uri(), wait_until="load")
            seen = page.evaluate(
                """() => ({
                    failures: [...document.querySelectorAll('#failures article.failure')]
                        .map(a => a.dataset.assertion),
                    charts: [...document.querySelectorAll('#metrics figure.chart-card')]
                        .map(f => ({identity: f.dataset.identity, metric: f.dataset.metric,
                                    days: [...f.querySelectorAll('svg.chart circle')]
                                        .map(c => c.querySelector('title')
                                            .textContent.slice(0, 10))})),
                    svgs: document.querySelectorAll('svg.chart').length,
                })"""
            )
            page.screenshot(path=str(screenshot))
        finally:
            context.close()
    return {**seen, "requests": requests}


def test_the_report_of_the_planted_anomaly_shows_what_failed_and_its_history(
    tmp_path: Path,
) -> None:
    chromium = require_chromium()
    execution_id, db_url, trace_file = _demo_runs(tmp_path)
    page_file = tmp_path / "report.html"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    completed = subprocess.run(
        [
            str(DQX),
            "report",
            execution_id,
            "--db",
            db_url,
            "--trace-file",
            str(trace_file),
            "--out",
            str(page_file),
            "--days",
            str(DAYS),
        ],
        env={**environment, "DQX_JAEGER_URL": "http://localhost:16686"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    screenshot = tmp_path / "report.png"

    seen = _open(chromium, page_file, tmp_path / "profile", screenshot)

    db = MetricDB(db_url)
    failing = {a.assertion for a in db.assertions(execution_id) if a.status != "OK"}
    # The planted anomaly: prices doubled and emails dropped on the last day.
    assert failing == {
        "average price steady",
        "average price usual",
        "emails mostly set",
    }
    assert sorted(seen["failures"]) == sorted(failing)

    used = {m.identity for m in db.metrics_for_execution(execution_id)}
    assert {chart["identity"] for chart in seen["charts"]} == used
    since = DEMO_END - dt.timedelta(days=DAYS - 1)
    for chart in seen["charts"]:
        stored = db.search(
            MetricRow.identity == chart["identity"],
            MetricRow.yyyy_mm_dd >= since,
            MetricRow.yyyy_mm_dd <= DEMO_END,
        )
        days = sorted({m.yyyy_mm_dd.isoformat() for m in stored})
        assert sorted(chart["days"]) == days, chart["metric"]
        assert len(chart["days"]) == len(set(chart["days"])), chart["metric"]
    # Two weeks of num_rows(): the demo's whole history is on its chart.
    rows_chart = next(c for c in seen["charts"] if c["metric"] == "num_rows()")
    assert len(rows_chart["days"]) == DEMO_DAYS

    # Nothing but the file itself: no font, script, style or image was fetched.
    assert seen["requests"] == [page_file.as_uri()]
    assert screenshot.stat().st_size > 10_000
    if target := os.environ.get("DQX_REPORT_SCREENSHOT"):
        (ROOT / target).write_bytes(screenshot.read_bytes())
