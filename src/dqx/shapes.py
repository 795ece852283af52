"""How a source's metrics are cut into SQL statements: its statement shape.

One statement holding every plain aggregate of a date batch is right for a dozen
metrics and wrong for a thousand: engines plan a statement in time that grows faster
than its width, and DuckDB's FILTER clauses grow worst (a thousand filtered counts in
one statement over 50 rows: 2.6 s to plan and run, as COUNT(CASE) 0.5 s). A shape says
how wide a statement may grow and when ``count_values`` on one column fold into one
grouped count. Each engine's source carries the shape measured for it (the width
sweep, bench/RESULTS.md 13a-13e; bench/FINDINGS.md); a source's ``statement_shape``
may be replaced, and :data:`ONE_STATEMENT` is the plan without cuts or folds.
"""

from __future__ import annotations

from dataclasses import dataclass

from dqx.common import DefinitionError

__all__ = ["ONE_STATEMENT", "StatementShape"]


@dataclass(frozen=True)
class StatementShape:
    """How wide a shared statement may grow, and when ``count_values`` fold.

    ``width``: the most plain aggregates in one statement (``1`` is one statement per
    metric, ``None`` no limit). ``filtered_width``: the most of them whose SQL has a
    FILTER clause (a ``custom_sql`` written so, or a filtered count on an engine that
    writes them with FILTER). ``fold_from``: how many ``count_values`` on one column
    (with values of one type) become one grouped count, a single scan however many
    values are asked for; ``None`` never folds.
    """

    width: int | None = None
    filtered_width: int | None = None
    fold_from: int | None = None

    def __post_init__(self) -> None:
        for name in ("width", "filtered_width", "fold_from"):
            value = getattr(self, name)
            if value is not None and (type(value) is not int or value < 1):
                raise DefinitionError(
                    f"StatementShape({name}=...) must be a positive int or None, got {value!r}"
                )


#: Every plain aggregate of a batch in one statement, nothing folded: the plan whose
#: values every other shape must reproduce.
ONE_STATEMENT = StatementShape()
