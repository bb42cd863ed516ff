"""The compiled ascent: one filter's step written once, vmapped over a chunk of filters, jitted, sharded.

A step renders each filter's latent to images (params.py), transforms them at random (transforms.py),
scores them on the layer (objectives.py) and moves the latent along one optax chain (optim.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from jaxviz.ascent import objectives, optim
from jaxviz.ascent import params as params_lib
from jaxviz.ascent import transforms as transforms_lib
from jaxviz.ascent.method import Method
from jaxviz.model.network import VGG16, Network

# Steps dispatched ahead of the one whose activations the host reads: the device never waits for the host.
IN_FLIGHT = 4
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


class AscentResult(NamedTuple):
    images: np.ndarray  # (N, size, size, 3) float32 RGB 0-255 scale: each filter's (first) image
    history: np.ndarray  # (N, stages * steps + 1) mean activation before each update, and after the last
    nan_step: np.ndarray  # (N,) first step whose update was not finite (image then frozen), -1: none
    all_images: np.ndarray | None = None  # (N, k, size, size, 3) when a filter has k > 1 images


def layer_activation(
    params: dict,
    images: jax.Array,
    layer: str,
    channel,
    precision: str,
    conv: str = "patches",
    network: Network = VGG16,
) -> jax.Array:
    """`layer`'s pre-activation (k, h, w, C) for RGB 0-255 images, or (k, h, w, 1) for one `channel`, through
    `network` (jaxviz.model.network.Network; VGG16 by default)."""
    return network.activation(params, images, layer, channel, precision, conv)


class StepKey(NamedTuple):
    """What one compiled program is: the made choices of a Spec (see spec.py) and the stage's image side."""

    layer: str
    method: Method
    precision: str
    conv: str  # "xla" or "patches"
    single: bool  # only the filter's own channel of the target layer (else the whole layer)
    side: int
    network: Network = VGG16  # the model (hashable: a Network keys its programs)


def step_name(layer: str, side: int, kind: str = "step") -> str:
    """A compiled program's function name, as JAX's compile logs and monitoring events report it:
    kind "step" (one step), "segment" (a device loop of steps) or "measure" (forward only)."""
    return f"ascent_{kind}_{layer}_{side}px"


def _score(key: StepKey) -> Callable:
    """(latent, params, filt, t, seed) -> (objective value, the filter's mean post-ReLU activation)."""
    layer_index = key.network.layers.index(key.layer)
    method = key.method
    transform = transforms_lib.compose(transforms_lib.build(method.transforms))
    render = _render_one(method, key.side)
    post = functools.partial(key.network.post, layer=key.layer)  # the layer's own nonlinearity (ReLU in VGG)

    def score(latent, params, filt, t, seed):
        images = render(latent)
        seen = images
        if method.transforms:
            keys = params_lib.image_keys(transforms_lib.step_key(seed, layer_index, filt, t), images.shape[0])
            seen = jax.vmap(transform)(keys, images)
        channel = filt if key.single else None
        z = layer_activation(params, seen, key.layer, channel, key.precision, key.conv, key.network)
        c = 0 if key.single else filt
        seen_by = objectives.Seen(images, z, c, method.preactivation, method.revive, post)
        return objectives.value(method.objective, seen_by), jnp.take(post(z), c, axis=-1).mean()

    return score


def _batched_step(key: StepKey) -> Callable:
    """vmap(one filter's step): (params, (latents, opt states), filters, knobs, t) -> (state, act, finite)."""
    score, method = _score(key), key.method

    def one(params, state, filt, knobs, t):
        step, how, total, seed = knobs
        latent, opt_state = state
        (_, act), g = jax.value_and_grad(score, has_aux=True)(latent, params, filt, t, seed)
        direction, new_opt = optim.direction(method.optimizer, how).update(g, opt_state, latent)
        new = latent + optim.learning_rate(method.schedule, step, t, total) * direction
        finite = jnp.isfinite(act) & jnp.all(jnp.isfinite(new))
        keep = functools.partial(jnp.where, finite)
        return (keep(new, latent), jax.tree.map(keep, new_opt, opt_state)), act, finite

    return jax.vmap(one, in_axes=(None, 0, 0, None, None))


def _named(fn: Callable, name: str) -> Callable:
    fn.__name__ = fn.__qualname__ = name  # names the compile in JAX's logs and monitoring events
    return jax.jit(fn)


@functools.cache
def compiled_step(key: StepKey) -> Callable:
    """jit(vmap(one filter's step)): (params, (latents, opt states), filters, knobs, t) -> (state, act, finite).

    knobs = (step size, normaliser index, total steps, seed) and the step number t are traced, so
    sweeping them never recompiles.
    """
    step = _batched_step(key)

    def batched(params, state, filters, knobs, t):
        return step(params, state, filters, knobs, t)

    return _named(batched, step_name(key.layer, key.side))


@functools.cache
def compiled_segment(key: StepKey, length: int) -> Callable:
    """`length` steps in one compiled lax.fori_loop (the device loop: one dispatch per segment):
    (params, state, filters, knobs, t) -> (state, acts (length, N), finite (length, N), t + length)."""
    step = _batched_step(key)

    def segment(params, state, filters, knobs, t):
        def body(i, carry):
            state, acts, fins = carry
            state, act, finite = step(params, state, filters, knobs, t + i)
            return state, acts.at[i].set(act), fins.at[i].set(finite)

        n = filters.shape[0]
        carry = (state, jnp.zeros((length, n), jnp.float32), jnp.zeros((length, n), bool))
        state, acts, fins = jax.lax.fori_loop(0, length, body, carry)
        return state, acts, fins, t + length

    return _named(segment, step_name(key.layer, key.side, "segment"))


@functools.cache
def compiled_measure(key: StepKey) -> Callable:
    """Forward only: (params, latents, filters, knobs, t) -> each filter's mean activation (N,) as step t sees it
    (the final images' activations need no gradient)."""
    score = _score(key)

    def measure(params, latents, filters, knobs, t):
        seed = knobs[3]
        return jax.vmap(lambda latent, filt: score(latent, params, filt, t, seed)[1])(latents, filters)

    return _named(measure, step_name(key.layer, key.side, "measure"))


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


def layer_params(params: dict, layer: str, network: Network = VGG16) -> dict:
    """Only the params `network` needs up to `layer` (so later layers' arrays never enter the jit)."""
    return network.layer_params(params, layer)


def filter_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A one-axis mesh ("filters") over `devices` (default: this process's devices)."""
    return Mesh(np.asarray(devices if devices is not None else jax.local_devices()), ("filters",))
