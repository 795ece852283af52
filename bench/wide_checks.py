"""A wide suite over lineitem, as a CHECKS.py file `dqx run` can load.

``WIDE_ASSERTIONS`` (default 5,000) assertions, one distinct metric each, the way a
suite generated from a schema looks: every column's null count, five aggregates of each
numeric column, the distinct values of the flag columns, and the rest ``count_values``
on the key and quantity columns (a value per assertion, as "this part still ships").
"""

from __future__ import annotations

import os
from typing import Any

from dqx import Context, MetricProvider, check

__all__ = ["wide", "wide_metrics"]

COLUMNS = (
    "l_orderkey",
    "l_partkey",
    "l_suppkey",
    "l_linenumber",
    "l_quantity",
    "l_extendedprice",
    "l_discount",
    "l_tax",
    "l_returnflag",
    "l_linestatus",
    "l_shipdate",
    "l_shipmode",
    "l_comment",
)
NUMERIC = COLUMNS[:8]
FLAGS = {
    "l_returnflag": ("R", "A", "N"),
    "l_linestatus": ("O", "F"),
    "l_shipmode": ("AIR", "FOB", "MAIL", "RAIL", "REG AIR", "SHIP", "TRUCK"),
}


def wide_metrics(mp: MetricProvider, count: int) -> list[tuple[str, Any]]:
    """``count`` distinct metrics of lineitem, named."""
    metrics: list[tuple[str, Any]] = [(f"{c} nulls", mp.null_count(c)) for c in COLUMNS]
    for column in NUMERIC:
        for method in ("sum", "average", "minimum", "maximum", "variance"):
            metrics.append((f"{method} {column}", getattr(mp, method)(column)))
    for column, values in FLAGS.items():
        metrics.append((f"{column} distinct", mp.unique_count(column)))
        metrics += [(f"{column} = {v}", mp.count_values(column, v)) for v in values]
    index = 0
    while len(metrics) < count:
        index += 1
        # Mostly parts; suppliers, quantities and line numbers on the side.
        match index % 10:
            case 0 | 1:
                metrics.append((f"supplier {index}", mp.count_values("l_suppkey", index)))
            case 2:
                quantity = float(index % 97)
                name = f"quantity {quantity} #{index}"
                metrics.append((name, mp.count_values("l_quantity", [quantity, quantity + 0.5])))
            case _:
                metrics.append((f"part {index}", mp.count_values("l_partkey", index)))
    return metrics[:count]


@check(name="Lineitem wide", severity="P2")
def wide(mp: MetricProvider, ctx: Context) -> None:
    for name, metric in wide_metrics(mp, int(os.environ.get("WIDE_ASSERTIONS", "5000"))):
        ctx.assert_that(metric).where(name=name).is_geq(0)
