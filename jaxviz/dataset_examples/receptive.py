"""Receptive fields: which input pixels a position of a layer's map can see. No JAX at import (the atlas imports this).

The VGG family (`field`, `vgg_field`): exact, by the standard recurrence over the layers (Dumoulin & Visin, "A
guide to convolution arithmetic for deep learning", arXiv:1603.07285; Araujo, Norris & Sim, "Computing Receptive
Fields of Convolutional Neural Networks", Distill 2019, eqs. for r, j and the start): for a layer with kernel k,
stride s and padding p,

    r_out = r_in + (k - 1) * j_in          (receptive field size, input pixels)
    j_out = j_in * s                       (jump: input pixels between neighbouring outputs)
    c_out = c_in + ((k - 1) / 2 - p) * j_in (centre of output position 0, in input pixel coordinates)

starting from the input itself (r = 1, j = 1, c = 0). A VGG has 3x3 convs (stride 1, pad 1: r grows by 2j,
the centre stays) and 2x2 max pools (stride 2, pad 0: r grows by j, the centre moves by j/2, j doubles).

Any other Network (`geometry`, through `computed`): measured on the network itself, since a graph of branches,
'same' paddings that depend on the input's size, depthwise and dilated convolutions has no recurrence to read
off. See `computed` for how, and what it cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jaxviz.model.architecture import CONV_LAYERS, VGG16_ARCHITECTURE, VGGArchitecture

PROBES = 2  # random images whose gradients' supports are joined (a ReLU or a pool blocks some paths in each)
CHUNK = 8  # map rows (or columns) whose input gradients one compiled backward pass computes together


@dataclass(frozen=True)
class Field:
    """A layer's receptive-field geometry: `size` and `jump` in input pixels, `start` the centre of position 0."""

    size: int
    jump: int
    start: float


def vgg_field(architecture: VGGArchitecture, layer: str) -> Field:
    """The receptive field of one unit of conv layer `layer` of a VGG (after its ReLU), by the recurrence above.

    VGG16's block1_conv1: 3 px; block1_conv2: 5; block2_conv1: 10; ...; block5_conv3: 196 px with a jump of 16.
    Raises ValueError for a name that is not one of its conv layers.
    """
    layers = architecture.layers
    if layer not in layers:
        raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(layers)}")
    r, j, c = 1, 1, 0.0
    for name in layers[: layers.index(layer) + 1]:
        if name.endswith("conv1") and name != layers[0]:
            r, c, j = r + j, c + j / 2, j * 2  # the 2x2/2 pool that ends the previous block (k=2, s=2, p=0)
        r += 2 * j  # 3x3 conv, stride 1, pad 1: (k - 1) / 2 - p = 0, so the centre does not move
    return Field(r, j, c)


def field(layer: str) -> Field:
    """VGG16's `vgg_field` (the default model's); ValueError for a name that is not one of its conv layers."""
    if layer not in CONV_LAYERS:
        raise ValueError(f"unknown layer {layer!r}; valid: {', '.join(CONV_LAYERS)}")
    return vgg_field(VGG16_ARCHITECTURE, layer)


def _spans(f: Field, count: int, size: int) -> np.ndarray:
    """(count, 2) int64 first and past-the-last input pixel of positions 0..count-1 of a field `f` along one
    axis, clipped to 0..size. The field's extent is centre +- (size - 1) / 2; the centre is a half-integer
    exactly when the size is even, so the edges are whole pixels."""
    centre = f.start + np.arange(count, dtype=np.float64) * f.jump
    lo = np.clip(np.rint(centre - (f.size - 1) / 2), 0, size)
    hi = np.clip(np.rint(centre + (f.size - 1) / 2) + 1, 0, size)
    return np.stack([lo, hi], axis=-1).astype(np.int64)


def boxes(layer: str, position: np.ndarray, size: int) -> np.ndarray:
    """(..., 4) int32 boxes (top, left, bottom, right), bottom/right exclusive, of the input pixels that the
    units at `position` (..., 2) = (row, column) of VGG16's `layer` see, clipped to the `size` x `size` image.
    Positions < 0 (no example) give boxes of -1. Any model's: `Geometry.boxes`."""
    f = field(layer)
    position = np.asarray(position)
    centre = f.start + position.astype(np.float64) * f.jump
    lo = np.clip(np.rint(centre - (f.size - 1) / 2), 0, size)
    hi = np.clip(np.rint(centre + (f.size - 1) / 2) + 1, 0, size)
    out = np.concatenate([lo, hi], axis=-1).astype(np.int32)  # (top, left) then (bottom, right)
    out[(position < 0).any(axis=-1)] = -1
    return out


@dataclass(frozen=True, eq=False)
class Geometry:
    """One layer's receptive fields at one input side `size` (px): `rows` (h, 2) and `cols` (w, 2) hold, for each
    row (column) of the layer's h x w map, the first and past-the-last input row (column) its units see, clipped
    to the image; `field` the interior's size, jump and centre of position 0 (what a tile that shows the field
    unclipped is drawn from). `exact`: from the VGG recurrence (False: measured, see `computed`)."""

    size: int
    rows: np.ndarray
    cols: np.ndarray
    field: Field
    exact: bool

    @property
    def whole(self) -> bool:
        """Every unit sees the whole image (a global pool, a Dense layer, or a field larger than the image)."""
        full = [0, self.size]
        return bool((self.rows == full).all() and (self.cols == full).all())

    def boxes(self, position: np.ndarray) -> np.ndarray:
        """(..., 4) int32 boxes (top, left, bottom, right), bottom/right exclusive, of the input pixels the units at
        `position` (..., 2) = (row, column) see, within the size x size image; positions < 0 give boxes of -1."""
        position = np.asarray(position, np.int64)
        r = np.clip(position[..., 0], 0, len(self.rows) - 1)
        c = np.clip(position[..., 1], 0, len(self.cols) - 1)
        out = np.stack([self.rows[r, 0], self.cols[c, 0], self.rows[r, 1], self.cols[c, 1]], axis=-1).astype(np.int32)
        out[(position < 0).any(axis=-1)] = -1
        return out


_CACHE: dict[tuple, Geometry] = {}


def geometry(network: Any, layer: str, size: int, params: Any = None) -> Geometry:
    """`layer`'s receptive fields in `network` (a jaxviz.model.network.Network) at `size` px: the VGG family's
    exactly (`vgg_field`), any other network's measured by `computed` with its `params` (needed the first time;
    the result is kept per (network, layer, size), since 'same' paddings make the fields depend on the size).

    Raises ValueError for a VGG name that is not a conv layer, or an uncached measurement without `params`.
    """
    key = (network, layer, size)
    if key not in _CACHE:
        architecture = getattr(network, "architecture", None)
        if network.family == "vgg" and isinstance(architecture, VGGArchitecture):
            f = vgg_field(architecture, layer)
            side = dict((name, s) for name, s, _, _ in architecture.conv_geometry(layer, size))[layer]
            spans = _spans(f, side, size)
            _CACHE[key] = Geometry(size, spans, spans.copy(), f, True)
        elif params is None:
            raise ValueError(f"the receptive fields of {network.name}'s {layer} are measured: pass its params")
        else:
            _CACHE[key] = computed(network, params, layer, size)
    return _CACHE[key]


def computed(network: Any, params: Any, layer: str, size: int, probes: int = PROBES, seed: int = 0) -> Geometry:
    """`layer`'s receptive fields measured on `network` at `size` px: for each row i of its h x w map, the input
    rows on which the gradient of the sum of row i's pre-activations (every column and channel) is not zero, joined
    over `probes` random RGB images (uniform 0-255, drawn from `seed`); likewise each column. A row's field is the
    span from the first such input row to the last. Measured for the first, middle and last three rows and columns
    (at most 18 backward passes of `probes` images, once), the others follow (`_affine`: one span moved by a fixed
    jump, clipped to the image, as in any chain of convolutions, pools and paddings, branches of equal stride
    joined); where the measured spans are not that (an upsampling, say), every row and column is measured.

    This is the support of the unit's input gradient, which is its receptive field where the network is a chain
    of local operations (convolutions, pools, paddings, elementwise maps, normalisations over channels): outside
    the field the gradient is exactly zero, inside it a path is blocked only where every probe's ReLU or max pool
    blocks it, which the sum over a row's units, its channels and the probes makes unlikely at the field's edges.
    Limits: fields are taken as axis-aligned rectangles (row span x column span; a dilated convolution's gaps are
    filled in); at the borders the spans are what the image holds (the rest is padding, which the crops cannot
    show), so a field larger than the image spans all of it; a layer after a global pool, a Dense layer (the
    logits), attention or a normalisation over space sees the whole image, and its `field` says so (size >= the
    image); a unit whose every path is dead on every probe is given the whole image.
    """
    import jax
    import jax.numpy as jnp

    rgb = jnp.asarray(np.random.default_rng(seed).uniform(0, 255, (probes, size, size, 3)), jnp.float32)
    p = network.layer_params(params, layer)

    def pre(weights, x):
        return network.activation(weights, x, layer, None, "float32", "xla")

    shape = jax.eval_shape(pre, p, rgb).shape  # (probes, h, w, C)
    h, w = int(shape[1]), int(shape[2])

    @jax.jit  # the weights and probes are arguments: as constants XLA would fold the whole forward at compile time
    def supports(weights, x, index, axis):  # (CHUNK,) map rows (axis 0) or columns (axis 1) -> (CHUNK, size) bool
        out, pullback = jax.vjp(lambda im: pre(weights, im), x)
        row = jax.lax.broadcasted_iota(jnp.int32, out.shape, 1)
        column = jax.lax.broadcasted_iota(jnp.int32, out.shape, 2)

        def one(i, a):
            (grad,) = pullback((jnp.where(a == 0, row, column) == i).astype(out.dtype))
            seen = jnp.abs(grad).sum(axis=(0, 3))  # (size, size): every probe, every colour
            return jnp.where(a == 0, seen.sum(axis=1), seen.sum(axis=0)) > 0

        return jax.vmap(one)(index, axis)

    def measure(lines: list[tuple[int, int]]) -> np.ndarray:
        """(axis, line) pairs -> (len, size) bool, CHUNK at a time through one compiled program (the padding:
        lines past the map, whose cotangent is zero)."""
        pairs = np.array(lines, np.int32).reshape(-1, 2)
        padded = np.concatenate([pairs, np.tile([[0, h]], (-len(pairs) % CHUNK, 1))]).astype(np.int32)
        return np.concatenate([np.asarray(supports(p, rgb, jnp.asarray(part[:, 1]), jnp.asarray(part[:, 0])))
                               for part in np.split(padded, len(padded) // CHUNK)])[: len(pairs)]  # fmt: skip

    few = {0: _probe_lines(h), 1: _probe_lines(w)}
    seen = measure([(0, i) for i in few[0]] + [(1, j) for j in few[1]])
    spans = []
    for axis, n, part in ((0, h, seen[: len(few[0])]), (1, w, seen[len(few[0]) :])):
        full = _affine(few[axis], _hull(part, size), n, size)
        if full is None:
            full = _hull(measure([(axis, i) for i in range(n)]), size)
        spans.append(full)
    rows, cols = spans
    return Geometry(size, rows, cols, _interior(rows, cols, size), False)


def _probe_lines(n: int) -> list[int]:
    """The lines of an n-line map whose fields are measured: the first, middle and last three."""
    c = n // 2
    return sorted({i for i in (0, 1, 2, c - 1, c, c + 1, n - 3, n - 2, n - 1) if 0 <= i < n})


def _affine(lines: list[int], spans: np.ndarray, n: int, size: int) -> np.ndarray | None:
    """All n spans (n, 2) from `spans` measured at `lines`, where they are one span moved by a fixed jump j and
    clipped to 0..size (first_i = clip(a + i j), past_i = clip(b + i j)); None where no a, b, j gives every
    measured span, or the jump cannot be told (the map's other lines are then measured too)."""
    if len(lines) == n:
        return spans
    at = np.asarray(lines, np.int64)
    lo, hi = spans[:, 0], spans[:, 1]
    jumps = set()
    for edge, free in ((lo, lo > 0), (hi, hi < size)):  # an edge the image did not clip moves by the jump
        k = np.flatnonzero(free)
        for x, y in zip(k[:-1], k[1:]):
            moved, apart = int(edge[y] - edge[x]), int(at[y] - at[x])
            if moved % apart:
                return None
            jumps.add(moved // apart)
    if len(jumps) > 1:
        return None
    if not jumps:  # only the whole image (every edge clipped) is told without the jump
        return np.tile([0, size], (n, 1)).astype(np.int64) if (lo == 0).all() and (hi == size).all() else None
    j, i = jumps.pop(), np.arange(n, dtype=np.int64)
    out = np.tile(np.array([0, size], np.int64), (n, 1))  # an edge clipped on every measured line: on all of them
    for column, free in ((0, lo > 0), (1, hi < size)):
        if free.any():
            k = int(np.flatnonzero(free)[0])
            out[:, column] = np.clip(spans[k, column] + (i - at[k]) * j, 0, size)
    return out if np.array_equal(out[at], spans) else None


def _hull(seen: np.ndarray, size: int) -> np.ndarray:
    """(n, 2) first and past-the-last True of each row of `seen` (n, size); a row without any: the whole side."""
    any_ = seen.any(axis=1)
    first = np.where(any_, seen.argmax(axis=1), 0)
    last = np.where(any_, size - seen[:, ::-1].argmax(axis=1), size)
    return np.stack([first, last], axis=-1).astype(np.int64)


def _interior(rows: np.ndarray, cols: np.ndarray, size: int) -> Field:
    """A Field from measured spans: the jump from neighbouring spans that the border did not clip (else from
    either unclipped edge; where every span is clipped on both sides, the side over the map's positions, as 'same'
    paddings make it), the size the widest span, the start from the first span clipped on neither side (else from
    the middle one)."""

    def axis(spans: np.ndarray) -> tuple[int, int, float]:
        n = len(spans)
        width = int((spans[:, 1] - spans[:, 0]).max())
        if n == 1:
            return width, size, (spans[0, 0] + spans[0, 1] - 1) / 2
        free = (spans[:, 0] > 0) & (spans[:, 1] < size)
        steps = [np.diff(spans[:, k])[mask[:-1] & mask[1:]] for k, mask in
                 ((0, free), (0, spans[:, 0] > 0), (1, spans[:, 1] < size))]  # fmt: skip
        step = next((s for s in steps if len(s)), None)
        jump = max(1, int(np.median(step)) if step is not None else round(size / n))
        i = int(np.flatnonzero(free)[0]) if free.any() else n // 2
        return width, jump, (spans[i, 0] + spans[i, 1] - 1) / 2 - i * jump

    (rs, rj, rc), (cs, cj, cc) = axis(rows), axis(cols)
    return Field(max(rs, cs), max(rj, cj), float(min(rc, cc)))
