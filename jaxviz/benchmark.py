"""Throughput figures: batched vs one filter at a time, compile time, GFLOP/s vs the matmul peak."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxviz import ascent
from jaxviz.config import AscentConfig
from jaxviz.errors import JaxvizError
from jaxviz.targets import min_size, resolve_layers
from jaxviz.vgg import CONV_WIDTHS, gflop_per_step, param_shapes


def _params(weights: str) -> tuple[dict, str]:
    from jaxviz.fetch import resolve_weights
    from jaxviz.weights import load_params

    try:
        return load_params(resolve_weights(weights, download=False)), "imagenet"
    except JaxvizError:
        if weights:
            raise
    rng = np.random.default_rng(0)
    shapes = param_shapes()
    return {
        name: {
            k: (rng.normal(size=s.shape) * np.sqrt(2 / np.prod(s.shape[:-1]))).astype(np.float32)
            for k, s in leaves.items()
        }
        for name, leaves in shapes.items()
    }, "random"


def matmul_peak_gflops(n: int | None = None, repeats: int = 5, trials: int = 3) -> float:
    """The device's float32 matmul rate through XLA: best of `trials` timings of a large square product."""
    n = n or (8192 if jax.devices()[0].platform != "cpu" else 2048)
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
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


def _time_run(params, layer, filters, steps, chunk, cfg) -> tuple[float, float, float | None]:
    """(seconds for `steps` updates of every filter, compile seconds, XLA flops per image-step)."""
    sub = ascent.layer_params(params, layer)
    step_fn = ascent.compiled_step(layer, cfg.precision)
    knobs = (jnp.float32(cfg.step), jnp.int32(0))
    idx = jnp.arange(chunk, dtype=jnp.int32) % CONV_WIDTHS[layer]
    images = ascent.init_images(cfg.seed, 0, idx, cfg.size, cfg.init_mean, cfg.init_noise)
    t = time.perf_counter()
    compiled = step_fn.lower(sub, images, idx, *knobs).compile()
    compile_s = time.perf_counter() - t
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops = cost.get("flops") / chunk if cost and cost.get("flops") else None
    jax.block_until_ready(compiled(sub, images, idx, *knobs))  # warm-up
    t = time.perf_counter()
    for start in range(0, filters, chunk):
        idx = (jnp.arange(chunk, dtype=jnp.int32) + start) % CONV_WIDTHS[layer]
        images = ascent.init_images(cfg.seed, 0, idx, cfg.size, cfg.init_mean, cfg.init_noise)
        for _ in range(steps):
            images, act, _ = compiled(sub, images, idx, *knobs)
        act.block_until_ready()
    return time.perf_counter() - t, compile_s, flops


def benchmark(
    layer: str, size: int, filters: int, steps: int, chunk: int = 0, weights: str = "", per_filter: bool = True
) -> dict:
    """Every figure as a dict (see scripts/benchmark.py)."""
    (layer,) = resolve_layers(layer)
    if size < min_size(layer) or filters < 1 or steps < 1 or chunk < 0:
        raise JaxvizError(f"need --size >= {min_size(layer)} for {layer}, --filters >= 1, --steps >= 1, --chunk >= 0")
    params, source = _params(weights)
    cfg = AscentConfig(size=size, steps=steps)
    chunk = min(chunk or filters, filters)
    filters = -(-filters // chunk) * chunk
    seconds, compile_s, xla_flops = _time_run(params, layer, filters, steps, chunk, cfg)
    gflop = gflop_per_step(layer, size)
    rate = filters * steps / seconds
    peak = matmul_peak_gflops()
    device = jax.devices()[0]
    report = {
        "device": f"{device.platform}:{device.device_kind}",
        "layer": layer,
        "size": size,
        "filters": filters,
        "steps": steps,
        "chunk": chunk,
        "weights": source,
        "seconds": round(seconds, 3),
        "image_steps_per_s": round(rate, 2),
        "filters_per_s": round(filters / seconds, 3),
        "compile_s": round(compile_s, 2),
        "gflop_per_image_step": round(gflop, 3),
        "xla_gflop_per_image_step": round(xla_flops / 1e9, 3) if xla_flops else None,
        "achieved_gflops": round(rate * gflop, 1),
        "matmul_peak_gflops": round(peak, 1),
        "fraction_of_peak": round(rate * gflop / peak, 3),
    }
    if per_filter:
        n = min(filters, 4)
        seconds1, compile1, _ = _time_run(params, layer, n, steps, 1, cfg)
        report.update(
            {
                "per_filter_image_steps_per_s": round(n * steps / seconds1, 2),
                "per_filter_compile_s": round(compile1, 2),
                "batched_speedup": round(rate / (n * steps / seconds1), 2),
            }
        )
    return report


def format_report(r: dict) -> str:
    lines = [
        f"{r['device']}  {r['layer']} {r['size']}px  {r['filters']} filters x {r['steps']} steps "
        f"(chunk {r['chunk']}, {r['weights']} weights)",
        f"  batched:    {r['image_steps_per_s']:8.2f} image-steps/s  {r['filters_per_s']:.3f} filters/s  "
        f"compile {r['compile_s']} s",
    ]
    if "per_filter_image_steps_per_s" in r:
        lines.append(
            f"  per-filter: {r['per_filter_image_steps_per_s']:8.2f} image-steps/s  "
            f"(batched is {r['batched_speedup']}x)"
        )
    lines.append(
        f"  {r['achieved_gflops']} GFLOP/s achieved ({r['gflop_per_image_step']} GFLOP/image-step; XLA counts "
        f"{r['xla_gflop_per_image_step']}), matmul peak {r['matmul_peak_gflops']} GFLOP/s "
        f"-> {r['fraction_of_peak']:.0%}"
    )
    return "\n".join(lines)
