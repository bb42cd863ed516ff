"""Update rules as one optax chain (state vmapped with the images), scaled by a traced step-size schedule.

The chain turns the ascent gradient into a direction; the engine adds `lr(t) * direction` to the
latent. `normalized` is the tutorials' rule (the gradient divided by its RMS, L2 norm or max, per
image); the others are optax's own (nadam: MACO's). Step size and normaliser are traced, so sweeping them never
recompiles. Three tables map names to factories: NORMALIZERS, OPTIMIZERS, SCHEDULES.

The schedules are written here rather than taken from optax: optax's schedules need the step count
as a Python number when built, and jaxviz's total step count is traced (sweeping `steps` reuses a compile).
"""

from __future__ import annotations

from collections.abc import Callable

from jaxviz.runtime.lazy_jax import jax, jnp, optax  # the config reads these tables' names without importing JAX

# Name -> the norm g is divided by. Sources: RMS + 1e-5 from Chollet's Deep Learning with Python 5.4; L2 from
# the TF2 GradientTape tutorial (tf.math.l2_normalize); max |g| and the signed max (max g) from the TF1 tutorial.
NORMALIZERS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "rms": lambda g: jnp.sqrt(jnp.mean(g * g)) + 1e-5,
    "l2": lambda g: jnp.sqrt(jnp.sum(g * g)) + 1e-12,
    "max": lambda g: jnp.max(jnp.abs(g)) + 1e-12,
    "signed_max": lambda g: jnp.max(g) + 1e-8,
}


def normalize_gradient(g: jax.Array, how: str | jax.Array) -> jax.Array:
    """`g` divided by one of NORMALIZERS' norms; `how` is a name or its index in NORMALIZERS (may be traced:
    one compile serves all four).

    A traced index selects among the four norms rather than branching: `lax.switch` stays an HLO
    conditional, whose index XLA:GPU copies back to the host and waits for, every step; four reductions of
    one gradient cost nothing next to the step. (XLA then fuses the reductions differently, so images differ
    from a branching version in the last bits: ~3e-5 of 255 after a few steps, measured on XLA:CPU.)
    """
    if isinstance(how, str):
        return g / NORMALIZERS[how](g)
    norms = jnp.stack([norm(g) for norm in NORMALIZERS.values()])
    return g / norms[jnp.clip(how, 0, len(NORMALIZERS) - 1)]


def normalize_per_image(how: jax.Array) -> optax.GradientTransformation:
    """Each image's gradient (leading axis) divided by its own norm: the tutorials' normalised step."""

    def update(updates, state, params=None):
        return jax.tree.map(lambda g: jax.vmap(lambda x: normalize_gradient(x, how))(g), updates), state

    return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


# Name -> factory of the chain that turns the ascent gradient into a direction (the step size comes after).
OPTIMIZERS: dict[str, Callable[[jax.Array], optax.GradientTransformation]] = {
    "normalized": normalize_per_image,
    "sgd": lambda how: optax.identity(),
    "momentum": lambda how: optax.trace(decay=0.9),
    "adam": lambda how: optax.scale_by_adam(),
    "rmsprop": lambda how: optax.scale_by_rms(),
    # Adam with Nesterov momentum (Dozat 2016, "Incorporating Nesterov Momentum into Adam"), optax's nadam without
    # its step size: MACO's optimiser in both sources (torch.optim.NAdam in Horama, keras Nadam in Xplique, each at
    # learning rate 1.0). torch's NAdam also decays its momentum (psi 0.004), which optax's does not.
    "nadam": lambda how: optax.scale_by_adam(nesterov=True),
}


def direction(name: str, how: jax.Array) -> optax.GradientTransformation:
    """OPTIMIZERS[name] with normaliser index `how` (used by `normalized` only). KeyError for an unknown name."""
    return OPTIMIZERS[name](how)


def _warmup_cosine(base: jax.Array, t: jax.Array, frac: jax.Array, total: jax.Array) -> jax.Array:
    warm = 0.1  # the first 10% of the steps ramp up linearly
    ramp = jnp.minimum(1.0, (t + 1) / jnp.maximum(warm * total, 1.0))
    after = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.clip((frac - warm) / (1 - warm), 0.0, 1.0)))
    return base * jnp.where(frac < warm, ramp, after)


# Name -> lr(base, t, t / total, total), every argument possibly traced.
SCHEDULES: dict[str, Callable[..., jax.Array]] = {
    "constant": lambda base, t, frac, total: base,
    "cosine": lambda base, t, frac, total: base * 0.5 * (1.0 + jnp.cos(jnp.pi * frac)),
    "warmup_cosine": _warmup_cosine,
    "linear": lambda base, t, frac, total: base * (1.0 - frac),
}


def learning_rate(schedule: str, base: jax.Array, t: jax.Array, total: jax.Array) -> jax.Array:
    """Step size at step `t` of `total` (both may be traced) by SCHEDULES[schedule]."""
    total = jnp.maximum(total, 1)
    return SCHEDULES[schedule](base, t, t / total, total)
