"""Spark's source: a DataFrame or a table, aggregated by Spark wherever it runs.

Statements are rendered in sqlglot's ``spark`` dialect and run with ``spark.sql``,
values bound as named parameters (``:d_0``; PySpark 3.5 or later), so a batch of
dates is one Spark SQL query and only its aggregate rows come back to the driver. The
same code runs on a laptop (``SparkSession.builder.master("local[2]")``) and on a
cluster (``.master("spark://...")``, ``.remote("sc://...")`` for Spark Connect): the
source only uses the DataFrame and SQL API. pyspark loads with the first source
(the ``spark`` extra: ``pip install '.[spark]'`` in a dqx clone).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from sqlglot import exp
from sqlglot.errors import ParseError

from dqx.common import DefinitionError
from dqx.shapes import StatementShape
from dqx.sources.base import ColumnType, DateKind, SchemaSource, TypeFamily, check_source_name

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

__all__ = ["SparkDataSource"]


class SparkDataSource(SchemaSource):
    """A Spark DataFrame or table; Spark computes every metric, one query per batch.

    Build one with :meth:`from_dataframe` or :meth:`from_table`. The schema is read
    from the DataFrame (no job runs); columns and types are checked before any scan.
    """

    dialect = "spark"
    # bench 13d (width sweep, local[2], 1M rows, two runs on a loaded machine): 1,000
    # aggregates cost least per metric in statements of 64 (20-23 ms, against 29-30 at
    # 16 and 37-65 at 256 or 42-60 at 1,000). Most of them were FILTER counts, so FILTER
    # needs no bound of its own. A fold is a join and a shuffle, 1.3-2.6 s whatever the
    # count (13e): dearer than plain counts at 16 and 64, cheaper at 256 (1.7 s against
    # 3.0) and 1,000 (2.6 against 8.8).
    statement_shape = StatementShape(width=64, filtered_width=None, fold_from=256)

    def __init__(
        self,
        spark: SparkSession,
        frame: DataFrame,
        relation: exp.Table,
        name: str,
        date_column: str | None = None,
        *,
        view: str | None = None,
    ) -> None:
        check_source_name(name)
        self._spark = spark
        self._frame = frame
        self._relation = relation
        self._view = view
        super().__init__(name, _columns(frame, name), date_column)

    @classmethod
    def from_dataframe(
        cls, df: DataFrame, name: str, date_column: str | None = None
    ) -> SparkDataSource:
        """Any DataFrame, read through a temporary view named after the dataset.

        The view (``dqx_`` and a digest of the name, so one plan renders the same SQL
        every run) is registered again before each statement: another source of the
        same name in this SparkSession cannot take its place unseen.
        """
        check_source_name(name)
        if not hasattr(df, "sparkSession") or not hasattr(df, "createOrReplaceTempView"):
            raise DefinitionError(
                f"from_dataframe() takes a pyspark DataFrame for dataset {name!r}, "
                f"got {type(df).__name__}",
                dataset=name,
            )
        view = "dqx_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        relation = exp.Table(this=exp.to_identifier(view, quoted=True))
        return cls(df.sparkSession, df, relation, name, date_column, view=view)

    @classmethod
    def from_table(
        cls,
        spark: SparkSession,
        table: str,
        name: str,
        *,
        date_column: str | None = None,
    ) -> SparkDataSource:
        """A table of Spark's catalog, named as Spark SQL names it (``db.orders``,
        ``catalog.db.orders``; backticks around a part with odd characters)."""
        check_source_name(name)
        relation = _table_name(table, name)
        try:
            frame = spark.table(relation.sql(dialect="spark"))
        except Exception as exc:  # pyspark's AnalysisException, or Spark Connect's
            raise DefinitionError(
                f"dataset {name!r}: Spark has no table {table!r}: {_first_line(exc)}",
                dataset=name,
            ) from exc
        return cls(spark, frame, relation, name, date_column)

    def table_expression(self) -> exp.Expr:
        return self._relation.copy()

    def compares_booleans_with_numbers(self) -> bool:
        return False

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        if self._view is not None:
            self._frame.createOrReplaceTempView(self._view)
        result = self._spark.sql(sql, args=dict(params) if params else None)
        return [tuple(row) for row in result.collect()]

    def close(self) -> None:
        """Drop the temporary view a DataFrame source registered; the session and the
        DataFrame stay the caller's."""
        if self._view is not None:
            self._spark.catalog.dropTempView(self._view)


def _columns(frame: DataFrame, name: str) -> dict[str, ColumnType]:
    columns: dict[str, ColumnType] = {}
    for field in frame.schema.fields:
        if field.name in columns:
            raise DefinitionError(
                f"dataset {name!r} has two columns named {field.name!r}; name each once",
                dataset=name,
                column=field.name,
            )
        columns[field.name] = _column_type(field.dataType)
    return columns


def _column_type(data_type: DataType) -> ColumnType:
    from pyspark.sql import types as t

    family: TypeFamily = "other"
    date_kind: DateKind | None = None
    if isinstance(data_type, t.NumericType):
        family = "numeric"
    elif isinstance(data_type, t.StringType | t.CharType | t.VarcharType):
        family, date_kind = "text", "text"
    elif isinstance(data_type, t.BooleanType):
        family = "boolean"
    elif isinstance(data_type, t.DateType):
        family, date_kind = "temporal", "date"
    elif isinstance(data_type, t.TimestampType | t.TimestampNTZType):
        family, date_kind = "temporal", "timestamp"
    elif isinstance(data_type, t.DayTimeIntervalType | t.YearMonthIntervalType):
        family = "temporal"
    elif isinstance(data_type, t.ArrayType | t.MapType | t.StructType):
        family = "nested"
    return ColumnType(data_type.simpleString(), family, date_kind)


def _table_name(table: object, name: str) -> exp.Table:
    if not isinstance(table, str) or not table.strip():
        raise DefinitionError(f"dataset {name!r} needs a table name, got {table!r}", dataset=name)
    try:
        parsed = exp.to_table(table, dialect="spark")
    except ParseError as exc:
        raise DefinitionError(
            f"dataset {name!r}: {table!r} is not a Spark table name: {_first_line(exc)}",
            dataset=name,
        ) from exc
    # Each part is a name from here on (sqlglot reads anything else, "t; DROP ...",
    # as one odd name): quoted, so no keyword or character in it changes the statement.
    for identifier in parsed.find_all(exp.Identifier):
        identifier.set("quoted", True)
    return parsed


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
