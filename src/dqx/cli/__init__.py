"""The dqx command line: ``dqx run``, ``evaluate``, ``metrics``, ``reconcile``, ``runs``
(with ``mark-bad`` and ``unmark-bad``), ``report``, ``history``, ``diff``, ``alert``,
``config`` and ``demo``, one module each.

The other modules serve them: :mod:`~dqx.cli.wiring` turns settings into a store, a
trace source (its table of trace-source kinds) and a tracer provider;
:mod:`~dqx.cli.output` writes tables, strict JSON and CSV; :mod:`~dqx.cli.errors`
holds the exit codes. Settings come from flags, then the environment, then
``dqx.toml`` (:mod:`dqx.config`).

``dqx --help`` must stay quick: modules here import click and light dqx modules only,
and each command imports the engine, the store, rich and the OTel SDK inside its
function, when it runs. A command's module is imported only when that command is
invoked (or help lists them all): ``dqx run`` does not pay for ``dqx diff``.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import sys
from typing import TYPE_CHECKING

import click

from dqx.cli.errors import EXIT_FAILED, EXIT_OK, EXIT_OPERATIONAL, EXIT_USAGE
from dqx.cli.output import stderr
from dqx.cli.redacting import RedactingFormatter, Secrets, install

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_OPERATIONAL", "EXIT_USAGE", "main"]

#: Every command; ``dqx.cli.<name>`` defines it as ``<name>_command``.
_COMMANDS = frozenset(
    {
        "alert",
        "config",
        "demo",
        "diff",
        "evaluate",
        "history",
        "metrics",
        "reconcile",
        "report",
        "run",
        "runs",
    }
)


class _CommandsOnDemand(click.Group):
    """The dqx group, importing a command's module only when it is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        command: click.Command = getattr(
            importlib.import_module(f"dqx.cli.{cmd_name}"), f"{cmd_name}_command"
        )
        return command


def _setup_logging(verbosity: int, secrets: Secrets) -> None:
    # The CLI is the application, so it owns the root logger; library modules only
    # ever call logging.getLogger(__name__).
    from rich.logging import RichHandler

    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbosity, 2)]
    console = stderr()
    handler: logging.Handler
    if console.is_terminal:
        handler = RichHandler(
            console=console,
            show_path=False,
            rich_tracebacks=False,
            log_time_format=_iso_time,
            omit_repeated_times=False,
        )
        # Redacted before rich lays the message out: a secret folded over two lines
        # would pass the redacting stream.
        handler.setFormatter(RedactingFormatter(secrets))
    else:
        # Scheduler logs are grepped line by line: one record, one line, its time first,
        # not rich's columns folded and padded to a guessed width.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(RedactingFormatter(secrets, "%(asctime)s %(levelname)-8s %(message)s"))
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler], force=True)
    # alembic names each of its plugins at INFO on every start: noise at -v, kept at -vv.
    plugins = logging.getLogger("alembic.runtime.plugins")
    plugins.setLevel(logging.WARNING if verbosity < 2 else logging.NOTSET)


def _iso_time(when: dt.datetime) -> Text:
    # rich's default, "[11/30/26 03:21:31]", is ambiguous across locales and says
    # nothing of the zone; the record's time is naive local time, so astimezone()
    # attaches the machine's offset: 2026-11-30T03:21:31+00:00.
    from rich.text import Text

    return Text(when.astimezone().isoformat(timespec="seconds"))


@click.group(
    cls=_CommandsOnDemand,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="dqx")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """dqx: data quality as code, every run one OpenTelemetry trace.

    Settings come from flags, then environment variables (DQX_DB_URL, DQX_JAEGER_URL,
    DQX_GRAFANA_URL, DQX_TEMPO_URL, DQX_RUNBOOK_BASE_URL, DQX_TRACE_FILE, OTEL_*),
    then dqx.toml in the working directory. Exit codes: 0 ok, 1 failed / disagreement
    / not found, 2 usage error, 3 operational error. See docs/cli.md.
    """
    _setup_logging(verbose, install(click.get_current_context()))
