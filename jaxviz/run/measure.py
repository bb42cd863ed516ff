"""A layer's quality numbers for metrics.json and TensorBoard, cached beside its chunks.

Each filter's tile is measured once (its channel means as displayed and its robustness) and kept in
RUN/state/<layer>.quality.npz, so resuming a finished run measures nothing again; selectivity is
recomputed from the cached means for whatever set of filters the run shows.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from jaxviz.files import atomic_write
from jaxviz.run.state import FilterResult


def _read(path: Path) -> dict[int, tuple[np.ndarray, float]]:
    try:
        with np.load(path) as z:
            return {int(f): (m, float(r)) for f, m, r in zip(z["filters"], z["means"], z["robustness"])}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return {}  # missing or damaged: measured again


def _write(path: Path, cache: dict[int, tuple[np.ndarray, float]]) -> None:
    filters = sorted(cache)
    buf = io.BytesIO()
    np.savez(
        buf,
        filters=np.asarray(filters, np.int64),
        means=np.stack([cache[f][0] for f in filters]),
        robustness=np.asarray([cache[f][1] for f in filters], np.float32),
    )
    atomic_write(path, buf.getvalue())


def first_image(tile: np.ndarray, size: int) -> np.ndarray:
    """A filter's first image (a tile holds k images side by side when a filter has several)."""
    return tile[:, :size]


def measure_layer(
    params: dict, state_dir: Path, layer: str, filters: list[int], results: dict[int, FilterResult], size: int
) -> dict[int, dict]:
    """{filter: {display_activation, robustness, selective}} for `filters` (those with results)."""
    from jaxviz import quality

    path = state_dir / f"{layer}.quality.npz"  # beside, not among, the chunks
    cache = _read(path)
    todo = [f for f in filters if f in results and f not in cache]
    if todo:
        images = np.stack([first_image(results[f].tile, size) for f in todo])
        means = quality.channel_means(params, layer, images)
        robust = quality.robustness(params, layer, images, todo)
        cache.update({f: (means[i], float(robust[i])) for i, f in enumerate(todo)})
        _write(path, cache)
    return _rows(cache, filters)


def cached(state_dir: Path, layer: str, filters: list[int]) -> dict[int, dict]:
    """The quality numbers already measured for `filters` of `layer` (nothing computed)."""
    return _rows(_read(state_dir / f"{layer}.quality.npz"), filters)


def _rows(cache: dict[int, tuple[np.ndarray, float]], filters: list[int]) -> dict[int, dict]:
    from jaxviz import quality

    shown = [f for f in filters if f in cache]
    if not shown:
        return {}
    means = np.stack([cache[f][0] for f in shown])
    selective = quality.selectivity(means, shown)
    return {
        f: {
            "display_activation": float(means[i, f]),
            "robustness": cache[f][1],
            "selective": bool(selective[i]) if len(shown) > 1 else None,
        }
        for i, f in enumerate(shown)
    }
