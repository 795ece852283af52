"""The suite the real end-to-end tests run, and how they compare what came back.

The data is chosen to be awkward for any text or JSON hop between dqx and back:
thirds, a subnormal, a negative zero, numbers whose shortest decimal form is long;
more than 100 metrics, so a run's ``dqx.metric`` events spread over several spans;
lagged and extended metrics, computed from the partitioned source or taken from
history. One assertion fails on purpose, so the run has something to alert about.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import Metric, MetricDB
from dqx.traces.model import Trace

DAY = dt.date(2024, 3, 2)
DAYS = 8
STATUSES = 110  # one count_values metric each: with the others, over 100 metric events
TAGS = {"env": "e2e"}

_PRICES = [
    0.1,
    0.2,
    1 / 3,
    2 / 3,
    1e-310,  # subnormal
    12345.678901234567,
    -0.0,
    1e15 + 0.3,
    7.0000000000000009,
    None,
]


def orders_table(days: int = DAYS) -> pa.Table:
    rows: dict[str, list[Any]] = {"yyyy_mm_dd": [], "price": [], "email": [], "status": []}
    for back in range(days):
        day = DAY - dt.timedelta(days=back)
        for i in range(40 + back):
            price = _PRICES[(i + back) % len(_PRICES)]
            rows["yyyy_mm_dd"].append(day)
            rows["price"].append(None if price is None else price * (1 + back / 7))
            rows["email"].append(None if (i + back) % 6 == 0 else f"u{i}@example.org")
            rows["status"].append(f"s{(i * 7 + back) % STATUSES}")
    return pa.table(rows)


def orders_source() -> DuckRelationDataSource:
    return DuckRelationDataSource.from_arrow(orders_table(), "orders")


@check(name="Orders", severity="P1")
def orders_check(mp: MetricProvider, ctx: Context) -> None:
    average = mp.average("price")
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(average).where(name="average price", severity="P0").is_gt(0)
    ctx.assert_that(mp.variance("price")).where(name="price spread").is_geq(0)
    ctx.assert_that(mp.minimum("price")).where(name="no negative price").is_geq(0)
    smallest = mp.custom_sql("MIN(CASE WHEN price > 0 THEN price END)")  # a subnormal
    ctx.assert_that(smallest).where(name="smallest positive price").is_gt(0)
    ctx.assert_that(mp.maximum("price") - mp.sum("price")).where(name="max below sum").is_leq(0)
    ctx.assert_that(mp.null_count("email") / mp.num_rows()).where(name="emails set").is_lt(0.5)
    ctx.assert_that(mp.ext.day_over_day(average)).where(name="average steady").is_lt(1)
    ctx.assert_that(mp.ext.stddev(mp.sum("price"), n=5)).where(name="sum stddev").is_geq(0)
    # Fails on purpose: the alert test follows its links.
    ctx.assert_that(mp.unique_count("status")).where(name="few statuses").is_lt(10)


@check(name="Statuses", severity="P3")
def statuses_check(mp: MetricProvider, ctx: Context) -> None:
    for i in range(STATUSES):
        ctx.assert_that(mp.count_values("status", f"s{i}")).where(name=f"s{i} counted").is_geq(0)


CHECKS = [orders_check, statuses_check]


class LocalCopy:
    """A second processor on the provider: what the SDK finished, to compare with."""

    def __init__(self, provider: TracerProvider) -> None:
        self.exporter = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self, execution_id: str) -> list[ReadableSpan]:
        return [
            span
            for span in self.exporter.get_finished_spans()
            if span.context is not None and f"{span.context.trace_id:032x}" == execution_id
        ]

    def span_ids(self, execution_id: str) -> set[str]:
        return {f"{span.context.span_id:016x}" for span in self.spans(execution_id) if span.context}


def new_suite(db: MetricDB, provider: TracerProvider | None) -> VerificationSuite:
    return VerificationSuite(CHECKS, db, "Orders e2e", tracer_provider=provider)


def run_once(suite: VerificationSuite, day: dt.date = DAY) -> None:
    suite.run([orders_source()], ResultKey(day, dict(TAGS)))


def run_suite(
    db: MetricDB, provider: TracerProvider | None, day: dt.date = DAY
) -> VerificationSuite:
    suite = new_suite(db, provider)
    run_once(suite, day)
    return suite


# -- bit-exact comparisons ---------------------------------------------------------------


def bits(value: float) -> str:
    """The IEEE 754 double exactly: equal text means the same 64 bits (-0.0 included)."""
    return struct.pack("<d", value).hex()


def stored(metrics: Iterable[Metric]) -> dict[str, tuple[str, str, str, str]]:
    """id -> (name, dataset, date, bits of the value)."""
    return {
        m.id: (m.name, m.dataset, m.yyyy_mm_dd.isoformat(), bits(m.value))
        for m in metrics
        if m.value is not None
    }


def traced(trace: Trace) -> dict[str, tuple[str, str, str, str]]:
    """The same, from the trace's ``dqx.metric`` events."""
    found: dict[str, tuple[str, str, str, str]] = {}
    for _span, event in trace.events("dqx.metric"):
        attributes = event.attributes
        value = attributes.get("dqx.metric.value")
        if value is None:
            continue
        found[str(attributes["dqx.metric.id"])] = (
            str(attributes["dqx.metric.name"]),
            str(attributes["dqx.dataset"]),
            str(attributes["dqx.date"]),
            bits(float(value)),
        )
    return found
