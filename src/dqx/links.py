"""Where a run's trace can be opened: deep links to Jaeger and Grafana Explore; where
the runbooks are when nobody published them elsewhere.

Links are plain text built from an execution id and base URLs, so this module imports
no OpenTelemetry: alerts, the CLI and dashboards use it without loading a tracer.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import urllib.parse
from dataclasses import dataclass

from dqx.common import normalize_execution_id
from dqx.traces.model import TimeWindow

__all__ = ["RUNBOOK_BASE_ENV", "RUNBOOK_DIR", "TraceLinks", "clickable", "trace_url"]

#: The runbooks' place in the repository: alerts and reports name it (as text, a path
#: being no link) unless a base URL says where they are published; the CLI's
#: ``runbook_base_url`` setting defaults to it.
RUNBOOK_DIR = "docs/runbooks"
#: The environment variable that says where the runbooks are published.
RUNBOOK_BASE_ENV = "DQX_RUNBOOK_BASE_URL"


def clickable(address: str) -> bool:
    """Whether ``address`` opens from a chat message or an alert: absolute, scheme and
    host. A repository path such as ``docs/runbooks/x.md`` is not: receivers resolve
    it against nothing, so it must be shown as text."""
    parts = urllib.parse.urlsplit(address)
    return bool(parts.scheme and parts.netloc)


@dataclass(frozen=True)
class TraceLinks:
    """Where a run's trace can be opened."""

    trace_id: str
    jaeger: str | None = None
    grafana: str | None = None

    def as_dict(self) -> dict[str, str]:
        links = {"trace_id": self.trace_id}
        if self.jaeger:
            links["jaeger"] = self.jaeger
        if self.grafana:
            links["grafana"] = self.grafana
        return links


#: The range of a link to a run whose time is unknown: Tempo searches only within it.
_UNKNOWN_RANGE = {"from": "now-30d", "to": "now"}


def trace_url(
    execution_id: str,
    jaeger: str | None = None,
    grafana: str | None = None,
    tempo_uid: str = "tempo",
    *,
    started: dt.datetime | None = None,
    finished: dt.datetime | None = None,
) -> TraceLinks:
    """Deep links to the run's trace in Jaeger (``/trace/<id>``) and Grafana Explore.

    Base URLs default to the ``DQX_JAEGER_URL`` and ``DQX_GRAFANA_URL`` environment
    variables; a link is left out when neither says where the back-end is. Given the
    run's ``started`` (and ``finished``, unless it is still running) the Grafana link
    searches that time, an hour either side (:meth:`TimeWindow.around`), so it finds
    an old run too; without them it searches the last 30 days. Naive datetimes are
    UTC, as the store keeps them.
    """
    trace_id = normalize_execution_id(execution_id)
    jaeger = jaeger or os.environ.get("DQX_JAEGER_URL")
    grafana = grafana or os.environ.get("DQX_GRAFANA_URL")
    jaeger_link = f"{jaeger.rstrip('/')}/trace/{trace_id}" if jaeger else None
    grafana_link = (
        _grafana_explore(grafana, trace_id, tempo_uid, _time_range(started, finished))
        if grafana
        else None
    )
    return TraceLinks(trace_id, jaeger_link, grafana_link)


def _time_range(started: dt.datetime | None, finished: dt.datetime | None) -> dict[str, str]:
    if started is None:
        return dict(_UNKNOWN_RANGE)
    # The window dqx's trace readers search for a run; Grafana reads numbers as epoch
    # milliseconds, an absolute range that stays right whenever the link is opened.
    window = TimeWindow.around(started, finished)
    return {"from": _epoch_ms(window.start), "to": _epoch_ms(window.end)}


def _epoch_ms(moment: dt.datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def _grafana_explore(grafana: str, trace_id: str, tempo_uid: str, span: dict[str, str]) -> str:
    # Explore's URL state: one pane querying the Tempo data source for the trace id.
    panes = {
        "dqx": {
            "datasource": tempo_uid,
            "queries": [
                {
                    "refId": "A",
                    "datasource": {"type": "tempo", "uid": tempo_uid},
                    "queryType": "traceql",
                    "query": trace_id,
                }
            ],
            "range": span,
        }
    }
    query = urllib.parse.urlencode(
        {"schemaVersion": "1", "panes": json.dumps(panes, separators=(",", ":"))}
    )
    return f"{grafana.rstrip('/')}/explore?{query}"
