"""The dqx command line.

Exit codes, for every command:

* 0: success (``run``: nothing at or above ``--fail-on`` failed; ``reconcile``: the
  database and the trace agree).
* 1: the answer is bad news: an assertion at or above ``--fail-on`` failed or errored,
  the records disagree, or the run asked for is not in the database.
* 2: usage error: bad flags, a missing file, a check or data source declared wrongly.
* 3: operational error: the database, a trace back-end or a webhook failed.

Settings come from flags, then the environment, then ``dqx.toml`` (see
:mod:`dqx.config`).
"""

from __future__ import annotations

import csv
import datetime as dt
import glob
import importlib.util
import json
import logging
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from dqx.common import SEVERITIES, DQXError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider
    from rich.console import Console

    from dqx import alerts
    from dqx.api import Check
    from dqx.common import AssertionResult, SymbolInfo
    from dqx.config import Settings
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import MetricDB
    from dqx.records import RunRecord, SuiteResult
    from dqx.telemetry import TraceLinks

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_OPERATIONAL", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3

F = TypeVar("F", bound=Callable[..., Any])

_GLOB_CHARS = frozenset("*?[")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


def _exit_class(code: int) -> type[click.ClickException]:
    return type(f"_Exit{code}", (click.ClickException,), {"exit_code": code})


_EXIT_CLASSES = {code: _exit_class(code) for code in (EXIT_FAILED, EXIT_USAGE, EXIT_OPERATIONAL)}


def _exit_error(message: str, code: int) -> click.ClickException:
    """A message on stderr and a chosen exit code."""
    return _EXIT_CLASSES[code](message)


def _usage(message: str) -> NoReturn:
    raise _exit_error(message, EXIT_USAGE)


def _operational(message: str) -> NoReturn:
    raise _exit_error(message, EXIT_OPERATIONAL)


@contextmanager
def _dqx_errors() -> Iterator[None]:
    """Map dqx's errors to exit codes: declarations are usage errors, the rest operational."""
    from dqx.common import DefinitionError, InvalidExecutionIdError

    try:
        yield
    except (DefinitionError, InvalidExecutionIdError) as exc:
        _usage(str(exc))
    except DQXError as exc:
        _operational(str(exc))


# Scheduler logs (Airflow, CI) are not terminals; rich would assume 80 columns and
# fold every reason into a narrow column. COLUMNS still wins when it is set.
_LOG_WIDTH = 160


def _stdout() -> Console:
    import os

    from rich.console import Console

    console = Console(soft_wrap=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console = Console(soft_wrap=False, width=_LOG_WIDTH)
    return console


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def _settings(**flags: str | None) -> Settings:
    from dqx.config import load_settings

    with _dqx_errors():
        return load_settings(flags)


def _setup_logging(verbosity: int) -> None:
    # The CLI is the application, so it owns the root logger; library modules only
    # ever call logging.getLogger(__name__).
    from rich.logging import RichHandler

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    handler = RichHandler(console=_stderr(), show_path=False, rich_tracebacks=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="dqx")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """dqx: data quality as code, every run one OpenTelemetry trace.

    Settings come from flags, then environment variables (DQX_DB_URL, DQX_JAEGER_URL,
    DQX_GRAFANA_URL, DQX_TEMPO_URL, DQX_RUNBOOK_BASE_URL, DQX_TRACE_FILE, OTEL_*),
    then dqx.toml in the working directory. Exit codes: 0 ok, 1 failed / disagreement
    / not found, 2 usage error, 3 operational error. See docs/cli.md.
    """
    _setup_logging(verbose)


# -- shared options -------------------------------------------------------------------


def _db_option(fn: F) -> F:
    return click.option(
        "--db",
        "db_url",
        metavar="URL",
        help="Metric database URL (env DQX_DB_URL; default sqlite:///dqx.db).",
    )(fn)


def _trace_source_options(fn: F) -> F:
    fn = click.option(
        "--tempo",
        "tempo_url",
        metavar="URL",
        help="Read the trace from Tempo's HTTP API at URL (e.g. http://localhost:3200).",
    )(fn)
    fn = click.option(
        "--jaeger",
        "jaeger_url",
        metavar="URL",
        help="Read the trace from Jaeger's query API at URL (e.g. http://localhost:16686).",
    )(fn)
    fn = click.option(
        "--trace-file",
        type=click.Path(path_type=Path),
        help=(
            "Read the trace from OTLP JSON-lines files (the collector's file exporter): "
            "a file (rotated and gzipped siblings included), a directory or a glob."
        ),
    )(fn)
    return fn


def _format_option(*choices: str) -> Callable[[F], F]:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def _open_db(settings: Settings, *, must_exist: bool) -> MetricDB:
    from dqx.orm.repositories import MetricDB

    url = settings.require("db_url")
    if must_exist and url.startswith("sqlite:///") and ":memory:" not in url:
        # Reading commands must not leave an empty database behind a typo.
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        if not path.is_file():
            _usage(f"no metric database at {path} (from {settings.origin['db_url']})")
    try:
        return MetricDB(url)
    except DQXError as exc:
        _usage(f"{exc} (from {settings.origin['db_url']})")
    except Exception as exc:
        # The URL may hold a password: name where it came from instead.
        origin = settings.origin["db_url"]
        _usage(f"cannot open the metric database from {origin}: {type(exc).__name__}: {exc}")


def _trace_source(
    settings: Settings,
    *,
    trace_file: Path | None,
    jaeger_url: str | None,
    tempo_url: str | None,
    fall_back: bool,
) -> Any:
    """The trace source the flags name; with ``fall_back``, else the configured one."""
    flags = (("--trace-file", trace_file), ("--jaeger", jaeger_url), ("--tempo", tempo_url))
    given = [name for name, value in flags if value]
    if len(given) > 1:
        _usage(f"give one trace source, not {' and '.join(given)}")
    if not given and fall_back:
        configured = settings.get("trace_file")
        trace_file = Path(configured) if configured else None
        tempo_url = None if trace_file else settings.get("tempo_url")
        jaeger_url = None if trace_file or tempo_url else settings.get("jaeger_url")
    from dqx import traces

    if trace_file is not None:
        source = traces.OTLPFileTraceSource(trace_file)
        try:
            source.files()
        except DQXError as exc:
            _usage(f"--trace-file {trace_file}: {exc}")
        return source
    if tempo_url:
        return traces.TempoTraceSource(tempo_url)
    if jaeger_url:
        return traces.JaegerTraceSource(jaeger_url)
    return None


def _open_run(
    settings: Settings,
    execution_id: str,
    trace_file: Path | None,
    jaeger_url: str | None,
    tempo_url: str | None,
    *,
    fall_back: bool,
) -> tuple[str, MetricDB, Any]:
    """What every command about one run needs: its normalised id, the db, a trace source."""
    from dqx.common import normalize_execution_id

    with _dqx_errors():
        execution_id = normalize_execution_id(execution_id)
    db = _open_db(settings, must_exist=True)
    source = _trace_source(
        settings,
        trace_file=trace_file,
        jaeger_url=jaeger_url,
        tempo_url=tempo_url,
        fall_back=fall_back,
    )
    return execution_id, db, source


def _source_name(source: Any) -> str:
    base_url = getattr(source, "base_url", None)
    if base_url:
        return str(base_url)
    try:
        return ", ".join(str(path) for path in source.files())
    except DQXError:
        return repr(source)


def _links(settings: Settings, execution_id: str) -> TraceLinks:
    from dqx.telemetry import trace_url

    return trace_url(
        execution_id,
        jaeger=settings.get("jaeger_url"),
        grafana=settings.get("grafana_url"),
        tempo_uid=settings.get("tempo_uid") or "tempo",
    )


def _print_links(console: Console, links: TraceLinks, trace_note: str | None = None) -> None:
    console.print(f"trace id  {links.trace_id}" + (f"  ({trace_note})" if trace_note else ""))
    if links.jaeger:
        console.print(f"jaeger    {links.jaeger}", soft_wrap=True)
    if links.grafana:
        console.print(f"grafana   {links.grafana}", soft_wrap=True)


def _json_safe(value: Any) -> Any:
    # JSON has no NaN or Infinity; a metric can be either. Their names as strings keep
    # the output parseable by strict readers (jq, JSON.parse) without passing for NULL.
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _emit_json(document: Any) -> None:
    text = json.dumps(
        _json_safe(document), indent=2, ensure_ascii=False, allow_nan=False, default=str
    )
    click.echo(text)


def _emit_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def _parse_pairs(values: Sequence[str], option: str, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, rest = value.partition("=")
        key = key.strip()
        if not sep or not key or not rest:
            _usage(f"{option} takes {what}, got {value!r}")
        if key in pairs:
            _usage(f"{option} {key!r} given twice")
        pairs[key] = rest
    return pairs


# -- dqx run ----------------------------------------------------------------------------


def _load_checks(path: Path) -> list[Check]:
    """Every @check object the file defines, in definition order."""
    from dqx.api import Check

    module_name = f"dqx_user_checks_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        _usage(f"{path} is not a Python file dqx can load")
    module = importlib.util.module_from_spec(spec)
    # Let the checks file import its neighbours, as `python CHECKS.py` would.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except SystemExit:
        _usage(f"loading {path} called sys.exit()")
    except Exception as exc:
        _usage(f"cannot load checks from {path}: {type(exc).__name__}: {exc}")
    finally:
        sys.path.pop(0)
    checks: list[Check] = []
    for value in vars(module).values():
        if isinstance(value, Check) and all(value is not seen for seen in checks):
            checks.append(value)
    if not checks:
        _usage(f"{path} defines no checks; decorate functions with @check(name=...)")
    return checks


def _data_files(name: str, location: str) -> tuple[list[str], str]:
    """Files for a --data value and their kind: parquet or csv."""
    path = Path(location)
    if _GLOB_CHARS & set(location):
        files = sorted(glob.glob(location, recursive=True))
        if not files:
            _usage(f"--data {name}={location}: no file matches")
    elif path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and _kind(str(p)))
        if not files:
            _usage(f"--data {name}={location}: the directory holds no .parquet or .csv files")
    elif path.is_file():
        files = [location]
    else:
        _usage(f"--data {name}={location}: no such file or directory")
    kinds = {_kind(f) for f in files}
    if None in kinds:
        unknown = next(f for f in files if _kind(f) is None)
        _usage(f"--data {name}: cannot tell the format of {unknown}; use .parquet or .csv files")
    if len(kinds) > 1:
        _usage(f"--data {name}={location} mixes Parquet and CSV files")
    return files, kinds.pop() or ""


def _kind(file: str) -> str | None:
    lowered = file.lower()
    if lowered.endswith(_PARQUET):
        return "parquet"
    if lowered.endswith(_CSV):
        return "csv"
    return None


class _ScanProgress:
    """Shows which dataset is being scanned: a live bar on a terminal, lines otherwise."""

    def __init__(self, console: Console, datasets: Sequence[str]) -> None:
        self._console = console
        self._total = len(datasets)
        self._seen: list[str] = []
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _ScanProgress:
        if self._console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn

            self._progress = Progress(
                SpinnerColumn(),
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("reading history…", total=self._total)
        return self

    def scanning(self, dataset: str) -> None:
        if self._seen and self._seen[-1] == dataset:
            return
        if dataset not in self._seen:
            self._seen.append(dataset)
        done = len(self._seen) - 1
        if self._progress is not None:
            self._progress.update(self._task, description=f"scanning {dataset}", completed=done)
        else:
            self._console.print(
                f"scanning dataset {dataset!r} ({len(self._seen)}/{self._total})",
                markup=False,
                highlight=False,
            )

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self._total)
            self._progress.stop()
            self._progress = None

    # As the suite's first plugin: the scans are over, so the bar makes way for the
    # report the next plugins print.
    name = "scan-progress"

    def after_run(self, result: SuiteResult) -> None:
        self.stop()


def _observed_sources(
    data: Mapping[str, str], date_columns: Mapping[str, str], progress: _ScanProgress
) -> list[DuckRelationDataSource]:
    from dqx.datasource import DuckRelationDataSource

    class ObservedSource(DuckRelationDataSource):
        # Every statement dqx runs goes through execute(): the one place that knows
        # a dataset is being scanned right now.
        def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            progress.scanning(self.name)
            return super().execute(sql, params)

    unknown = sorted(set(date_columns) - set(data))
    if unknown:
        _usage(f"--date-column names dataset(s) not given with --data: {', '.join(unknown)}")
    sources: list[DuckRelationDataSource] = []
    for name, location in data.items():
        files, kind = _data_files(name, location)
        target: str | list[str] = files[0] if len(files) == 1 else files
        with _dqx_errors():
            if kind == "parquet":
                sources.append(ObservedSource.from_parquet(target, name, date_columns.get(name)))
            else:
                sources.append(ObservedSource.from_csv(target, name, date_columns.get(name)))
    return sources


def _check_trace_file(settings: Settings) -> None:
    """A trace file that cannot be written is refused before any data is read.

    The exporter writes in the background and can only drop what it cannot write, so
    the run would claim a trace that no file holds.
    """
    trace_file = settings.get("trace_file")
    if not trace_file:
        return
    path = Path(trace_file)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as exc:
        _usage(
            f"cannot write the trace file {trace_file} (from {settings.origin['trace_file']}): "
            f"{exc}; pass a writable --trace-file"
        )


def _tracer_provider(settings: Settings) -> tuple[SDKTracerProvider | None, str]:
    """The provider a run exports through, and a note saying where its trace goes."""
    import os

    from dqx import telemetry

    rank = {"flag": 0}
    trace_file, endpoint = settings.get("trace_file"), settings.get("otlp_endpoint")

    def weight(key: str) -> int:
        origin = settings.origin[key]
        return rank.get(origin, 1 if origin.startswith("env") else 2)

    traces_exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    otlp_from_env = bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    with _dqx_errors():
        if trace_file and (not endpoint or weight("trace_file") <= weight("otlp_endpoint")):
            provider = telemetry.configure(
                service_name="dqx", exporter="file", path=trace_file, set_global=False
            )
            return provider, f"written to {trace_file}"
        if endpoint or otlp_from_env or traces_exporter == "otlp":
            # An endpoint from the environment is left to the exporter, which also
            # reads the per-signal variables and adds /v1/traces as the spec says.
            explicit = None if settings.origin["otlp_endpoint"].startswith("env") else endpoint
            provider = telemetry.configure(
                service_name="dqx", exporter="otlp", endpoint=explicit, set_global=False
            )
            return provider, f"exported over OTLP to {endpoint or 'the OTEL_* endpoint'}"
        if traces_exporter == "console":
            return telemetry.configure(exporter="console", set_global=False), "printed"
    return None, "not recorded: pass --trace-file or --otlp-endpoint to keep the trace"


def _alert_plugins(
    sinks: Sequence[str], settings: Settings, threshold: str
) -> list[alerts.AlertPlugin]:
    """One AlertPlugin per --alert SINK=URL, with the trace and runbook links."""
    from dqx import alerts

    plugins = []
    for sink, url in _parse_pairs(sinks, "--alert", "SINK=URL").items():
        if sink not in alerts.SINKS:
            _usage(f"--alert {sink}=...: unknown sink; use one of {', '.join(alerts.SINKS)}")
        with _dqx_errors():
            plugins.append(
                alerts.AlertPlugin(
                    sink,
                    url,
                    min_severity=threshold,
                    jaeger=settings.get("jaeger_url"),
                    grafana=settings.get("grafana_url"),
                    tempo_uid=settings.get("tempo_uid") or "tempo",
                    runbook_base_url=settings.get("runbook_base_url"),
                )
            )
    return plugins


_EXPORT_FAILED_NOTE = "export FAILED, see below"


def _trace_export_problem(provider: SDKTracerProvider | None, execution_id: str) -> str | None:
    """Why the run's trace did not (all) reach where it was exported, or None if it did.

    Read after the provider's shutdown, which exports what was still buffered.
    """
    from dqx import telemetry

    status = telemetry.export_status(provider) if provider is not None else None
    if status is None or status.ok:
        return None
    return (
        f"trace export failed: {status.failed} of {status.failed + status.exported} span(s) "
        f"of run {execution_id} did not reach {status.destination} ({status.error}), so its "
        "trace there is incomplete or missing. The run itself finished: its results and "
        f"metrics are in the metric database (dqx metrics {execution_id})."
    )


def _persist_message(
    result: SuiteResult, settings: Settings, db_url: str, trace_note: str, problem: str
) -> str:
    """Why the run's metrics are not in the database, and the command that restores them."""
    detail = result.persist_error or problem
    head = (
        f"run {result.execution_id} finished, but its {len(result.metrics)} metric(s) could "
        f"not be written to {db_url}: {detail}."
    )
    if not result.trace_sampled or trace_note == _EXPORT_FAILED_NOTE:
        return (
            f"{head} Its trace was not recorded, so nothing holds them: re-run the same "
            "command once the database is back (a new execution id)."
        )
    db_flag = f" --db {db_url}" if settings.origin["db_url"] == "flag" else ""
    trace_file = settings.get("trace_file")
    if trace_note == f"written to {trace_file}":
        source = f"--trace-file {trace_file}"
    else:
        source = "--jaeger URL (or --tempo URL)"
    return (
        f"{head} Every metric is in trace {result.execution_id}; once the database is "
        f"back, run: dqx reconcile {result.execution_id}{db_flag} {source} --recover"
    )


def _result_document(
    results: Sequence[AssertionResult], execution_id: str, fail_on: str, links: TraceLinks
) -> dict[str, Any]:
    limit = SEVERITIES.index(fail_on)
    return {
        "execution_id": execution_id,
        "fail_on": fail_on,
        "failed": sum(
            1 for r in results if r.status != "OK" and SEVERITIES.index(r.severity) <= limit
        ),
        "links": links.as_dict(),
        "results": [
            {
                "check": r.check,
                "assertion": r.assertion,
                "severity": r.severity,
                "status": r.status,
                "value": r.number,
                "bound": r.bound,
                "expression": r.expression,
                "message": r.message,
            }
            for r in results
        ],
    }


@main.command("run")
@click.argument("checks_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--data",
    "data",
    multiple=True,
    required=True,
    metavar="NAME=PATH",
    help="A dataset: a .parquet or .csv file, a glob, or a directory of them. Repeatable.",
)
@click.option(
    "--date-column",
    multiple=True,
    metavar="NAME=COLUMN",
    help="The date column of dataset NAME (default: a column named yyyy_mm_dd).",
)
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="The date the run is about (default: today).",
)
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A run tag. Repeatable.")
@click.option("--suite", "suite_name", help="Suite name (default: the checks file's name).")
@_db_option
@click.option(
    "--fail-on",
    type=click.Choice(SEVERITIES),
    help="Exit 1 when an assertion this severe or worse fails or errors (default P1).",
)
@click.option(
    "--trace-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append the run's trace to this OTLP JSON-lines file (env DQX_TRACE_FILE).",
)
@click.option(
    "--otlp-endpoint",
    metavar="URL",
    help="Export the run's trace to this OTLP collector (env OTEL_EXPORTER_OTLP_ENDPOINT).",
)
@click.option(
    "--recompute",
    is_flag=True,
    help="Recompute lagged values from the data instead of reusing stored history.",
)
@click.option(
    "--alert",
    "alert_sinks",
    multiple=True,
    metavar="SINK=URL",
    help="After the run, post failures at --fail-on or above to URL; SINK is alertmanager, "
    "slack or webhook. Repeatable.",
)
@_format_option("table", "json")
@click.pass_context
def run_command(
    ctx: click.Context,
    checks_file: Path,
    data: tuple[str, ...],
    date_column: tuple[str, ...],
    day: dt.datetime | None,
    tags: tuple[str, ...],
    suite_name: str | None,
    db_url: str | None,
    fail_on: str | None,
    trace_file: Path | None,
    otlp_endpoint: str | None,
    recompute: bool,
    alert_sinks: tuple[str, ...],
    fmt: str,
) -> None:
    """Run the @check functions of CHECKS_FILE against the given datasets.

    \b
    dqx run checks.py --data orders=data/orders/*.parquet --date 2024-03-14 \\
        --tag env=prod --db sqlite:///dqx.db --trace-file traces.jsonl

    Prints the results and the trace links; exits 0 when nothing at or above
    --fail-on failed, 1 when something did, 2 on usage errors, 3 when the metric
    database could not take the run's metrics.
    """
    from dqx.api import VerificationSuite
    from dqx.common import PersistError, ResultKey
    from dqx.display import TerminalReport

    settings = _settings(
        db_url=db_url,
        fail_on=fail_on,
        trace_file=str(trace_file) if trace_file else None,
        otlp_endpoint=otlp_endpoint,
    )
    threshold = settings.require("fail_on")
    if threshold not in SEVERITIES:
        _usage(f"fail_on {threshold!r} (from {settings.origin['fail_on']}) is not P0..P3")
    _check_trace_file(settings)
    datasets = _parse_pairs(data, "--data", "NAME=PATH")
    date_columns = _parse_pairs(date_column, "--date-column", "NAME=COLUMN")
    checks = _load_checks(checks_file)
    with _dqx_errors():
        key = ResultKey(
            day.date() if day else dt.date.today(), _parse_pairs(tags, "--tag", "KEY=VALUE")
        )
    err = _stderr()
    progress = _ScanProgress(err, list(datasets))
    out = _stdout()
    plugins: list[Any] = [progress]
    if fmt == "table":
        plugins.append(TerminalReport(out))
    plugins.extend(_alert_plugins(alert_sinks, settings, threshold))
    sources = _observed_sources(datasets, date_columns, progress)
    db = _open_db(settings, must_exist=False)
    provider, trace_note = _tracer_provider(settings)
    persist_problem: str | None = None
    try:
        with _dqx_errors():
            suite = VerificationSuite(
                checks,
                db,
                suite_name or checks_file.stem,
                tracer_provider=provider,
                plugins=plugins,
                recompute="always" if recompute else "missing",
            )
        with progress, _dqx_errors():
            try:
                result = suite.run(sources, key)
            except PersistError as exc:
                persist_problem = str(exc)
                if suite.result is None:
                    raise
                result = suite.result
    finally:
        if provider is not None:
            provider.shutdown()
        for source in sources:
            source.close()
        db.dispose()
    export_problem = _trace_export_problem(provider, result.execution_id)
    if export_problem:
        trace_note = _EXPORT_FAILED_NOTE
    links = _links(settings, result.execution_id)
    if fmt == "json":
        _emit_json(_result_document(result.results, result.execution_id, threshold, links))
    else:
        # The results table was printed by the TerminalReport plugin.
        _print_links(out, links, trace_note)
    if export_problem:
        err.print(export_problem, markup=False, highlight=False)
    if persist_problem:
        _operational(_persist_message(result, settings, db.url, trace_note, persist_problem))
    failed = result.failed(threshold)
    if failed:
        err.print(
            f"{len(failed)} assertion(s) at {threshold} or above did not pass",
            markup=False,
            highlight=False,
        )
        ctx.exit(EXIT_FAILED)


# -- dqx metrics / reconcile / runs -----------------------------------------------------


def _symbol_rows(symbols: Sequence[SymbolInfo]) -> list[dict[str, Any]]:
    from dqx.common import ORIGIN_TAG, identity_tags

    return [
        {
            "name": s.name,
            "metric": s.metric,
            "dataset": s.dataset,
            "yyyy_mm_dd": s.yyyy_mm_dd.isoformat(),
            "value": s.value.value_or(None),
            "origin": s.tags.get(ORIGIN_TAG, "db"),
            "tags": identity_tags(s.tags),
        }
        for s in symbols
    ]


@main.command("metrics")
@click.argument("execution_id")
@_db_option
@_trace_source_options
@_format_option("table", "json", "csv")
@click.pass_context
def metrics_command(
    ctx: click.Context,
    execution_id: str,
    db_url: str | None,
    trace_file: Path | None,
    jaeger_url: str | None,
    tempo_url: str | None,
    fmt: str,
) -> None:
    """Every metric run EXECUTION_ID used, from the database (and a trace, if given).

    With a trace source the list is the union of both records and each metric says
    where it was found: db+trace, db or trace.
    """
    from dqx.data import metrics_by_execution_id

    settings = _settings(db_url=db_url)
    execution_id, db, source = _open_run(
        settings, execution_id, trace_file, jaeger_url, tempo_url, fall_back=False
    )
    with _dqx_errors():
        symbols = metrics_by_execution_id(db, execution_id, trace=source)
        known = db.run(execution_id) is not None
    if not symbols and not known:
        message = f"no run {execution_id} in {db.url} (and no metrics in a trace)"
        raise _exit_error(message, EXIT_FAILED)
    rows = _symbol_rows(symbols)
    if fmt == "json":
        _emit_json({"execution_id": execution_id, "metrics": rows})
    elif fmt == "csv":
        _emit_csv(
            ["name", "metric", "dataset", "yyyy_mm_dd", "value", "origin"],
            [
                [r["name"], r["metric"], r["dataset"], r["yyyy_mm_dd"], r["value"], r["origin"]]
                for r in rows
            ],
        )
    else:
        from dqx.display import print_metrics

        print_metrics(symbols, title=f"metrics of run {execution_id}", console=_stdout())


def _reconciliation_document(rec: Any) -> dict[str, Any]:
    from dqx.display import reconciliation_rows

    return {
        "execution_id": getattr(rec, "execution_id", None),
        "ok": bool(rec.ok),
        "trace_found": bool(rec.trace_found),
        "trace_expected": getattr(rec, "trace_expected", None),
        "summary": rec.summary,
        "matched": len(rec.matched),
        "discrepancies": reconciliation_rows(rec),
    }


@main.command("reconcile")
@click.argument("execution_id")
@_db_option
@_trace_source_options
@click.option(
    "--recover",
    is_flag=True,
    help="Write metrics found only in the trace back to the database, under the same id.",
)
@_format_option("table", "json", "csv")
@click.pass_context
def reconcile_command(
    ctx: click.Context,
    execution_id: str,
    db_url: str | None,
    trace_file: Path | None,
    jaeger_url: str | None,
    tempo_url: str | None,
    recover: bool,
    fmt: str,
) -> None:
    """Compare run EXECUTION_ID's metrics in the database with its trace.

    The trace comes from --trace-file, --jaeger or --tempo, else from DQX_TRACE_FILE,
    DQX_TEMPO_URL or DQX_JAEGER_URL (or the same keys in dqx.toml). Exits 0 when the
    records agree (after --recover, when they agree afterwards), 1 when they do not.
    """
    from dqx.data import reconcile

    settings = _settings(db_url=db_url)
    execution_id, db, source = _open_run(
        settings, execution_id, trace_file, jaeger_url, tempo_url, fall_back=True
    )
    if source is None:
        _usage("reconcile needs a trace: pass --trace-file, --jaeger or --tempo")
    err = _stderr()
    with _dqx_errors():
        rec = reconcile(db, execution_id, source)
        if not rec.trace_found and not rec.db_count and db.run(execution_id) is None:
            message = (
                f"no run {execution_id} in {db.url}, and no trace of it in "
                f"{_source_name(source)}; list runs with `dqx runs`"
            )
            raise _exit_error(message, EXIT_FAILED)
        if recover:
            written = rec.recover(db)
            err.print(f"recovered {written} metric(s) from the trace", highlight=False)
            rec = reconcile(db, execution_id, source)
    for warning in rec.warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    if fmt == "json":
        _emit_json(_reconciliation_document(rec))
    elif fmt == "csv":
        from dqx.display import reconciliation_rows

        header = ["problem", "metric", "dataset", "yyyy_mm_dd", "db_value", "trace_value"]
        header += ["id", "differs"]
        _emit_csv(header, [[r[h] for h in header] for r in reconciliation_rows(rec)])
    else:
        from dqx.display import reconciliation_table

        out = _stdout()
        # The library's summary names recover(), a Python method; here it is a flag.
        out.print(rec.summary.split("; recover()")[0], markup=False, highlight=False)
        if rec.trace_found and not rec.ok:
            out.print(reconciliation_table(rec, title=f"run {execution_id}: db vs trace"))
    if not rec.ok:
        _reconcile_way_out(err, rec, execution_id, settings.get("runbook_base_url"))
        ctx.exit(EXIT_FAILED)


def _reconcile_way_out(err: Console, rec: Any, execution_id: str, runbooks: str | None) -> None:
    """What the operator does next, on stderr so JSON and CSV stay clean."""
    from dqx.alerts import runbook_url

    if not rec.trace_found:
        err.print(
            f"trace {execution_id} not found in that source: try another (--trace-file, "
            f"--jaeger, --tempo); see {runbook_url('trace-missing', runbooks)}",
            markup=False,
            highlight=False,
        )
        return
    if rec.missing_in_db:
        err.print(
            f"{len(rec.missing_in_db)} metric(s) only in the trace: run the same command "
            "with --recover to write them back",
            markup=False,
            highlight=False,
        )
    if rec.mismatched or rec.missing_in_trace:
        err.print(
            f"see {runbook_url('reconciliation-mismatch', runbooks)} before trusting either record",
            markup=False,
            highlight=False,
        )


def _run_row(run: RunRecord, links: TraceLinks | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "execution_id": run.execution_id,
        "suite": run.suite,
        "yyyy_mm_dd": run.yyyy_mm_dd.isoformat(),
        "tags": dict(run.tags),
        "status": run.status,
        "ok": run.assertions_ok,
        "failed": run.assertions_failed,
        "errors": run.assertions_error,
        "metrics": run.metric_count,
        "trace_sampled": run.trace_sampled,
        "started": run.started.isoformat(),
        "finished": run.finished.isoformat() if run.finished else None,
    }
    if links is not None and (links.jaeger or links.grafana):
        row["trace_url"] = links.jaeger or links.grafana
    return row


@main.command("runs")
@_db_option
@click.option("--suite", help="Only runs of this suite.")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only runs about this date or later.",
)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--jaeger", "jaeger_url", metavar="URL", help="Jaeger UI base for trace links.")
@click.option("--grafana", "grafana_url", metavar="URL", help="Grafana base for trace links.")
@_format_option("table", "json", "csv")
@click.pass_context
def runs_command(
    ctx: click.Context,
    db_url: str | None,
    suite: str | None,
    since: dt.datetime | None,
    limit: int,
    jaeger_url: str | None,
    grafana_url: str | None,
    fmt: str,
) -> None:
    """Recent runs, newest first, with their status and trace links.

    JSON and CSV rows carry trace_url when --jaeger or --grafana (else DQX_JAEGER_URL /
    DQX_GRAFANA_URL, or dqx.toml) says where the traces are; Jaeger wins.
    """
    settings = _settings(db_url=db_url, jaeger_url=jaeger_url, grafana_url=grafana_url)
    db = _open_db(settings, must_exist=True)
    with _dqx_errors():
        runs = db.runs(suite=suite, since=since.date() if since else None, limit=limit)
    rows = [_run_row(run, _links(settings, run.execution_id)) for run in runs]
    if fmt == "json":
        _emit_json(rows)
    elif fmt == "csv":
        header = [
            "execution_id",
            "suite",
            "yyyy_mm_dd",
            "status",
            "ok",
            "failed",
            "errors",
            "metrics",
            "trace_sampled",
            "started",
            "finished",
            "trace_url",
        ]
        _emit_csv(header, [[row.get(h) for h in header] for row in rows])
    else:
        from dqx.display import runs_table

        _stdout().print(runs_table(runs, title=f"runs in {db.url}"))


# -- dqx alert ----------------------------------------------------------------------------


@main.command("alert")
@click.argument("execution_id")
@_db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["alertmanager", "slack", "markdown"]),
    default="markdown",
    show_default=True,
    help="Alertmanager API v2 alerts, a Slack Block Kit message, or Markdown.",
)
@click.option(
    "--min-severity",
    type=click.Choice(SEVERITIES),
    default="P3",
    show_default=True,
    help="Leave out failures less severe than this.",
)
@click.option("--webhook", metavar="URL", help="POST the alert to URL (env DQX_WEBHOOK_URL).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per try.")
@click.option(
    "--attempts",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    help="Tries in all; 5xx, 429 and connection errors are retried with backoff.",
)
@click.option("--jaeger", "jaeger_url", metavar="URL", help="Jaeger UI base for trace links.")
@click.option("--grafana", "grafana_url", metavar="URL", help="Grafana base for trace links.")
@click.option("--runbook-base-url", metavar="URL", help="Where docs/runbooks/ is published.")
@click.pass_context
def alert_command(
    ctx: click.Context,
    execution_id: str,
    db_url: str | None,
    fmt: str,
    min_severity: str,
    webhook: str | None,
    timeout: float,
    attempts: int,
    jaeger_url: str | None,
    grafana_url: str | None,
    runbook_base_url: str | None,
) -> None:
    """The alert for run EXECUTION_ID's failed assertions, printed or posted to a webhook.

    Each failure carries its severity, value, bound, the trace links and the runbook
    for its class. Nothing is posted when nothing failed.
    """
    from dqx import alerts
    from dqx.common import normalize_execution_id

    settings = _settings(
        db_url=db_url,
        webhook_url=webhook,
        jaeger_url=jaeger_url,
        grafana_url=grafana_url,
        runbook_base_url=runbook_base_url,
    )
    db = _open_db(settings, must_exist=True)
    with _dqx_errors():
        execution_id = normalize_execution_id(execution_id)
        if db.run(execution_id) is None:
            raise _exit_error(f"no run {execution_id} in {db.url}", EXIT_FAILED)
        alert = alerts.alert_for_run(
            db,
            execution_id,
            min_severity=min_severity,
            jaeger=settings.get("jaeger_url"),
            grafana=settings.get("grafana_url"),
            tempo_uid=settings.get("tempo_uid") or "tempo",
            runbook_base_url=settings.get("runbook_base_url"),
        )
    kind: alerts.AlertFormat = fmt  # type: ignore[assignment]
    url = settings.get("webhook_url")
    err = _stderr()
    if url is None:
        click.echo(alerts.render(alert, kind).rstrip("\n"))
        return
    if not alert.failures:
        err.print(f"run {alert.execution_id} has no failures: nothing posted", highlight=False)
        return
    with _dqx_errors():
        status = alerts.post_webhook(
            url, alerts.webhook_body(alert, kind), timeout=timeout, attempts=attempts
        )
    err.print(
        f"posted {len(alert.failures)} failure(s) of run {alert.execution_id} to {url} "
        f"(HTTP {status})",
        markup=False,
        highlight=False,
    )


# -- dqx config ---------------------------------------------------------------------------


@main.command("config")
@_format_option("table", "json")
@click.pass_context
def config_command(ctx: click.Context, fmt: str) -> None:
    """The settings dqx resolves here, and where each one came from."""
    settings = _settings()
    if fmt == "json":
        _emit_json({"values": settings.values, "origin": settings.origin})
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="dqx settings (flag > environment > dqx.toml > default)")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("from")
    for key, value in settings.values.items():
        table.add_row(Text(key), Text("" if value is None else value), Text(settings.origin[key]))
    _stdout().print(table)


# -- dqx demo -----------------------------------------------------------------------------


@main.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where the demo writes its data, database and traces.",
)
def demo(workdir: Path) -> None:
    """Run the demo suite on two weeks of generated orders (DuckDB + SQLite + trace file).

    Prints the results, the execution id, the trace links, then the run's metrics
    reconciled against the trace file.
    """
    from dqx import telemetry
    from dqx.api import VerificationSuite
    from dqx.common import DQXError, ResultKey
    from dqx.datasource import DuckRelationDataSource
    from dqx.demo import DEMO_DAYS, DEMO_END, demo_checks, write_orders
    from dqx.display import print_results
    from dqx.orm.repositories import MetricDB

    console = _stdout()
    workdir.mkdir(parents=True, exist_ok=True)
    data = write_orders(workdir / "demo-data" / "orders.parquet")
    trace_file = workdir / "dqx-traces.jsonl"
    provider = telemetry.configure(
        service_name="dqx-demo", exporter="file", path=trace_file, set_global=False
    )
    db = MetricDB(f"sqlite:///{(workdir / 'dqx.db').resolve()}")
    source = DuckRelationDataSource.from_parquet(data, "orders")
    try:
        with _stderr().status("building two weeks of history…"):
            for offset in range(DEMO_DAYS - 1, 0, -1):
                day = DEMO_END - dt.timedelta(days=offset)
                VerificationSuite(demo_checks(), db, "Orders", tracer_provider=provider).run(
                    [source], ResultKey(day, {"env": "demo"})
                )
        suite = VerificationSuite(demo_checks(), db, "Orders", tracer_provider=provider)
        result = suite.run([source], ResultKey(DEMO_END, {"env": "demo"}))
    except DQXError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        provider.shutdown()
        source.close()
    print_results(
        result.results, suite.execution_id, title=f"Orders suite for {DEMO_END}", console=console
    )
    links = telemetry.trace_url(
        suite.execution_id, jaeger="http://localhost:16686", grafana="http://localhost:3000"
    )
    _print_links(console, links, f"written to {trace_file}")
    _demo_metrics(console, db, suite.execution_id, trace_file)
    console.print(
        f"{len(result.statements)} SQL statement(s) scanned {DEMO_END} only; "
        "earlier days came from history."
    )
    console.print(
        f"next: dqx alert {suite.execution_id} --db sqlite:///{workdir / 'dqx.db'}",
        markup=False,
        highlight=False,
    )


def _demo_metrics(console: Console, db: MetricDB, execution_id: str, trace_file: Path) -> None:
    """The run's metrics, each marked with the record(s) holding it, then the verdict."""
    from dqx.data import metrics_by_execution_id, reconcile
    from dqx.display import print_metrics
    from dqx.traces import OTLPFileTraceSource

    source = OTLPFileTraceSource(trace_file)
    print_metrics(
        metrics_by_execution_id(db, execution_id, trace=source),
        title=f"metrics of run {execution_id}: database vs trace {trace_file.name}",
        console=console,
    )
    console.print(reconcile(db, execution_id, source).summary, markup=False, highlight=False)


if __name__ == "__main__":
    main()
