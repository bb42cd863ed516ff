"""Throughput through the engine (ascent.LayerAscent): one layer or all 13, against the device's measured matmul
peak and its datasheet peak (peaks.py), useful FLOPs (the analytic count) apart from executed ones (XLA's)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import jax
import numpy as np

from jaxviz.ascent import PRECISIONS, Knobs, Spec
from jaxviz.ascent.spec import CHOICES
from jaxviz.bench import peaks
from jaxviz.bench.timing import matmul_peak_gflops, select_devices, time_layer
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS, CONV_WIDTHS, gflop_per_step, min_size
from jaxviz.model.vgg import param_shapes

OnLayer = Callable[[dict, dict], None]  # (the report's header, one layer's row), as each layer finishes


def random_params(seed: int = 0) -> dict:
    """VGG16 params of the right shapes, He-normal (std sqrt(2 / fan_in)), zero-mean biases scaled alike: the
    same speed as ImageNet weights (dense convolutions), for machines without the weights file."""
    rng = np.random.default_rng(seed)
    return {
        name: {
            k: (rng.normal(size=s.shape) * np.sqrt(2 / np.prod(s.shape[:-1]))).astype(np.float32)
            for k, s in leaves.items()
        }
        for name, leaves in param_shapes().items()
    }


def _params(weights: str) -> tuple[dict, str]:
    from jaxviz.model.weight_search import resolve_weights
    from jaxviz.model.weights import load_params

    try:
        return load_params(resolve_weights(weights, download=False)), "imagenet"
    except JaxvizError:
        if weights:
            raise
    return random_params(), "random"


def check_args(
    layers: Sequence[str],
    size: int,
    filters: int,
    steps: int,
    chunk: int,
    precision: str,
    choices: Mapping[str, str] | None = None,
) -> None:
    """Raise JaxvizError naming the first bad argument (as its command-line flag)."""
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
    for name, value in (choices or {}).items():
        if name not in CHOICES or value not in CHOICES[name]:
            valid = ", ".join(CHOICES.get(name, ()))
            raise JaxvizError(f"--{name} must be one of {valid}; got {value!r}")
    for layer in layers:
        if layer not in CONV_LAYERS:
            raise JaxvizError(f"unknown layer {layer!r}; valid layers: {', '.join(CONV_LAYERS)}")
        if size < min_size(layer):
            raise JaxvizError(f"--size {size} is too small for {layer}, which needs {min_size(layer)} px or more")


def _fractions(useful: float, executed: float | None, header: dict) -> dict:
    """Useful and executed GFLOP/s as fractions of the measured matmul peak and of the datasheet's dense peak,
    each times the devices (None where a figure is missing)."""
    n, out = header["devices"], {}
    for name, peak in (("peak", header["matmul_peak_gflops"]), ("datasheet_peak", header["datasheet_peak_gflops"])):
        out[f"fraction_of_{name}"] = round(useful / (peak * n), 4) if peak else None
        out[f"executed_fraction_of_{name}"] = round(executed / (peak * n), 4) if peak and executed else None
    return out


def _rates(filters: int, image_steps: int, gflop: float, executed: float, seconds: float, header: dict) -> dict:
    """Per second: useful work (`gflop`: the analytic count, see BENCHMARKS.md; the engine's extra evaluation of
    the final images is not work) and `executed` work (XLA's count, padding in), against both peaks."""
    useful, done = gflop / seconds, (executed / seconds if executed else None)
    return {
        "filters_per_s": round(filters / seconds, 3),
        "image_steps_per_s": round(image_steps / seconds, 2),
        "achieved_gflops": round(useful, 1),
        "executed_gflops": done and round(done, 1),
    } | _fractions(useful, done, header)


def _header(size: int, steps: int, precision: str, devices: Sequence[jax.Device], source: str) -> dict:
    kind = devices[0].device_kind
    documented = peaks.dense_peak(kind, precision)
    return {
        "device": f"{devices[0].platform}:{kind}",
        "devices": len(devices),
        "precision": precision,
        "size": size,
        "steps": steps,
        "weights": source,
        "matmul_peak_gflops": round(matmul_peak_gflops(precision, devices[0]), 1),
        "datasheet_peak_gflops": documented and round(documented[0], 1),
        "datasheet_peak": documented and documented[1],
    }


def _layer_row(layer: str, filters: int, steps: int, t: dict, header: dict) -> dict:
    """One layer's figures from a `time_layer` result."""
    gflop, xla = gflop_per_step(layer, header["size"]), t["xla_gflop"]
    executed = t["executed_images"] * steps * xla if xla else 0.0
    return (
        {"layer": layer, "filters": filters, "chunk": t["chunk"], "retries": t["retries"], "choices": t["choices"]}
        | {"seconds": round(t["seconds"], 6)}
        | _rates(filters, filters * steps, filters * steps * gflop, executed, t["seconds"], header)
        | {"compile_s": round(t["compile_s"], 3), "gflop_per_image_step": round(gflop, 4)}
        | {"xla_gflop_per_image_step": xla and round(xla, 4)}
        | {"xla_gbytes_per_image_step": t["xla_gbytes"] and round(t["xla_gbytes"], 5)}
    )


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
    choices: Mapping[str, str] | None = None,
    keep: int = 0,
) -> dict:
    """One layer's figures as a dict (see scripts/benchmark.py); `chunk` 0 picks it as a run would; `choices`
    {"loop"|"target"|"conv": value} go into the Spec. With `keep`, "images" holds the first `keep` filters'
    (keep, size, size, 3) float32 images (not JSON: pop it before printing)."""
    check_args([layer], size, filters, steps, chunk, precision, choices)
    devs = select_devices(devices)
    params, source = _params(weights)
    spec, knobs = Spec(layer, size, precision=precision, **(choices or {})), Knobs(steps=steps)
    header = _header(size, steps, precision, devs, source)
    width = CONV_WIDTHS[layer]
    t = time_layer(params, spec, knobs, [i % width for i in range(filters)], chunk, devs, keep)
    report = header | _layer_row(layer, filters, steps, t, header)
    if per_filter:
        n = min(filters, 4)
        one = time_layer(params, spec, knobs, list(range(n)), 1, devs[:1])
        rate1 = n * steps / one["seconds"]
        report["per_filter_image_steps_per_s"] = round(rate1, 2)
        report["per_filter_compile_s"] = round(one["compile_s"], 2)
        report["batched_speedup"] = round(report["image_steps_per_s"] / rate1, 2)
    if keep:
        report["images"] = t["images"]
    return report


def network(
    size: int,
    steps: int,
    filters: int | None = None,
    chunk: int = 0,
    weights: str = "",
    precision: str = "float32",
    devices: int | None = None,
    choices: Mapping[str, str] | None = None,
    layers: Sequence[str] = CONV_LAYERS,
    deadline: float | None = None,
    on_layer: OnLayer | None = None,
) -> dict:
    """Every filter of `layers` (at most `filters` per layer), per layer and in total.

    `on_layer(header, row)` is told each layer as it finishes. With `deadline` (a time.monotonic() value) no
    layer starts that the last layer's wall time says would end past it: "complete" is then false and
    "layers" holds what was done.
    """
    check_args(layers, size, 1 if filters is None else filters, steps, chunk, precision, choices)
    devs = select_devices(devices)
    params, source = _params(weights)
    knobs = Knobs(steps=steps)
    header = _header(size, steps, precision, devs, source)
    rows, last = [], 0.0
    for layer in layers:
        if deadline is not None and rows and time.monotonic() + last > deadline:
            break
        started = time.monotonic()
        n = min(filters or CONV_WIDTHS[layer], CONV_WIDTHS[layer])
        spec = Spec(layer, size, precision=precision, **(choices or {}))
        rows.append(_layer_row(layer, n, steps, time_layer(params, spec, knobs, list(range(n)), chunk, devs), header))
        last = time.monotonic() - started
        if on_layer is not None:
            on_layer(header, rows[-1])
    complete = len(rows) == len(layers)
    return {**header, "mode": "network", "complete": complete, "layers": rows, "total": _total(rows, header)}


def _total(rows: list[dict], header: dict) -> dict:
    """The layers' sums: seconds and compile seconds add; rates are total work over total seconds."""
    n_all = sum(r["filters"] for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    if not rows or seconds <= 0:
        return {"filters": n_all, "seconds": seconds, "compile_s": 0.0}
    useful = sum(r["achieved_gflops"] * r["seconds"] for r in rows) / seconds
    executed = sum((r["executed_gflops"] or 0) * r["seconds"] for r in rows) / seconds
    return {
        "filters": n_all,
        "seconds": round(seconds, 6),
        "filters_per_s": round(n_all / seconds, 3),
        "image_steps_per_s": round(n_all * header["steps"] / seconds, 2),
        "achieved_gflops": round(useful, 1),
        "executed_gflops": round(executed, 1) if executed else None,
        **_fractions(useful, executed or None, header),
        "compile_s": round(sum(r["compile_s"] for r in rows), 2),
    }
