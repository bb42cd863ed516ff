"""A dependency-free progress bar: layer, filters done, filters/s, time left weighted by cost."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Redraws one line on a terminal; elsewhere prints a line at most every `every` seconds.

    Filters differ in cost (a block5 filter takes far longer than a block1 one), so "time left" is the
    cost still to do divided by the cost done per second, not a count of filters.
    """

    def __init__(
        self,
        total: int,
        total_cost: float | None = None,
        enabled: bool = True,
        stream: TextIO | None = None,
        every: float = 30.0,
    ):
        self.total, self.enabled, self.every = total, enabled, every
        self.total_cost = float(total if total_cost is None else total_cost)
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.start = time.perf_counter()
        self.last_print = -float("inf")
        self.base = self.base_cost = 0.0  # filters (and their cost) already done when this run started

    def update(
        self,
        layer: str,
        done: float,
        layer_done: float,
        layer_total: int,
        cost_done: float | None = None,
        force: bool = False,
    ) -> None:
        """`done`: filters finished overall (fractional within a chunk), `cost_done` their cost;
        `layer_*`: within `layer`."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if not (self.tty or force or now - self.last_print >= self.every):
            return
        self.last_print = now
        cost_done = done if cost_done is None else cost_done
        elapsed = now - self.start
        rate = (done - self.base) / elapsed if elapsed > 0 else 0.0
        cost_rate = (cost_done - self.base_cost) / elapsed if elapsed > 0 else 0.0
        left = (self.total_cost - cost_done) / cost_rate if cost_rate > 0 else float("nan")
        width = 24
        filled = int(width * cost_done / max(self.total_cost, 1e-12))
        bar = "#" * filled + "-" * (width - filled)
        eta = _clock(max(left, 0.0)) if left == left else "?"
        line = (
            f"{layer:<13} {layer_done:6.1f}/{layer_total:<4d} [{bar}] {done:7.1f}/{self.total} filters "
            f"{rate:6.2f} filters/s  elapsed {_clock(elapsed)}  left {eta}"
        )
        print("\r" + line if self.tty else line, end="" if self.tty else "\n", file=self.stream, flush=True)

    def close(self) -> None:
        if self.enabled and self.tty:
            print(file=self.stream, flush=True)
