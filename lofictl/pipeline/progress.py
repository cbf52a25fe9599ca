"""Progress on stderr while a build runs: a rich bar on a terminal; nothing when stderr is not one
(a log or a pipe gets the summary, not a line per step) or with --quiet."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from lofictl.safety import interrupts


class Progress:
    def __init__(self, title: str, total: int, *, quiet: bool = False):
        self.quiet = quiet
        self.console = Console(stderr=True, highlight=False)
        self.interactive = self.console.is_terminal
        self.total = total
        self.title = title
        self._bar: RichProgress | None = None
        self._task: TaskID | None = None
        self.started = time.perf_counter()

    def __enter__(self) -> "Progress":
        if not self.quiet and self.interactive:
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(escape(self.title), total=self.total)
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def note(self, text: str) -> None:
        """A line that stays above the bar (a step that is done, a wait), with the time since the
        start; nothing where the bar is not shown."""
        if self._bar is not None:
            elapsed = time.perf_counter() - self.started
            self._bar.console.print(f"[dim]\\[{elapsed:6.1f}s][/] {escape(text)}", soft_wrap=True)

    def step(self, what: str) -> None:
        """Say what is happening now (and stop here if Ctrl-C was pressed: see safety.interrupts)."""
        interrupts.checkpoint()
        if self._bar is not None:
            assert self._task is not None  # made with the bar
            # drawn now, not at the next tick: a step shorter than rich's refresh is still seen
            self._bar.update(self._task, description=escape(f"{self.title}: {what}"), refresh=True)

    def advance(self) -> None:
        interrupts.checkpoint()
        if self._bar is not None:
            assert self._task is not None
            self._bar.advance(self._task)
