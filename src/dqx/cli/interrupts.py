"""Ctrl-C and SIGTERM while ``dqx run`` runs: the run stops and is recorded as interrupted.

The CLI is the application, so it (never the library) installs signal handlers, and
only while a command runs. SIGINT raises :class:`KeyboardInterrupt` and SIGTERM
:class:`Terminated`, a subclass, so both unwind a run the same way: the suite records
it as ``interrupted``, and the command flushes the trace and exits 130 or 143, as a
shell reports a process ended by that signal.

A signal that arrives while an interrupt is already on its way up (the store writing
the record, the exporter flushing the trace) is noted and held back: a second Ctrl-C
must not cut short the writes that tell what happened. One that arrives after an
earlier interrupt was swallowed (a driver or a check function catching everything)
raises again, so the run can still be stopped. Once the command has stopped, further
signals are ignored until the process exits.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType

__all__ = ["StopSignals", "Terminated"]

_HANDLED = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be: a scheduler's timeout or a deploy's stop
    interrupts the run exactly as Ctrl-C does, never as an error."""


class StopSignals:
    """SIGINT and SIGTERM handlers for the duration of a ``with`` block.

    :attr:`received` lists the signals in order; :attr:`exit_code` is 128 plus the
    first one's number. Outside the main thread (where Python cannot install handlers)
    it does nothing.
    """

    def __init__(self) -> None:
        self.received: list[signal.Signals] = []
        self._held = 0
        self._deferring = 0
        self._interruptible = 0
        self._deferred: list[signal.Signals] = []
        self._ending = False
        self._told = False
        self._previous: dict[signal.Signals, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in _HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            # Once a signal has stopped the command, the process is on its way out with
            # that signal's exit code: a late one from the same burst (three Ctrl-Cs)
            # must not kill it halfway through its exit instead.
            signal.signal(signum, signal.SIG_IGN if self.received else handler)  # type: ignore[arg-type]
        self._previous.clear()

    @property
    def exit_code(self) -> int:
        """128 + the first signal's number: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + int(self.received[0]) if self.received else 0

    @property
    def first(self) -> str:
        """The first signal's name, or "an interrupt" when none came (a KeyboardInterrupt
        raised by other means)."""
        return self.received[0].name if self.received else "an interrupt"

    @contextmanager
    def held(self) -> Iterator[None]:
        """Signals inside the block are noted in :attr:`received`, not raised: for work
        that must finish once begun (flushing the trace of a run that completed)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals inside the block wait for its next :meth:`interruptible` block: for
        work made of many short steps that must each finish once begun (a backfill's
        days), around the long ones that can stop cleanly anywhere (its scans)."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """Inside :meth:`deferred`, signals raise as usual; one that waited raises as
        the block begins."""
        self._interruptible += 1
        try:
            if self._deferred and not (self._held or self._ending):
                raise self._interrupt(self._deferred.pop())
            yield
        finally:
            self._interruptible -= 1

    def ending(self) -> None:
        """The command is stopping because of a signal: every later one is held."""
        self._ending = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        received = signal.Signals(signum)
        self.received.append(received)
        if self._held or self._ending or _interrupt_unwinding():
            self._tell(received)
            return
        if self._deferring and not self._interruptible:
            if not self._deferred:
                os.write(
                    2,
                    f"dqx: {received.name} received; stopping at the next scan (the days "
                    "being recorded finish first)\n".encode(),
                )
            self._deferred.append(received)
            return
        raise self._interrupt(received)

    @staticmethod
    def _interrupt(received: signal.Signals) -> KeyboardInterrupt:
        return (
            Terminated(received.name)
            if received is signal.SIGTERM
            else KeyboardInterrupt(received.name)
        )

    def _tell(self, received: signal.Signals) -> None:
        if self._told:
            return
        self._told = True
        # os.write, not print: the handler may run in the middle of a write to stderr,
        # which Python's buffered streams refuse to re-enter.
        os.write(
            2,
            f"dqx: {received.name} received while stopping; the run's record and trace "
            "are being written first\n".encode(),
        )


def _interrupt_unwinding() -> bool:
    """Whether a KeyboardInterrupt (or Terminated) is being handled on this thread:
    raised, and now in an ``except`` or ``finally`` block or a ``with`` exit on its way
    up. Once swallowed, it no longer is."""
    seen: set[int] = set()
    error = sys.exc_info()[1]
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__context__ or error.__cause__
    return False
