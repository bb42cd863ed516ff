"""The examples run's progress line: files done, images/s, time left (rich; a plain line now and then off a terminal).

jaxviz.progress.Progress counts filters weighted by ascent cost; here the unit is simply a file, so rich's own
columns do, with the rate measured from this invocation's files (a resumed run's earlier files do not count).
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from jaxviz.progress import duration


class Bar:
    """Progress over `total` files, `done` of them finished before this invocation."""

    def __init__(self, total: int, done: int = 0, enabled: bool = True, every: float = 30.0):
        self.total, self.base, self.enabled, self.every = total, done, enabled, every
        self.start, self.last_print = time.perf_counter(), -float("inf")
        self.console = Console(file=sys.stderr, width=None if sys.stderr.isatty() else 120)
        self.live = enabled and self.console.is_terminal
        self._bar = RichProgress(
            TextColumn("examples"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("left {task.fields[left]}"),
            console=self.console,
            auto_refresh=self.live,
            disable=not enabled,
        )
        self._task = self._bar.add_task("examples", total=total, completed=done, rate="", left="?")
        self.images0: int | None = None
        if self.live:
            self._bar.start()

    def update(self, done: int, images: int) -> None:
        """`done` files consumed in all, `images` of them read so far in all."""
        if not self.enabled:
            return
        if self.images0 is None:  # the first batch compiles: measure from its end
            self.images0, self.files0, self.t0 = images, done, time.perf_counter()
        seconds = time.perf_counter() - self.t0
        rate = (images - self.images0) / seconds if seconds > 0 else 0.0
        files_rate = (done - self.files0) / seconds if seconds > 0 else 0.0
        left = duration((self.total - done) / files_rate) if files_rate > 0 else "?"
        self._bar.update(self._task, completed=done, rate=f"{rate:.1f} images/s" if rate else "", left=left)
        if self.live:
            self._bar.refresh()
        elif time.perf_counter() - self.last_print >= self.every or done == self.total:
            self.last_print = time.perf_counter()
            self.console.print(self._bar.make_tasks_table(self._bar.tasks), soft_wrap=True)

    def close(self) -> None:
        if self.live:
            self.live = False
            self._bar.stop()
