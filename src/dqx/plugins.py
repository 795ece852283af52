"""Plugins: code the suite calls once after each finished run, with its result.

A plugin is any object with an ``after_run(result)`` method; ``result`` is the run's
:class:`~dqx.records.SuiteResult` (suite name, key with its ``__execution_id`` tag,
execution id, status, assertion results, metrics, statements). An optional ``name``
attribute names it in logs and spans. Plugins run in the order given, inside the
run's trace (one ``dqx.plugin`` span each), after the run's record is written, so
they see exactly what the store holds. A plugin that raises is logged with the
execution id and recorded on its span; it never changes the run's results, its
status, or the other plugins' turn. ``run(..., enable_plugins=False)`` calls none.

dqx ships the alert sinks (:mod:`dqx.alerts`) and the terminal report
(:mod:`dqx.display`) as plugins.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from dqx.common import DefinitionError
from dqx.records import SuiteResult
from dqx.telemetry.tracing import record_error

__all__ = ["Plugin", "check_plugins", "plugin_name", "run_plugins"]


@runtime_checkable
class Plugin(Protocol):
    """Called once after each finished run (status passed, failed or persist_failed)."""

    def after_run(self, result: SuiteResult) -> None: ...


def plugin_name(plugin: object) -> str:
    name = getattr(plugin, "name", None)
    return name if isinstance(name, str) and name else type(plugin).__name__


def check_plugins(plugins: Sequence[Plugin], *, suite: str) -> tuple[Plugin, ...]:
    """The plugins as a tuple; anything without a callable ``after_run`` is refused."""
    if isinstance(plugins, Plugin):
        raise DefinitionError(
            f"suite {suite!r}: plugins= takes a list of plugins, got one "
            f"{plugin_name(plugins)}; wrap it in a list"
        )
    checked = tuple(plugins)
    for plugin in checked:
        if not callable(getattr(plugin, "after_run", None)):
            raise DefinitionError(
                f"suite {suite!r}: plugin {plugin!r} has no after_run(result) method"
            )
    return checked


def run_plugins(
    plugins: Sequence[Plugin],
    result: SuiteResult,
    tracer: Any,
    run_log: logging.LoggerAdapter[logging.Logger],
) -> list[str]:
    """Call each plugin; returns the names of those that raised."""
    failed: list[str] = []
    for plugin in plugins:
        name = plugin_name(plugin)
        attributes = {"dqx.plugin.name": name}
        with tracer.start_as_current_span("dqx.plugin", attributes=attributes) as span:
            try:
                plugin.after_run(result)
            except Exception as exc:
                # A report or an alert that breaks must not turn a run into something
                # it was not; the log and the span say what went wrong.
                record_error(span, exc)
                run_log.error(
                    "plugin %s failed after run %s: %s: %s",
                    name,
                    result.execution_id,
                    type(exc).__name__,
                    exc,
                    exc_info=exc,
                )
                failed.append(name)
    return failed
