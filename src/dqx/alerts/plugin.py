"""Alerts as a suite plugin: after each run, post its failures to one sink."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dqx.alerts.delivery import check_webhook_url, post_webhook
from dqx.alerts.model import Alert, build_alert
from dqx.alerts.sinks import SINKS, AlertSink
from dqx.common import DefinitionError, validate_severity
from dqx.runlog import get_logger

if TYPE_CHECKING:
    import httpx

    from dqx.records import SuiteResult

__all__ = ["AlertPlugin"]

log = get_logger(__name__)


@dataclass(frozen=True)
class AlertPlugin:
    """Posts a run's alert to ``url`` after each run with failures at ``min_severity``
    or above; a run with none posts nothing.

    ``sink`` names a row of the sink table (:data:`~dqx.alerts.sinks.SINKS`), which
    says what listens at ``url``: ``"alertmanager"`` (its /api/v2/alerts), ``"slack"``
    (an incoming webhook, Block Kit) or ``"webhook"`` (any JSON webhook taking
    ``{"text": markdown}``). The alert is built from the run's own result, so it goes
    out even when the metric database could not be written. Delivery errors raise
    :class:`~dqx.alerts.delivery.AlertDeliveryError`, which the suite logs: the run's
    results and status never depend on an alert.
    """

    sink: AlertSink
    # Left out of repr: a webhook's address is its credential.
    url: str = field(repr=False)
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
            SINKS[self.sink].payload(alert),
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
