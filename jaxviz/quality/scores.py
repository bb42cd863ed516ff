"""The quality numbers from the passes: per image (displayed activation, robustness, selectivity), per layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxviz.quality.passes import COPIES, measure


def selectivity(means: np.ndarray, filters: Sequence[int]) -> np.ndarray:
    """(N,) bool: image i activates filters[i] strictly more than every other image of the set does.

    `means` is the channel means of the set's images (`measure`'s first array; row j: image j). Ties, and a set
    of one image (no rival to beat, so no evidence), count as not selective; `evaluate` reports the latter as None.
    """
    means, filters = np.asarray(means), np.asarray(filters, np.int64)
    n = len(filters)
    if n < 2:
        return np.zeros(n, bool)
    columns = means[:n, filters]  # columns[j, i]: image j's activation of filter filters[i]
    own = np.diagonal(columns).copy()
    np.fill_diagonal(columns, -np.inf)
    return own > columns.max(axis=0)


def number(x: float) -> float | None:
    """A quality number as a record holds it: None for NaN (a robustness with nothing to measure, see `measure`)."""
    x = float(x)
    return x if math.isfinite(x) else None


def evaluate(params: dict, layer: str, images: np.ndarray, filters: Sequence[int], **options: Any) -> list[dict]:
    """One dict per image: display_activation, robustness (`measure`'s second array: the activation on perturbed
    copies over display_activation; for a signed layer both from a blank image's, None where the image did not
    raise the filter above it), selective (see `selectivity`; None when there is only one image).
    `options`: `measure`'s (copies, seed, max_shift, scales, degrees, spent, network). Raises ValueError for copies < 1
    (and as `measure`)."""
    if options.get("copies", COPIES) < 1:
        raise ValueError(f"copies must be >= 1, got {options['copies']}")
    means, robust = measure(params, layer, images, filters, **options)  # options may name the `network`
    own = means[np.arange(len(filters)), np.asarray(filters, np.int64)]
    selective = selectivity(means, filters)
    return [
        {
            "display_activation": float(own[i]),
            "robustness": number(robust[i]),
            "selective": bool(selective[i]) if len(filters) > 1 else None,
        }
        for i in range(len(filters))
    ]


# Cycles per pixel above which spectral energy counts as high-frequency: half the Nyquist frequency (0.5).
HIGH_FREQUENCY = 0.25


def high_frequency(images: np.ndarray) -> np.ndarray:
    """(N,) float64 in [0, 1]: the fraction of each image's spectral energy above half the Nyquist frequency.

    `images` (N, H, W, C) (or one (H, W, C)), any dtype, as displayed (0-255). Per channel, the mean is removed and
    the image multiplied by a separable Hann window (so the FFT's implied periodic tiling adds no false edges at the
    borders: F. J. Harris, "On the use of windows for harmonic analysis with the discrete Fourier transform", Proc.
    IEEE 66(1), 1978); the power |FFT2|^2 is summed over channels, and the share of it (the zero frequency left out)
    at radial frequencies sqrt(fx^2 + fy^2) > HIGH_FREQUENCY cycles/pixel is the number. White noise gives about
    0.8 (the area of the frequency square outside that circle), a synthetic image whose power falls as 1/f^2 (natural
    images' law: D. J. Field, JOSA A 4(12), 1987) about 0.14, photographs resized to 128 px 0.02-0.10 (scikit-image's
    samples: coffee 0.023, astronaut 0.038, motorcycle 0.08-0.10), a smooth gradient about 0, a flat image 0.
    Raises ValueError for an array that is not (N, H, W, C) or (H, W, C)."""
    x = np.asarray(images, np.float64)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W, C) or (H, W, C), got shape {x.shape}")
    _, h, w, _ = x.shape
    x = x - x.mean(axis=(1, 2), keepdims=True)
    x = x * (np.hanning(h)[:, None] * np.hanning(w)[None, :])[None, :, :, None]
    power = (np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2).sum(axis=3)
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    total = power[:, radius > 0].sum(axis=1)
    high = power[:, radius > HIGH_FREQUENCY].sum(axis=1)
    return np.where(total > 0, high / np.where(total > 0, total, 1.0), 0.0)


def summarize(rows: Sequence[dict]) -> dict:
    """Layer summary of `evaluate` rows: means of the two numbers (the robustness over the filters that have one:
    None when none has), fraction selective (None if undefined)."""
    judged = [r["selective"] for r in rows if r["selective"] is not None]
    robust = [r["robustness"] for r in rows if r["robustness"] is not None]
    return {
        "display_activation_mean": float(np.mean([r["display_activation"] for r in rows])) if rows else 0.0,
        "robustness_mean": float(np.mean(robust)) if robust else (None if rows else 0.0),
        "selectivity": float(np.mean(judged)) if judged else None,
    }
