"""What a run reports: per-filter records, per-layer summaries, metrics.json, a layer's grid and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from jaxviz.config import Config
from jaxviz.images import save_png
from jaxviz.run.session import DEAD_EPS, layer_grid
from jaxviz.run.state import FilterResult


def filter_record(layer: str, f: int, r: FilterResult) -> dict:
    """One filter's row of metrics.json: final, first and best mean activation, dead, NaN step, history."""
    final = float(r.history[-1])
    finite = [float(v) for v in r.history if math.isfinite(v)]
    return {
        "layer": layer,
        "filter": f,
        "activation": final if math.isfinite(final) else None,
        "initial_activation": finite[0] if finite else None,
        "max_activation": max(finite) if finite else None,
        "dead": bool(max(finite, default=0.0) <= DEAD_EPS),
        "nan": r.nan_step >= 0,
        "nan_step": r.nan_step if r.nan_step >= 0 else None,
        "history": [round(v, 6) if math.isfinite(v) else None for v in map(float, r.history)],
    }


def layer_summary(layer: str, records: list[dict]) -> dict:
    """A layer's numbers from its filters' records (means over the finite final activations)."""
    finals = [r["activation"] for r in records if r["activation"] is not None]
    return {
        "filters": len(records),
        "dead": sum(r["dead"] for r in records),
        "nan": sum(r["nan"] for r in records),
        "activation_mean": float(np.mean(finals)) if finals else 0.0,
        "activation_median": float(np.median(finals)) if finals else 0.0,
        "activation_max": float(np.max(finals)) if finals else 0.0,
        "grid": f"{layer}.png",
    }


def previous_layers(out: Path) -> dict[str, dict]:
    """metrics.json's per-layer entries from an earlier invocation (empty when there is none, or it is damaged)."""
    try:
        layers = json.loads((out / "metrics.json").read_text())["layers"]
        return layers if isinstance(layers, dict) else {}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def metrics(held: list[str], targets: dict, finished: dict, done: dict, extra: dict, scores: dict) -> dict:
    """metrics.json: the layers finished so far and every other layer the run directory holds.

    `finished`: layer -> summary of the layers this invocation finished (with "partial": true where an
    interruption left filters undone); `extra`: layer -> fields carried into its summary (seconds);
    `scores`: layer -> filter -> quality numbers. The document is partial when any layer is.
    """
    from jaxviz import quality

    records, layers = [], {}
    for layer in held:
        if layer in targets and layer not in finished:
            continue
        filters = targets.get(layer) or sorted(done[layer])
        rows = [filter_record(layer, f, done[layer][f]) for f in filters if f in done[layer]]
        measured = scores.get(layer, {})
        for row in rows:
            row.update(measured.get(row["filter"], {}))
        records += rows
        layers[layer] = layer_summary(layer, rows)
        if measured:
            layers[layer].update(quality.summarize([measured[r["filter"]] for r in rows if r["filter"] in measured]))
        layers[layer].update(extra.get(layer, {}))
        if finished.get(layer, {}).get("partial"):
            layers[layer].update(partial=True, planned=len(filters))
    doc = {"filters": records, "layers": layers}
    if any(s.get("partial") for s in layers.values()):
        doc["partial"] = True
    return doc


def finish_layer(
    cfg: Config, out: Path, writer, layer: str, filters: list[int], results: dict[int, FilterResult], step: int, curve
) -> dict:
    """Write `layer`'s grid (black tiles where a filter is not done) and its TensorBoard summary; its summary.

    `step`: the TensorBoard step for the grid and counts; `curve`: the first step of the per-ascent-step
    activation curve (0 the first time, after what the event files hold on later passes).
    """
    image = layer_grid(cfg, filters, results)
    save_png(out / f"{layer}.png", image)
    present = [f for f in filters if f in results]
    if cfg.output.filter_pngs:
        for f in present:
            save_png(out / "filters" / layer / f"{f:04d}.png", results[f].tile)
    if present:
        history = np.stack([results[f].history for f in present])
        for s in range(history.shape[1]):
            column = history[:, s][np.isfinite(history[:, s])]
            if column.size:
                scalars = {f"{layer}/activation_mean": column.mean(), f"{layer}/activation_max": column.max()}
                writer.write_scalars(curve + s, scalars)
    summary = layer_summary(layer, [filter_record(layer, f, results[f]) for f in present])
    writer.write_scalars(step, {f"{layer}/dead_filters": summary["dead"], f"{layer}/nan_filters": summary["nan"]})
    writer.write_images(step, {f"{layer}/grid": image})
    writer.flush()
    if len(present) < len(filters):
        summary["partial"] = True
    return summary
