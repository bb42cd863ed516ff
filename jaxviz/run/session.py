"""One process's work on a run: its share of each layer's filters, chunk by chunk, saved as it goes."""

from __future__ import annotations

import functools
import time

import numpy as np
from PIL import Image

from jaxviz.architecture import gflop_per_step
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.images import display as show
from jaxviz.images import grid, strip
from jaxviz.progress import Progress, clock
from jaxviz.run.state import FilterResult, Store

DEAD_EPS = 1e-7  # a filter whose activation never exceeds this never fired (the upscaling seed's test)
SNAPSHOT_SECONDS = 2.0  # live grid snapshots at most this often: each is a grid build + PNG encode


def out_of_memory(error: BaseException) -> bool:
    """Whether `error` is XLA running out of device memory (worth retrying with a smaller chunk)."""
    import jax

    return isinstance(error, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" in str(error)


def filter_cost(cfg: Config, layer: str) -> float:
    """GFLOP to ascend one filter of `layer`: what the progress bar's time left is weighted by."""
    a = cfg.ascent
    return gflop_per_step(layer, a.size) * (a.steps * a.stages + 1) * cfg.objective.images


def display(image: np.ndarray, cfg: Config) -> np.ndarray:
    """A float image as the run shows it (output.display, output.deprocess_std)."""
    return show(image, cfg.output.display, cfg.output.deprocess_std)


def tile(result_images: np.ndarray, cfg: Config) -> np.ndarray:
    """One filter's tile: its image, or its k images side by side."""
    if result_images.ndim == 3:
        return display(result_images, cfg)
    return strip(np.stack([display(im, cfg) for im in result_images]))


def layer_grid(cfg: Config, filters: list[int], results: dict[int, FilterResult]) -> np.ndarray:
    """The layer's grid: a tile per filter (black where none is stored yet), optionally by activation.

    A filter that never fired shows `images.dead_tile` instead of its starting noise; its stored tile is kept.
    """
    from jaxviz.images import dead_tile

    order = list(filters)

    def final(f: int) -> float:
        known = f in results and results[f].history is not None
        return float(np.nan_to_num(results[f].history[-1], nan=-np.inf)) if known else -np.inf

    def dead(f: int) -> bool:  # metrics.json's `dead`, less NaN filters: those keep their last finite image
        r = results.get(f)
        if r is None or r.history is None or r.nan_step >= 0:
            return False  # a live snapshot's history is None: still ascending, not judged yet
        history = np.asarray(r.history, np.float64)
        return not (history[np.isfinite(history)] > DEAD_EPS).any()

    if cfg.output.sort or cfg.output.grid == "best_square":
        order.sort(key=lambda f: -final(f))
    if cfg.output.grid == "best_square":  # Keras' upscaling example: drop silent filters, keep the n*n strongest
        live = [f for f in order if final(f) > DEAD_EPS]
        order = live[: int(np.sqrt(len(live))) ** 2] or order[:1]
    shape = next((results[f].tile.shape for f in order if f in results), (cfg.ascent.size, cfg.ascent.size, 3))
    blank, mark = np.zeros(shape, np.uint8), dead_tile(shape)
    tiles = np.stack([(mark if dead(f) else results[f].tile) if f in results else blank for f in order])
    return grid(tiles, cfg.output.columns, cfg.output.margin)


class Session:
    """The state one process threads through its layers and chunks: progress, live TensorBoard."""

    def __init__(self, cfg: Config, store: Store, writer, bar: Progress, step: int = 0):
        """`step`: the first TensorBoard step this invocation may write (past what the event files hold)."""
        self.cfg, self.store, self.writer, self.bar = cfg, store, writer, bar
        self.finished, self.cost = bar.base, bar.base_cost
        self.global_step = step
        self.last_snapshot = -float("inf")
        self.started = time.perf_counter()
        self.estimated = False  # the measured estimate is printed once, after the first chunk

    def on_step(self, layer: str, filters: list[int], results: dict, part: list[int], s: int, act, images) -> None:
        a, out_cfg = self.cfg.ascent, self.cfg.output
        self.global_step += 1
        frac = len(part) * s / (a.steps * a.stages)
        layer_done = sum(f in results for f in filters) + frac
        cost = self.cost + frac * filter_cost(self.cfg, layer)
        self.bar.update(layer, self.finished + frac, layer_done, len(filters), cost)
        finite = act[np.isfinite(act)]
        if finite.size:
            self.writer.write_scalars(
                self.global_step,
                {f"live/{layer}/activation_mean": finite.mean(), f"live/{layer}/activation_max": finite.max()},
            )
        every = out_cfg.snapshot_every
        due = every and s % every == 0 and s < a.steps * a.stages
        if due and time.monotonic() - self.last_snapshot >= SNAPSHOT_SECONDS:
            self.last_snapshot = time.monotonic()
            live = dict(results)
            for f, image in zip(part, images()):
                live[f] = FilterResult(self._live_tile(image), None, -1)
            self.writer.write_images(self.global_step, {f"{layer}/grid": layer_grid(self.cfg, filters, live)})

    def _live_tile(self, images: np.ndarray) -> np.ndarray:
        """A filter's k images (k, side, side, 3) mid-ascent as a tile the shape of a finished one: an
        upscaling stage's image is smaller than the final size, and the grid needs one tile shape."""
        k, size = len(images), self.cfg.ascent.size
        shown = tile(images if k > 1 else images[0], self.cfg)
        if images.shape[1] != size:
            want = tile(np.zeros((k, size, size, 3), np.float32) if k > 1 else np.zeros((size, size, 3)), self.cfg)
            shown = np.asarray(Image.fromarray(shown).resize((want.shape[1], want.shape[0]), Image.BILINEAR))
        return shown

    def _first_estimate(self, layer: str) -> None:
        """After the first chunk: one line with its measured time and the time the rest should take."""
        self.bar.chunk_measured()
        if self.estimated:
            return
        self.estimated = True
        left = self.bar.estimate(self.cost)
        if left is not None and self.bar.enabled:
            print(
                f"jaxviz: first chunk of {layer} took {time.perf_counter() - self.started:.1f} s (compiling "
                f"included); the rest should take about {clock(left)}",
                flush=True,
            )

    def run_layer(self, engine, filters: list[int], results: dict, shown: list[int]) -> None:
        """Ascend every filter of `filters` not yet in `results` with `engine` (an ascent.LayerAscent).

        Each chunk is saved as it finishes. On an out-of-memory error the chunk is halved and retried;
        at one filter per device it is an error. `shown`: the layer's filters in the live grid.
        """
        from jaxviz import ascent

        a, layer = self.cfg.ascent, engine.layer
        self.last_snapshot = -float("inf")  # every layer gets its first live snapshot
        todo = [f for f in filters if f not in results]
        n_dev = engine.n_devices
        chunk = a.chunk or (ascent.auto_chunk(layer, a.size, len(todo), n_dev, a.precision) if todo else 1)
        chunk = ascent.round_up(chunk, n_dev)
        while todo:
            part = todo[:chunk]
            on_step = functools.partial(self.on_step, layer, shown, results, part)
            try:
                r = engine(part, chunk, on_step)
            except Exception as e:
                if not out_of_memory(e):
                    raise
                if chunk <= n_dev:
                    raise JaxvizError(
                        f"out of device memory for {layer} at {a.size} px even with one filter per device; "
                        f'lower ascent.size, or try ascent.precision="bfloat16"'
                    ) from None
                chunk = ascent.round_up(chunk // 2, n_dev)
                print(f"jaxviz: warning: {layer}: out of device memory; retrying with chunks of {chunk}", flush=True)
                continue
            images = r.all_images if r.all_images is not None else r.images
            new = [FilterResult(tile(im, self.cfg), h, int(n)) for im, h, n in zip(images, r.history, r.nan_step)]
            self.store.save(layer, part, new)
            results.update(zip(part, new))
            todo = todo[len(part) :]
            self.finished += len(part)
            self.cost += len(part) * filter_cost(self.cfg, layer)
            self._first_estimate(layer)
            for f, res in zip(part, new):
                if res.nan_step >= 0:
                    print(
                        f"jaxviz: warning: {layer} filter {f}: non-finite update at step {res.nan_step}; "
                        f"kept its last finite image",
                        flush=True,
                    )
        layer_done = sum(f in results for f in shown)
        self.bar.update(layer, self.finished, layer_done, len(shown), self.cost, force=True)
