"""Log records that name the run they belong to.

Inside a run, every record a dqx module logs through :func:`get_logger` carries the
run's id as the record attribute ``execution_id`` (for a formatter's
``%(execution_id)s`` or a JSON handler); outside a run nothing is added. It works
through :class:`logging.LoggerAdapter`, so the application's logging configuration
(handlers, levels, filters, the record factory) is never touched. The run is a
context variable, so concurrent runs in threads or tasks each name their own.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

__all__ = ["current_execution_id", "get_logger", "run_scope"]

_execution_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "dqx_execution_id", default=None
)


def current_execution_id() -> str | None:
    """The execution id of the run in progress in this context, if any."""
    return _execution_id.get()


@contextmanager
def run_scope(execution_id: str) -> Iterator[None]:
    """Within the block, dqx's log records carry ``execution_id``."""
    token = _execution_id.set(execution_id)
    try:
        yield
    finally:
        _execution_id.reset(token)


class _RunLogger(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, Any]:
        execution_id = _execution_id.get()
        if execution_id is not None:
            # A caller's own extra wins; the plain adapter would replace it.
            kwargs["extra"] = {"execution_id": execution_id, **(kwargs.get("extra") or {})}
        return msg, kwargs


def get_logger(name: str) -> logging.LoggerAdapter[logging.Logger]:
    """``logging.getLogger(name)``, adding the run's execution id to records inside a run."""
    return _RunLogger(logging.getLogger(name), {})
