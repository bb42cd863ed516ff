"""A layer's filters through the one chunk runner, each chunk's filters shown as the config shows them: a tile
(output.display, output.deprocess_std), its raw transparency map when the method keeps one, and a record
(metrics.json's row) per filter.

A run (which saves each chunk, writes live TensorBoard and tells its progress bar) and the notebook API (which
collects rows and tells its bar) both go through here, each with its own side effects around the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from jaxviz.ascent.records import filter_record
from jaxviz.config import Config
from jaxviz.run.chunk_store import FilterResult
from jaxviz.show import display

if TYPE_CHECKING:  # JAX: imported when a layer is ascended, not with this module
    from jaxviz.ascent.chunk_runner import ChunkStep
    from jaxviz.ascent.layer import LayerAscent


def tile(images: np.ndarray, cfg: Config) -> np.ndarray:
    """One filter's tile as `cfg` shows it: its float RGB image(s) on the 0-255 scale, (H, W, 3) or k of them
    (k, H, W, 3), to one uint8 (H, k * W, 3) strip (jaxviz.show.display.tile)."""
    return display.tile(images, cfg.output.display, cfg.output.deprocess_std)


class TiledChunk(NamedTuple):
    """One finished chunk: its filters, and for each (in that order) its tile, history, NaN step and raw
    transparency map (None without) as stored, and its metrics.json record (jaxviz.ascent.records.filter_record)."""

    filters: list[int]
    results: list[FilterResult]
    records: list[dict]


def tiled_chunks(
    engine: LayerAscent,
    filters: list[int],
    cfg: Config,
    on_step: ChunkStep | None = None,
    on_retry: Callable[[int], None] | None = None,
) -> Iterator[TiledChunk]:
    """Ascend `filters` with `engine` (a jaxviz.ascent.LayerAscent for one layer) through jaxviz.ascent.chunks in
    chunks of cfg.ascent.chunk (0: sized from device memory), and yield each chunk as it finishes, tiled.

    `on_step(part, step, activations, images)` and `on_retry(new chunk size)` are the chunk runner's. Raises
    JaxvizError when even one filter per device runs out of device memory; any other error propagates.
    """
    from jaxviz import ascent

    for part, r in ascent.chunks(engine, filters, cfg.ascent.chunk, on_step, on_retry):
        images = r.all_images if r.all_images is not None else r.images  # k images per filter: all of them
        alphas = r.alpha if r.alpha is not None else [None] * len(images)  # (N, size, size); None: not kept
        results = [
            FilterResult(tile(im, cfg), h, int(n), None if a is None else np.asarray(a, np.float32))
            for im, h, n, a in zip(images, r.history, r.nan_step, alphas)
        ]
        records = [filter_record(engine.layer, f, res.history, res.nan_step) for f, res in zip(part, results)]
        yield TiledChunk(part, results, records)
