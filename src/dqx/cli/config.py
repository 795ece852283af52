"""``dqx config``: the settings dqx resolves here, and where each came from.

Values are shown redacted: a database password, a webhook's address, credentials in a
collector's or a back-end's URL are replaced by ``***``.
"""

from __future__ import annotations

import click

from dqx.cli.options import format_option
from dqx.cli.output import emit_json, stdout
from dqx.cli.redacting import current
from dqx.cli.wiring import load

__all__ = ["config_command"]


@click.command("config")
@format_option("table", "json")
@click.pass_context
def config_command(ctx: click.Context, fmt: str) -> None:
    """The settings dqx resolves here, and where each one came from."""
    settings = load()
    hide = current()
    values = {key: None if value is None else hide(value) for key, value in settings.values.items()}
    if fmt == "json":
        emit_json({"values": values, "origin": settings.origin})
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title="dqx settings (flag > environment > dqx.toml > default)")
    table.add_column("key")
    table.add_column("value", overflow="fold")
    table.add_column("from")
    for key, value in values.items():
        table.add_row(Text(key), Text("" if value is None else value), Text(settings.origin[key]))
    stdout().print(table)
