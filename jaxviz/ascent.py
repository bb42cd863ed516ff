"""Gradient ascent in input space: one filter's step, vmapped over a chunk of filters, jitted, sharded."""

from __future__ import annotations

import collections
import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxviz.config import NORMALIZERS, AscentConfig
from jaxviz.vgg import CONV_LAYERS, VGG16, conv_geometry

# (layer, chunk, size, size, 3) -> times the step was traced; a retrace means a recompile.
TRACES: collections.Counter = collections.Counter()
_CPU_CHUNK_CAP = 1  # measured: on XLA:CPU one image at a time is fastest (cache); batching pays on GPUs
# Steps dispatched ahead of the one whose activations the host reads: the device never waits for the host.
IN_FLIGHT = 4
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class AscentResult(NamedTuple):
    images: np.ndarray  # (N, size, size, 3) float32, RGB pixel space (0-255 before any clipping)
    history: np.ndarray  # (N, steps + 1) mean activation before each update, and after the last
    nan_step: np.ndarray  # (N,) first step whose update was not finite (image then frozen), -1: none


def _single_channel(layer: str) -> bool:
    # Computing only the target channel of the last conv saves ~15% at block3-5, but the grouped
    # convolution it turns into under vmap is slower than the full conv at block1's resolution.
    return not layer.startswith("block1_")


def objective(params: dict, image: jax.Array, filt: jax.Array, layer: str, precision: str = "float32") -> jax.Array:
    """Mean activation of filter `filt` of `layer` for one (H, W, 3) RGB image."""
    model = VGG16(upto=layer, dtype=DTYPES[precision])
    if _single_channel(layer):
        return model.apply({"params": params}, image[None], filt).mean()
    return model.apply({"params": params}, image[None])[0, :, :, filt].mean()


def normalize_gradient(g: jax.Array, how: str | jax.Array) -> jax.Array:
    """The seeds' gradient normalisations: by RMS (+1e-5), by L2 norm, or by max magnitude.

    `how` is a name or its index in NORMALIZERS; an index may be traced (one compile serves all three).
    """
    branches = (
        lambda g: g / (jnp.sqrt(jnp.mean(g * g)) + 1e-5),
        lambda g: g / (jnp.sqrt(jnp.sum(g * g)) + 1e-12),
        lambda g: g / (jnp.max(jnp.abs(g)) + 1e-12),
    )
    if isinstance(how, str):
        return branches[NORMALIZERS.index(how)](g)
    return jax.lax.switch(how, branches, g)


@functools.cache
def compiled_step(layer: str, precision: str = "float32") -> Callable:
    """jit(vmap(one ascent step)): (params, images, filters, step, normalizer) -> (images, act, finite).

    Step size and normaliser index are traced arguments, so sweeping them never recompiles.
    """

    def one(params: dict, image: jax.Array, filt: jax.Array, step: jax.Array, how: jax.Array):
        act, g = jax.value_and_grad(objective, argnums=1)(params, image, filt, layer, precision)
        new = image + step * normalize_gradient(g, how)
        finite = jnp.isfinite(act) & jnp.all(jnp.isfinite(new))
        return jnp.where(finite, new, image), act, finite

    def batched(params: dict, images: jax.Array, filters: jax.Array, step: jax.Array, how: jax.Array):
        TRACES[(layer, *images.shape)] += 1  # runs at trace time only
        return jax.vmap(one, in_axes=(None, 0, 0, None, None))(params, images, filters, step, how)

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


def filter_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh ("filters") over `devices` (default: this process's devices)."""
    return Mesh(np.asarray(devices if devices is not None else jax.local_devices()), ("filters",))


def bytes_per_image(layer: str, size: int, precision: str = "float32") -> int:
    """Rough peak memory of one image's forward + backward up to `layer`."""
    width = 2 if precision == "bfloat16" else 4
    total = sum(side * side * cout * width for _, side, _, cout in conv_geometry(layer, size))
    return 5 * total + 3 * size * size * 3 * 4  # conv, ReLU, pool, cotangents, workspace; image, update


def auto_chunk(layer: str, size: int, n_filters: int, n_devices: int = 1, precision: str = "float32") -> int:
    """Filters per chunk: what fits half of each device's memory, times the devices, split evenly."""
    device = jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        budget, cap = stats["bytes_limit"] // 2, 4096
    else:
        budget = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // (3 * n_devices)
        cap = _CPU_CHUNK_CAP
    per_device = max(1, min(cap, budget // bytes_per_image(layer, size, precision)))
    fit = min(per_device * n_devices, round_up(n_filters, n_devices))
    return round_up(math.ceil(n_filters / math.ceil(n_filters / fit)), n_devices)


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


class LayerAscent:
    """Everything one layer's chunks share: params placed on the mesh once, the compiled step, settings."""

    def __init__(self, params: dict, layer: str, cfg: AscentConfig, mesh: Mesh | None = None):
        self.layer, self.cfg = layer, cfg
        self.mesh = mesh or filter_mesh()
        self.n_devices = self.mesh.devices.size
        self._batch = NamedSharding(self.mesh, PartitionSpec("filters"))
        replicated = NamedSharding(self.mesh, PartitionSpec())
        self.params = jax.device_put(layer_params(params, layer), replicated)
        self._step_fn = compiled_step(layer, cfg.precision)
        self._step = jax.device_put(jnp.float32(cfg.step), replicated)
        self._how = jax.device_put(jnp.int32(NORMALIZERS.index(cfg.normalize)), replicated)

    def __call__(
        self,
        filters: list[int],
        chunk: int | None = None,
        on_step: Callable[[int, np.ndarray, jax.Array], None] | None = None,
    ) -> AscentResult:
        """Ascend `filters` as one batch, padded to `chunk` (and to a multiple of the device count).

        `on_step(s, activations, images)` runs for s = 1..steps with the real filters' activations
        before update s; `images` are the newest on device (up to IN_FLIGHT steps past s).
        """
        cfg, n = self.cfg, len(filters)
        chunk = round_up(max(chunk or n, n), self.n_devices)
        padded = jax.device_put(np.asarray(list(filters) + [filters[-1]] * (chunk - n), np.int32), self._batch)
        layer_index = CONV_LAYERS.index(self.layer)
        images = init_images(cfg.seed, layer_index, padded, cfg.size, cfg.init_mean, cfg.init_noise)
        images = jax.device_put(images, self._batch)
        history = np.zeros((n, cfg.steps + 1), np.float32)
        nan_step = np.full(n, -1, np.int64)
        pending: collections.deque = collections.deque()

        def collect(s: int, act: jax.Array, finite: jax.Array) -> None:
            history[:, s] = np.asarray(act)[:n]
            bad = ~np.asarray(finite)[:n] & (nan_step < 0)
            nan_step[bad] = s
            if on_step is not None and s < cfg.steps:
                on_step(s + 1, history[:, s], images)

        for s in range(cfg.steps + 1):
            new, act, finite = self._step_fn(self.params, images, padded, self._step, self._how)
            pending.append((s, act, finite))
            if s < cfg.steps:
                images = new  # the extra last call only measured the final images
            while len(pending) > (IN_FLIGHT if s < cfg.steps else 0):
                collect(*pending.popleft())
        return AscentResult(np.asarray(images)[:n], history, nan_step)


def ascend(
    params: dict,
    layer: str,
    filters: list[int],
    cfg: AscentConfig,
    chunk: int | None = None,
    on_step: Callable[[int, np.ndarray, jax.Array], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> AscentResult:
    """Run the ascent for `filters` of `layer` as one batch (see LayerAscent), on `devices`."""
    return LayerAscent(params, layer, cfg, filter_mesh(devices))(filters, chunk, on_step)
