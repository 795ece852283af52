"""MetricDB's promises, one body per promise, run on SQLite file, SQLite memory and PostgreSQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import struct
import traceback
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqx.common import DQXError, StoreError, new_execution_id
from dqx.orm.repositories import (
    AssertionRecord,
    Metric,
    MetricDB,
    RunRecord,
    metric_identity,
)

DAY = dt.date(2024, 3, 10)
PROD = {"env": "prod", "team": "sales"}


def metric(**fields: Any) -> Metric:
    base: dict[str, Any] = {
        "kind": "average",
        "parameters": {"column": "price"},
        "name": "average(price)",
        "dataset": "orders",
        "yyyy_mm_dd": DAY,
        "tags": dict(PROD),
        "value": 1.5,
        "execution_id": new_execution_id(),
        "suite": "Orders",
    }
    base.update(fields)
    return Metric(**base)


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


# -- writes ----------------------------------------------------------------------------


def test_persist_writes_nothing_when_one_row_of_the_batch_fails(store: MetricDB) -> None:
    run = new_execution_id()
    batch = [metric(execution_id=run, name=f"m{i}", value=float(i)) for i in range(1500)]
    # The last row reuses the first row's primary key: the database rejects it only
    # after the rows before it were sent.
    batch.append(dataclasses.replace(batch[-1], id=batch[0].id))
    with pytest.raises(StoreError, match="persist 1501 metrics"):
        store.persist(batch)
    assert store.metrics_for_execution(run) == []
    assert store.load(execution_id=run) == []
    assert store.persist(batch[:-1]) == 1500
    assert len(store.metrics_for_execution(run)) == 1500


def test_persist_rejects_a_malformed_metric_by_name_before_writing(store: MetricDB) -> None:
    run = new_execution_id()
    good = metric(execution_id=run)
    bad = metric(execution_id=run, name="null_count(email)", origin="guessed")
    with pytest.raises(StoreError, match=r"null_count\(email\).*origin"):
        store.persist([good, bad])
    with pytest.raises(StoreError, match="execution id"):
        store.persist([metric(execution_id="not-an-id")])
    assert store.metrics_for_execution(run) == []


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(
        st.floats()
        | st.sampled_from(
            [-0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]
        )
        | st.sampled_from([-1.7976931348623157e308, math.inf, -math.inf, 0.1, 1 / 3]),
        min_size=1,
        max_size=30,
    )
)
def test_values_read_back_bit_for_bit(store: MetricDB, values: list[float]) -> None:
    run = new_execution_id()
    store.persist(
        [metric(execution_id=run, name=f"m{i:03d}", value=v) for i, v in enumerate(values)]
    )
    stored = {m.name: m.value for m in store.metrics_for_execution(run)}
    for i, value in enumerate(values):
        got = stored[f"m{i:03d}"]
        assert got is not None
        if math.isnan(value):
            assert math.isnan(got)
        else:
            assert bits(got) == bits(value), (value, got)


# -- history ---------------------------------------------------------------------------


def test_history_is_found_by_identity_and_date_whatever_the_tag_order(store: MetricDB) -> None:
    stored = metric(tags={"team": "sales", "env": "prod"}, value=41.25)
    store.persist([stored])
    reordered = metric_identity(
        "average", {"column": "price"}, "orders", {"env": "prod", "team": "sales"}
    )
    dev = metric_identity("average", {"column": "price"}, "orders", {"env": "dev", "team": "sales"})
    found = store.latest([(reordered, DAY), (dev, DAY), (reordered, DAY - dt.timedelta(days=1))])
    assert list(found) == [(reordered, DAY)]
    assert found[(reordered, DAY)].value == 41.25
    assert found[(reordered, DAY)].execution_id == stored.execution_id


def test_prod_history_never_answers_for_dev(store: MetricDB) -> None:
    store.persist([metric(tags={"env": "prod"}, value=1.0), metric(tags={"env": "dev"}, value=2.0)])
    prod = metric_identity("average", {"column": "price"}, "orders", {"env": "prod"})
    dev = metric_identity("average", {"column": "price"}, "orders", {"env": "dev"})
    untagged = metric_identity("average", {"column": "price"}, "orders", {})
    found = store.latest([(prod, DAY), (dev, DAY), (untagged, DAY)])
    assert {key: m.value for key, m in found.items()} == {(prod, DAY): 1.0, (dev, DAY): 2.0}
    assert [m.value for m in store.load(tags={"env": "dev"})] == [2.0]


def test_the_newest_computed_value_wins_whichever_run_wrote_it(store: MetricDB) -> None:
    start = dt.datetime(2024, 3, 11, 6, 0)
    first = metric(value=1.0, created=start)
    second = metric(value=2.0, created=start + dt.timedelta(hours=1))
    # A copy another run took from history is newer still, but it is no new value.
    copy = metric(
        value=1.0,
        origin="history",
        source_execution_id=first.execution_id,
        created=start + dt.timedelta(hours=2),
    )
    store.persist([second, copy, first])
    assert first.identity == second.identity == copy.identity
    assert len({first.execution_id, second.execution_id, copy.execution_id}) == 3
    found = store.latest([(first.identity, DAY)])
    assert found[(first.identity, DAY)].value == 2.0
    assert found[(first.identity, DAY)].execution_id == second.execution_id


def test_a_null_is_not_history(store: MetricDB) -> None:
    empty = metric(value=None)
    store.persist([empty])
    assert store.latest([(empty.identity, DAY)]) == {}
    assert store.metrics_for_execution(empty.execution_id)[0].value is None


# -- loading for analysts -------------------------------------------------------------


def _history(db: MetricDB) -> dict[str, str]:
    runs = {name: new_execution_id() for name in ("a1", "a2", "b1")}
    rows = []
    for offset in range(3):
        day = DAY + dt.timedelta(days=offset)
        rows += [
            metric(execution_id=runs["a1"], yyyy_mm_dd=day, value=offset + 0.5),
            metric(
                execution_id=runs["a1"],
                yyyy_mm_dd=day,
                kind="num_rows",
                parameters={},
                name="num_rows()",
                value=100.0 + offset,
            ),
            metric(
                execution_id=runs["a2"],
                yyyy_mm_dd=day,
                tags={"env": "dev", "team": "sales"},
                value=-offset - 0.5,
            ),
            metric(
                execution_id=runs["b1"],
                yyyy_mm_dd=day,
                dataset="refunds",
                suite="Refunds",
                value=offset * 10.0,
            ),
        ]
    db.persist(rows)
    return runs


def test_load_filters_by_suite_dataset_name_tags_dates_and_run(store: MetricDB) -> None:
    runs = _history(store)
    assert len(store.load()) == 12
    assert {m.dataset for m in store.load(suite="Refunds")} == {"refunds"}
    assert {m.suite for m in store.load(dataset="refunds")} == {"Refunds"}
    assert [m.value for m in store.load(name="num_rows()")] == [100.0, 101.0, 102.0]
    dev = store.load(tags={"env": "dev"})
    assert [m.value for m in dev] == [-0.5, -1.5, -2.5]
    assert all(m.execution_id == runs["a2"] for m in dev)
    assert len(store.load(tags={"team": "sales", "env": "prod"})) == 9
    assert store.load(tags={"env": "staging"}) == []
    middle = store.load(since=DAY + dt.timedelta(days=1), until=DAY + dt.timedelta(days=1))
    assert {m.yyyy_mm_dd for m in middle} == {DAY + dt.timedelta(days=1)} and len(middle) == 4
    assert len(store.load(since=DAY + dt.timedelta(days=2))) == 4
    assert len(store.load(until=DAY)) == 4
    by_run = store.load(execution_id=runs["b1"])
    assert [m.value for m in by_run] == [0.0, 10.0, 20.0]
    dashed = (
        runs["b1"][:8]
        + "-"
        + runs["b1"][8:12]
        + "-"
        + runs["b1"][12:16]
        + "-"
        + runs["b1"][16:20]
        + "-"
        + runs["b1"][20:]
    )
    assert store.load(execution_id=dashed.upper()) == by_run
    combined = store.load(suite="Orders", name="average(price)", tags={"env": "prod"}, until=DAY)
    assert [(m.execution_id, m.value) for m in combined] == [(runs["a1"], 0.5)]


@pytest.mark.parametrize("key", ["team.name", "it's", 'a "b"', "ключ", "$x[0]", "🙂 x"])
def test_load_matches_any_tag_key_exactly(store: MetricDB, key: str) -> None:
    mine = metric(tags={key: 'v "1"', "env": "prod"})
    store.persist([mine, metric(tags={key: "v2", "env": "prod"}), metric(tags={"env": "prod"})])
    assert [m.id for m in store.load(tags={key: 'v "1"'})] == [mine.id]
    assert [m.id for m in store.load(tags={"env": "prod", key: 'v "1"'})] == [mine.id]
    assert store.load(tags={key: "v"}) == []


def test_load_table_is_the_same_rows_as_a_pyarrow_table(store: MetricDB) -> None:
    _history(store)
    table = store.load_table(dataset="orders", since=DAY + dt.timedelta(days=1))
    rows = store.load(dataset="orders", since=DAY + dt.timedelta(days=1))
    assert isinstance(table, pa.Table)
    assert table.num_rows == len(rows) == 6
    assert table.schema.field("value").type == pa.float64()
    assert table.schema.field("yyyy_mm_dd").type == pa.date32()
    assert table.column("value").to_pylist() == [m.value for m in rows]
    assert table.column("execution_id").to_pylist() == [m.execution_id for m in rows]
    assert table.column("name").to_pylist() == [m.name for m in rows]
    assert store.load_table(dataset="nowhere").num_rows == 0


# -- runs and assertions ---------------------------------------------------------------


def _run(execution_id: str, suite: str, day: dt.date, status: str, **counts: int) -> RunRecord:
    return RunRecord(
        execution_id=execution_id,
        suite=suite,
        yyyy_mm_dd=day,
        tags={"env": "prod"},
        started=dt.datetime(2024, 3, 11, 6, 0) + dt.timedelta(days=(day - DAY).days),
        finished=None if status == "running" else dt.datetime(2024, 3, 11, 6, 1),
        status=status,
        trace_sampled=True,
        metric_count=counts.pop("metric_count", 0),
        **counts,
    )


def test_runs_are_recorded_updated_listed_and_read_back(store: MetricDB) -> None:
    first, second, other = new_execution_id(), new_execution_id(), new_execution_id()
    store.record_run(_run(first, "Orders", DAY, "running"))
    assert store.run(first) == _run(first, "Orders", DAY, "running")
    assertions = [
        AssertionRecord("Orders", "rows arrived", "P1", "OK", 120.0, None, "num_rows()", "> 0"),
        AssertionRecord(
            "Orders", "dod", "P0", "ERROR", None, "no history", "day_over_day(num_rows())", "< 0.5"
        ),
    ]
    finished = _run(
        first, "Orders", DAY, "failed", metric_count=3, assertions_ok=1, assertions_error=1
    )
    store.record_run(finished, assertions)
    store.record_run(finished, assertions)  # recording again replaces, never duplicates
    assert store.run(first) == finished
    assert store.assertions(first) == assertions
    tomorrow = DAY + dt.timedelta(days=1)
    store.record_run(_run(second, "Orders", tomorrow, "passed"))
    store.record_run(_run(other, "Refunds", tomorrow, "passed"))
    assert [r.execution_id for r in store.runs(suite="Orders")] == [second, first]
    assert [r.execution_id for r in store.runs(since=tomorrow, suite="Refunds")] == [other]
    assert len(store.runs(limit=2)) == 2
    assert store.run(new_execution_id()) is None
    assert store.assertions(second) == []
    with pytest.raises(ValueError, match="32 hexadecimal"):
        store.run("nope")


def test_delete_before_removes_older_metrics_and_runs_only(store: MetricDB) -> None:
    old, new = new_execution_id(), new_execution_id()
    yesterday = DAY - dt.timedelta(days=1)
    store.persist([metric(execution_id=old, yyyy_mm_dd=yesterday), metric(execution_id=new)])
    store.record_run(
        _run(old, "Orders", yesterday, "passed"),
        [AssertionRecord("Orders", "a", "P1", "OK", 1.0, None, "num_rows()", "> 0")],
    )
    store.record_run(_run(new, "Orders", DAY, "passed"))
    assert store.delete_before(DAY) == 1
    assert store.metrics_for_execution(old) == [] and store.run(old) is None
    assert store.assertions(old) == []
    assert len(store.metrics_for_execution(new)) == 1 and store.run(new) is not None
    assert store.delete_before(DAY) == 0
    with pytest.raises(StoreError, match=r"datetime\.date"):
        store.delete_before(dt.datetime(2024, 1, 1))  # type: ignore[arg-type]


def test_an_unknown_execution_id_has_no_metrics(store: MetricDB) -> None:
    store.persist([metric()])
    assert store.metrics_for_execution(new_execution_id()) == []


# -- credentials -----------------------------------------------------------------------

SECRET = "s3cret-Pa55"


def _shown(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def test_a_password_never_shows_when_the_server_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    db = MetricDB(f"postgresql://dqx:{SECRET}@127.0.0.1:1/metrics")
    assert SECRET not in repr(db) and SECRET not in str(db) and SECRET not in db.url
    with pytest.raises(StoreError) as caught:
        db.persist([metric()])
    assert "127.0.0.1" in str(caught.value)
    assert SECRET not in _shown(caught.value)
    assert SECRET not in caplog.text


def test_a_password_never_shows_in_url_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    encoded = "p%40ss%3Aw0rd"  # p@ss:w0rd
    with pytest.raises(StoreError) as caught:
        MetricDB(f"nosuchdialect://dqx:{encoded}@db.example/metrics")
    assert encoded not in _shown(caught.value) and "p@ss:w0rd" not in _shown(caught.value)
    with pytest.raises(DQXError) as bad_type:
        MetricDB(b"postgresql://dqx:p@ss@h/db")  # type: ignore[arg-type]
    assert "p@ss" not in str(bad_type.value)
    assert "w0rd" not in caplog.text


def test_a_wrong_password_on_the_real_server_never_shows(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = postgres_url.replace("postgres@", f"postgres:{SECRET}@")
    db = MetricDB(url)
    try:
        assert SECRET not in repr(db) and SECRET not in str(db)
        stored = metric()
        # The test server trusts local users, so the wrong password still gets in;
        # make the server fail a statement instead and look at what it says.
        db.persist([stored])
        with pytest.raises(StoreError) as caught:
            db.persist([stored])
        assert "pk_dq_metric" in str(caught.value) or "duplicate" in str(caught.value)
        assert SECRET not in _shown(caught.value)
        assert SECRET not in caplog.text
    finally:
        db.dispose()


def test_a_plain_postgresql_url_uses_psycopg_3(postgres_url: str) -> None:
    db = MetricDB(postgres_url.replace("postgresql+psycopg://", "postgresql://"))
    try:
        assert db.engine.dialect.driver == "psycopg"
        assert db.persist([metric()]) == 1
    finally:
        db.dispose()
