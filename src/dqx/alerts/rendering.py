"""An alert written out for its receiver: Alertmanager's API, Slack's Block Kit, Markdown.

Each function takes an :class:`~dqx.alerts.model.Alert` and returns a document; which
receiver takes which is the sink table's business (:mod:`dqx.alerts.sinks`). The model
is imported for type checking only, so the CLI can list the sinks without loading the
records behind an alert.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from dqx.links import RUNBOOK_BASE_ENV

if TYPE_CHECKING:
    from dqx.alerts.model import Alert, Failure

__all__ = ["to_alertmanager", "to_markdown", "to_slack"]

# Slack allows 50 blocks a message; the frame (header, facts, divider, buttons,
# overflow note) takes at most 6 of them.
_SLACK_MAX_FAILURES = 40
_LABEL_NAME = re.compile(r"[^A-Za-z0-9_]")


# -- Alertmanager -----------------------------------------------------------------------


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
        item: dict[str, Any] = {
            "labels": _alertmanager_labels(alert, failure),
            "annotations": _alertmanager_annotations(alert, failure),
            "startsAt": alert.reported_at,
        }
        if alert.trace_link:
            item["generatorURL"] = alert.trace_link
        alerts.append(item)
    return alerts


def _alertmanager_labels(alert: Alert, failure: Failure) -> dict[str, str]:
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
    return labels


def _alertmanager_annotations(alert: Alert, failure: Failure) -> dict[str, str]:
    annotations = {
        "summary": f"{failure.summary} (suite {alert.suite}, {alert.yyyy_mm_dd})",
        "description": failure.detail,
        # Alertmanager's receivers render runbook_url as a link: only a real one goes there.
        "runbook_url": failure.runbook_link or "",
        "runbook": "" if failure.runbook_link else failure.runbook_text,
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
    return {key: value for key, value in annotations.items() if value}


# -- Slack ------------------------------------------------------------------------------


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_slack(alert: Alert) -> dict[str, Any]:
    """A Slack message: ``text`` for notifications and Block Kit ``blocks``."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(alert.title, 150)}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": _clip(fact, 2000)} for fact in _facts(alert)],
        },
        {"type": "divider"},
    ]
    blocks.extend(_failure_section(failure) for failure in alert.failures[:_SLACK_MAX_FAILURES])
    if alert.trace_note:
        blocks.append(_slack_context(_slack_escape(alert.trace_note)))
    hidden = len(alert.failures) - _SLACK_MAX_FAILURES
    if hidden > 0:
        blocks.append(_slack_context(f"and {hidden} more: `dqx alert {alert.execution_id}`"))
    buttons = _trace_buttons(alert)
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {"text": alert.title, "blocks": blocks}


def _facts(alert: Alert) -> list[str]:
    facts = [
        f"*Suite*\n{_slack_escape(alert.suite)}",
        f"*Date*\n{alert.yyyy_mm_dd.isoformat()}",
        f"*Execution id*\n`{alert.execution_id}`",
        f"*Run status*\n{_slack_escape(alert.run_status)}",
    ]
    if alert.tags:
        tags = ", ".join(f"{k}={v}" for k, v in sorted(alert.tags.items()))
        facts.append(f"*Tags*\n{_slack_escape(tags)}")
    return facts


def _failure_section(failure: Failure) -> dict[str, Any]:
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
    if failure.runbook_link:
        lines.append(f"<{failure.runbook_link}|Runbook: {failure.failure_class}>")
    else:
        lines.append(
            f"Runbook: {failure.failure_class}, `{_slack_escape(failure.runbook_url)}` "
            f"in the dqx repository (set {RUNBOOK_BASE_ENV} to link it)"
        )
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}}


def _slack_context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _trace_buttons(alert: Alert) -> list[dict[str, Any]]:
    buttons = []
    if alert.links.jaeger:
        buttons.append(("Trace in Jaeger", alert.links.jaeger, "jaeger"))
    if alert.links.grafana:
        buttons.append(("Trace in Grafana", alert.links.grafana, "grafana"))
    return [
        {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "url": url,
            "action_id": f"dqx_open_{name}",
        }
        for label, url, name in buttons
    ]


# -- Markdown ---------------------------------------------------------------------------


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
        lines.append(_no_failures(alert))
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
            f"[{f.failure_class}]({f.runbook_link})" if f.runbook_link else f"`{f.runbook_url}`",
        ]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    if not all(f.runbook_link for f in alert.failures):
        lines.append("")
        lines.append(
            f"Runbook paths are in the dqx repository: set {RUNBOOK_BASE_ENV} to where "
            "the runbooks are published to link them."
        )
    return "\n".join(lines) + "\n"


def _no_failures(alert: Alert) -> str:
    if alert.judged_nothing:
        return (
            f"No assertion results: the run is {alert.run_status} and judged nothing "
            "(`dqx runs` gives its message; docs/runbooks/run-interrupted.md)."
        )
    return "No failed assertions."
