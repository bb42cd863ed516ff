"""Receptive fields of VGG16's conv units: which input pixels a position of a layer's map can see. No JAX here.

The standard recurrence over the layers (Dumoulin & Visin, "A guide to convolution arithmetic for deep
learning", arXiv:1603.07285; Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
Networks", Distill 2019, eqs. for r, j and the start): for a layer with kernel k, stride s and padding p,

    r_out = r_in + (k - 1) * j_in          (receptive field size, input pixels)
    j_out = j_in * s                       (jump: input pixels between neighbouring outputs)
    c_out = c_in + ((k - 1) / 2 - p) * j_in (centre of output position 0, in input pixel coordinates)

starting from the input itself (r = 1, j = 1, c = 0). VGG16 has 3x3 convs (stride 1, pad 1: r grows by 2j,
the centre stays) and 2x2 max pools (stride 2, pad 0: r grows by j, the centre moves by j/2, j doubles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxviz.model.architecture import CONV_LAYERS


@dataclass(frozen=True)
class Field:
    """A layer's receptive-field geometry: `size` and `jump` in input pixels, `start` the centre of position 0."""

    size: int
    jump: int
    start: float


def field(layer: str) -> Field:
    """The receptive field of one unit of conv layer `layer` (after its ReLU), by the recurrence above.

    block1_conv1: 3 px; block1_conv2: 5; block2_conv1: 10; ...; block5_conv3: 196 px with a jump of 16.
    Raises ValueError for a name that is not a conv layer.
    """
    if layer not in CONV_LAYERS:
        raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(CONV_LAYERS)}")
    r, j, c = 1, 1, 0.0
    for name in CONV_LAYERS[: CONV_LAYERS.index(layer) + 1]:
        if name.endswith("conv1") and name != CONV_LAYERS[0]:
            r, c, j = r + j, c + j / 2, j * 2  # the 2x2/2 pool that ends the previous block (k=2, s=2, p=0)
        r += 2 * j  # 3x3 conv, stride 1, pad 1: (k - 1) / 2 - p = 0, so the centre does not move
    return Field(r, j, c)


def boxes(layer: str, position: np.ndarray, size: int) -> np.ndarray:
    """(..., 4) int32 boxes (top, left, bottom, right), bottom/right exclusive, of the input pixels that the
    units at `position` (..., 2) = (row, column) of `layer`'s map see, clipped to the `size` x `size` image.

    Positions < 0 (no example) give boxes of -1. The field's extent is centre +- (size - 1) / 2; the centre
    is a half-integer exactly when the size is even, so the edges are whole pixels.
    """
    f = field(layer)
    position = np.asarray(position)
    centre = f.start + position.astype(np.float64) * f.jump
    lo = np.clip(np.rint(centre - (f.size - 1) / 2), 0, size)
    hi = np.clip(np.rint(centre + (f.size - 1) / 2) + 1, 0, size)
    out = np.concatenate([lo, hi], axis=-1).astype(np.int32)  # (top, left) then (bottom, right)
    out[(position < 0).any(axis=-1)] = -1
    return out
