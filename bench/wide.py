"""Wide suites: the width sweep (13), 5,000 assertions over 6M rows (14), 10,000 metrics
over 50 rows (15). bench/run.py calls :func:`benchmarks`; each measured run is a child
process of its own, so its peak memory is its own:

    python bench/wide.py point ENGINE LOCATION METRICS WIDTH REPORT.json
    python bench/wide.py counts ENGINE LOCATION COUNTS FOLD_FROM REPORT.json
    python bench/wide.py suite PARQUET ASSERTIONS REPORT.json   # 12: the 12-metric suite

ENGINE is ``duckdb`` (LOCATION a Parquet file), ``postgres`` (a SQLAlchemy URL whose
database holds ``lineitem``) or ``spark`` (a Parquet file, read by a local[2]
SparkSession the point starts). ``counts`` times COUNTS ``count_values`` on one column,
folded from FOLD_FROM (0: never folded), at the source's own width.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: Widths of the sweep: statements of at most this many plain aggregates.
WIDTHS = (16, 64, 256, 1000)
SWEEP_METRICS = 1000


def sweep_specs(count: int) -> list[Any]:
    """``count`` plain aggregates of lineitem that do not fold: the width is all that
    changes between the points of a sweep."""
    from wide_checks import NUMERIC

    from dqx.specs import Average, CountValues, Maximum, Minimum, NullCount, Sum, Variance

    specs: list[Any] = []
    for column in NUMERIC:
        specs += [kind(column=column) for kind in (Sum, Average, Minimum, Maximum, Variance)]
        specs.append(NullCount(column=column))
    value = 0
    while len(specs) < count:
        value += 1
        specs.append(CountValues.of("l_partkey" if value % 2 else "l_suppkey", value))
    return specs[:count]


def point(engine: str, location: str, metrics: int, width: int, report: Path) -> None:
    """One suite of ``metrics`` aggregates in statements of ``width``; its seconds and
    statement count written to ``report``."""
    from dqx.shapes import StatementShape

    shape = StatementShape(width=width, filtered_width=width)
    measure(engine, location, sweep_specs(metrics), shape, report)


def counts(engine: str, location: str, number: int, fold_from: int, report: Path) -> None:
    """``number`` ``count_values`` of one column, folded from ``fold_from`` (0: never),
    in statements of the source's own width."""
    from dqx.shapes import StatementShape
    from dqx.specs import CountValues

    width = source_class(engine).statement_shape.width
    shape = StatementShape(width=width, fold_from=fold_from or None)
    specs = [CountValues.of("l_partkey", value) for value in range(1, number + 1)]
    measure(engine, location, specs, shape, report)


def measure(engine: str, location: str, specs: list[Any], shape: Any, report: Path) -> None:
    """The analyzer's seconds for ``specs`` under ``shape``, written to ``report`` with
    the statement count (and, on Spark, the JVM's peak RSS: the JVM is a process of
    its own, which the launcher's measure of this one does not cover)."""
    import datetime as dt
    import resource

    from returns.result import Failure

    from dqx.analyzer import Analyzer

    spark, source = _source(engine, location)
    if spark is not None:
        # The JVM's first statement pays class loading and JIT for any shape (seconds):
        # one small statement first, untimed, so the figure is the shape's cost.
        Analyzer(source).compute(sweep_specs(16), [dt.date.today()])
    source.statement_shape = shape
    started = time.perf_counter()
    values, statements = Analyzer(source).compute(specs, [dt.date.today()])
    seconds = time.perf_counter() - started
    source.close()
    measured = {"seconds": seconds, "statements": len(statements)}
    if spark is not None:
        measured["jvm_kib"] = _peak_kib(spark.sparkContext._gateway.proc.pid)
        measured["python_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        spark.stop()
    report.write_text(json.dumps(measured))
    failed = [key for key, value in values.items() if isinstance(value, Failure)]
    if failed or len(values) != len(specs):
        raise SystemExit(f"{len(failed)} failed, {len(values)} values of {len(specs)}")


def _source(engine: str, location: str) -> tuple[Any, Any]:
    """The session (Spark's, else None) and the source of ``lineitem`` at ``location``."""
    from dqx.datasource import DuckRelationDataSource, PostgresDataSource, SparkDataSource

    if engine == "duckdb":
        return None, DuckRelationDataSource.from_parquet(location, "lineitem")
    if engine == "postgres":
        return None, PostgresDataSource.from_table(location, "lineitem", "lineitem")
    import engines

    spark = engines.spark_session()
    return spark, SparkDataSource.from_dataframe(spark.read.parquet(location), "lineitem")


def source_class(engine: str) -> Any:
    from dqx.datasource import DuckRelationDataSource, PostgresDataSource, SparkDataSource

    classes = {"duckdb": DuckRelationDataSource, "postgres": PostgresDataSource}
    return classes.get(engine, SparkDataSource)


def child(run: Any, argv: list[str], report: Path) -> tuple[dict[str, Any], int]:
    """One measured child process: its report and its peak RSS (KiB); on Spark the
    Python driver's and the JVM's peaks added, the two processes that hold the work."""
    _, kib = run.run_process([sys.executable, str(HERE / "wide.py"), *argv, str(report)])
    measured = json.loads(report.read_text())
    if "jvm_kib" in measured:
        kib = measured["python_kib"] + measured["jvm_kib"]
    return measured, kib


def _peak_kib(pid: int) -> int:
    """A live process's peak RSS (VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def sweep(
    run: Any, settings: Any, number: str, engine: str, location: str, label: str, metrics: int
) -> Any:
    """One engine's sweep: a child process per (width, round), widths interleaved."""
    report = settings.data_dir / f"sweep-{number}.json"
    seconds: dict[int, Any] = {w: run.Side(f"width {w}: seconds per metric") for w in WIDTHS}
    memory: dict[int, Any] = {w: run.Side(f"width {w}: peak RSS") for w in WIDTHS}
    statements: dict[int, int] = {}
    repeats = min(settings.repeats, 3)
    for round_index in range(repeats):
        shift = round_index % len(WIDTHS)
        for width in WIDTHS[shift:] + WIDTHS[:shift]:
            argv = ["point", engine, location, str(metrics), str(width)]
            measured, kib = child(run, argv, report)
            seconds[width].samples.append(measured["seconds"] / metrics)
            memory[width].samples.append(kib)
            statements[width] = measured["statements"]
    best = min(WIDTHS, key=lambda w: seconds[w].median)
    chosen = source_class(engine).statement_shape.width or max(WIDTHS)
    # The shape's width is measured only if it is one of the sweep's; otherwise the
    # nearest below it stands for it.
    nearest = max((w for w in WIDTHS if w <= chosen), default=WIDTHS[0])
    ratio = seconds[nearest].median / seconds[best].median
    outcome = run.Outcome(
        number,
        f"Width sweep, {label}: {metrics:,} plain aggregates in statements of 16..1,000",
        f"best width {best}; the source's width {chosen} at {ratio:.2f}x the best",
        "the source's width <= 1.25x the best",
        ratio <= 1.25,
    )
    for width in WIDTHS:
        outcome.sides.append((seconds[width], "s"))
        outcome.sides.append((memory[width], "MiB"))
    outcome.notes.append(
        "statements per run: " + ", ".join(f"width {w}: {statements[w]}" for w in WIDTHS)
    )
    whose = (
        "the Python driver's peak plus the JVM's (VmHWM of the JVM pyspark starts); each "
        "process starts its own local[2] session and runs one 16-aggregate statement "
        "before the timed run (JVM warm-up), neither timed"
        if engine == "spark"
        else "that whole process's"
    )
    outcome.notes.append(
        "seconds per metric are the analyzer's own (statements written, run, read) in a "
        f"child process; peak RSS is {whose}"
    )
    return outcome


#: How many ``count_values`` on one column the fold comparison (13e) asks for.
FOLD_COUNTS = (16, 64, 256, 1000)


def folds(
    run: Any, settings: Any, number: str, engine: str, location: str, label: str, ns: Any
) -> Any:
    """``n`` count_values on one column, each counted in the shared statements or all
    folded into one grouped count: from which ``n`` the fold pays."""
    report = settings.data_dir / f"folds-{number}.json"
    sides = {
        (n, fold): run.Side(f"{n} count_values: {'folded' if fold else 'plain'}")
        for n in ns
        for fold in (False, True)
    }
    memory = {key: run.Side(side.name + ", peak RSS") for key, side in sides.items()}
    names = list(sides)
    for round_index in range(min(settings.repeats, 3)):
        shift = round_index % len(names)
        for n, fold in names[shift:] + names[:shift]:
            argv = ["counts", engine, location, str(n), "1" if fold else "0"]
            measured, kib = child(run, argv, report)
            sides[n, fold].samples.append(measured["seconds"])
            memory[n, fold].samples.append(kib)
    pays = [n for n in ns if sides[n, True].median < sides[n, False].median]
    fold_from = source_class(engine).statement_shape.fold_from
    # Met when the source's choice at each count is within 1.25x of the other plan's
    # time (the width sweep's margin): folded from its fold_from up, plain below.
    met = True
    for n in ns:
        folded = fold_from is not None and n >= fold_from
        chosen, other = sides[n, folded].median, sides[n, not folded].median
        met = met and chosen <= 1.25 * other
    outcome = run.Outcome(
        number,
        f"Folded count_values, {label}: n on one column, plain vs one grouped count",
        f"folding pays from {min(pays) if pays else 'none'} of {list(ns)}; "
        f"the source folds from {fold_from}",
        "the source's choice at each n <= 1.25x the other's",
        met,
    )
    for key, side in sides.items():
        outcome.sides += [(side, "s"), (memory[key], "MiB")]
    outcome.notes.append(
        "seconds of the analyzer for all n (one run), in a child process per point; plain "
        "is n aggregates in the source's width, folded one join of the column to the "
        "wanted values; peak RSS as in the sweep"
    )
    return outcome


def suite(parquet: str, assertions: int, report: Path) -> None:
    """One run of the 12-metric suite (``assertions`` 12) or of the wide one, over the
    Parquet file; its seconds in ``suite.run`` written to ``report``."""
    import datetime as dt

    from checks import lineitem as twelve
    from wide_checks import wide

    from dqx import ResultKey, VerificationSuite
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import MetricDB

    os.environ["WIDE_ASSERTIONS"] = str(assertions)
    db_path = report.with_suffix(".db")
    db_path.unlink(missing_ok=True)
    db = MetricDB(f"sqlite:///{db_path}")
    source = DuckRelationDataSource.from_parquet(parquet, "lineitem")
    started = time.perf_counter()
    ran = VerificationSuite([twelve if assertions == 12 else wide], db, "wide")
    ran.run([source], ResultKey(dt.date.today()))
    seconds = time.perf_counter() - started
    statuses = [r.status for r in ran.collect_results()]
    report.write_text(json.dumps({"seconds": seconds, "statements": len(ran.statements)}))
    if len(statuses) != assertions or set(statuses) != {"OK"}:
        raise SystemExit(f"{len(statuses)} results, statuses {set(statuses)}")


def suites(
    run: Any, settings: Any, parquet: Path, sides: dict[str, int]
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """Each side's suite run as a child process, alternating: the seconds of its
    ``suite.run`` and the process's peak RSS (KiB); its statement count."""
    seconds = {name: run.Side(name) for name in sides}
    memory = {name: run.Side(name) for name in sides}
    statements: dict[str, int] = {}
    names = list(sides)
    report = settings.data_dir / "wide-suite.json"
    for round_index in range(settings.warmup + min(settings.repeats, 3)):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            argv = [sys.executable, str(HERE / "wide.py"), "suite", str(parquet)]
            _, kib = run.run_process([*argv, str(sides[name]), str(report)])
            measured = json.loads(report.read_text())
            statements[name] = measured["statements"]
            if round_index >= settings.warmup:
                seconds[name].samples.append(measured["seconds"])
                memory[name].samples.append(kib)
    return seconds, memory, statements


def wide_suite(run: Any, settings: Any, parquet: Path, rows: int, count: int) -> list[Any]:
    """14: ``count`` (5,000) assertions vs the 12-metric suite."""
    wide_name, twelve_name = f"{count:,}-assertion suite", "12-metric suite"
    sides = {twelve_name: 12, wide_name: count}
    seconds, memory, statements = suites(run, settings, parquet, sides)
    title = f"{count:,} assertions over {rows:,} rows vs the 12-metric suite"
    timed = run.ratio_outcome(
        "14a",
        title + ": time",
        seconds[wide_name],
        seconds[twelve_name],
        4.0,
        list(seconds.values()),
    )
    timed.notes.append(
        "`suite.run` in a child process of its own per run (SQLite metric database, "
        "untraced); statements per run: "
        + ", ".join(f"{name} {count}" for name, count in statements.items())
    )
    peak = memory[wide_name].median / 1024
    rss = run.Outcome(
        "14b",
        title + ": peak RSS",
        f"{peak:,.0f} MiB",
        "< 2,048 MiB",
        peak < 2048,
        [(side, "MiB") for side in memory.values()],
    )
    rss.notes.append("peak RSS of the whole child process (Python, imports, DuckDB)")
    return [timed, rss]


def tiny_wide(run: Any, settings: Any, parquet: Path, count: int) -> Any:
    """15: ``count`` (10,000) metrics over 50 rows."""
    name = f"{count:,}-metric suite"
    seconds, memory, statements = suites(run, settings, parquet, {name: count})
    side = seconds[name]
    outcome = run.Outcome(
        "15",
        f"{count:,} metrics over 50 rows, `suite.run`",
        run.seconds_text(side.median),
        "< 5 s",
        side.median < 5.0,
        [(side, "s"), (memory[name], "MiB")],
    )
    outcome.notes.append(
        f"{statements[name]} statements; the time covers declaring, planning, the "
        "statements, persisting the metrics to SQLite and evaluating. `dqx run` prints "
        "a row per assertion, which rich takes seconds to lay out at this size: use "
        "--only-failures (or --format json) for wide suites"
    )
    return outcome


def benchmarks(run: Any, settings: Any, wanted: Callable[..., bool]) -> list[Any]:
    import lineitem

    outcomes: list[Any] = []
    # --quick (the smoke test's mode) runs every benchmark on a tenth of the work.
    full = settings.rows >= 1_000_000
    sweep_rows = 1_000_000 if full else settings.rows
    metrics = SWEEP_METRICS if full else 40
    if wanted("13", "13a", "13b"):
        parquet = lineitem.generate(settings.data_dir, sweep_rows)
        label = f"DuckDB, {sweep_rows:,} rows"
        outcomes.append(sweep(run, settings, "13a", "duckdb", str(parquet), label, metrics))
        fifty = str(lineitem.generate(settings.data_dir, 50))
        outcomes.append(sweep(run, settings, "13b", "duckdb", fifty, "DuckDB, 50 rows", metrics))
    if wanted("13", "13c") and settings.postgres:
        pg_rows = min(sweep_rows, 100_000)
        outcomes.append(_postgres_sweep(run, settings, pg_rows, metrics))
    if wanted("13", "13d", "13e"):
        outcomes += _spark_sweep(run, settings, sweep_rows, metrics, full)
    if wanted("14", "14a", "14b"):
        parquet = lineitem.generate(settings.data_dir, settings.rows)
        outcomes += wide_suite(run, settings, parquet, settings.rows, 5000 if full else 500)
    if wanted("15"):
        tiny = lineitem.generate(settings.data_dir, 50)
        outcomes.append(tiny_wide(run, settings, tiny, 10_000 if full else 1000))
    return outcomes


def _postgres_sweep(run: Any, settings: Any, rows: int, metrics: int) -> Any:
    import engines
    import lineitem

    label = f"PostgreSQL, {rows:,} rows"
    with run.postgres_database() as url:
        if url is None:
            title = f"Width sweep, {label}"
            return run.Outcome("13c", title, "PostgreSQL unreachable", "", None)
        parquet = lineitem.generate(settings.data_dir, rows)
        engines.load_postgres(url.replace("+psycopg", ""), parquet, settings.data_dir)
        return sweep(run, settings, "13c", "postgres", url, label, metrics)


def _spark_sweep(run: Any, settings: Any, rows: int, metrics: int, full: bool) -> list[Any]:
    import importlib.util
    import shutil

    import lineitem

    label = f"Spark local[2], {rows:,} rows"
    if importlib.util.find_spec("pyspark") is None or not (
        shutil.which("java") or os.environ.get("JAVA_HOME")
    ):
        # As 13c without PostgreSQL: said so in the report, the rest still measured.
        missing = "Spark unavailable (pyspark and Java 17 needed)"
        return [
            run.Outcome("13d", f"Width sweep, {label}", missing, "", None),
            run.Outcome("13e", f"Folded count_values, {label}", missing, "", None),
        ]
    parquet = str(lineitem.generate(settings.data_dir, rows))
    return [
        sweep(run, settings, "13d", "spark", parquet, label, metrics),
        # --quick: one count, so the smoke test starts few JVMs.
        folds(run, settings, "13e", "spark", parquet, label, FOLD_COUNTS if full else (16,)),
    ]


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "point":
        point(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), Path(sys.argv[6]))
    elif len(sys.argv) == 7 and sys.argv[1] == "counts":
        counts(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), Path(sys.argv[6]))
    elif len(sys.argv) == 5 and sys.argv[1] == "suite":
        suite(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
