"""The values a metric binds into its SQL, and which columns each can be compared with.

``count_values`` takes strings, numbers and booleans; this module says which are
acceptable at all and which a column of each type family can be compared with, so
the engine never has to fail a cast mid-scan (taking the whole batch with it).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal

from dqx.common import DefinitionError

if TYPE_CHECKING:
    from dqx.sources.base import TypeFamily

__all__ = ["BindValue", "ValueKind", "check_bind_value", "comparable_kinds", "value_kind"]

BindValue = str | int | float | bool
ValueKind = Literal["bool", "number", "text"]

# Dates, times and the rest are left to the engine, which reads text and numbers into
# them as it can.
_MATCHES: dict[TypeFamily, frozenset[ValueKind]] = {
    "numeric": frozenset({"number", "bool"}),
    "boolean": frozenset({"number", "bool"}),
    "text": frozenset({"text"}),
    "temporal": frozenset({"number", "text"}),
    "nested": frozenset(),
    "other": frozenset({"number", "text"}),
}
# Booleans against numbers and numbers against booleans: DuckDB reads TRUE as 1,
# PostgreSQL and Spark refuse the comparison.
_CROSSED: dict[TypeFamily, frozenset[ValueKind]] = {
    "numeric": frozenset({"bool"}),
    "boolean": frozenset({"number"}),
}


def check_bind_value(value: object) -> BindValue:
    """``value`` if ``count_values`` can match it; a DefinitionError saying why not."""
    if value is None:
        raise DefinitionError(
            "count_values() cannot match NULL (in SQL, c = NULL is never true); "
            "count NULLs with mp.null_count(column)"
        )
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise DefinitionError("count_values() cannot match NaN: use a custom_sql with isnan()")
        return value
    raise DefinitionError(
        f"count_values() takes strings, numbers or booleans, got {type(value).__name__} {value!r}"
    )


def value_kind(value: BindValue) -> ValueKind:
    if isinstance(value, bool):
        return "bool"
    return "text" if isinstance(value, str) else "number"


def comparable_kinds(family: TypeFamily, *, booleans_with_numbers: bool) -> frozenset[ValueKind]:
    """The kinds of value a column of ``family`` can be compared with on an engine that
    does (or does not) compare booleans with numbers."""
    accepted = _MATCHES[family]
    if booleans_with_numbers:
        return accepted
    return accepted - _CROSSED.get(family, frozenset())
