"""Where rows come from: a source's schema, dialect, type families and date filter.

:class:`DataSource` is what the analyzer and the specs ask of any engine; a source
names its sqlglot dialect and says which family each column's type belongs to, so no
other module reads an engine's type names. :class:`DuckRelationDataSource` is DuckDB's.

A source is either *date-partitioned* (it has a date column, so it can produce any
day's rows) or a *snapshot* (no date column: its rows are the run's date only).
"""

from __future__ import annotations

import abc
import datetime as dt
import difflib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from sqlglot import exp

from dqx.common import DefinitionError

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["DataSource", "DuckRelationDataSource", "TypeFamily"]

#: What a column holds, whatever the engine calls its type.
TypeFamily = Literal["numeric", "text", "boolean", "temporal", "nested", "other"]

_DEFAULT_DATE_COLUMN = "yyyy_mm_dd"
_VIEW = "dqx_source"


class DataSource(abc.ABC):
    """What the analyzer needs from a source of rows.

    A subclass sets ``name``, ``dialect`` (a sqlglot dialect name, in which statements
    are rendered and ``custom_sql`` is read) and ``date_column`` (``None`` for a
    snapshot), and implements the abstract methods below.
    """

    name: str
    dialect: str
    date_column: str | None

    @property
    @abc.abstractmethod
    def schema(self) -> dict[str, str]:
        """Each column's type, as the engine names it."""

    @abc.abstractmethod
    def type_family(self, column: str) -> TypeFamily:
        """The family of the column's type; ``column`` is spelled as in :attr:`schema`."""

    @abc.abstractmethod
    def table_expression(self) -> exp.Expr:
        """The relation statements read FROM."""

    @abc.abstractmethod
    def date_key(self) -> exp.Expr:
        """The row's date as an expression, for filtering and grouping by day."""

    @abc.abstractmethod
    def date_bind_value(self, day: dt.date) -> Any:
        """``day`` as a bind value comparable with :meth:`date_key`."""

    @abc.abstractmethod
    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run one statement with named bind parameters and return every row."""

    @property
    def partitioned(self) -> bool:
        return self.date_column is not None

    def date_from_key(self, value: Any) -> dt.date:
        """The date a :meth:`date_key` value read back from the engine stands for."""
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value))

    def is_numeric(self, column: str) -> bool:
        return self.type_family(column) == "numeric"

    def resolve_column(
        self, column: str, *, metric: str | None = None, where: str | None = None
    ) -> str:
        """The schema's spelling of ``column``, or a DefinitionError naming it.

        ``metric`` and ``where`` (the check and assertion) say who asked for it.
        """
        schema = self.schema
        if column in schema:
            return column
        folded = [name for name in schema if name.lower() == column.lower()]
        if len(folded) == 1:
            return folded[0]
        hint = difflib.get_close_matches(column, list(schema), n=1)
        asker = " in ".join(part for part in (metric, where) if part)
        where = f" ({asker})" if asker else ""
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise DefinitionError(
            f"dataset {self.name!r} has no column {column!r}{where}{suggestion}",
            dataset=self.name,
            column=column,
            metric=metric,
        )


class DuckRelationDataSource(DataSource):
    """Rows read by DuckDB: an Arrow table, Parquet files or CSV files.

    Build one with :meth:`from_arrow`, :meth:`from_parquet` or :meth:`from_csv`. Files
    are scanned by DuckDB where they lie (globs included); nothing is loaded first.
    The connection belongs to the source, so any setting dqx makes stays on it.
    """

    dialect = "duckdb"
    # DuckDB's names for its types, as relation.types prints them.
    _NUMERIC_TYPES: ClassVar[re.Pattern[str]] = re.compile(
        r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT"
        r"|FLOAT|DOUBLE|REAL|DECIMAL(\(\d+,\s*\d+\))?)$"
    )
    _NESTED_PREFIXES: ClassVar[tuple[str, ...]] = ("STRUCT(", "MAP(", "UNION(")
    _TEMPORAL_PREFIXES: ClassVar[tuple[str, ...]] = ("DATE", "TIME", "INTERVAL")

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        view: str,
        name: str,
        date_column: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise DefinitionError(f"a data source needs a non-empty name, got {name!r}")
        self.name = name
        self._connection = connection
        self._view = view
        relation = connection.table(view)
        self._schema = {
            column: str(column_type)
            for column, column_type in zip(relation.columns, relation.types, strict=True)
        }
        self.date_column = self._pick_date_column(date_column)

    @classmethod
    def from_arrow(
        cls, table: pa.Table, name: str, date_column: str | None = None
    ) -> DuckRelationDataSource:
        import duckdb
        import pyarrow as pa

        if not isinstance(table, pa.Table):
            raise DefinitionError(
                f"from_arrow() takes a pyarrow.Table for dataset {name!r}, "
                f"got {type(table).__name__}"
            )
        connection = duckdb.connect()
        connection.register(_VIEW, table)
        return cls(connection, _VIEW, name, date_column)

    @classmethod
    def from_parquet(
        cls,
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        name: str,
        date_column: str | None = None,
        *,
        hive_partitioning: bool | None = None,
    ) -> DuckRelationDataSource:
        import duckdb

        connection = duckdb.connect()
        paths = _paths(path)
        try:
            target = paths if len(paths) > 1 else paths[0]
            relation = (
                connection.read_parquet(target)
                if hive_partitioning is None
                else connection.read_parquet(target, hive_partitioning=hive_partitioning)
            )
        except duckdb.Error as exc:
            connection.close()
            raise DefinitionError(
                f"cannot read Parquet for dataset {name!r} from {path!s}: {exc}", dataset=name
            ) from exc
        relation.create_view(_VIEW)
        return cls(connection, _VIEW, name, date_column)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        name: str,
        date_column: str | None = None,
        **read_options: Any,
    ) -> DuckRelationDataSource:
        import duckdb

        connection = duckdb.connect()
        paths = _paths(path)
        try:
            relation = connection.read_csv(paths if len(paths) > 1 else paths[0], **read_options)
        except duckdb.Error as exc:
            connection.close()
            raise DefinitionError(
                f"cannot read CSV for dataset {name!r} from {path!s}: {exc}", dataset=name
            ) from exc
        relation.create_view(_VIEW)
        return cls(connection, _VIEW, name, date_column)

    def _pick_date_column(self, date_column: str | None) -> str | None:
        if date_column is None:
            if _DEFAULT_DATE_COLUMN not in self._schema:
                return None
            # The default is checked like an explicit choice: a mistyped yyyy_mm_dd would
            # otherwise match no date and every metric would look like an empty day.
            column = _DEFAULT_DATE_COLUMN
        else:
            column = self.resolve_column(date_column, metric="date_column")
        kind = self._date_kind(column)
        if kind is None:
            raise DefinitionError(
                f"date_column {column!r} of dataset {self.name!r} has type "
                f"{self._schema[column]}; it must be DATE, TIMESTAMP or 'YYYY-MM-DD' text",
                dataset=self.name,
                column=column,
            )
        return column

    def _date_kind(self, column: str) -> str | None:
        column_type = self._schema[column].upper()
        if column_type == "DATE":
            return "date"
        if column_type.startswith("TIMESTAMP"):
            return "timestamp"
        if column_type == "VARCHAR":
            return "text"
        return None

    @property
    def schema(self) -> dict[str, str]:
        return dict(self._schema)

    def type_family(self, column: str) -> TypeFamily:
        name = self._schema[self.resolve_column(column)].upper()
        if self._NUMERIC_TYPES.match(name):
            return "numeric"
        if name == "VARCHAR" or name.startswith("ENUM("):
            return "text"
        if name == "BOOLEAN":
            return "boolean"
        # A LIST prints as INTEGER[], an ARRAY as INTEGER[3].
        if name.endswith("]") or name.startswith(self._NESTED_PREFIXES):
            return "nested"
        if name.startswith(self._TEMPORAL_PREFIXES):
            return "temporal"
        return "other"

    def table_expression(self) -> exp.Expr:
        return exp.Table(this=exp.to_identifier(self._view, quoted=True))

    def date_key(self) -> exp.Expr:
        if self.date_column is None:
            raise DefinitionError(f"dataset {self.name!r} has no date column")
        column = exp.column(self.date_column, quoted=True)
        if self._date_kind(self.date_column) == "timestamp":
            return exp.Cast(this=column, to=exp.DataType.build("DATE"))
        return column

    def date_bind_value(self, day: dt.date) -> Any:
        assert self.date_column is not None
        return day.isoformat() if self._date_kind(self.date_column) == "text" else day

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params).fetchall()

    def close(self) -> None:
        self._connection.close()

    def __repr__(self) -> str:
        partition = f", date_column={self.date_column!r}" if self.date_column else ""
        return f"DuckRelationDataSource(name={self.name!r}{partition})"


def _paths(
    path: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
) -> list[str]:
    if isinstance(path, str | os.PathLike):
        return [str(Path(path))]
    paths = [str(Path(p)) for p in path]
    if not paths:
        raise DefinitionError("no file paths given")
    return paths
