"""What a dataset-examples run produces: per layer the top-K images of every filter, and how it is written.

RUN/examples/<file>.npz (<file>: the layer's file name, jaxviz.model.network.layer_file): scores (C, K) float32, image
(C, K) int32 (index into images.json's list), position (C, K, 2) int32 (row, column of the maximum in the layer's map),
box (C, K, 4) int32 (top, left, bottom, right; bottom/right exclusive, pixels of the preprocessed size x size image),
best first; mean (C,) float32 (mean over the images of the filter's spatial mean), fires (C,) float32 (fraction of
images whose maximum is > 0), filters (C,) int32 (which channels of the layer the rows are). K is min(top, images read).
RUN/examples/images.json: {"root": absolute folder, "size": S, "images": [{"path", "width", "height"}, ...], "model":
the network's name ("vgg16", "keras:resnet50", ...), "weights": their fingerprint, "layers": [names in network order]},
written last. A layer named with a path ("base/conv_a", a Keras model nested in another) has its file beside the others
("base__conv_a.npz"); images.json keeps its own name. Both are written (`write`) and read back (`read_stored`, for the
atlas) here only; the resumable state beside them (state*.npz) is resume_state.py's. No JAX at import: the atlas imports
this.

In a notebook an Examples shows a small grid of crops (`_repr_html_`, `_repr_png_`); `crops_grid` makes any.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from jaxviz.dataset_examples.receptive import Field, Geometry, boxes, field
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS, MEAN_BGR
from jaxviz.model.network import layer_file
from jaxviz.runtime.files import atomic_write, read_npz, write_json

FOLDER, LISTING = "examples", "images.json"  # RUN/examples/ and its list of images
KEYS = ("scores", "image", "position", "box", "mean", "fires", "filters")
SHOWN_KEYS = ("scores", "image", "box", "mean", "fires", "filters")  # what a reader of crops needs (no position)
MIN_TILE = 48  # px: a smaller field (block1_conv1's is 3 px) is enlarged by a whole factor, its pixels kept sharp
# Where a field runs off the image the model saw its zero padding, which after Keras' "caffe" preprocessing (the
# VGGs', ResNet50's) is the mean colour: a tile shows that there, not black (black is the grid's margin). Other
# preprocessings pad with other colours (mid-grey for [-1, 1]); the tiles keep this one, as a neutral fill.
PAD_RGB = tuple(round(c) for c in reversed(MEAN_BGR))
PREVIEW = 4  # a notebook's preview: this many filters of the first layer, this many top images each


def describe_filters(filters: Iterable[int]) -> str:
    """A repr's short list of channels: "0-15" for a consecutive run, else the first six and "..."."""
    items = [int(f) for f in filters]
    if len(items) > 2 and items == list(range(items[0], items[0] + len(items))):
        return f"{items[0]}-{items[-1]}"
    return ", ".join(map(str, items[:6])) + (", ..." if len(items) > 6 else "")


@dataclass(frozen=True)
class LayerExamples:
    """One layer's examples; rows follow `filters`, columns are best first (shapes as in the module doc)."""

    scores: np.ndarray
    image: np.ndarray
    position: np.ndarray
    box: np.ndarray
    mean: np.ndarray
    fires: np.ndarray
    filters: np.ndarray
    field: Field | None = None  # the layer's receptive field (None: VGG16's, receptive.field); not written

    def __repr__(self) -> str:  # the arrays are (C, K, ...): a notebook shows the gist
        c, k = self.image.shape[:2]
        lo, hi = (f"{x:.3g}" for x in (self.scores.min(), self.scores.max())) if self.scores.size else ("", "")
        scores = f", scores {lo} to {hi}" if self.scores.size else ""  # "to": a signed layer's may be below zero
        return f"LayerExamples({c} filters ({describe_filters(self.filters)}), top {k}{scores})"

    def row(self, filter: int) -> int:
        """The row of channel `filter`; ValueError when the run did not cover it."""
        hits = np.flatnonzero(self.filters == filter)
        if not len(hits):
            some = ", ".join(map(str, self.filters[:8].tolist())) + (", ..." if len(self.filters) > 8 else "")
            raise ValueError(f"filter {filter} was not computed ({len(self.filters)} filters: {some})")
        return int(hits[0])


@dataclass(frozen=True)
class Examples:
    """A whole run: `images` as in images.json (path relative to `root`, original width/height), per layer."""

    root: Path
    size: int
    images: list[dict]
    layers: dict[str, LayerExamples]
    skipped: int = 0  # files that could not be read
    complete: bool = True  # every file of the folder was consumed (False: stopped early, the state saved)
    rate: float = 0.0  # images/s of this invocation after its first batch (which compiles); 0 if unmeasured
    weights: str = ""  # the fingerprint of the weights that found them (jaxviz.model.weights.fingerprint)
    model: str = "vgg16"  # the network's name (jaxviz.model.network.Network.name)

    def __repr__(self) -> str:  # the image list can be a whole data set: a notebook shows the gist
        layers = ", ".join(f"{name}: {len(ex.filters)} filters" for name, ex in self.layers.items())
        if len(self.layers) > 4:  # all 13 layers would make a line of 300 characters
            names = list(self.layers)
            total = sum(len(ex.filters) for ex in self.layers.values())
            layers = f"{len(names)} layers {names[0]} ... {names[-1]}: {total:,} filters"
        return (f"Examples({str(self.root)!r}, size {self.size}, {len(self.images)} images, {self.skipped} skipped, "
                f"{'complete' if self.complete else 'incomplete'}; {layers})")  # fmt: skip

    def grid(
        self,
        layer: str | None = None,
        filters: Iterable[int] | int | None = None,
        top: int = 0,
        side: int = 0,
        margin: int = 2,
    ) -> np.ndarray:
        """`crops_grid(self, ...)`: filters (rows) x their top images' receptive-field crops (columns), uint8."""
        return crops_grid(self, layer, filters, top, side, margin)

    def _preview(self) -> tuple[str, bytes] | None:
        """(caption, PNG) of the first layer's first PREVIEW filters x their PREVIEW best crops, made once per
        object (a notebook asks for HTML and PNG in turn, and each re-reads the images); None when an image can
        no longer be read (the notebook then shows the text repr)."""
        if "_preview_made" not in self.__dict__:  # a frozen dataclass: its __dict__ is the only place to cache
            from jaxviz.runtime.images import png_bytes

            layer = next(iter(self.layers))
            ex = self.layers[layer]
            filters, top = ex.filters[:PREVIEW].tolist(), min(PREVIEW, ex.image.shape[1])
            try:
                png = png_bytes(crops_grid(self, layer, filters, top))
            except (JaxvizError, OSError):
                made = None
            else:
                caption = (f"{layer}, filters {describe_filters(filters)} (rows): receptive fields of their top {top} "
                           f"of {len(self.images)} images (columns, best first); {len(self.layers)} layer(s) computed, "
                           f"from {self.root}")  # fmt: skip
                made = (caption, png)
            self.__dict__["_preview_made"] = made
        return self.__dict__["_preview_made"]

    def _repr_png_(self) -> bytes | None:
        """A notebook's picture of the result: see `_preview`."""
        made = self._preview()
        return None if made is None else made[1]

    def _repr_html_(self) -> str | None:
        """The preview with a caption saying what the rows and columns are."""
        made = self._preview()
        if made is None:
            return None
        data = base64.b64encode(made[1]).decode("ascii")
        return f'<div><div><code>{html.escape(made[0])}</code></div><img src="data:image/png;base64,{data}"></div>'


def finish_layer(
    layer: str,
    state: dict[str, np.ndarray],
    sums: tuple[np.ndarray, np.ndarray],
    filters: list[int],
    count: int,
    side: int,
    size: int,
    geometry: Geometry | None = None,
) -> LayerExamples:
    """A layer's results from the device state (flat positions in a `side`-wide map) and the host sums; the boxes
    from `geometry` (the layer's receptive fields at `size`, jaxviz.dataset_examples.receptive.geometry; None:
    VGG16's, receptive.boxes)."""
    k = min(state["scores"].shape[1], count)
    flat = state["position"][:, :k].astype(np.int64)
    position = np.stack([flat // side, flat % side], axis=-1).astype(np.int32)
    mean, fires = sums
    return LayerExamples(
        scores=np.asarray(state["scores"][:, :k], np.float32),
        image=np.asarray(state["image"][:, :k], np.int32),
        position=position,
        box=boxes(layer, position, size) if geometry is None else geometry.boxes(position),
        mean=(mean / max(count, 1)).astype(np.float32),
        fires=(fires / max(count, 1)).astype(np.float32),
        filters=np.asarray(filters, np.int32),
        field=None if geometry is None else geometry.field,
    )


def write(run: Path, result: Examples) -> Path:
    """Write RUN/examples/<layer>.npz and images.json (atomically, each); returns RUN/examples."""
    out = Path(run) / FOLDER
    for layer, ex in result.layers.items():
        buf = io.BytesIO()
        np.savez(buf, **{key: getattr(ex, key) for key in KEYS})
        atomic_write(_layer_path(out, layer), buf.getvalue())
    listing = {"root": str(result.root), "size": result.size, "images": result.images, "weights": result.weights,
               "model": result.model, "layers": list(result.layers)}  # fmt: skip
    write_json(out / LISTING, listing)
    return out


def recorded_model(run: Path) -> str | None:
    """The name of the network RUN/examples were found with (images.json, else a saved state of an unfinished run),
    "vgg16" for examples made before it was recorded (VGG16's alone then), None when it holds none."""
    folder = Path(run) / FOLDER
    try:
        meta = json.loads((folder / LISTING).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        meta = None
    if isinstance(meta, dict):
        found = meta.get("model", "vgg16")
        return found if isinstance(found, str) and found else None
    for path in sorted(folder.glob("state*.npz")) if folder.is_dir() else []:
        try:
            with np.load(path) as z:
                found = json.loads(str(z["meta"]))["settings"].get("model", "vgg16")
        except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError):
            continue
        if isinstance(found, str) and found:
            return found
    return None


def recorded_weights(run: Path) -> str | None:
    """The fingerprint of the weights RUN/examples were found with (images.json, else a saved state of an
    unfinished run), or None when it holds none or did not record it (written before it was recorded)."""
    folder = Path(run) / FOLDER
    try:
        found = json.loads((folder / LISTING).read_text()).get("weights")
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        found = None
    if isinstance(found, str) and found:
        return found
    for path in sorted(folder.glob("state*.npz")) if folder.is_dir() else []:
        try:
            with np.load(path) as z:
                found = json.loads(str(z["meta"]))["settings"].get("weights")
        except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError):
            continue
        if isinstance(found, str) and found:
            return found
    return None


@dataclass(frozen=True)
class StoredLayer:
    """One layer's examples as read back, checked: rows follow `filters`, columns best first."""

    scores: np.ndarray  # (C, K) float64
    image: np.ndarray  # (C, K) int64, valid indices into Stored.images
    box: np.ndarray  # (C, K, 4) int64 top, left, bottom, right, clipped to the size x size image
    mean: np.ndarray  # (C,) float64
    fires: np.ndarray  # (C,) float64
    filters: list[int]


@dataclass(frozen=True)
class Stored:
    """RUN/examples as read back: the image folder, the crop size, the images and the layers asked for."""

    root: str
    size: int
    images: list[str]  # paths relative to root; "" for an entry that is not a safe relative path
    layers: dict[str, StoredLayer]


def _safe(path: object) -> bool:
    if not isinstance(path, str) or not path:
        return False
    p = PurePosixPath(path)
    return not p.is_absolute() and ".." not in p.parts


def _layer_path(folder: Path, layer: str) -> Path:
    """A layer's file in RUN/examples (its file name: a nested model's "inner/c1" is inner__c1.npz, no folder)."""
    return folder / f"{layer_file(layer)}.npz"


def _safe_layer(name: object) -> bool:
    """A layer name images.json may list: a string no part of which ("/"-separated) is empty, "." or ".." (any
    other is a damaged listing, though its file name could not leave the folder)."""
    return isinstance(name, str) and all(part not in ("", ".", "..") for part in name.split("/"))


def read_stored(run: Path, layers: list[str]) -> Stored | None:
    """RUN/examples for `layers`, or None when there is none or images.json is damaged; a damaged or missing layer
    file (or one whose arrays do not fit together or point past the images) just leaves that layer out. Never
    raises for bad data: dataset examples are an optional panel wherever they are shown."""
    folder = Path(run) / FOLDER
    try:
        meta = json.loads((folder / LISTING).read_text())
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
        path = _layer_path(folder, layer)
        z = read_npz(path, SHOWN_KEYS) if _safe_layer(layer) and path.is_file() else None
        data = _check(z, len(images), size) if z is not None else None
        if data is not None:
            found[layer] = data
    # An entry that is not a safe relative path is treated as a vanished image (its crops are placeholders).
    return Stored(meta["root"], size, [p if _safe(p) else "" for p in images], found)


def stored_layers(run: Path) -> list[str]:
    """The layers RUN/examples holds a file for, in network order: as images.json lists them, or for examples
    written before it did (VGG16's alone then), VGG16's conv layers. Never raises for bad data."""
    folder = Path(run) / FOLDER
    try:
        listed = json.loads((folder / LISTING).read_text()).get("layers")
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        listed = None
    names = listed if isinstance(listed, list) and all(isinstance(x, str) for x in listed) else CONV_LAYERS
    return [layer for layer in names if _safe_layer(layer) and _layer_path(folder, layer).is_file()]


def _check(z: dict[str, np.ndarray], n: int, size: int) -> StoredLayer | None:
    """A layer file's arrays as a StoredLayer, None when their shapes or types do not fit (`n` images)."""
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
        return StoredLayer(
            scores.astype(np.float64),
            image.astype(np.int64),
            np.clip(box.astype(np.int64), 0, size),
            mean.astype(np.float64),
            fires.astype(np.float64),
            [int(f) for f in filters],
        )
    except (TypeError, ValueError):
        return None


def crops(result: Examples, layer: str, filter: int, top: int = 0) -> list[np.ndarray]:
    """The receptive-field crops (uint8 (h, w, 3), best first) of `filter`'s top images in `layer` (the best `top`;
    0: all the run kept), re-read from disk and preprocessed as the run did. Raises KeyError for a layer the run
    did not cover, ValueError for a filter it did not, JaxvizError when an image can no longer be read."""
    from jaxviz.dataset_examples.loader import load

    if layer not in result.layers:
        raise KeyError(f"layer {layer!r} was not computed; computed: {', '.join(result.layers)}")
    ex = result.layers[layer]
    r = ex.row(filter)
    if isinstance(top, bool) or not isinstance(top, numbers.Integral) or top < 0:
        raise JaxvizError(f"top must be a whole number >= 0, got {top!r}")
    out = []
    keep = top or ex.image.shape[1]
    for index, (y0, x0, y1, x1) in zip(ex.image[r, :keep], ex.box[r, :keep]):
        item = load(result.root, result.images[index]["path"], result.size)
        if item.pixels is None:
            raise JaxvizError(f"cannot read {result.images[index]['path']!r} again: {item.error}")
        out.append(item.pixels[y0:y1, x0:x1].copy())
    return out


def _tile(crop: np.ndarray, box: np.ndarray, corner: np.ndarray, side: int) -> np.ndarray:
    """`crop` (the field clipped to the image) at its place in a `side` x `side` field whose unclipped top-left
    corner is `corner`; the rest PAD_RGB."""
    h, w = crop.shape[:2]
    out = np.empty((side, side, 3), np.uint8)
    out[:] = PAD_RGB
    dy = int(np.clip(box[0] - corner[0], 0, side - h))
    dx = int(np.clip(box[1] - corner[1], 0, side - w))
    out[dy : dy + h, dx : dx + w] = crop[:side, :side]
    return out


def crops_grid(
    result: Examples,
    layer: str | None = None,
    filters: Iterable[int] | int | None = None,
    top: int = 0,
    side: int = 0,
    margin: int = 2,
) -> np.ndarray:
    """The receptive-field crops of several filters as one uint8 image: row i holds `filters[i]`'s top images,
    best first, `margin` black pixels apart (show it with PIL.Image.fromarray or matplotlib's imshow).

    `layer`: one of `result.layers` (None: the only one). `filters`: channels of it (None: its first 8).
    `top`: columns, the best `top` images (0: all the run kept, K). Each tile is the square receptive field of
    the unit that fired (its side F = min(field size, result.size) px) with the crop at its place: where the
    field runs off the image the tile shows PAD_RGB, the ImageNet mean colour (VGG16's zero padding). `side`: tile side
    in pixels (0: F, enlarged by a whole factor to at least MIN_TILE px, nearest neighbour; otherwise resampled).

    Returns (R * s + (R - 1) * margin, C * s + (C - 1) * margin, 3) uint8 with R = len(filters), C = min(top, K),
    s the tile side. Images are re-read from disk as `crops` does. Raises JaxvizError (one line) for a layer or
    filter the run did not compute, bad numbers, or an image that can no longer be read.
    """
    from PIL import Image

    from jaxviz.runtime.images import grid

    if layer is None:
        if len(result.layers) != 1:
            raise JaxvizError(f"name a layer: this result holds {', '.join(result.layers)}")
        layer = next(iter(result.layers))
    if layer not in result.layers:
        computed = ", ".join(result.layers)
        known = "" if layer in CONV_LAYERS or result.model != "vgg16" else " (not a VGG16 conv layer)"
        raise JaxvizError(f"layer {layer!r}{known} was not computed; computed: {computed}")
    for name, value in (("top", top), ("side", side), ("margin", margin)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise JaxvizError(f"{name} must be a whole number >= 0, got {value!r}")
    ex = result.layers[layer]
    if filters is None:
        chosen = ex.filters[:8].tolist()
    else:
        chosen = [filters] if isinstance(filters, numbers.Integral) else list(filters)
    if not chosen:
        raise JaxvizError("filters is empty: name at least one")
    try:
        rows = [ex.row(f) for f in chosen]
    except ValueError as e:
        raise JaxvizError(f"{layer}: {e}") from None
    k = ex.image.shape[1]
    columns = min(top, k) if top else k
    if columns == 0:
        raise JaxvizError(f"{layer} has no examples: no image was read")
    f = ex.field or field(layer)
    native = min(f.size, result.size)
    side = side or native * max(1, math.ceil(MIN_TILE / native))
    resample = Image.NEAREST if side >= native else Image.LANCZOS  # enlarged: each input pixel stays a square
    tiles = []
    for chosen_filter, r in zip(chosen, rows):
        # The field's unclipped top-left corner: its centre minus half its size (as receptive.boxes computes it).
        corners = np.rint(f.start + ex.position[r, :columns].astype(np.float64) * f.jump - (f.size - 1) / 2)
        for crop, box, corner in zip(crops(result, layer, chosen_filter, columns), ex.box[r], corners):
            tile = _tile(crop, box, corner, native)
            if side != native:
                tile = np.asarray(Image.fromarray(tile).resize((side, side), resample))
            tiles.append(tile)
    return grid(np.stack(tiles), columns, margin)
