"""Throughput through the engine (ascent.LayerAscent): one layer or all 13, vs the device's matmul peak."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from jaxviz.architecture import CONV_LAYERS, CONV_WIDTHS, gflop_per_step, min_size
from jaxviz.ascent import PRECISIONS, Knobs, Spec
from jaxviz.errors import JaxvizError
from jaxviz.timing import matmul_peak_gflops, select_devices, time_layer
from jaxviz.vgg import param_shapes


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


def check_args(layers: Sequence[str], size: int, filters: int, steps: int, chunk: int, precision: str) -> None:
    """Raise JaxvizError naming the first bad argument."""
    for flag, value, least in (
        ("--size", size, 1),
        ("--filters", filters, 1),
        ("--steps", steps, 1),
        ("--chunk", chunk, 0),
    ):
        if value < least:
            raise JaxvizError(f"{flag} must be {least} or more, got {value}")
    if precision not in PRECISIONS:
        raise JaxvizError(f"--precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    for layer in layers:
        if layer not in CONV_LAYERS:
            raise JaxvizError(f"unknown layer {layer!r}; valid layers: {', '.join(CONV_LAYERS)}")
        if size < min_size(layer):
            raise JaxvizError(f"--size {size} is too small for {layer}, which needs {min_size(layer)} px or more")


def _rates(filters: int, image_steps: int, gflop: float, seconds: float, peak: float) -> dict:
    """Useful work per second (the engine's extra evaluation of the final images is not counted as work)."""
    return {
        "filters_per_s": round(filters / seconds, 3),
        "image_steps_per_s": round(image_steps / seconds, 2),
        "achieved_gflops": round(gflop / seconds, 1),
        "fraction_of_peak": round(gflop / seconds / peak, 4),
    }


def _header(size: int, steps: int, precision: str, devices: Sequence[jax.Device], source: str, peak: float) -> dict:
    return {
        "device": f"{devices[0].platform}:{devices[0].device_kind}",
        "devices": len(devices),
        "precision": precision,
        "size": size,
        "steps": steps,
        "weights": source,
        "matmul_peak_gflops": round(peak, 1),
    }


def benchmark(
    layer: str,
    size: int,
    filters: int,
    steps: int,
    chunk: int = 0,
    weights: str = "",
    per_filter: bool = True,
    precision: str = "float32",
    devices: int | None = None,
) -> dict:
    """One layer's figures as a dict (see scripts/benchmark.py); `chunk` 0 picks it as a run would."""
    check_args([layer], size, filters, steps, chunk, precision)
    devs = select_devices(devices)
    params, source = _params(weights)
    spec, knobs = Spec(layer, size, precision=precision), Knobs(steps=steps)
    peak = matmul_peak_gflops(precision, devs[0])
    width = CONV_WIDTHS[layer]
    t = time_layer(params, spec, knobs, [i % width for i in range(filters)], chunk, devs)
    gflop = gflop_per_step(layer, size)
    report = {
        **_header(size, steps, precision, devs, source, peak),
        "layer": layer,
        "filters": filters,
        "chunk": t["chunk"],
        "seconds": round(t["seconds"], 6),
        **_rates(filters, filters * steps, filters * steps * gflop, t["seconds"], peak * len(devs)),
        "compile_s": round(t["compile_s"], 2),
        "gflop_per_image_step": round(gflop, 4),
        "xla_gflop_per_image_step": round(t["xla_gflop"], 4) if t["xla_gflop"] else None,
    }
    if per_filter:
        n = min(filters, 4)
        one = time_layer(params, spec, knobs, list(range(n)), 1, devs[:1])
        rate1 = n * steps / one["seconds"]
        report["per_filter_image_steps_per_s"] = round(rate1, 2)
        report["per_filter_compile_s"] = round(one["compile_s"], 2)
        report["batched_speedup"] = round(report["image_steps_per_s"] / rate1, 2)
    return report


def network(
    size: int,
    steps: int,
    filters: int | None = None,
    chunk: int = 0,
    weights: str = "",
    precision: str = "float32",
    devices: int | None = None,
) -> dict:
    """Every filter of all 13 layers (at most `filters` per layer), per layer and in total."""
    check_args(CONV_LAYERS, size, 1 if filters is None else filters, steps, chunk, precision)
    devs = select_devices(devices)
    params, source = _params(weights)
    knobs = Knobs(steps=steps)
    peak = matmul_peak_gflops(precision, devs[0])
    rows, timed = [], []  # timed: (GFLOP of useful work, seconds, compile seconds) per layer
    for layer in CONV_LAYERS:
        n = min(filters or CONV_WIDTHS[layer], CONV_WIDTHS[layer])
        t = time_layer(params, Spec(layer, size, precision=precision), knobs, list(range(n)), chunk, devs)
        gflop = gflop_per_step(layer, size)
        timed.append((n * steps * gflop, t["seconds"], t["compile_s"]))
        rows.append(
            {"layer": layer, "filters": n, "chunk": t["chunk"], "seconds": round(t["seconds"], 6)}
            | _rates(n, n * steps, n * steps * gflop, t["seconds"], peak * len(devs))
            | {"compile_s": round(t["compile_s"], 3), "gflop_per_image_step": round(gflop, 4)}
        )
    work, seconds, compile_s = (sum(column) for column in zip(*timed))
    n_all = sum(r["filters"] for r in rows)
    total = {"filters": n_all, "seconds": round(seconds, 6)} | _rates(
        n_all, n_all * steps, work, seconds, peak * len(devs)
    )
    total["compile_s"] = round(compile_s, 2)
    return {**_header(size, steps, precision, devs, source, peak), "mode": "network", "layers": rows, "total": total}


def _title(r: dict, what: str, extra: str) -> str:
    return f"{r['device']} x{r['devices']}  {what} {r['size']}px {extra}  {r['precision']}, {r['weights']} weights"


def format_report(r: dict) -> str:
    """The single-layer report, human-readable."""
    lines = [_title(r, r["layer"], f"{r['filters']} filters x {r['steps']} steps, chunk {r['chunk']},")]
    lines.append(
        f"  batched:    {r['image_steps_per_s']:8.2f} image-steps/s  {r['filters_per_s']:.3f} filters/s  "
        f"compile {r['compile_s']} s"
    )
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


def format_network(r: dict) -> str:
    """The network report, human-readable: one row per layer, then the totals."""
    lines = [_title(r, "all 13 layers", f"x {r['steps']} steps,")]
    lines[0] += f", matmul peak {r['matmul_peak_gflops']} GFLOP/s per device"
    lines.append(
        f"  {'layer':<13} {'filters':>7} {'chunk':>5} {'seconds':>9} {'filters/s':>10} {'img-steps/s':>11} "
        f"{'GFLOP/s':>8} {'peak':>5} {'compile s':>9}"
    )
    for row in [*r["layers"], {"layer": "total", "chunk": "", **r["total"]}]:
        lines.append(
            f"  {row['layer']:<13} {row['filters']:>7} {row['chunk']:>5} {row['seconds']:>9.3f} "
            f"{row['filters_per_s']:>10.2f} {row['image_steps_per_s']:>11.2f} {row['achieved_gflops']:>8.1f} "
            f"{row['fraction_of_peak']:>5.0%} {row['compile_s']:>9.2f}"
        )
    return "\n".join(lines)
