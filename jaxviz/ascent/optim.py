"""Update rules as one optax chain (state vmapped with the images), scaled by a traced step size schedule.

The chain turns the ascent gradient into a direction; the engine adds `lr(t) * direction` to the
latent. `normalized` is the seeds' rule (the gradient divided by its RMS, L2 norm or max, per image);
the others are optax's own. Step size and normaliser are traced, so sweeping them never recompiles.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

OPTIMIZERS = ("normalized", "sgd", "momentum", "adam", "rmsprop")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "linear")
NORMALIZERS = ("rms", "l2", "max", "signed_max")


def normalize_gradient(g: jax.Array, how: str | jax.Array) -> jax.Array:
    """The tutorials' gradient normalisations: by RMS (+1e-5), L2 norm, max magnitude, or signed max (the TF1 one's).

    `how` is a name or its index in NORMALIZERS; an index may be traced (one compile serves all).
    """
    branches = (
        lambda g: g / (jnp.sqrt(jnp.mean(g * g)) + 1e-5),
        lambda g: g / (jnp.sqrt(jnp.sum(g * g)) + 1e-12),
        lambda g: g / (jnp.max(jnp.abs(g)) + 1e-12),
        lambda g: g / (jnp.max(g) + 1e-8),
    )
    if isinstance(how, str):
        return branches[NORMALIZERS.index(how)](g)
    return jax.lax.switch(how, branches, g)


def normalize_per_image(how: jax.Array) -> optax.GradientTransformation:
    """Each image's gradient (leading axis) divided by its own norm: the seeds' normalised step."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda g: jax.vmap(lambda x: normalize_gradient(x, how))(g), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def direction(name: str, how: jax.Array) -> optax.GradientTransformation:
    """The chain that turns the ascent gradient into an update direction (the step size comes after)."""
    if name == "normalized":
        return normalize_per_image(how)
    if name == "sgd":
        return optax.identity()
    if name == "momentum":
        return optax.trace(decay=0.9)
    if name == "adam":
        return optax.scale_by_adam()
    return optax.scale_by_rms()


def learning_rate(schedule: str, base: jax.Array, t: jax.Array, total: jax.Array) -> jax.Array:
    """Step size at step `t` of `total` (both may be traced): constant, cosine decay, 10% linear warm-up
    then cosine, or linear decay."""
    total = jnp.maximum(total, 1)
    frac = t / total
    if schedule == "constant":
        return base
    if schedule == "linear":
        return base * (1.0 - frac)
    cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * frac))
    if schedule == "cosine":
        return base * cosine
    warm = 0.1
    ramp = jnp.minimum(1.0, (t + 1) / jnp.maximum(warm * total, 1.0))
    after = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.clip((frac - warm) / (1 - warm), 0.0, 1.0)))
    return base * jnp.where(frac < warm, ramp, after)
