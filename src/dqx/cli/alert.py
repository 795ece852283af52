"""``dqx alert ID``: a run's failures rendered for a sink, printed or posted."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dqx.alerts.sinks import FORMATS, SINKS
from dqx.cli.errors import bad_news, dqx_errors
from dqx.cli.options import db_option
from dqx.cli.output import say, stderr
from dqx.cli.wiring import link_options, load, open_db
from dqx.common import SEVERITIES

if TYPE_CHECKING:
    from dqx.alerts.model import Alert
    from dqx.config import Settings

__all__ = ["alert_command"]

_DESCRIPTIONS = [sink.description for sink in SINKS.values()]
_FORMAT_HELP = f"{', '.join(_DESCRIPTIONS[:-1])}, or {_DESCRIPTIONS[-1]}."


@click.command("alert")
@click.argument("execution_id")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    # Markdown reads well in a terminal, where an alert without --webhook ends up.
    default="markdown",
    show_default=True,
    help=_FORMAT_HELP,
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
    from dqx.alerts.delivery import post_webhook
    from dqx.alerts.sinks import render, webhook_body

    settings = load(
        db_url=db_url,
        webhook_url=webhook,
        jaeger_url=jaeger_url,
        grafana_url=grafana_url,
        runbook_base_url=runbook_base_url,
    )
    url = _webhook_url(settings)
    alert = _read_alert(settings, execution_id, min_severity)
    err = stderr()
    if url is None:
        click.echo(render(alert, fmt).rstrip("\n"))
        return
    if not alert.failures:
        judged = not alert.judged_nothing
        why = "has no failures" if judged else f"is {alert.run_status} and judged nothing"
        err.print(f"run {alert.execution_id} {why}: nothing posted", highlight=False)
        return
    with dqx_errors():
        status = post_webhook(url, webhook_body(alert, fmt), timeout=timeout, attempts=attempts)
    say(
        err,
        f"posted {len(alert.failures)} failure(s) of run {alert.execution_id} to {url} "
        f"(HTTP {status})",
    )


def _webhook_url(settings: Settings) -> str | None:
    """The webhook to post to, or None to print; a URL that cannot be one is a usage error.

    ``--webhook "$SLACK_WEBHOOK_URL"`` with the variable unset passes "": checked here,
    before the database is read, instead of retried as if the network had failed.
    """
    from dqx.alerts.delivery import check_webhook_url

    url = settings.get("webhook_url")
    if url is None:
        return None
    origin = settings.origin["webhook_url"]
    what = "--webhook URL" if origin == "flag" else f"webhook_url (from {origin})"
    with dqx_errors():
        return check_webhook_url(url, what=what)


def _read_alert(settings: Settings, execution_id: str, min_severity: str) -> Alert:
    from dqx.alerts.model import alert_for_run
    from dqx.common import normalize_execution_id

    db = open_db(settings, must_exist=True)
    with dqx_errors():
        execution_id = normalize_execution_id(execution_id)
        if db.run(execution_id) is None:
            bad_news(f"no run {execution_id} in {db.url}")
        return alert_for_run(
            db,
            execution_id,
            min_severity=min_severity,
            **link_options(settings),
            runbook_base_url=settings.get("runbook_base_url"),
        )
