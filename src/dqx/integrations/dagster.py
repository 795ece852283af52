"""``dqx_asset_check``: a Dagster asset check that runs a checks file.

Needs the ``dagster`` extra (``pip install '.[dagster]'`` in a dqx clone)::

    from dqx.integrations.dagster import dqx_asset_check

    orders_quality = dqx_asset_check(
        asset=orders,                      # an @asset, an AssetKey or its name
        checks_file="dq/orders_checks.py",
        data={"orders": "lake/orders/"},
        fail_on="P1",
    )
    defs = Definitions(assets=[orders], asset_checks=[orders_quality])

The run is ``dqx run`` in a child process (:mod:`dqx.integrations.suite_file`), about
the partition's date when the check runs for a daily partition (``2024-03-14``), else
``day`` (a date, or a callable returning one), else today (UTC). The check passes
unless an assertion at ``fail_on`` or above did not pass; its metadata holds the
execution id, the trace link and the failed assertions. ``severity`` is the Dagster
severity of a failed check (``ERROR`` by default: with ``blocking=True`` it stops the
assets downstream). A ``TRACEPARENT`` in the environment, or a current OpenTelemetry
span, becomes a link on the run's root span.
"""

# No ``from __future__ import annotations``: Dagster reads the check function's
# ``context`` annotation at definition time and refuses it as a string.
import datetime as dt
import os
from collections.abc import Callable, Mapping
from typing import Any

try:
    from dagster import (
        AssetCheckExecutionContext,
        AssetCheckResult,
        AssetChecksDefinition,
        AssetCheckSeverity,
        MetadataValue,
        asset_check,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "dqx.integrations.dagster needs Dagster, dqx's dagster extra: "
        "pip install '.[dagster]' in a dqx clone"
    ) from exc

from dqx.common import DefinitionError, validate_severity
from dqx.integrations.suite_file import SuiteFileRun, run_suite_file

__all__ = ["dqx_asset_check"]

Day = dt.date | Callable[[], dt.date] | None


def dqx_asset_check(
    *,
    asset: Any,
    checks_file: str | os.PathLike[str],
    data: Mapping[str, str],
    name: str = "dqx",
    fail_on: str = "P1",
    day: Day = None,
    suite: str | None = None,
    tags: Mapping[str, str] | None = None,
    date_columns: Mapping[str, str] | None = None,
    db_url: str | None = None,
    trace_file: str | os.PathLike[str] | None = None,
    otlp_endpoint: str | None = None,
    env: Mapping[str, str] | None = None,
    blocking: bool = False,
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR,
    description: str | None = None,
) -> AssetChecksDefinition:
    """An asset check named ``name`` on ``asset`` that runs ``checks_file`` against
    ``data`` (``NAME -> LOCATION``, as ``dqx run --data`` takes them)."""
    threshold = validate_severity(fail_on, where=f"dqx_asset_check {name!r}'s fail_on")
    if not data:
        raise DefinitionError(f"dqx_asset_check {name!r}: data= names no dataset")
    options: dict[str, Any] = {
        "fail_on": threshold,
        "suite": suite,
        "tags": dict(tags or {}),
        "date_columns": dict(date_columns or {}),
        "db_url": db_url,
        "trace_file": trace_file,
        "otlp_endpoint": otlp_endpoint,
        "env": dict(env or {}),
    }
    checks = os.fspath(checks_file)
    datasets = dict(data)

    @asset_check(
        asset=asset,
        name=name,
        blocking=blocking,
        description=description or f"dqx: {checks} fails at {threshold} or above",
    )
    def _dqx_check(context: AssetCheckExecutionContext) -> AssetCheckResult:
        run_day = _run_day(context, day)
        context.log.info(f"dqx: running {checks} for {run_day.isoformat()}")
        run = run_suite_file(checks, datasets, run_day, **options)
        return _result(run, severity)

    return _dqx_check


def _run_day(context: AssetCheckExecutionContext, day: Day) -> dt.date:
    if context.has_partition_key:
        key = context.partition_key
        try:
            return dt.date.fromisoformat(key[:10])
        except ValueError as exc:
            raise DefinitionError(
                f"dqx_asset_check: partition {key!r} is no date (YYYY-MM-DD); "
                "a dqx run is about one day"
            ) from exc
    if callable(day):
        return day()
    return day if day is not None else dt.datetime.now(dt.UTC).date()


def _result(run: SuiteFileRun, severity: AssetCheckSeverity) -> AssetCheckResult:
    metadata: dict[str, Any] = {
        "dqx/execution_id": run.execution_id,
        "dqx/assertions": len(run.results),
        "dqx/failed": [
            f"{r['severity']} {r['check']}: {r['assertion']} is {r['status']}" for r in run.failed
        ],
    }
    if run.trace_url:
        metadata["dqx/trace_url"] = MetadataValue.url(run.trace_url)
    return AssetCheckResult(
        passed=run.passed,
        severity=severity,
        metadata=metadata,
        description=run.failure_summary() if run.failed else f"dqx run {run.execution_id} passed",
    )
