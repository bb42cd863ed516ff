"""Host-side image work with NumPy and Pillow: deprocessing, grids, PNG files."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.files import atomic_write


def deprocess(image: np.ndarray, std: float = 0.1) -> np.ndarray:
    """One float RGB image -> uint8: centred, scaled to `std`, shifted to 0.5, clipped (the seeds' way)."""
    x = np.asarray(image, np.float64)
    x = np.nan_to_num(x - x.mean(), nan=0.0, posinf=0.0, neginf=0.0)
    x = x / (x.std() + 1e-5) * std + 0.5
    return (np.clip(x, 0.0, 1.0) * 255).round().astype(np.uint8)


DISPLAYS = ("std", "minmax", "clip")


def display(image: np.ndarray, mode: str = "std", std: float = 0.1) -> np.ndarray:
    """One float RGB image (0-255 scale) -> uint8 as shown: `std` (the seeds' deprocessing, `deprocess`),
    `minmax` (stretched to the full range, seeds 002 and 004) or `clip` (values as they are)."""
    if mode == "std":
        return deprocess(image, std)
    x = np.nan_to_num(np.asarray(image, np.float64), nan=0.0, posinf=255.0, neginf=0.0)
    if mode == "minmax":
        x = (x - x.min()) / (x.max() - x.min() + 1e-12)
    else:
        x = x / 255.0
    return (np.clip(x, 0.0, 1.0) * 255).round().astype(np.uint8)


def strip(tiles: np.ndarray, margin: int = 2) -> np.ndarray:
    """k tiles (k, H, W, 3) side by side, `margin` black pixels apart: one filter's k images as one tile."""
    return grid(tiles, columns=len(tiles), margin=margin)


def grid_shape(n: int, columns: int = 0) -> tuple[int, int]:
    """(rows, columns) for `n` tiles; columns=0 means ceil(sqrt(n))."""
    columns = columns or math.ceil(math.sqrt(n))
    columns = min(columns, n)
    return math.ceil(n / columns), columns


def grid(tiles: np.ndarray, columns: int = 0, margin: int = 5) -> np.ndarray:
    """Tiles (N, H, W, 3) uint8 -> one image, row-major, `margin` black pixels between tiles."""
    n, h, w, c = tiles.shape
    rows, cols = grid_shape(n, columns)
    out = np.zeros((rows * h + (rows - 1) * margin, cols * w + (cols - 1) * margin, c), np.uint8)
    for i, tile in enumerate(tiles):
        r, q = divmod(i, cols)
        out[r * (h + margin) : r * (h + margin) + h, q * (w + margin) : q * (w + margin) + w] = tile
    return out


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


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 HxWx3 image as PNG, atomically."""
    atomic_write(path, png_bytes(image))
