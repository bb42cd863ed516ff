"""What a dataset-examples run produces: per layer the top-K images of every filter, and how it is written.

RUN/examples/<layer>.npz: scores (C, K) float32, image (C, K) int32 (index into images.json's list), position
(C, K, 2) int32 (row, column of the maximum in the layer's map), box (C, K, 4) int32 (top, left, bottom, right;
bottom/right exclusive, pixels of the preprocessed size x size image), best first; mean (C,) float32 (mean over
the images of the filter's spatial mean), fires (C,) float32 (fraction of images whose maximum is > 0), filters
(C,) int32 (which channels of the layer the rows are). K is min(top, images read).
RUN/examples/images.json: {"root": absolute folder, "size": S, "images": [{"path", "width", "height"}, ...]}.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxviz.examples.receptive import boxes
from jaxviz.files import atomic_write, write_json

KEYS = ("scores", "image", "position", "box", "mean", "fires", "filters")


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

    def __repr__(self) -> str:  # the image list can be a whole data set: a notebook shows the gist
        layers = ", ".join(f"{name}: {len(ex.filters)} filters" for name, ex in self.layers.items())
        return (f"Examples({str(self.root)!r}, size {self.size}, {len(self.images)} images, {self.skipped} skipped, "
                f"{'complete' if self.complete else 'incomplete'}; {layers})")  # fmt: skip


def finish_layer(
    layer: str,
    state: dict[str, np.ndarray],
    sums: tuple[np.ndarray, np.ndarray],
    filters: list[int],
    count: int,
    side: int,
    size: int,
) -> LayerExamples:
    """A layer's results from the device state (flat positions in a `side`-wide map) and the host sums."""
    k = min(state["scores"].shape[1], count)
    flat = state["position"][:, :k].astype(np.int64)
    position = np.stack([flat // side, flat % side], axis=-1).astype(np.int32)
    mean, fires = sums
    return LayerExamples(
        scores=np.asarray(state["scores"][:, :k], np.float32),
        image=np.asarray(state["image"][:, :k], np.int32),
        position=position,
        box=boxes(layer, position, size),
        mean=(mean / max(count, 1)).astype(np.float32),
        fires=(fires / max(count, 1)).astype(np.float32),
        filters=np.asarray(filters, np.int32),
    )


def write(run: Path, result: Examples) -> Path:
    """Write RUN/examples/<layer>.npz and images.json (atomically, each); returns RUN/examples."""
    out = Path(run) / "examples"
    for layer, ex in result.layers.items():
        buf = io.BytesIO()
        np.savez(buf, **{key: getattr(ex, key) for key in KEYS})
        atomic_write(out / f"{layer}.npz", buf.getvalue())
    write_json(out / "images.json", {"root": str(result.root), "size": result.size, "images": result.images})
    return out


def crops(result: Examples, layer: str, filter: int) -> list[np.ndarray]:
    """The receptive-field crops (uint8 (h, w, 3), best first) of `filter`'s top images in `layer`, re-read from
    disk and preprocessed as the run did. Raises KeyError for a layer the run did not cover, ValueError for a
    filter it did not, JaxvizError when an image can no longer be read."""
    from jaxviz.errors import JaxvizError
    from jaxviz.examples.loader import load

    if layer not in result.layers:
        raise KeyError(f"layer {layer!r} was not computed; computed: {', '.join(result.layers)}")
    ex = result.layers[layer]
    r = ex.row(filter)
    out = []
    for index, (top, left, bottom, right) in zip(ex.image[r], ex.box[r]):
        item = load(result.root, result.images[index]["path"], result.size)
        if item.pixels is None:
            raise JaxvizError(f"cannot read {result.images[index]['path']!r} again: {item.error}")
        out.append(item.pixels[top:bottom, left:right].copy())
    return out
