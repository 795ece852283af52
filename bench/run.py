"""dqx benchmarks with budgets: ``make bench`` runs this and rewrites bench/RESULTS.md.

    python bench/run.py            # full run (6M and 30M rows, about ten minutes)
    python bench/run.py --quick    # tiny data, one repeat: the smoke test's mode
    python bench/run.py --only 10,11   # rerun PostgreSQL and Spark, keep the rest of
                                       # RESULTS.md (a full run takes ~10 minutes)
    python bench/run.py --only 13,14,15   # the wide suites (bench/wide.py)

Every ratio is measured in one process (or in alternating whole-process runs) with the
sides interleaved round by round, so noise from other work on the machine falls on
both sides alike: a warm-up round, then the median of the timed rounds, with min/max.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import backfill  # noqa: E402
import lineitem  # noqa: E402

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
FLOOR_MODES = ("one", "per-metric")


# -- measuring -------------------------------------------------------------------------


@dataclass
class Side:
    """One side of a comparison: its timed samples (seconds, or KiB for memory)."""

    name: str
    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def alternate(
    sides: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, Side]:
    """Time each side once per round, rotating the order, after ``warmup`` rounds."""
    names = list(sides)
    result = {name: Side(name) for name in names}
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            sides[name]()
            elapsed = time.perf_counter() - started
            if round_index >= warmup:
                result[name].samples.append(elapsed)
    return result


def run_process(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one child process, which must succeed."""
    # Timed and measured by a small launcher: see bench/peak_rss.py for why.
    completed = subprocess.run(
        [sys.executable, str(HERE / "peak_rss.py"), *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {completed.returncode}:\n{completed.stderr[-2000:]}"
        )
    seconds, kib = completed.stdout.split()[-2:]
    return float(seconds), int(kib)


def alternate_processes(
    sides: dict[str, list[str]], repeats: int, warmup: int = 1
) -> tuple[dict[str, Side], dict[str, Side]]:
    """Whole-process runs, alternating: (wall seconds, peak RSS in KiB) per side."""
    times = {name: Side(name) for name in sides}
    memory = {name: Side(name) for name in sides}
    names = list(sides)
    for round_index in range(warmup + repeats):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds, rss = run_process(sides[name])
            if round_index >= warmup:
                times[name].samples.append(seconds)
                memory[name].samples.append(rss)
    return times, memory


def close_enough(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is want
    # Parallel floating-point sums differ in the last digits from run to run.
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


# -- reporting -------------------------------------------------------------------------


@dataclass
class Outcome:
    number: str
    title: str
    measured: str
    budget: str
    met: bool | None
    sides: list[tuple[Side, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def seconds_text(value: float) -> str:
    return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"


def describe(side: Side, unit: str) -> tuple[str, str, str]:
    if unit == "MiB":
        show: Callable[[float], str] = lambda kib: f"{kib / 1024:.0f} MiB"  # noqa: E731
    else:
        show = seconds_text
    return show(side.median), show(min(side.samples)), show(max(side.samples))


def ratio_outcome(
    number: str,
    title: str,
    ours: Side,
    floor: Side,
    limit: float,
    sides: list[Side],
    unit: str = "s",
) -> Outcome:
    ratio = ours.median / floor.median
    return Outcome(
        number,
        title,
        f"{ratio:.3f}x ({ours.name} / {floor.name})",
        f"<= {limit:.2f}x",
        ratio <= limit,
        [(side, unit) for side in sides],
    )


def best_floor(sides: dict[str, Side], names: tuple[str, ...]) -> Side:
    return min((sides[name] for name in names), key=lambda side: side.median)


def package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine_lines() -> list[str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        match = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
        if match:
            memory = f"{int(match.group(1)) / 1024 / 1024:.1f} GiB"
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    versions = ", ".join(
        f"{name} {package_version(name)}"
        for name in (
            "dqx",
            "duckdb",
            "pyarrow",
            "sqlalchemy",
            "sqlglot",
            "opentelemetry-sdk",
            "psycopg",
        )
    )
    return [
        f"- Machine: {platform.platform()}, {cpu}, {os.cpu_count()} cores, {memory} RAM "
        "(shared with other work while measuring)",
        f"- Python {platform.python_version()}; {versions}",
        f"- dqx commit {commit or 'unknown'} plus the working tree",
    ]


def write_results(path: Path, outcomes: list[Outcome], context: list[str], quick: bool) -> None:
    lines = [
        "# dqx benchmark results",
        "",
        "Written by `make bench` (`bench/run.py`); do not edit by hand. Findings and what is",
        "the engine's: bench/FINDINGS.md, appended below.",
        "",
        *machine_lines(),
        *context,
        f"- Mode: {'QUICK (tiny data, one repeat: figures mean nothing)' if quick else 'full'}",
        f"- Written {dt.datetime.now().isoformat(timespec='seconds')}",
        "",
        "## Budgets",
        "",
        "| # | benchmark | measured | budget | status |",
        "|---|---|---|---|---|",
    ]
    for outcome in outcomes:
        status = "skipped" if outcome.met is None else ("met" if outcome.met else "MISSED")
        lines.append(
            f"| {outcome.number} | {outcome.title} | {outcome.measured} | {outcome.budget} "
            f"| {status} |"
        )
    lines += ["", "## Figures (median of the timed rounds, min, max)", ""]
    for outcome in outcomes:
        lines += [f"### {outcome.number}. {outcome.title}", ""]
        if outcome.sides:
            lines += ["| side | median | min | max | n |", "|---|---|---|---|---|"]
            for side, unit in outcome.sides:
                median, low, high = describe(side, unit)
                lines.append(f"| {side.name} | {median} | {low} | {high} | {len(side.samples)} |")
            lines.append("")
        lines += [f"- {note}" for note in outcome.notes]
        lines.append("")
    findings = HERE / "FINDINGS.md"
    if findings.exists():
        lines += ["---", "", findings.read_text().rstrip(), ""]
    # bench/anomaly.py's precision and recall: no timings, so written apart and kept.
    anomaly = HERE / "ANOMALY.md"
    if anomaly.exists():
        lines += ["" if findings.exists() else "---", "", anomaly.read_text().rstrip(), ""]
    path.write_text("\n".join(lines))


def merge_results(old: str, new: str, numbers: set[str]) -> str:
    """``old`` report with the benchmarks in ``numbers`` taken from ``new``: their
    budget rows and figures replaced, everything else kept, the findings refreshed."""

    def parts(text: str) -> tuple[str, list[str], list[str], str]:
        head, _, rest = text.partition("## Budgets\n")
        table, _, rest = rest.partition("## Figures (median of the timed rounds, min, max)\n")
        figures, _, findings = rest.partition("\n---\n")
        rows = [line for line in table.splitlines() if re.match(r"^\| \w+ \|", line)]
        sections = [s for s in re.split(r"(?m)^(?=### )", figures) if s.startswith("### ")]
        return head, rows, sections, findings

    def order(number: str) -> tuple[int, str]:
        return int(re.sub(r"\D", "", number)), number

    old_head, old_rows, old_sections, _ = parts(old)
    _, new_rows, new_sections, findings = parts(new)
    row_number = lambda row: row.split("|")[1].strip()  # noqa: E731
    section_number = lambda section: section[4:].split(".", 1)[0]  # noqa: E731
    rows = [r for r in old_rows if row_number(r) not in numbers]
    rows += [r for r in new_rows if row_number(r) in numbers]
    sections = [s for s in old_sections if section_number(s) not in numbers]
    sections += [s for s in new_sections if section_number(s) in numbers]
    rows.sort(key=lambda r: order(row_number(r)))
    sections.sort(key=lambda s: order(section_number(s)))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    rerun = (
        f"- Benchmarks {', '.join(sorted(numbers, key=order))} rerun alone "
        f"(`bench/run.py --only`) at {dt.datetime.now().isoformat(timespec='seconds')}, "
        f"dqx commit {commit or 'unknown'}; the rest are from the run described above"
    )
    return "".join(
        [
            old_head.rstrip("\n") + "\n" + rerun + "\n\n## Budgets\n\n",
            "| # | benchmark | measured | budget | status |\n|---|---|---|---|---|\n",
            "".join(row + "\n" for row in rows),
            "\n## Figures (median of the timed rounds, min, max)\n\n",
            "".join(section.rstrip("\n") + "\n\n" for section in sections).rstrip("\n") + "\n",
            "\n---\n" + findings,
        ]
    )


# -- the benchmarks --------------------------------------------------------------------


@dataclass
class Settings:
    data_dir: Path
    rows: int
    big_rows: int
    metric_rows: int
    persist_count: int
    repeats: int
    warmup: int
    postgres: bool
    #: Rows of the engine benchmarks (10: PostgreSQL, 11: Spark).
    engine_rows: int = 1_000_000


def dqx_values(suite: Any) -> dict[str, float | None]:
    return {metric.name: metric.value for metric in suite.result.metrics}


def twelve_names() -> list[str]:
    from checks import twelve

    from dqx import MetricProvider

    return [symbol.name for _, symbol in twelve(MetricProvider())]


def verify(label: str, ours: dict[str, float | None], floor: list[float | None]) -> None:
    """The suite must compute what the floor computes, or its timing means nothing."""
    for name, want in zip(twelve_names(), floor, strict=True):
        if not close_enough(ours.get(name), want):
            raise AssertionError(f"{label}: dqx {name} = {ours.get(name)!r}, floor = {want!r}")


def suite_runner(
    db: Any, make_source: Callable[[], Any], day: dt.date, provider: Any = None, checks: Any = None
) -> Callable[[], Any]:
    from checks import lineitem as lineitem_check

    from dqx import ResultKey, VerificationSuite

    chosen = checks if checks is not None else [lineitem_check]

    def run() -> Any:
        source = make_source()
        try:
            suite = VerificationSuite(chosen, db, "bench", tracer_provider=provider)
            suite.run([source], ResultKey(day))
        finally:
            source.close()
        return suite

    return run


def bench_in_process(
    settings: Settings, parquet: Path, arrow: bool, number: str
) -> tuple[Outcome, dict[str, Side]]:
    import duckdb

    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import MetricDB

    db = MetricDB(f"sqlite:///{settings.data_dir / 'suite.db'}")
    table: Any = None
    if arrow:
        import pyarrow.parquet as pq

        table = pq.read_table(parquet)

    def make_source() -> Any:
        if arrow:
            return DuckRelationDataSource.from_arrow(table, "lineitem")
        return DuckRelationDataSource.from_parquet(parquet, "lineitem")

    def floor(mode: str) -> Callable[[], list[float | None]]:
        def run() -> list[float | None]:
            connection = duckdb.connect()
            try:
                if arrow:
                    connection.register("lineitem", table)
                    relation = "lineitem"
                else:
                    relation = f"read_parquet('{parquet}')"
                return lineitem.run_floor(
                    lambda sql: connection.execute(sql).fetchone() or (), mode, relation
                )
            finally:
                connection.close()

        return run

    run_suite = suite_runner(db, make_source, dt.date.today())
    probe = run_suite()
    floor_values = floor("one")()
    verify(f"{number} (one)", dqx_values(probe), floor_values)
    verify(f"{number} (per-metric)", dqx_values(probe), floor("per-metric")())
    # dqx's own statements, replayed straight on DuckDB: the engine's share of dqx's time.
    replay_statements = [(s.sql, s.params) for s in probe.statements]

    def replay() -> None:
        source = make_source()
        try:
            for sql, params in replay_statements:
                source.execute(sql, params)
        finally:
            source.close()

    sides = alternate(
        {
            "floor: one statement": floor("one"),
            "floor: one per metric": floor("per-metric"),
            "dqx suite": run_suite,
            "dqx's SQL replayed on DuckDB": replay,
        },
        settings.repeats,
        settings.warmup,
    )
    floor_side = best_floor(sides, ("floor: one statement", "floor: one per metric"))
    where = "in-memory Arrow table" if arrow else "Parquet"
    outcome = ratio_outcome(
        number,
        f"12-metric suite over {where}, in process, {settings.rows:,} rows",
        sides["dqx suite"],
        floor_side,
        1.05,
        list(sides.values()),
    )
    replayed = sides["dqx's SQL replayed on DuckDB"].median
    outcome.notes.append(
        f"dqx ran {len(replay_statements)} statements; replaying them bare takes "
        f"{replayed / floor_side.median:.3f}x the floor, so dqx's own Python costs "
        f"{seconds_text(sides['dqx suite'].median - replayed)} per run"
    )
    db.dispose()
    return outcome, sides


def cli_command(checks: Path, data: Path, db_url: str) -> tuple[list[str], str]:
    """The real console script, exactly as a data engineer runs it."""
    dqx_cli = Path(sys.executable).with_name("dqx")
    return (
        [str(dqx_cli), "run", str(checks), "--data", f"lineitem={data}", "--db", db_url],
        "`dqx run`",
    )


def bench_processes(
    settings: Settings, parquet: Path, number: str, title: str, limit: float, memory: bool
) -> Outcome:
    db_url = f"sqlite:///{settings.data_dir / f'process-{number}.db'}"
    command, how = cli_command(HERE / "checks.py", parquet, db_url)
    sides = {
        f"floor process: {mode}": [
            sys.executable,
            str(HERE / "floor_run.py"),
            str(parquet),
            "--mode",
            mode,
        ]
        for mode in FLOOR_MODES
    }
    sides["dqx process"] = command
    times, rss = alternate_processes(sides, settings.repeats, settings.warmup)
    floor_names = tuple(f"floor process: {mode}" for mode in FLOOR_MODES)
    floor_time = best_floor(times, floor_names)
    if memory:
        # The floor is the faster floor process; its peak memory is what we compare with.
        floor_rss = rss[floor_time.name]
        outcome = ratio_outcome(
            number, title, rss["dqx process"], floor_rss, limit, list(rss.values()), "MiB"
        )
        outcome.notes.append(
            "wall time of the same runs: "
            + ", ".join(f"{side.name} {seconds_text(side.median)}" for side in times.values())
        )
    else:
        outcome = ratio_outcome(
            number, title, times["dqx process"], floor_time, limit, list(times.values())
        )
        outcome.notes.append(
            "peak RSS of the same runs: "
            + ", ".join(f"{side.name} {side.median / 1024:.0f} MiB" for side in rss.values())
        )
    outcome.notes.append(f"dqx side: {how}, SQLite metric database, untraced")
    if not memory:
        outcome.notes.append(fixed_cost(settings, db_url))
    return outcome


def fixed_cost(settings: Settings, db_url: str) -> str:
    """What a run costs whatever its data: both processes over 50 rows, where the
    scan is nothing and the difference is dqx's start, bookkeeping and exit."""
    tiny = lineitem.generate(settings.data_dir, 50)
    command, _ = cli_command(HERE / "checks.py", tiny, db_url)
    floor = [sys.executable, str(HERE / "floor_run.py"), str(tiny), "--mode", "one"]
    times, _ = alternate_processes(
        {"dqx": command, "floor": floor}, settings.repeats, settings.warmup
    )
    ours, bare = times["dqx"].median, times["floor"].median
    return (
        f"fixed cost, the same processes over 50 rows: dqx {seconds_text(ours)}, floor "
        f"{seconds_text(bare)}, so dqx's own start and finish take {seconds_text(ours - bare)} "
        "whatever the data (bench/FINDINGS.md, 3)"
    )


def bench_daily(settings: Settings, parquet: Path) -> Outcome:
    from checks import daily_checks

    from dqx import ResultKey, VerificationSuite
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import MetricDB

    path = settings.data_dir / "daily.db"
    path.unlink(missing_ok=True)
    db = MetricDB(f"sqlite:///{path}")
    today = lineitem.last_day(settings.rows)

    def make_source() -> Any:
        return DuckRelationDataSource.from_parquet(parquet, "lineitem", date_column="l_shipdate")

    plain = daily_checks(windows=False)
    windowed = daily_checks(windows=True)
    source = make_source()
    for lag in range(7, 0, -1):
        VerificationSuite(plain, db, "bench").run(
            [source], ResultKey(today - dt.timedelta(days=lag))
        )
    source.close()
    run_windowed = suite_runner(db, make_source, today, checks=windowed)
    probe = run_windowed()
    statuses = {r.status for r in probe.collect_results()}
    scanned = sum(s.rows_scanned or 0 for s in probe.statements)
    if statuses != {"OK"} or scanned > lineitem.ROWS_PER_DAY:
        raise AssertionError(f"daily suite: statuses {statuses}, {scanned} rows scanned")
    sides = alternate(
        {
            "daily suite, no windows": suite_runner(db, make_source, today, checks=plain),
            "daily suite, week_over_week + stddev(n=7)": run_windowed,
        },
        settings.repeats,
        settings.warmup,
    )
    outcome = ratio_outcome(
        "4",
        "Daily suite with windows vs without (one day scanned, a week of history stored)",
        sides["daily suite, week_over_week + stddev(n=7)"],
        sides["daily suite, no windows"],
        1.15,
        list(sides.values()),
    )
    outcome.notes.append(
        f"the windowed run scanned {scanned:,} rows of one day in {len(probe.statements)} "
        f"statements and recorded {len(probe.result.metrics)} metrics (12 computed, the rest "
        "from history or extended)"
    )
    db.dispose()
    return outcome


def bench_tracing(settings: Settings, parquet: Path) -> list[Outcome]:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from dqx import telemetry
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import MetricDB

    db = MetricDB(f"sqlite:///{settings.data_dir / 'tracing.db'}")
    memory_exporter = InMemorySpanExporter()
    memory_provider = TracerProvider()
    memory_provider.add_span_processor(SimpleSpanProcessor(memory_exporter))
    trace_file = settings.data_dir / "tracing.jsonl"
    trace_file.unlink(missing_ok=True)
    file_provider = telemetry.configure(exporter="file", path=trace_file, set_global=False)

    def make_source() -> Any:
        return DuckRelationDataSource.from_parquet(parquet, "lineitem")

    day = dt.date.today()
    untraced = suite_runner(db, make_source, day)
    in_memory = suite_runner(db, make_source, day, memory_provider)
    to_file = suite_runner(db, make_source, day, file_provider)

    def traced_in_memory() -> None:
        in_memory()
        memory_exporter.clear()

    def traced_to_file() -> None:
        to_file()
        # The batch processor writes in the background: the run is done once it is on disk.
        file_provider.force_flush()

    traced_in_memory()
    traced_to_file()
    if not memory_exporter.get_finished_spans() and not trace_file.stat().st_size:
        raise AssertionError("tracing benchmark recorded no spans")
    sides = alternate(
        {
            "untraced": untraced,
            "SDK, in-memory exporter": traced_in_memory,
            "SDK, OTLP JSON file exporter": traced_to_file,
        },
        settings.repeats,
        settings.warmup,
    )
    file_provider.shutdown()
    db.dispose()
    outcomes = []
    plain = sides["untraced"]
    for number, name in (("5a", "SDK, in-memory exporter"), ("5b", "SDK, OTLP JSON file exporter")):
        traced = sides[name]
        # Each round's traced run is divided by the same round's untraced run, so a burst
        # of other work on the machine, which slows a whole round, cancels out.
        paired = [t / u for t, u in zip(traced.samples, plain.samples, strict=True)]
        overhead = statistics.median(paired) - 1
        outcome = Outcome(
            number,
            f"Tracing overhead, {name}, 12-metric suite over Parquet",
            f"{overhead * 100:+.1f}% (median of per-round ratios)",
            "<= +3%",
            overhead <= 0.03,
            [(plain, "s"), (traced, "s")],
            [
                "per-round ratios: " + ", ".join(f"{r:.3f}" for r in paired),
                f"difference of medians: {seconds_text(traced.median - plain.median)}",
            ],
        )
        outcomes.append(outcome)
    return outcomes


def bench_import(settings: Settings) -> Outcome:
    def cumulative(module: str) -> float:
        completed = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        for line in completed.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == module:
                return int(parts[1].strip()) / 1e6
        raise AssertionError(f"-X importtime did not report {module}")

    samples: dict[str, Side] = {"import dqx": Side("import dqx"), "import dqx.api": Side("")}
    samples["import dqx.api"].name = "import dqx.api (what a run loads; no budget)"
    for round_index in range(settings.warmup + settings.repeats):
        for module, key in (("dqx", "import dqx"), ("dqx.api", "import dqx.api")):
            value = cumulative(module)
            if round_index >= settings.warmup:
                samples[key].samples.append(value)
    ours = samples["import dqx"]
    outcome = Outcome(
        "6",
        "`import dqx` in a fresh process (-X importtime, cumulative)",
        seconds_text(ours.median),
        "<= 300 ms",
        ours.median <= 0.3,
        [(side, "s") for side in samples.values()],
    )
    return outcome


# -- the metric store ------------------------------------------------------------------

# Filler rows are copies of one row written by persist (so every column is in the form
# the store writes it, whatever the schema grows), with these columns varied by SQL.
_FILL_OVERRIDES = {
    "sqlite": {
        "id": "printf('%032x', i)",
        "execution_id": "printf('f%031x', i / 50)",
        "name": "'sum(c' || (i % 50) || ')'",
        "identity": "printf('%064x', i % 50)",
        "yyyy_mm_dd": "date('2020-01-01', '+' || (i / 50 % 1000) || ' days')",
        "value": "i * 0.5",
    },
    "postgresql": {
        "id": "lpad(to_hex(i), 32, '0')",
        "execution_id": "'f' || lpad(to_hex(i / 50), 31, '0')",
        "name": "'sum(c' || (i % 50) || ')'",
        "identity": "lpad(to_hex(i % 50), 64, '0')",
        "yyyy_mm_dd": "DATE '2020-01-01' + (i / 50 % 1000)::int",
        "value": "i * 0.5",
    },
}
_SERIES = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :rows - 1)",
    "postgresql": "WITH n(i) AS (SELECT generate_series(0, :rows - 1))",
}


def fill_metrics(db: Any, rows: int) -> None:
    """Add ``rows`` metric rows: 50 metrics per run, runs spread over 1,000 days."""
    from sqlalchemy import inspect, text

    template = make_metrics(1, "e" * 32)[0]
    db.persist([template])
    dialect = db.engine.dialect.name
    overrides = _FILL_OVERRIDES[dialect]
    columns = [column["name"] for column in inspect(db.engine).get_columns("dq_metric")]
    quoted = ", ".join(f'"{column}"' for column in columns)
    chosen = ", ".join(overrides.get(column, f'm."{column}"') for column in columns)
    # SQLite takes the WITH after INSERT's column list; PostgreSQL takes it there too.
    sql = (
        f"INSERT INTO dq_metric ({quoted}) {_SERIES[dialect]} "
        f"SELECT {chosen} FROM n CROSS JOIN dq_metric AS m WHERE m.id = :template"
    )
    with db.engine.begin() as connection:
        connection.execute(text(sql), {"rows": rows, "template": template.id})


def make_metrics(count: int, execution_id: str) -> list[Any]:
    from dqx.orm.repositories import Metric

    day = dt.date(2024, 1, 1)
    return [
        Metric(
            kind="sum",
            parameters={"column": f"c{i % 200}"},
            name=f"sum(c{i % 200})",
            dataset="bench",
            yyyy_mm_dd=day + dt.timedelta(days=i // 200),
            tags={"env": "bench"},
            value=i * 0.25,
            execution_id=execution_id,
        )
        for i in range(count)
    ]


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A database of our own on the local server, dropped afterwards; None if unreachable."""
    try:
        import psycopg
    except ImportError:
        yield None
        return
    name = f"dqx_bench_{os.getpid()}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error:
        yield None
        return
    try:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()


def lookup_plan(db: Any, execution_id: str) -> str:
    """The engine's plan for the run lookup: it must name the execution_id index."""
    from sqlalchemy import text

    explain = "EXPLAIN QUERY PLAN" if db.engine.dialect.name == "sqlite" else "EXPLAIN (COSTS OFF)"
    with db.engine.connect() as connection:
        rows = connection.execute(
            text(f"{explain} SELECT * FROM dq_metric WHERE execution_id = :e"),
            {"e": execution_id},
        )
        return " | ".join(str(row[-1]).strip() for row in rows)


def bench_store(settings: Settings, backend: str, url: str | None) -> list[Outcome]:
    retrieval_limit, persist_limit = 0.010, (0.5 if backend == "SQLite" else 1.0)
    retrieval_title = (
        f"metrics_by_execution_id, {settings.metric_rows:,} metric rows stored, {backend}"
    )
    persist_title = f"persist of {settings.persist_count:,} metrics, {backend}"
    if url is None:
        return [
            Outcome("7", retrieval_title, "PostgreSQL unreachable", "<= 10 ms", None),
            Outcome("8", persist_title, "PostgreSQL unreachable", f"<= {persist_limit} s", None),
        ]
    from sqlalchemy import text

    from dqx import metrics_by_execution_id
    from dqx.common import new_execution_id
    from dqx.orm.repositories import MetricDB

    db = MetricDB(url)
    started = time.perf_counter()
    fill_metrics(db, settings.metric_rows - 51)
    run_id = new_execution_id()
    db.persist(make_metrics(50, run_id))
    if backend == "PostgreSQL":
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE dq_metric"))
    fill_seconds = time.perf_counter() - started
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT COUNT(*) FROM dq_metric")).scalar_one()
    if len(metrics_by_execution_id(db, run_id)) != 50:
        raise AssertionError("metrics_by_execution_id did not return the run's 50 metrics")
    plan = lookup_plan(db, run_id)
    if "execution_id" not in plan:
        raise AssertionError(f"the execution_id lookup does not use its index: {plan}")
    retrieval = alternate(
        {
            "metrics_by_execution_id (a run of 50 metrics)": lambda: metrics_by_execution_id(
                db, run_id
            )
        },
        max(settings.repeats, 5) * 4,
        settings.warmup,
    )["metrics_by_execution_id (a run of 50 metrics)"]
    batches = [
        make_metrics(settings.persist_count, new_execution_id())
        for _ in range(settings.warmup + settings.repeats)
    ]
    persist = Side(f"persist({settings.persist_count:,} metrics)")
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        db.persist(batch)
        if index >= settings.warmup:
            persist.samples.append(time.perf_counter() - started)
    db.dispose()
    fill_note = (
        f"{stored:,} rows in dq_metric, filled by SQL in {fill_seconds:.1f} s; lookup plan: {plan}"
    )
    outcomes = [
        Outcome(
            "7",
            retrieval_title,
            seconds_text(retrieval.median),
            "<= 10 ms",
            retrieval.median <= retrieval_limit,
            [(retrieval, "s")],
            [fill_note, f"{len(retrieval.samples)} timed calls (cheap, so more than five)"],
        ),
        Outcome(
            "8",
            persist_title,
            seconds_text(persist.median),
            f"<= {persist_limit:g} s",
            persist.median <= persist_limit,
            [(persist, "s")],
            ["written into the table above (indexes as large as a year of history)"],
        ),
    ]
    return outcomes


# -- where the data lives: PostgreSQL and Spark ----------------------------------------


def bench_postgres_engine(settings: Settings, parquet: Path) -> Outcome:
    title = (
        f"12-metric suite inside PostgreSQL vs the same query in psql, "
        f"{settings.engine_rows:,} rows"
    )
    if not settings.postgres:
        return Outcome("10", title, "not measured (--no-postgres)", "<= 1.10x", None)
    with postgres_database() as url:
        if url is None:
            return Outcome("10", title, "PostgreSQL unreachable", "<= 1.10x", None)
        return _postgres_engine(settings, parquet, url, title)


def _postgres_engine(settings: Settings, parquet: Path, url: str, title: str) -> Outcome:
    import engines

    from dqx.datasource import PostgresDataSource
    from dqx.orm.repositories import MetricDB

    started = time.perf_counter()
    loaded = engines.load_postgres(url.replace("+psycopg", ""), parquet, settings.data_dir)
    load_seconds = time.perf_counter() - started
    database = url.rsplit("/", 1)[1]
    db = MetricDB(f"sqlite:///{settings.data_dir / 'postgres-engine.db'}")

    def make_source() -> Any:
        return PostgresDataSource.from_table(url, "lineitem", "lineitem")

    run_suite = suite_runner(db, make_source, dt.date.today())
    probe = run_suite()
    floors: dict[str, Callable[[], list[float | None]]] = {
        f"floor: psql, {label}": lambda mode=mode: engines.psql_floor(database, mode)
        for mode, label in (("one", "one statement"), ("per-metric", "one per metric"))
    }
    for name, floor in floors.items():
        verify(f"10 ({name})", dqx_values(probe), floor())
    replayed = [(s.sql, s.params) for s in probe.statements]
    source = make_source()

    def replay() -> None:
        for sql, params in replayed:
            source.execute(sql, params)

    sides = alternate(
        {**floors, "dqx suite": run_suite, "dqx's SQL replayed through psycopg": replay},
        settings.repeats,
        settings.warmup,
    )
    source.close()
    db.dispose()
    floor_side = best_floor(sides, tuple(floors))
    outcome = ratio_outcome("10", title, sides["dqx suite"], floor_side, 1.10, list(sides.values()))
    outcome.notes += [
        f"{loaded:,} rows loaded into PostgreSQL in {load_seconds:.1f} s (COPY, then "
        "VACUUM ANALYZE); the floor is lineitem.floor_sql run by psql, one process per run",
        f"dqx ran {len(replayed)} statements inside PostgreSQL, "
        + ", ".join(seconds_text(s.seconds) for s in probe.statements)
        + " in the probe run; the dqx side builds its source each run (engine, connection, "
        "the LIMIT 0 probe of the columns) and writes its metrics to SQLite",
    ]
    return outcome


def bench_spark_engine(settings: Settings, parquet: Path) -> Outcome:
    import engines

    from dqx.datasource import SparkDataSource
    from dqx.orm.repositories import MetricDB

    title = (
        f"12-metric suite on Spark local[2] vs the hand-written DataFrame aggregation, "
        f"{settings.engine_rows:,} rows"
    )
    started = time.perf_counter()
    spark = engines.spark_session()
    start_seconds = time.perf_counter() - started
    try:
        frame = spark.read.parquet(str(parquet))
        db = MetricDB(f"sqlite:///{settings.data_dir / 'spark-engine.db'}")

        def make_source() -> Any:
            return SparkDataSource.from_dataframe(frame, "lineitem")

        run_suite = suite_runner(db, make_source, dt.date.today())
        probe = run_suite()
        floors: dict[str, Callable[[], list[float | None]]] = {
            f"floor: DataFrame, {label}": lambda mode=mode: engines.spark_floor(frame, mode)
            for mode, label in (("one", "one agg"), ("per-metric", "one agg per metric"))
        }
        for name, floor in floors.items():
            verify(f"11 ({name})", dqx_values(probe), floor())
        sides = alternate(
            {**floors, "dqx suite": run_suite},
            settings.repeats,
            settings.warmup,
        )
        db.dispose()
    finally:
        spark.stop()
    floor_side = best_floor(sides, tuple(floors))
    outcome = ratio_outcome("11", title, sides["dqx suite"], floor_side, 1.10, list(sides.values()))
    outcome.notes += [
        f"SparkSession start (local[2], JVM included): {start_seconds:.1f} s, not timed; "
        "both sides read the same Parquet DataFrame, uncached",
        f"dqx ran {len(probe.statements)} Spark SQL queries, "
        + ", ".join(seconds_text(s.seconds) for s in probe.statements)
        + " in the probe run; the dqx side writes its metrics to SQLite",
    ]
    return outcome


def bench_report(settings: Settings) -> list[Outcome]:
    """12: the HTML report of a 1,000-metric run with 30 days of history per metric."""
    import html_report

    metrics, days = (1000, 30) if settings.rows >= 1_000_000 else (200, 5)
    url, execution_id = html_report.build(settings.data_dir, metrics, days)
    out = settings.data_dir / "report-bench.html"
    samples, size, shape = html_report.measure(url, execution_id, out, settings.repeats, days)
    side = Side("write_report (store read + render + write)", samples)
    title = f"HTML report of a {metrics:,}-metric run, {days} days of history per metric"
    notes = [
        f"the page: {shape['charts']:,} charts, {shape['points']:,} points, "
        f"{shape['failures']:,} failures shown with their charts and SQL, "
        f"{shape['assertions']:,} assertions; `python bench/html_report.py` runs it alone"
    ]
    timed = Outcome(
        "12a",
        f"{title}: time",
        seconds_text(side.median),
        f"<= {html_report.SECONDS_BUDGET:.0f} s",
        side.median <= html_report.SECONDS_BUDGET,
        [(side, "s")],
        notes,
    )
    weighed = Outcome(
        "12b",
        f"{title}: size",
        f"{size / 1e6:.2f} MB",
        f"<= {html_report.BYTES_BUDGET / 1e6:.0f} MB",
        size <= html_report.BYTES_BUDGET,
    )
    return [timed, weighed]


# -- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny data, one repeat")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds (default 5)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default=None,
        help="run only these benchmarks, e.g. 10,11; an existing report keeps the others",
    )
    args = parser.parse_args(argv)
    if args.quick:
        settings = Settings(
            args.data_dir, 24_000, 48_000, 20_000, 1_000, args.repeats or 1, 1, True, 24_000
        )
    else:
        settings = Settings(
            args.data_dir, 6_000_000, 30_000_000, 1_000_000, 10_000, args.repeats or 5, 1, True
        )
    settings.postgres = not args.no_postgres
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    for stale in settings.data_dir.glob("*.db*"):
        stale.unlink()
    import checks

    assert (checks.CUSTOM_AVG, checks.CUSTOM_FILTERED) == (
        lineitem.CUSTOM_AVG,
        lineitem.CUSTOM_FILTERED,
    ), "bench/checks.py and bench/lineitem.py disagree on the custom_sql metrics"

    begun = time.perf_counter()

    def step(message: str) -> None:
        print(f"[{time.perf_counter() - begun:7.1f}s] {message}", flush=True)

    def wanted(*numbers: str) -> bool:
        return args.only is None or bool(args.only & set(numbers))

    outcomes: list[Outcome] = []
    if wanted("1", "2", "3", "4", "5", "5a", "5b"):
        step(f"generating {settings.rows:,} rows")
        parquet = lineitem.generate(settings.data_dir, settings.rows)
    if wanted("1"):
        step("1: suite over Parquet")
        outcomes.append(bench_in_process(settings, parquet, arrow=False, number="1")[0])
    if wanted("2"):
        step("2: suite over Arrow")
        outcomes.append(bench_in_process(settings, parquet, arrow=True, number="2")[0])
    if wanted("3"):
        step("3: whole process")
        outcomes.append(
            bench_processes(
                settings,
                parquet,
                "3",
                f"Whole process as the CLI runs it vs the floor's, {settings.rows:,} rows",
                1.15,
                memory=False,
            )
        )
    if wanted("4"):
        step("4: daily suite with windows")
        outcomes.append(bench_daily(settings, parquet))
    if wanted("5", "5a", "5b"):
        step("5: tracing overhead")
        outcomes.extend(bench_tracing(settings, parquet))
    if wanted("6"):
        step("6: import time")
        outcomes.append(bench_import(settings))
    if wanted("7", "8"):
        step("7, 8: metric store on SQLite")
        sqlite_path = settings.data_dir / "store.db"
        outcomes.extend(bench_store(settings, "SQLite", f"sqlite:///{sqlite_path}"))
        sqlite_path.unlink(missing_ok=True)
        step("7, 8: metric store on PostgreSQL")
        if settings.postgres:
            with postgres_database() as url:
                outcomes.extend(bench_store(settings, "PostgreSQL", url))
        else:
            outcomes.extend(bench_store(settings, "PostgreSQL", None))
    if wanted("9"):
        step(f"generating {settings.big_rows:,} rows")
        big = lineitem.generate(settings.data_dir, settings.big_rows)
        step("9: peak RSS")
        outcomes.append(
            bench_processes(
                settings,
                big,
                "9",
                f"Peak RSS of the suite process vs the floor process, {settings.big_rows:,} rows",
                1.10,
                memory=True,
            )
        )
    if wanted("10", "11"):
        step(f"generating {settings.engine_rows:,} rows for the engines")
        engine_parquet = lineitem.generate(settings.data_dir, settings.engine_rows)
    if wanted("10"):
        step("10: PostgreSQL")
        outcomes.append(bench_postgres_engine(settings, engine_parquet))
    if wanted("11"):
        step("11: Spark local")
        outcomes.append(bench_spark_engine(settings, engine_parquet))
    if wanted("12", "12a", "12b"):
        step("12: HTML report")
        outcomes.extend(bench_report(settings))
    if wanted("13", "13a", "13b", "13c", "13d", "13e", "14", "14a", "14b", "15"):
        import wide

        step("13-15: wide suites")
        outcomes.extend(wide.benchmarks(sys.modules[__name__], settings, wanted))
    if wanted("20"):
        step("20: a year's backfill vs one full-table run")
        outcomes.append(
            backfill.bench_backfill(settings, lineitem.generate(settings.data_dir, settings.rows))
        )
    outcomes.sort(key=lambda o: (int(re.sub(r"\D", "", o.number)), o.number))
    elapsed = time.perf_counter() - begun
    context = [
        f"- Method: {settings.warmup} warm-up round, then median of {settings.repeats} timed "
        "rounds; the sides of a comparison alternate within each round (rotating order)",
        f"- Data: bench/lineitem.py, {settings.rows:,} rows (~{lineitem.ROWS_PER_DAY:,} a "
        f"day, 2% NULL l_discount, {lineitem.duplicate_pairs(settings.rows):,} duplicate "
        f"key pairs), {settings.big_rows:,} rows for memory and {settings.engine_rows:,} "
        "in PostgreSQL and Spark",
        f"- Whole run took {elapsed / 60:.1f} minutes",
    ]
    previous = args.out.read_text() if args.only and args.out.exists() else None
    write_results(args.out, outcomes, context, args.quick)
    if previous is not None and "## Budgets" in previous:
        # --only updates its benchmarks in the existing report and keeps the others.
        # A benchmark of several parts (13a, 13b) is asked for by its number (13).
        measured = args.only | {outcome.number for outcome in outcomes}
        args.out.write_text(merge_results(previous, args.out.read_text(), measured))
    step(f"wrote {args.out}")
    for outcome in outcomes:
        status = "skipped" if outcome.met is None else ("met" if outcome.met else "MISSED")
        print(f"  {outcome.number:>3} {status:8} {outcome.measured:45} {outcome.title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
