"""A checks file run as ``dqx run`` does it, for an orchestrator's task.

The orchestrator hooks (:mod:`dqx.integrations.airflow`, :mod:`dqx.integrations.dagster`)
run the command line in a child process, with ``--format json``, rather than the
suite in the worker: the run is exactly what ``dqx run`` makes of the same flags and
settings (``DQX_*``, ``dqx.toml``), its signal handling and trace flush stay in a
process of their own, and a worker's threads never meet DuckDB's. The caller's span
reaches the run as ``TRACEPARENT``: the current OpenTelemetry span when there is one
(an orchestrator with tracing on), else whatever ``TRACEPARENT`` the worker was given.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dqx.common import DefinitionError, DQXError, validate_severity
from dqx.records import severity_at_or_above

__all__ = ["SuiteFileRun", "run_suite_file", "traceparent_env"]

#: ``dqx run``'s exit codes that still mean "the run finished and was judged".
_JUDGED = (0, 1)
#: The statuses that fail a run at their severity (one not performed fails nothing).
_NOT_PASSED = ("FAILURE", "ERROR")
#: How much of the command's stderr an error carries.
_STDERR_TAIL = 2000


@dataclass(frozen=True)
class SuiteFileRun:
    """What ``dqx run --format json`` said about one run."""

    execution_id: str
    fail_on: str
    #: The assertions at ``fail_on`` or above that did not pass, as the JSON lists them.
    failed: tuple[dict[str, Any], ...]
    results: tuple[dict[str, Any], ...]
    #: ``trace_id``, and ``jaeger`` / ``grafana`` when their addresses are configured.
    links: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def trace_url(self) -> str | None:
        """Where to open the run's trace: Jaeger, else Grafana Explore, else None."""
        return self.links.get("jaeger") or self.links.get("grafana")

    def failure_summary(self) -> str:
        """One line per failed assertion, for a task's error."""
        lines = [
            f"{r['severity']} {r['check']}: {r['assertion']} is {r['status']}"
            + (f" ({r['message']})" if r.get("message") else "")
            for r in self.failed
        ]
        where = f"; trace {self.trace_url}" if self.trace_url else ""
        return (
            f"dqx run {self.execution_id}: {len(self.failed)} assertion(s) at {self.fail_on} "
            f"or above did not pass{where}\n" + "\n".join(lines)
        )


def traceparent_env() -> dict[str, str]:
    """``TRACEPARENT`` (and ``TRACESTATE``) of the current span; empty without one."""
    carrier: dict[str, str] = {}
    if trace.get_current_span().get_span_context().is_valid:
        TraceContextTextMapPropagator().inject(carrier)
    return {name.upper(): value for name, value in carrier.items()}


def run_suite_file(
    checks_file: str | os.PathLike[str],
    data: Mapping[str, str],
    day: dt.date,
    *,
    fail_on: str = "P1",
    suite: str | None = None,
    tags: Mapping[str, str] | None = None,
    date_columns: Mapping[str, str] | None = None,
    db_url: str | None = None,
    trace_file: str | os.PathLike[str] | None = None,
    otlp_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> SuiteFileRun:
    """Run ``checks_file`` against ``data`` (``NAME -> LOCATION``, as ``--data`` takes
    them) for ``day``; unset options come from the environment and ``dqx.toml``, as
    for ``dqx run``. ``env`` adds to the child's environment (``DQX_JAEGER_URL``...).

    Returns the judged run, passed or not; raises :class:`DQXError` when the command
    did not judge it (a usage error, an unreachable source, a store that refused the
    metrics), with what the command said.
    """
    fail_on = validate_severity(fail_on, where="run_suite_file's fail_on")
    if not data:
        raise DefinitionError(f"{os.fspath(checks_file)}: no dataset given (data=NAME->LOCATION)")
    argv = _argv(checks_file, data, day, fail_on, suite, tags, date_columns)
    argv += _option("--db", db_url) + _option("--otlp-endpoint", otlp_endpoint)
    argv += _option("--trace-file", os.fspath(trace_file) if trace_file else None)
    environment = {**os.environ, **(env or {}), **traceparent_env()}
    try:
        completed = subprocess.run(
            argv, capture_output=True, text=True, env=environment, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DQXError(f"dqx run {os.fspath(checks_file)} took over {timeout} s") from exc
    if completed.returncode not in _JUDGED:
        raise DQXError(
            f"dqx run {os.fspath(checks_file)} exited {completed.returncode}: "
            + completed.stderr[-_STDERR_TAIL:].strip()
        )
    return _parsed(completed.stdout, fail_on, completed.stderr)


def _argv(
    checks_file: str | os.PathLike[str],
    data: Mapping[str, str],
    day: dt.date,
    fail_on: str,
    suite: str | None,
    tags: Mapping[str, str] | None,
    date_columns: Mapping[str, str] | None,
) -> list[str]:
    path = Path(checks_file)
    argv = [sys.executable, "-m", "dqx.cli", "run", str(path), "--format", "json"]
    argv += ["--date", day.isoformat(), "--fail-on", fail_on]
    argv += _pairs("--data", data) + _pairs("--tag", tags) + _pairs("--date-column", date_columns)
    return argv + _option("--suite", suite)


def _pairs(flag: str, pairs: Mapping[str, str] | None) -> list[str]:
    return [part for name, value in (pairs or {}).items() for part in (flag, f"{name}={value}")]


def _option(flag: str, value: str | None) -> list[str]:
    return [flag, value] if value else []


def _parsed(stdout: str, fail_on: str, stderr: str) -> SuiteFileRun:
    try:
        document = json.loads(stdout)
        results: Sequence[dict[str, Any]] = document["results"]
        execution_id = str(document["execution_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise DQXError(
            f"dqx run printed no result document ({exc}): {stderr[-_STDERR_TAIL:].strip()}"
        ) from exc
    failed = tuple(
        r
        for r in results
        if r["status"] in _NOT_PASSED and severity_at_or_above(r["severity"], fail_on)
    )
    return SuiteFileRun(execution_id, fail_on, failed, tuple(results), dict(document["links"]))
