"""What a newcomer's first hour with the CLI runs into, each through the real `dqx`.

Two small CSV files in the shape of nycflights13 (flights by day, airlines as a
snapshot); the run is about a day the flights file has no rows for.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from dqx.orm.repositories import MetricDB

DQX = Path(sys.executable).with_name("dqx")
_RUN = ("checks.py", "--data", "flights=flights.csv", "--data", "airlines=airlines.csv")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
EMPTY_DAY = dt.date(2024, 3, 29)

CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Flights", severity="P1")
    def flights(mp, ctx):
        known = mp.unique_count("carrier", dataset="flights") - mp.num_rows(dataset="airlines")
        ctx.assert_that(known).where(name="carriers known").is_leq(0)
        delay = mp.average("dep_delay", dataset="flights")
        ctx.assert_that(delay).where(name="delays sane").is_lt(60)
        ctx.assert_that(mp.num_rows(dataset="airlines")).where(name="airlines").is_gt(0)
    """
)


def dqx(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    environment.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [str(DQX), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


@dataclass(frozen=True)
class Flights:
    root: Path
    db_url: str
    execution_id: str
    results: dict[str, dict[str, object]]


@pytest.fixture(scope="module")
def flights(tmp_path_factory: pytest.TempPathFactory) -> Flights:
    root = tmp_path_factory.mktemp("first-hour")
    (root / "checks.py").write_text(CHECKS)
    (root / "flights.csv").write_text(
        "yyyy_mm_dd,carrier,dep_delay\n2024-03-28,AA,5\n2024-03-28,UA,-3\n"
    )
    (root / "airlines.csv").write_text("carrier,name\nAA,American\nUA,United\nDL,Delta\n")
    db_url = f"sqlite:///{root / 'dqx.db'}"
    outcome = dqx(
        "run",
        *_RUN,
        *("--date", EMPTY_DAY.isoformat(), "--tag", "env=ci", "--db", db_url),
        *("--format", "json"),
        cwd=root,
    )
    assert outcome.returncode == 1, outcome.stderr  # the empty day's ERROR is at P1
    document = json.loads(outcome.stdout)
    results = {result["assertion"]: result for result in document["results"]}
    return Flights(root, db_url, document["execution_id"], results)


# -- 4: an empty or malformed webhook URL --------------------------------------------------


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "the --webhook URL is empty"),
        ("hooks.slack.com/services/T0/B0/x", "is not an absolute http:// or https:// URL"),
    ],
)
def test_alert_with_an_unusable_webhook_is_a_usage_error_at_once(
    flights: Flights, url: str, says: str
) -> None:
    # `--webhook "$SLACK_WEBHOOK_URL"` with the variable unset passes "".
    outcome = dqx(
        "alert", flights.execution_id, "--db", flights.db_url, "--webhook", url, cwd=flights.root
    )
    assert outcome.returncode == 2, outcome.stderr
    assert says in outcome.stderr
    assert "attempt" not in outcome.stderr and "retrying" not in outcome.stderr


def test_alert_refuses_the_webhook_before_reading_the_database(tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path / 'nowhere.db'}"
    outcome = dqx("alert", "0" * 32, "--db", missing, "--webhook", "", cwd=tmp_path)
    assert outcome.returncode == 2
    assert "the --webhook URL is empty" in outcome.stderr
    assert not (tmp_path / "nowhere.db").exists()


def test_an_empty_webhook_variable_means_no_webhook(flights: Flights) -> None:
    outcome = dqx(
        "alert",
        flights.execution_id,
        "--db",
        flights.db_url,
        cwd=flights.root,
        env={"DQX_WEBHOOK_URL": ""},
    )
    assert outcome.returncode == 0, outcome.stderr
    assert "delays sane" in outcome.stdout


# -- 5: the runbook default, as `dqx config` shows it and docs/cli.md states it ------------


def _documented_defaults() -> dict[str, str | None]:
    text = DOCS.read_text(encoding="utf-8").split("## Configuration", 1)[1]
    defaults: dict[str, str | None] = {}
    for line in text.split("\n\n", 2)[2].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        quoted = re.match(r"`([^`]*)`", cells[3])
        defaults[cells[0].strip("`")] = quoted.group(1) if quoted else None
    return defaults


def test_config_shows_every_default_docs_cli_md_states(tmp_path: Path) -> None:
    outcome = dqx("config", "--format", "json", cwd=tmp_path)
    assert outcome.returncode == 0, outcome.stderr
    shown = json.loads(outcome.stdout)
    documented = _documented_defaults()
    assert documented["runbook_base_url"] == "docs/runbooks"
    assert shown["values"] == documented
    assert set(shown["origin"].values()) == {"default"}


def test_alert_names_runbooks_under_the_default_the_config_shows(flights: Flights) -> None:
    outcome = dqx("alert", flights.execution_id, "--db", flights.db_url, cwd=flights.root)
    # A repository path opens nothing from a message: named as text, not linked.
    assert "`docs/runbooks/metric-error.md`" in outcome.stdout
    assert "(docs/runbooks/metric-error.md)" not in outcome.stdout


# -- 6 and 8: an empty day's reason; expressions over two datasets ------------------------


def test_an_empty_day_says_it_had_no_rows(flights: Flights) -> None:
    delays = flights.results["delays sane"]
    assert delays["status"] == "ERROR"
    assert delays["message"] == "average(dep_delay): no rows for 2024-03-29 in dataset 'flights'"


def test_an_expression_over_two_datasets_names_them_where_it_is_shown(
    flights: Flights,
) -> None:
    written = "flights.unique_count(carrier) - airlines.num_rows()"
    assert flights.results["carriers known"]["expression"] == written
    stored = {a.assertion: a for a in MetricDB(flights.db_url).assertions(flights.execution_id)}
    assert stored["carriers known"].expression == written
    # One dataset: as written, no prefix.
    assert flights.results["airlines"]["expression"] == "num_rows()"
    table = dqx(
        "run", *_RUN, "--date", EMPTY_DAY.isoformat(), "--db", flights.db_url, cwd=flights.root
    )
    assert written in table.stdout


# -- 9: runs as CSV keep the tags ----------------------------------------------------------


def test_runs_as_csv_carry_the_tags(flights: Flights) -> None:
    outcome = dqx("runs", "--db", flights.db_url, "--format", "csv", cwd=flights.root)
    assert outcome.returncode == 0, outcome.stderr
    rows = {row["execution_id"]: row for row in csv.DictReader(io.StringIO(outcome.stdout))}
    assert json.loads(rows[flights.execution_id]["tags"]) == {"env": "ci"}
    as_json = dqx("runs", "--db", flights.db_url, "--format", "json", cwd=flights.root)
    for run in json.loads(as_json.stdout):
        assert json.loads(rows[run["execution_id"]]["tags"]) == run["tags"]


# -- 10: log lines stamped in ISO 8601 with their offset -----------------------------------


def test_log_lines_carry_an_iso_8601_time_with_its_utc_offset(flights: Flights) -> None:
    outcome = dqx(
        "-v",
        "run",
        *_RUN,
        *("--date", EMPTY_DAY.isoformat(), "--db", flights.db_url, "--format", "json"),
        cwd=flights.root,
        env={"TZ": "Asia/Kolkata"},
    )
    stamps = re.findall(r"^(\S+) INFO ", outcome.stderr, flags=re.MULTILINE)
    assert stamps, outcome.stderr
    for stamp in stamps:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+05:30", stamp), stamp
        assert dt.datetime.fromisoformat(stamp).utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_off_a_terminal_each_log_record_and_message_is_one_line(flights: Flights) -> None:
    # cron: stderr a pipe and no COLUMNS; rich would fold at 80 columns and pad.
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_", "COLUMNS"))
    }
    db = f"sqlite:///{flights.root / 'missing' / 'x.db'}"  # a database that cannot open
    outcome = subprocess.run(
        [str(DQX), "-v", "run", *_RUN, "--date", EMPTY_DAY.isoformat(), "--db", db],
        cwd=flights.root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outcome.returncode == 3, outcome.stderr
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d (INFO|WARNING|ERROR) +\S"
    records = [line for line in outcome.stderr.splitlines() if re.match(stamp, line)]
    warned = [line for line in records if "could not record run" in line]
    assert warned and all(flights.root.name in line for line in warned), outcome.stderr
    assert "setup plugin" not in outcome.stderr  # alembic's start-up chatter, -vv only
    assert all(line == line.rstrip() for line in records)  # no padding to a width
    others = [line for line in outcome.stderr.splitlines() if not re.match(stamp, line)]
    assert not [line for line in others if line.startswith(" ")], outcome.stderr  # no folds


# -- 11: CSV errors that point at the file ------------------------------------------------


def test_a_missing_date_column_lists_the_columns_found(flights: Flights) -> None:
    outcome = dqx(
        "run",
        *_RUN,
        *("--date-column", "flights=date", "--db", flights.db_url),
        cwd=flights.root,
    )
    assert outcome.returncode == 2
    assert (
        "dataset 'flights' has no column 'date' (date_column); "
        "its columns are 'yyyy_mm_dd', 'carrier', 'dep_delay'"
    ) in " ".join(outcome.stderr.split())


def test_a_stray_header_row_is_named_by_file_and_line(flights: Flights, tmp_path: Path) -> None:
    concatenated = tmp_path / "flights.csv"
    header, *rows = (flights.root / "flights.csv").read_text().splitlines()
    concatenated.write_text("\n".join([header, *rows, header, *rows]) + "\n")
    data = ("--data", f"flights={concatenated}", "--data", "airlines=airlines.csv")
    outcome = dqx(
        "run",
        "checks.py",
        *data,
        "--date",
        EMPTY_DAY.isoformat(),
        "--db",
        flights.db_url,
        cwd=flights.root,
    )
    assert outcome.returncode == 2
    assert (
        "average(dep_delay) needs a numeric column, but 'dep_delay' in dataset 'flights' is "
        "VARCHAR (in check 'Flights', assertion 'delays sane'): line 4 of "
        f"{concatenated} holds 'dep_delay', not a number (the header row, repeated)"
    ) in " ".join(outcome.stderr.split())
