"""Measured image quality of finished visualisations: activation as displayed, robustness, selectivity.

Everything here takes the uint8 RGB tiles as saved (after deprocessing), not the float ascent images,
so the numbers describe what a reader actually sees. The work is one pass per chunk of filters: a call
shared by every layer makes COPIES perturbed copies of each image, then one call per (layer, chunk,
image shape) runs the images and their copies through the layers below `layer` as one batch, and
`layer` itself for all channels of the images (channel means) but only the filter's own channel for
its copies (robustness). Chunk sizes come from a small fixed set (`chunk_size`), so a layer compiles
once whatever the number of filters.

Robustness is a ratio to the unperturbed activation, which means something for a map that is never below zero
(a ReLU's); a signed layer's (a classifier's logits, a Keras model's linear convolutions: passes.signed) is measured
from a blank image's activation instead (passes.ratio_over), and is None where the image did not raise the filter
above it.
"""

from jaxviz.quality.passes import (
    COPIES,
    CPU_OPTIONS,
    DEGREES,
    KEY_TAG,
    MAX_CHUNK,
    SCALES,
    chunk_size,
    estimate_seconds,
    measure,
    plan,
)
from jaxviz.quality.scores import evaluate, number, selectivity, summarize

__all__ = [
    "COPIES",
    "CPU_OPTIONS",
    "DEGREES",
    "KEY_TAG",
    "MAX_CHUNK",
    "SCALES",
    "chunk_size",
    "estimate_seconds",
    "evaluate",
    "measure",
    "number",
    "plan",
    "selectivity",
    "summarize",
]
