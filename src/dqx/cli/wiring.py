"""From settings to the objects a command works with: the store, a trace source, a tracer.

Settings come from flags, then the environment, then ``dqx.toml`` (:mod:`dqx.config`).
Trace sources are one table, :data:`TRACE_SOURCES`: its rows make the reading commands'
flags, say which configured source ``reconcile`` falls back on, and build the source,
so a new back-end is one more row.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import click

from dqx.cli.errors import dqx_errors, usage
from dqx.cli.output import either
from dqx.common import DQXError
from dqx.config import KEYS, Settings, load_settings

if TYPE_CHECKING:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider

    from dqx.links import TraceLinks
    from dqx.orm.repositories import MetricDB
    from dqx.traces.model import TraceSource

__all__ = [
    "EXPORT_FAILED_NOTE",
    "TRACE_SOURCES",
    "TraceFlags",
    "TraceSourceKind",
    "check_trace_file",
    "configured_sources",
    "link_options",
    "load",
    "meter_provider",
    "open_db",
    "open_run",
    "reading_flags",
    "source_name",
    "trace_links",
    "trace_source",
    "trace_source_options",
    "tracer_provider",
]

#: The trace-source flags as a command received them: settings key -> value or None.
TraceFlags: TypeAlias = Mapping[str, Any]

# Every command imports what it needs inside its function: `dqx --help` then loads
# click and dqx.common only, not duckdb, sqlalchemy, sqlglot, rich or the OTel SDK.


def load(**flags: str | None) -> Settings:
    """The settings, with ``flags`` (None: not given) beating everything else; their
    secrets are redacted from everything this invocation writes."""
    from dqx.cli.redacting import current

    with dqx_errors():
        settings = load_settings(flags)
    current().add_settings(settings)
    return settings


def open_db(settings: Settings, *, must_exist: bool) -> MetricDB:
    from dqx.orm.repositories import MetricDB

    url = settings.require("db_url")
    if must_exist and url.startswith("sqlite:///") and ":memory:" not in url:
        # Reading commands must not leave an empty database behind a typo.
        path = Path(url.removeprefix("sqlite:///").split("?", 1)[0])
        if not path.is_file():
            usage(f"no metric database at {path} (from {settings.origin['db_url']})")
    try:
        return MetricDB(url)
    except DQXError as exc:
        usage(f"{exc} (from {settings.origin['db_url']})")
    except Exception as exc:
        # The URL may hold a password: name where it came from instead.
        origin = settings.origin["db_url"]
        usage(f"cannot open the metric database from {origin}: {type(exc).__name__}: {exc}")


# -- trace sources ------------------------------------------------------------------------


def _otlp_files(value: Any) -> TraceSource:
    from dqx.traces import OTLPFileTraceSource

    source = OTLPFileTraceSource(value)
    # A path that matches no file is a typo, not a missing trace: say so before reading.
    source.files()
    return source


def _jaeger(value: Any) -> TraceSource:
    from dqx.traces import JaegerTraceSource

    return JaegerTraceSource(value)


def _tempo(value: Any) -> TraceSource:
    from dqx.traces import TempoTraceSource

    return TempoTraceSource(value)


@dataclass(frozen=True)
class TraceSourceKind:
    """A kind of trace back-end the reading commands (``metrics``, ``reconcile``) take."""

    #: The flag naming it, e.g. ``--jaeger URL``.
    flag: str
    #: Its settings key (``dqx.toml``), which also names its environment variable.
    setting: str
    help: str
    #: The source, from the flag's value or the setting; a DQXError is a usage error.
    open: Callable[[Any], TraceSource]
    #: With no flag given, ``reconcile`` takes the configured kind ranked lowest.
    fallback_rank: int
    metavar: str | None = "URL"
    param_type: click.ParamType[Any, Any] | None = None

    @property
    def env(self) -> str | None:
        return KEYS[self.setting][0]

    def read(self, configured: str) -> Any:
        """A configured value as the flag would have read it."""
        if self.param_type is None:
            return configured
        return self.param_type.convert(configured, None, None)


#: Every trace back-end, in the order the flags are listed.
TRACE_SOURCES: tuple[TraceSourceKind, ...] = (
    TraceSourceKind(
        "--trace-file",
        "trace_file",
        "Read the trace from OTLP JSON-lines files (the collector's file exporter): "
        "a file (rotated siblings included; gzip and zstd read), a directory or a glob.",
        _otlp_files,
        fallback_rank=0,
        metavar=None,
        param_type=click.Path(path_type=Path),
    ),
    TraceSourceKind(
        "--jaeger",
        "jaeger_url",
        "Read the trace from Jaeger's query API at URL (e.g. http://localhost:16686).",
        _jaeger,
        fallback_rank=2,
    ),
    TraceSourceKind(
        "--tempo",
        "tempo_url",
        "Read the trace from Tempo's HTTP API at URL (e.g. http://localhost:3200).",
        _tempo,
        fallback_rank=1,
    ),
)


def configured_sources() -> tuple[TraceSourceKind, ...]:
    """The kinds in the order ``reconcile`` tries their settings."""
    return tuple(sorted(TRACE_SOURCES, key=lambda kind: kind.fallback_rank))


def trace_source_options(command: Callable[..., None]) -> Callable[..., None]:
    """One option per trace-source kind; the command gets them all as ``trace_flags``."""

    @functools.wraps(command)
    def with_trace_flags(*args: Any, **kwargs: Any) -> None:
        flags = {kind.setting: kwargs.pop(kind.setting) for kind in TRACE_SOURCES}
        command(*args, trace_flags=flags, **kwargs)

    wrapped: Callable[..., None] = with_trace_flags
    # Click lists options in the reverse order of decoration.
    for kind in reversed(TRACE_SOURCES):
        wrapped = click.option(
            kind.flag, kind.setting, type=kind.param_type, metavar=kind.metavar, help=kind.help
        )(wrapped)
    return wrapped


def trace_source(settings: Settings, flags: TraceFlags, *, fall_back: bool) -> TraceSource | None:
    """The trace source the flags name; with ``fall_back``, else the configured one."""
    from dqx.cli.redacting import current

    for value in flags.values():
        current().add_url(str(value) if value else None)
    given = [kind for kind in TRACE_SOURCES if flags.get(kind.setting)]
    if len(given) > 1:
        usage(f"give one trace source, not {' and '.join(kind.flag for kind in given)}")
    if given:
        kind, value = given[0], flags[given[0].setting]
    elif fall_back:
        configured = [kind for kind in configured_sources() if settings.get(kind.setting)]
        if not configured:
            return None
        kind = configured[0]
        value = kind.read(settings.require(kind.setting))
    else:
        return None
    try:
        return kind.open(value)
    except DQXError as exc:
        usage(f"{kind.flag} {value}: {exc}")


def open_run(
    settings: Settings, execution_id: str, flags: TraceFlags, *, fall_back: bool
) -> tuple[str, MetricDB, TraceSource | None]:
    """What every command about one run needs: its normalised id, the db, a trace source."""
    from dqx.common import normalize_execution_id

    with dqx_errors():
        execution_id = normalize_execution_id(execution_id)
    db = open_db(settings, must_exist=True)
    return execution_id, db, trace_source(settings, flags, fall_back=fall_back)


def source_name(source: TraceSource) -> str:
    """Where a source reads: a service's URL, or the files a file source found."""
    base_url = getattr(source, "base_url", None)
    if base_url:
        return str(base_url)
    files = getattr(source, "files", None)
    try:
        return ", ".join(str(path) for path in files()) if callable(files) else repr(source)
    except DQXError:
        return repr(source)


def link_options(settings: Settings) -> dict[str, Any]:
    """Where a run's trace links point (``trace_url``'s keywords), from the settings."""
    return {
        "jaeger": settings.get("jaeger_url"),
        "grafana": settings.get("grafana_url"),
        "tempo_uid": settings.get("tempo_uid") or "tempo",
    }


def trace_links(
    settings: Settings,
    execution_id: str,
    started: dt.datetime | None = None,
    finished: dt.datetime | None = None,
) -> TraceLinks:
    """The run's trace links; its ``started`` and ``finished`` narrow Grafana's range
    to the run's own time, so a link to an old run still finds its trace."""
    from dqx.links import trace_url

    return trace_url(execution_id, **link_options(settings), started=started, finished=finished)


def reading_flags() -> str:
    """``--trace-file, --jaeger or --tempo``: the flags that name a trace source."""
    return either([kind.flag for kind in TRACE_SOURCES])


# -- the run's own trace ------------------------------------------------------------------


def meter_provider(provider: SDKTracerProvider | None) -> MeterProvider | None:
    """The meter provider :func:`tracer_provider` built beside ``provider``, if any."""
    if provider is None:
        return None
    from dqx import telemetry

    return telemetry.meter_provider(provider)


EXPORT_FAILED_NOTE = "export FAILED, see below"


def check_trace_file(settings: Settings) -> None:
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
        usage(
            f"cannot write the trace file {trace_file} (from {settings.origin['trace_file']}): "
            f"{exc}; pass a writable --trace-file"
        )


def tracer_provider(settings: Settings) -> tuple[SDKTracerProvider | None, str]:
    """The provider a run exports through, and a note saying where its trace goes.

    Over OTLP it also owns a meter provider (:func:`meter_provider`) sending the run's
    metrics to the same collector; its ``shutdown()`` flushes both."""
    from dqx import telemetry

    rank = {"flag": 0}
    trace_file, endpoint = settings.get("trace_file"), settings.get("otlp_endpoint")

    def weight(key: str) -> int:
        origin = settings.origin[key]
        return rank.get(origin, 1 if origin.startswith("env") else 2)

    traces_exporter = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    otlp_from_env = bool(os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
    with dqx_errors():
        if trace_file and (not endpoint or weight("trace_file") <= weight("otlp_endpoint")):
            provider = telemetry.configure(
                service_name="dqx", exporter="file", path=trace_file, set_global=False
            )
            return provider, f"written to {trace_file}"
        if endpoint or otlp_from_env or traces_exporter == "otlp":
            # An endpoint from the environment is left to the exporter, which also
            # reads the per-signal variables and adds /v1/traces as the spec says.
            explicit = None if settings.origin["otlp_endpoint"].startswith("env") else endpoint
            # The collector takes the run's metrics too; a trace file stays traces only.
            provider = telemetry.configure(
                service_name="dqx",
                exporter="otlp",
                endpoint=explicit,
                set_global=False,
                metrics=True,
            )
            return provider, f"exported over OTLP to {endpoint or 'the OTEL_* endpoint'}"
        if traces_exporter == "console":
            return telemetry.configure(exporter="console", set_global=False), "printed"
    return None, "not recorded: pass --trace-file or --otlp-endpoint to keep the trace"
