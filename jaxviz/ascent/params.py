"""Image parameterisations: what the optimiser changes (a latent), and how it renders to RGB 0-255.

`pixels` with no colour transform is the tutorials' method: the latent is the image itself. A Fourier
latent scaled by 1/frequency (Lucid's spectrum trick) makes low frequencies as easy to change as
high ones; decorrelated colour works in ImageNet's whitened colour space; a sigmoid keeps pixels valid.
`maco` optimises only the phase of the spectrum, its magnitude fixed to that of natural images (MACO).
Every function here handles one filter's k images, so it can be vmapped over a chunk of filters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

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


def _standardise(x: jax.Array, eps: float) -> jax.Array:
    """`x` minus its mean, over its standard deviation plus `eps` (over the whole array, as both MACO sources do)."""
    x = x - x.mean()
    return x / (x.std() + eps)


def hermitian_magnitude(magnitude: np.ndarray) -> np.ndarray:
    """`magnitude` (3, S, S // 2 + 1) with the columns that hold both +f and -f (column 0 and, for even S,
    column S // 2) made symmetric in f: the magnitude a real image's half-spectrum always has there, so that
    irfft2 keeps every bin's magnitude (a resized template is symmetric there only approximately)."""
    m = np.array(magnitude, np.float32)
    size = m.shape[1]
    flip = (-np.arange(size)) % size  # row of -f for row f
    for col in {0, size // 2} if size % 2 == 0 else {0}:
        m[:, :, col] = 0.5 * (m[:, :, col] + m[:, flip, col])
    return m


def _hermitian_phase(phase: jax.Array) -> jax.Array:
    """`phase` (..., S, S // 2 + 1) made odd in f on the columns that hold both +f and -f (column 0 and, for
    even S, S // 2): there irfft2 reads only the Hermitian part of the spectrum, so an unconstrained phase would
    change the magnitude the image gets; odd phases (0 at the self-conjugate bins) keep it exactly."""
    size = phase.shape[-2]
    flip = (-np.arange(size)) % size
    cols = [0, size // 2] if size % 2 == 0 else [0]
    fixed = 0.5 * (phase[..., cols] - phase[..., flip, :][..., cols])
    return phase.at[..., cols].set(fixed)


def maco(size: int, magnitude: np.ndarray, sd: float = 1.0) -> Param:
    """MACO's image (Fel et al., "Unlocking Feature Visualization for Deeper Networks with MAgnitude Constrained
    Optimization", NeurIPS 2023): the latent is the phase φ (3, size, size // 2 + 1) of each image's spectrum, its
    magnitude r the fixed `magnitude` template (spectrum.Magnitude.resized(size)).

    Render, as Horama's `maco_preconditioner` (serre-lab/Horama horama/maco_fv.py, v0.3.0) and Xplique's
    `maco_image_parametrization` (deel-ai/xplique preconditioning.py) do: standardise φ, Z = r·e^{iφ}, inverse
    real FFT, standardise, recolour with COLOR (the same matrix as theirs, Lucid's), sigmoid, scaled to 0-255
    (jaxviz's networks all take RGB 0-255: their own preprocessing follows). Standardisation epsilon 1e-5
    (Xplique's; Horama adds 1e-4). The phase starts as N(0, sd²) per value, sd 1 (both sources).

    Beyond the sources: φ is made odd on the spectrum columns that hold both +f and -f (`_hermitian_phase`) and
    r symmetric there (`hermitian_magnitude`), so |rfft2| of the image before recolouring is exactly r times
    the standardisation's scale at every bin but the zero frequency.
    """
    r = jnp.asarray(hermitian_magnitude(magnitude), jnp.float32)  # a constant of the compiled step
    shape = (3, size, size // 2 + 1)

    def init(key: jax.Array, k: int) -> jax.Array:
        return jax.vmap(lambda kk: sd * jax.random.normal(kk, shape, jnp.float32))(image_keys(key, k))

    def render(latent: jax.Array) -> jax.Array:
        u = jax.vmap(lambda phase: maco_spatial(phase, r))(latent).transpose(0, 2, 3, 1)  # (k, size, size, 3)
        return _to_rgb(u, True, "sigmoid")

    return Param(init, render, False)


def maco_spatial(phase: jax.Array, r: jax.Array) -> jax.Array:
    """What `maco` renders before recolouring: one image's standardised (3, S, S) decorrelated image for its phase
    (3, S, S // 2 + 1) and magnitude r of the same shape, symmetric where `hermitian_magnitude` makes it so."""
    size = phase.shape[-2]
    phi = _hermitian_phase(_standardise(phase, 1e-5))
    x = jnp.fft.irfft2(r * jnp.exp(1j * phi), s=(size, size), axes=(-2, -1))
    return _standardise(x.astype(jnp.float32), 1e-5)


def _maco(size: int, spectrum: Any) -> Param:
    from jaxviz.ascent import spectrum as spectrum_lib  # numpy and Pillow, only where a template is used

    template = spectrum if spectrum is not None else spectrum_lib.default()
    return maco(size, template.resized(size))


# Name -> factory(size, mean, noise, decorrelate, squash, decay, spectrum); each ignores what it does not use.
PARAMS: dict[str, Callable[..., Param]] = {
    "pixels": lambda size, mean, noise, decorrelate, squash, decay, spectrum: pixels(
        size, mean, noise, decorrelate, squash
    ),
    "fourier": lambda size, mean, noise, decorrelate, squash, decay, spectrum: fourier(
        size, decay, decorrelate=decorrelate, squash=squash
    ),
    "maco": lambda size, mean, noise, decorrelate, squash, decay, spectrum: _maco(size, spectrum),
}


def build(
    kind: str,
    size: int,
    mean: float,
    noise: float,
    decorrelate: bool,
    squash: str,
    decay: float,
    spectrum: Any = None,
) -> Param:
    """PARAMS[kind] for `size` px images (KeyError for an unknown name; configs are checked before). `spectrum`:
    maco's jaxviz.ascent.spectrum.Magnitude (None: the shipped template)."""
    return PARAMS[kind](size, mean, noise, decorrelate, squash, decay, spectrum)
