"""OpenLineage for dqx runs: :class:`OpenLineagePlugin` sends each run's START and
COMPLETE/FAIL events, the execution id as the run id, the datasets with their data
quality facets, and the trace in the ``dqx_trace`` run facet.

Needs the ``openlineage`` extra (``pip install '.[openlineage]'`` in a dqx clone):
importing this package without it raises an ImportError saying so.
"""

from __future__ import annotations

from dqx.lineage.events import (
    TRACE_FACET,
    TRACE_FACET_SCHEMA_URL,
    DqxTraceRunFacet,
    Lineage,
    run_events,
    trace_facet_schema,
)
from dqx.lineage.plugin import OpenLineagePlugin

__all__ = [
    "TRACE_FACET",
    "TRACE_FACET_SCHEMA_URL",
    "DqxTraceRunFacet",
    "Lineage",
    "OpenLineagePlugin",
    "run_events",
    "trace_facet_schema",
]
