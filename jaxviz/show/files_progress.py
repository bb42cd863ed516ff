"""The examples run's progress line: files done, images/s, time left (rich: a live bar on a terminal, one output
updated in place in a Jupyter notebook, a plain line now and then elsewhere; see jaxviz.show.progress.Output).

jaxviz.show.progress.Progress counts filters weighted by ascent cost; here the unit is simply a file, so rich's own
columns do, with the rate measured from this invocation's files (a resumed run's earlier files do not count).
"""

from __future__ import annotations

import time
from typing import TextIO

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from jaxviz.show.progress import Output, duration


class Bar:
    """Progress over `total` files, `done` of them finished before this invocation. `stream`: where lines go
    (default: standard error, or the notebook under Jupyter)."""

    def __init__(
        self, total: int, done: int = 0, enabled: bool = True, every: float = 30.0, stream: TextIO | None = None
    ):
        self.total, self.base, self.enabled, self.every = total, done, enabled, every
        self.start = time.perf_counter()
        self.out = Output(stream, enabled, every, 120)
        self.console = self.out.console
        self._bar = RichProgress(
            TextColumn("{task.description:<9}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("files"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("left {task.fields[left]}"),
            console=self.console,
            auto_refresh=self.out.live,
            disable=not enabled,
        )
        # Until the first batch is done the wait is mostly its compile: said so, rather than a bar standing still.
        self._task = self._bar.add_task("compiling", total=total, completed=done, rate="", left="?")
        self.images0: int | None = None
        self.out.attach(self._bar)
        if enabled:
            self.out.emit(force=True)

    @property
    def live(self) -> bool:
        """Whether this is a live terminal bar (redrawn by rich's own thread)."""
        return self.out.live

    def update(self, done: int, images: int) -> None:
        """`done` files consumed in all, `images` of them read so far in all."""
        if not self.enabled:
            return
        if self.images0 is None:  # the first batch compiles: measure from its end
            self.images0, self.files0, self.t0 = images, done, time.perf_counter()
        seconds = time.perf_counter() - self.t0
        rate = (images - self.images0) / seconds if seconds > 0 else 0.0
        files_rate = (done - self.files0) / seconds if seconds > 0 else 0.0
        left = duration((self.total - done) / files_rate) if files_rate > 0 else "0 s" if done >= self.total else "?"
        self._bar.update(
            self._task, description="examples", completed=done, rate=f"{rate:.1f} images/s" if rate else "", left=left
        )
        self.out.emit(force=done == self.total)

    def close(self) -> None:
        if self.enabled:
            self.out.close()
