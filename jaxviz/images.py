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


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 HxWx3 image as PNG, atomically."""
    atomic_write(path, png_bytes(image))
