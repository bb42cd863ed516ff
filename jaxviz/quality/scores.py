"""The quality numbers from the passes: robustness (a ratio of activations), selectivity, per-layer summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxviz.quality.passes import COPIES, measure


def robustness(params: dict, layer: str, images: np.ndarray, filters: Sequence[int], **perturbation: Any) -> np.ndarray:
    """(N,) mean activation of filter filters[i] over `copies` perturbed copies of image i, over its unperturbed one.

    `perturbation`: `measure`'s copies (default COPIES), seed, max_shift, scales (SCALES), degrees (DEGREES).
    Each copy is rolled (wrapping round) by up to `max_shift` px in y and x (default: side // 16), zoomed
    by U(scales) and rotated by U(-degrees, degrees) about the centre, grey outside (`random_affine`).
    Copy c of filter f draws from fold_in(fold_in(fold_in(key(seed), tag), f), c): the same whatever the
    batching, order or `copies`. 0 where the unperturbed activation is <= DEAD_EPS; 1 is fully robust; above 1
    is possible. Raises ValueError for copies < 1 (and as `measure`).
    """
    if perturbation.get("copies", COPIES) < 1:
        raise ValueError(f"copies must be >= 1, got {perturbation['copies']}")
    return measure(params, layer, images, filters, **perturbation)[1]


def selectivity(means: np.ndarray, filters: Sequence[int]) -> np.ndarray:
    """(N,) bool: image i activates filters[i] strictly more than every other image of the set does.

    `means` is channel_means of the set's images (row j: image j). Ties, and a set of one image (no
    rival to beat, so no evidence), count as not selective; `evaluate` reports the latter as None.
    """
    means, filters = np.asarray(means), np.asarray(filters, np.int64)
    n = len(filters)
    if n < 2:
        return np.zeros(n, bool)
    columns = means[:n, filters]  # columns[j, i]: image j's activation of filter filters[i]
    own = np.diagonal(columns).copy()
    np.fill_diagonal(columns, -np.inf)
    return own > columns.max(axis=0)


def evaluate(params: dict, layer: str, images: np.ndarray, filters: Sequence[int], **options: Any) -> list[dict]:
    """One dict per image: display_activation, robustness (see `robustness`; relative to display_activation),
    selective (see `selectivity`; None when there is only one image). `options`: `measure`'s (copies, seed,
    spent, ...). Raises ValueError for copies < 1."""
    if options.get("copies", COPIES) < 1:
        raise ValueError(f"copies must be >= 1, got {options['copies']}")
    means, robust = measure(params, layer, images, filters, **options)
    own = means[np.arange(len(filters)), np.asarray(filters, np.int64)]
    selective = selectivity(means, filters)
    return [
        {
            "display_activation": float(own[i]),
            "robustness": float(robust[i]),
            "selective": bool(selective[i]) if len(filters) > 1 else None,
        }
        for i in range(len(filters))
    ]


def summarize(rows: Sequence[dict]) -> dict:
    """Layer summary of `evaluate` rows: means of the two numbers, fraction selective (None if undefined)."""
    judged = [r["selective"] for r in rows if r["selective"] is not None]
    return {
        "display_activation_mean": float(np.mean([r["display_activation"] for r in rows])) if rows else 0.0,
        "robustness_mean": float(np.mean([r["robustness"] for r in rows])) if rows else 0.0,
        "selectivity": float(np.mean(judged)) if judged else None,
    }
