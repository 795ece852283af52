"""Log records that name the run they belong to, with their secrets redacted.

Inside a run, every record a dqx module logs through :func:`get_logger` carries the
run's id as the record attribute ``execution_id`` (for a formatter's
``%(execution_id)s`` or a JSON handler); outside a run nothing is added. Its message,
its arguments and, when they hold one, its exception's text pass through
:func:`~dqx.redaction.redact`, so no record dqx emits carries a URL's password or a
webhook's token. It works through :class:`logging.LoggerAdapter`, so the application's
logging configuration (handlers, levels, filters, the record factory) is never
touched. The run is a context variable, so concurrent runs in threads or tasks each
name their own.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import traceback
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from dqx.redaction import redact

__all__ = ["current_execution_id", "get_logger", "run_logger", "run_scope"]

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
        execution_id = _execution_id.get() or (self.extra or {}).get("execution_id")
        if execution_id is not None:
            # A caller's own extra wins; the plain adapter would replace it.
            kwargs["extra"] = {"execution_id": execution_id, **(kwargs.get("extra") or {})}
        return msg, kwargs

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        # Numbers stay numbers for %d and %.1f; anything else is shown as its text.
        shown = tuple(arg if isinstance(arg, int | float) else redact(str(arg)) for arg in args)
        note, kwargs = _secret_exception(kwargs)
        if shown:
            # %-formatting would read a % in the traceback as a placeholder.
            note = note.replace("%", "%%")
        super().log(level, redact(str(msg)) + note, *shown, **kwargs)


def _secret_exception(kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """When the text of ``exc_info``'s exception holds a secret: that text, redacted,
    to end the message with, and ``exc_info`` dropped. Otherwise nothing changes, and
    handlers format the exception as they like."""
    exc_info = kwargs.get("exc_info")
    if isinstance(exc_info, BaseException):
        error: BaseException | None = exc_info
    elif isinstance(exc_info, tuple):
        error = exc_info[1]
    else:
        error = sys.exc_info()[1] if exc_info else None
    if error is None:
        return "", kwargs
    text = "".join(traceback.format_exception(error)).rstrip()
    if redact(text) == text:
        return "", kwargs
    return "\n" + redact(text), {**kwargs, "exc_info": None}


def get_logger(name: str) -> logging.LoggerAdapter[logging.Logger]:
    """``logging.getLogger(name)``, adding the run's execution id to records inside a run."""
    return _RunLogger(logging.getLogger(name), {})


def run_logger(
    logger: logging.Logger | str, execution_id: str
) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose records name ``execution_id`` even outside :func:`run_scope`."""
    base = logging.getLogger(logger) if isinstance(logger, str) else logger
    return _RunLogger(base, {"execution_id": execution_id})
