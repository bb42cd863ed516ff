"""What the pages are made from: one run's pages (its run, where they go, its pictures, its examples), and what a
sweep's own pages keep of each point."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from jaxviz.atlas.example_crops import FilterExamples
from jaxviz.atlas.site import Run
from jaxviz.atlas.tiles import Pictures
from jaxviz.model.network import layer_file


@dataclass
class RunView:
    """One run's pages: what they show and where they go (a run's own atlas, or one point of a sweep's)."""

    run: Run
    prefix: str  # "" for a run's own atlas, "points/<name>/" inside a sweep's
    pictures: dict[str, dict[int, Pictures]]
    above: list[tuple[str, str]] = field(default_factory=list)  # crumbs above the run: the sweep's home
    caption: str = ""  # a sweep point's swept values
    compare: str = ""  # a sweep's page of a layer across its points, with {layer} in it (see compare_page)
    examples: dict[str, dict[int, FilterExamples]] = field(default_factory=dict)  # dataset examples, if any
    dataset: dict = field(default_factory=dict)  # their image folder: {"root", "images", "layers"}; {} if none
    ascent: set[str] = field(default_factory=set)  # the layers with optimised images; the rest have examples only

    def compare_page(self, layer: str) -> str:
        """`layer`'s page across the sweep, from the atlas root ("" outside a sweep): `compare` with its file name
        (network.layer_file) in it."""
        return self.compare.format(layer=layer_file(layer)) if self.compare else ""

    @functools.cached_property
    def numbers(self) -> dict[str, set[int]]:
        """Each layer's filter numbers."""
        return {layer: {r["filter"] for r in rows} for layer, rows in self.run.records.items()}


@dataclass
class PointSeen:
    """One point of a sweep as the sweep's own pages show it (its row, the layers it adds to the comparisons).

    Kept in the atlas's state between passes, so that a point that did not change is not read again.
    """

    stats: dict[str, dict]  # per-layer numbers: its metrics.json's, else its index entry's
    filters: dict[str, list[list[int]]]  # each layer with optimised images: its filter numbers, as [first, last]
    pages: bool  # whether it has pages of its own (its directory holds a run)

    def as_json(self) -> dict:
        return {"stats": self.stats, "filters": self.filters, "pages": self.pages}

    @staticmethod
    def from_json(d: object) -> PointSeen | None:
        """What `as_json` wrote, or None when it is not that (damaged, or written by another version)."""
        if not isinstance(d, dict) or not isinstance(d.get("stats"), dict) or not isinstance(d.get("filters"), dict):
            return None
        spans = [s for spans in d["filters"].values() for s in (spans if isinstance(spans, list) else [None])]
        if not all(isinstance(s, list) and len(s) == 2 and all(type(x) is int for x in s) for s in spans):
            return None
        if not all(isinstance(s, dict) for s in d["stats"].values()):
            return None
        return PointSeen(d["stats"], d["filters"], bool(d.get("pages")))


def crumbs(v: RunView, *below: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    """The breadcrumb trail from the atlas home to a page of this run."""
    return [*v.above, (v.run.name, f"{v.prefix}index.html" if below else None), *below]
