"""How a filter is shown: deprocessing to uint8, a filter's tile, the dead mark, a layer's grid.

One table maps display names to functions (DISPLAYS) and one maps grid choices to orderings (GRIDS); the
config's valid choices come from them.
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


def tile(images: np.ndarray, mode: str = "std", std: float = 0.1) -> np.ndarray:
    """One filter's tile: its image (H, W, 3), or its k images (k, H, W, 3) side by side."""
    if images.ndim == 3:
        return display(images, mode, std)
    return strip(np.stack([display(im, mode, std) for im in images]))


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
    """Keras' upscaling example: drop silent filters, keep the n*n strongest (at least one filter)."""
    live = [f for f in order if final(f) > DEAD_EPS]
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


@dataclass(frozen=True)
class GridLayout:
    """How a layer's grid is laid out (the config's output.sort, grid, columns, margin): `sort` by final
    activation; `choice` a GRIDS name ("best_square" also sorts); `columns` 0: ceil(sqrt(N)); `margin` in px."""

    sort: bool = False
    choice: str = "all"
    columns: int = 0
    margin: int = 5


def layer_grid(
    filters: Sequence[int], shown: Mapping[int, Shown], size: int, layout: GridLayout = GridLayout()
) -> np.ndarray:
    """A layer's grid of `filters` as `layout` says: each filter's tile from `shown` (black where none is stored
    yet, `size` px square when no tile tells the shape), `dead_tile` for a filter that never fired (its stored tile
    is kept), ordered by final activation when `layout.sort` or a GRIDS choice other than "all" asks. A filter's
    history is None while it is still ascending (not judged yet). Returns a uint8 (H, W, 3) image
    (jaxviz.runtime.images.grid)."""

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
            return blank
        s = shown[f]
        return mark if s.history is not None and is_dead(s.history, s.nan_step) else s.tile

    return grid(np.stack([cell(f) for f in order]), layout.columns, layout.margin)
