"""Alerts for a run's failed assertions, linking each to the run's trace and a runbook.

:func:`alert_for_run` reads a run back from the metric database and builds an
:class:`Alert`; :func:`to_alertmanager`, :func:`to_slack` and :func:`to_markdown`
render it; :func:`post_webhook` delivers a rendering with retries and a timeout.
:class:`AlertPlugin` does all of it after each run of a suite it is given to.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from dqx.common import (
    SEVERITIES,
    DefinitionError,
    DQXError,
    normalize_execution_id,
    validate_severity,
)
from dqx.records import AssertionRecord, RunRecord, SuiteResult
from dqx.telemetry import TraceLinks, trace_url

if TYPE_CHECKING:
    import httpx

    from dqx.orm.repositories import MetricDB

__all__ = [
    "RUNBOOKS",
    "SINKS",
    "Alert",
    "AlertDeliveryError",
    "AlertFormat",
    "AlertPlugin",
    "AlertSink",
    "Failure",
    "alert_for_run",
    "build_alert",
    "post_webhook",
    "render",
    "runbook_url",
    "to_alertmanager",
    "to_markdown",
    "to_slack",
    "webhook_body",
]

log = logging.getLogger(__name__)

AlertFormat = Literal["alertmanager", "slack", "markdown"]
AlertSink = Literal["alertmanager", "slack", "webhook"]
#: Where an alert can be posted, and the body each kind of receiver takes.
SINKS: dict[AlertSink, AlertFormat] = {
    "alertmanager": "alertmanager",
    "slack": "slack",
    # A generic chat webhook: {"text": <Markdown>}, which Slack and Mattermost accept.
    "webhook": "markdown",
}

#: Failure class -> runbook file under docs/runbooks/.
RUNBOOKS: dict[str, str] = {
    "assertion-failed": "assertion-failed.md",
    "metric-error": "metric-error.md",
    "reconciliation-mismatch": "reconciliation-mismatch.md",
    "trace-missing": "trace-missing.md",
}
_ALERTNAMES = {
    "assertion-failed": "DQXAssertionFailed",
    "metric-error": "DQXMetricError",
    "reconciliation-mismatch": "DQXMetricsNotPersisted",
}
_RUNBOOK_DIR = "docs/runbooks"
# Slack allows 50 blocks a message; the frame (header, facts, divider, buttons,
# overflow note) takes at most 6 of them.
_SLACK_MAX_FAILURES = 40
_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


class AlertDeliveryError(DQXError):
    """A webhook did not accept an alert; carries the URL and the last HTTP status."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


def runbook_url(failure_class: str, base: str | None = None) -> str:
    """The runbook for a failure class, under ``base`` (else the repository path)."""
    try:
        name = RUNBOOKS[failure_class]
    except KeyError:
        raise DQXError(
            f"unknown failure class {failure_class!r}; known: {', '.join(RUNBOOKS)}"
        ) from None
    return f"{base.rstrip('/')}/{name}" if base else f"{_RUNBOOK_DIR}/{name}"


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
        """Why there is no trace link, when the run recorded no trace."""
        if self.trace_sampled is False:
            return (
                "no trace was recorded for this run (sampled out or untraced); "
                f"`dqx metrics {self.execution_id}` shows what it measured"
            )
        return None

    @property
    def trace_link(self) -> str | None:
        return self.links.jaeger or self.links.grafana

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
    """An alert for every assertion of ``run`` not OK at ``min_severity`` or above.

    A run whose metrics could not be persisted gets one more entry pointing at the
    reconciliation runbook, at P0: its database record is incomplete until recovered.
    """
    limit = SEVERITIES.index(validate_severity(min_severity, where="min_severity"))
    failures: list[Failure] = []
    for record in assertions:
        if record.status == "OK":
            continue
        if record.severity in SEVERITIES and SEVERITIES.index(record.severity) > limit:
            continue
        failure_class = "assertion-failed" if record.status == "FAILURE" else "metric-error"
        failures.append(
            Failure(
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
        )
    if run.status == "persist_failed":
        failures.append(
            Failure(
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
                    f"them from the trace with `dqx reconcile {run.execution_id} --recover`"
                ),
                runbook_url=runbook_url("reconciliation-mismatch", runbook_base_url),
            )
        )
    failures.sort(key=lambda f: SEVERITIES.index(f.severity) if f.severity in SEVERITIES else 9)
    return Alert(
        suite=run.suite,
        yyyy_mm_dd=run.yyyy_mm_dd,
        tags=dict(run.tags),
        execution_id=run.execution_id,
        run_status=run.status,
        started=run.started,
        finished=run.finished,
        # A run that was sampled out or untraced has no trace to open: links to it
        # would send the on-call person to an empty search.
        links=(
            TraceLinks(run.execution_id)
            if run.trace_sampled is False
            else trace_url(run.execution_id, jaeger=jaeger, grafana=grafana, tempo_uid=tempo_uid)
        ),
        failures=tuple(failures),
        trace_sampled=run.trace_sampled,
        counts={
            "OK": run.assertions_ok,
            "FAILURE": run.assertions_failed,
            "ERROR": run.assertions_error,
        },
    )


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


# -- renderings -----------------------------------------------------------------------


def _label_name(key: str) -> str:
    # Alertmanager label names match [a-zA-Z_][a-zA-Z0-9_]*.
    name = _LABEL_NAME.sub("_", key)
    return name if not name[:1].isdigit() else f"_{name}"


def to_alertmanager(alert: Alert) -> list[dict[str, Any]]:
    """Alertmanager API v2 ``postableAlerts``: one alert per failure.

    Labels identify the alert (the execution id is one, so every run alerts on its
    own); annotations carry the text and links.
    """
    alerts: list[dict[str, Any]] = []
    for failure in alert.failures:
        labels = {
            "alertname": failure.alertname,
            "severity": failure.severity,
            "status": failure.status,
            "suite": alert.suite,
            "check": failure.check,
            "assertion": failure.assertion,
            "execution_id": alert.execution_id,
            "yyyy_mm_dd": alert.yyyy_mm_dd.isoformat(),
        }
        for key, value in sorted(alert.tags.items()):
            labels.setdefault(f"tag_{_label_name(key)}", value)
        annotations = {
            "summary": f"{failure.summary} (suite {alert.suite}, {alert.yyyy_mm_dd})",
            "description": failure.detail,
            "runbook_url": failure.runbook_url,
            "value": failure.value_text,
            "bound": failure.bound,
            "expression": failure.expression,
        }
        if alert.trace_link:
            annotations["trace_url"] = alert.trace_link
        if alert.trace_note:
            annotations["trace_note"] = alert.trace_note
        if alert.links.jaeger:
            annotations["jaeger_url"] = alert.links.jaeger
        if alert.links.grafana:
            annotations["grafana_url"] = alert.links.grafana
        item: dict[str, Any] = {
            "labels": labels,
            "annotations": {k: v for k, v in annotations.items() if v},
            "startsAt": _rfc3339(alert.finished or alert.started),
        }
        if alert.trace_link:
            item["generatorURL"] = alert.trace_link
        alerts.append(item)
    return alerts


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_slack(alert: Alert) -> dict[str, Any]:
    """A Slack message: ``text`` for notifications and Block Kit ``blocks``."""
    facts = [
        f"*Suite*\n{_slack_escape(alert.suite)}",
        f"*Date*\n{alert.yyyy_mm_dd.isoformat()}",
        f"*Execution id*\n`{alert.execution_id}`",
        f"*Run status*\n{_slack_escape(alert.run_status)}",
    ]
    if alert.tags:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(alert.tags.items()))
        facts.append(f"*Tags*\n{_slack_escape(tags)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(alert.title, 150)}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _clip(fact, 2000)} for fact in facts],
        },
        {"type": "divider"},
    ]
    for failure in alert.failures[:_SLACK_MAX_FAILURES]:
        lines = [
            f"*[{failure.severity}] {failure.status}*  "
            f"{_slack_escape(failure.check)} / {_slack_escape(failure.assertion)}",
        ]
        if failure.status == "FAILURE":
            lines.append(f"value `{failure.value_text}`, expected `{_slack_escape(failure.bound)}`")
        if failure.expression:
            lines.append(f"`{_slack_escape(failure.expression)}`")
        if failure.message:
            lines.append(_slack_escape(failure.message))
        lines.append(f"<{failure.runbook_url}|Runbook: {failure.failure_class}>")
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}}
        )
    if alert.trace_note:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _slack_escape(alert.trace_note)}],
            }
        )
    hidden = len(alert.failures) - _SLACK_MAX_FAILURES
    if hidden > 0:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"and {hidden} more: `dqx alert {alert.execution_id}`",
                    }
                ],
            }
        )
    buttons = []
    if alert.links.jaeger:
        buttons.append(("Trace in Jaeger", alert.links.jaeger, "jaeger"))
    if alert.links.grafana:
        buttons.append(("Trace in Grafana", alert.links.grafana, "grafana"))
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": label},
                        "url": url,
                        "action_id": f"dqx_open_{name}",
                    }
                    for label, url, name in buttons
                ],
            }
        )
    return {"text": alert.title, "blocks": blocks}


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(alert: Alert) -> str:
    """A Markdown report: the run, a table of its failures, and the links."""
    lines = [f"## {alert.title}", ""]
    lines.append(f"- execution id: `{alert.execution_id}`")
    lines.append(f"- run status: {alert.run_status}")
    if alert.tags:
        tags = ", ".join(f"`{k}={v}`" for k, v in sorted(alert.tags.items()))
        lines.append(f"- tags: {tags}")
    if alert.links.jaeger:
        lines.append(f"- trace in Jaeger: {alert.links.jaeger}")
    if alert.links.grafana:
        lines.append(f"- trace in Grafana: [Explore]({alert.links.grafana})")
    if alert.trace_note:
        lines.append(f"- trace: {alert.trace_note}")
    lines.append("")
    if not alert.failures:
        lines.append("No failed assertions.")
        return "\n".join(lines) + "\n"
    lines.append("| severity | status | check | assertion | value | bound | detail | runbook |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for f in alert.failures:
        detail = f.message if f.status == "ERROR" else f.expression
        cells = [
            f.severity,
            f.status,
            f.check,
            f.assertion,
            f.value_text,
            f.bound,
            detail,
            f"[{f.failure_class}]({f.runbook_url})",
        ]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def render(alert: Alert, fmt: AlertFormat) -> str:
    """The alert as text: JSON for ``alertmanager`` and ``slack``, else Markdown."""
    match fmt:
        case "alertmanager":
            return json.dumps(to_alertmanager(alert), indent=2, ensure_ascii=False)
        case "slack":
            return json.dumps(to_slack(alert), indent=2, ensure_ascii=False)
        case "markdown":
            return to_markdown(alert)
        case _:
            raise DQXError(f"unknown alert format {fmt!r}; use alertmanager, slack or markdown")


def webhook_body(alert: Alert, fmt: AlertFormat) -> Any:
    """What a webhook of that kind expects as its JSON body."""
    match fmt:
        case "alertmanager":
            return to_alertmanager(alert)
        case "slack":
            return to_slack(alert)
        case "markdown":
            # The {"text": ...} shape most chat webhooks (Slack, Mattermost) accept.
            return {"text": to_markdown(alert)}
        case _:
            raise DQXError(f"unknown alert format {fmt!r}; use alertmanager, slack or markdown")


# -- delivery -------------------------------------------------------------------------


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def post_webhook(
    url: str,
    body: Any,
    *,
    timeout: float = 10.0,
    attempts: int = 4,
    backoff: float = 0.5,
    headers: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> int:
    """POST ``body`` as JSON to ``url``; returns the accepting response's status.

    Connection errors, timeouts, 429 and 5xx are retried up to ``attempts`` times in
    all, waiting ``backoff``, then twice that, and so on. Any other 4xx fails at once:
    sending the same payload again cannot help. Raises :class:`AlertDeliveryError`.
    """
    import httpx

    if attempts < 1:
        raise DQXError(f"attempts must be at least 1, got {attempts}")
    owned = client is None
    session = client if client is not None else httpx.Client(timeout=timeout)
    last_status: int | None = None
    last_problem = ""
    try:
        for attempt in range(1, attempts + 1):
            try:
                response = session.post(url, json=body, headers=dict(headers or {}))
            except httpx.TransportError as exc:
                last_status, last_problem = None, f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return response.status_code
                last_status = response.status_code
                last_problem = f"HTTP {response.status_code}: {_clip(response.text, 200)}"
                if not _retryable(response.status_code):
                    break
            if attempt < attempts:
                delay = backoff * 2 ** (attempt - 1)
                log.warning(
                    "webhook %s attempt %d/%d failed (%s); retrying in %.1fs",
                    url,
                    attempt,
                    attempts,
                    last_problem,
                    delay,
                )
                time.sleep(delay)
    finally:
        if owned:
            session.close()
    raise AlertDeliveryError(
        f"webhook {url} did not accept the alert: {last_problem}", url=url, status=last_status
    )


# -- as a plugin ----------------------------------------------------------------------


def check_webhook_url(url: object, *, what: str = "webhook URL") -> str:
    """``url`` when it is an absolute http(s) URL; a DefinitionError saying so otherwise."""
    import httpx

    if not isinstance(url, str) or not url.strip():
        raise DefinitionError(f"the {what} is empty; pass an http:// or https:// URL")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        raise DefinitionError(f"the {what} {url!r} is not a URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DefinitionError(f"the {what} {url!r} is not an absolute http:// or https:// URL")
    return url.strip()


@dataclass(frozen=True)
class AlertPlugin:
    """Posts a run's alert to ``url`` after each run with failures at ``min_severity``
    or above; a run with none posts nothing.

    ``sink`` says what listens at ``url``: ``"alertmanager"`` (its /api/v2/alerts),
    ``"slack"`` (an incoming webhook, Block Kit) or ``"webhook"`` (any JSON webhook
    taking ``{"text": markdown}``). The alert is built from the run's own result,
    so it goes out even when the metric database could not be written. Delivery
    errors raise :class:`AlertDeliveryError`, which the suite logs: the run's
    results and status never depend on an alert.
    """

    sink: AlertSink
    url: str
    min_severity: str = "P1"
    jaeger: str | None = None
    grafana: str | None = None
    tempo_uid: str = "tempo"
    runbook_base_url: str | None = None
    timeout: float = 10.0
    attempts: int = 4
    client: httpx.Client | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sink not in SINKS:
            raise DefinitionError(
                f"unknown alert sink {self.sink!r}; use one of {', '.join(SINKS)}"
            )
        object.__setattr__(self, "url", check_webhook_url(self.url, what=f"{self.sink} URL"))
        validate_severity(self.min_severity, where=f"the {self.sink} alert's min_severity")
        if self.attempts < 1:
            raise DefinitionError(f"attempts must be at least 1, got {self.attempts}")

    @property
    def name(self) -> str:
        return f"alert:{self.sink}"

    def alert(self, result: SuiteResult) -> Alert:
        """The alert this plugin would post for ``result``."""
        return build_alert(
            result.run_record(),
            result.assertion_records(),
            min_severity=self.min_severity,
            jaeger=self.jaeger,
            grafana=self.grafana,
            tempo_uid=self.tempo_uid,
            runbook_base_url=self.runbook_base_url,
        )

    def after_run(self, result: SuiteResult) -> None:
        alert = self.alert(result)
        if not alert.failures:
            return
        post_webhook(
            self.url,
            webhook_body(alert, SINKS[self.sink]),
            timeout=self.timeout,
            attempts=self.attempts,
            client=self.client,
        )
        log.info(
            "posted %d failure(s) of run %s to %s",
            len(alert.failures),
            result.execution_id,
            self.sink,
        )
