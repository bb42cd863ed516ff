"""What the ascent maximises: weighted sums of terms on a layer, minus regularisers, as in Lucid's algebra.

Terms (for the filter being visualised, `f`): `channel` (mean of f's map), `neuron` (f at the centre),
`layer_l2` (mean square of the whole layer: DeepDream). Objectives add, subtract and scale:
`channel() + 0.5 * neuron()`, or in a config, `"channel + 0.5*neuron"`. Each term reads the layer
after its ReLU, or before it with `preactivation`. After the ReLU, `revive` lets a filter that is
silent everywhere follow its pre-activation's gradient until it fires (its value is still the
post-ReLU one): without it, a silent filter gets no gradient and stays a grey tile.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from jaxviz.errors import JaxvizError

TERMS = ("channel", "neuron", "layer_l2")


@dataclass(frozen=True)
class Objective:
    """A weighted sum of terms: ((weight, name), ...). Hashable, so it can key a compiled step."""

    terms: tuple[tuple[float, str], ...]

    def __add__(self, other: Objective) -> Objective:
        return Objective(self.terms + other.terms)

    def __sub__(self, other: Objective) -> Objective:
        return self + (-1.0) * other

    def __mul__(self, w: float) -> Objective:
        return Objective(tuple((w * a, name) for a, name in self.terms))

    __rmul__ = __mul__

    def __neg__(self) -> Objective:
        return (-1.0) * self

    @property
    def needs_layer(self) -> bool:
        """Whether a term reads channels other than the filter's own (so the whole layer is computed)."""
        return any(name == "layer_l2" for _, name in self.terms)

    def __str__(self) -> str:
        return " + ".join(f"{w:g}*{name}" for w, name in self.terms).replace("+ -", "- ")


def channel() -> Objective:
    return Objective(((1.0, "channel"),))


def neuron() -> Objective:
    return Objective(((1.0, "neuron"),))


def layer_l2() -> Objective:
    return Objective(((1.0, "layer_l2"),))


_TERM = re.compile(r"\s*([+-]?)\s*(?:(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)\s*\*\s*)?([a-z_0-9]+)\s*")


def parse(text: str) -> Objective:
    """'channel + 0.5*neuron - 0.1*layer_l2' -> Objective; unknown names are one-line errors."""
    terms, pos = [], 0
    while pos < len(text):
        m = _TERM.match(text, pos)
        if not m or m.end() == pos or (terms and not m.group(1)):
            raise JaxvizError(f"objective {text!r} is not a sum like 'channel + 0.5*neuron'; terms: {', '.join(TERMS)}")
        sign, weight, name = m.groups()
        if name not in TERMS:
            raise JaxvizError(f"unknown objective term {name!r} in {text!r}; valid: {', '.join(TERMS)}")
        terms.append(((-1.0 if sign == "-" else 1.0) * float(weight or 1.0), name))
        pos = m.end()
    if not terms:
        raise JaxvizError(f"objective is empty; valid terms: {', '.join(TERMS)}")
    return Objective(tuple(terms))


def _revived(post: jax.Array, pre: jax.Array) -> jax.Array:
    # Value of `post`; where it is 0 (the ReLU is shut everywhere) the gradient of `pre` instead.
    silent = jax.lax.stop_gradient(post <= 0).astype(post.dtype)
    return post + silent * (pre - jax.lax.stop_gradient(pre))


def value(obj: Objective, z: jax.Array, c: jax.Array, preactivation: bool, revive: bool) -> jax.Array:
    """The objective for k images' pre-activations `z` (k, H, W, C) and channel index `c`, averaged over k."""
    act = z if preactivation else jax.nn.relu(z)
    zc = jnp.take(z, c, axis=-1)
    ac = jnp.take(act, c, axis=-1)
    h, w = z.shape[1] // 2, z.shape[2] // 2
    total = jnp.zeros(z.shape[0], jnp.float32)
    for weight, name in obj.terms:
        if name == "channel":
            term = ac.mean(axis=(1, 2))
            term = _revived(term, zc.mean(axis=(1, 2))) if revive and not preactivation else term
        elif name == "neuron":
            term = ac[:, h, w]
            term = _revived(term, zc[:, h, w]) if revive and not preactivation else term
        else:
            term = jnp.mean(act * act, axis=(1, 2, 3))
        total = total + weight * term
    return total.mean()


def total_variation(images: jax.Array) -> jax.Array:
    """Mean absolute difference of neighbouring pixels, in [0, 1] units."""
    x = images / 255.0
    return jnp.abs(jnp.diff(x, axis=-3)).mean() + jnp.abs(jnp.diff(x, axis=-2)).mean()


def l2(images: jax.Array) -> jax.Array:
    """Mean square distance from mid-grey, in [0, 1] units."""
    return jnp.mean((images / 255.0 - 0.5) ** 2)


def blur(images: jax.Array) -> jax.Array:
    """Mean square difference between the images and a 3x3 box blur of them, in [0, 1] units."""
    x = images / 255.0
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[1], x.shape[2]
    smooth = sum(padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
    return jnp.mean((x - smooth) ** 2)


def diversity(act: jax.Array) -> jax.Array:
    """Mean cosine similarity of the k images' Gram matrices (of post-ReLU activations); 0 for one image."""
    k = act.shape[0]
    if k < 2:
        return jnp.zeros((), jnp.float32)
    flat = act.reshape(k, -1, act.shape[-1])
    grams = jnp.einsum("kpc,kpd->kcd", flat, flat).reshape(k, -1)
    grams = grams / (jnp.linalg.norm(grams, axis=1, keepdims=True) + 1e-12)
    sim = grams @ grams.T
    return (sim.sum() - jnp.trace(sim)) / (k * (k - 1))
