"""RUN/filters/<layer>/NNNN.png: one PNG per filter, its tile as the run shows it (output.filter_pngs = true).

Written after each layer beside its grid; the atlas reads them back for a filter whose chunk is gone (state/
deleted to save space). No JAX.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.runtime.images import save_png

FOLDER = "filters"


def path(out: Path, layer: str, f: int) -> Path:
    """Filter `f`'s PNG of `layer` (filter numbers zero-padded to 4 digits: VGG16's widest layer has 512)."""
    return Path(out) / FOLDER / layer / f"{f:04d}.png"


def write(out: Path, layer: str, f: int, tile: np.ndarray) -> None:
    """Write `tile` ((H, W, 3) uint8) as filter `f`'s PNG, atomically."""
    save_png(path(out, layer, f), tile)


def read(out: Path, layer: str, f: int) -> np.ndarray | None:
    """Filter `f`'s tile as (H, W, 3) uint8 RGB, or None when its PNG is missing or unreadable."""
    try:
        with Image.open(path(out, layer, f)) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError):
        return None


def files(out: Path, layer: str) -> list[Path]:
    """`layer`'s PNGs, sorted by name ([] when there are none)."""
    folder = Path(out) / FOLDER / layer
    return sorted(folder.glob("*.png")) if folder.is_dir() else []
