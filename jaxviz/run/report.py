"""What a run reports: one record per layer, metrics.json's document (run/metrics_file.py writes and reads the
file), a layer's grid, its per-filter PNGs (run/filter_pngs.py) and its TensorBoard summary; with transparency maps,
the grid shows each image's alpha over a neutral grey and TensorBoard gets the images with their alpha."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxviz.ascent.records import filter_record, layer_summary
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.model.network import layer_file
from jaxviz.run import filter_pngs, metrics_file
from jaxviz.run.chunk_store import FilterResult
from jaxviz.run.session import layer_grid
from jaxviz.runtime.images import save_png
from jaxviz.show.display import any_alpha


@dataclass
class LayerRecord:
    """Everything a run knows about one layer (`name`) its directory holds.

    `filters`: the filters this run shows (its targets, or every stored one for a layer it only holds);
    `share`: this process's part of them; `done`: stored results; `summary`: set once finished this run;
    `scores`: quality numbers by filter; `times`: seconds by phase (kept across invocations); `labels`: a name per
    filter where the model has them (Network.labels: a classifier's class names), each record's "label".
    """

    name: str
    filters: list[int]
    target: bool
    share: list[int] = field(default_factory=list)
    done: dict[int, FilterResult] = field(default_factory=dict)
    cost: float = 0.0  # of one filter, for the progress bar
    summary: dict | None = None
    scores: dict[int, dict] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    labels: tuple[str, ...] = ()  # a name per filter where the model has them (Network.labels: a logit's class)

    @property
    def todo(self) -> list[int]:
        """This process's filters not stored yet."""
        return [f for f in self.share if f not in self.done]

    def records(self) -> list[dict]:
        """metrics.json rows of the filters shown that are stored, with their class name ("label", where `labels`
        has one) and their quality numbers."""
        rows = []
        for f in self.filters:
            if f in self.done:
                r = self.done[f]
                named = {"label": self.labels[f]} if f < len(self.labels) else {}
                rows.append({**filter_record(self.name, f, r.history, r.nan_step), **named, **self.scores.get(f, {})})
        return rows


def previous_times(out: Path) -> dict[str, dict[str, float]]:
    """metrics.json's per-layer seconds from an earlier invocation (empty when there is none, or it is damaged)."""
    try:
        layers = (metrics_file.read(out) or {}).get("layers", {})
        return {la: {k: float(v) for k, v in s.items() if k.endswith("seconds")} for la, s in layers.items()}
    except (JaxvizError, ValueError, TypeError):  # unreadable, damaged, or a time that is not a number
        return {}


def metrics(layers: dict[str, LayerRecord]) -> dict:
    """metrics.json: the target layers finished so far and every other layer the run directory holds.

    A layer an interruption left unfinished says "partial": true with its `planned` filter count; the
    document is partial when any layer is.
    """
    from jaxviz import quality

    records, summaries = [], {}
    for name, layer in layers.items():
        if layer.target and layer.summary is None:
            continue
        rows = layer.records()
        records += rows
        summary = layer_summary(name, rows)
        measured = [layer.scores[r["filter"]] for r in rows if r["filter"] in layer.scores]
        if measured:
            summary.update(quality.summarize(measured))
        summary.update(layer.times)
        if layer.summary and layer.summary.get("partial"):
            summary.update(partial=True, planned=len(layer.filters))
        summaries[name] = summary
    doc = {"filters": records, "layers": summaries}
    if any(s.get("partial") for s in summaries.values()):
        doc["partial"] = True
    return doc


def finish_layer(cfg: Config, out: Path, writer, layer: str, record: LayerRecord, step: int, curve: int) -> dict:
    """Write `layer`'s grid, RUN/<file>.png (network.layer_file: a module path's "/" is no folder; black tiles where
    a filter is not done) and its TensorBoard summary, tagged `<file>/...` (one group per layer, as TensorBoard
    groups tags by their first "/"); its summary.

    With transparency maps (any filter has one) the grid PNG shows each image's alpha over a neutral grey
    (display.ALPHA_BACKGROUND), TensorBoard's `<layer>/grid` is the RGBA grid (the images with their alpha) and
    `<layer>/alpha` the maps themselves (white: where each filter looks). `step`: the TensorBoard step for the grid
    and counts; `curve`: the first step of the per-ascent-step activation curve (0 the first time, after what the
    event files hold on later passes).
    """
    filters, results, tag = record.filters, record.done, layer_file(layer)
    image = layer_grid(cfg, filters, results)
    save_png(out / f"{tag}.png", image)
    present = [f for f in filters if f in results]
    if cfg.output.filter_pngs:
        for f in present:
            filter_pngs.write(out, layer, f, results[f].tile, results[f].alpha)
    if present:
        history = np.stack([results[f].history for f in present])
        for s in range(history.shape[1]):
            column = history[:, s][np.isfinite(history[:, s])]
            if column.size:
                scalars = {f"{tag}/activation_mean": column.mean(), f"{tag}/activation_max": column.max()}
                writer.write_scalars(curve + s, scalars)
    summary = layer_summary(layer, [filter_record(layer, f, results[f].history, results[f].nan_step) for f in present])
    writer.write_scalars(step, {f"{tag}/dead_filters": summary["dead"], f"{tag}/nan_filters": summary["nan"]})
    if any_alpha({f: results[f] for f in present}):
        rgba, maps = layer_grid(cfg, filters, results, "rgba"), layer_grid(cfg, filters, results, "alpha")
        writer.write_images(step, {f"{tag}/grid": rgba, f"{tag}/alpha": maps})
    else:
        writer.write_images(step, {f"{tag}/grid": image})
    writer.flush()
    if len(present) < len(filters):
        summary["partial"] = True
    return summary
