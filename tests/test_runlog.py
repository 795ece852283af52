"""dqx.runlog: records logged inside a run name it, without reconfiguring logging."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from dqx.runlog import current_execution_id, get_logger, run_scope


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collected() -> Iterator[Collect]:
    logger = logging.getLogger("dqx.test_runlog")
    handler = Collect()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_records_carry_the_execution_id_only_inside_a_run(collected: Collect) -> None:
    log = get_logger("dqx.test_runlog")
    log.info("before")
    with run_scope("a" * 32):
        assert current_execution_id() == "a" * 32
        log.info("inside", extra={"dataset": "orders"})
        with run_scope("b" * 32):
            log.warning("nested")
        log.info("back")
    log.info("after")
    assert current_execution_id() is None

    seen = [(r.getMessage(), getattr(r, "execution_id", None)) for r in collected.records]
    assert seen == [
        ("before", None),
        ("inside", "a" * 32),
        ("nested", "b" * 32),
        ("back", "a" * 32),
        ("after", None),
    ]
    assert collected.records[1].dataset == "orders"  # type: ignore[attr-defined]


def test_runs_in_threads_name_their_own_id(collected: Collect) -> None:
    log = get_logger("dqx.test_runlog")
    start = threading.Barrier(4)

    def work(n: int) -> None:
        with run_scope(f"{n:032x}"):
            start.wait()
            for _ in range(20):
                log.info("thread %d", n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(collected.records) == 80
    for record in collected.records:
        assert record.execution_id == f"{int(record.args[0]):032x}"  # type: ignore[attr-defined,index]
