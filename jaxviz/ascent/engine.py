"""The compiled ascent: one filter's step written once, vmapped over a chunk of filters, jitted, sharded.

A step renders each filter's latent to images (params.py), transforms them at random (transforms.py),
scores them on the layer (objectives.py) and moves the latent along one optax chain (optim.py).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxviz.architecture import CONV_LAYERS, conv_geometry
from jaxviz.ascent import objectives, optim
from jaxviz.ascent import params as params_lib
from jaxviz.ascent import transforms as transforms_lib
from jaxviz.ascent.method import Method
from jaxviz.vgg import VGG16

CPU_CHUNK_CAP = 1  # measured: on XLA:CPU one image at a time is fastest (cache); batching pays on GPUs
# Steps dispatched ahead of the one whose activations the host reads: the device never waits for the host.
IN_FLIGHT = 4
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class AscentResult(NamedTuple):
    images: np.ndarray  # (N, size, size, 3) float32 RGB 0-255 scale: each filter's (first) image
    history: np.ndarray  # (N, stages * steps + 1) mean activation before each update, and after the last
    nan_step: np.ndarray  # (N,) first step whose update was not finite (image then frozen), -1: none
    all_images: np.ndarray | None = None  # (N, k, size, size, 3) when a filter has k > 1 images


def layer_activation(params: dict, images: jax.Array, layer: str, channel, precision: str) -> jax.Array:
    """`layer`'s pre-activation (k, h, w, C) for RGB 0-255 images, or (k, h, w, 1) for one `channel`."""
    model = VGG16(upto=layer, dtype=DTYPES[precision], preact=True)
    return model.apply({"params": params}, images, channel)


def step_name(layer: str, side: int) -> str:
    """The compiled step's function name, as JAX's compile logs and monitoring events report it."""
    return f"ascent_step_{layer}_{side}px"


@functools.cache
def compiled_step(layer: str, method: Method, precision: str, side: int) -> Callable:
    """jit(vmap(one filter's step)): (params, (latents, opt states), filters, knobs, t) -> (state, act, finite).

    knobs = (step size, normaliser index, total steps, seed) and the step number t are traced, so
    sweeping them never recompiles. `side` is the stage's image side (part of the latent's shape).
    """
    layer_index = CONV_LAYERS.index(layer)
    transform = transforms_lib.compose(transforms_lib.build(method.transforms))
    single = method.single_channel
    render = _render_one(method, side)

    def score(latent, params, filt, t, seed):
        images = render(latent)
        seen = images
        if method.transforms:
            keys = params_lib.image_keys(transforms_lib.step_key(seed, layer_index, filt, t), images.shape[0])
            seen = jax.vmap(transform)(keys, images)
        z = layer_activation(params, seen, layer, filt if single else None, precision)
        c = 0 if single else filt
        value = objectives.value(method.objective, objectives.Seen(images, z, c, method.preactivation, method.revive))
        return value, jnp.take(jax.nn.relu(z), c, axis=-1).mean()

    def one(params, state, filt, knobs, t):
        step, how, total, seed = knobs
        latent, opt_state = state
        (_, act), g = jax.value_and_grad(score, has_aux=True)(latent, params, filt, t, seed)
        direction, new_opt = optim.direction(method.optimizer, how).update(g, opt_state, latent)
        new = latent + optim.learning_rate(method.schedule, step, t, total) * direction
        finite = jnp.isfinite(act) & jnp.all(jnp.isfinite(new))
        keep = functools.partial(jnp.where, finite)
        return (keep(new, latent), jax.tree.map(keep, new_opt, opt_state)), act, finite

    def batched(params, state, filters, knobs, t):
        return jax.vmap(one, in_axes=(None, 0, 0, None, None))(params, state, filters, knobs, t)

    batched.__name__ = batched.__qualname__ = step_name(layer, side)  # names the compile in JAX's logs
    return jax.jit(batched)


@functools.cache
def init_state(method: Method, side: int) -> Callable:
    """jit((seed, layer index, filters (N,)) -> (latents, optimiser states)): each filter's start from its key."""
    param = params_lib.build(
        method.param, side, method.init_mean, method.init_noise, method.decorrelate, method.squash, method.decay
    )

    def init(seed, layer_index, filters):
        base = jax.random.fold_in(jax.random.key(seed), layer_index)

        def one(f):
            latent = param.init(jax.random.fold_in(base, f), method.images)
            return latent, optim.direction(method.optimizer, jnp.int32(0)).init(latent)

        return jax.vmap(one)(filters)

    return jax.jit(init)


def _render_one(method: Method, side: int) -> Callable:
    """One filter's latent -> its k RGB 0-255 images (the init values do not matter for rendering)."""
    return params_lib.build(method.param, side, 0.0, 0.0, method.decorrelate, method.squash, method.decay).render


@functools.cache
def render_batch(method: Method, side: int) -> Callable:
    """A chunk's latents -> (N, k, side, side, 3) images."""
    return jax.jit(jax.vmap(_render_one(method, side)))


@functools.partial(jax.jit, static_argnames=("size",))
def upscale_images(images: jax.Array, size: int) -> jax.Array:
    """Keras' upscaling example's round trip between stages, per image: deprocess (std 0.25) to 8 bits,
    bicubic resize, back to the former mean and spread."""

    def one(x):
        m, s = x.mean(), x.std()
        u8 = jnp.round(jnp.clip((x - m) / (s + 1e-7) * 0.25 + 0.5, 0, 1) * 255)
        big = jnp.clip(jax.image.resize(u8, (size, size, 3), "cubic"), 0, 255)
        return (big / 255 - 0.5) * 4 * s + m

    return jax.vmap(jax.vmap(one))(images)


def layer_params(params: dict, layer: str) -> dict:
    """Only the params VGG16 needs up to `layer` (so later layers' arrays never enter the jit)."""
    return {name: params[name] for name in CONV_LAYERS[: CONV_LAYERS.index(layer) + 1]}


def filter_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh ("filters") over `devices` (default: this process's devices)."""
    return Mesh(np.asarray(devices if devices is not None else jax.local_devices()), ("filters",))


def bytes_per_image(layer: str, size: int, precision: str = "float32", images: int = 1) -> int:
    """Rough peak memory (bytes) of one filter's forward + backward up to `layer` for `images` images of `size` px."""
    width = 2 if precision == "bfloat16" else 4
    total = sum(side * side * cout * width for _, side, _, cout in conv_geometry(layer, size))
    return images * (5 * total + 4 * size * size * 3 * 4)  # conv, ReLU, pool, cotangents; image, optimiser


def device_budget(n_devices: int = 1) -> tuple[int, int]:
    """(bytes one chunk may use per device, most filters per device) for this process's devices.

    Accelerators: half of what XLA may allocate, up to 4096 filters. CPU: a third of the free memory shared
    by the devices, one filter per device (measured fastest there).
    """
    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        return stats["bytes_limit"] // 2, 4096
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // (3 * n_devices), CPU_CHUNK_CAP


def auto_chunk(
    layer: str,
    size: int,
    n_filters: int,
    n_devices: int = 1,
    precision: str = "float32",
    images: int = 1,
    budget: tuple[int, int] | None = None,
) -> int:
    """Filters per chunk: what fits `budget` = (bytes per device, most filters per device), default
    `device_budget`, times the devices, split evenly, a multiple of `n_devices`."""
    per_bytes, cap = budget or device_budget(n_devices)
    per_device = max(1, min(cap, per_bytes // bytes_per_image(layer, size, precision, images)))
    fit = min(per_device * n_devices, round_up(n_filters, n_devices))
    return round_up(math.ceil(n_filters / math.ceil(n_filters / fit)), n_devices)


def round_up(n: int, multiple: int) -> int:
    """The least multiple of `multiple` that is >= n."""
    return -(-n // multiple) * multiple
