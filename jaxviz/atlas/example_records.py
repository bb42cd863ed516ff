"""Dataset examples as the atlas reads them: RUN/examples/ (scripts/examples.py), checked; None when absent or
damaged (the panel is optional, never an error)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from jaxviz.model.architecture import CONV_LAYERS
from jaxviz.runtime.files import read_npz

FOLDER = "examples"  # RUN/examples, and the atlas's own examples/ folder of crops
KEYS = ("scores", "image", "box", "mean", "fires", "filters")
CROP = 96  # px, the longer side of a stored crop (a larger receptive field is scaled down)
WHOLE = 160  # px, the longer side of a whole preprocessed image's thumbnail
QUALITY = 80
ENCODING = 1  # bump when the encoding changes, so that every crop is made again


@dataclass(frozen=True)
class LayerData:
    """One layer's examples as stored, checked: rows follow `filters`, columns best first."""

    scores: np.ndarray  # (C, K) float32
    image: np.ndarray  # (C, K) int, valid indices into Data.images
    box: np.ndarray  # (C, K, 4) top, left, bottom, right
    mean: np.ndarray  # (C,)
    fires: np.ndarray  # (C,)
    filters: list[int]


@dataclass(frozen=True)
class Data:
    """RUN/examples: the image folder, the crop size, its images and the layers the atlas shows."""

    root: str
    size: int
    images: list[str]  # paths relative to root
    layers: dict[str, LayerData]


@dataclass(frozen=True)
class Example:
    """One crop as the pages show it; paths relative to the atlas root, `crop` None: its image is gone."""

    rank: int
    score: float
    image: str  # the path relative to the image folder
    crop: str | None
    crop_size: tuple[int, int]
    whole: str | None  # thumbnail of the whole preprocessed image
    original: str  # file:// URL of the original file


@dataclass(frozen=True)
class FilterExamples:
    mean: float
    fires: float
    items: tuple[Example, ...]


def _safe(path: object) -> bool:
    if not isinstance(path, str) or not path:
        return False
    p = PurePosixPath(path)
    return not p.is_absolute() and ".." not in p.parts


def read_examples(run_dir: Path, layers: list[str]) -> Data | None:
    """RUN/examples for `layers`, or None when there is none or images.json is damaged (a damaged layer file
    just leaves that layer out)."""
    folder = Path(run_dir) / FOLDER
    try:
        meta = json.loads((folder / "images.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("root"), str) or not isinstance(meta.get("images"), list):
        return None
    size = meta.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        return None
    images = [e.get("path") if isinstance(e, dict) else None for e in meta["images"]]
    found = {}
    for layer in layers:
        z = read_npz(folder / f"{layer}.npz", KEYS) if (folder / f"{layer}.npz").is_file() else None
        data = _check(z, len(images), size) if z is not None else None
        if data is not None:
            found[layer] = data
    # An entry that is not a safe relative path is treated as a vanished image (its crops are placeholders).
    return Data(meta["root"], size, [p if _safe(p) else "" for p in images], found)


def stored_layers(run_dir: Path) -> list[str]:
    """The layers RUN/examples holds a file for, in network order (a run of examples alone shows these)."""
    folder = Path(run_dir) / FOLDER
    return [layer for layer in CONV_LAYERS if (folder / f"{layer}.npz").is_file()]


def _check(z: dict[str, np.ndarray], n: int, size: int) -> LayerData | None:
    try:
        scores, image, box = z["scores"], z["image"], z["box"]
        filters, mean, fires = z["filters"], z["mean"], z["fires"]
        if scores.ndim != 2 or image.shape != scores.shape or box.shape != (*scores.shape, 4):
            return None
        c = scores.shape[0]
        if filters.shape != (c,) or mean.shape != (c,) or fires.shape != (c,):
            return None
        if not all(np.issubdtype(a.dtype, np.integer) for a in (image, box, filters)):
            return None
        if image.size and (image.min() < 0 or image.max() >= n):
            return None
        box = np.clip(box.astype(np.int64), 0, size)
        return LayerData(
            scores.astype(np.float64),
            image.astype(np.int64),
            box,
            mean.astype(np.float64),
            fires.astype(np.float64),
            [int(f) for f in filters],
        )
    except (TypeError, ValueError):
        return None


def number(x: float) -> float:
    """`x` as a float, NaN for infinities (what the pages print as "—")."""
    x = float(x)
    return x if math.isfinite(x) else float("nan")
