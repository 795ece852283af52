"""``--data NAME=PATH``: the files a dataset lies in, read where they are by DuckDB."""

from __future__ import annotations

import glob
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dqx.cli.errors import dqx_errors, usage

if TYPE_CHECKING:
    from dqx.cli.progress import ScanProgress
    from dqx.datasource import DuckRelationDataSource

__all__ = ["data_files", "observed_sources"]

_GLOB_CHARS = frozenset("*?[")
_PARQUET = (".parquet", ".pq")
_CSV = (".csv", ".tsv", ".csv.gz", ".tsv.gz")


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
) -> list[DuckRelationDataSource]:
    """One DuckDB source per dataset, each telling ``progress`` when it is scanned."""
    from dqx.datasource import DuckRelationDataSource

    class ObservedSource(DuckRelationDataSource):
        # Every statement dqx runs goes through execute(): the one place that knows
        # a dataset is being scanned right now.
        def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            progress.scanning(self.name)
            return super().execute(sql, params)

    unknown = sorted(set(date_columns) - set(data))
    if unknown:
        usage(f"--date-column names dataset(s) not given with --data: {', '.join(unknown)}")
    sources: list[DuckRelationDataSource] = []
    for name, location in data.items():
        files, kind = data_files(name, location)
        target: str | list[str] = files[0] if len(files) == 1 else files
        with dqx_errors():
            if kind == "parquet":
                sources.append(ObservedSource.from_parquet(target, name, date_columns.get(name)))
            else:
                sources.append(ObservedSource.from_csv(target, name, date_columns.get(name)))
    return sources
