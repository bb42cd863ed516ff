"""The notebook API: `jaxviz.visualize(layer, filters, preset=..., **settings)` -> images and numbers, and
`jaxviz.find_examples(folder, layers, ...)` -> the images of a folder that drive each filter hardest.

Built on the same pieces as the command line (config, the chunk runner, display, metrics, quality, the
progress bar); nothing is written to disk. A Result shows itself in a notebook (its grid, `_repr_png_`) and has a
one-line repr. The lower level is the ascent library: `jaxviz.ascent.LayerAscent(params, Spec, Knobs, mesh)(filters)`.
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from jaxviz import config as config_lib
from jaxviz.config import Config, presets
from jaxviz.errors import JaxvizError
from jaxviz.model.model_registry import LoadedModel, model_names

if TYPE_CHECKING:  # both import rich or JAX's helpers: `import jaxviz` stays light
    from jaxviz.dataset_examples.examples_store import Examples
    from jaxviz.run.run_plan import Plan
    from jaxviz.show.progress import Progress

DISPLAY_SIDE = 2048  # px: the longest side of the grid a notebook shows (Result._repr_png_)
LABELS_SHOWN = 3  # class names a Result's repr lists before "..."


@dataclasses.dataclass(frozen=True)
class Result:
    """What `visualize` returns: one row per filter, in the order asked for.

    `alpha`: each filter's transparency map when the method keeps one (MACO does), else None: (N, size, size)
    float32 >= 0, how much each pixel of the filter's image mattered to it (the accumulated coverage-corrected
    |d objective / d image|), raw, not normalised. `rgba()` shows it as the images' alpha channel, and `grid()` (and
    a notebook's picture of the Result) shows the images with it over a neutral grey; `grid(alpha=False)` the images
    alone. jaxviz.show.display.alpha_for_display is how it is made [0, 1] for display.
    """

    layer: str
    filters: list[int]
    images: np.ndarray  # (N, H, W, 3) uint8, as displayed (k images per filter side by side)
    activations: np.ndarray  # (N,) float32, final mean activation of each filter during the ascent
    metrics: list[dict]  # per filter, as in metrics.json (with the quality numbers, and "label": a logit's class)
    config: Config  # the resolved config that made them
    alpha: np.ndarray | None = None  # (N, size, size) float32 >= 0, raw transparency maps; None: not kept

    def rgba(self) -> np.ndarray:
        """The images with their transparency maps as alpha (display.alpha_for_display: clipped at a percentile,
        per filter), (N, H, W, 4) uint8; fully opaque when the Result has no maps."""
        from jaxviz.show import display

        if self.alpha is None:
            return display.with_alpha(self.images, np.ones(self.images.shape[:3]))
        shown = display.alpha_for_display(self.alpha)
        return display.with_alpha(
            self.images, np.stack([display.alpha_tile(a, t.shape) for a, t in zip(shown, self.images)])
        )

    def grid(self, columns: int = 0, margin: int = 5, alpha: bool = True) -> np.ndarray:
        """All images in one uint8 grid (for display or saving): (rows * H + (rows - 1) * margin, columns * W +
        (columns - 1) * margin, 3), row-major in the order asked for; `columns` 0: ceil(sqrt(N)). With transparency
        maps and `alpha`, each image is shown with its map over a neutral grey (display.over_background), as a
        run's grid shows it; `alpha=False`: the images alone."""
        from jaxviz.runtime.images import grid
        from jaxviz.show import display

        tiles = display.over_background(self.rgba()) if alpha and self.alpha is not None else self.images
        return grid(tiles, columns, margin)

    def __repr__(self) -> str:  # the default would print every pixel: a notebook shows the gist
        from jaxviz.dataset_examples.examples_store import describe_filters

        a, n, c = self.config.ascent, len(self.filters), self.config
        steps = f"{a.steps} steps" + (f" x {a.stages} stages" if a.stages > 1 else "")
        method = f"{c.param.kind}, {a.optimizer}" + (f" ({a.normalize})" if a.optimizer == "normalized" else "")
        live = self.activations[np.isfinite(self.activations)]
        # "to", not "-": a range of logits is often below zero ("-1.67 to 2.35", never "-1.67--2.35")
        acts = f", activation {live.min():.3g} to {live.max():.3g}" if live.size else ""
        names = [m["label"] for m in self.metrics if isinstance(m.get("label"), str)]  # a classifier's classes
        shown = ", ".join(names[:LABELS_SHOWN]) + (", ..." if len(names) > LABELS_SHOWN else "")
        filters = f"{n} filter{'s' * (n != 1)} ({describe_filters(self.filters)}{': ' + shown if names else ''})"
        alpha = ", with alpha" if self.alpha is not None else ""
        return (f"Result({self.layer!r}, {filters}, {a.size} px, {steps}, {method}, objective {c.objective.expr!r}; "
                f"images {self.images.shape}{alpha}{acts})")  # fmt: skip

    def _repr_png_(self) -> bytes:
        """The grid as PNG bytes, so a notebook cell that shows a Result draws its images (with their transparency
        maps over a neutral grey, when it has them: `grid()`). A grid over
        DISPLAY_SIDE px on a side is shrunk to that (a notebook would store megabytes of PNG otherwise); the full
        resolution is `grid()`."""
        from PIL import Image

        from jaxviz.runtime.images import png_bytes

        image = self.grid()
        h, w = image.shape[:2]
        if max(h, w) > DISPLAY_SIDE:
            scale = DISPLAY_SIDE / max(h, w)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            image = np.asarray(Image.fromarray(image).resize(size, Image.LANCZOS))
        return png_bytes(image)


def _settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword settings -> dotted config keys: `size=128` or `ascent__size=128` (or a dotted key in a dict)."""
    from jaxviz.config.keys import keyword_names

    keys, out = keyword_names(), {}
    for name, value in settings.items():
        dotted = name.replace("__", ".")
        if "." in dotted:
            out[dotted] = value
        elif len(keys.get(name, [])) == 1:
            out[keys[name][0]] = value
        elif name in keys:
            raise JaxvizError(f"setting {name!r} is ambiguous; use one of {', '.join(keys[name])} (as section__key)")
        else:
            raise JaxvizError(f"unknown setting {name!r}; valid: {', '.join(sorted(keys))} (or section__key)")
    return out


def _filters(filters: Iterable[int] | int | str) -> list[int] | str:
    if isinstance(filters, str):  # the command line's form ("0:16", "3,5,9", "all"): the config parses it
        return filters
    items = [filters] if isinstance(filters, numbers.Integral) else filters
    try:
        items = list(items)
    except TypeError:
        raise JaxvizError(f"filters must be integers (an int, a range or a list), got {filters!r}") from None
    bad = [f for f in items if isinstance(f, bool) or not isinstance(f, numbers.Integral)]
    if bad:
        raise JaxvizError(f"filters must be integers, got {bad[0]!r} ({type(bad[0]).__name__})")
    return [int(f) for f in items]


def flax_model(
    module: Any, variables: Any, preprocess: str = "0-255", natural_size: int = 224, name: str = ""
) -> LoadedModel:
    """Any Flax (linen) module with its `variables`, ready for `visualize(layer, model=...)`: its layers are the
    module paths of its submodules with an (N, H, W, C) output ("Conv_0", "block2/conv"), read with flax's
    capture_intermediates. `preprocess`: what the module takes from RGB 0-255 images ("0-255", "0-1", "tf" for
    [-1, 1], "caffe", "torch"; see jaxviz.model.flax_network.PREPROCESS); `natural_size`: the side it was trained
    at (px). Raises JaxvizError for an unknown `preprocess` or a module without such a layer."""
    from jaxviz.model.flax_network import flax_network
    from jaxviz.model.weights import tree_fingerprint

    network = flax_network(module, variables, preprocess, natural_size, name)
    return LoadedModel(
        network, variables, None, f"a Flax module ({type(module).__name__})", tree_fingerprint(variables)
    )


def estimate_seconds(
    cfg: Config, layer: str, n: int, quality: bool = True, backend: str | None = None, network: Any = None
) -> float:
    """A first estimate of the seconds `visualize` takes for `n` filters of `layer` under `cfg`, before anything
    runs: the ascent's GFLOP (jaxviz.model.architecture.gflop_per_step per step, as the run's progress bar weighs
    filters) and, with `quality`, its forward passes, at the backend's jaxviz.show.progress.PRIOR_GFLOPS. Loading
    weights and compiling are not counted. `backend`: "cpu", "gpu", "tpu" (None: JAX's default); `network`: the
    model when not cfg's (a jaxviz.model.network.Network)."""
    from jaxviz.run.session import filter_cost
    from jaxviz.show.progress import prior_seconds

    gflop = n * filter_cost(cfg, layer, network)
    if quality:
        from jaxviz.quality import plan
        from jaxviz.run.translate import network_of

        net = network or network_of(cfg)
        passes, _ = plan(layer, cfg.ascent.size, n, network=net)
        gflop += passes * net.gflop_per_step(layer, cfg.ascent.size) / 2  # forward only: half a step
    return prior_seconds(gflop, backend)


def visualize(
    layer: str,
    filters: Iterable[int] | int | str = range(16),
    preset: str = "book",
    weights: str = "",
    model: str | LoadedModel = "",
    overrides: Mapping[str, Any] | None = None,
    quality: bool = True,
    progress: bool = True,
    **settings: Any,
) -> Result:
    """Visualise `filters` of one `layer` with a preset and any config settings, in one batched ascent.

    `layer` is one conv layer name (e.g. "block3_conv1"); "all" or several names raise JaxvizError rather
    than silently keeping one. `filters`: an int, integers (a range, a list), or the command line's text ("0:16",
    "3,5,9", "all"). Returns a Result: one row per filter, in the order asked for; its config names the weights
    file and their fingerprint, as a run's config.toml does.

    `settings` are config keys by their short name (`size=128`, `steps=64`, `optimizer="adam"`) or as
    `section__key`; `overrides` takes dotted keys ({"objective.tv": 0.1}). `weights`: as --weights; `model`: as
    --model ("vgg16", "vgg19", a keras.applications name, or "keras" for the model in `weights`), or a model with
    its weights already in hand: `jaxviz.flax_model(module, variables)` (any Flax module; its layers are module
    paths) or `jaxviz.model.model_registry.load_model(...)`.
    `quality`: measure the quality numbers (display_activation, robustness, selective) too.

    `progress`: a progress bar (phase: loading weights, compiling, the layer's ascent, quality numbers; filters
    done, filters/s, time left) live on a terminal, in place in a Jupyter notebook, as a line every 30 s
    elsewhere; False: silent. A call estimated (`estimate_seconds`) to take more than
    jaxviz.show.progress.SLOW_CALL_SECONDS warns first (jaxviz.SlowCallWarning), before anything loads or compiles.
    """
    from jaxviz.run.run_plan import prepare
    from jaxviz.show.progress import Progress, Work, warn_if_slow

    cfg = config_lib.load(presets.path(preset))
    updates = {**_settings(settings), **dict(overrides or {})}
    wanted = _filters(filters)
    updates.update({"target.layers": layer, "target.filters": wanted if isinstance(wanted, str) else tuple(wanted)})
    updates["output.progress"] = bool(progress)  # the config it returns says what this call did
    if weights:
        updates["model.weights"] = weights
    given = model if isinstance(model, LoadedModel) else None
    if given is not None:
        updates["model.name"] = given.network.name if given.network.name in model_names() else "flax"
    elif model:
        updates["model.name"] = model
    cfg = config_lib.apply(cfg, updates)
    p = prepare(cfg, given.network if given is not None else None)
    from jaxviz.runtime import compile_cache

    compile_cache.enable(cfg.ascent.compile_cache)  # before anything compiles (the estimate's device queries too)
    if len(p.targets) != 1:
        raise JaxvizError(
            f"visualize takes one layer, got {len(p.targets)} ({', '.join(p.targets)}) from {layer!r}; call it once "
            f"per layer, or use the command line (scripts/visualize.py --layers ...) for several"
        )
    (layer_name, wanted), *_ = p.targets.items()
    a = cfg.ascent
    warn_if_slow(
        estimate_seconds(cfg, layer_name, len(wanted), quality, network=p.network),
        f"jaxviz.visualize of {len(wanted)} filter(s) of {layer_name} at {a.size} px x {a.steps * a.stages} steps",
        "fewer filters, a smaller size or fewer steps make it shorter",
    )
    from jaxviz.run.session import filter_cost

    cost = filter_cost(cfg, layer_name, p.network)
    bar = Progress(Work("filters", len(wanted), cost * len(wanted)), enabled=progress)
    try:
        return _ascend(cfg, p, layer_name, wanted, quality, bar, cost, given)
    finally:
        bar.close()


def _ascend(
    cfg: Config, p: Plan, layer: str, wanted: list[int], quality: bool, bar: Progress, cost: float, given: Any = None
) -> Result:
    """visualize's work once checked and announced, phase by phase on `bar` (a jaxviz.show.progress.Progress)."""
    from jaxviz import ascent
    from jaxviz import quality as quality_lib
    from jaxviz.run import recorded
    from jaxviz.run.tiled_chunks import tiled_chunks
    from jaxviz.run.translate import model_of

    with bar.phase("loading weights"):
        loaded = given if given is not None else model_of(cfg)
        params = loaded.params
        # What made the images, as a run's config.toml records it (model.fingerprint given: other weights refused)
        cfg = recorded.resolve(cfg, loaded.path, loaded.fingerprint)
    # With a bar, a device loop reports every `segment` steps (as a run's does), so the bar moves within a chunk
    # there too; without one, each stage stays one call (0), the fastest.
    segment = cfg.output.snapshot_every if bar.enabled else 0
    engine = ascent.LayerAscent(params, p.specs[layer], p.knobs, ascent.filter_mesh(), segment)
    total = cfg.ascent.steps * cfg.ascent.stages
    rows, tiles, alphas = [], [], []

    def on_step(part: list[int], s: int, act, images) -> None:  # the first report comes after the first compile
        done = len(rows) + len(part) * s / total
        bar.update(layer, done, done * cost, within=(done, len(wanted)))

    bar.status("compiling")
    for chunk in tiled_chunks(engine, wanted, cfg, on_step if bar.enabled else None):
        tiles += [r.tile for r in chunk.results]
        alphas += [r.alpha for r in chunk.results]
        rows += chunk.records
        bar.measured(cost)
        n = len(rows)
        bar.update(layer, n, n * cost, within=(n, len(wanted)), force=n == len(wanted))
    if quality:
        firsts = np.stack([t[:, : cfg.ascent.size] for t in tiles])  # each filter's first image
        with bar.phase("quality numbers"):
            for row, extra in zip(rows, quality_lib.evaluate(params, layer, firsts, wanted, network=p.network)):
                row.update(extra)
    labels = p.network.labels(layer)  # a classifier's class names, each its record's "label" as a run's metrics.json
    for row in rows:
        if row["filter"] < len(labels):
            row["label"] = labels[row["filter"]]
    activations = np.asarray([r["activation"] if r["activation"] is not None else np.nan for r in rows], np.float32)
    alpha = np.stack(alphas) if all(a is not None for a in alphas) else None
    return Result(layer, wanted, np.stack(tiles), activations, rows, cfg, alpha)


# The forward pass alone, batched (Winograd on CPU's deep layers), runs faster per GFLOP than the ascent's step that
# PRIOR_GFLOPS describes: 150-230 GFLOP/s on the 2 CPU cores where the ascent's prior is 60 (BENCHMARKS.md). Twice
# the prior keeps the estimate cautious.
FORWARD_SPEEDUP = 2.0


def examples_seconds(job, files: int, backend: str | None = None) -> float:
    """A first estimate of the seconds `job` (from make_job) takes over `files` images, before anything runs: one
    forward pass to its deepest layer per image (half an ascent step, its network's gflop_per_step) at
    FORWARD_SPEEDUP times the backend's jaxviz.show.progress.PRIOR_GFLOPS; compiling and decoding not counted."""
    from jaxviz.show.progress import prior_seconds

    network = job.network()
    deepest = max(job.layers, key=network.layers.index)
    return prior_seconds(files * network.gflop_per_step(deepest, job.size) / 2, backend) / FORWARD_SPEEDUP


def find_examples(
    images: str | Path,
    layers: str | Iterable[str] = "all",
    top: int = 16,
    size: int = 224,
    weights: str = "",
    filters: str | Iterable[int] = "all",
    batch: int = 0,
    progress: bool = True,
    conv: str = "auto",
    model: str | LoadedModel = "vgg16",
    preprocess: str = "",
) -> Examples:
    """The top `top` images of `images` (a folder, searched recursively for JPEG/PNG) for every filter of
    `layers`, in memory (nothing written). Unreadable files are skipped with a warning; JaxvizError for a
    folder with no readable image, bad settings or weights. `conv`: one of CONVS ("xla" for Keras' exact
    arithmetic; "auto" is faster on CPU, scores within ~2e-5 relative; VGG16's and VGG19's only). `model`, with
    `weights` and `preprocess`: as `visualize` takes them (a name, or jaxviz.flax_model(module, variables)).

    `progress`: the progress bar (files done, files/s, time left) on a terminal, in a Jupyter notebook, or as a
    line every 30 s elsewhere; False: silent. A call estimated (`examples_seconds`) to take more than
    jaxviz.show.progress.SLOW_CALL_SECONDS warns first (jaxviz.SlowCallWarning), before anything compiles."""
    from jaxviz.dataset_examples import make_job
    from jaxviz.dataset_examples.loader import list_images
    from jaxviz.dataset_examples.scan import run
    from jaxviz.show.progress import Progress, warn_if_slow

    job = make_job(images, layers, filters, top, size, batch, weights, conv=conv, model=model, preprocess=preprocess)
    # The engine lists the folder again; counting here is what lets the warning come before any compile.
    files = len(list_images(job.images.absolute()))
    warn_if_slow(
        examples_seconds(job, files),
        f"jaxviz.find_examples over {files:,} images to {job.layers[-1]} at {job.size} px",
        "fewer images, an earlier deepest layer or a smaller size make it shorter",
    )
    return run(job, progress=Progress.over_files if progress else None)
