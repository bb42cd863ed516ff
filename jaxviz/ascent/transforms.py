"""Random image transforms applied before the model (robustness), each with its own key per filter and step.

A transform is `(key, image) -> image` on one (H, W, 3) float image, pure and vmappable, so every filter
of a chunk draws its own offsets, scales and angles. Output sizes are static (a crop of fixed size at a
random offset, an affine warp at the same size), so one compile serves every step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

from jaxviz.errors import JaxvizError
from jaxviz.runtime.lazy_jax import jax, jnp  # config checks and plans parse transforms without importing JAX

Transform = Callable[["jax.Array", "jax.Array"], "jax.Array"]  # (key, image) -> image
GREY = 127.5  # padding colour in pixel units (Lucid pads with 0.5 of [0, 1])


def pad(width: int, value: float = GREY) -> Transform:
    """Constant padding of `width` pixels on every side (room for jitter, scale and rotate)."""

    def apply(key: jax.Array, image: jax.Array) -> jax.Array:
        return jnp.pad(image, ((width, width), (width, width), (0, 0)), constant_values=value)

    return apply


def jitter(d: int) -> Transform:
    """A crop `d` pixels smaller in each direction, at a uniformly random offset in [0, d]."""

    def apply(key: jax.Array, image: jax.Array) -> jax.Array:
        h, w, c = image.shape
        dy, dx = jax.random.randint(key, (2,), 0, d + 1)
        return jax.lax.dynamic_slice(image, (dy, dx, 0), (h - d, w - d, c))

    return apply


def affine(scales: Sequence[float] = (1.0,), degrees: Sequence[float] = (0.0,)) -> Transform:
    """Zoom by a factor drawn from `scales` and rotate by an angle drawn from `degrees`, about the centre.

    Bilinear resampling at the same size; what falls outside the image is mid-grey.
    """
    scales_arr, angles = jnp.asarray(scales, jnp.float32), jnp.deg2rad(jnp.asarray(degrees, jnp.float32))

    def apply(key: jax.Array, image: jax.Array) -> jax.Array:
        k1, k2 = jax.random.split(key)
        s = jax.random.choice(k1, scales_arr)
        a = jax.random.choice(k2, angles)
        return warp(image, s, a)

    return apply


def warp(image: jax.Array, scale: jax.Array | float, angle: jax.Array | float) -> jax.Array:
    """`image` zoomed by `scale` and rotated by `angle` radians about its centre (bilinear, grey outside)."""
    h, w, _ = image.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32) - cy, jnp.arange(w, dtype=jnp.float32) - cx, indexing="ij")
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    # Output pixel -> source pixel: the inverse rotation, divided by the zoom.
    sy = (cos * yy - sin * xx) / scale + cy
    sx = (sin * yy + cos * xx) / scale + cx

    def channel(c: jax.Array) -> jax.Array:
        return jax.scipy.ndimage.map_coordinates(c, [sy, sx], order=1, mode="constant", cval=GREY)

    return jax.vmap(channel, in_axes=2, out_axes=2)(image)


def _numbers(name: str, args: list[str], spec: str) -> list[float]:
    try:
        return [float(a) for a in args]
    except ValueError:
        raise JaxvizError(f"transform {spec!r}: {name} takes numbers, e.g. {TRANSFORMS[name].example!r}") from None


def _pixels(name: str, values: list[float], spec: str) -> None:
    if len(values) != 1 or values[0] < 0 or values[0] != int(values[0]):
        raise JaxvizError(
            f"transform {spec!r}: {name} takes one whole number of pixels >= 0, e.g. {TRANSFORMS[name].example!r}"
        )


def _in_range(low: float, high: float, what: str) -> Callable[[str, list[float], str], None]:
    def check(name: str, values: list[float], spec: str) -> None:
        if not all(low <= v <= high for v in values):
            raise JaxvizError(f"transform {spec!r}: {what} must lie in {low:g}..{high:g}")

    return check


class Kind(NamedTuple):
    """One transform by name: an example, a check of its values, a factory, and its effect on the image side."""

    example: str
    check: Callable[[str, list[float], str], None]
    make: Callable[[list[float]], Transform]
    side: Callable[[int, list[float]], int]  # output side for an input side


TRANSFORMS: dict[str, Kind] = {
    "pad": Kind("pad:12", _pixels, lambda v: pad(int(v[0])), lambda n, v: n + 2 * int(v[0])),
    "jitter": Kind("jitter:8", _pixels, lambda v: jitter(int(v[0])), lambda n, v: n - int(v[0])),
    "scale": Kind("scale:0.9:1.0:1.1", _in_range(0.25, 4, "scale factors"), lambda v: affine(scales=v), lambda n, v: n),
    "rotate": Kind(
        "rotate:-10:0:10", _in_range(-180, 180, "rotate angles (degrees)"), lambda v: affine(degrees=v), lambda n, v: n
    ),
}


def parse(spec: str) -> tuple[str, list[float]]:
    """'jitter:8' -> ('jitter', [8.0]); checks the name and the ranges, or a one-line error."""
    name, *args = spec.strip().split(":")
    if name not in TRANSFORMS:
        examples = ", ".join(k.example for k in TRANSFORMS.values())
        raise JaxvizError(f"unknown transform {name!r} in {spec!r}; valid: {examples}")
    values = _numbers(name, args, spec)
    if not values:
        raise JaxvizError(f"transform {spec!r} needs a value, e.g. {TRANSFORMS[name].example!r}")
    TRANSFORMS[name].check(name, values, spec)
    return name, values


def build(specs: Sequence[str]) -> list[Transform]:
    """The transforms named by `specs` ('pad:12', 'jitter:8', 'scale:0.9:1.1', 'rotate:-5:5'), in order."""
    return [TRANSFORMS[name].make(values) for name, values in map(parse, specs)]


def output_side(specs: Sequence[str], size: int) -> int:
    """The side of the image the model sees after `specs` (pads add, jitters crop, the others keep it)."""
    for name, values in map(parse, specs):
        size = TRANSFORMS[name].side(size, values)
    return size


def compose(transforms: Sequence[Transform]) -> Transform:
    """One transform running `transforms` in order, each with its own key split from the one given."""

    def apply(key: jax.Array, image: jax.Array) -> jax.Array:
        for i, t in enumerate(transforms):
            image = t(jax.random.fold_in(key, i), image)
        return image

    return apply


def step_key(seed: jax.Array, layer_index: int, filt: jax.Array, step: jax.Array) -> jax.Array:
    """The key of one filter's transforms at one step: the same whatever the chunking or device count."""
    base = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), layer_index), filt)
    return jax.random.fold_in(jax.random.fold_in(base, 0x7A5F), step)


def random_affine(key: jax.Array, image: jax.Array, max_shift: float, scales: tuple, degrees: float) -> jax.Array:
    """A random shift (roll), zoom and rotation: the perturbations robustness is measured under."""
    k1, k2, k3 = jax.random.split(key, 3)
    s = jax.random.uniform(k2, (), minval=scales[0], maxval=scales[1])
    a = jax.random.uniform(k3, (), minval=-degrees, maxval=degrees) * math.pi / 180
    shift = jax.random.randint(k1, (2,), -int(max_shift), int(max_shift) + 1)
    return warp(jnp.roll(image, shift, axis=(0, 1)), s, a)
