"""Gradient ascent in input space: one filter's step, vmapped over a chunk of filters and jitted."""

from __future__ import annotations

import collections
import functools
import math
import os
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from jaxviz.config import AscentConfig
from jaxviz.vgg import CONV_LAYERS, VGG16, conv_geometry

# (layer, chunk, size, size, 3) -> times the step was traced; a retrace means a recompile.
TRACES: collections.Counter = collections.Counter()
_CPU_CHUNK_CAP = 1  # measured: on XLA:CPU one image at a time is fastest (cache); batching pays on GPUs


class AscentResult(NamedTuple):
    images: np.ndarray  # (N, size, size, 3) float32, RGB pixel space (0-255 before any clipping)
    history: np.ndarray  # (N, steps + 1) mean activation before each update, and after the last
    nan_step: np.ndarray  # (N,) first step whose update was not finite (image then frozen), -1: none


def _single_channel(layer: str) -> bool:
    # Computing only the target channel of the last conv saves ~15% at block3-5, but the grouped
    # convolution it turns into under vmap is slower than the full conv at block1's resolution.
    return not layer.startswith("block1_")


def objective(params: dict, image: jax.Array, filt: jax.Array, layer: str) -> jax.Array:
    """Mean activation of filter `filt` of `layer` for one (H, W, 3) RGB image."""
    model = VGG16(upto=layer)
    if _single_channel(layer):
        return model.apply({"params": params}, image[None], filt).mean()
    return model.apply({"params": params}, image[None])[0, :, :, filt].mean()


def normalize_gradient(g: jax.Array, how: str) -> jax.Array:
    """The seeds' gradient normalisations: by RMS (+1e-5), by L2 norm, or by max magnitude."""
    if how == "rms":
        return g / (jnp.sqrt(jnp.mean(g * g)) + 1e-5)
    if how == "l2":
        return g / (jnp.sqrt(jnp.sum(g * g)) + 1e-12)
    return g / (jnp.max(jnp.abs(g)) + 1e-12)


@functools.cache
def compiled_step(layer: str, step: float, normalize: str) -> Callable:
    """jit(vmap(one ascent step)) for `layer`: (params, images, filters) -> (images, act, finite)."""

    def one(params: dict, image: jax.Array, filt: jax.Array):
        act, g = jax.value_and_grad(objective, argnums=1)(params, image, filt, layer)
        new = image + step * normalize_gradient(g, normalize)
        finite = jnp.isfinite(act) & jnp.all(jnp.isfinite(new))
        return jnp.where(finite, new, image), act, finite

    def batched(params: dict, images: jax.Array, filters: jax.Array):
        TRACES[(layer, *images.shape)] += 1  # runs at trace time only
        return jax.vmap(one, in_axes=(None, 0, 0))(params, images, filters)

    return jax.jit(batched)


@functools.partial(jax.jit, static_argnames=("size",))
def init_images(seed: int, layer_index: int, filters: jax.Array, size: int, mean: float, noise: float):
    """Initial images, one per filter, each from its own (seed, layer, filter) key: chunking-proof."""
    base = jax.random.fold_in(jax.random.key(seed), layer_index)

    def one(f: jax.Array) -> jax.Array:
        return mean + noise * jax.random.uniform(jax.random.fold_in(base, f), (size, size, 3), jnp.float32)

    return jax.vmap(one)(filters)


def layer_params(params: dict, layer: str) -> dict:
    """Only the params VGG16 needs up to `layer` (so later layers' arrays never enter the jit)."""
    return {name: params[name] for name in CONV_LAYERS[: CONV_LAYERS.index(layer) + 1]}


def bytes_per_image(layer: str, size: int) -> int:
    """Rough peak memory of one image's forward + backward up to `layer` (float32)."""
    total = sum(side * side * cout * 4 for _, side, _, cout in conv_geometry(layer, size))
    return 5 * total  # conv output, ReLU output, pool, cotangents, workspace


def auto_chunk(layer: str, size: int, n_filters: int) -> int:
    """The largest chunk that fits about half of device memory, split evenly over `n_filters`."""
    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        budget, cap = stats["bytes_limit"] // 2, 4096
    else:
        budget = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // 3
        cap = _CPU_CHUNK_CAP
    fit = max(1, min(cap, budget // bytes_per_image(layer, size), n_filters))
    return math.ceil(n_filters / math.ceil(n_filters / fit))


def ascend(
    params: dict,
    layer: str,
    filters: list[int],
    cfg: AscentConfig,
    chunk: int | None = None,
    on_step: Callable[[int, np.ndarray, jax.Array], None] | None = None,
) -> AscentResult:
    """Run the ascent for `filters` of `layer` as one batch, padded to `chunk` filters.

    `on_step(step, activations, images)` is called after every update with the real filters'
    activations (before that update) and the images after it (still padded, on device).
    """
    n = len(filters)
    chunk = max(chunk or n, n)
    padded = jnp.asarray(list(filters) + [filters[-1]] * (chunk - n), jnp.int32)
    params = layer_params(params, layer)
    step_fn = compiled_step(layer, float(cfg.step), cfg.normalize)
    images = init_images(cfg.seed, CONV_LAYERS.index(layer), padded, cfg.size, cfg.init_mean, cfg.init_noise)
    history = np.zeros((n, cfg.steps + 1), np.float32)
    nan_step = np.full(n, -1, np.int64)
    for s in range(cfg.steps + 1):
        new, act, finite = step_fn(params, images, padded)
        history[:, s] = np.asarray(act)[:n]
        bad = ~np.asarray(finite)[:n] & (nan_step < 0)
        nan_step[bad] = s
        if s == cfg.steps:
            break  # the extra call only measured the final images
        images = new
        if on_step is not None:
            on_step(s + 1, history[:, s], images)
    return AscentResult(np.asarray(images)[:n], history, nan_step)
