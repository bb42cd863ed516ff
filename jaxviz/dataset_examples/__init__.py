"""Dataset examples: the real images of a folder that drive every filter of a model hardest, in one pass.

    import jaxviz  # the notebook API runs the engine: jaxviz.api.find_examples
    result = jaxviz.find_examples("photos/", layers="block3_conv1,block5_conv3", top=9)
    result.layers["block3_conv1"].image  # (256, 9) indices into result.images, best first
    jaxviz.crops(result, "block3_conv1", 17)  # the receptive-field crops of filter 17's top images
    jaxviz.crops_grid(result, "block3_conv1", [17, 18, 19], top=6)  # 3 filters (rows) x 6 crops as one uint8 image

Any model: `find_examples(..., model="resnet50", weights=FILE)` or `model=jaxviz.flax_model(module, variables)`; VGG16
is the default and keeps its own forward pass (topk.forward, Winograd on CPU), any other network runs its own
(Network.activation then Network.post), and its receptive fields are measured (receptive.computed).

The command line (scripts/examples.py) does the same and writes RUN/examples/ (see examples_store.py), resumably.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jaxviz.dataset_examples.examples_store import Examples, LayerExamples, crops, crops_grid
from jaxviz.errors import JaxvizError
from jaxviz.model.targets import resolve_filters, resolve_layers

__all__ = [
    "CONVS",
    "LEAST",
    "Examples",
    "LayerExamples",
    "check_number",
    "crops",
    "crops_grid",
    "make_job",
]

# How the forward pass convolves (jaxviz.dataset_examples.topk.with_winograd): "auto" = Winograd F(4x4, 3x3) where it is
# faster on CPU (deep layers; scores within ~2e-5 of XLA's), "xla" = XLA's convolution everywhere (the Keras
# arithmetic, to the last bit of jaxviz.model.vgg), "winograd" = Winograd where it suits on any backend.
CONVS = ("auto", "xla", "winograd")
LEAST = {"top": 1, "size": 1, "batch": 0, "save_every": 1}  # the least valid value of each whole-number setting


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
    model: Any = "vgg16",
    preprocess: str = "",
):
    """A checked jaxviz.dataset_examples.scan.Job (layers in network order); JaxvizError (one line) for a bad value.

    `model`: a jaxviz.model.model_registry name (loaded with `weights` and `preprocess` when the job runs; a Keras
    model is built now, since its layers are only known then) or a LoadedModel in hand (jaxviz.flax_model's)."""
    from jaxviz.dataset_examples.scan import Job
    from jaxviz.model.model_registry import LoadedModel

    given = model if isinstance(model, LoadedModel) else None
    name = "flax" if given is not None else (model or "vgg16")
    if not isinstance(name, str):
        raise JaxvizError(f"model must be a model's name or a loaded model (jaxviz.flax_model), got {model!r}")
    job = Job(Path(images), [], {}, top, size, batch, weights, None, save_every, conv, name, preprocess, given)
    network = job.network()
    names = resolve_layers(layers if isinstance(layers, str) else tuple(layers), network)
    names = sorted(names, key=network.layers.index)
    spec = filters if isinstance(filters, str) else tuple(filters)
    chosen = {layer: resolve_filters(spec, layer, network) for layer in names}
    for name, value in (("top", top), ("size", size), ("batch", batch), ("save_every", save_every)):
        check_number(name, value)
    if conv not in CONVS:
        raise JaxvizError(f"conv must be one of {', '.join(CONVS)}; got {conv!r}")
    fixed = network.input.fixed_size
    if fixed and size != fixed:
        raise JaxvizError(f"size {size}: {network.name} takes {fixed} x {fixed} px images only; set size = {fixed}")
    need = max(network.min_size(layer) for layer in names)
    if size < need:
        deepest = max(names, key=network.min_size)
        raise JaxvizError(f"size {size} is too small for {deepest}: its map needs at least {need} px")
    out = None if out is None else Path(out)
    return dataclasses.replace(job, layers=names, filters=chosen, out=out)
