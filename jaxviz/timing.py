"""How the benchmark measures: which devices, their matmul peak, one layer through LayerAscent (compile apart)."""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxviz import ascent
from jaxviz.errors import JaxvizError


def select_devices(n: int | None = None) -> list[jax.Device]:
    """The first `n` of this process's devices (all when None)."""
    devices = jax.local_devices()
    if n is not None and not 1 <= n <= len(devices):
        raise JaxvizError(
            f"--devices must be 1..{len(devices)} ({len(devices)} {devices[0].platform} device(s) here), got {n}"
        )
    return devices if n is None else devices[:n]


def matmul_peak_gflops(
    precision: str = "float32",
    device: jax.Device | None = None,
    n: int | None = None,
    repeats: int = 5,
    trials: int = 3,
) -> float:
    """One device's matmul rate through XLA in `precision`: best of `trials` timings of a large square product."""
    device = device or jax.local_devices()[0]
    n = n or (8192 if device.platform != "cpu" else 2048)
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(ascent.DTYPES[precision])
    a = jax.device_put(a, device)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    best = float("inf")
    for _ in range(trials):
        t = time.perf_counter()
        for _ in range(repeats):
            out = f(a)
        out.block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * repeats / best / 1e9


def _compile(la: ascent.LayerAscent, chunk: int) -> tuple[float, float | None]:
    """Compile `la`'s step for `chunk` filters (into jit's cache, as `la` calls it).

    Returns (seconds, XLA's GFLOP per image-step or None).
    """
    t = time.perf_counter()
    compiled = la.lower(chunk).compile()  # trace, lower and compile: what a layer's first chunk waits for
    seconds = time.perf_counter() - t
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = (cost or {}).get("flops")
    # XLA counts one device's partition of the SPMD program: chunk / n_devices filters.
    return seconds, flops * la.n_devices / chunk / 1e9 if flops else None


def time_layer(
    params: dict, spec: ascent.Spec, knobs: ascent.Knobs, filters: list[int], chunk: int, devices: Sequence[jax.Device]
) -> dict:
    """Run `filters` through the chunk runner as a run does; compile and warm-up timed apart.

    Returns {"chunk", "seconds" (the chunks alone), "compile_s", "xla_gflop" (per image-step, or None)}.
    """
    la = ascent.LayerAscent(params, spec, knobs, ascent.filter_mesh(devices))
    chunk = ascent.chunk_size(la, len(filters), chunk)
    compile_s, xla_gflop = _compile(la, chunk)
    warm = ascent.LayerAscent(params, spec, knobs._replace(steps=1), la.mesh)
    warm(filters[:chunk], chunk)
    t = time.perf_counter()
    for _ in ascent.chunks(la, filters, chunk):
        pass  # each chunk returns host arrays: the device is done
    return {"chunk": chunk, "seconds": time.perf_counter() - t, "compile_s": compile_s, "xla_gflop": xla_gflop}
