"""Dataset examples: the real images of a folder that drive every VGG16 filter hardest, in one pass.

    import jaxviz.examples as ex
    result = ex.examples("photos/", layers="block3_conv1,block5_conv3", top=9)
    result.layers["block3_conv1"].image  # (256, 9) indices into result.images, best first
    ex.crops(result, "block3_conv1", 17)  # the receptive-field crops of filter 17's top images
    ex.crops_grid(result, "block3_conv1", [17, 18, 19], top=6)  # 3 filters (rows) x 6 crops as one uint8 image

The command line (scripts/examples.py) does the same and writes RUN/examples/ (see output.py), resumably.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jaxviz.architecture import CONV_LAYERS, min_size
from jaxviz.errors import JaxvizError
from jaxviz.examples.output import Examples, LayerExamples, crops, crops_grid
from jaxviz.targets import resolve_filters, resolve_layers

__all__ = [
    "CONVS",
    "LEAST",
    "Examples",
    "LayerExamples",
    "check_number",
    "crops",
    "crops_grid",
    "estimate_seconds",
    "examples",
    "make_job",
]

# How the forward pass convolves (jaxviz.examples.topk.with_winograd): "auto" = Winograd F(4x4, 3x3) where it is
# faster on CPU (deep layers; scores within ~2e-5 of XLA's), "xla" = XLA's convolution everywhere (the Keras
# arithmetic, to the last bit of jaxviz.vgg), "winograd" = Winograd where it suits on any backend.
CONVS = ("auto", "xla", "winograd")
LEAST = {"top": 1, "size": 1, "batch": 0, "save_every": 1}  # the least valid value of each whole-number setting
# The forward pass alone, batched (Winograd on CPU's deep layers), runs faster per GFLOP than the ascent's step that
# PRIOR_GFLOPS describes: 150-230 GFLOP/s on the 2 CPU cores where the ascent's prior is 60 (BENCHMARKS.md). Twice
# the prior keeps the estimate cautious.
FORWARD_SPEEDUP = 2.0


def check_number(name: str, value: object) -> None:
    """JaxvizError (one line, naming `name`) unless `value` is a whole number within LEAST's range for the
    setting `name` ("top", or a dotted config key such as "examples.top")."""
    low = LEAST[name.rsplit(".", 1)[-1]]
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise JaxvizError(f"{name} must be a whole number >= {low}, got {value!r}")


def make_job(
    images: str | Path,
    layers: str | Iterable[str] = "all",
    filters: str | Iterable[int] = "all",
    top: int = 16,
    size: int = 224,
    batch: int = 0,
    weights: str = "",
    out: str | Path | None = None,
    save_every: int = 1024,
    conv: str = "auto",
):
    """A checked jaxviz.examples.job.Job (layers in network order); JaxvizError (one line) for a bad value."""
    from jaxviz.examples.job import Job

    names = resolve_layers(layers if isinstance(layers, str) else tuple(layers))
    names = sorted(names, key=CONV_LAYERS.index)
    spec = filters if isinstance(filters, str) else tuple(filters)
    chosen = {layer: resolve_filters(spec, layer) for layer in names}
    for name, value in (("top", top), ("size", size), ("batch", batch), ("save_every", save_every)):
        check_number(name, value)
    if conv not in CONVS:
        raise JaxvizError(f"conv must be one of {', '.join(CONVS)}; got {conv!r}")
    need = min_size(names[-1])
    if size < need:
        raise JaxvizError(f"size {size} is too small for {names[-1]}: its map needs at least {need} px")
    out = None if out is None else Path(out)
    return Job(Path(images), names, chosen, top, size, batch, weights, out, save_every, conv)


def estimate_seconds(job, files: int, backend: str | None = None) -> float:
    """A first estimate of the seconds `job` (from make_job) takes over `files` images, before anything runs: one
    forward pass to its deepest layer per image (half an ascent step, jaxviz.architecture.gflop_per_step) at
    FORWARD_SPEEDUP times the backend's jaxviz.progress.PRIOR_GFLOPS; compiling and decoding not counted."""
    from jaxviz.architecture import gflop_per_step
    from jaxviz.progress import prior_seconds

    deepest = max(job.layers, key=CONV_LAYERS.index)
    return prior_seconds(files * gflop_per_step(deepest, job.size) / 2, backend) / FORWARD_SPEEDUP


def examples(
    images: str | Path,
    layers: str | Iterable[str] = "all",
    top: int = 16,
    size: int = 224,
    weights: str = "",
    filters: str | Iterable[int] = "all",
    batch: int = 0,
    progress: bool = True,
    conv: str = "auto",
) -> Examples:
    """The top `top` images of `images` (a folder, searched recursively for JPEG/PNG) for every filter of
    `layers`, in memory (nothing written). Unreadable files are skipped with a warning; JaxvizError for a
    folder with no readable image, bad settings or weights. `conv`: one of CONVS ("xla" for Keras' exact
    arithmetic; "auto" is faster on CPU, scores within ~2e-5 relative).

    `progress`: a progress bar (files done, images/s, time left) on a terminal, in a Jupyter notebook, or as a
    line every 30 s elsewhere; False: silent. A call estimated (`estimate_seconds`) to take more than
    jaxviz.progress.SLOW_CALL_SECONDS warns first (jaxviz.SlowCallWarning), before anything compiles."""
    from jaxviz.examples.job import run
    from jaxviz.examples.loader import list_images
    from jaxviz.progress import warn_if_slow

    job = make_job(images, layers, filters, top, size, batch, weights, conv=conv)
    # The engine lists the folder again; counting here is what lets the warning come before any compile.
    files = len(list_images(job.images.absolute()))
    warn_if_slow(
        estimate_seconds(job, files),
        f"jaxviz.examples over {files:,} images to {job.layers[-1]} at {job.size} px",
        "fewer images, an earlier deepest layer or a smaller size make it shorter",
    )
    return run(job, progress=progress)
