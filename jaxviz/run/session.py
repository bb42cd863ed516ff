"""One process's work on a run: its share of each layer's filters, chunk by chunk, saved as it goes."""

from __future__ import annotations

import time

import numpy as np
from PIL import Image

from jaxviz.config import Config
from jaxviz.model.network import Network, layer_file
from jaxviz.run.chunk_store import FilterResult, Store
from jaxviz.run.tiled_chunks import tile, tiled_chunks
from jaxviz.show import display
from jaxviz.show.progress import Progress, duration
from jaxviz.show.writers import MetricWriter

SNAPSHOT_SECONDS = 2.0  # live grid snapshots at most this often: each is a grid build + PNG encode


def filter_cost(cfg: Config, layer: str, network: Network | None = None) -> float:
    """GFLOP to ascend one filter of `layer` of `network` (default: cfg's model): what the progress bar's time left
    is weighted by. Each step costs what the model is fed (run_plan.fed_sizes: the stage's image after its
    transforms, or method.crops crops at the crop side, not ascent.size), for each of objective.images images; the
    final measure is one more step at the last stage's."""
    from jaxviz.run.run_plan import fed_sizes
    from jaxviz.run.translate import network_of

    a, network = cfg.ascent, network or network_of(cfg)
    views = max(cfg.method.crops, 1)  # crops per image per step (MACO's K), else the image itself
    per_step = [views * network.gflop_per_step(layer, fed) for _, fed in fed_sizes(cfg, network)]
    return (a.steps * sum(per_step) + per_step[-1]) * cfg.objective.images


def layer_grid(cfg: Config, filters: list[int], results: dict[int, FilterResult], mode: str = "over") -> np.ndarray:
    """The layer's grid of `filters` as the config lays it out (output.sort, grid, columns, margin), from what
    `results` holds, a filter with a transparency map shown as `mode` says (see display.layer_grid: "over" its
    alpha over a neutral grey, "image", "rgba", "alpha"): a uint8 (H, W, 3) image, (H, W, 4) for "rgba"."""
    o = cfg.output
    layout = display.GridLayout(o.sort, o.grid, o.columns, o.margin)
    return display.layer_grid(filters, results, cfg.ascent.size, layout, mode)


class Session:
    """The state one process threads through its layers and chunks: progress, live TensorBoard."""

    def __init__(
        self,
        cfg: Config,
        store: Store,
        writer: MetricWriter,
        bar: Progress,
        step: int = 0,
        network: Network | None = None,
    ):
        """`writer`: where live scalars and grids go (an AsyncWriter builds the grids off the critical path);
        `step`: the first TensorBoard step this invocation may write (past what the event files hold); `network`:
        the model when not cfg's (one handed over in Python)."""
        self.cfg, self.store, self.writer, self.bar, self.network = cfg, store, writer, bar, network
        self.finished, self.cost = bar.work.done, bar.work.done_cost
        self.global_step = step
        self.last_snapshot = -float("inf")
        self.started = time.perf_counter()
        self.estimated = False  # the measured estimate is printed once, after the first chunk

    def on_step(self, layer: str, filters: list[int], results: dict, part: list[int], s: int, act, images) -> None:
        """Progress, live scalars and (rate-limited) live grids after step `s` of the chunk `part`."""
        a, out_cfg, tag = self.cfg.ascent, self.cfg.output, layer_file(layer)  # TensorBoard's name for the layer
        self.global_step += 1
        frac = len(part) * s / (a.steps * a.stages)
        layer_done = sum(f in results for f in filters) + frac
        cost = self.cost + frac * filter_cost(self.cfg, layer, self.network)
        self.bar.update(layer, self.finished + frac, cost, within=(layer_done, len(filters)))
        finite = act[np.isfinite(act)]
        if finite.size:
            self.writer.write_scalars(
                self.global_step,
                {f"live/{tag}/activation_mean": finite.mean(), f"live/{tag}/activation_max": finite.max()},
            )
        every = out_cfg.snapshot_every
        due = every and s % every == 0 and s < a.steps * a.stages
        if due and time.monotonic() - self.last_snapshot >= SNAPSHOT_SECONDS:
            self.last_snapshot = time.monotonic()
            # Copies the snapshot owns: the ascent goes on changing its buffers (and `results`) meanwhile.
            done, newest = dict(results), np.array(images(), copy=True)

            def snapshot() -> dict[str, np.ndarray]:  # in the writer's thread, if it has one: tiles, grid
                live = dict(done)
                for f, image in zip(part, newest):
                    live[f] = FilterResult(self._live_tile(image), None, -1)
                return {f"{tag}/grid": layer_grid(self.cfg, filters, live)}

            self.writer.offer_images(self.global_step, snapshot)

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
        self.bar.measured(filter_cost(self.cfg, layer, self.network))
        if self.estimated:
            return
        self.estimated = True
        left = self.bar.estimate(self.cost)
        if left is not None and self.bar.enabled:
            print(
                f"jaxviz: first chunk of {layer} took {time.perf_counter() - self.started:.1f} s (compiling "
                f"included); the rest should take {duration(left)}",
                flush=True,
            )

    def run_layer(self, engine, filters: list[int], results: dict, shown: list[int]) -> None:
        """Ascend every filter of `filters` not yet in `results` with `engine` (an ascent.LayerAscent) through
        the chunk runner; each chunk is saved as it finishes. `shown`: the layer's filters in the live grid."""
        layer = engine.layer
        self.last_snapshot = -float("inf")  # every layer gets its first live snapshot

        def retry(size: int) -> None:
            print(f"jaxviz: warning: {layer}: out of device memory; retrying with chunks of {size}", flush=True)

        todo = [f for f in filters if f not in results]
        on_step = lambda part, s, act, images: self.on_step(layer, shown, results, part, s, act, images)  # noqa: E731
        for chunk in tiled_chunks(engine, todo, self.cfg, on_step, retry):
            self.store.save(layer, chunk.filters, chunk.results)
            results.update(zip(chunk.filters, chunk.results))
            self.finished += len(chunk.filters)
            self.cost += len(chunk.filters) * filter_cost(self.cfg, layer, self.network)
            self._first_estimate(layer)
            for f, res in zip(chunk.filters, chunk.results):
                if res.nan_step >= 0:
                    print(
                        f"jaxviz: warning: {layer} filter {f}: non-finite update at step {res.nan_step}; "
                        f"kept its last finite image",
                        flush=True,
                    )
        layer_done = sum(f in results for f in shown)
        self.bar.update(layer, self.finished, self.cost, within=(layer_done, len(shown)), force=True)
