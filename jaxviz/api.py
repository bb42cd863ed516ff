"""The notebook API: `jaxviz.visualize(layer, filters, preset=..., **settings)` -> images and numbers.

Built on the same pieces as the command line (config, the chunk runner, display, metrics, quality);
nothing is written to disk. The lower level is the ascent library: `jaxviz.ascent.ascend(params, Spec, filters,
Knobs)` or `jaxviz.ascent.LayerAscent(params, Spec, Knobs, mesh)`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from jaxviz import config as config_lib
from jaxviz import presets
from jaxviz.config import Config
from jaxviz.errors import JaxvizError


@dataclasses.dataclass(frozen=True)
class Result:
    """What `visualize` returns: one row per filter, in the order asked for."""

    layer: str
    filters: list[int]
    images: np.ndarray  # (N, H, W, 3) uint8, as displayed (k images per filter side by side)
    activations: np.ndarray  # (N,) float32, final mean activation of each filter during the ascent
    metrics: list[dict]  # per filter, as in metrics.json (with the quality numbers)
    config: Config  # the resolved config that made them

    def grid(self, columns: int = 0, margin: int = 5) -> np.ndarray:
        """All images in one uint8 grid (for display or saving)."""
        from jaxviz.images import grid

        return grid(self.images, columns, margin)


def _keys() -> dict[str, list[str]]:
    """Short name -> dotted keys that end in it ("steps" -> ["ascent.steps"]; an ambiguous one lists several)."""
    out: dict[str, list[str]] = {}
    for key in config_lib.as_flat_dict(Config()):
        if key.startswith("examples."):  # jaxviz.examples() is their API; `size=` here is the ascent's
            continue
        out.setdefault(key.rsplit(".", 1)[1], []).append(key)
    return out


def _settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword settings -> dotted config keys: `size=128` or `ascent__size=128` (or a dotted key in a dict)."""
    keys, out = _keys(), {}
    for name, value in settings.items():
        dotted = name.replace("__", ".")
        if "." in dotted:
            out[dotted] = value
        elif len(keys.get(name, [])) == 1:
            out[keys[name][0]] = value
        elif name in keys:
            raise JaxvizError(f"setting {name!r} is ambiguous; use one of {', '.join(keys[name])} (as section__key)")
        else:
            raise JaxvizError(f"unknown setting {name!r}; valid: {', '.join(sorted(keys))} (or section__key)")
    return out


def _filters(filters: Iterable[int] | int) -> list[int]:
    items = [filters] if isinstance(filters, numbers.Integral) else filters
    try:
        items = list(items)
    except TypeError:
        raise JaxvizError(f"filters must be integers (an int, a range or a list), got {filters!r}") from None
    bad = [f for f in items if isinstance(f, bool) or not isinstance(f, numbers.Integral)]
    if bad:
        raise JaxvizError(f"filters must be integers, got {bad[0]!r} ({type(bad[0]).__name__})")
    return [int(f) for f in items]


def visualize(
    layer: str,
    filters: Iterable[int] | int = range(16),
    preset: str = "book",
    weights: str = "",
    overrides: Mapping[str, Any] | None = None,
    quality: bool = True,
    **settings: Any,
) -> Result:
    """Visualise `filters` of one `layer` with a preset and any config settings, in one batched ascent.

    `layer` is one conv layer name (e.g. "block3_conv1"); "all" or several names raise JaxvizError rather
    than silently keeping one. Returns a Result: one row per filter, in the order asked for.

    `settings` are config keys by their short name (`size=128`, `steps=64`, `optimizer="adam"`) or as
    `section__key`; `overrides` takes dotted keys ({"objective.tv": 0.1}). `weights`: as --weights.
    """
    from jaxviz import ascent, display
    from jaxviz import quality as quality_lib
    from jaxviz.metrics import filter_record
    from jaxviz.run.plan import prepare
    from jaxviz.weights import find_and_load

    cfg = config_lib.load(presets.path(preset))
    updates = {**_settings(settings), **dict(overrides or {})}
    updates.update({"target.layers": layer, "target.filters": tuple(_filters(filters))})
    if weights:
        updates["model.weights"] = weights
    cfg = config_lib.apply(cfg, updates)
    p = prepare(cfg)
    from jaxviz import compile_cache

    compile_cache.enable(cfg.ascent.compile_cache)
    if len(p.targets) != 1:
        raise JaxvizError(
            f"visualize takes one layer, got {len(p.targets)} ({', '.join(p.targets)}) from {layer!r}; call it once "
            f"per layer, or use the command line (scripts/visualize.py --layers ...) for several"
        )
    (layer_name, wanted), *_ = p.targets.items()
    params = find_and_load(cfg.model.weights, cfg.model.download)
    engine = ascent.LayerAscent(params, p.specs[layer_name], p.knobs, ascent.filter_mesh())
    o = cfg.output
    rows, tiles, firsts = [], [], []
    for part, r in ascent.chunks(engine, wanted, cfg.ascent.chunk):
        shown = r.all_images if r.all_images is not None else r.images
        for i, f in enumerate(part):
            t = display.tile(shown[i], o.display, o.deprocess_std)
            tiles.append(t)
            firsts.append(t[:, : cfg.ascent.size])
            rows.append(filter_record(layer_name, f, r.history[i], int(r.nan_step[i])))
    if quality:
        for row, extra in zip(rows, quality_lib.evaluate(params, layer_name, np.stack(firsts), wanted)):
            row.update(extra)
    activations = np.asarray([r["activation"] if r["activation"] is not None else np.nan for r in rows], np.float32)
    return Result(layer_name, wanted, np.stack(tiles), activations, rows, cfg)
