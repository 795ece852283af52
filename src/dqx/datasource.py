"""Where rows come from: every engine's source, and the contract they keep.

:class:`DataSource` is what the analyzer and the specs ask of any engine (see
:mod:`dqx.sources.base`); a source names its sqlglot dialect and says which family each
column's type belongs to, so no other module reads an engine's type names.

* :class:`DuckRelationDataSource`: DuckDB over Arrow tables, Parquet (Hive-partitioned
  lakes too), CSV and DuckDB database files;
* :class:`PostgresDataSource`: a PostgreSQL table or query, aggregated inside PostgreSQL
  (the ``postgres`` extra: ``pip install '.[postgres]'`` in a dqx clone);
* :class:`SparkDataSource`: a Spark DataFrame or table, aggregated by Spark, locally or
  on a cluster (the ``spark`` extra: ``pip install '.[spark]'``).

Importing this module imports no engine driver: psycopg and pyspark load when a source
of theirs is built.
"""

from __future__ import annotations

from dqx.sources.base import DataSource, TypeFamily
from dqx.sources.duck import DuckRelationDataSource
from dqx.sources.postgres import PostgresDataSource
from dqx.sources.spark import SparkDataSource

__all__ = [
    "DataSource",
    "DuckRelationDataSource",
    "PostgresDataSource",
    "SparkDataSource",
    "TypeFamily",
]
