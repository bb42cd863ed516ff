"""What, besides a run's settings, changes the numbers it computes: recorded with them, compared on resume.

Every filter's starting noise comes from (seed, layer, filter) through JAX's PRNG; which bits that gives depends
on the PRNG implementation and on `jax_threefry_partitionable` (its default changed in JAX 0.5), and the
ascent's arithmetic depends on the JAX/jaxlib release, the backend and device, the default matmul precision,
64-bit mode and XLA's flags. A run extended under another of these would mix images from two noise sources or
two arithmetics in one directory, silently: the run directory records them all, and a resume under a different
one is refused by name (jaxviz.run.chunk_store). A probe of the noise itself is recorded too, so a change the names
miss still shows.
"""

from __future__ import annotations

import hashlib
import os
import shlex

# XLA flags that only write files for people to read (dumps, profiles): they change no number.
_QUIET_FLAGS = ("--xla_dump", "--xla_hlo_profile", "--xla_log", "--xla_gpu_dump")


def _numeric_xla_flags() -> str:
    """$XLA_FLAGS without the flags that change no number, sorted (their order means nothing)."""
    flags = shlex.split(os.environ.get("XLA_FLAGS", ""))
    return " ".join(sorted(f for f in flags if not f.startswith(_QUIET_FLAGS)))


def noise_probe() -> str:
    """A digest of noise drawn the way an ascent draws its start (keys folded from a seed, a layer and a filter;
    uniform float32 of an 8x8 RGB image): two environments with the same digest draw the same noise."""
    import jax
    import numpy as np

    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(0), 3), 7)
    noise = np.asarray(jax.random.uniform(key, (8, 8, 3), jax.numpy.float32))
    return hashlib.sha256(noise.tobytes()).hexdigest()[:16]


def environment() -> dict[str, str]:
    """Everything outside a config that changes a run's numbers, by a name a refusal can say (imports JAX)."""
    import jax
    import jaxlib

    device = jax.devices()[0]
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "backend": jax.default_backend(),
        "device kind": str(device.device_kind),
        "PRNG implementation": str(jax.config.jax_default_prng_impl),
        "threefry partitionable": str(bool(jax.config.jax_threefry_partitionable)),
        "default matmul precision": str(jax.config.jax_default_matmul_precision),
        "64-bit mode": str(bool(jax.config.jax_enable_x64)),
        "XLA flags": _numeric_xla_flags(),
        "starting noise": noise_probe(),
    }


# How to get back the value a directory was made with, for a refusal's advice.
ADVICE = {
    "jax": "pip install jax=={}",
    "jaxlib": "pip install jaxlib=={}",
    "threefry partitionable": "JAX_THREEFRY_PARTITIONABLE={}",
    "PRNG implementation": "JAX_DEFAULT_PRNG_IMPL={}",
    "default matmul precision": "JAX_DEFAULT_MATMUL_PRECISION={}",
    "64-bit mode": "JAX_ENABLE_X64={}",
    "XLA flags": "XLA_FLAGS='{}'",
}


def differences(then: dict, now: dict) -> list[str]:
    """The entries of `now` that `then` recorded otherwise, as "name: then -> now (to match: how)"; an entry
    `then` never recorded (a directory from before it was recorded) is not a difference."""
    out = []
    for name, value in now.items():
        if name in then and then[name] != value:
            how = ADVICE.get(name)
            hint = f" (to match: {how.format(then[name])})" if how else ""
            out.append(f"{name}: {then[name]!r} -> {value!r}{hint}")
    return out
