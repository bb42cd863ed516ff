"""The device check's measuring stages, each run in its own process (child.py): versions and devices, one layer,
the whole network, the quality preset's grid. Each returns a JSON-ready dict; long ones report parts as they go."""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxviz.bench.ascent_speed import Settings
from jaxviz.devicecheck.stage_plan import Plan

Part = Callable[[str, dict], None]  # (part name, its figures): one results.jsonl line, written at once
ENV_KEYS = ("JAX_PLATFORMS", "XLA_FLAGS", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_PREALLOCATE")
ENV_KEYS += ("CUDA_VISIBLE_DEVICES", "TPU_VISIBLE_CHIPS")


@dataclass(frozen=True)
class Context:
    """What every stage gets: the `plan`'s sizes, the `weights` file ("" for random weights), the `out` folder,
    the `deadline` (seconds since the epoch) by which it should have stopped, and `part` to report a piece."""

    plan: Plan
    weights: str
    out: Path
    deadline: float
    part: Part

    def monotonic_deadline(self) -> float:
        """The deadline on time.monotonic()'s clock (the benchmark's)."""
        return time.monotonic() + (self.deadline - time.time())

    def params(self) -> dict:
        """The weights' params, else random ones of the right shapes (weights.find_and_load_or_random)."""
        from jaxviz.model.weights import find_and_load_or_random

        return find_and_load_or_random(self.weights).params

    def settings(self, precision: str) -> Settings:
        """The benchmark's settings for the plan's layer and network stages in `precision`."""
        p = self.plan
        return Settings(p.size, p.steps, weights=self.weights, precision=precision, peak_side=p.peak_side)

    def weights_file(self, folder: str | Path) -> str:
        """A weights file for what reads one (visualize, the examples engine): the weights' own, or the random
        params written into `folder` in jaxviz's own format."""
        from jaxviz.model.weights import find_and_load_or_random, save_params

        loaded = find_and_load_or_random(self.weights)
        if loaded.path is not None:
            return str(loaded.path)
        path = str(Path(folder) / "random_vgg16.msgpack")
        save_params(loaded.params, path)
        return path


def versions(ctx: Context) -> dict:
    """Versions of Python and the libraries, the devices (kind, count, memory), the documented peak if known."""
    import importlib.metadata

    import flax
    import jax
    import jaxlib

    from jaxviz.bench import peaks

    __version__ = importlib.metadata.version("jaxviz")  # the installed distribution's, as pip reports it

    devices = jax.devices()
    first = devices[0]
    stats = first.memory_stats() or {}
    chip = peaks.chip(first.device_kind)
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "numpy": np.__version__,
        "jaxviz": __version__,
        "executable": sys.executable,
        "backend": first.platform,
        "platform_version": getattr(first.client, "platform_version", None),
        "device_kinds": sorted({d.device_kind for d in devices}),
        "devices": len(devices),
        "local_devices": jax.local_device_count(),
        "processes": jax.process_count(),
        "memory_limit_gib": round(stats["bytes_limit"] / 2**30, 2) if stats.get("bytes_limit") else None,
        "memory_in_use_gib": round(stats.get("bytes_in_use", 0) / 2**30, 3) if stats else None,
        "datasheet": chip and {"name": chip.name, "fp32": chip.fp32, "tf32": chip.tf32, "bf16": chip.bf16},
        "datasheet_source": chip and chip.source,
        "cpus": os.cpu_count(),
        "env": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
    }


def save_grid(ctx: Context, name: str, images: np.ndarray) -> str:
    """Float RGB images (N, H, W, 3) on the 0-255 scale as one grid PNG in the out folder (the book's display)."""
    from jaxviz.runtime.images import grid, save_png
    from jaxviz.show import display

    save_png(ctx.out / name, grid(np.stack([display.tile(im) for im in images])))
    return name


def layer(ctx: Context, precision: str) -> dict:
    """Every filter of the plan's layer (block3_conv1), batched, against its one-filter-at-a-time baseline; the
    first filters' images as layer_<precision>.png."""
    from jaxviz.bench import ascent_speed as benchmark

    p = ctx.plan
    report = benchmark.benchmark(ctx.settings(precision), p.layer, p.layer_filters, keep=p.grid_filters)
    report["png"] = save_grid(ctx, f"layer_{precision}.png", report.pop("images"))
    return report


def network(ctx: Context, precision: str) -> dict:
    """The plan's layers one after another, each reported as it finishes; stops cleanly before the deadline
    ("status": "stopped", the layers done kept)."""
    from jaxviz.bench import ascent_speed as benchmark

    p = ctx.plan
    report = benchmark.network(
        ctx.settings(precision),
        p.network_filters or None,
        layers=p.network_layers,
        deadline=ctx.monotonic_deadline(),
        on_layer=lambda header, row: ctx.part(row["layer"], row),
    )
    done = [row["layer"] for row in report.pop("layers")]
    out = {**report, "layers_done": done, "layers_asked": len(p.network_layers)}
    return out if report["complete"] else {**out, "status": "stopped", "reason": "the stage's time cap"}


def quality(ctx: Context) -> dict:
    """jaxviz.visualize with the quality preset on a few filters, the grid saved as quality.png."""
    import jaxviz.api as jaxviz  # the notebook API, as a user calls it
    from jaxviz.runtime.images import save_png

    p = ctx.plan
    with tempfile.TemporaryDirectory() as tmp:
        weights = ctx.weights_file(tmp)
        t = time.perf_counter()
        r = jaxviz.visualize(
            p.quality_layer,
            range(p.quality_filters),
            preset="quality",
            weights=weights,
            quality=p.quality_metrics,
            progress=False,  # the check streams its own results; a bar would interleave with them
            ascent__size=p.quality_size,
            ascent__steps=p.quality_steps,
        )
        seconds = time.perf_counter() - t
    save_png(ctx.out / "quality.png", r.grid())
    return {
        "layer": r.layer,
        "filters": len(r.filters),
        "size": p.quality_size,
        "steps": p.quality_steps,
        "visualize_s": round(seconds, 3),
        "activations": [round(float(a), 4) for a in r.activations],
        "finite": bool(np.isfinite(r.activations).all()),
        "metrics": [{k: v for k, v in m.items() if k not in ("layer", "history")} for m in r.metrics],
        "png": "quality.png",
    }


def examples(ctx: Context) -> dict:
    """Dataset examples over the 13 layers (every filter, top 16): the engine end to end on synthetic JPEGs
    (decoding in; the issue's accelerator goal is 2,000 images/s at 224 px) and the step alone on decoded
    images, the batch sized for the device (examples.batch 0)."""
    from PIL import Image

    from jaxviz.bench import examples_speed as bench

    p = ctx.plan
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        photos = Path(tmp) / "photos"
        photos.mkdir()
        yy, xx = np.mgrid[0:375, 0:500]
        for i in range(p.examples_files):  # photo-sized, JPEG-compressed: decoding costs what a real one does
            a = np.stack([xx * (i + 1) % 256, yy * (i + 3) % 256, (xx + yy) % 256], axis=-1).astype(np.float64)
            a = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(photos / f"{i:04d}.jpg", quality=90)
        weights = ctx.weights_file(tmp)
        cycled = bench.repeated(photos, p.examples_repeat, Path(tmp) / "cycled")
        ctx.part("files", {"files": p.examples_files, "repeat": p.examples_repeat})
        setup = bench.ExamplesBench(photos, weights=weights, size=p.examples_size)
        step = bench.model_only(photos, setup, p.examples_seconds)
        ctx.part("step", step)
        whole = bench.engine(cycled, setup)
    return {"size": p.examples_size, **whole, **step, "goal_images_per_s": 2000}


def models(ctx: Context) -> dict:
    """The plan's models beyond VGG16 (random weights: the speed is the same as trained ones'), each one layer's
    filters batched at the plan's size, as `jaxviz-benchmark --model`: image-steps/s and compile seconds, one part
    per model as it finishes. A Keras model where Keras is not installed is skipped, and said so."""
    from jaxviz.bench import ascent_speed as benchmark
    from jaxviz.errors import JaxvizError
    from jaxviz.model.model_registry import is_native

    p, done, skipped = ctx.plan, {}, {}
    for model, layer in p.models:
        if time.monotonic() > ctx.monotonic_deadline():
            skipped[model] = "the stage's time cap"
            continue
        settings = Settings(p.size, p.steps, weights="random", peak_side=p.peak_side, model=model)
        try:
            report = benchmark.benchmark(settings, layer, p.models_filters, per_filter=False)
        except JaxvizError as e:
            if is_native(model) or "jaxviz[keras]" not in str(e):
                raise
            skipped[model] = str(e)
            continue
        keep = ("layer", "filters", "image_steps_per_s", "compile_s", "gflop_per_image_step", "achieved_gflops")
        done[model] = {k: report[k] for k in keep if k in report}
        ctx.part(model, done[model])
    return {"models": done, "skipped": skipped} | ({"status": "stopped"} if skipped and not done else {})
