"""The floor as a whole process: interpreter, DuckDB, the 12 metrics by hand, exit.

python bench/floor_run.py DATA.parquet --mode one|per-metric
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb
from lineitem import run_floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("path", type=Path)
    parser.add_argument("--mode", choices=["one", "per-metric"], default="one")
    args = parser.parse_args()
    connection = duckdb.connect()
    relation = f"read_parquet('{args.path}')"
    values = run_floor(lambda sql: connection.execute(sql).fetchone() or (), args.mode, relation)
    connection.close()
    print(" ".join(repr(v) for v in values))


if __name__ == "__main__":
    main()
