"""The device check's "maco" stage: MACO's promises on the device being checked, then its speed.

The promises are tests/test_maco.py's, with its tolerances: every filter of a layer runs in one compiled program,
a filter batched with the whole layer gives its images, activations and transparency map alone, the maps are
finite and non-negative, and they are importance, not how often the crops saw a pixel (uniform importance under
crops crowded into one corner gives a flat map). The speed: image-steps/s of the `maco` preset (at its own sizes)
and of `maco-fast`, a whole-layer chunk of each of the plan's layers, a few steps, as jaxviz-benchmark --preset
times them (ms per image-step, compile seconds, and, with plan.maco_rounds, beside the default method).
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from jaxviz.devicecheck import engine_checks
from jaxviz.devicecheck.engine_checks import close, require, traced_programs, traces
from jaxviz.devicecheck.stages import Context
from jaxviz.model.network import InputSpec

if TYPE_CHECKING:  # JAX comes with them: imported in the stage's process, not with this module
    from jaxviz.ascent import LayerAscent, Method
    from jaxviz.bench.ascent_speed import Settings

# Kept from each speed report (jaxviz.bench.ascent_speed.benchmark), as the models stage keeps its figures.
SPEED_KEYS = ("layer", "size", "steps", "filters", "chunk", "retries", "image_steps_per_s", "ms_per_image_step")
SPEED_KEYS += ("compile_s", "gflop_per_image_step", "achieved_gflops", "fraction_of_peak", "method")
SPEED_KEYS += ("cost_vs_default", "default")


@dataclass(frozen=True)
class MeanOfImage:
    """A network of one layer ("mean") whose one filter is the mean of what it is shown: the objective's gradient
    is the same for every pixel shown, so every pixel of an image matters as much as it was seen, and a coverage-
    corrected transparency map of it is flat wherever the crops reached (tests/test_maco.py's network)."""

    name: str = "mean-of-image"
    family: str = ""
    layers: tuple[str, ...] = ("mean",)
    default_layers: tuple[str, ...] = ("mean",)
    input: InputSpec = InputSpec(3, 16, None, "none")

    @property
    def widths(self) -> dict[str, int]:
        return {"mean": 1}

    def min_size(self, layer: str) -> int:
        return 1

    def activation(self, params: Any, images: Any, layer: str, channel: Any, precision: str, conv: str) -> Any:
        """(k, 1, 1, 1): each image's mean."""
        return images.mean(axis=(1, 2, 3))[:, None, None, None]

    def post(self, z: Any, layer: str) -> Any:
        return z

    def labels(self, layer: str) -> tuple[str, ...]:
        return ()

    def layer_params(self, params: dict, layer: str) -> dict:
        return {}

    def gflop_per_step(self, layer: str, size: int) -> float:
        return 0.0

    def bytes_per_image(self, layer: str, size: int, precision: str = "float32", images: int = 1) -> int:
        return 1


def check_method() -> Method:
    """tests/test_maco.py's MACO: the phase under the shipped template, NAdam, 2 crops a step of 0.8 -> 0.5 of the
    side resized to 24 px, transparency maps."""
    from jaxviz.ascent import Method

    return Method(param="maco", optimizer="nadam", crops=2, crop_side=24, crop_start=0.8, crop_end=0.5, alpha=True)


class MacoChecks:
    """The stage's checks on one Context: the whole layer's run is made once, by the first check that needs it,
    and its traces counted then (a later run of the same shape compiles nothing)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx

    def engine(self) -> LayerAscent:
        """The plan's MACO layer at its check size and steps, every filter in one chunk."""
        from jaxviz import ascent

        p = self.ctx.plan
        spec = ascent.Spec(p.maco_check_layer, p.maco_check_size, method=check_method())
        return ascent.LayerAscent(self.ctx.params(), spec, ascent.Knobs(steps=p.maco_check_steps))

    @functools.cached_property
    def whole_layer(self) -> tuple:
        """(the engine, every filter of the layer batched: its AscentResult, the traces of its programs by kind)."""
        from jaxviz.model.architecture import CONV_WIDTHS

        p = self.ctx.plan
        engine = self.engine()
        with traces() as seen:
            result = engine(list(range(CONV_WIDTHS[p.maco_check_layer])))
        return engine, result, traced_programs(seen, p.maco_check_layer, p.maco_check_size)

    def one_compile(self, ctx: Context) -> dict:
        """Every filter of the plan's MACO layer in one batch: one trace at most of each program (step, final
        measure) for the whole layer, not one per filter (test_maco.py
        test_maco_batched_equals_per_filter_with_alpha_in_one_compile), an image and a map for every filter."""
        _, r, programs = self.whole_layer
        p, n = ctx.plan, len(r.images)
        side = p.maco_check_size
        require(max(programs.values()) <= 1, f"the whole layer's programs were traced {programs} times")
        require(r.images.shape == (n, side, side, 3), f"images of shape {r.images.shape} for {n} filters")
        require(r.alpha is not None and r.alpha.shape == (n, side, side), "no transparency map for every filter")
        require(bool(np.isfinite(r.images).all()), "non-finite images")
        return {"layer": p.maco_check_layer, "filters": n, "traces": programs}

    def batched_equals_per_filter(self, ctx: Context) -> dict:
        """The plan's filters alone (a chunk of one) give their images, activations and transparency maps from the
        whole layer's batch (test_maco.py: images rtol 1e-4 atol 1e-2, maps rtol 1e-3 atol 1e-6 of the map's
        largest value, activations rtol 1e-4 atol 1e-4)."""
        engine, batched, _ = self.whole_layer
        worst = {"images": 0.0, "alpha": 0.0, "history": 0.0}
        for f in ctx.plan.maco_check_filters:
            alone = engine([f])
            got = {
                "images": close(batched.images[f], alone.images[0], 1e-4, 1e-2, f"filter {f}'s images"),
                "alpha": close(
                    batched.alpha[f], alone.alpha[0], 1e-3, 1e-6 * float(batched.alpha[f].max()), f"filter {f}'s alpha"
                ),
                "history": close(batched.history[f], alone.history[0], 1e-4, 1e-4, f"filter {f}'s activations"),
            }
            worst = {k: max(worst[k], got[k]) for k in worst}
        return {"filters": list(ctx.plan.maco_check_filters), "max_abs_diff": worst}

    def alpha_finite(self, ctx: Context) -> dict:
        """The whole layer's transparency maps are finite and non-negative (test_maco.py's maps), and not all zero
        (they accumulated something)."""
        _, r, _ = self.whole_layer
        alpha = r.alpha
        require(bool(np.isfinite(alpha).all()), f"{int((~np.isfinite(alpha)).sum())} non-finite values in the maps")
        require(bool((alpha >= 0).all()), f"negative values in the maps, down to {float(alpha.min()):.3g}")
        lit = int((alpha.reshape(len(alpha), -1).max(axis=1) > 0).sum())
        require(lit > 0, "every filter's map is zero: nothing was accumulated")
        return {"filters_with_a_map": lit, "max": float(alpha.max())}

    def alpha_coverage_corrected(self, ctx: Context) -> dict:
        """Uniform importance gives a flat map whatever the crops saw: MeanOfImage (every pixel shown matters as
        much) under 3 crops a step centred at N(0.3, 0.1) of the side, crowded towards the top left, on a 32 px
        image, 6 steps: the map is flat where seen (its spread under 1e-3 of its mean), the bottom right corner the
        crops never reach is 0, while the gradient summed alone (what an uncorrected map would be) is far from flat
        (test_maco.py test_uniform_importance_gives_uniform_alpha_whatever_is_seen)."""
        from jaxviz import ascent

        method = ascent.Method(param="maco", optimizer="nadam", crops=3, crop_side=12, crop_centre=(0.3, 0.1),
                               alpha=True)  # fmt: skip
        engine = ascent.LayerAscent({}, ascent.Spec("mean", 32, method=method, network=MeanOfImage()),
                                    ascent.Knobs(steps=6))  # fmt: skip
        r = engine([0])
        require(r.alpha is not None and r.alpha.shape == (1, 32, 32), "no 32 x 32 map for the one filter")
        grads = np.asarray(engine._state[2][0])[0, 0]  # the raw |gradient| sums: the map before the correction
        seen = r.alpha[0] > 0
        require(int(seen.sum()) > 100, f"only {int(seen.sum())} pixels of 1024 were seen")
        require(not seen[-4:, -4:].any(), "the bottom right corner, which the crops never reach, has a map")
        a = r.alpha[0][seen]
        spread = float((a.max() - a.min()) / a.mean())
        require(spread < 1e-3, f"the map of uniform importance varies by {spread:.3g} of its mean where seen")
        skew = float(grads[seen].max() / grads[seen].min())
        require(skew > 3, f"the uncorrected sums vary only {skew:.3g}x: the crops did not test the correction")
        return {"spread": spread, "uncorrected_max_over_min": round(skew, 2), "seen": int(seen.sum())}

    def checks(self) -> dict:
        """The checks by name, in order (engine_checks.run's argument)."""
        return {
            "maco_one_compile": self.one_compile,
            "maco_batched_equals_per_filter": self.batched_equals_per_filter,
            "maco_alpha_finite": self.alpha_finite,
            "maco_alpha_coverage_corrected": self.alpha_coverage_corrected,
        }


def layer_chunk(settings: Settings, layer: str) -> int:
    """The chunk a run picks for every filter of `layer` under `settings` on this process's devices (the device's
    memory, the crops included; 1 on a CPU), at most the layer's width."""
    import jax

    from jaxviz import ascent
    from jaxviz.bench.ascent_speed import params_of

    engine = ascent.LayerAscent(params_of(settings)[0], settings.spec(layer), settings.knobs,
                                ascent.filter_mesh(jax.local_devices()))  # fmt: skip
    width = settings.network.widths[layer]
    return min(ascent.chunk_size(engine, width), width)


def speed(ctx: Context) -> dict:
    """Each of the plan's presets on each of its layers: one whole-layer chunk (`layer_chunk`), plan.maco_speed_steps
    steps at the preset's size (or plan.maco_speed_size), plan.maco_speed_overrides applied, one part each as it
    finishes. No item starts that the last one's wall time says would end past the deadline. Returns
    {"<layer> <preset>": figures} and, when some were left out, "not_run"."""
    from jaxviz.bench import ascent_speed as benchmark

    p, done, last = ctx.plan, {}, 0.0
    todo = [(layer, preset) for layer in p.maco_speed_layers for preset in p.maco_speed_presets]
    for i, (layer, preset) in enumerate(todo):
        if time.monotonic() + last > ctx.monotonic_deadline():
            return {"speed": done, "not_run": [f"{layer} {preset}" for layer, preset in todo[i:]]}
        started = time.monotonic()
        overrides = tuple(p.maco_speed_overrides)
        size = p.maco_speed_size or benchmark.config_of(preset, overrides).ascent.size
        settings = benchmark.Settings(size, p.maco_speed_steps, weights=ctx.weights, peak_side=p.peak_side,
                                      preset=preset, overrides=overrides)  # fmt: skip
        filters = layer_chunk(settings, layer)
        report = benchmark.benchmark(settings, layer, filters, per_filter=False, rounds=p.maco_rounds)
        row = {"preset": preset} | {k: report[k] for k in SPEED_KEYS if k in report}
        done[f"{layer} {preset}"] = row
        ctx.part(f"{layer} {preset}", row)
        last = time.monotonic() - started
    return {"speed": done}


def run(ctx: Context) -> dict:
    """The checks (each a part: engine_checks.run's), then the speed figures; "status" is "failed" when a check
    failed, else "stopped" when the deadline left something out."""
    checks = engine_checks.run(ctx, MacoChecks(ctx).checks())
    if checks.get("status") == "stopped":
        return {"checks": checks, "speed": {}, "status": "stopped", "reason": "the stage's time cap"}
    out = {"checks": checks} | speed(ctx)
    if checks["failures"]:
        return out | {"status": "failed"}
    return out | ({"status": "stopped", "reason": "the stage's time cap"} if "not_run" in out else {})
