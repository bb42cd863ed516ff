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

from jaxviz.ascent import crops as crops_lib
from jaxviz.ascent import objectives, optim
from jaxviz.ascent import params as params_lib
from jaxviz.ascent import spec as spec_lib
from jaxviz.ascent import transforms as transforms_lib
from jaxviz.ascent.method import Method
from jaxviz.model.network import VGG16, Network

# Steps dispatched ahead of the one whose activations the host reads: the device never waits for the host.
IN_FLIGHT = 4
DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}
# A pixel seen less than this fraction of its image's most-seen pixel counts as unseen in the transparency: its
# ratio rests on sums float32 cannot tell from rounding (the crops' antialiasing tails reach a little outside them).
COVERED = 1e-6


class AscentResult(NamedTuple):
    images: np.ndarray  # (N, size, size, 3) float32 RGB 0-255 scale: each filter's (first) image
    history: np.ndarray  # (N, stages * steps + 1) mean activation before each update, and after the last
    nan_step: np.ndarray  # (N,) first step whose update was not finite (image then frozen), -1: none
    all_images: np.ndarray | None = None  # (N, k, size, size, 3) when a filter has k > 1 images
    # (N, size, size) float32 >= 0 with method.alpha (else None): each filter's (first) image's transparency,
    # the coverage-corrected accumulated |d objective / d image| summed over colour (`alpha_of`), not normalised
    alpha: np.ndarray | None = None


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


def _view(key: StepKey) -> Callable:
    """(images (k, side, side, 3), step key, frac) -> what the model is shown before noise, (n, s, s, 3): each image
    through method.transforms, then, with method.crops, K crops of each resized to the crop side (n = k * K, else
    n = k). `frac` is how far the ascent is (0 first step, 1 last: the crops' size schedule). Linear in the images
    (pads add a constant), so its transpose applied to ones is how much each pixel is seen."""
    method = key.method
    transform = transforms_lib.compose(transforms_lib.build(method.transforms))
    out = spec_lib.crop_side(method, key.network)

    def view(images, skey, frac):
        k, seen = images.shape[0], images
        if method.transforms:  # the first use of the step's key: the images of runs without crops are unchanged
            seen = jax.vmap(transform)(params_lib.image_keys(skey, k), seen)
        if method.crops:
            ckeys = params_lib.image_keys(jax.random.fold_in(skey, _CROPS), k)
            many = jax.vmap(lambda kk, im: crops_lib.crops(kk, im, method.crops, out, frac, method))(ckeys, seen)
            seen = many.reshape(-1, *many.shape[2:])
        return seen

    return view


_CROPS, _NOISE = 0xC409, 0x4015E  # the crops' and the noise's keys, folded into the step's key


def _score(key: StepKey) -> Callable:
    """(seen, images, params, filt) -> (objective value, the filter's mean activation after the layer's
    nonlinearity): `seen` is what the model is shown (`_view`, noise added), `images` the rendered images the
    image terms (tv, l2, blur) read."""
    method = key.method
    post = functools.partial(key.network.post, layer=key.layer)  # the layer's own nonlinearity (ReLU in VGG)

    def score(seen, images, params, filt):
        channel = filt if key.single else None
        z = layer_activation(params, seen, key.layer, channel, key.precision, key.conv, key.network)
        c = 0 if key.single else filt
        seen_by = objectives.Seen(images, z, c, method.preactivation, method.revive, post)
        return objectives.value(method.objective, seen_by), jnp.take(post(z), c, axis=-1).mean()

    return score


def _render_and_show(key: StepKey) -> tuple[Callable, Callable]:
    """(render, show): render(latent) -> one filter's k images; show(images, filt, t, seed, total) -> (what the
    model is shown at step t of `total`, noise included, and the view's transpose, a function of a cotangent).
    Keys from (seed, layer, filter, t): the same whatever the chunking."""
    method, layer_index = key.method, key.network.layers.index(key.layer)
    render, view = _render_one(method, key.side), _view(key)

    def shown(images, filt, t, seed, total):
        skey = transforms_lib.step_key(seed, layer_index, filt, t)
        frac = jnp.clip(t / jnp.maximum(total - 1.0, 1.0), 0.0, 1.0)
        seen, transpose = jax.vjp(lambda im: view(im, skey, frac), images)
        if method.noise:  # additive: the gradient and the coverage are the noiseless view's
            seen = crops_lib.add_noise(jax.random.fold_in(skey, _NOISE), seen, method.noise)
        return seen, transpose

    return render, shown


def _batched_step(key: StepKey) -> Callable:
    """vmap(one filter's step): (params, (latents, opt states, alpha sums), filters, knobs, t) -> (state, act,
    finite). With method.alpha the state's third part holds, per image, the sum over the steps of |d objective /
    d image| (summed over colour, through the model only: the image terms' gradient is no importance) and the sum
    of the coverage (the view's transpose applied to ones: how much each pixel was seen); else it is ()."""
    score, method = _score(key), key.method
    render, shown = _render_and_show(key)

    def one(params, state, filt, knobs, t):
        step, how, total, seed = knobs
        latent, opt_state, sums = state
        images, render_transpose = jax.vjp(render, latent)
        seen, view_transpose = shown(images, filt, t, seed, total)
        (_, act), (g_seen, g_images) = jax.value_and_grad(score, argnums=(0, 1), has_aux=True)(
            seen, images, params, filt
        )
        (g_model,) = view_transpose(g_seen)
        (g,) = render_transpose(g_model + g_images)
        direction, new_opt = optim.direction(method.optimizer, how).update(g, opt_state, latent)
        new = latent + optim.learning_rate(method.schedule, step, t, total) * direction
        if method.alpha:
            (cover,) = view_transpose(jnp.ones_like(seen))
            new_sums = (sums[0] + jnp.abs(g_model).sum(-1), sums[1] + cover[..., 0])
        else:
            new_sums = sums
        finite = jnp.isfinite(act) & jnp.all(jnp.isfinite(new))
        keep = functools.partial(jnp.where, finite)
        state = (keep(new, latent), jax.tree.map(keep, new_opt, opt_state), jax.tree.map(keep, new_sums, sums))
        return state, act, finite

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
    render, shown = _render_and_show(key)

    def measure(params, latents, filters, knobs, t):
        total, seed = knobs[2], knobs[3]

        def one(latent, filt):
            images = render(latent)
            return score(shown(images, filt, t, seed, total)[0], images, params, filt)[1]

        return jax.vmap(one)(latents, filters)

    return _named(measure, step_name(key.layer, key.side, "measure"))


def fresh(method: Method, latent: jax.Array, side: int) -> tuple:
    """One filter's state for `latent` (its k images at `side` px): (latent, a fresh optimiser state, zero alpha
    sums (k, side, side) twice, or () without method.alpha)."""
    opt = optim.direction(method.optimizer, jnp.int32(0)).init(latent)
    zeros = jnp.zeros((method.images, side, side), jnp.float32)
    return latent, opt, (zeros, zeros) if method.alpha else ()


@functools.cache
def init_state(method: Method, side: int) -> Callable:
    """jit((seed, layer index, filters (N,)) -> (latents, optimiser states, alpha sums)): each filter's start
    from its key (`fresh`)."""
    param = _param(method, side, method.init_mean, method.init_noise)

    def init(seed, layer_index, filters):
        base = jax.random.fold_in(jax.random.key(seed), layer_index)
        return jax.vmap(lambda f: fresh(method, param.init(jax.random.fold_in(base, f), method.images), side))(filters)

    return jax.jit(init)


def alpha_of(sums: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Transparency from the step's alpha sums (|gradient| summed, coverage summed; (..., H, W) each): their ratio,
    importance per time seen, where a pixel was seen at least COVERED of the most-seen pixel of its image, else 0
    (never seen, or too rarely for float32 sums to say). float32 >= 0, not normalised."""
    grad, cover = (np.asarray(a, np.float64) for a in sums)
    floor = COVERED * cover.max(axis=(-2, -1), keepdims=True)
    seen = (cover > floor) & (cover > 0)
    return np.where(seen, grad / np.where(seen, cover, 1.0), 0.0).astype(np.float32)


def _param(method: Method, side: int, mean: float = 0.0, noise: float = 0.0) -> params_lib.Param:
    return params_lib.build(
        method.param, side, mean, noise, method.decorrelate, method.squash, method.decay, method.spectrum
    )


def _render_one(method: Method, side: int) -> Callable:
    """One filter's latent -> its k RGB 0-255 images (the init values do not matter for rendering)."""
    return _param(method, side).render


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
