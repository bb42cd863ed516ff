"""How the benchmark measures: which devices, their matmul peak, one layer through the chunk runner (compiles and
warm-up apart, out-of-memory halving as a run does), XLA's count of the compiled step, the step program alone."""

from __future__ import annotations

import time
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxviz import ascent
from jaxviz.errors import JaxvizError
from jaxviz.runtime import compile_clock


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


def xla_cost(la: ascent.LayerAscent, chunk: int) -> tuple[float | None, float | None]:
    """XLA's cost analysis of `la`'s compiled step for `chunk` filters: (GFLOP, GB accessed) per image-step, each
    None where the backend does not say. The step is the one a host loop dispatches and a device loop repeats."""
    cost = la.lower(chunk).compile().cost_analysis()
    cost = (cost[0] if isinstance(cost, list) else cost) or {}
    # XLA counts one device's partition of the SPMD program: chunk / n_devices filters.
    per = la.n_devices / chunk

    def scaled(key: str) -> float | None:
        value = cost.get(key)
        return value * per / 1e9 if value else None

    return scaled("flops"), scaled("bytes accessed")


def time_layer(
    params: dict,
    spec: ascent.Spec,
    knobs: ascent.Knobs,
    filters: list[int],
    chunk: int,
    devices: Sequence[jax.Device],
    keep: int = 0,
) -> dict:
    """Run `filters` through the chunk runner as a run does; compiles and warm-up timed apart.

    The warm-up runs the first chunk through `ascent.chunks` too, so an out-of-memory error halves the chunk
    before anything is timed; it runs one step on the host loop (same programs) and every step on the device
    loop (its segment's length is the step count). Returns {"chunk" (the size finally used), "retries" (each
    halved size, in order), "seconds" (the timed chunks alone), "compile_s" (trace, lower and compile of every
    program the timed chunks use, failed sizes included; 0 for programs an earlier timing compiled),
    "xla_gflop" / "xla_gbytes" (per image-step, or None), "executed_images" (images the timed chunks stepped,
    padding included), "choices" (the spec's made loop/target/conv), "images" (the first `keep` filters'
    (keep, size, size, 3) float32 images, when `keep`)}.
    """
    la = ascent.LayerAscent(params, spec, knobs, ascent.filter_mesh(devices))
    size = ascent.chunk_size(la, len(filters), chunk)
    retries: list[int] = []
    warm = la if la.spec.loop == "device" else ascent.LayerAscent(params, spec, knobs._replace(steps=1), la.mesh)
    before = compile_clock.seconds()
    for _ in ascent.chunks(warm, filters[:size], size, on_retry=retries.append):
        break  # one chunk that fits is enough: every later chunk has its shape
    compile_s = compile_clock.seconds() - before
    size = retries[-1] if retries else size
    xla_gflop, xla_gbytes = xla_cost(la, size)

    current, executed, kept = [size], 0, []

    def retried(new: int) -> None:
        retries.append(new)
        current[0] = new

    t = time.perf_counter()
    for _, result in ascent.chunks(la, filters, size, on_retry=retried):
        executed += current[0]  # each chunk is padded to the current size
        if len(kept) < keep:
            kept.extend(result.images[: keep - len(kept)])
    seconds = time.perf_counter() - t
    out = {
        "chunk": current[0],
        "retries": retries,
        "seconds": seconds,
        "compile_s": compile_s,
        "xla_gflop": xla_gflop,
        "xla_gbytes": xla_gbytes,
        "executed_images": executed,
        "choices": {k: getattr(la.spec, k) for k in ("loop", "target", "conv")},
    }
    if keep:
        out["images"] = np.stack(kept)
    return out


def time_program(la: ascent.LayerAscent, chunk: int, calls: int = 10) -> dict:
    """The compiled step for `chunk` filters alone, called `calls` times back to back on zero images.

    Returns {"program_ms": milliseconds per call until the device is done (what the device takes per step when
    the host never waits), "dispatch_ms": milliseconds per call for it to return to Python (the host's cost to
    enqueue a step: what a host loop pays per step, a device loop per segment)}. Times are data-independent
    here (dense convolutions), so zeros stand in for the state; the params are `la`'s own.
    """
    lowered = la.lower(chunk)
    compiled = lowered.compile()
    info, tree = jax.tree.flatten(lowered.args_info[0])
    shardings = tree.flatten_up_to(compiled.input_shardings[0])
    zeros = [jnp.zeros(i.shape, i.dtype) for i in info]
    # Arguments the program does not read have no sharding (None): they stay where jnp put them.
    placed = [jax.device_put(z, s) if isinstance(s, jax.sharding.Sharding) else z for z, s in zip(zeros, shardings)]
    args = jax.tree.unflatten(tree, placed)
    args = (la.params, *args[1:])
    jax.block_until_ready(compiled(*args))
    t = time.perf_counter()
    for _ in range(calls):
        out = compiled(*args)
    dispatched = time.perf_counter() - t
    jax.block_until_ready(out)
    done = time.perf_counter() - t
    return {"program_ms": done / calls * 1e3, "dispatch_ms": dispatched / calls * 1e3}
