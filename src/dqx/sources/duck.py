"""DuckDB's source: Arrow tables, Parquet (Hive-partitioned lakes too), CSV, database files.

Files are scanned by DuckDB where they lie (globs included); nothing is loaded first.
The connection belongs to the source, so any setting dqx makes stays on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlglot import exp

from dqx.common import DefinitionError
from dqx.shapes import StatementShape
from dqx.sources.base import (
    ColumnType,
    DateKind,
    SchemaSource,
    TypeFamily,
    check_source_name,
    qualified_table,
    run_interruptibly,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = ["DuckRelationDataSource"]

_VIEW = "dqx_source"
# The CSV files again, with each row's file name: only to explain a column's type.
_CSV_LINES = "dqx_csv_lines"
PathArg = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
# A Hive partition directory: `dt=2024-03-01`, `country=NL`.
_HIVE_DIRECTORY = re.compile(r"^[^=/\\]+=[^/\\]*$")


class DuckRelationDataSource(SchemaSource):
    """Rows read by DuckDB: an Arrow table, Parquet or CSV files, or a database file's table.

    Build one with :meth:`from_arrow`, :meth:`from_parquet`, :meth:`from_csv` or
    :meth:`from_database`; or pass a connection and the name of a table or view in it.
    """

    dialect = "duckdb"
    # bench 13a/13b (width sweep): 1,000 aggregates cost least per metric in statements
    # of 64-256 over 1M rows and of 256 over 50; FILTER clauses (only a custom_sql has
    # them here: counts are written with CASE) plan in time growing with their square.
    statement_shape = StatementShape(width=256, filtered_width=16, fold_from=16)
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
        view: str | exp.Table,
        name: str,
        date_column: str | None = None,
    ) -> None:
        check_source_name(name)
        # DuckDB prints its own progress bar to stdout on long statements when the
        # connection enables it (interactive sessions do): a library must not write
        # there. Its progress is still read, through query_progress(), when watched.
        connection.execute("SET enable_progress_bar_print = false")
        self._connection = connection
        self._tracking_progress = False
        self._table = (
            view if isinstance(view, exp.Table) else qualified_table(view, None, dataset=name)
        )
        # LIMIT 0: DuckDB binds the statement and reports its columns without a scan.
        probe = exp.select("*").from_(self._table.copy()).limit(0).sql(dialect="duckdb")
        relation = connection.sql(probe)
        columns = {
            column: self._column_type(str(column_type))
            for column, column_type in zip(relation.columns, relation.types, strict=True)
        }
        super().__init__(name, columns, date_column)
        # Set by from_csv: the files and options it read, to explain a column's type.
        self._csv: tuple[list[str], dict[str, Any]] | None = None

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
        path: PathArg,
        name: str,
        date_column: str | None = None,
        *,
        hive_partitioning: bool | None = None,
    ) -> DuckRelationDataSource:
        """Parquet files: a file, a glob, a list of them, or a directory (every
        ``*.parquet`` below it).

        ``hive_partitioning=None`` looks at the first file found: when its path has
        ``key=value`` directories (``dt=2024-03-01/part-0.parquet``) each key becomes a
        column, typed by its values (a date is a DATE), so ``date_column="dt"`` works.
        ``True`` or ``False`` decides it.
        """
        import duckdb

        connection = duckdb.connect()
        paths = [_parquet_pattern(p) for p in _paths(path)]
        try:
            if hive_partitioning is None:
                hive_partitioning = _hive_layout(connection, paths)
            target = paths if len(paths) > 1 else paths[0]
            relation = connection.read_parquet(target, hive_partitioning=hive_partitioning)
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
        path: PathArg,
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
        source = cls(connection, _VIEW, name, date_column)
        source._csv = (paths, dict(read_options))
        return source

    @classmethod
    def from_database(
        cls,
        path: str | os.PathLike[str],
        table: str,
        name: str,
        *,
        schema: str | None = None,
        date_column: str | None = None,
        read_only: bool = True,
    ) -> DuckRelationDataSource:
        """A table (or view) of a DuckDB database file, read where it lies.

        The file is opened read-only unless ``read_only=False``; a file that does not
        exist is an error, never a new empty database.
        """
        import duckdb

        relation = qualified_table(table, schema, dataset=name)
        where = f"{schema}.{table}" if schema else table
        if not Path(path).is_file():
            raise DefinitionError(
                f"dataset {name!r}: no DuckDB database file at {os.fspath(path)}", dataset=name
            )
        try:
            connection = duckdb.connect(os.fspath(path), read_only=read_only)
        except duckdb.Error as exc:
            raise DefinitionError(
                f"dataset {name!r}: cannot open DuckDB database {os.fspath(path)}: {exc}",
                dataset=name,
            ) from exc
        try:
            return cls(connection, relation, name, date_column)
        except duckdb.Error as exc:
            connection.close()
            raise DefinitionError(
                f"dataset {name!r}: cannot read table {where!r} of {os.fspath(path)}: "
                f"{str(exc).splitlines()[0]}",
                dataset=name,
            ) from exc
        except DefinitionError:
            connection.close()
            raise

    @classmethod
    def _column_type(cls, duck_type: str) -> ColumnType:
        return ColumnType(duck_type, cls._family(duck_type.upper()), _date_kind(duck_type))

    @classmethod
    def _family(cls, name: str) -> TypeFamily:
        if cls._NUMERIC_TYPES.match(name):
            return "numeric"
        if name == "VARCHAR" or name.startswith("ENUM("):
            return "text"
        if name == "BOOLEAN":
            return "boolean"
        # A LIST prints as INTEGER[], an ARRAY as INTEGER[3].
        if name.endswith("]") or name.startswith(cls._NESTED_PREFIXES):
            return "nested"
        if name.startswith(cls._TEMPORAL_PREFIXES):
            return "temporal"
        return "other"

    def table_expression(self) -> exp.Expr:
        return self._table.copy()

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        # DuckDB's client checks for signals only when its calling thread gets a task
        # back, which a scan can deny it until the end: on two cores a Ctrl-C waited
        # 9-18 s for a scan it should have stopped. Off the calling thread, the query
        # is interrupted within 50 ms.
        connection = self._connection
        if self.on_progress is not None and not self._tracking_progress:
            # query_progress() reads -1 unless DuckDB tracks progress, which it does
            # only with the bar enabled (printing stays off).
            connection.execute("SET enable_progress_bar = true")
            self._tracking_progress = True
        return run_interruptibly(
            lambda: connection.execute(sql, params).fetchall(),
            connection.interrupt,
            name=f"dqx-duckdb-{self.name}",
            poll=self._report_progress if self.on_progress is not None else None,
        )

    def _report_progress(self) -> None:
        report = self.on_progress
        if report is None:
            return
        try:
            percent = self._connection.query_progress()
        except Exception:  # a progress line never stops a scan
            return
        if percent >= 0:
            report(min(float(percent), 100.0))

    def interrupted(self, error: Exception) -> bool:
        import duckdb

        # interrupt() gives InterruptException; a signal DuckDB saw itself, on the
        # thread that called it, a bare RuntimeError.
        return isinstance(error, duckdb.InterruptException) or (
            type(error) is RuntimeError and str(error) == "Query interrupted"
        )

    def close(self) -> None:
        self._connection.close()

    def why_not_numeric(self, column: str) -> str | None:
        """For a CSV column DuckDB's sniffer read as text, the first line whose value is
        not a number (a repeated header row, a stray note); None otherwise.

        One query that stops at that line, run only when a metric needs the column to
        be numeric, before any metric is computed.
        """
        import duckdb

        if self._csv is None or self.type_family(column) != "text":
            return None
        column = self.resolve_column(column)
        try:
            found = _first_text_line(self._connection, *self._csv, column)
            if found is None:
                return _why_text_without_values(self._connection, self.table_expression(), column)
        except duckdb.Error:
            return None  # the explanation is a courtesy; the type error stands without it
        file, line, value = found
        # Files concatenated with their headers are the usual culprit: say so when seen.
        repeated = " (the header row, repeated)" if value.strip() == column else ""
        return f"line {line} of {file} holds {value!r}, not a number{repeated}"


def _why_text_without_values(
    connection: duckdb.DuckDBPyConnection, table: exp.Expr, column: str
) -> str | None:
    """Why the sniffer read a column as text when no value of it is text: it saw none."""
    counts = exp.select(
        exp.Count(this=exp.Star()), exp.Count(this=exp.column(column, quoted=True))
    ).from_(table)
    found = connection.execute(counts.sql(dialect="duckdb")).fetchone()
    rows, values = (int(found[0]), int(found[1])) if found else (0, 0)
    if rows == 0:
        return "the CSV holds no rows (a header only), so DuckDB read every column as text"
    if values == 0:
        return f"no row of the CSV has a value in {column!r}, so DuckDB read it as text"
    return None


def _first_text_line(
    connection: duckdb.DuckDBPyConnection,
    paths: list[str],
    options: dict[str, Any],
    column: str,
) -> tuple[str, int, str] | None:
    """(file, line, value) of the first value of ``column`` that does not cast to a number."""
    target = paths if len(paths) > 1 else paths[0]
    connection.read_csv(target, **{**options, "filename": True}).create_view(_CSV_LINES)
    # ROW_NUMBER() OVER () streams in file order (DuckDB keeps insertion order), so the
    # LIMIT stops the scan at the first bad value.
    numbered = exp.select(
        exp.alias_(exp.column("filename", quoted=True), "f"),
        exp.alias_(exp.Window(this=exp.RowNumber()), "n"),
        exp.alias_(exp.cast(exp.column(column, quoted=True), "VARCHAR"), "v"),
    ).from_(_CSV_LINES)
    bad = (
        exp.select("f", "n", "v")
        .from_(numbered.subquery("r"))
        .where("v IS NOT NULL AND TRY_CAST(v AS DOUBLE) IS NULL")
        .limit(1)
    )
    first = exp.select("n").from_(numbered.subquery("r")).where("f = $f").limit(1)
    try:
        found = connection.execute(bad.sql(dialect="duckdb")).fetchone()
        if found is None:
            return None
        file, row, value = str(found[0]), int(found[1]), str(found[2])
        start = connection.execute(first.sql(dialect="duckdb"), {"f": file}).fetchone()
    finally:
        connection.execute(f"DROP VIEW IF EXISTS {_CSV_LINES}")
    assert start is not None, "the file of a row has that row"
    return file, row - int(start[0]) + 1 + _lines_before_rows(connection, file, options), value


def _lines_before_rows(
    connection: duckdb.DuckDBPyConnection, file: str, options: dict[str, Any]
) -> int:
    """Lines of ``file`` above its first row: skipped ones, and the header."""
    header, skip = options.get("header"), options.get("skip")
    if header is None or skip is None:
        sniffed = connection.execute(
            "SELECT HasHeader, SkipRows FROM sniff_csv($f)", {"f": file}
        ).fetchone()
        assert sniffed is not None, "sniff_csv describes any file read_csv read"
        header = sniffed[0] if header is None else header
        skip = sniffed[1] if skip is None else skip
    return int(skip) + (1 if header else 0)


def _date_kind(duck_type: str) -> DateKind | None:
    name = duck_type.upper()
    if name == "DATE":
        return "date"
    if name.startswith("TIMESTAMP"):
        return "timestamp"
    if name == "VARCHAR":
        return "text"
    return None


def _paths(path: PathArg) -> list[str]:
    if isinstance(path, str | os.PathLike):
        return [str(Path(path))]
    paths = [str(Path(p)) for p in path]
    if not paths:
        raise DefinitionError("no file paths given")
    return paths


def _parquet_pattern(path: str) -> str:
    # A directory stands for the Parquet files anywhere below it, as Spark and Hive
    # write a partitioned table: lake/dt=2024-03-01/part-0.parquet.
    return os.path.join(path, "**", "*.parquet") if os.path.isdir(path) else path


def _hive_layout(connection: duckdb.DuckDBPyConnection, patterns: list[str]) -> bool:
    """Whether the first file the patterns match sits in ``key=value`` directories.

    DuckDB's own SQL reader decides the same way; its Python reader does not look.
    Glob expansion is DuckDB's, so what is checked is what will be read.
    """
    found = connection.execute("SELECT file FROM glob($p) LIMIT 1", {"p": patterns[0]}).fetchall()
    if not found:
        return False
    directories = Path(str(found[0][0])).parts[:-1]
    return any(_HIVE_DIRECTORY.match(part) for part in directories)
