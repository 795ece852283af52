"""Alerts for a run's failed assertions, linking each to the run's trace and a runbook.

* :mod:`dqx.alerts.model`: :class:`Alert` and :class:`Failure`, built by
  :func:`build_alert` from a run's records or by :func:`alert_for_run` from the store.
* :mod:`dqx.alerts.rendering`: :func:`to_alertmanager`, :func:`to_slack`,
  :func:`to_markdown`.
* :mod:`dqx.alerts.sinks`: the sink table (:data:`SINKS`) and :func:`render` /
  :func:`webhook_body`, which look a format up in it.
* :mod:`dqx.alerts.delivery`: :func:`post_webhook`, with retries and a timeout.
* :mod:`dqx.alerts.plugin`: :class:`AlertPlugin` does all of it after each run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dqx.alerts.delivery import AlertDeliveryError, check_webhook_url, post_webhook
    from dqx.alerts.model import (
        RUNBOOKS,
        Alert,
        Failure,
        alert_for_run,
        build_alert,
        runbook_url,
    )
    from dqx.alerts.plugin import AlertPlugin
    from dqx.alerts.rendering import to_alertmanager, to_markdown, to_slack
    from dqx.alerts.sinks import (
        FORMATS,
        SINKS,
        AlertFormat,
        AlertSink,
        Sink,
        render,
        webhook_body,
    )

__all__ = [
    "FORMATS",
    "RUNBOOKS",
    "SINKS",
    "Alert",
    "AlertDeliveryError",
    "AlertFormat",
    "AlertPlugin",
    "AlertSink",
    "Failure",
    "Sink",
    "alert_for_run",
    "build_alert",
    "check_webhook_url",
    "post_webhook",
    "render",
    "runbook_url",
    "to_alertmanager",
    "to_markdown",
    "to_slack",
    "webhook_body",
]

# The model reads stored records (and so loads the metric kinds and sqlglot); the CLI
# only needs the sink table to list its choices, so each name loads with its module.
_HOME = {
    "AlertDeliveryError": "dqx.alerts.delivery",
    "check_webhook_url": "dqx.alerts.delivery",
    "post_webhook": "dqx.alerts.delivery",
    "RUNBOOKS": "dqx.alerts.model",
    "Alert": "dqx.alerts.model",
    "Failure": "dqx.alerts.model",
    "alert_for_run": "dqx.alerts.model",
    "build_alert": "dqx.alerts.model",
    "runbook_url": "dqx.alerts.model",
    "AlertPlugin": "dqx.alerts.plugin",
    "to_alertmanager": "dqx.alerts.rendering",
    "to_markdown": "dqx.alerts.rendering",
    "to_slack": "dqx.alerts.rendering",
    "FORMATS": "dqx.alerts.sinks",
    "SINKS": "dqx.alerts.sinks",
    "AlertFormat": "dqx.alerts.sinks",
    "AlertSink": "dqx.alerts.sinks",
    "Sink": "dqx.alerts.sinks",
    "render": "dqx.alerts.sinks",
    "webhook_body": "dqx.alerts.sinks",
}


def __getattr__(name: str) -> Any:
    import importlib

    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'dqx.alerts' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
