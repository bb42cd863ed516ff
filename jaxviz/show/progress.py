"""The one progress bar (`rich`), over a unit of work: a run's or `visualize`'s filters weighted by their ascent cost,
or the dataset examples' files. It shows the phase (a layer, "examples", "compiling", "quality numbers"), whole
units done, units per second of work, elapsed and compile time, and time left as a duration.

On a terminal it is a live bar; in a Jupyter notebook one output updated in place; elsewhere (a log file, CI,
a batch job) the same columns are printed as a line at most every `every` seconds. Time left is estimated only
once a chunk (or batch) has been measured (the first call compiles; a guess before that would be absurd), and
from the cost done since this invocation started: a block5 filter costs far more than a block1 one, so
filters/s alone would mislead. Before anything runs, `warn_if_slow` turns the same prior figures into one
warning for a notebook call that will take long.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, TextColumn
from rich.progress import Progress as RichProgress
from rich.table import Column
from rich.text import Text

from jaxviz.runtime import compile_clock

# GFLOP/s an ascent step reaches when it is not dispatch-bound, before one has been measured. CPU: measured here,
# block3_conv1 at 96 px on 2 cores, 67 GFLOP/s (so ~30 per core, kept low); accelerators: a tenth of an H100's
# dense bf16 peak, cautious.
PRIOR_GFLOPS = {"cpu": 30.0 * (os.cpu_count() or 1), "gpu": 1e5, "tpu": 1e5}
SLOW_CALL_SECONDS = 30.0  # a notebook call estimated to take longer than this says so before it starts
NOTEBOOK_EVERY = 0.5  # seconds between redraws of a notebook's progress output (each one is a message to the page)
WIDTH = 200  # columns of a line outside a terminal: wide enough that the columns never wrap


class SlowCallWarning(UserWarning):
    """A `jaxviz.visualize` or `jaxviz.find_examples` call that will take long by the prior estimate: its message
    says about how long and what makes it shorter. Silence it with
    `warnings.simplefilter("ignore", jaxviz.SlowCallWarning)`, or make it an error to stop such calls."""


def _backend() -> str:
    import jax

    return jax.default_backend()


def prior_seconds(gflop: float, backend: str | None = None) -> float:
    """Seconds `gflop` GFLOP take at the backend's PRIOR_GFLOPS: what the bar assumes before measuring anything.
    `backend`: "cpu", "gpu" or "tpu" (None: JAX's default backend, which imports JAX)."""
    rate = PRIOR_GFLOPS.get(backend or _backend(), PRIOR_GFLOPS["gpu"])
    return max(float(gflop), 0.0) / rate


def warn_if_slow(seconds: float, what: str, shorter: str, stacklevel: int = 3) -> bool:
    """One SlowCallWarning when `seconds` (an estimate) is over SLOW_CALL_SECONDS: "`what` should take about 3 min
    (a first estimate); `shorter`". `stacklevel` 3 points at the caller of the function that calls this.
    Returns whether it warned."""
    if seconds <= SLOW_CALL_SECONDS:
        return False
    warnings.warn(f"{what} should take {duration(seconds)} (a first estimate); {shorter}", SlowCallWarning, stacklevel)
    return True


_HTML = (  # how rich shows a renderable in Jupyter (rich.jupyter), colours inline
    '<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
    "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>"
)


class _Rendered:
    """A progress table rendered once at `width` columns, as a notebook output: HTML with rich's colours, and
    plain text. Rendered here, not by the notebook's global rich console: that one may be 80 columns wide and
    would wrap the line."""

    def __init__(self, renderable: Any, width: int):
        console = Console(file=io.StringIO(), record=True, width=width, force_jupyter=False, color_system="truecolor")
        console.print(renderable, soft_wrap=True)
        self.text = console.export_text(styles=False).rstrip()
        self.html = console.export_html(inline_styles=True, code_format=_HTML)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": self.html}

    def __repr__(self) -> str:
        return self.text


def _notebook_display() -> Callable[..., Any] | None:
    """IPython's `display` (asked only under a Jupyter kernel, where IPython is there), else None."""
    try:
        from IPython.display import display
    except ImportError:
        return None
    return display


class Output:
    """Where a rich progress table shows: a live bar on a terminal; in a Jupyter notebook one output updated in
    place (rich's own live display there needs ipywidgets, which jaxviz does not require; IPython's display
    handles need nothing more); elsewhere a line at most every `every` seconds. A notebook is used only when no
    `stream` was asked for: a caller that passes one wants its lines there."""

    def __init__(self, stream: TextIO | None, enabled: bool, every: float, width: int):
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, width=None if self.stream.isatty() else width)  # lines unwrapped
        show = _notebook_display() if enabled and stream is None and self.console.is_jupyter else None
        self.notebook, self.handle = show, None
        self.live = enabled and show is None and self.console.is_terminal
        self.every, self.width, self.last_print = every, width, -float("inf")
        self.bar: RichProgress | None = None

    def attach(self, bar: RichProgress) -> None:
        """Show `bar` (made with this console): a terminal's live display starts here."""
        self.bar = bar
        if self.live:
            bar.start()

    def emit(self, force: bool = False) -> None:
        """Redraw (a live bar at once; a notebook at most every NOTEBOOK_EVERY s, a line every `every` s,
        unless `force`)."""
        if self.bar is None:
            return
        if self.live:
            self.bar.refresh()
            return
        now = time.perf_counter()
        if not force and now - self.last_print < (NOTEBOOK_EVERY if self.notebook else self.every):
            return
        self.last_print = now
        table = self.bar.make_tasks_table(self.bar.tasks)
        if self.notebook is None:
            self.console.print(table, soft_wrap=True)
        elif self.handle is None:
            self.handle = self.notebook(_Rendered(table, self.width), display_id=True)
        else:
            self.handle.update(_Rendered(table, self.width))

    def close(self) -> None:
        """Stop a live bar (its last state stays on the terminal); a notebook's output shows the last state."""
        if self.live:
            self.live = False
            self.bar.stop()
        elif self.notebook is not None:
            self.emit(force=True)
        self.stream.flush()


def clock(seconds: float) -> str:
    """Elapsed seconds as H:MM:SS (or M:SS under an hour): a stopwatch, for time already spent."""
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def duration(seconds: float) -> str:
    """Time still to go in words, rounded as an estimate deserves: "about 40 s", "about 12 min",
    "about 1 h 20 min", "about 16 h", "about 3 days". Never H:MM:SS, which reads as a time of day. "0 s" only for
    nothing left: any time left, however short, is "under a second" (0.9 s for 2 filters once read "0 s")."""
    s = max(float(seconds), 0.0)
    if s == 0:
        return "0 s"
    if s < 1:
        return "under a second"
    if s < 60:
        return f"about {max(round(s / 5) * 5, 5):.0f} s" if s >= 5 else "a few seconds"
    if round(s / 60) < 60:
        return f"about {round(s / 60):.0f} min"
    h, m = divmod(round(s / 600) * 10, 60)  # to ten minutes
    if s < 10 * 3600:
        return f"about {h:.0f} h" + (f" {m:.0f} min" if m else "")
    if s < 48 * 3600:
        return f"about {round(s / 3600):.0f} h"
    return f"about {round(s / 86400):.0f} days"


class _Left(ProgressColumn):
    """Time left (Progress.estimate's seconds) as a duration, "?" before anything was measured."""

    def render(self, task) -> Text:
        left = task.fields.get("left")
        return Text(f"left {duration(left)}" if left is not None else "left ?", style="progress.remaining")


@dataclass(frozen=True)
class Work:
    """What a bar counts: `total` units of `unit` ("filters", "files") this invocation covers, costing `total_cost`
    in all (any unit, e.g. GFLOP; None: one per unit). `done`/`done_cost`: what was finished before it started (a
    resumed run; None: one per unit): counted as done, not towards the rate. `layers`: the layers it will start
    (each still to start adds the compile and phase seconds a layer took so far to the time left); `heaviest`: the
    cost of its costliest unit (0: no floor on the rate before such a unit was measured; see Progress.measured).
    """

    unit: str
    total: int
    total_cost: float | None = None
    done: int = 0
    done_cost: float | None = None
    layers: int = 1
    heaviest: float = 0.0

    def __post_init__(self) -> None:  # costs left out are one per unit: always floats once made
        object.__setattr__(self, "total_cost", float(self.total if self.total_cost is None else self.total_cost))
        object.__setattr__(self, "done_cost", float(self.done if self.done_cost is None else self.done_cost))


class Progress:
    """One invocation's progress over `work` (a Work), shown while `enabled`: on `stream` (default: standard
    error, or the notebook under Jupyter), a line at most every `every` seconds where it is not live.

    Where it shows is three plain arguments; what it counts is one Work, which callers build from their plan
    (a run's layers, a file list) and which says the same thing for filters and files.
    """

    def __init__(self, work: Work, enabled: bool = True, stream: TextIO | None = None, every: float = 30.0):
        self.work, self.enabled, self.every = work, enabled, every
        self.total, self.total_cost = work.total, float(work.total_cost)
        self.out = Output(stream, enabled, every, WIDTH)
        self.stream, self.console = self.out.stream, self.out.console
        self.start = time.perf_counter()
        self.compile0 = compile_clock.seconds()
        self.is_measured = False  # estimates start once a chunk has finished
        self.heavy_measured = work.heaviest <= 0  # the costliest unit of the work measured (or no floor wanted)
        self.seen: set[str] = set()  # phases (layers) whose work started
        self.finished_layers = 0
        self.phase_seconds = self.phase_compile = 0.0  # grids, quality numbers, atlas (their compiles within)
        self.state = ("", float(work.done), float(work.done_cost))
        self._bar = RichProgress(
            # On a narrow terminal the bar and the clocks give way first: phase, counts and time left stay whole.
            TextColumn("{task.description:<14}", table_column=Column(no_wrap=True)),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[count]}", table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[rate]}", table_column=Column(no_wrap=True)),
            TextColumn("elapsed {task.fields[elapsed]}"),
            TextColumn("(compiling {task.fields[compiling]})"),
            _Left(table_column=Column(no_wrap=True)),
            console=self.console,
            auto_refresh=self.out.live,
            disable=not enabled,
        )
        self._task = self._bar.add_task(
            "starting",
            total=max(self.total_cost, 1e-12),
            completed=min(float(work.done_cost), self.total_cost),
            count=self._count(work.done),
            rate="",
            elapsed="0:00",
            compiling="0.0 s",
            left=None,
        )
        self.out.attach(self._bar)

    @classmethod
    def over_files(cls, total: int, done: int = 0) -> Progress:
        """A bar over `total` files, `done` of them consumed before this invocation: the display factory the
        dataset examples' engine is handed (jaxviz.dataset_examples.scan.NewDisplay)."""
        return cls(Work("files", total, done=done))

    @property
    def live(self) -> bool:
        """Whether this is a live terminal bar (redrawn by rich's own thread)."""
        return self.out.live

    def _count(self, done: float, within: tuple[float, int] | None = None) -> str:
        part = f"{int(within[0])}/{within[1]} | " if within is not None else ""
        return f"{part}{int(done)}/{self.total} {self.work.unit}"

    def _work_seconds(self) -> tuple[float, float]:
        """(seconds of work since the start: compiling and phases taken out, seconds spent compiling in them)."""
        compiled = compile_clock.seconds() - self.compile0 - self.phase_compile
        return time.perf_counter() - self.start - self.phase_seconds - compiled, compiled

    def measured(self, unit_cost: float = 0.0) -> None:
        """A chunk (or batch) finished, its units costing `unit_cost` each: time left can be estimated from here on.

        Until a layer at least a tenth as costly per unit as the work's heaviest has been measured, the rate is at
        least the backend's PRIOR_GFLOPS: a light layer's steps are mostly dispatch, and its rate in GFLOP/s
        says nothing of a heavy layer's (block1_conv1 first made a 40 s run's estimate almost 3 minutes).
        """
        self.is_measured = True
        self.heavy_measured |= unit_cost >= 0.1 * self.work.heaviest

    def estimate(self, cost_done: float) -> float | None:
        """Seconds left, or None before a chunk was measured.

        The rate is cost per second with compiling and the per-layer phases taken out; each layer still to
        start adds what compiling and phases cost per layer so far (compiling is per program, not per filter:
        folding it into the rate made a 17 s run's first estimate 17 minutes).
        """
        if not self.is_measured:
            return None
        if cost_done >= self.total_cost:  # nothing left, whatever the clocks say (a rate can be unmeasurable)
            return 0.0
        work, compiled = self._work_seconds()
        rate = (cost_done - self.work.done_cost) / work if work > 0 else 0.0
        if not self.heavy_measured:
            rate = max(rate, PRIOR_GFLOPS.get(_backend(), PRIOR_GFLOPS["gpu"]))
        if rate <= 0:
            return None
        per_layer = (compiled + self.phase_seconds) / max(self.finished_layers, 1)
        return max(self.total_cost - cost_done, 0.0) / rate + per_layer * max(self.work.layers - len(self.seen), 0)

    def update(
        self,
        phase: str,
        done: float,
        cost_done: float | None = None,
        within: tuple[float, int] | None = None,
        force: bool = False,
    ) -> None:
        """`done`: units finished overall (fractional within a chunk; shown whole), `cost_done` their cost (None:
        `done`); `within`: (done, total) within `phase` (a layer), shown before the overall count; `phase` is
        shown first. The rate is units per second of work (compiling and phases taken out, as for time left).
        `force`: drawn now even where lines are rate-limited (the last update)."""
        if not self.enabled:
            return
        cost_done = done if cost_done is None else cost_done
        self.state = (phase, done, cost_done)
        self.seen.add(phase)
        work, _ = self._work_seconds()
        rate = (done - self.work.done) / work if work > 0 else 0.0
        self._bar.update(
            self._task,
            description=phase,
            completed=min(cost_done, self.total_cost),
            count=self._count(done, within),
            rate=f"{rate:.2f} {self.work.unit}/s",
            elapsed=clock(time.perf_counter() - self.start),
            compiling=f"{compile_clock.seconds() - self.compile0:.1f} s",
            left=self.estimate(cost_done),
        )
        self.out.emit(force)

    def status(self, text: str) -> None:
        """Show `text` (e.g. "compiling") in the phase's place until the next update; nothing is timed apart."""
        if self.enabled:
            self._bar.update(self._task, description=text)
            self.out.emit(force=True)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Show `name` (e.g. "quality numbers", "atlas") while the work inside runs, then the layer again; its
        seconds (and compiles) are taken out of the rate. A "grid" phase ends a layer."""
        layer, t0, c0 = self.state[0], time.perf_counter(), compile_clock.seconds()
        if self.enabled:
            self._bar.update(self._task, description=name)
            self.out.emit(force=True)
        try:
            yield
        finally:
            self.phase_seconds += time.perf_counter() - t0
            self.phase_compile += compile_clock.seconds() - c0
            if name == "grid":
                self.finished_layers += 1
            if self.enabled:
                self._bar.update(self._task, description=layer)

    def close(self) -> None:
        """A full bar when everything was done; the line left on the terminal (or the notebook) either way."""
        if self.enabled:
            self.out.close()
