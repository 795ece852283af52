"""dqx: data quality as code, with OpenTelemetry-native run tracing.

Checks are plain functions over metrics; metrics are pushed down as SQL to DuckDB,
stored with their history in a SQL database, and every run is one trace whose
trace id is the run's execution id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dqx.common import AssertionResult, DQXError, ResultKey, SymbolInfo

if TYPE_CHECKING:
    from dqx import telemetry
    from dqx.api import VerificationSuite
    from dqx.checks import Context, check
    from dqx.data import metrics_by_execution_id, reconcile
    from dqx.provider import MetricProvider

__all__ = [
    "AssertionResult",
    "Context",
    "DQXError",
    "MetricProvider",
    "ResultKey",
    "SymbolInfo",
    "VerificationSuite",
    "check",
    "metrics_by_execution_id",
    "reconcile",
    "telemetry",
]

# The engine (duckdb, sqlglot, sqlalchemy, the OTel SDK) loads on first use, so
# `import dqx` stays cheap for a CLI's --help or a scheduler importing a DAG file.
_LAZY = {
    "Context": "dqx.checks",
    "VerificationSuite": "dqx.api",
    "check": "dqx.checks",
    "MetricProvider": "dqx.provider",
    "metrics_by_execution_id": "dqx.data",
    "reconcile": "dqx.data",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "telemetry":
        return importlib.import_module("dqx.telemetry")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dqx' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
