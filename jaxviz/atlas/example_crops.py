"""Dataset examples in the atlas: RUN/examples/ (scripts/examples.py; read through its format's module,
dataset_examples.examples_store) as crops, whole-image thumbnails and numbers.

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
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.atlas.site_files import Output
from jaxviz.dataset_examples.examples_store import Stored, read_stored
from jaxviz.model.network import layer_file

FOLDER = "examples"  # the atlas's own folder of crops (as RUN/examples is the run's)
CROP = 96  # px, the longer side of a stored crop (a larger receptive field is scaled down)
WHOLE = 160  # px, the longer side of a whole preprocessed image's thumbnail
QUALITY = 80
ENCODING = 1  # bump when the encoding changes, so that every crop is made again


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
    """One filter's examples as the pages show them: its mean over the data set, how often it fires, its crops."""

    mean: float
    fires: float
    items: tuple[Example, ...]


def number(x: float) -> float:
    """`x` as a float, NaN for infinities (what the pages print as "—")."""
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
    """Filter `f`'s k-th crop of `layer` (by its file name, network.layer_file), from the atlas root."""
    return f"{prefix}{FOLDER}/{layer_file(layer)}/{f:04d}_{k}.webp"


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
    data = read_stored(run_dir, layers)
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
                        number(ld.scores[row, k]),
                        path,
                        crop if made else None,
                        sizes.get(crop, (0, 0)) if made else (0, 0),
                        whole if made else None,
                        (root / path).as_uri() if path and root.is_absolute() else "",
                    )
                )
            result[layer][f] = FilterExamples(number(ld.mean[row]), number(ld.fires[row]), tuple(items))
    entries = {rel: [key, *sizes[rel]] for rel, key in files.items() if rel in sizes}
    summary = {"root": data.root, "images": len(data.images), "layers": list(data.layers)}
    return result, {"encoding": ENCODING, "files": entries}, summary


def _finite(x: float) -> float | None:
    return x if x == x else None  # NaN (number()'s "none"): what a record holds as null


def rows_alone(found: dict[str, dict[int, FilterExamples]], layers: list[str]) -> dict[str, list[dict]]:
    """Records for `layers`, which have dataset examples but no ascent: one a filter, with the numbers of its
    examples (what a layer page sorts by and a filter page lists), in place of metrics.json's."""
    rows = {}
    for layer in layers:
        rows[layer] = [
            {
                "layer": layer,
                "filter": f,
                "top_score": _finite(ex.items[0].score) if ex.items else None,
                "dataset_mean": _finite(ex.mean),
                "fires": _finite(ex.fires),
            }
            for f, ex in sorted(found.get(layer, {}).items())
        ]
    return rows


def _make(root: Path, data: Stored, todo: dict, out: Output, sizes: dict) -> None:
    """Encode every planned file, one image read (and preprocessed as the examples run did) at a time."""
    from jaxviz.dataset_examples.loader import load

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
