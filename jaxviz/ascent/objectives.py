"""What the ascent maximises: weighted sums of terms, as in Lucid's (and Lucent's) objective algebra.

Every term maps what one filter's step sees (`Seen`: its k images and the layer's pre-activation) to a
number; an objective is a weighted sum of terms, and the engine's score is one call to `value`. Terms
on the filter `f`: `channel` (mean of f's map), `neuron` (f at the centre), `layer_l2` (mean square of
the whole layer: DeepDream). Regularisers are terms too, entered with negative weights: `tv` (total
variation), `l2` (distance from grey), `blur` (difference from a 3x3 blur), `diversity` (similarity
of a filter's k images' Gram matrices). Objectives add, subtract and scale: `channel() - 0.1 * tv()`,
or in a config `"channel + 0.5*neuron - 0.1*tv"`. The filter's terms read the layer after its ReLU,
or before it with `preactivation`; after the ReLU, `revive` lets a filter that is silent everywhere
follow its pre-activation's gradient until it fires (its value is still the post-ReLU one): without
it, a silent filter gets no gradient and stays a grey tile. Adding a term is one function and one
entry in TERMS.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from jaxviz.errors import JaxvizError
from jaxviz.runtime.lazy_jax import jax, jnp  # config checks and plans parse objectives without importing JAX


class Seen(NamedTuple):
    """What one filter's step scores: its images and the layer's response to them (after transforms)."""

    images: jax.Array  # (k, H, W, 3) RGB 0-255 as rendered, before the random transforms
    z: jax.Array  # (k, h, w, C) the layer's pre-activation; C = 1 when only the filter's channel is computed
    channel: jax.Array | int  # the filter's channel in z
    preactivation: bool = False
    revive: bool = True
    post: Callable | None = None  # the layer's nonlinearity (Network.post); None: ReLU, VGG's

    def after(self, z: jax.Array) -> jax.Array:
        """`z` after the layer's nonlinearity."""
        return jax.nn.relu(z) if self.post is None else self.post(z)


class Term(NamedTuple):
    """A term's value (a scalar, averaged over the k images) and whether it reads the whole layer."""

    fn: Callable[[Seen], jax.Array]
    needs_layer: bool


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
        return any(TERMS[name].needs_layer for _, name in self.terms)

    def uses(self, name: str) -> bool:
        """Whether term `name` enters with a non-zero weight."""
        return any(w and n == name for w, n in self.terms)

    def __str__(self) -> str:
        return " + ".join(f"{w:g}*{name}" for w, name in self.terms).replace("+ -", "- ")


def term(name: str) -> Objective:
    """The objective made of term `name` alone, weight 1 (JaxvizError for an unknown name)."""
    if name not in TERMS:
        raise JaxvizError(f"unknown objective term {name!r}; valid: {', '.join(TERMS)}")
    return Objective(((1.0, name),))


# Each term as an objective of weight 1, for the algebra in Python: `channel() - 0.1 * tv()`.
channel, neuron, layer_l2, tv, l2, blur, diversity = (
    functools.partial(term, name) for name in ("channel", "neuron", "layer_l2", "tv", "l2", "blur", "diversity")
)


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


def _filter_term(reduce: Callable[[jax.Array], jax.Array]) -> Callable[[Seen], jax.Array]:
    """A term on the filter's own map, (k, h, w) -> (k,) by `reduce`, after (or before) its ReLU, revived."""

    def fn(s: Seen) -> jax.Array:
        zc = jnp.take(s.z, s.channel, axis=-1)
        value = reduce(zc if s.preactivation else s.after(zc))
        if s.revive and not s.preactivation:
            value = _revived(value, reduce(zc))
        return value.mean()

    return fn


def _centre(x: jax.Array) -> jax.Array:
    return x[:, x.shape[1] // 2, x.shape[2] // 2]


def _layer_l2(s: Seen) -> jax.Array:
    act = s.z if s.preactivation else s.after(s.z)
    return jnp.mean(act * act, axis=(1, 2, 3)).mean()


def total_variation(images: jax.Array) -> jax.Array:
    """Mean absolute difference of neighbouring pixels, in [0, 1] units."""
    x = images / 255.0
    return jnp.abs(jnp.diff(x, axis=-3)).mean() + jnp.abs(jnp.diff(x, axis=-2)).mean()


def l2_from_grey(images: jax.Array) -> jax.Array:
    """Mean square distance from mid-grey, in [0, 1] units."""
    return jnp.mean((images / 255.0 - 0.5) ** 2)


def blur_difference(images: jax.Array) -> jax.Array:
    """Mean square difference between the images and a 3x3 box blur of them, in [0, 1] units."""
    x = images / 255.0
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = x.shape[1], x.shape[2]
    smooth = sum(padded[:, i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0
    return jnp.mean((x - smooth) ** 2)


def gram_similarity(act: jax.Array) -> jax.Array:
    """Mean cosine similarity of the k images' Gram matrices (of post-ReLU activations); 0 for one image."""
    k = act.shape[0]
    if k < 2:
        return jnp.zeros((), jnp.float32)
    flat = act.reshape(k, -1, act.shape[-1])
    grams = jnp.einsum("kpc,kpd->kcd", flat, flat).reshape(k, -1)
    grams = grams / (jnp.linalg.norm(grams, axis=1, keepdims=True) + 1e-12)
    sim = grams @ grams.T
    return (sim.sum() - jnp.trace(sim)) / (k * (k - 1))


# Name -> term. Sources: channel, neuron and the regularisers follow Lucid's objectives and
# regularizers (tensorflow/lucid, optvis/objectives.py); layer_l2 is DeepDream's L2 of a whole layer.
TERMS: dict[str, Term] = {
    "channel": Term(_filter_term(lambda m: m.mean(axis=(1, 2))), False),
    "neuron": Term(_filter_term(_centre), False),
    "layer_l2": Term(_layer_l2, True),
    "tv": Term(lambda s: total_variation(s.images), False),
    "l2": Term(lambda s: l2_from_grey(s.images), False),
    "blur": Term(lambda s: blur_difference(s.images), False),
    "diversity": Term(lambda s: gram_similarity(s.after(s.z)), True),  # Gram matrices need every channel
}


def value(obj: Objective, seen: Seen) -> jax.Array:
    """The objective's value for one filter: the weighted sum of its terms on `seen` (a scalar)."""
    total = None
    for weight, name in obj.terms:
        part = weight * TERMS[name].fn(seen)
        total = part if total is None else total + part
    return total if total is not None else jnp.zeros((), jnp.float32)
