"""Where the CLI's settings come from: flags, then the environment, then ``dqx.toml``.

A setting a flag gives wins; otherwise its environment variable; otherwise the key of
the same name in ``dqx.toml`` in the working directory (read with :mod:`tomllib`);
otherwise the built-in default. ``Settings.origin`` says which of them decided, so
``dqx config`` can show an operator why a value is what it is.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dqx.common import DefinitionError
from dqx.links import RUNBOOK_DIR

__all__ = ["CONFIG_FILE", "KEYS", "Settings", "load_settings"]

CONFIG_FILE = "dqx.toml"

#: Every setting: its environment variable and its default.
KEYS: dict[str, tuple[str | None, str | None]] = {
    "db_url": ("DQX_DB_URL", "sqlite:///dqx.db"),
    "jaeger_url": ("DQX_JAEGER_URL", None),
    "grafana_url": ("DQX_GRAFANA_URL", None),
    "tempo_url": ("DQX_TEMPO_URL", None),
    "tempo_uid": ("DQX_TEMPO_UID", "tempo"),
    "runbook_base_url": ("DQX_RUNBOOK_BASE_URL", RUNBOOK_DIR),
    "trace_file": ("DQX_TRACE_FILE", None),
    # The OTLP exporter reads OTEL_EXPORTER_OTLP_* itself; this key lets dqx.toml name
    # a collector too, and lets dqx know a collector was configured at all.
    "otlp_endpoint": ("OTEL_EXPORTER_OTLP_ENDPOINT", None),
    "fail_on": ("DQX_FAIL_ON", "P1"),
    "webhook_url": ("DQX_WEBHOOK_URL", None),
}


@dataclass(frozen=True)
class Settings:
    """Resolved settings and, per key, where each value came from."""

    values: dict[str, str | None]
    origin: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def require(self, key: str) -> str:
        value = self.values.get(key)
        if value is None:
            env = KEYS[key][0]
            raise DefinitionError(
                f"no {key} configured: pass it as a flag, set {env}, or put "
                f'{key} = "..." in {CONFIG_FILE}'
            )
        return value


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise DefinitionError(f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise DefinitionError(f"cannot read {path}: {exc}") from exc
    # Either flat keys or a [dqx] table, so the file can be shared with other tools.
    table = document.get("dqx", document)
    if not isinstance(table, dict):
        raise DefinitionError(f"{path}: [dqx] must be a table")
    unknown = sorted(set(table) - set(KEYS) - {"dqx"})
    if unknown:
        raise DefinitionError(
            f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(KEYS)}"
        )
    for key, value in table.items():
        if key in KEYS and not isinstance(value, str):
            raise DefinitionError(f"{path}: {key} must be a string, got {value!r}")
    return {key: value for key, value in table.items() if key in KEYS}


def load_settings(
    flags: Mapping[str, str | None],
    *,
    environ: Mapping[str, str] | None = None,
    directory: Path | None = None,
) -> Settings:
    """Resolve every key: flag > environment > ``dqx.toml`` > default."""
    environ = os.environ if environ is None else environ
    path = (directory or Path.cwd()) / CONFIG_FILE
    from_file = _read_file(path) if path.is_file() else {}
    values: dict[str, str | None] = {}
    origin: dict[str, str] = {}
    for key, (env, default) in KEYS.items():
        flag = flags.get(key)
        if flag is not None:
            values[key], origin[key] = flag, "flag"
        elif env is not None and environ.get(env):
            values[key], origin[key] = environ[env], f"env {env}"
        elif key in from_file:
            values[key], origin[key] = from_file[key], str(path)
        else:
            values[key], origin[key] = default, "default"
    return Settings(values, origin)
