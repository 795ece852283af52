"""How ``dqx run`` ends: the trace flushed, the export's outcome recorded, and the line an
interrupted run leaves on stderr.

The suite records the run before its spans leave the process (the exporter batches
them and the provider's shutdown flushes the rest), so whether the trace got through
is known only here, after the flush; :func:`finish_run` writes it to the run's record,
so ``dqx reconcile`` does not expect a trace that never arrived.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dqx.common import DQXError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider as SDKTracerProvider

    from dqx.datasource import DataSource
    from dqx.orm.repositories import MetricDB
    from dqx.telemetry.sdk import ExportStatus

__all__ = ["finish_run", "interrupted_line"]

log = logging.getLogger(__name__)


def finish_run(
    provider: SDKTracerProvider | None,
    sources: Sequence[DataSource],
    db: MetricDB,
    execution_id: str | None,
) -> ExportStatus | None:
    """Flush the trace, record in run ``execution_id`` whether it got through, close the
    sources; the export's outcome (None without a provider :func:`configure` built).

    A run none of whose spans went out (sampled out, or no run at all) keeps its
    record as it is: there is no export to speak of.
    """
    from dqx import telemetry

    try:
        if provider is None:
            return None
        provider.shutdown()
        status = telemetry.export_status(provider)
        if execution_id and status is not None and (status.exported or status.failed):
            try:
                db.record_trace_export(execution_id, status.ok)
            except DQXError as exc:
                # The store may be what failed the run; the printed outcome still says
                # where the trace went.
                log.warning("could not record the trace export of run %s: %s", execution_id, exc)
        return status
    finally:
        for source in sources:
            source.close()


def interrupted_line(
    db: MetricDB,
    execution_id: str,
    signal_name: str,
    status: ExportStatus | None,
    runbook: str,
) -> str:
    """What an operator reads after a signal stopped run ``execution_id``: what the
    record now says, where the trace went, and what to do."""
    try:
        record = db.run(execution_id)
    except DQXError as exc:
        log.warning("could not read run %s back: %s", execution_id, exc)
        record = None
    trace = _trace_fate(status)
    if record is not None and record.status == "interrupted":
        return (
            f"dqx: run {execution_id} {record.message or 'interrupted'}: recorded as "
            f"interrupted in {db.url}; {trace}. Nothing was judged: run the same command "
            f"again for results (a new execution id). See {runbook}"
        )
    if record is not None and record.status != "running":
        # The run was judged and recorded before the signal; only what follows (the
        # report, the alerts, the links) may be missing.
        return (
            f"dqx: {signal_name} came after run {execution_id} was recorded as "
            f"{record.status}: its results are in {db.url} (`dqx alert {execution_id}` "
            f"shows what failed); {trace}"
        )
    return (
        f"dqx: run {execution_id} stopped by {signal_name}, but its record could not be "
        f"written: {db.url} still says running. `dqx runs --reap` records it as "
        f"interrupted once it is stale. See {runbook}"
    )


def _trace_fate(status: ExportStatus | None) -> str:
    if status is None or not (status.exported or status.failed):
        return "no trace was kept"
    if status.ok:
        return f"its trace ({status.exported} spans) went to {status.destination}"
    return (
        f"its trace did not reach {status.destination} ({status.error}) and is recorded "
        "as not exported"
    )
