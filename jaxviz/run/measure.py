"""A layer's quality numbers for metrics.json and TensorBoard, cached beside its chunks, and what they cost.

Each filter's tile is measured once (its channel means as displayed and its robustness) and kept in
RUN/state/<layer>.quality.npz (filters (n,) int64, means (n, C) of the layer's C channels, robustness (n,) float32;
written and read here only), so resuming a finished run measures nothing again; selectivity is
recomputed from the cached means for whatever set of filters the run shows. `estimate_seconds` says
beforehand what measuring a layer will cost, so a run can skip it where it would outweigh the ascent.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from jaxviz.model.architecture import CONV_LAYERS, gflop_per_step
from jaxviz.run.chunk_store import FilterResult
from jaxviz.runtime.files import atomic_write, read_npz


def _path(state_dir: Path, layer: str) -> Path:
    return state_dir / f"{layer}.quality.npz"  # beside, not among, the chunks


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
) -> dict[int, dict]:
    """{filter: {display_activation, robustness, selective}} for `filters` (those with results).

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
        means, robust = quality.measure(params, layer, images, todo, spent=took)
        _learn(layer, size, len(todo), took)
        cache.update({f: (means[i], float(robust[i])) for i, f in enumerate(todo)})
        _write(path, cache)
    if spent is not None:
        spent.update(seconds=took["seconds"], compile_s=took["compile_s"])
    return _rows(cache, filters)


# What `estimate_seconds` starts from, each replaced by what this process's latest measure_layer took.
# Measured on XLA:CPU (2 busy cores, quality.CPU_OPTIONS): compiles of 0.1 s per conv layer up to the
# measured one at 32 px (0.05 at 128 px) and 0.4 s for the copies (once per image shape), forward passes
# at 60-150 GFLOP/s. Other backends: a guess of 10 TFLOP/s until a layer has been measured.
_FIGURES = {"compile_s_per_layer": 0.1, "copies_compile_s": 0.4, "gflops": {"cpu": 60.0}}
_GUESS_GFLOPS = 1e4


def _forward_gflop(layer: str, size: int) -> float:
    return gflop_per_step(layer, size) / 2  # a step is a forward and an input-gradient backward of its cost


def _learn(layer: str, size: int, n: int, spent: dict) -> None:
    """Replace _FIGURES by what a measure_layer call took (the compiles it made, its forward rate)."""
    from jaxviz import quality

    if spent["measure_compile_s"]:
        _FIGURES["compile_s_per_layer"] = spent["measure_compile_s"] / (CONV_LAYERS.index(layer) + 1)
    if spent["copies_compile_s"]:
        _FIGURES["copies_compile_s"] = spent["copies_compile_s"]
    run = spent["seconds"] - spent["compile_s"]
    if run > 0.05:  # shorter is mostly dispatch, no measure of the rate
        passes, _ = quality.plan(layer, size, n)
        _FIGURES["gflops"][_backend()] = passes * _forward_gflop(layer, size) / run


def _backend() -> str:
    import jax

    return jax.default_backend()


def estimate_seconds(
    state_dir: Path, layer: str, filters: list[int], results: dict[int, FilterResult], size: int
) -> float:
    """Rough wall seconds `measure_layer` (same arguments) will take here: 0.0 if every filter is cached,
    else the compiles this process has yet to make and the forward passes, at the figures the latest
    call measured (before any: those measured on XLA:CPU). Nothing is compiled or run."""
    from jaxviz import quality

    cache = _read(_path(state_dir, layer))
    passes, compiles = quality.plan(layer, size, sum(f in results and f not in cache for f in filters))
    seconds = _FIGURES["compile_s_per_layer"] * (CONV_LAYERS.index(layer) + 1) if "measure" in compiles else 0.0
    seconds += _FIGURES["copies_compile_s"] if "copies" in compiles else 0.0
    return seconds + passes * _forward_gflop(layer, size) / _FIGURES["gflops"].get(_backend(), _GUESS_GFLOPS)


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
            "robustness": cache[f][1],
            "selective": bool(selective[i]) if len(shown) > 1 else None,
        }
        for i, f in enumerate(shown)
    }
