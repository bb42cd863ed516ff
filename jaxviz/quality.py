"""Measured image quality of finished visualisations: activation as displayed, robustness, selectivity.

Everything here takes the uint8 RGB tiles as saved (after deprocessing), not the float ascent images,
so the numbers describe what a reader actually sees. Work goes in fixed batches of BATCH images (or
perturbed copies of one image) per compiled call, so one compile serves each (layer, image shape).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxviz.architecture import CONV_WIDTHS
from jaxviz.ascent.engine import layer_params
from jaxviz.ascent.transforms import random_affine
from jaxviz.vgg import VGG16

EPS = 1e-7  # an unperturbed activation at or below this never fired: its robustness is 0
SCALES = (0.9, 1.1)  # zoom range of the robustness copies (uniform)
DEGREES = 10.0  # rotation range of the robustness copies: uniform in [-DEGREES, DEGREES]
SHIFT_FRACTION = 16  # default max shift: 1/16 of the image side (8 px at 128 px)
# Measured on XLA:CPU (2 cores, 128 px, forward only): 1 is at most ~20% faster than 2 at block3 but
# 1.5-2x slower at block5; 4 and 8 are no faster than 2 anywhere and hold more activations in memory.
BATCH = 2
_KEY_TAG = 0x0B05  # keeps these keys apart from the ascent's (seed, layer, filter) keys


@functools.cache
def _means_fn(layer: str) -> Callable:
    def fn(params: dict, images: jax.Array) -> jax.Array:
        return VGG16(upto=layer).apply({"params": params}, images.astype(jnp.float32)).mean(axis=(1, 2))

    return jax.jit(fn)


@functools.cache
def _perturbed_fn(layer: str, max_shift: int, scales: tuple, degrees: float) -> Callable:
    """(params, image, filter, seed, first) -> filter's mean activation on copies first..first + BATCH - 1."""

    def fn(params: dict, image: jax.Array, filt: jax.Array, seed: jax.Array, first: jax.Array) -> jax.Array:
        image = image.astype(jnp.float32)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), _KEY_TAG), filt)
        # fold_in per copy (not split): copy c is the same whatever `copies` or the batching is.
        keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(first + jnp.arange(BATCH))
        batch = jax.vmap(lambda k: random_affine(k, image, max_shift, scales, degrees))(keys)
        return VGG16(upto=layer).apply({"params": params}, batch, filt).mean(axis=(1, 2, 3))

    return jax.jit(fn)


def _checked(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3) RGB, got shape {images.shape}")
    return images


def _placed(params: dict, layer: str) -> dict:
    return jax.device_put(layer_params(params, layer))


def channel_means(params: dict, layer: str, images: np.ndarray) -> np.ndarray:
    """(N, C) post-ReLU mean activation of every channel of `layer` for uint8 (N, H, W, 3) RGB images."""
    images = _checked(images)
    n = len(images)
    if not n:
        return np.zeros((0, CONV_WIDTHS[layer]), np.float32)
    padded = np.concatenate([images, images[-1:].repeat(-n % BATCH, axis=0)])  # one shape, one compile
    fn, placed = _means_fn(layer), _placed(params, layer)
    out = [fn(placed, padded[i : i + BATCH]) for i in range(0, n, BATCH)]  # all dispatched before any is read
    return np.concatenate([np.asarray(o) for o in out])[:n]


def _perturbed_means(
    params: dict,
    layer: str,
    images: np.ndarray,
    filters: Sequence[int],
    copies: int,
    seed: int,
    max_shift: int | None,
    scales: tuple[float, float],
    degrees: float,
) -> np.ndarray:
    images = _checked(images)
    if len(images) != len(filters):
        raise ValueError(f"{len(images)} images but {len(filters)} filters")
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    shift = images.shape[1] // SHIFT_FRACTION if max_shift is None else int(max_shift)
    fn = _perturbed_fn(layer, shift, tuple(map(float, scales)), float(degrees))
    placed, seed_arr = _placed(params, layer), jnp.int32(seed)
    out = [
        [fn(placed, image, jnp.int32(f), seed_arr, jnp.int32(c)) for c in range(0, copies, BATCH)]
        for image, f in zip(images, filters)
    ]
    return np.asarray([np.concatenate([np.asarray(o) for o in row])[:copies].mean() for row in out], np.float32)


def _ratio(perturbed: np.ndarray, unperturbed: np.ndarray) -> np.ndarray:
    unperturbed = np.asarray(unperturbed, np.float32)
    live = unperturbed > EPS
    return np.where(live, perturbed / np.where(live, unperturbed, 1.0), 0.0).astype(np.float32)


def robustness(
    params: dict,
    layer: str,
    images: np.ndarray,
    filters: Sequence[int],
    copies: int = 8,
    seed: int = 0,
    max_shift: int | None = None,
    scales: tuple[float, float] = SCALES,
    degrees: float = DEGREES,
) -> np.ndarray:
    """(N,) mean activation of filter filters[i] over `copies` perturbed copies of image i, over its unperturbed one.

    Each copy is rolled (wrapping round) by up to `max_shift` px in y and x (default: side // 16), zoomed
    by U(scales) and rotated by U(-degrees, degrees) about the centre, grey outside (`random_affine`).
    Copy c of filter f draws from fold_in(fold_in(fold_in(key(seed), tag), f), c): the same whatever the
    batching, order or `copies`. 0 where the unperturbed activation is <= EPS; 1 is fully robust; above 1
    is possible.
    """
    perturbed = _perturbed_means(params, layer, images, filters, copies, seed, max_shift, scales, degrees)
    means = channel_means(params, layer, images)
    return _ratio(perturbed, means[np.arange(len(filters)), np.asarray(filters, np.int64)])


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


def evaluate(
    params: dict, layer: str, images: np.ndarray, filters: Sequence[int], copies: int = 8, seed: int = 0
) -> list[dict]:
    """One dict per image: display_activation, robustness (see `robustness`; relative to display_activation),
    selective (see `selectivity`; None when there is only one image)."""
    means = channel_means(params, layer, images)
    own = means[np.arange(len(filters)), np.asarray(filters, np.int64)]
    robust = _ratio(_perturbed_means(params, layer, images, filters, copies, seed, None, SCALES, DEGREES), own)
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
