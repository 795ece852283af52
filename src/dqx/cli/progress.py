"""Which dataset ``dqx run`` is scanning: a live bar on a terminal, plain lines otherwise.

On a terminal each statement also gets a line of its own while it runs, its bar fed by
the engine's own progress (DuckDB's ``query_progress()``, read by the thread that waits
for the statement); off a terminal nothing but one line per dataset is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from dqx.records import SuiteResult

__all__ = ["ScanProgress"]


class ScanProgress:
    """Shows which dataset is being scanned: a live bar on a terminal, lines otherwise."""

    def __init__(self, console: Console, datasets: Sequence[str]) -> None:
        self._console = console
        self._total = len(datasets)
        self._seen: list[str] = []
        self._progress: Any = None
        self._task: Any = None
        self._statement: Any = None
        self._statements = 0
        self._dataset = ""

    def __enter__(self) -> ScanProgress:
        if self._console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn

            self._progress = Progress(
                SpinnerColumn(),
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                console=self._console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("reading history…", total=self._total)
        return self

    def scanning(self, dataset: str) -> None:
        if self._seen and self._seen[-1] == dataset:
            return
        if dataset not in self._seen:
            self._seen.append(dataset)
        done = len(self._seen) - 1
        if self._progress is not None:
            self._progress.update(self._task, description=f"scanning {dataset}", completed=done)
        else:
            self._console.print(
                f"scanning dataset {dataset!r} ({len(self._seen)}/{self._total})",
                markup=False,
                highlight=False,
            )

    def statement_started(self, dataset: str) -> None:
        """A statement of ``dataset`` starts: its own line, on a terminal only."""
        self._statements += 1
        if self._progress is None:
            return
        self.statement_finished()
        self._dataset = dataset
        self._statement = self._progress.add_task(
            f"  {dataset}: statement {self._statements}", total=100
        )

    def statement_progressed(self, percent: float) -> None:
        """How far the engine says the running statement is, 0-100."""
        if self._progress is not None and self._statement is not None:
            self._progress.update(
                self._statement,
                completed=percent,
                description=f"  {self._dataset}: statement {self._statements}, {percent:.0f}%",
            )

    def statement_finished(self) -> None:
        if self._progress is not None and self._statement is not None:
            self._progress.remove_task(self._statement)
        self._statement = None

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._progress is not None:
            self.statement_finished()
            self._progress.update(self._task, completed=self._total)
            self._progress.stop()
            self._progress = None

    # As the suite's first plugin: the scans are over, so the bar makes way for the
    # report the next plugins print.
    name = "scan-progress"

    def after_run(self, result: SuiteResult) -> None:
        self.stop()
