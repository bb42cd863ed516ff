"""How a filter is shown: deprocessing to uint8, a filter's tile, the dead mark, its transparency map (alpha) as
an image's alpha channel, a layer's grid.

One table maps display names to functions (DISPLAYS) and one maps grid choices to orderings (GRIDS); the
config's valid choices come from them. How alpha is shown is decided here only: runs, the API, TensorBoard and the
atlas all come through `alpha_for_display`, `with_alpha` and `over_background`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from jaxviz.ascent.records import DEAD_EPS, is_dead
from jaxviz.runtime.images import grid, strip


def deprocess(image: np.ndarray, std: float = 0.1) -> np.ndarray:
    """One float RGB image -> uint8: centred, scaled to `std`, shifted to 0.5, clipped (the book's way:
    Chollet, Deep Learning with Python, 5.4)."""
    x = np.asarray(image, np.float64)
    x = np.nan_to_num(x - x.mean(), nan=0.0, posinf=0.0, neginf=0.0)
    x = x / (x.std() + 1e-5) * std + 0.5
    return (np.clip(x, 0.0, 1.0) * 255).round().astype(np.uint8)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, 0.0, 1.0) * 255).round().astype(np.uint8)


def _finite(image: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(image, np.float64), nan=0.0, posinf=255.0, neginf=0.0)


def _minmax(image: np.ndarray, std: float) -> np.ndarray:
    x = _finite(image)
    return _to_uint8((x - x.min()) / (x.max() - x.min() + 1e-12))


# Name -> (float RGB image on the 0-255 scale, std) -> uint8. `std` is the tutorials' deprocessing (the book's);
# `minmax` stretches to the full range (the TF2 and TF1 tutorials); `clip` shows the values as they are.
DISPLAYS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "std": deprocess,
    "minmax": _minmax,
    "clip": lambda image, std: _to_uint8(_finite(image) / 255.0),
}


def display(image: np.ndarray, mode: str = "std", std: float = 0.1) -> np.ndarray:
    """One float RGB image (0-255 scale) -> uint8 as DISPLAYS[mode] shows it."""
    return DISPLAYS[mode](image, std)


STRIP_MARGIN = 2  # px between a filter's k images in its tile


def tile(images: np.ndarray, mode: str = "std", std: float = 0.1) -> np.ndarray:
    """One filter's tile: its image (H, W, 3), or its k images (k, H, W, 3) side by side, STRIP_MARGIN px apart."""
    if images.ndim == 3:
        return display(images, mode, std)
    return strip(np.stack([display(im, mode, std) for im in images]), STRIP_MARGIN)


# --- Transparency (alpha): how much each pixel mattered to the filter, shown as the image's alpha channel ---

# Each filter's alpha is capped at this percentile of its own values and divided by it, so the most important
# fifth of the pixels is opaque and the rest fades out in proportion: Horama's `plot_maco` (horama/plots.py,
# percentile_alpha=80) and Xplique's `plot_maco` (xplique/plots/image.py, the same default) both clip MACO's
# transparency map there, after Fel et al., NeurIPS 2023. Without it a few very strong pixels would leave the
# rest of the image nearly invisible.
ALPHA_PERCENTILE = 80.0
# The neutral grey a grid shows transparent pixels over (0-255): light, as the sources' figures are drawn on a white
# page, and unlike the mid grey (~128) the `std` display centres every image on, so a faded pixel reads as faded
# rather than as part of the image.
ALPHA_BACKGROUND = 240


def alpha_for_display(alpha: np.ndarray, percentile: float = ALPHA_PERCENTILE) -> np.ndarray:
    """Raw transparency maps (N, H, W) (each filter's accumulated |d objective / d image|, >= 0, any scale) ->
    (N, H, W) float32 in [0, 1], per filter: min(alpha, p) / p with p its `percentile`-th percentile (see
    ALPHA_PERCENTILE for the source). Non-finite or negative values count as 0. A filter whose map is all zero (or
    whose percentile is 0 with no larger value) has nothing to say where it looks: it is shown opaque (all 1)
    rather than invisible. One map (H, W) gives one (H, W)."""
    a = np.nan_to_num(np.asarray(alpha, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    a = np.maximum(a, 0.0)
    one = a.ndim == 2
    a = a[None] if one else a
    flat = a.reshape(len(a), -1)
    top = np.percentile(flat, percentile, axis=1) if flat.shape[1] else np.zeros(len(a))
    top = np.where(top > 0, top, flat.max(axis=1, initial=0.0))  # a sparse map: its largest value instead
    out = np.ones_like(a)
    live = top > 0
    out[live] = np.minimum(a[live], top[live, None, None]) / top[live, None, None]
    out = out.astype(np.float32)
    return out[0] if one else out


def alpha_tile(alpha01: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One filter's display alpha (H, W) in [0, 1] laid out as its tile of `shape` (H, W', ...): itself when the
    tile is one image; over the first of the tile's k images when it is a strip (objective.images > 1: the map is
    that of the filter's first image, jaxviz.ascent's AscentResult.alpha), the others and the STRIP_MARGIN px
    margins opaque. Raises ValueError when the map fits neither."""
    h, w = alpha01.shape
    width = shape[1]
    k = (width + STRIP_MARGIN) // (w + STRIP_MARGIN)
    if shape[0] != h or k < 1 or k * w + (k - 1) * STRIP_MARGIN != width:
        raise ValueError(f"an alpha map of {h}x{w} does not fit a tile of {shape[0]}x{width}")
    out = np.ones((h, width), np.float32)
    out[:, :w] = alpha01
    return out


def with_alpha(rgb: np.ndarray, alpha01: np.ndarray) -> np.ndarray:
    """Images (..., H, W, 3) uint8 and their display alpha (..., H, W) in [0, 1] -> RGBA (..., H, W, 4) uint8."""
    a = (np.clip(np.nan_to_num(np.asarray(alpha01, np.float64)), 0.0, 1.0) * 255).round().astype(np.uint8)
    return np.concatenate([np.asarray(rgb, np.uint8), a[..., None]], axis=-1)


def over_background(rgba: np.ndarray, grey: int = ALPHA_BACKGROUND) -> np.ndarray:
    """RGBA (..., 4) uint8 composited over a flat `grey` (0-255) -> RGB (..., 3) uint8: what a grid shows (PNG
    viewers and TensorBoard put a transparent image over their own background; a grid is one opaque picture)."""
    x = np.asarray(rgba, np.float64)
    a = x[..., 3:] / 255.0
    return (x[..., :3] * a + float(grey) * (1.0 - a)).round().astype(np.uint8)


def shown_alpha(tile_: np.ndarray, alpha: np.ndarray | None) -> np.ndarray | None:
    """One filter's display alpha (H, W') in [0, 1] shaped as its `tile_` from its raw map (H, W) (None: none), or
    None when it has none or the map does not fit the tile (a damaged store: the image is shown alone)."""
    if alpha is None:
        return None
    try:
        return alpha_tile(alpha_for_display(alpha), tile_.shape)
    except ValueError:
        return None


DEAD_BACKGROUND, DEAD_CROSS = 40, 150  # grey levels: a flat dark tile with a light cross, unlike any ascent image


def dead_tile(shape: tuple[int, ...]) -> np.ndarray:
    """The tile shown for a filter that never fired, in place of its starting noise (which reads as a texture).

    A flat dark tile of `shape` (H, W, 3) with a light diagonal cross in its centred square: one filter's k
    images side by side get one cross. Made when grids and atlas pictures are made; stored tiles keep the noise.
    """
    h, w = shape[0], shape[1]
    out = np.full((h, w, 3), DEAD_BACKGROUND, np.uint8)
    side = min(h, w)
    inset, half = side // 5, max(side / 20, 0.5)  # a cross in a 60% square, lines a tenth of the side thick
    y, x = np.mgrid[:side, :side].astype(np.float64)
    inside = (np.minimum(y, x) >= inset) & (np.maximum(y, x) <= side - 1 - inset)
    cross = inside & ((np.abs(y - x) <= half) | (np.abs(y + x - (side - 1)) <= half))
    top, left = (h - side) // 2, (w - side) // 2
    out[top : top + side, left : left + side][cross] = DEAD_CROSS
    return out


def _best_square(order: list[int], final: Callable[[int], float]) -> list[int]:
    """Keras' upscaling example: drop silent filters, keep the n*n strongest (at least one filter). Silent is
    records.is_dead's rule, a final activation at zero: a logit below zero is alive (ReLU maps never go below)."""
    live = [f for f in order if abs(final(f)) > DEAD_EPS]
    return live[: int(np.sqrt(len(live))) ** 2] or order[:1]


# Name -> (filters sorted by final activation, final activation) -> the filters the grid shows.
GRIDS: dict[str, Callable[[list[int], Callable[[int], float]], list[int]]] = {
    "all": lambda order, final: order,
    "best_square": _best_square,
}


class Shown(Protocol):
    """What a grid needs of a filter (jaxviz.run.chunk_store.FilterResult is one)."""

    @property
    def tile(self) -> np.ndarray: ...  # (H, W, 3) uint8, as `tile` makes it

    @property
    def history(self) -> np.ndarray | None: ...  # mean activation per step; None while still ascending

    @property
    def nan_step(self) -> int: ...  # the first non-finite step, -1: none

    @property
    def alpha(self) -> np.ndarray | None: ...  # (H, W) float32 raw transparency map; None: none


@dataclass(frozen=True)
class GridLayout:
    """How a layer's grid is laid out (the config's output.sort, grid, columns, margin): `sort` by final
    activation; `choice` a GRIDS name ("best_square" also sorts); `columns` 0: ceil(sqrt(N)); `margin` in px."""

    sort: bool = False
    choice: str = "all"
    columns: int = 0
    margin: int = 5


GRID_MODES = ("over", "image", "rgba", "alpha")  # what a layer's grid shows of a filter with a transparency map


def layer_grid(
    filters: Sequence[int],
    shown: Mapping[int, Shown],
    size: int,
    layout: GridLayout = GridLayout(),
    mode: str = "over",
) -> np.ndarray:
    """A layer's grid of `filters` as `layout` says: each filter's tile from `shown` (black where none is stored
    yet, `size` px square when no tile tells the shape), `dead_tile` for a filter that never fired (its stored tile
    is kept), ordered by final activation when `layout.sort` or a GRIDS choice other than "all" asks. A filter's
    history is None while it is still ascending (not judged yet).

    A filter with a transparency map (`alpha`, shown through `shown_alpha`) is shown as `mode` says: "over" its
    image with that alpha over ALPHA_BACKGROUND, "image" its image alone, "rgba" its image with the alpha as a
    fourth channel, "alpha" the map itself in grey (white: where the filter looks). A filter without one (and the
    dead mark, and a blank cell) is its tile as it is (in "alpha": white, opaque). Returns a uint8 (H, W, 3) image,
    (H, W, 4) for "rgba" (jaxviz.runtime.images.grid; the margins black, transparent in "rgba").
    Raises ValueError for an unknown `mode`."""
    if mode not in GRID_MODES:
        raise ValueError(f"unknown grid mode {mode!r}; valid: {', '.join(GRID_MODES)}")

    def final(f: int) -> float:
        h = shown[f].history if f in shown else None
        return float(np.nan_to_num(h[-1], nan=-np.inf)) if h is not None else -np.inf

    order = list(filters)
    if layout.sort or layout.choice != "all":
        order.sort(key=lambda f: -final(f))
    order = GRIDS[layout.choice](order, final)
    shape = next((shown[f].tile.shape for f in order if f in shown), (size, size, 3))
    blank, mark = np.zeros(shape, np.uint8), dead_tile(shape)

    def cell(f: int) -> np.ndarray:
        if f not in shown:
            image, a = blank, None
        elif (s := shown[f]).history is not None and is_dead(s.history, s.nan_step):
            image, a = mark, None
        else:
            image, a = s.tile, (shown_alpha(s.tile, s.alpha) if mode != "image" else None)
        if mode == "alpha":
            grey = (np.ones(image.shape[:2]) if a is None else a) * 255
            return np.repeat(grey.round().astype(np.uint8)[..., None], 3, axis=-1)
        if a is None:
            return with_alpha(image, np.ones(image.shape[:2])) if mode == "rgba" else image
        rgba = with_alpha(image, a)
        return rgba if mode == "rgba" else over_background(rgba)

    return grid(np.stack([cell(f) for f in order]), layout.columns, layout.margin)


def any_alpha(shown: Mapping[int, Shown]) -> bool:
    """Whether any filter of `shown` has a transparency map."""
    return any(s.alpha is not None for s in shown.values())
