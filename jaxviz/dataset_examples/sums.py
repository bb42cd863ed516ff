"""Per-filter sums of the images' spatial means, exact: the same total for any batching, order or split.

Several processes each sum their share of the folder and process 0 adds the shares; a float sum would then
depend on where the shares were cut (float addition is not associative). Instead every float32 value is
split into an integer mantissa and an exponent, and integers add exactly: the running sum is an int64 per
band of exponents and filter, rounded once, at the end, to float64 (math.fsum of exactly representable terms).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

BAND = 8  # exponents per band: a 24-bit float32 mantissa shifted by < 8 bits stays below 2**32
LOWEST = -148  # the least exponent np.frexp gives a float32 (the smallest subnormal, 2**-149, is 0.5 * 2**-148)
BANDS = -(-(128 - LOWEST + 1) // BAND)  # exponents LOWEST..128 (float32's largest finite is just under 2**128)
MANTISSA = 24  # bits of a float32 mantissa: m * 2**24 is an integer for every float32 m that frexp returns

Sums = dict[str, np.ndarray]  # "bands" (C, BANDS) int64, "rest" (C,) float64 (non-finite values), "fires" (C,) int64


def empty(channels: int) -> Sums:
    """The sums before any image."""
    return {"bands": np.zeros((channels, BANDS), np.int64), "rest": np.zeros(channels, np.float64),
            "fires": np.zeros(channels, np.int64)}  # fmt: skip


def add(sums: Sums, rows: np.ndarray, fires: np.ndarray) -> Sums:
    """`sums` plus the rows (N, C) of N images' float32 values and their (C,) count of firing images.

    Exact while a band holds fewer than 2**31 images (int64 counts of values below 2**32).
    """
    x = np.asarray(rows, np.float32)
    finite = np.isfinite(x)
    m, e = np.frexp(np.where(finite, x, np.float32(0)))
    t = e.astype(np.int64) - LOWEST
    mantissa = np.ldexp(m.astype(np.float64), MANTISSA + t % BAND)  # an integer below 2**32, exactly
    channels = x.shape[1]
    slot = np.arange(channels)[None, :] * BANDS + t // BAND
    # bincount adds in float64: exact for fewer than 2**21 rows of values below 2**32
    added = np.bincount(slot.ravel(), weights=mantissa.ravel(), minlength=channels * BANDS)
    rest = np.where(finite, 0.0, x.astype(np.float64)).sum(axis=0)  # NaN or inf stays NaN or inf, in any order
    return {"bands": sums["bands"] + added.astype(np.int64).reshape(channels, BANDS), "rest": sums["rest"] + rest,
            "fires": sums["fires"] + np.asarray(fires, np.int64)}  # fmt: skip


def combine(parts: list[Mapping[str, np.ndarray]]) -> Sums:
    """The sums of several shares (integer addition: exact)."""
    return {key: sum(p[key] for p in parts[1:]) + parts[0][key] for key in ("bands", "rest", "fires")}


def total(sums: Mapping[str, np.ndarray]) -> np.ndarray:
    """The (C,) float64 totals, each the exact sum rounded once."""
    bands = sums["bands"]
    high, low = bands >> 32, bands & 0xFFFFFFFF  # each below 2**32 in magnitude: exact in float64
    scale = np.arange(BANDS) * BAND + LOWEST - MANTISSA
    terms = np.concatenate([np.ldexp(high.astype(np.float64), scale + 32), np.ldexp(low.astype(np.float64), scale)], 1)
    exact = np.array([math.fsum(row) for row in terms], np.float64).reshape(len(bands))
    return exact + sums["rest"]
