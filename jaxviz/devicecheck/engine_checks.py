"""The device check's "tests" stage: the engine's promises, checked on the device being checked.

The repository's tests check them on a CPU; a wheel installed on a machine with an accelerator has no tests/, so
the promises that depend on the device ship here, each asserting what its test asserts (named in its docstring),
with the same tolerances, at the plan's sizes: the batch equals each filter alone, chunks and padding change
nothing, one compile per layer and shape (the knobs are traced), a non-finite update is contained, every loop,
target and conv gives the same images, the compiled step has no conditional, the device loop reports every step
and equals the host loop, bfloat16 stays close to float32, and the filters split over the devices give the images
of one device. Each check is one results.jsonl part: passed or not, its figures, or what broke.
"""

from __future__ import annotations

import collections
import contextlib
import re
import time
import traceback
from collections.abc import Callable, Iterator

import numpy as np

from jaxviz.devicecheck.stages import Context

TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"  # JAX's monitoring event for each trace (what compiles)


class CheckFailed(Exception):
    """A promise broken on this device; the message says by how much."""


class Skipped(Exception):
    """A check this machine cannot make (one device has nothing to split over); the message says why."""


def require(ok: bool, message: str) -> None:
    if not ok:
        raise CheckFailed(message)


def close(got: np.ndarray, want: np.ndarray, rtol: float, atol: float, what: str) -> float:
    """The largest |got - want|; CheckFailed unless |got - want| <= atol + rtol * |want| everywhere (NumPy's
    assert_allclose, which the tests use)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    require(got.shape == want.shape, f"{what}: shapes {got.shape} and {want.shape}")
    diff = np.abs(got - want)
    bad = int(np.count_nonzero(~(diff <= atol + rtol * np.abs(want))))
    require(bad == 0, f"{what}: {bad} of {diff.size} values off by up to {diff.max():.3g} (rtol {rtol}, atol {atol})")
    return float(diff.max())


@contextlib.contextmanager
def traces() -> Iterator[collections.Counter]:
    """Traces (what a compile starts with) by function name while inside, from JAX's public monitoring events:
    the engine's programs are named `ascent.step_name(layer, side, kind)`."""
    import jax.monitoring

    seen: collections.Counter = collections.Counter()

    def listen(event: str, duration: float, fun_name: str = "", **_: object) -> None:
        if event == TRACE_EVENT:
            seen[fun_name] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)


def traced_programs(seen: collections.Counter, layer: str, side: int) -> dict[str, int]:
    """Traces of `layer`'s programs at `side` px, by kind (one step, a device-loop segment, the final measure)."""
    from jaxviz import ascent

    return {kind: seen[ascent.step_name(layer, side, kind)] for kind in ("step", "segment", "measure")}


def batched_equals_per_filter(ctx: Context) -> dict:
    """Four filters of block2_conv1 in one batch give each filter's images and history alone (tests/test_ascent.py
    test_batched_equals_per_filter_loop: images rtol 1e-5 atol 1e-3, histories rtol 1e-4 atol 1e-4)."""
    from jaxviz import ascent

    p, filters = ctx.plan, [0, 3, 9, 17]
    spec, knobs = ascent.Spec("block2_conv1", p.checks_size), ascent.Knobs(steps=p.checks_steps)
    engine = ascent.LayerAscent(ctx.params(), spec, knobs)
    batched, worst = engine(filters), {"images": 0.0, "history": 0.0}
    for i, f in enumerate(filters):
        alone = engine([f])
        images = close(batched.images[i], alone.images[0], 1e-5, 1e-3, f"filter {f}'s images")
        history = close(batched.history[i], alone.history[0], 1e-4, 1e-4, f"filter {f}'s activations")
        worst = {"images": max(worst["images"], images), "history": max(worst["history"], history)}
    return {"max_abs_diff": worst}


def chunking_keeps_results(ctx: Context) -> dict:
    """Three filters of block3_conv1 padded to a chunk of five give their unpadded images (test_ascent.py
    test_chunking_does_not_change_results: rtol 1e-5, atol 1e-3)."""
    from jaxviz import ascent

    p, filters = ctx.plan, [1, 2, 5]
    spec, knobs = ascent.Spec("block3_conv1", p.checks_size), ascent.Knobs(steps=p.checks_steps)
    engine = ascent.LayerAscent(ctx.params(), spec, knobs)
    return {"max_abs_diff": close(engine(filters, 5).images, engine(filters).images, 1e-5, 1e-3, "padded images")}


def one_compile_per_shape(ctx: Context) -> dict:
    """block1_conv2's programs compile at most once per chunk shape: other filters, a chunk padded to the same
    shape and other step sizes, normalisers and seeds (traced knobs) reuse them; a new shape compiles once more
    (test_ascent.py test_one_compile_per_layer_and_shape, test_devices.py
    test_step_size_normaliser_and_seed_do_not_recompile). At most, not exactly: a program this process compiled
    before is not traced again."""
    from jaxviz import ascent

    p, layer = ctx.plan, "block1_conv2"
    spec, knobs = ascent.Spec(layer, p.checks_size), ascent.Knobs(steps=p.checks_steps)
    params = ctx.params()
    with traces() as seen:
        ascent.LayerAscent(params, spec, knobs)([0, 1])
        ascent.LayerAscent(params, spec, knobs)([5, 6])  # the same shape
        ascent.LayerAscent(params, spec, knobs)([7], 2)  # padded to the same shape
        for step, normalizer, seed in ((0.5, "rms", 3), (2.0, "l2", 1), (3.0, "max", 0)):
            ascent.LayerAscent(params, spec, knobs._replace(step=step, normalizer=normalizer, seed=seed))([0, 1])
        one_shape = traced_programs(seen, layer, p.checks_size)
        require(max(one_shape.values()) <= 1, f"one chunk shape traced {one_shape} times")
        ascent.LayerAscent(params, spec, knobs)([7])  # a chunk of one: a new shape
        two_shapes = traced_programs(seen, layer, p.checks_size)
    require(max(two_shapes.values()) <= 2, f"two chunk shapes traced {two_shapes} times")
    return {"traces_one_shape": one_shape, "traces_two_shapes": two_shapes}


def non_finite_contained(ctx: Context) -> dict:
    """A step of 3e38 overflows the first update of two block1_conv1 filters: it is reported at step 0 and the
    last finite images are kept (test_ascent.py test_non_finite_update_is_reported_and_contained)."""
    from jaxviz import ascent

    knobs = ascent.Knobs(step=3e38, steps=ctx.plan.checks_steps)
    r = ascent.LayerAscent(ctx.params(), ascent.Spec("block1_conv1", ctx.plan.checks_size), knobs)([0, 1])
    require(bool((r.nan_step == 0).all()), f"non-finite steps reported as {r.nan_step.tolist()}, expected [0, 0]")
    require(bool(np.isfinite(r.images).all()), "the images kept are not finite")
    return {"nan_step": r.nan_step.tolist()}


def every_choice_same_images(ctx: Context) -> dict:
    """On each of the plan's layers, every loop, target and conv (each flipped alone from the CPU's, then all the
    accelerators') gives the CPU choices' images: every pixel within 3 of 255, the mean within 0.1, the
    activations within 2% (tests/test_backends.py test_every_choice_gives_the_same_images, whose comment has
    the measured differences)."""
    from jaxviz import ascent
    from jaxviz.ascent.spec import ACCELERATOR_CHOICES, CPU_CHOICES

    p, params, out = ctx.plan, ctx.params(), {}
    knobs = ascent.Knobs(steps=p.checks_steps)
    for layer in p.checks_layers:
        size = 32 if layer.startswith("block5") else p.checks_size
        base = ascent.LayerAscent(params, ascent.Spec(layer, size, **CPU_CHOICES), knobs)([0, 3])
        for choice in ({"loop": "device"}, {"target": "layer"}, {"conv": "xla"}, ACCELERATOR_CHOICES):
            name = f"{layer} " + ",".join(f"{k}={v}" for k, v in choice.items())
            r = ascent.LayerAscent(params, ascent.Spec(layer, size, **{**CPU_CHOICES, **choice}), knobs)([0, 3])
            diff = np.abs(r.images - base.images)
            worst, mean = float(diff.max()), float(diff.mean())
            require(worst < 3.0 and mean < 0.1, f"{name}: pixels differ by {worst:.3g} at most, {mean:.3g} on average")
            close(r.history, base.history, 2e-2, 1e-3 * np.abs(base.history).max(), f"{name}: activations")
            out[name] = {"max": round(worst, 4), "mean": round(mean, 5)}
    return {"pixel_diff": out}


def no_conditional_in_the_step(ctx: Context) -> dict:
    """The compiled step of each of the plan's optimizers holds no conditional: XLA:GPU copies a conditional's
    predicate to the host every step (tests/test_backends.py test_the_compiled_step_has_no_conditional)."""
    from jaxviz import ascent

    knobs = ascent.Knobs(steps=ctx.plan.checks_steps)
    for optimizer in ctx.plan.checks_optimizers:
        spec = ascent.Spec("block1_conv2", 24, method=ascent.Method(optimizer=optimizer))
        hlo = ascent.LayerAscent(ctx.params(), spec, knobs).lower(2).compile().as_text()
        require(not re.search(r"\bconditional\(", hlo), f"the {optimizer} step holds a conditional")
    return {"optimizers": list(ctx.plan.checks_optimizers)}


def device_loop_segments(ctx: Context) -> dict:
    """The device loop runs block1_conv2's steps in compiled segments, one program per segment length, reports
    every step, and gives the host loop's activations (tests/test_backends.py
    test_the_device_loop_runs_segments_and_reports_every_step: rtol 1e-5, atol 1e-5)."""
    from jaxviz import ascent

    steps, side, layer = ctx.plan.checks_steps, 28, "block1_conv2"
    segment = max(1, steps - 2)  # 6 steps: segments of 4 and 2, as the test runs
    lengths = {min(segment, steps - t) for t in range(0, steps, segment)}
    knobs, seen_steps = ascent.Knobs(steps=steps), []
    engine = ascent.LayerAscent(ctx.params(), ascent.Spec(layer, side, loop="device"), knobs, segment=segment)
    with traces() as seen:
        r = engine([1, 2], on_step=lambda s, act, images: seen_steps.append(s))
    require(seen_steps == list(range(1, steps + 1)), f"steps reported: {seen_steps}, expected 1..{steps}")
    programs = traced_programs(seen, layer, side)["segment"]
    require(programs <= len(lengths), f"{programs} segment programs traced for lengths {sorted(lengths)}")
    host = ascent.LayerAscent(ctx.params(), ascent.Spec(layer, side, loop="host"), knobs)([1, 2])
    return {"segments": sorted(lengths), "max_abs_diff": close(r.history, host.history, 1e-5, 1e-5, "activations")}


def bfloat16_close_to_float32(ctx: Context) -> dict:
    """Four block3_conv1 filters in bfloat16: float32 images, no non-finite step, live filters' activations rise,
    start activations within 5% of their scale of float32's and final ones within 5% (tests/test_devices.py
    test_bfloat16_activations_rise_and_stay_close_to_float32)."""
    from jaxviz import ascent

    params, filters, knobs = ctx.params(), [0, 1, 2, 3], ascent.Knobs(steps=ctx.plan.checks_steps)
    f32 = ascent.LayerAscent(params, ascent.Spec("block3_conv1", 32), knobs)(filters)
    bf16 = ascent.LayerAscent(params, ascent.Spec("block3_conv1", 32, precision="bfloat16"), knobs)(filters)
    require(bf16.images.dtype == np.float32, f"bfloat16 images are {bf16.images.dtype}, expected float32")
    require(bool((bf16.nan_step == -1).all()), f"non-finite steps in bfloat16: {bf16.nan_step.tolist()}")
    live = f32.history[:, -1] > 0
    require(bool(live.any()), "no filter is live in float32: nothing to compare")
    require(bool((bf16.history[live, -1] > bf16.history[live, 0]).all()), "a live filter did not rise in bfloat16")
    scale = float(np.abs(f32.history[:, 0]).max())
    start = float(np.abs(bf16.history[:, 0] - f32.history[:, 0]).max())
    require(start < 0.05 * scale, f"start activations differ by {start:.3g}, over 5% of their scale {scale:.3g}")
    close(bf16.history[live, -1], f32.history[live, -1], 0.05, 0.0, "final activations")
    return {"start_diff": round(start, 5), "scale": round(scale, 5), "live": int(live.sum())}


def devices_give_same_images(ctx: Context) -> dict:
    """The filters split over 2 and over all of this machine's devices give one device's images and histories
    (tests/test_devices.py test_images_equal_on_one_two_and_four_devices, there on 4 forced CPU devices: rtol
    1e-5, atol 1e-5), each chunk padded to a multiple of the devices."""
    import jax

    from jaxviz import ascent

    devices = jax.local_devices()
    if len(devices) < 2:
        raise Skipped(f"one {devices[0].platform} device: nothing to split the filters over")
    knobs, out = ascent.Knobs(steps=ctx.plan.checks_steps), {}
    for layer, filters in (("block1_conv2", [0, 5, 9, 13, 21]), ("block3_conv1", [2, 7, 11])):
        spec = ascent.Spec(layer, 32)
        one = ascent.LayerAscent(ctx.params(), spec, knobs, ascent.filter_mesh(devices[:1]))(filters)
        for n in sorted({2, len(devices)}):
            engine = ascent.LayerAscent(ctx.params(), spec, knobs, ascent.filter_mesh(devices[:n]))
            require(engine.n_devices == n, f"a mesh of {n} devices holds {engine.n_devices}")
            r = engine(filters)
            close(r.images, one.images, 1e-5, 1e-5, f"{layer} on {n} devices: images")
            out[f"{layer}/{n}"] = close(r.history, one.history, 1e-5, 0.0, f"{layer} on {n} devices: activations")
    return {"devices": len(devices), "max_abs_diff": out}


CHECKS: dict[str, Callable[[Context], dict]] = {
    "batched_equals_per_filter": batched_equals_per_filter,
    "chunking_keeps_results": chunking_keeps_results,
    "one_compile_per_shape": one_compile_per_shape,
    "non_finite_contained": non_finite_contained,
    "every_choice_same_images": every_choice_same_images,
    "no_conditional_in_the_step": no_conditional_in_the_step,
    "device_loop_segments": device_loop_segments,
    "bfloat16_close_to_float32": bfloat16_close_to_float32,
    "devices_give_same_images": devices_give_same_images,
}


def run(ctx: Context, checks: dict[str, Callable[[Context], dict]] | None = None) -> dict:
    """Every check of `checks` (default CHECKS) in order, each reported as a part as it finishes: {"passed": true
    or false, "seconds", its figures, or "error"} ({"skipped": reason} where the machine cannot make it). A check
    that fails, or raises anything, fails alone; the next one runs. Stops before ctx.deadline ("status":
    "stopped", the checks left named). Returns the counts and each failure's message; "status": "failed" when
    any check failed."""
    checks = CHECKS if checks is None else checks
    counts = dict.fromkeys(("passed", "failed", "skipped"), 0)
    failures: dict[str, str] = {}
    for i, (name, check) in enumerate(checks.items()):
        if time.time() > ctx.deadline:
            return {**counts, "failures": failures, "status": "stopped", "not_run": list(checks)[i:]}
        t = time.perf_counter()
        try:
            line = {"passed": True, **check(ctx)}
            counts["passed"] += 1
        except Skipped as e:
            line = {"passed": None, "skipped": str(e)}
            counts["skipped"] += 1
        except Exception as e:  # a broken promise or a crash: this check fails, the next one runs
            if not isinstance(e, CheckFailed):
                traceback.print_exc()  # to stderr: the runner keeps it in log.txt
            failures[name] = f"{type(e).__name__}: {e}"[:1000]
            line = {"passed": False, "error": failures[name]}
            counts["failed"] += 1
        ctx.part(name, {**line, "seconds": round(time.perf_counter() - t, 3)})
    return {**counts, "failures": failures} | ({"status": "failed"} if failures else {})
