"""A layer's quality numbers for metrics.json and TensorBoard, cached beside its chunks, and what they cost.

Each filter's tile is measured once (its channel means as displayed and its robustness) and kept in
RUN/state/<file>.quality.npz (<file>: the layer's file name, jaxviz.model.network.layer_file; filters (n,) int64, means
(n, C) of the layer's C channels, robustness (n,) float32; written and read here only), so resuming a finished run
measures nothing again; selectivity is recomputed from the cached means for whatever set of filters the run shows.
`estimate_seconds` says beforehand what measuring a layer will cost, so a run can skip it where it would outweigh the
ascent.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from jaxviz.model.network import layer_file
from jaxviz.run.chunk_store import FilterResult
from jaxviz.runtime.files import atomic_write, read_npz


def _path(state_dir: Path, layer: str) -> Path:
    return state_dir / f"{layer_file(layer)}.quality.npz"  # beside, not among, the chunks


def _read(path: Path) -> dict[int, tuple[np.ndarray, float]]:
    z = read_npz(path, ("filters", "means", "robustness"))
    if z is None:
        return {}  # missing or damaged: measured again
    return {int(f): (m, float(r)) for f, m, r in zip(z["filters"], z["means"], z["robustness"])}


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
    params: dict,
    state_dir: Path,
    layer: str,
    filters: list[int],
    results: dict[int, FilterResult],
    size: int,
    spent: dict | None = None,
    network: Any = None,
) -> dict[int, dict]:
    """{filter: {display_activation, robustness, selective}} for `filters` (those with results), of `network`'s
    `layer` (a jaxviz.model.network.Network; None: VGG16).

    `spent`, if given, is set to this call's "seconds" (wall, 0.0 when all were cached) and "compile_s"
    (of them).
    """
    from jaxviz import quality

    took = {"seconds": 0.0, "compile_s": 0.0}
    path = _path(state_dir, layer)
    cache = _read(path)
    todo = [f for f in filters if f in results and f not in cache]
    if todo:
        images = np.stack([first_image(results[f].tile, size) for f in todo])
        model = {} if network is None else {"network": network}
        means, robust = quality.measure(params, layer, images, todo, spent=took, **model)
        cache.update({f: (means[i], float(robust[i])) for i, f in enumerate(todo)})
        _write(path, cache)
    if spent is not None:
        spent.update(seconds=took["seconds"], compile_s=took["compile_s"])
    return _rows(cache, filters)


def estimate_seconds(
    state_dir: Path, layer: str, filters: list[int], results: dict[int, FilterResult], size: int, network: Any = None
) -> float:
    """Rough wall seconds `measure_layer` (same arguments) will take here: 0.0 if every filter is cached, else
    quality.estimate_seconds for the rest (the compiles this process has yet to make and the forward passes, at the
    figures its latest measuring took; before any: those measured on XLA:CPU). Nothing is compiled or run."""
    from jaxviz import quality

    cache = _read(_path(state_dir, layer))
    n = sum(f in results and f not in cache for f in filters)
    return quality.estimate_seconds(layer, size, n, **({} if network is None else {"network": network}))


def cached(state_dir: Path, layer: str, filters: list[int]) -> dict[int, dict]:
    """The quality numbers already measured for `filters` of `layer` (nothing computed)."""
    return _rows(_read(_path(state_dir, layer)), filters)


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
            "robustness": quality.number(cache[f][1]),  # None: nothing to measure (a signed layer, see quality)
            "selective": bool(selective[i]) if len(shown) > 1 else None,
        }
        for i, f in enumerate(shown)
    }
