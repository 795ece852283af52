"""The benchmark's checks, as a CHECKS.py file `dqx run` can load.

``lineitem`` is the 12-metric suite; ``daily_checks(windows=True)`` adds
week_over_week and stddev(n=7) of three of its metrics.
"""

from __future__ import annotations

from typing import Any

from dqx import Context, MetricProvider, check

__all__ = ["CUSTOM_AVG", "CUSTOM_FILTERED", "daily_checks", "lineitem", "twelve"]

# Kept equal to bench/lineitem.py's floor; that module must not import dqx.
CUSTOM_FILTERED = "SUM(l_extendedprice * (1 - l_discount)) FILTER (WHERE l_shipmode = 'AIR')"
CUSTOM_AVG = "AVG(l_tax * l_quantity)"


def twelve(mp: MetricProvider) -> list[tuple[str, Any]]:
    """The 12 metrics, in the order of the floor's aggregates."""
    return [
        ("rows", mp.num_rows()),
        ("sum price", mp.sum("l_extendedprice")),
        ("avg quantity", mp.average("l_quantity")),
        ("min price", mp.minimum("l_extendedprice")),
        ("max price", mp.maximum("l_extendedprice")),
        ("null discounts", mp.null_count("l_discount")),
        ("distinct parts", mp.unique_count("l_partkey")),
        ("duplicate keys", mp.duplicate_count(["l_orderkey", "l_linenumber"])),
        ("returned", mp.count_values("l_returnflag", "R")),
        ("price variance", mp.variance("l_extendedprice")),
        ("air revenue", mp.custom_sql(CUSTOM_FILTERED)),
        ("avg tax amount", mp.custom_sql(CUSTOM_AVG)),
    ]


@check(name="Lineitem", severity="P1")
def lineitem(mp: MetricProvider, ctx: Context) -> None:
    for name, metric in twelve(mp):
        ctx.assert_that(metric).where(name=name).is_geq(0)


def daily_checks(windows: bool) -> list[Any]:
    """The 12 metrics for one day; with ``windows``, week_over_week and stddev(n=7) too."""

    @check(name="Lineitem daily", severity="P1")
    def daily(mp: MetricProvider, ctx: Context) -> None:
        metrics = dict(twelve(mp))
        for name, metric in metrics.items():
            ctx.assert_that(metric).where(name=name).is_geq(0)
        if not windows:
            return
        for name in ("rows", "sum price", "avg quantity"):
            metric = metrics[name]
            ctx.assert_that(mp.ext.week_over_week(metric)).where(
                name=f"{name} week over week"
            ).is_between(-0.5, 0.5)
            ctx.assert_that(mp.ext.stddev(metric, n=7)).where(name=f"{name} stddev").is_geq(0)

    return [daily]
