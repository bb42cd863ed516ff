"""Dataset examples in the atlas: RUN/examples/ (scripts/examples.py) as crops, whole-image thumbnails and numbers.

Everything here is optional: a missing or damaged examples folder (or layer file) means no panel, never an error.
A crop is encoded once and kept while its source (the image file's size and time, the box, the crop size) is
unchanged; an image file that vanished since shows a placeholder instead of its crops.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from jaxviz.atlas.output import Output
from jaxviz.files import read_npz

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


def _number(x: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else float("nan")


def _encode(pixels: np.ndarray, longest: int) -> tuple[bytes, tuple[int, int]]:
    im = Image.fromarray(pixels)
    if max(im.size) > longest:
        im.thumbnail((longest, longest), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="WEBP", quality=QUALITY, lossless=max(im.size) < 32)  # lossy smudges a few pixels
    return buf.getvalue(), im.size


def crop_path(prefix: str, layer: str, f: int, k: int) -> str:
    return f"{prefix}{FOLDER}/{layer}/{f:04d}_{k}.webp"


def whole_path(prefix: str, index: int) -> str:
    return f"{prefix}{FOLDER}/images/{index:06d}.webp"


def _source(root: Path, path: str) -> list | None:
    """What an image file looks like on disk (size, time), None when it is gone."""
    if not path:
        return None
    try:
        st = (root / path).stat()
    except OSError:
        return None
    return [path, st.st_size, st.st_mtime_ns]


def write_examples(
    run_dir: Path, layers: list[str], out: Output, prefix: str, known: dict
) -> tuple[dict[str, dict[int, FilterExamples]], dict, dict]:
    """Every layer's examples under out/prefix: by layer and filter, the new `known` (what each file was made
    from), and a summary for the index ({} without examples). Never raises for bad examples data."""
    data = read_examples(run_dir, layers)
    if data is None or not data.layers:
        return {}, {}, {}
    root = Path(data.root)
    was = known.get("files") if known.get("encoding") == ENCODING and isinstance(known.get("files"), dict) else {}
    files: dict[str, str] = {}
    sources: dict[int, list | None] = {}
    todo: dict[int, list[tuple[str, tuple | None]]] = {}  # image -> (file, box or None for the whole image)
    sizes: dict[str, tuple[int, int]] = {}

    def plan(rel: str, index: int, box: tuple | None) -> bool:
        """Whether `rel` will exist: kept as it is, or made from image `index`."""
        if rel in files:
            return True  # a whole image shared by several crops: planned once
        if index not in sources:
            sources[index] = _source(root, data.images[index])
        if sources[index] is None:
            return False
        key = hashlib.sha1(json.dumps([sources[index], data.size, box]).encode()).hexdigest()[:16]
        files[rel] = key
        old = was.get(rel)
        if isinstance(old, list) and len(old) == 3 and old[0] == key and out.exists(rel):
            out.keep(rel)
            sizes[rel] = (int(old[1]), int(old[2]))
        else:
            todo.setdefault(index, []).append((rel, box))
        return True

    shown: dict[str, dict[int, list]] = {}
    for layer, ld in data.layers.items():
        shown[layer] = {}
        for row, f in enumerate(ld.filters):
            items = []
            for k in range(ld.scores.shape[1]):
                index = int(ld.image[row, k])
                top, left, bottom, right = (int(x) for x in ld.box[row, k])
                box = (top, left, max(bottom, top + 1), max(right, left + 1))
                crop, whole = crop_path(prefix, layer, f, k), whole_path(prefix, index)
                ok = plan(crop, index, box) and plan(whole, index, None)
                items.append((k, index, crop if ok else None, whole if ok else None))
            shown[layer][f] = items
    _make(root, data, todo, out, sizes)
    result: dict[str, dict[int, FilterExamples]] = {}
    for layer, ld in data.layers.items():
        result[layer] = {}
        for row, f in enumerate(ld.filters):
            items = []
            for k, index, crop, whole in shown[layer][f]:
                made = crop is not None and crop in sizes and whole in sizes
                path = data.images[index]
                items.append(
                    Example(
                        k + 1,
                        _number(ld.scores[row, k]),
                        path,
                        crop if made else None,
                        sizes.get(crop, (0, 0)) if made else (0, 0),
                        whole if made else None,
                        (root / path).as_uri() if path and root.is_absolute() else "",
                    )
                )
            result[layer][f] = FilterExamples(_number(ld.mean[row]), _number(ld.fires[row]), tuple(items))
    entries = {rel: [key, *sizes[rel]] for rel, key in files.items() if rel in sizes}
    summary = {"root": data.root, "images": len(data.images), "layers": list(data.layers)}
    return result, {"encoding": ENCODING, "files": entries}, summary


def _make(root: Path, data: Data, todo: dict, out: Output, sizes: dict) -> None:
    """Encode every planned file, one image read (and preprocessed as the examples run did) at a time."""
    from jaxviz.examples.loader import load

    for index, wanted in todo.items():
        item = load(root, data.images[index], data.size)
        if item.pixels is None:
            continue  # unreadable now: its crops are placeholders
        for rel, box in wanted:
            if box is None:
                pixels = item.pixels
            else:
                top, left, bottom, right = box
                pixels = item.pixels[top:bottom, left:right]
            if not pixels.size:
                continue
            encoded, size = _encode(np.ascontiguousarray(pixels), WHOLE if box is None else CROP)
            out.put(rel, encoded)
            sizes[rel] = size
