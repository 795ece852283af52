"""The engines dqx runs on, one module each; :mod:`dqx.datasource` is their public face.

:mod:`dqx.sources.base` holds what the analyzer asks of any source; ``duck``,
``postgres`` and ``spark`` each hold one engine's source. An engine's driver (psycopg,
pyspark) is imported only when a source of that engine is built, so the base install
imports without them.
"""
