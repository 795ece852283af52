"""A signal that lands while ``run_interruptibly`` starts its worker thread.

Thread.start() waits for the new thread in Python, where Ctrl-C is raised: the signal
can come before the thread exists or after it began the engine's work. Either way the
interrupt must not leave the work running behind the caller's back (the caller closes
the connection next), and work that never began must never begin.
"""

from __future__ import annotations

import threading
import time

import pytest

from dqx.sources.base import run_interruptibly


class _SlowWork:
    """Work that runs until interrupted (or for ``limit`` seconds), and says so."""

    def __init__(self, limit: float = 5.0) -> None:
        self.limit = limit
        self.started = threading.Event()
        self.stop = threading.Event()
        self.finished = threading.Event()

    def __call__(self) -> str:
        self.started.set()
        try:
            self.stop.wait(self.limit)
            return "done"
        finally:
            self.finished.set()


def test_an_interrupt_after_the_worker_began_stops_it_and_waits_it_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = _SlowWork()
    interrupts = []

    def interrupt() -> None:
        interrupts.append(time.monotonic())
        work.stop.set()

    original = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        original(thread)
        work.started.wait(2)  # the work is inside the engine when the signal lands
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start)
    with pytest.raises(KeyboardInterrupt):
        run_interruptibly(work, interrupt, name="test-worker")
    monkeypatch.undo()
    assert interrupts, "the engine was never told to stop"
    assert work.finished.is_set(), "the interrupt went on while the work still ran"


def test_an_interrupt_before_the_worker_exists_never_starts_the_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    work = _SlowWork()
    created: list[threading.Thread] = []
    original = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        created.append(thread)
        raise KeyboardInterrupt  # before the OS thread exists

    monkeypatch.setattr(threading.Thread, "start", start)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_interruptibly(work, work.stop.set, name="test-worker")
    monkeypatch.undo()
    assert time.monotonic() - began < 1.0, "waited for work that never began"
    # Had the thread started late after all, the cancelled gate keeps the work out.
    original(created[0])
    created[0].join(2)
    assert not work.started.is_set()


def test_without_a_signal_the_work_runs_and_its_value_returns() -> None:
    work = _SlowWork(limit=0.01)
    assert run_interruptibly(work, work.stop.set, name="test-worker") == "done"
