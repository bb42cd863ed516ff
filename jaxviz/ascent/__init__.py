"""The ascent as a library: what every filter of a VGG16 layer responds to, by gradient ascent in input space.

Inputs are explicit: a static `Spec` (layer, size, stages, upscale, precision, `Method`) keys the compile,
traced `Knobs` (step size, normaliser, seed, steps) do not. Nothing here reads a config file or writes
outputs: `jaxviz.run` translates configs into these and owns the run directory.
"""

from jaxviz.ascent.chunks import chunk_size, chunks, out_of_memory
from jaxviz.ascent.engine import DTYPES, AscentResult, StepKey, compiled_step, filter_mesh, layer_params, step_name
from jaxviz.ascent.layer import LayerAscent, ascend
from jaxviz.ascent.method import Method
from jaxviz.ascent.optim import normalize_gradient
from jaxviz.ascent.sizing import auto_chunk, bytes_per_image, device_budget, round_up
from jaxviz.ascent.spec import PRECISIONS, Knobs, Spec, stage_sizes

__all__ = [
    "DTYPES",
    "PRECISIONS",
    "AscentResult",
    "Knobs",
    "LayerAscent",
    "Method",
    "Spec",
    "StepKey",
    "ascend",
    "auto_chunk",
    "bytes_per_image",
    "chunk_size",
    "chunks",
    "compiled_step",
    "device_budget",
    "filter_mesh",
    "layer_params",
    "normalize_gradient",
    "out_of_memory",
    "round_up",
    "stage_sizes",
    "step_name",
]
