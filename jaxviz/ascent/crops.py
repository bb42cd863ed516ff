"""MACO's random crops: each step shows the model K square crops of every image, resized to the model's input
side, plus noise. Pure and vmappable, keyed per (seed, layer, filter, step) like the transforms, so every filter
of a chunk draws its own crops and chunking never changes them.

The sampler follows the two MACO sources (neither's code copied): crop centres from N(0.5, 0.15) of the side per
axis (Horama's `optimization_step`, serre-lab/Horama horama/common.py v0.3.0; Xplique's `maco_optimisation_step`,
deel-ai/xplique xplique/features_visualizations/maco.py); a crop's side from N(m, 0.05) clipped to [0.05, 1] with
m linear from 0.5 at the first step to 0.05 at the last (Xplique's default; Horama draws its side uniformly from
a fixed range, (0.20, 0.25) in its signature, [0.25, 0.30] as its code computes it); noise N(0, s) + U(-s/2, s/2)
per value (both). Two choices of jaxviz's: a crop is moved inside the image (the sources let it hang over the edge,
where the model then sees zeros: black or grey depending on the value range), so the model never sees padding;
and it is resized by an antialiased linear filter (jax.image.scale_and_translate), a linear map of the image, so a
crop's downscaling does not alias (Horama 0.3.0 samples at twice the side and shrinks with antialiasing for the
same reason; Xplique's tf.image.crop_and_resize is plain bilinear). Linear crops make the coverage, how much each
pixel is seen, the crops' transpose applied to ones (jaxviz.ascent.engine uses it to correct the transparency).
"""

from __future__ import annotations

from typing import NamedTuple

from jaxviz.ascent.method import SMALLEST_CROP, Method
from jaxviz.runtime.lazy_jax import jax, jnp


class Boxes(NamedTuple):
    """K square crops as fractions of the image side: top-left corners (K, 2) (row, column) and sides (K,)."""

    corner: jax.Array
    side: jax.Array


def mean_side(method: Method, frac: jax.Array) -> jax.Array:
    """The mean crop side (a fraction of the image side) at `frac` of the ascent (0: first step, 1: last):
    linear from method.crop_start to method.crop_end (Xplique's default: 0.5 to 0.05)."""
    return method.crop_start + (method.crop_end - method.crop_start) * frac


def sample_boxes(key: jax.Array, n: int, frac: jax.Array, method: Method) -> Boxes:
    """`n` random crops for the step at `frac` of the ascent: sides from N(mean_side, method.crop_spread) clipped to
    [SMALLEST_CROP, 1], centres from N(method.crop_centre) per axis, then moved so each crop lies in the image."""
    k_side, k_centre = jax.random.split(key)
    side = mean_side(method, frac) + method.crop_spread * jax.random.normal(k_side, (n,), jnp.float32)
    side = jnp.clip(side, SMALLEST_CROP, 1.0)
    mean, sd = method.crop_centre
    centre = mean + sd * jax.random.normal(k_centre, (n, 2), jnp.float32)
    half = side[:, None] / 2
    centre = jnp.clip(centre, half, 1.0 - half)  # inside the image: the model never sees what is not there
    return Boxes(centre - half, side)


def crop_resize(image: jax.Array, corner: jax.Array, side: jax.Array, out: int) -> jax.Array:
    """The square of `image` (S, S, C) with top-left `corner` (2,) and `side`, both fractions of S, resized to
    (out, out, C) by an antialiased linear filter (a linear map of `image`; traced corner and side)."""
    size = image.shape[0]
    scale = out / (side * size)  # output pixels per input pixel
    translation = -corner * size * scale
    return jax.image.scale_and_translate(
        image, (out, out, image.shape[2]), (0, 1), jnp.stack([scale, scale]), translation, "linear", antialias=True
    )


def crops(key: jax.Array, image: jax.Array, n: int, out: int, frac: jax.Array, method: Method) -> jax.Array:
    """`n` random crops of one image (S, S, C), each resized to `out` px: (n, out, out, C). Linear in `image`."""
    boxes = sample_boxes(key, n, frac, method)
    return jax.vmap(lambda c, s: crop_resize(image, c, s, out))(boxes.corner, boxes.side)


def add_noise(key: jax.Array, seen: jax.Array, sd: float) -> jax.Array:
    """`seen` plus N(0, sd) and U(-sd/2, sd/2) per value, as both MACO sources add (RGB 0-255 units here)."""
    k_normal, k_uniform = jax.random.split(key)
    normal = sd * jax.random.normal(k_normal, seen.shape, seen.dtype)
    return seen + normal + sd * (jax.random.uniform(k_uniform, seen.shape, seen.dtype) - 0.5)
