"""Image parameterisations: what the optimiser changes (a latent), and how it renders to RGB 0-255.

`pixels` with no colour transform is the tutorials' method: the latent is the image itself. A Fourier
latent scaled by 1/frequency (Lucid's spectrum trick) makes low frequencies as easy to change as
high ones; decorrelated colour works in ImageNet's whitened colour space; a sigmoid keeps pixels valid.
Every function here handles one filter's k images, so it can be vmapped over a chunk of filters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from jaxviz.runtime.lazy_jax import jax, jnp  # the config reads PARAMS' names without importing JAX

SQUASHES = ("none", "sigmoid")
# Square root of ImageNet's RGB colour correlation (the matrix Lucid publishes), columns scaled to norm <= 1.
_COLOR_SQRT = np.asarray([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOR = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


class Param(NamedTuple):
    """`init(key, k) -> latent` for k images of one filter; `render(latent) -> (k, H, W, 3)` RGB 0-255."""

    init: Callable[[jax.Array, int], jax.Array]
    render: Callable[[jax.Array], jax.Array]
    identity: bool  # the latent is the image (pixel units): step sizes mean pixels, as in the tutorials


def image_keys(key: jax.Array, k: int) -> jax.Array:
    """k keys for one filter's images; the first is `key` itself (k = 1 matches the one-image runs)."""
    return jnp.stack([key] + [jax.random.fold_in(key, j) for j in range(1, k)])


def _to_rgb(u: jax.Array, decorrelate: bool, squash: str) -> jax.Array:
    """Unit colour space (centred on 0) -> RGB 0-255."""
    if decorrelate:
        u = u @ jnp.asarray(COLOR.T)
    return 255.0 * (jax.nn.sigmoid(u) if squash == "sigmoid" else u + 0.5)


def _from_rgb(rgb: jax.Array, decorrelate: bool, squash: str) -> jax.Array:
    """RGB 0-255 -> the unit colour space `_to_rgb` maps back from (starts pixel latents where asked)."""
    x = rgb / 255.0
    u = jnp.log(jnp.clip(x, 1e-3, 1 - 1e-3) / (1 - jnp.clip(x, 1e-3, 1 - 1e-3))) if squash == "sigmoid" else x - 0.5
    return u @ jnp.asarray(np.linalg.inv(COLOR.T)) if decorrelate else u


def pixels(size: int, mean: float, noise: float, decorrelate: bool = False, squash: str = "none") -> Param:
    """The image's own pixels; starts at mean + noise * U[0, 1) (grey plus noise, as in the tutorials)."""
    identity = not decorrelate and squash == "none"

    def init(key: jax.Array, k: int) -> jax.Array:
        rgb = jax.vmap(lambda kk: mean + noise * jax.random.uniform(kk, (size, size, 3), jnp.float32))(
            image_keys(key, k)
        )
        return rgb if identity else _from_rgb(rgb, decorrelate, squash)

    def render(latent: jax.Array) -> jax.Array:
        return latent if identity else _to_rgb(latent, decorrelate, squash)

    return Param(init, render, identity)


def _frequencies(size: int) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def fourier(
    size: int, decay: float = 1.0, sd: float = 0.01, decorrelate: bool = True, squash: str = "sigmoid"
) -> Param:
    """A spectrum (real and imaginary parts per colour), scaled by 1/frequency^decay, rendered by inverse FFT."""
    scale = 1.0 / np.maximum(_frequencies(size), 1.0 / size) ** decay * size  # size = sqrt(h * w)
    shape = (size, size // 2 + 1, 3, 2)

    def init(key: jax.Array, k: int) -> jax.Array:
        return jax.vmap(lambda kk: sd * jax.random.normal(kk, shape, jnp.float32))(image_keys(key, k))

    def render(latent: jax.Array) -> jax.Array:
        spectrum = (latent[..., 0] + 1j * latent[..., 1]) * jnp.asarray(scale, jnp.float32)[:, :, None]
        u = jnp.fft.irfft2(spectrum, s=(size, size), axes=(-3, -2)) / 4.0  # Lucid's "magic" 4: unit-ish range
        return _to_rgb(u.astype(jnp.float32), decorrelate, squash)

    return Param(init, render, False)


# Name -> factory(size, mean, noise, decorrelate, squash, decay); each ignores what it does not use.
PARAMS: dict[str, Callable[..., Param]] = {
    "pixels": lambda size, mean, noise, decorrelate, squash, decay: pixels(size, mean, noise, decorrelate, squash),
    "fourier": lambda size, mean, noise, decorrelate, squash, decay: fourier(
        size, decay, decorrelate=decorrelate, squash=squash
    ),
}


def build(kind: str, size: int, mean: float, noise: float, decorrelate: bool, squash: str, decay: float) -> Param:
    """PARAMS[kind] for `size` px images (KeyError for an unknown name; configs are checked before)."""
    return PARAMS[kind](size, mean, noise, decorrelate, squash, decay)
