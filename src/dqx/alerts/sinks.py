"""The sink table: every kind of receiver an alert can go to, and the body it takes.

One row per sink. ``dqx run --alert SINK=URL``, ``dqx alert --format`` and
:class:`~dqx.alerts.plugin.AlertPlugin` read their choices from it, and :func:`render`
and :func:`webhook_body` look the format up here, so a new sink is one more row.

What leaves for a receiver (:meth:`Sink.payload`, :meth:`Sink.render`) passes through
:func:`~dqx.redaction.redact`: an assertion's message may quote an engine's error, and
a chat channel is no place for a password. Links without credentials are unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias

from dqx.alerts.rendering import to_alertmanager, to_markdown, to_slack
from dqx.common import DQXError
from dqx.redaction import redact

if TYPE_CHECKING:
    from dqx.alerts.model import Alert

__all__ = ["FORMATS", "SINKS", "AlertFormat", "AlertSink", "Sink", "render", "webhook_body"]

#: A sink's name in :data:`SINKS` (``"alertmanager"``, ``"slack"``, ``"webhook"``).
AlertSink: TypeAlias = str
#: A sink's format (``"alertmanager"``, ``"slack"``, ``"markdown"``).
AlertFormat: TypeAlias = str


@dataclass(frozen=True)
class Sink:
    """A kind of receiver: what it is called, and what it takes as a JSON body."""

    #: What ``--alert NAME=URL`` and ``AlertPlugin(sink=NAME)`` say.
    name: str
    #: What ``dqx alert --format`` says; the rendering it prints.
    format: str
    #: The rendering, as ``dqx alert --help`` describes it.
    description: str
    #: The JSON body a receiver of this kind accepts.
    body: Callable[[Alert], Any]
    #: The rendering as text when it is not simply the body as JSON.
    text: Callable[[Alert], str] | None = None

    def payload(self, alert: Alert) -> Any:
        """The JSON body to post, every text in it redacted."""
        return _redacted(self.body(alert))

    def render(self, alert: Alert) -> str:
        if self.text is not None:
            return redact(self.text(alert))
        return json.dumps(self.payload(alert), indent=2, ensure_ascii=False)


def _redacted(document: Any) -> Any:
    if isinstance(document, str):
        return redact(document)
    if isinstance(document, Mapping):
        return {key: _redacted(value) for key, value in document.items()}
    if isinstance(document, list | tuple):
        return [_redacted(item) for item in document]
    return document


def _markdown_body(alert: Alert) -> dict[str, str]:
    # The {"text": ...} shape most chat webhooks (Slack, Mattermost) accept.
    return {"text": to_markdown(alert)}


#: Every sink, by name, in the order the CLI lists them.
SINKS: Mapping[str, Sink] = MappingProxyType(
    {
        sink.name: sink
        for sink in (
            Sink("alertmanager", "alertmanager", "Alertmanager API v2 alerts", to_alertmanager),
            Sink("slack", "slack", "a Slack Block Kit message", to_slack),
            Sink("webhook", "markdown", "Markdown", _markdown_body, to_markdown),
        )
    }
)
#: Every format, in the table's order.
FORMATS: tuple[str, ...] = tuple(sink.format for sink in SINKS.values())


def _by_format(fmt: str) -> Sink:
    for sink in SINKS.values():
        if sink.format == fmt:
            return sink
    choices = f"{', '.join(FORMATS[:-1])} or {FORMATS[-1]}"
    raise DQXError(f"unknown alert format {fmt!r}; use {choices}")


def render(alert: Alert, fmt: AlertFormat) -> str:
    """The alert as text: JSON for ``alertmanager`` and ``slack``, else Markdown."""
    return _by_format(fmt).render(alert)


def webhook_body(alert: Alert, fmt: AlertFormat) -> Any:
    """What a webhook of that kind expects as its JSON body."""
    return _by_format(fmt).payload(alert)
