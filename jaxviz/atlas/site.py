"""What the atlas shows, read from a run directory or a sweep directory, checked before anything is written.

Every file is read through the module of its format (run.metrics_file, run.recorded, sweep.sweep_index,
dataset_examples.examples_store), which checks it; none of them imports JAX.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxviz.dataset_examples import examples_store
from jaxviz.errors import JaxvizError
from jaxviz.run import metrics_file, recorded
from jaxviz.sweep import sweep_index

# What makes a directory a run: an ascent's files, or dataset examples alone (jaxviz-examples --out RUN writes only
# RUN/examples).
RUN_FILES = (metrics_file.NAME, recorded.CONFIG, f"{examples_store.FOLDER}/{examples_store.LISTING}")


@dataclass
class Run:
    """One run directory, as its pages show it."""

    path: Path
    name: str
    config: str  # the resolved config.toml ("" when absent)
    settings: dict[str, Any]  # the parsed [ascent] table, for the subtitle
    layers: dict[str, dict]  # layer -> metrics.json's summary, in network order
    records: dict[str, list[dict]]  # layer -> its filter records, by filter number
    model: str = "vgg16"  # the model's registry name (config.toml's [model] name)


@dataclass
class Point:
    """One point of a sweep: its swept values, its index.json entry and its run directory (DIR/<name>).

    Its run is not read here: a sweep's atlas reads only the points that changed since its last pass (`read_run`
    of `path`, when `has_run`), so that a pass costs the same at the 10th point and at the 160th.
    """

    name: str
    values: dict[str, Any]  # swept key -> value
    status: str
    entry: dict  # the index.json entry (error, seconds, per-layer stats)
    path: Path  # not entry["dir"]: the sweep directory may have been moved since

    @property
    def has_run(self) -> bool:
        """Whether its directory holds a run yet."""
        return self.path.is_dir() and _is_run(self.path)

    def entry_stats(self) -> dict[str, dict]:
        """Its index entry's per-layer numbers (what a point without a run yet shows)."""
        layers = self.entry.get("layers")
        return {la: s for la, s in layers.items() if isinstance(s, dict)} if isinstance(layers, dict) else {}


@dataclass
class Sweep:
    """A sweep directory: its axes, its resolved sweep.toml and its points."""

    path: Path
    name: str
    mode: str
    axes: dict[str, list]
    config: str  # sweep.toml ("" when absent)
    points: list[Point] = field(default_factory=list)


def _shown(r: dict) -> dict:
    """A checked record as the pages use it: Python's json reads NaN/Infinity, the pages treat them as None."""
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()}


def read_run(path: Path) -> Run:
    """A run directory: metrics.json (absent before its first layer finishes) and config.toml.

    Raises JaxvizError (one line) when metrics.json cannot be read or is damaged (see metrics_file.read).
    """
    metrics = metrics_file.read(path) or {"filters": []}
    summaries = metrics.get("layers", {})
    records: dict[str, dict[int, dict]] = {}
    for r in map(_shown, metrics["filters"]):
        records.setdefault(r["layer"], {})[r["filter"]] = r
    # metrics.json lists the layers in the model's order (any model's): its summaries, and its records layer by
    # layer (a layer an interruption left without a summary keeps its place among them).
    order = layer_order([[la for la in summaries if la in records], list(records)])
    rows = {layer: [records[layer][f] for f in sorted(records[layer])] for layer in order}
    layers = {layer: summaries.get(layer) or _summary(rows[layer]) for layer in rows}
    config = recorded.read_config(path) or ""
    model = recorded.model_name(config)
    return Run(path, path.resolve().name, config, recorded.ascent_table(config), layers, rows, model)


def layer_order(orders: Iterable[Sequence[str]]) -> list[str]:
    """One order of every layer in `orders` (each a model's order: a sweep point's layers, a run's metrics.json and
    its examples' images.json) that keeps each order: a layer new to the list goes just before the first of its
    successors in its own order already listed (VGG19's block3_conv4 before block4_conv1, so after block3_conv3),
    else at the end: a model's layers that no other model has follow the others'. Never sorts by name (a ResNet's
    or a Keras file's layers are not in alphabetical order)."""
    out: list[str] = []
    for order in dict.fromkeys(map(tuple, orders)):  # most points have the same layers: each order once
        listed = set(out)
        for i, layer in enumerate(order):
            if layer not in listed:
                out.insert(next((out.index(x) for x in order[i + 1 :] if x in listed), len(out)), layer)
                listed.add(layer)
    return out


def _summary(rows: list[dict]) -> dict:
    finals = [r["activation"] for r in rows if isinstance(r.get("activation"), (int, float))]
    return {
        "filters": len(rows),
        "dead": sum(bool(r.get("dead")) for r in rows),
        "nan": sum(bool(r.get("nan")) for r in rows),
        "activation_mean": sum(finals) / len(finals) if finals else None,
    }


def _is_run(path: Path) -> bool:
    """A run: an ascent's files, or dataset examples alone (jaxviz-examples --out RUN writes only RUN/examples)."""
    return any((path / name).is_file() for name in RUN_FILES)


def read_sweep(path: Path) -> Sweep:
    """A sweep directory: index.json, sweep.toml and its points (their runs are read by the caller, see Point).

    Raises JaxvizError (one line) when index.json is missing, cannot be read or is damaged (see sweep_index.read).
    """
    index = sweep_index.read(path)
    if index is None:
        raise JaxvizError(f"{str(path)!r} holds no {sweep_index.INDEX}; give a sweep directory")
    out = Sweep(path, path.resolve().name, index.mode, index.axes, sweep_index.read_sweep_toml(path))
    out.points = [Point(e["name"], e["values"], str(e.get("status", "")), e, path / e["name"]) for e in index.points]
    return out


def read(path: str | Path) -> Run | Sweep:
    """The run or sweep in `path`, or a one-line JaxvizError when it is neither or is damaged."""
    path = Path(path)
    if not path.is_dir():
        raise JaxvizError(f"{str(path)!r} is not a directory; give a run directory or a sweep directory")
    if (path / sweep_index.INDEX).is_file():
        return read_sweep(path)
    if _is_run(path):
        return read_run(path)
    raise JaxvizError(
        f"{str(path)!r} is neither a run directory (metrics.json, config.toml, examples/images.json) nor a sweep "
        "directory (index.json)"
    )
