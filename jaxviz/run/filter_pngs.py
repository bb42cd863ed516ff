"""RUN/filters/<file>/NNNN.png: one PNG per filter, its tile as the run shows it (output.filter_pngs = true); <file> is
the layer's file name (jaxviz.model.network.layer_file: "inner__c1" for a nested model's "inner/c1").

A filter with a transparency map (the method's alpha on) has an RGBA PNG: its tile with the map as its alpha
channel, as jaxviz.show.display shows it (`alpha_for_display`: clipped at a percentile, in [0, 1]); and beside it
NNNN.alpha.npy, the raw map itself ((size, size) float32 >= 0: accumulated coverage-corrected |d objective /
d image|, not normalised), for whoever wants another display. A filter without one has an RGB PNG and no .npy.

Written after each layer beside its grid; the atlas reads them back for a filter whose chunk is gone (state/
deleted to save space). No JAX.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.model.network import layer_file
from jaxviz.runtime.files import atomic_write
from jaxviz.runtime.images import png_bytes
from jaxviz.show import display

FOLDER = "filters"
ALPHA_SUFFIX = ".alpha.npy"


def _folder(out: Path, layer: str) -> Path:
    return Path(out) / FOLDER / layer_file(layer)


def path(out: Path, layer: str, f: int) -> Path:
    """Filter `f`'s PNG of `layer` (filter numbers zero-padded to 4 digits: VGG16's widest layer has 512)."""
    return _folder(out, layer) / f"{f:04d}.png"


def alpha_path(out: Path, layer: str, f: int) -> Path:
    """Filter `f`'s raw transparency map of `layer` (.npy), beside its PNG."""
    return _folder(out, layer) / f"{f:04d}{ALPHA_SUFFIX}"


def write(out: Path, layer: str, f: int, tile: np.ndarray, alpha: np.ndarray | None = None) -> None:
    """Write `tile` ((H, W, 3) uint8) as filter `f`'s PNG, atomically: RGBA with `alpha` (its raw (size, size)
    map) as display.shown_alpha shows it, and the raw map as its .npy; RGB without (an old .npy is removed, so the
    folder never pairs an image with another run's map). A map that does not fit the tile is left out."""
    shown = display.shown_alpha(tile, alpha)
    if shown is None:
        save = tile
        with contextlib.suppress(FileNotFoundError):
            alpha_path(out, layer, f).unlink()
    else:
        buf = io.BytesIO()
        np.save(buf, np.asarray(alpha, np.float32), allow_pickle=False)
        atomic_write(alpha_path(out, layer, f), buf.getvalue())
        save = display.with_alpha(tile, shown)
    atomic_write(path(out, layer, f), png_bytes(save))


def read(out: Path, layer: str, f: int) -> np.ndarray | None:
    """Filter `f`'s tile as (H, W, 3) uint8 RGB (an RGBA PNG's colours, its alpha left out), or None when its PNG
    is missing or unreadable."""
    try:
        with Image.open(path(out, layer, f)) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError):
        return None


def read_alpha(out: Path, layer: str, f: int) -> np.ndarray | None:
    """Filter `f`'s raw transparency map ((size, size) float32), or None when it has none (its .npy is missing),
    or the file is unreadable or not a 2-D float array."""
    try:
        a = np.load(alpha_path(out, layer, f), allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    return a.astype(np.float32) if isinstance(a, np.ndarray) and a.ndim == 2 and a.dtype.kind == "f" else None


def files(out: Path, layer: str) -> list[Path]:
    """`layer`'s PNGs, sorted by name ([] when there are none)."""
    folder = _folder(out, layer)
    return sorted(folder.glob("*.png")) if folder.is_dir() else []
