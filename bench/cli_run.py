"""A suite run as the CLI runs it, for as long as ``dqx run`` does not exist yet.

    python bench/cli_run.py CHECKS.py --data NAME=PATH --db URL

Loads the checks file, reads each Parquet source, runs every check it defines against
the metric database for today, prints one line per assertion, exits 1 on a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import sys
from pathlib import Path

import dqx
from dqx.api import Check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB


def _load_checks(path: Path) -> list[Check]:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load checks from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [value for value in vars(module).values() if isinstance(value, Check)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checks", type=Path)
    parser.add_argument("--data", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    sources = []
    for item in args.data:
        name, _, path = item.partition("=")
        sources.append(DuckRelationDataSource.from_parquet(path, name))
    suite = dqx.VerificationSuite(_load_checks(args.checks), MetricDB(args.db), "bench")
    result = suite.run(sources, dqx.ResultKey(dt.date.today()))
    for item in result.results:
        print(item.check, item.assertion, item.status, item.number)
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
