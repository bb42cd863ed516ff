"""One filter's and one layer's numbers, as metrics.json, the notebook API and the atlas report them. No JAX.

A filter is dead when its mean activation never left zero (|mean| <= DEAD_EPS at every step of the ascent) and no
update went non-finite (a NaN filter keeps its last finite image instead). For a ReLU-like layer (its output >= 0, 0
meaning off: VGG's convolutions) that is "it never fired"; a layer whose output is signed (a classifier's logits, a
linear convolution, a BatchNorm) is alive below zero too: only a unit stuck at zero, whose image no gradient moved,
is dead. The history alone tells the two apart (a ReLU's mean is never negative), so every reader (metrics.json, the
grid) judges alike without knowing the layer: dead means its ascent never fired it. The atlas calls such a filter
"silent", not dead, when its image as displayed or real images fire it (`judged_by_its_image`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from jaxviz.model.network import layer_file

# A mean activation at or below this never fired: the test of Keras' upscaling example (its filters whose
# loss stays at 0 are skipped); float32 noise around a shut ReLU stays far below it.
DEAD_EPS = 1e-7


def is_dead(history: Sequence[float] | np.ndarray, nan_step: int = -1) -> bool:
    """Whether a filter with this mean-activation history (after the layer's nonlinearity) never left zero (every
    finite value within DEAD_EPS of it) and never went non-finite: for a ReLU-like layer, it never fired; for a
    signed one (logits), it is stuck at zero, not merely below it (see the module docstring)."""
    if nan_step >= 0:
        return False
    h = np.asarray(history, np.float64)
    return not bool((np.abs(h[np.isfinite(h)]) > DEAD_EPS).any())


def judged_by_its_image(record: dict, real_images_fire: bool = False) -> dict:
    """A metrics.json row (`dead`: is_dead over its ascent) as the atlas shows it: a filter its ascent never fired
    but that fires on its image as displayed (display_activation > DEAD_EPS: the quality numbers measure the image as
    shown, output.display's contrast stretch included, not the ascent's own) or on real images (`real_images_fire`:
    its dataset examples) did not "never fire": not dead but "silent" in its ascent (too few steps to wake it, say).
    `record` itself when there is no such evidence or the filter fired in its ascent."""
    shown = record.get("display_activation")
    image_fires = isinstance(shown, (int, float)) and not isinstance(shown, bool) and shown > DEAD_EPS
    if not record.get("dead") or not (image_fires or real_images_fire):
        return record
    return {**record, "dead": False, "silent": True}


def filter_record(layer: str, f: int, history: np.ndarray, nan_step: int) -> dict:
    """One filter's row of metrics.json: final, first and best mean activation, dead, NaN step, history."""
    final = float(history[-1])
    finite = [float(v) for v in history if math.isfinite(v)]
    return {
        "layer": layer,
        "filter": f,
        "activation": final if math.isfinite(final) else None,
        "initial_activation": finite[0] if finite else None,
        "max_activation": max(finite) if finite else None,
        "dead": is_dead(history, nan_step),
        "nan": nan_step >= 0,
        "nan_step": nan_step if nan_step >= 0 else None,
        "history": [round(v, 6) if math.isfinite(v) else None for v in map(float, history)],
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
        "grid": f"{layer_file(layer)}.png",  # RUN/<file>.png: a module path's "/" is no folder
    }
