"""Exit codes, for every command, and dqx's errors mapped onto them.

* 0: success (``run``: nothing at or above ``--fail-on`` failed; ``reconcile``: the
  database and the trace agree).
* 1: the answer is bad news: an assertion at or above ``--fail-on`` failed or errored,
  the records disagree, or the run asked for is not in the database.
* 2: usage error: bad flags, a missing file, a check or data source declared wrongly.
* 3: operational error: the database, a trace back-end or a webhook failed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import NoReturn

import click

from dqx.common import DefinitionError, DQXError, InvalidExecutionIdError

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_OPERATIONAL",
    "EXIT_USAGE",
    "bad_news",
    "dqx_errors",
    "exit_error",
    "operational",
    "usage",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OPERATIONAL = 3


def _exit_class(code: int) -> type[click.ClickException]:
    return type(f"_Exit{code}", (click.ClickException,), {"exit_code": code})


# Click prints a ClickException's message on stderr and exits with its class's code.
_EXIT_CLASSES: Mapping[int, type[click.ClickException]] = MappingProxyType(
    {code: _exit_class(code) for code in (EXIT_FAILED, EXIT_USAGE, EXIT_OPERATIONAL)}
)


def exit_error(message: str, code: int) -> click.ClickException:
    """A message on stderr and a chosen exit code."""
    return _EXIT_CLASSES[code](message)


def bad_news(message: str) -> NoReturn:
    raise exit_error(message, EXIT_FAILED)


def usage(message: str) -> NoReturn:
    raise exit_error(message, EXIT_USAGE)


def operational(message: str) -> NoReturn:
    raise exit_error(message, EXIT_OPERATIONAL)


@contextmanager
def dqx_errors() -> Iterator[None]:
    """Map dqx's errors to exit codes: declarations are usage errors, the rest operational."""
    try:
        yield
    except (DefinitionError, InvalidExecutionIdError) as exc:
        usage(str(exc))
    except DQXError as exc:
        operational(str(exc))
