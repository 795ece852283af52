"""``--data NAME=LOCATION``: where a dataset lives, and the source that reads it there.

* a ``.parquet`` or ``.csv`` file, a glob, or a directory of them (a Hive-partitioned
  lake included: ``dt=2024-03-01/...`` directories become a ``dt`` column): DuckDB;
* ``postgresql://user@host/db#schema.table`` (or ``#table``, found on the
  connection's search_path): the table, aggregated inside PostgreSQL;
* ``duckdb:///path/to/file.db#table`` (``duckdb:////abs/file.db#schema.table``): a
  table of a DuckDB database file, opened read-only;
* ``spark:TABLE``: a table of the Spark session's catalog (``db.orders``, or
  ``parquet.`/lake/orders``` for files); the session is whatever
  ``SparkSession.builder.getOrCreate()`` makes of the environment (``SPARK_REMOTE``
  for Spark Connect, spark-defaults.conf or ``PYSPARK_SUBMIT_ARGS`` for a master).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from dqx.cli.errors import dqx_errors, operational, usage

if TYPE_CHECKING:
    from dqx.cli.progress import ScanProgress
    from dqx.datasource import DataSource

__all__ = ["data_files", "observed_sources"]

_GLOB_CHARS = frozenset("*?[")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_POSTGRES = re.compile(r"^postgres(ql)?(\+\w+)?://", re.IGNORECASE)
_DUCKDB = "duckdb:///"
_SPARK = "spark:"

S = TypeVar("S", bound="DataSource")


def _kind(file: str) -> str | None:
    lowered = file.lower()
    if lowered.endswith(_PARQUET):
        return "parquet"
    if lowered.endswith(_CSV):
        return "csv"
    return None


def data_files(name: str, location: str) -> tuple[list[str], str]:
    """Files for a --data value and their kind: parquet or csv."""
    path = Path(location)
    if _GLOB_CHARS & set(location):
        files = sorted(glob.glob(location, recursive=True))
        if not files:
            usage(f"--data {name}={location}: no file matches")
    elif path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and _kind(str(p)))
        if not files:
            usage(f"--data {name}={location}: the directory holds no .parquet or .csv files")
    elif path.is_file():
        files = [location]
    else:
        usage(f"--data {name}={location}: no such file or directory")
    kinds = {_kind(f) for f in files}
    if None in kinds:
        unknown = next(f for f in files if _kind(f) is None)
        usage(f"--data {name}: cannot tell the format of {unknown}; use .parquet or .csv files")
    if len(kinds) > 1:
        usage(f"--data {name}={location} mixes Parquet and CSV files")
    return files, kinds.pop() or ""


def observed_sources(
    data: Mapping[str, str], date_columns: Mapping[str, str], progress: ScanProgress
) -> list[DataSource]:
    """One source per dataset, each telling ``progress`` when it is scanned."""
    unknown = sorted(set(date_columns) - set(data))
    if unknown:
        usage(f"--date-column names dataset(s) not given with --data: {', '.join(unknown)}")
    sources: list[DataSource] = []
    try:
        for name, location in data.items():
            sources.append(_source(name, location, date_columns.get(name), progress))
    except BaseException:
        for source in sources:
            source.close()
        raise
    return sources


def _source(
    name: str, location: str, date_column: str | None, progress: ScanProgress
) -> DataSource:
    from dqx.datasource import DuckRelationDataSource, PostgresDataSource

    if _POSTGRES.match(location):
        url, schema, table = _with_table(name, location, "postgresql://user@host/db#schema.table")
        with dqx_errors():
            return _observed(PostgresDataSource, progress).from_table(
                url, table, name, schema=schema, date_column=date_column
            )
    if location.lower().startswith(_DUCKDB):
        path, schema, table = _with_table(name, location, "duckdb:///path/file.db#table")
        with dqx_errors():
            return _observed(DuckRelationDataSource, progress).from_database(
                path[len(_DUCKDB) :], table, name, schema=schema, date_column=date_column
            )
    if location.lower().startswith(_SPARK):
        return _spark_source(name, location[len(_SPARK) :], date_column, progress)
    files, kind = data_files(name, location)
    target: str | list[str] = files[0] if len(files) == 1 else files
    observed = _observed(DuckRelationDataSource, progress)
    with dqx_errors():
        if kind == "parquet":
            # Hive partitions (dt=.../) are found from the files' directories.
            return observed.from_parquet(target, name, date_column)
        return observed.from_csv(target, name, date_column)


def _with_table(name: str, location: str, form: str) -> tuple[str, str | None, str]:
    """The location without its ``#[schema.]table`` part, the schema and the table."""
    where, _, fragment = location.partition("#")
    if not fragment:
        usage(f"--data {name}={location}: name the table after '#', as in {form}")
    schema, dot, table = fragment.partition(".")
    if not dot:
        schema, table = "", fragment
    if not table or (dot and not schema):
        usage(f"--data {name}={location}: {fragment!r} is not [schema.]table ({form})")
    return where, schema or None, table


def _spark_source(
    name: str, table: str, date_column: str | None, progress: ScanProgress
) -> DataSource:
    if not table:
        usage(f"--data {name}=spark:: name the table, as in spark:db.orders")
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        usage(
            f"--data {name}=spark:{table} needs pyspark: pip install 'pyspark>=3.5' "
            "(what dqx's spark extra installs)"
        )
    from dqx.datasource import SparkDataSource

    try:
        spark = SparkSession.builder.appName("dqx").getOrCreate()
    except Exception as exc:  # the JVM or the Spark Connect server would not start
        operational(f"--data {name}=spark:{table}: Spark did not start: {exc}")
    with dqx_errors():
        return _observed(SparkDataSource, progress).from_table(
            spark, table, name, date_column=date_column
        )


def _observed(source_class: type[S], progress: ScanProgress) -> type[S]:
    """``source_class`` telling ``progress`` before each statement it runs."""

    # Every statement dqx runs goes through execute(): the one place that knows a
    # dataset is being scanned right now. Any engine's class can be the base.
    class Observed(source_class):  # type: ignore[valid-type,misc]
        on_progress: Callable[[float], None] | None

        def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            progress.scanning(self.name)
            progress.statement_started(self.name)
            self.on_progress = progress.statement_progressed
            try:
                result: list[tuple[Any, ...]] = super().execute(sql, params)
            finally:
                self.on_progress = None
                progress.statement_finished()
            return result

    Observed.__name__ = Observed.__qualname__ = f"Observed{source_class.__name__}"
    return cast("type[S]", Observed)
