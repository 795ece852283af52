"""Where the command line's text leaves the process: its streams and its log handler.

Each invocation collects the secrets it was given (:class:`Secrets`: database
passwords, webhook addresses, credentials in trace back-end and collector URLs, from
flags, the environment and ``dqx.toml``) and passes every byte it writes through
:func:`~dqx.redaction.redact` with them: stdout and stderr are replaced by
:class:`RedactingStream` for the invocation, so tables, JSON, CSV, messages, click's
own errors and anything a library prints are covered; log records are redacted by
:class:`RedactingFormatter` before the handler lays them out, and messages by
:func:`~dqx.cli.output.say`, so that rich never folds a secret over two lines where
the stream could no longer recognise it.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

from dqx.redaction import redact, url_secrets

if TYPE_CHECKING:
    from dqx.config import Settings

__all__ = ["RedactingFormatter", "RedactingStream", "Secrets", "current", "install"]

_META_KEY = "dqx.secrets"
# Settings whose whole address is the credential, not only their userinfo.
_ADDRESS_SETTINGS = frozenset({"webhook_url"})
# The OTLP exporter's headers carry API keys ("authorization=Bearer ...").
_HEADER_VARIABLES = ("OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS")


class Secrets:
    """The literal secrets one invocation was given; called on a text, it redacts it."""

    def __init__(self) -> None:
        self._values: set[str] = set()

    def add(self, values: Iterable[str]) -> None:
        self._values.update(value for value in values if value)

    def add_url(self, url: str | None, *, address: bool = False) -> None:
        if url and "://" in url:
            self.add(url_secrets(url, address=address))
        elif url and address:
            # Not a URL (yet): whatever it is, it was meant as a webhook's address.
            self.add([url])

    def add_settings(self, settings: Settings) -> None:
        for key, value in settings.values.items():
            self.add_url(value, address=key in _ADDRESS_SETTINGS)

    def add_environment(self, environ: Mapping[str, str]) -> None:
        for name in _HEADER_VARIABLES:
            for pair in environ.get(name, "").split(","):
                self.add([pair.partition("=")[2].strip()])
        for name, value in environ.items():
            if name.startswith("OTEL_EXPORTER_OTLP") and name.endswith("ENDPOINT"):
                self.add_url(value)

    def __call__(self, text: str) -> str:
        return redact(text, self._values)


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each line before passing it on.

    Whole lines are redacted, so a secret written in pieces is still recognised; what
    is left of a line is redacted and written on ``flush()``. It has no ``buffer``, so
    click writes through it rather than to the bytes underneath.
    """

    def __init__(self, wrapped: Any, secrets: Secrets) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._secrets = secrets
        self._pending = ""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._wrapped, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return getattr(self._wrapped, "errors", None) or "strict"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return bool(self._wrapped.isatty())

    def fileno(self) -> int:
        return int(self._wrapped.fileno())

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._pending += text
        if "\n" in self._pending:
            lines, _, self._pending = self._pending.rpartition("\n")
            self._wrapped.write(self._secrets(lines + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._wrapped.write(self._secrets(self._pending))
            self._pending = ""
        self._wrapped.flush()

    def close(self) -> None:
        # The process's own stream is not this invocation's to close.
        self.flush()


class RedactingFormatter(logging.Formatter):
    """Formats a record as ``%(message)s`` (its exception included) and redacts the text.

    A formatter, not a filter: the record itself is shared with every other handler
    (an application's, a test's), which must see it as it was logged.
    """

    def __init__(self, secrets: Secrets, fmt: str = "%(message)s") -> None:
        super().__init__(fmt)
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        return self._secrets(super().format(record))

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # ISO 8601 with the machine's offset, as the terminal's log lines show it.
        return dt.datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="seconds")


def install(ctx: click.Context) -> Secrets:
    """This invocation's secrets, with stdout and stderr redacting through them.

    The streams stay replaced after the command returns: click prints a command's
    error after its context has closed, and that message must pass through too.
    """
    secrets = Secrets()
    secrets.add_environment(os.environ)
    ctx.meta[_META_KEY] = secrets
    sys.stdout = RedactingStream(sys.stdout, secrets)
    sys.stderr = RedactingStream(sys.stderr, secrets)
    return secrets


def current() -> Secrets:
    """The running invocation's secrets (none outside one)."""
    ctx = click.get_current_context(silent=True)
    found = ctx.meta.get(_META_KEY) if ctx is not None else None
    return found if isinstance(found, Secrets) else Secrets()
