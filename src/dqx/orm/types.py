"""Column types of the metric database that need care on some backend.

Migrations import these by name, so a type here is part of the schema's history:
change one only together with a new migration.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import JSON, Double
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

__all__ = ["ExactDouble", "JSONDocument"]


class _SQLiteFloat64(UserDefinedType[float]):
    """A declared type that gives the column SQLite's BLOB affinity.

    Columns with REAL or NUMERIC affinity store an integral float as an integer,
    which turns -0.0 into 0; with BLOB affinity SQLite keeps the 8-byte IEEE value it
    was given, and the value still sorts, compares and sums as a number. SQLite's
    affinity rules look for "BLOB" before "DOUB", hence the name.
    """

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "FLOAT64_BLOB"


class ExactDouble(TypeDecorator[float]):
    """A 64-bit float that reads back bit for bit, NaN and -0.0 included.

    PostgreSQL's ``double precision`` does this natively. SQLite needs the BLOB
    affinity above for -0.0, and it turns a bound NaN into NULL, so NaN is stored
    as the text ``'NaN'`` there.
    """

    impl = Double
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteFloat64())
        return dialect.type_descriptor(Double())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        number = float(value)
        if dialect.name == "sqlite" and math.isnan(number):
            return "NaN"
        return number

    def process_result_value(self, value: Any, dialect: Dialect) -> float | None:
        if value is None:
            return None
        return float(value)


class JSONDocument(TypeDecorator[Any]):
    """A JSON document: JSONB on PostgreSQL (indexable, compared by containment),
    JSON elsewhere.

    The choice is made per dialect when a statement is compiled, not by a variant
    built at import: a SQLite store then never imports SQLAlchemy's PostgreSQL
    dialect, about a tenth of the time ``dqx run`` spends opening its store.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())
