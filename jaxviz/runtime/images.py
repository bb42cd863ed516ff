"""Host-side image plumbing with NumPy and Pillow: grids of tiles, PNG files (how a tile looks: display.py)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.runtime.files import atomic_write


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


def png_bytes(image: np.ndarray) -> bytes:
    """A uint8 (H, W, 3) image encoded as PNG."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 HxWx3 image as PNG, atomically."""
    atomic_write(path, png_bytes(image))
