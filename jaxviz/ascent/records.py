"""One filter's and one layer's numbers, as metrics.json, the notebook API and the atlas report them. No JAX.

A filter is dead when its mean activation never exceeded DEAD_EPS during the ascent and no update went
non-finite (a NaN filter keeps its last finite image instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# A mean activation at or below this never fired: the test of Keras' upscaling example (its filters whose
# loss stays at 0 are skipped); float32 noise around a shut ReLU stays far below it.
DEAD_EPS = 1e-7


def is_dead(history: Sequence[float] | np.ndarray, nan_step: int = -1) -> bool:
    """Whether a filter with this activation history never fired (and never went non-finite)."""
    if nan_step >= 0:
        return False
    h = np.asarray(history, np.float64)
    return not bool((h[np.isfinite(h)] > DEAD_EPS).any())


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
        "grid": f"{layer}.png",
    }
