"""The sweep atlas's cost per point (scripts/benchmark_sweep.py): seconds of the atlas refresh a sweep makes after
each point, for sweeps of 10, 40 and 160 small synthetic points.

A point is synthesised, not ascended, so the figure is the atlas's alone and JAX is not needed: its config.toml is
what a run records (`config.to_toml`, written by `run.recorded.write_config`), its metrics.json rows and summaries
come from `jaxviz.ascent.records` (the code a run reports with; written by `run.metrics_file.write`), its state chunks
hold random tiles (`run.chunk_store.write_chunk`), and index.json has the sweep's entries (`index_entry`, the shape
of `sweep.sweep_index.entry`). After each point the index is rewritten and `jaxviz.atlas.refresh(sweep_dir)` runs,
as `sweep.sweep_runner.sweep` calls it.
"""

from __future__ import annotations

import platform
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxviz import config as config_lib
from jaxviz.ascent.records import filter_record, layer_summary
from jaxviz.run import metrics_file, recorded
from jaxviz.run.chunk_store import FilterResult, write_chunk
from jaxviz.sweep import sweep_index


def _point_values(i: int) -> dict:
    return {"ascent.step": round(0.05 * (i + 1), 4)}


def write_point(run_dir: Path, i: int, layers: Sequence[str], filters: int, size: int, steps: int) -> dict:
    """A finished run directory of `filters` filters per layer, as a run leaves it; returns its per-layer summary."""
    rng = np.random.default_rng(i)
    cfg = config_lib.apply(
        config_lib.Config(),
        {
            "target.layers": ",".join(layers),
            "target.filters": f"0:{filters}",
            "ascent.size": size,
            "ascent.steps": steps,
            "output.dir": str(run_dir),
            **_point_values(i),
        },
    )
    recorded.write_config(run_dir, config_lib.to_toml(cfg))
    records, summaries = [], {}
    for layer in layers:
        tiles = rng.integers(0, 256, (filters, size, size, 3), dtype=np.uint8)
        history = np.cumsum(rng.random((filters, steps + 1), dtype=np.float32), axis=1)
        history[0] = 0.0  # one dead filter a layer, as real layers have
        write_chunk(run_dir, layer, list(range(filters)), [FilterResult(t, h, -1) for t, h in zip(tiles, history)])
        rows = [filter_record(layer, f, history[f], -1) for f in range(filters)]
        records += rows
        summaries[layer] = layer_summary(layer, rows)
    metrics_file.write(run_dir, {"filters": records, "layers": summaries})
    return summaries


def index_entry(i: int, status: str, summary: dict | None = None, seconds: float | None = None) -> dict:
    """Point i's entry of index.json (`summary`: write_point's)."""
    name = f"point-{i:04d}"
    return sweep_index.entry(name, name, _point_values(i), status, None, seconds, summary)


def sweep_of(root: Path, points: int, layers: Sequence[str], filters: int, size: int, steps: int) -> list[float]:
    """Run a synthetic sweep of `points` points in `root`; the seconds of each point's atlas refresh."""
    from jaxviz.atlas import refresh

    entries = [index_entry(i, "pending") for i in range(points)]
    axes = {"ascent.step": [_point_values(i)["ascent.step"] for i in range(points)]}

    def publish() -> None:
        sweep_index.write(root, sweep_index.document("grid", axes, config_lib.Config(), entries), layers)

    root.mkdir(parents=True, exist_ok=True)
    publish()
    seconds = []
    for i in range(points):
        summary = write_point(root / entries[i]["name"], i, layers, filters, size, steps)
        entries[i] = index_entry(i, "done", summary, 1.0)
        publish()
        t0 = time.perf_counter()
        refresh(root)
        seconds.append(time.perf_counter() - t0)
    return seconds


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def measure(sizes: Sequence[int], layers: list[str], filters: int, size: int, steps: int, where: str | None = None):
    """For each sweep size n: a sweep of n synthetic points, refreshed after each point; yields a row of figures
    (seconds per point on average and over the last tenth, the first point, all of them). `where`: the folder for
    the sweeps (default: a temporary one, deleted after)."""
    with tempfile.TemporaryDirectory(prefix="jaxviz-sweep-bench-", dir=where) as tmp:
        for n in sizes:
            seconds = sweep_of(Path(tmp) / f"sweep-{n}", n, layers, filters, size, steps)
            tail = seconds[-max(1, n // 10) :]  # the last tenth: what a point costs once the sweep is that large
            yield {
                "points": n,
                "mean_s_per_point": round(statistics.fmean(seconds), 4),
                "last_tenth_s_per_point": round(statistics.fmean(tail), 4),
                "first_s": round(seconds[0], 4),
                "total_s": round(sum(seconds), 2),
                "layers": layers,
                "filters": filters,
                "cpu": _cpu(),
            }
