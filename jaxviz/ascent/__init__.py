"""The ascent: parameterisations, transforms, objectives and optimisers composed into one compiled step."""

from jaxviz.ascent.engine import (
    DTYPES,
    TRACES,
    AscentResult,
    auto_chunk,
    bytes_per_image,
    compiled_step,
    filter_mesh,
    init_images,
    layer_params,
    normalize_gradient,
    objective,
    round_up,
    total_steps,
)
from jaxviz.ascent.layer import LayerAscent, ascend
from jaxviz.ascent.method import Method, method_of

__all__ = [
    "DTYPES",
    "TRACES",
    "AscentResult",
    "LayerAscent",
    "ascend",
    "auto_chunk",
    "bytes_per_image",
    "compiled_step",
    "filter_mesh",
    "init_images",
    "layer_params",
    "normalize_gradient",
    "objective",
    "round_up",
    "total_steps",
    "Method",
    "method_of",
]
