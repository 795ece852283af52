"""Loading the ``@check`` objects a user's Python file defines."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dqx.cli.errors import usage

if TYPE_CHECKING:
    from dqx.checks import Check

__all__ = ["load_checks"]


def load_checks(path: Path) -> list[Check]:
    """Every @check object the file defines, in definition order."""
    from dqx.checks import Check

    module_name = f"dqx_user_checks_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        usage(f"{path} is not a Python file dqx can load")
    module = importlib.util.module_from_spec(spec)
    # Let the checks file import its neighbours, as `python CHECKS.py` would.
    sys.path.insert(0, str(path.resolve().parent))
    try:
        spec.loader.exec_module(module)
    except SystemExit:
        usage(f"loading {path} called sys.exit()")
    except Exception as exc:
        usage(f"cannot load checks from {path}: {type(exc).__name__}: {exc}")
    finally:
        sys.path.pop(0)
    checks: list[Check] = []
    for value in vars(module).values():
        if isinstance(value, Check) and all(value is not seen for seen in checks):
            checks.append(value)
    if not checks:
        usage(f"{path} defines no checks; decorate functions with @check(name=...)")
    return checks
