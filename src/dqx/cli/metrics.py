"""``dqx metrics ID``: every metric a run used, from the store and, if given, its trace."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from dqx.cli.errors import bad_news, dqx_errors
from dqx.cli.options import db_option, format_option
from dqx.cli.output import emit_csv, emit_json, stdout
from dqx.cli.wiring import TraceFlags, load, open_run, trace_source_options

if TYPE_CHECKING:
    from dqx.common import SymbolInfo

__all__ = ["metrics_command"]

_CSV_COLUMNS = ("name", "metric", "dataset", "yyyy_mm_dd", "value", "origin")


@click.command("metrics")
@click.argument("execution_id")
@db_option
@trace_source_options
@format_option("table", "json", "csv")
@click.pass_context
def metrics_command(
    ctx: click.Context,
    execution_id: str,
    db_url: str | None,
    trace_flags: TraceFlags,
    fmt: str,
) -> None:
    """Every metric run EXECUTION_ID used, from the database (and a trace, if given).

    With a trace source the list is the union of both records and each metric says
    where it was found: db+trace, db or trace.
    """
    from dqx.data import metrics_by_execution_id

    settings = load(db_url=db_url)
    execution_id, db, source = open_run(settings, execution_id, trace_flags, fall_back=False)
    with dqx_errors():
        symbols = metrics_by_execution_id(db, execution_id, trace=source)
        known = db.run(execution_id) is not None
    if not symbols and not known:
        bad_news(f"no run {execution_id} in {db.url} (and no metrics in a trace)")
    rows = _symbol_rows(symbols)
    if fmt == "json":
        emit_json({"execution_id": execution_id, "metrics": rows})
    elif fmt == "csv":
        emit_csv(_CSV_COLUMNS, [[row[column] for column in _CSV_COLUMNS] for row in rows])
    else:
        from dqx.display import print_metrics

        print_metrics(symbols, title=f"metrics of run {execution_id}", console=stdout())


def _symbol_rows(symbols: Sequence[SymbolInfo]) -> list[dict[str, Any]]:
    from dqx.common import ORIGIN_TAG, identity_tags

    return [
        {
            "name": s.name,
            "metric": s.metric,
            "dataset": s.dataset,
            "yyyy_mm_dd": s.yyyy_mm_dd.isoformat(),
            "value": s.value.value_or(None),
            "origin": s.tags.get(ORIGIN_TAG, "db"),
            "tags": identity_tags(s.tags),
        }
        for s in symbols
    ]
