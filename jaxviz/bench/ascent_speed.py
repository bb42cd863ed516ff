"""Throughput through the engine (ascent.LayerAscent): one layer or all 13, against the device's measured matmul
peak and its datasheet peak (peaks.py), useful FLOPs (the analytic count) apart from executed ones (XLA's); any
method a preset or config overrides describe (MACO's crops included), timed beside the default method.

Importing this module imports no JAX (`Settings.check` refuses bad arguments first); the timings do.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from jaxviz.ascent import PRECISIONS, Knobs, Method, Spec
from jaxviz.ascent.spec import CHOICES
from jaxviz.bench import peaks
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS
from jaxviz.model.network import Network

if TYPE_CHECKING:
    import jax

    from jaxviz.config import Config

OnLayer = Callable[[dict, dict], None]  # (the report's header, one layer's row), as each layer finishes


@dataclass(frozen=True)
class Settings:
    """What every timing of a benchmark shares: the image `size` (px), `steps` per filter, the `chunk` (filters
    per batch; 0: what a run picks for the device), the `weights` ("" to search this machine, random ones when
    none is found), the `precision`, the first `devices` local devices (None: all), the `choices`
    {"loop"|"target"|"conv": value} that go into each Spec, and `peak_side`: the side of the square matmul
    that measures the device's peak (None: timing.matmul_peak_gflops' own, 2048 on CPU, 8192 elsewhere), the
    `model` (jaxviz.model.model_registry's names: "vgg16", "vgg19", a Keras application with `weights` a file or
    "random", ...), and the method: jaxviz's default, or what the `preset` (a name of jaxviz.config.presets) and
    the `overrides` ("section.key=value", as --set takes them) make of the config (`config_of`): its [param],
    [method], [objective], transforms, optimizer and knobs (step size, normaliser, seed). The timing's own
    `size`, `steps`, `precision`, `choices` and `model` are these fields, whatever the config says.
    """

    size: int = 128
    steps: int = 5
    chunk: int = 0
    weights: str = ""
    precision: str = "float32"
    devices: int | None = None
    choices: Mapping[str, str] = field(default_factory=dict)
    peak_side: int | None = None
    model: str = "vgg16"
    preset: str = ""
    overrides: tuple[str, ...] = ()

    @functools.cached_property
    def config(self) -> Config:
        """The config the method and knobs come from (`config_of`)."""
        return config_of(self.preset, self.overrides)

    @functools.cached_property
    def method(self) -> Method:
        """The method timed: the config's (jaxviz.run.translate.method_of; MACO's template loaded), or the default
        Method() with neither preset nor overrides. JaxvizError (one line) as method_of raises it."""
        if not (self.preset or self.overrides):
            return Method()
        from jaxviz.run.translate import method_of

        return method_of(self.config)

    @property
    def custom(self) -> bool:
        """Whether the method timed is other than the default one (then it is timed beside it)."""
        return self.method != Method()

    @property
    def knobs(self) -> Knobs:
        """The config's traced values (step size, normaliser, seed) with this benchmark's `steps`."""
        from jaxviz.run.translate import knobs_of

        return knobs_of(self.config)._replace(steps=self.steps)

    @property
    def network(self) -> Network:
        """The model's Network (a Keras model is built here, once per process)."""
        from jaxviz.model.model_registry import network_of

        return network_of(self.model, self.weights)

    def check(self, layers: Sequence[str], filters: int = 1) -> None:
        """Raise JaxvizError naming the first bad setting (as its command-line flag) for timing `filters`
        filters of each of `layers`; needs no JAX (the device count is checked when the devices are known)."""
        for flag, value, least in (
            ("--size", self.size, 1),
            ("--filters", filters, 1),
            ("--steps", self.steps, 1),
            ("--chunk", self.chunk, 0),
            ("--devices", 1 if self.devices is None else self.devices, 1),
        ):
            if value < least:
                raise JaxvizError(f"{flag} must be {least} or more, got {value}")
        if self.precision not in PRECISIONS:
            raise JaxvizError(f"--precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        stages = self.config.ascent.stages  # an unknown preset, key or value: refused here
        if stages != 1:
            what = f"the {self.preset} preset's" if self.preset else "the config's"
            raise JaxvizError(
                f"{what} ascent.stages = {stages} resizes the image between stages; the benchmark times one size: "
                "add --set ascent.stages=1"
            )
        self.method  # noqa: B018  (a method that cannot be built: refused here, before JAX)
        for name, value in self.choices.items():
            if name not in CHOICES or value not in CHOICES[name]:
                valid = ", ".join(CHOICES.get(name, ()))
                raise JaxvizError(f"--{name} must be one of {valid}; got {value!r}")
        from jaxviz.model.model_registry import model_names
        from jaxviz.model.targets import valid_layers

        if self.model not in model_names():
            raise JaxvizError(f"--model must be one of {', '.join(model_names())}; got {self.model!r}")
        net = self.network
        for layer in layers:
            if layer not in net.widths:
                raise JaxvizError(f"unknown layer {layer!r}; valid layers: {valid_layers(net)}")
            if self.size < net.min_size(layer):
                raise JaxvizError(
                    f"--size {self.size} is too small for {layer}, which needs {net.min_size(layer)} px or more"
                )

    def spec(self, layer: str, method: Method | None = None) -> Spec:
        """`layer`'s Spec at these settings, with `method` (default: this benchmark's). JaxvizError (one line) for a
        method that cannot work there."""
        method = self.method if method is None else method
        return Spec(layer, self.size, precision=self.precision, method=method, network=self.network, **self.choices)


def config_of(preset: str = "", overrides: Sequence[str] = ()) -> Config:
    """jaxviz's default config <- preset `preset` ("" for none) <- `overrides` ("section.key=value", as
    jaxviz-visualize's --set). Imports no JAX. Raises JaxvizError (one line) for an unknown preset, key or value."""
    from jaxviz import config as config_lib
    from jaxviz.config import presets

    base = config_lib.load(presets.path(preset)) if preset else None
    return config_lib.load(None, list(overrides), base=base)


def describe_method(spec: Spec) -> dict:
    """What the report says of `spec`'s method: the parameterisation, the optimiser, the transforms, the crops a
    step, the side (px) the model is shown, the noise, and whether transparency maps are kept."""
    m = spec.method
    return {
        "param": m.param,
        "optimizer": m.optimizer,
        "transforms": list(m.transforms),
        "crops": m.crops,
        "fed_side": spec.fed_side(),
        "noise": m.noise,
        "alpha": m.alpha,
    }


def useful_gflop(spec: Spec) -> float:
    """The analytic GFLOP of one image-step (one filter's image, one step) of `spec`: the network's count at the
    image's side, or with crops (MACO) that many crops at their side (the rendering's FFTs are not counted)."""
    if spec.method.crops:
        return spec.method.crops * spec.network.gflop_per_step(spec.layer, spec.fed_side())
    return spec.network.gflop_per_step(spec.layer, spec.size)


def params_of(settings: Settings) -> tuple[dict, str]:
    """The params and what the report calls them: "imagenet" for VGG16's weights file, "random" for random ones
    (random_params, or a Keras model's own initialisation), else the weights file's name."""
    if settings.model == "vgg16":
        from jaxviz.model.weights import find_and_load_or_random

        loaded = find_and_load_or_random(settings.weights)
        return loaded.params, "random" if loaded.path is None else "imagenet"
    from jaxviz.model.model_registry import load_model

    loaded = load_model(settings.model, settings.weights, download=False)
    return loaded.params, "random" if loaded.path is None else loaded.path.name


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


def _header(settings: Settings, devices: Sequence[jax.Device], source: str, spec: Spec) -> dict:
    from jaxviz.bench.timing import matmul_peak_gflops

    kind, precision = devices[0].device_kind, settings.precision
    documented = peaks.dense_peak(kind, precision)
    peak = matmul_peak_gflops(precision, devices[0], settings.peak_side)
    return {
        "device": f"{devices[0].platform}:{kind}",
        "devices": len(devices),
        "precision": precision,
        "size": settings.size,
        "steps": settings.steps,
        "weights": source,
        "model": settings.model,
        "preset": settings.preset or None,
        "overrides": list(settings.overrides),
        "method": describe_method(spec),
        "matmul_peak_gflops": round(peak, 1),
        "datasheet_peak_gflops": documented and round(documented[0], 1),
        "datasheet_peak": documented and documented[1],
    }


def _layer_row(spec: Spec, filters: int, steps: int, t: dict, header: dict) -> dict:
    """One layer's figures from a `time_layer` result of `spec`."""
    gflop, xla = useful_gflop(spec), t["xla_gflop"]
    executed = t["executed_images"] * steps * xla if xla else 0.0
    return (
        {"layer": spec.layer, "filters": filters, "chunk": t["chunk"], "retries": t["retries"]}
        | {"choices": t["choices"], "seconds": round(t["seconds"], 6)}
        | _rates(filters, filters * steps, filters * steps * gflop, executed, t["seconds"], header)
        | {"ms_per_image_step": round(t["seconds"] / (filters * steps) * 1e3, 4)}
        | {"compile_s": round(t["compile_s"], 3), "gflop_per_image_step": round(gflop, 4)}
        | {"xla_gflop_per_image_step": xla and round(xla, 4)}
        | {"xla_gbytes_per_image_step": t["xla_gbytes"] and round(t["xla_gbytes"], 5)}
    )


def _fastest(timings: list[dict]) -> dict:
    """The round with the fewest seconds, its compile seconds the rounds' sum (the first round's, in effect: later
    ones reuse its programs), with the first round's kept images."""
    best = min(timings, key=lambda t: t["seconds"])
    kept = {"images": timings[0]["images"]} if "images" in timings[0] else {}
    return {**best, "compile_s": sum(t["compile_s"] for t in timings)} | kept


def benchmark(
    settings: Settings, layer: str, filters: int, per_filter: bool = True, keep: int = 0, rounds: int = 2
) -> dict:
    """`filters` filters of `layer` (cycling through its width) at `settings`, as one dict (see
    scripts/benchmark.py): the header (device, peaks, weights, the method), the layer's row (rates, ms per
    image-step, seconds, compile seconds, FLOP counts) and, with `per_filter`, the one-filter-at-a-time baseline on
    one device. With `keep`, "images" holds the first `keep` filters' (keep, size, size, 3) float32 images (not
    JSON: pop it before printing).

    A method other than the default (`Settings.custom`: a preset's, MACO's) is timed `rounds` times (0: once,
    alone) alternating with the default method on the same filters, size, chunk and steps, each figure the faster
    of its rounds (a busy moment of the machine then weighs on both alike): "default" holds the default method's
    figures, "cost_vs_default" the ratio of their milliseconds per image-step, "rounds" each round's image-steps/s.

    Raises JaxvizError for a bad setting (Settings.check, `rounds` below 0), a device count this machine lacks, or
    weights named that cannot be read.
    """
    settings.check([layer], filters)
    if rounds < 0:
        raise JaxvizError(f"--rounds must be 0 or more, got {rounds}")
    from jaxviz.bench.timing import select_devices, time_layer

    devs = select_devices(settings.devices)
    params, source = params_of(settings)
    spec, knobs, net = settings.spec(layer), settings.knobs, settings.network
    header = _header(settings, devs, source, spec)
    width, steps = net.widths[layer], settings.steps
    ids = [i % width for i in range(filters)]
    if not (settings.custom and rounds):
        t = time_layer(params, spec, knobs, ids, settings.chunk, devs, keep)
        report = header | _layer_row(spec, filters, steps, t, header)
    else:
        plain, plain_knobs, mine, theirs = settings.spec(layer, Method()), Knobs(steps=steps), [], []
        for r in range(rounds):  # alternating: the method, then the default, round after round
            mine.append(time_layer(params, spec, knobs, ids, settings.chunk, devs, 0 if r else keep))
            theirs.append(time_layer(params, plain, plain_knobs, ids, settings.chunk, devs))
        t, base = _fastest(mine), _layer_row(plain, filters, steps, _fastest(theirs), header)
        report = header | _layer_row(spec, filters, steps, t, header)
        keys = ("image_steps_per_s", "ms_per_image_step", "chunk", "compile_s", "gflop_per_image_step")
        report["default"] = {k: base[k] for k in (*keys, "xla_gflop_per_image_step")}
        report["default"]["method"] = describe_method(plain)
        report["cost_vs_default"] = round(report["ms_per_image_step"] / base["ms_per_image_step"], 3)
        report["rounds"] = [
            {"method": round(filters * steps / a["seconds"], 2), "default": round(filters * steps / b["seconds"], 2)}
            for a, b in zip(mine, theirs)
        ]
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
    settings: Settings,
    filters: int | None = None,
    layers: Sequence[str] = CONV_LAYERS,
    deadline: float | None = None,
    on_layer: OnLayer | None = None,
) -> dict:
    """Every filter of `layers` (at most `filters` per layer) at `settings`, per layer and in total.

    `on_layer(header, row)` is told each layer as it finishes. With `deadline` (a time.monotonic() value) no
    layer starts that the last layer's wall time says would end past it: "complete" is then false and
    "layers" holds what was done. Raises JaxvizError as `benchmark` does.
    """
    from jaxviz.bench.timing import select_devices, time_layer

    settings.check(layers, 1 if filters is None else filters)
    devs = select_devices(settings.devices)
    params, source = params_of(settings)
    knobs, net = settings.knobs, settings.network
    header = _header(settings, devs, source, settings.spec(layers[0]))
    rows, last = [], 0.0
    for layer in layers:
        if deadline is not None and rows and time.monotonic() + last > deadline:
            break
        started = time.monotonic()
        n = min(filters or net.widths[layer], net.widths[layer])
        spec = settings.spec(layer)
        t = time_layer(params, spec, knobs, list(range(n)), settings.chunk, devs)
        rows.append(_layer_row(spec, n, settings.steps, t, header))
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
