"""The device check's probes: each "auto" choice timed against its alternative, and a real out-of-memory recovery."""

from __future__ import annotations

import os
import time

import numpy as np

from jaxviz.devicecheck.stages import Context

# Each made choice's other option (spec.py's LOOPS, TARGETS, CONVS less "auto").
ALTERNATIVE = dict(host="device", device="host", channel="layer", layer="channel", xla="patches", patches="xla")


def _variants(made: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    """("auto", the backend's choices), then each choice flipped alone ("loop=host", ...)."""
    flips = [(f"{k}={ALTERNATIVE[v]}", {**made, k: ALTERNATIVE[v]}) for k, v in made.items()]
    return [("auto", dict(made)), *flips]


def choices(ctx: Context) -> dict:
    """Per layer of the plan, the backend's "auto" choices and each one flipped alone, timed the same way.

    Each variant reports "step_ms" (the engine's seconds per step of one chunk as a run drives it, the final
    evaluation and the image transfer included), "program_ms" (the compiled step alone, back to back: the
    device's time), "dispatch_ms" (one call's return to Python: the host's cost to enqueue a step) and
    "overhead_ms" = step_ms - program_ms (host time the loop does not hide). The result says, per layer and
    choice, whether auto's pick had the lower step_ms.
    """
    import jax

    from jaxviz import ascent
    from jaxviz.bench.timing import time_layer, time_program
    from jaxviz.model.architecture import CONV_WIDTHS

    p, params = ctx.plan, ctx.params()
    devices, knobs = jax.local_devices(), ascent.Knobs(steps=p.steps)
    mesh = ascent.filter_mesh(devices)
    step_ms: dict[str, dict[str, float]] = {}
    for layer in p.choice_layers:
        made = ascent.Spec(layer, p.size).for_backend(devices[0].platform)
        made = {k: getattr(made, k) for k in ("loop", "target", "conv")}
        filters = list(range(min(p.choice_filters or CONV_WIDTHS[layer], CONV_WIDTHS[layer])))
        step_ms[layer] = {}
        for name, chosen in _variants(made):
            if time.time() > ctx.deadline:
                return {"made": made, "step_ms": step_ms, "status": "stopped", "reason": "the stage's time cap"}
            spec = ascent.Spec(layer, p.size, **chosen)
            t = time_layer(params, spec, knobs, filters, 0, devices)
            program = time_program(ascent.LayerAscent(params, spec, knobs, mesh), t["chunk"], p.program_calls)
            chunks = max(1, t["executed_images"] // t["chunk"])
            ms = t["seconds"] / (p.steps * chunks) * 1e3
            step_ms[layer][name] = round(ms, 3)
            row = {"layer": layer, "variant": name, "choices": chosen, "filters": len(filters), "chunk": t["chunk"]}
            device_ms = program["program_ms"]
            row |= {"step_ms": round(ms, 3), "program_ms": round(device_ms, 3), "overhead_ms": round(ms - device_ms, 3)}
            row |= {"dispatch_ms": round(program["dispatch_ms"], 4)}
            row |= {"image_steps_per_s": round(len(filters) * p.steps / t["seconds"], 2)}
            ctx.part(f"{layer} {name}", row | {"compile_s": round(t["compile_s"], 3)})
    auto_faster = {
        layer: {k: ms["auto"] <= ms[f"{k}={ALTERNATIVE[v]}"] for k, v in made.items()} for layer, ms in step_ms.items()
    }
    return {"made": made, "step_ms": step_ms, "auto_faster": auto_faster}


class _Ceiling:
    """A LayerAscent whose device holds `fits` filters per chunk: bigger chunks raise XLA's out-of-memory error
    before running, as an accelerator's allocator would (XLA:CPU allocates from the host and cannot run out)."""

    def __init__(self, engine, fits: int):
        self.engine, self.fits = engine, fits

    def __getattr__(self, name: str):
        return getattr(self.engine, name)

    def __call__(self, filters, chunk=None, on_step=None):
        import jax

        if (chunk or len(filters)) > self.fits:
            raise jax.errors.JaxRuntimeError(f"RESOURCE_EXHAUSTED: simulated: {chunk} filters > {self.fits}")
        return self.engine(filters, chunk, on_step)


def oom(ctx: Context) -> dict:
    """A chunk several times too big for the device's memory (the process runs with a small
    XLA_PYTHON_CLIENT_MEM_FRACTION) through ascent.chunks: it must halve until a chunk fits and finish every
    filter with finite images. On CPU the ceiling is simulated (`_Ceiling`), and the result says so.

    Raises RuntimeError when nothing was halved (the chunk fit: nothing was checked) or a filter is missing.
    """
    import jax

    from jaxviz import ascent
    from jaxviz.ascent.chunk_sizing import bytes_per_image

    p = ctx.plan
    device = jax.local_devices()[0]
    simulated = device.platform == "cpu"
    engine = ascent.LayerAscent(ctx.params(), ascent.Spec(p.oom_layer, p.oom_size), ascent.Knobs(steps=p.oom_steps))
    limit = None if simulated else (device.memory_stats() or {}).get("bytes_limit")
    if simulated:
        fits = p.oom_simulated_fit
        engine = _Ceiling(engine, fits)
    else:  # the budget's estimate of what fits; 8 times that is sure not to
        fits = max(1, (limit or 2**30) // bytes_per_image(p.oom_layer, p.oom_size))
    start = 1 << (8 * fits - 1).bit_length()  # a power of two at least 8x what fits: several halvings
    filters, retries = list(range(start)), []
    t = time.perf_counter()
    done, finite = [], True
    for part, result in ascent.chunks(engine, filters, start, on_retry=retries.append):
        done += part
        finite &= bool(np.isfinite(result.images).all())
    seconds = time.perf_counter() - t
    out = {
        "simulated": simulated,
        "mem_fraction": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION"),
        "bytes_limit_gib": round(limit / 2**30, 3) if limit else None,
        "layer": p.oom_layer,
        "size": p.oom_size,
        "start_chunk": start,
        "retries": retries,
        "final_chunk": retries[-1] if retries else start,
        "filters": len(filters),
        "done": len(done),
        "finite": finite,
        "seconds": round(seconds, 3),
    }
    if not retries:
        raise RuntimeError(f"a chunk of {start} filters fit: nothing was halved, so nothing was checked ({out})")
    if sorted(done) != filters or not finite:
        raise RuntimeError(f"the chunk runner lost filters or made non-finite images ({out})")
    return out
