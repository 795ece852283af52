"""A dqx run as OpenLineage run events: what lineage tools (Marquez, DataHub, Airflow's
OpenLineage provider) read to put the run on their graph.

Each run is one OpenLineage run whose ``runId`` is the execution id in its dashed UUID
form, of the job ``<namespace>/<suite name>``. START carries the datasets the run read;
COMPLETE (or FAIL) carries them again with the standard data quality facets: the
column metrics the run computed (``dataQualityMetrics``) and one entry per assertion
with its success (``dataQualityAssertions``). Both carry the ``dqx_trace`` run facet:
the execution id, which is the trace id, and the links that open the trace.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

try:
    import attr
    from openlineage.client.event_v2 import InputDataset, Job, Run, RunEvent, RunState
    from openlineage.client.facet_v2 import (
        InputDatasetFacet,
        RunFacet,
        data_quality_assertions_dataset,
        data_quality_metrics_input_dataset,
        nominal_time_run,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "dqx.lineage needs the OpenLineage client (openlineage-python), dqx's "
        "openlineage extra: pip install '.[openlineage]' in a dqx clone"
    ) from exc

from dqx.common import AssertionResult
from dqx.links import TraceLinks
from dqx.records import Metric, SuiteResult
from dqx.specs import Maximum, Minimum, NullCount, NumRows, Sum, UniqueCount

__all__ = [
    "TRACE_FACET",
    "TRACE_FACET_SCHEMA_URL",
    "DqxTraceRunFacet",
    "Lineage",
    "run_events",
    "trace_facet_schema",
]

#: The run facet that carries the trace: a custom facet, so its name has dqx's prefix.
TRACE_FACET = "dqx_trace"
#: Where :class:`DqxTraceRunFacet` is described. The schema ships with dqx
#: (``dqx/lineage/trace-run-facet.json``, :func:`trace_facet_schema`); a deployment that
#: publishes it at a URL of its own can say so with ``OpenLineagePlugin(schema_url=...)``.
TRACE_FACET_SCHEMA_URL = "urn:dqx:openlineage:DqxTraceRunFacet:1-0-0"

#: dqx's column metrics as the data quality metrics facet names them, and whether the
#: facet holds them as integers. The facet's fields are the lineage format's, so the
#: mapping lives here, with the format.
_COLUMN_FIELDS: dict[str, tuple[str, Callable[[float], float | int]]] = {
    NullCount.kind: ("nullCount", int),
    UniqueCount.kind: ("distinctCount", int),
    Sum.kind: ("sum", float),
    Minimum.kind: ("min", float),
    Maximum.kind: ("max", float),
}


@attr.define
class DqxTraceRunFacet(RunFacet):
    """The run's trace: its id (the execution id) and where to open it."""

    # camelCase, as every OpenLineage facet names its fields.
    executionId: str
    traceId: str
    suite: str
    status: str
    traceUrl: str | None = attr.field(default=None)
    grafanaUrl: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return TRACE_FACET_SCHEMA_URL


def trace_facet_schema() -> dict[str, Any]:
    """The JSON schema of the ``dqx_trace`` run facet, as dqx ships it."""
    text = resources.files("dqx.lineage").joinpath("trace-run-facet.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@dataclass(frozen=True)
class Lineage:
    """Where a run's events say it ran and what it read.

    ``datasets`` maps a dqx dataset name to its OpenLineage ``(namespace, name)``, as
    the lineage tool already knows the table (``("postgres://db:5432", "shop.orders")``);
    others are named ``(dataset_namespace, <dqx name>)``.
    """

    namespace: str = "dqx"
    dataset_namespace: str = "dqx"
    datasets: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    producer: str = "urn:dqx"
    schema_url: str = TRACE_FACET_SCHEMA_URL

    def dataset(self, name: str) -> tuple[str, str]:
        return self.datasets.get(name, (self.dataset_namespace, name))


def run_events(
    result: SuiteResult, lineage: Lineage, links: TraceLinks, *, failed: bool
) -> tuple[RunEvent, RunEvent]:
    """The START and the COMPLETE (``failed``: FAIL) event of one finished run."""
    run_id = str(uuid.UUID(result.execution_id))
    job = Job(namespace=lineage.namespace, name=result.suite)
    names = _datasets(result)
    start = RunEvent(
        eventType=RunState.START,
        eventTime=_iso(result.started),
        run=Run(runId=run_id, facets=_run_facets(result, lineage, links)),
        job=job,
        inputs=[_input(lineage, name, {}) for name in names],
        producer=lineage.producer,
    )
    end = RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE,
        eventTime=_iso(result.finished),
        run=Run(runId=run_id, facets=_run_facets(result, lineage, links)),
        job=job,
        inputs=[_input(lineage, name, _quality_facets(result, name)) for name in names],
        producer=lineage.producer,
    )
    return start, end


def _iso(moment: dt.datetime) -> str:
    # The run's times are naive UTC; OpenLineage wants an offset.
    return moment.replace(tzinfo=dt.UTC).isoformat()


def _datasets(result: SuiteResult) -> list[str]:
    named = {metric.dataset for metric in result.metrics}
    named.update(dataset for r in result.results for dataset in r.datasets)
    return sorted(named)


def _input(lineage: Lineage, name: str, facets: dict[str, InputDatasetFacet]) -> InputDataset:
    namespace, dataset = lineage.dataset(name)
    return InputDataset(namespace=namespace, name=dataset, inputFacets=facets)


def _run_facets(result: SuiteResult, lineage: Lineage, links: TraceLinks) -> dict[str, RunFacet]:
    day = dt.datetime.combine(result.key.yyyy_mm_dd, dt.time(), dt.UTC)
    trace = DqxTraceRunFacet(
        executionId=result.execution_id,
        traceId=links.trace_id,
        suite=result.suite,
        status=result.status,
        traceUrl=links.jaeger,
        grafanaUrl=links.grafana,
        producer=lineage.producer,
    )
    trace._schemaURL = lineage.schema_url
    # The data's date: a backfill for March 1st runs today, about March 1st.
    nominal = nominal_time_run.NominalTimeRunFacet(
        nominalStartTime=day.isoformat(),
        nominalEndTime=(day + dt.timedelta(days=1)).isoformat(),
        producer=lineage.producer,
    )
    return {TRACE_FACET: trace, "nominalTime": nominal}


def _quality_facets(result: SuiteResult, dataset: str) -> dict[str, InputDatasetFacet]:
    facets: dict[str, InputDatasetFacet] = {}
    today = [
        m for m in result.metrics if m.dataset == dataset and m.yyyy_mm_dd == result.key.yyyy_mm_dd
    ]
    metrics = _metrics_facet(today)
    if metrics is not None:
        facets["dataQualityMetrics"] = metrics
    assertions = _assertions_facet([r for r in result.results if dataset in r.datasets])
    if assertions is not None:
        facets["dataQualityAssertions"] = assertions
    return facets


def _metrics_facet(
    metrics: Sequence[Metric],
) -> data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet | None:
    row_count: int | None = None
    columns: dict[str, dict[str, float | int]] = {}
    for metric in metrics:
        value = metric.value
        if value is None:
            continue
        if metric.kind == NumRows.kind:
            row_count = int(value)
        elif metric.kind in _COLUMN_FIELDS and "column" in metric.parameters:
            name, convert = _COLUMN_FIELDS[metric.kind]
            columns.setdefault(str(metric.parameters["column"]), {})[name] = convert(value)
    if row_count is None and not columns:
        return None
    return data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        rowCount=row_count,
        columnMetrics={
            # quantiles=None: dqx computes none, and the client's default is an empty map.
            column: data_quality_metrics_input_dataset.ColumnMetrics(quantiles=None, **fields)  # type: ignore[arg-type]
            for column, fields in sorted(columns.items())
        },
    )


def _assertions_facet(
    results: Sequence[AssertionResult],
) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet | None:
    # Only the statuses that judged the data: an assertion that was not performed (a
    # skipped one) found nothing either way.
    judged = [r for r in results if r.status in ("OK", "FAILURE", "ERROR")]
    if not judged:
        return None
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=[
            data_quality_assertions_dataset.Assertion(
                assertion=f"{r.check}: {r.assertion}",
                success=r.status == "OK",
                severity=r.severity,
            )
            for r in judged
        ]
    )
