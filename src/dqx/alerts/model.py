"""What an alert says: a run's failed assertions, each with its runbook, and the trace links.

:func:`build_alert` makes an :class:`Alert` from a run's records (a finished suite's own
result, or what the metric database holds, through :func:`alert_for_run`); how it is
written out is :mod:`dqx.alerts.rendering`'s job, how it is sent
:mod:`dqx.alerts.delivery`'s.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from dqx.common import SEVERITIES, DQXError, normalize_execution_id, validate_severity
from dqx.links import RUNBOOK_BASE_ENV, RUNBOOK_DIR, TraceLinks, clickable, trace_url
from dqx.records import is_problem, severity_at_or_above

if TYPE_CHECKING:
    from dqx.orm.repositories import MetricDB
    from dqx.records import AssertionRecord, RunRecord

__all__ = [
    "RUNBOOKS",
    "Alert",
    "Failure",
    "alert_for_run",
    "build_alert",
    "runbook_url",
]

#: Failure class -> runbook file under docs/runbooks/.
RUNBOOKS: Mapping[str, str] = MappingProxyType(
    {
        "assertion-failed": "assertion-failed.md",
        "metric-error": "metric-error.md",
        "reconciliation-mismatch": "reconciliation-mismatch.md",
        "trace-missing": "trace-missing.md",
        "run-interrupted": "run-interrupted.md",
    }
)
_ALERTNAMES: Mapping[str, str] = MappingProxyType(
    {
        "assertion-failed": "DQXAssertionFailed",
        "metric-error": "DQXMetricError",
        "reconciliation-mismatch": "DQXMetricsNotPersisted",
    }
)


def runbook_url(failure_class: str, base: str | None = None) -> str:
    """The runbook for a failure class, under ``base`` (else the repository path)."""
    try:
        name = RUNBOOKS[failure_class]
    except KeyError:
        raise DQXError(
            f"unknown failure class {failure_class!r}; known: {', '.join(RUNBOOKS)}"
        ) from None
    return f"{base.rstrip('/')}/{name}" if base else f"{RUNBOOK_DIR}/{name}"


@dataclass(frozen=True)
class Failure:
    """One failed or errored assertion of a run (or the run's own failure to persist)."""

    failure_class: str
    check: str
    assertion: str
    severity: str
    status: str
    value: float | None
    bound: str
    expression: str
    message: str
    runbook_url: str

    @property
    def runbook_link(self) -> str | None:
        """The runbook's URL when it can be opened from a message, else ``None``."""
        return self.runbook_url if clickable(self.runbook_url) else None

    @property
    def runbook_text(self) -> str:
        """The runbook named as plain text, for receivers that cannot open a path."""
        return f"{self.runbook_url} in the dqx repository (set {RUNBOOK_BASE_ENV} to link it)"

    @property
    def alertname(self) -> str:
        return _ALERTNAMES.get(self.failure_class, "DQXAlert")

    @property
    def value_text(self) -> str:
        # repr is the shortest text that reads back as the same float: nothing rounded.
        return "-" if self.value is None else repr(self.value)

    @property
    def summary(self) -> str:
        if self.failure_class == "reconciliation-mismatch":
            return self.message
        verb = "failed" if self.status == "FAILURE" else "could not be evaluated"
        return f"{self.check} / {self.assertion} {verb}"

    @property
    def detail(self) -> str:
        if self.status == "ERROR" or self.failure_class == "reconciliation-mismatch":
            return self.message
        return f"value {self.value_text}, expected {self.bound} ({self.expression})"


@dataclass(frozen=True)
class Alert:
    """Everything an alert says about one run."""

    suite: str
    yyyy_mm_dd: dt.date
    tags: dict[str, str]
    execution_id: str
    run_status: str
    started: dt.datetime
    finished: dt.datetime | None
    links: TraceLinks
    failures: tuple[Failure, ...] = ()
    trace_sampled: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return (
            f"dqx: {len(self.failures)} problem(s) in suite {self.suite!r} "
            f"for {self.yyyy_mm_dd.isoformat()}"
        )

    @property
    def trace_note(self) -> str | None:
        """Why there is no trace link: the run recorded no trace, or no back-end is set."""
        if self.trace_sampled is False:
            return (
                "no trace was recorded for this run (sampled out or untraced); "
                f"`dqx metrics {self.execution_id}` shows what it measured"
            )
        if self.trace_sampled and self.trace_link is None:
            # On-call still needs the way to the trace when no Jaeger or Grafana is set.
            return (
                f"trace id {self.execution_id} (the execution id); set DQX_JAEGER_URL or "
                "DQX_GRAFANA_URL to link it"
            )
        return None

    @property
    def judged_nothing(self) -> bool:
        """An interrupted, still running or broken run: no failures is not good news."""
        return self.run_status in ("running", "interrupted", "error")

    @property
    def trace_link(self) -> str | None:
        return self.links.jaeger or self.links.grafana

    @property
    def reported_at(self) -> str:
        """When the run's outcome was known (its end, else its start), in RFC 3339."""
        return _rfc3339(self.finished or self.started)

    def as_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "yyyy_mm_dd": self.yyyy_mm_dd.isoformat(),
            "tags": dict(self.tags),
            "execution_id": self.execution_id,
            "run_status": self.run_status,
            "trace_sampled": self.trace_sampled,
            "started": _rfc3339(self.started),
            "finished": _rfc3339(self.finished) if self.finished else None,
            "links": self.links.as_dict(),
            "counts": dict(self.counts),
            "failures": [
                {
                    "class": f.failure_class,
                    "check": f.check,
                    "assertion": f.assertion,
                    "severity": f.severity,
                    "status": f.status,
                    "value": f.value,
                    "bound": f.bound,
                    "expression": f.expression,
                    "message": f.message,
                    "runbook_url": f.runbook_url,
                }
                for f in self.failures
            ],
        }


def _rfc3339(moment: dt.datetime) -> str:
    # dq_run stores naive UTC; Alertmanager wants an explicit offset.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def build_alert(
    run: RunRecord,
    assertions: Sequence[AssertionRecord],
    *,
    min_severity: str = "P3",
    jaeger: str | None = None,
    grafana: str | None = None,
    tempo_uid: str = "tempo",
    runbook_base_url: str | None = None,
) -> Alert:
    """An alert for every assertion of ``run`` that failed or errored at ``min_severity``
    or above (a SKIPPED one never pages).

    A run whose metrics could not be persisted gets one more entry pointing at the
    reconciliation runbook, at P0: its database record is incomplete until recovered.
    """
    validate_severity(min_severity, where="min_severity")
    failures = [
        _assertion_failure(record, runbook_base_url)
        for record in assertions
        if is_problem(record.status) and severity_at_or_above(record.severity, min_severity)
    ]
    if run.status == "persist_failed":
        failures.append(_persist_failure(run.execution_id, runbook_base_url))
    failures.sort(key=_urgency)
    # A run that was sampled out or untraced has no trace to open: links to it
    # would send the on-call person to an empty search.
    links = (
        TraceLinks(run.execution_id)
        if run.trace_sampled is False
        else trace_url(
            run.execution_id,
            jaeger=jaeger,
            grafana=grafana,
            tempo_uid=tempo_uid,
            started=run.started,
            finished=run.finished,
        )
    )
    return Alert(
        suite=run.suite,
        yyyy_mm_dd=run.yyyy_mm_dd,
        tags=dict(run.tags),
        execution_id=run.execution_id,
        run_status=run.status,
        started=run.started,
        finished=run.finished,
        links=links,
        failures=tuple(failures),
        trace_sampled=run.trace_sampled,
        counts=run.counts,
    )


def _assertion_failure(record: AssertionRecord, runbook_base_url: str | None) -> Failure:
    failure_class = "assertion-failed" if record.status == "FAILURE" else "metric-error"
    return Failure(
        failure_class=failure_class,
        check=record.check,
        assertion=record.assertion,
        severity=record.severity,
        status=record.status,
        value=record.value,
        bound=record.bound,
        expression=record.expression,
        message=record.message or "",
        runbook_url=runbook_url(failure_class, runbook_base_url),
    )


def _persist_failure(execution_id: str, runbook_base_url: str | None) -> Failure:
    return Failure(
        failure_class="reconciliation-mismatch",
        check="(run)",
        assertion="metrics persisted",
        severity="P0",
        status="ERROR",
        value=None,
        bound="",
        expression="",
        message=(
            f"the run's metrics were not written to the metric database; recover "
            f"them from the trace with `dqx reconcile {execution_id} --recover`"
        ),
        runbook_url=runbook_url("reconciliation-mismatch", runbook_base_url),
    )


def _urgency(failure: Failure) -> int:
    # Most urgent first; a severity from a foreign record goes last.
    return SEVERITIES.index(failure.severity) if failure.severity in SEVERITIES else len(SEVERITIES)


def alert_for_run(
    db: MetricDB,
    execution_id: str,
    *,
    min_severity: str = "P3",
    jaeger: str | None = None,
    grafana: str | None = None,
    tempo_uid: str = "tempo",
    runbook_base_url: str | None = None,
) -> Alert:
    """Read run ``execution_id`` from ``db`` and build its alert."""
    execution_id = normalize_execution_id(execution_id)
    run = db.run(execution_id)
    if run is None:
        raise DQXError(f"no run {execution_id} in metric database {db.url}")
    return build_alert(
        run,
        db.assertions(execution_id),
        min_severity=min_severity,
        jaeger=jaeger,
        grafana=grafana,
        tempo_uid=tempo_uid,
        runbook_base_url=runbook_base_url,
    )
