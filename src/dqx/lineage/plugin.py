"""OpenLineage as a suite plugin: after each run, its START and COMPLETE/FAIL events."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from openlineage.client import OpenLineageClient

from dqx.common import DefinitionError, validate_severity
from dqx.lineage.events import TRACE_FACET_SCHEMA_URL, Lineage, run_events
from dqx.links import trace_url
from dqx.records import SuiteResult
from dqx.redaction import redact
from dqx.runlog import get_logger
from dqx.telemetry.tracing import package_version

__all__ = ["OpenLineagePlugin"]

log = get_logger(__name__)


class OpenLineagePlugin:
    """Sends each finished run to a lineage back-end as one OpenLineage run.

    Where the events go, first match wins: ``client`` (an ``OpenLineageClient`` with
    any transport), ``url`` (HTTP to a Marquez-style API: ``POST {url}/api/v1/lineage``),
    ``file`` (one JSON event a line, appended), else the client's own configuration
    (``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, ``openlineage.yml``).

    The job is ``namespace`` / the suite's name; the run id is the execution id as a
    dashed UUID. The end event is FAIL when an assertion at ``fail_on`` or above did
    not pass or the metric store refused the run's metrics, else COMPLETE. ``jaeger``
    and ``grafana`` (default: ``DQX_JAEGER_URL``, ``DQX_GRAFANA_URL``) make the trace
    links of the ``dqx_trace`` facet. Both events are sent after the run, with the
    run's own start and end times: a plugin runs once the run is judged, and a run
    that broke (status error or interrupted) sends none. A transport error raises,
    so the suite logs it; the run is unchanged.
    """

    name = "openlineage"

    def __init__(
        self,
        url: str | None = None,
        *,
        client: OpenLineageClient | None = None,
        file: str | os.PathLike[str] | None = None,
        namespace: str = "dqx",
        dataset_namespace: str = "dqx",
        datasets: Mapping[str, tuple[str, str]] | None = None,
        fail_on: str = "P3",
        jaeger: str | None = None,
        grafana: str | None = None,
        tempo_uid: str = "tempo",
        api_key: str | None = None,
        schema_url: str = TRACE_FACET_SCHEMA_URL,
    ) -> None:
        if sum(given is not None for given in (url, client, file)) > 1:
            raise DefinitionError("OpenLineagePlugin takes one of url=, client= or file=")
        validate_severity(fail_on, where="OpenLineagePlugin's fail_on")
        for name, (dataset_ns, dataset_name) in (datasets or {}).items():
            if not dataset_ns or not dataset_name:
                raise DefinitionError(
                    f"OpenLineagePlugin: dataset {name!r} needs a (namespace, name) pair, "
                    f"got {(dataset_ns, dataset_name)!r}"
                )
        self._client = client or _client(url, file, api_key)
        self._destination = redact(url) if url else (os.fspath(file) if file else "its client")
        self._lineage = Lineage(
            namespace=namespace,
            dataset_namespace=dataset_namespace,
            datasets=dict(datasets or {}),
            producer=f"urn:dqx:{package_version()}",
            schema_url=schema_url,
        )
        self._fail_on = fail_on
        self._links: dict[str, Any] = {"jaeger": jaeger, "grafana": grafana, "tempo_uid": tempo_uid}

    def __repr__(self) -> str:
        # The URL may carry a token: say where, redacted.
        return f"OpenLineagePlugin({self._destination!r}, namespace={self._lineage.namespace!r})"

    def after_run(self, result: SuiteResult) -> None:
        failed = bool(result.failed(self._fail_on)) or result.status == "persist_failed"
        links = trace_url(
            result.execution_id, **self._links, started=result.started, finished=result.finished
        )
        for event in run_events(result, self._lineage, links, failed=failed):
            self._client.emit(event)
        log.info(
            "sent the lineage of run %s (%s) to %s",
            result.execution_id,
            "FAIL" if failed else "COMPLETE",
            self._destination,
        )


def _client(
    url: str | None, file: str | os.PathLike[str] | None, api_key: str | None
) -> OpenLineageClient:
    if url is not None:
        transport: dict[str, Any] = {"type": "http", "url": url, "endpoint": "api/v1/lineage"}
        if api_key:
            transport["auth"] = {"type": "api_key", "apiKey": api_key}
        return OpenLineageClient(config={"transport": transport})
    if file is not None:
        path = os.fspath(file)
        return OpenLineageClient(
            config={"transport": {"type": "file", "log_file_path": path, "append": True}}
        )
    return OpenLineageClient()
