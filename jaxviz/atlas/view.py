"""What one run's pages are made from: the run, where its pages go, its pictures, and its sweep if any."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from jaxviz.atlas.example_data import FilterExamples
from jaxviz.atlas.site import Run
from jaxviz.atlas.tiles import Pictures


@dataclass
class Peer:
    """One point of a sweep, as the other points' filter pages show it."""

    name: str
    caption: str  # its swept values
    prefix: str  # its pages' folder under the atlas root
    records: dict[str, dict[int, dict]]
    pictures: dict[str, dict[int, Pictures]]


@dataclass
class RunView:
    """One run's pages: what they show and where they go (a run's own atlas, or one point of a sweep's)."""

    run: Run
    prefix: str  # "" for a run's own atlas, "points/<name>/" inside a sweep's
    pictures: dict[str, dict[int, Pictures]]
    above: list[tuple[str, str]] = field(default_factory=list)  # crumbs above the run: the sweep's home
    caption: str = ""  # a sweep point's swept values
    peers: list[Peer] = field(default_factory=list)  # every point of the sweep, this one included
    compare: str = ""  # a sweep's compare page for a layer, with {layer} in it
    examples: dict[str, dict[int, FilterExamples]] = field(default_factory=dict)  # dataset examples, if any
    dataset: dict = field(default_factory=dict)  # their image folder: {"root", "images", "layers"}; {} if none

    @functools.cached_property
    def numbers(self) -> dict[str, set[int]]:
        """Each layer's filter numbers."""
        return {layer: {r["filter"] for r in rows} for layer, rows in self.run.records.items()}


def crumbs(v: RunView, *below: tuple[str, str | None]) -> list[tuple[str, str | None]]:
    """The breadcrumb trail from the atlas home to a page of this run."""
    return [*v.above, (v.run.name, f"{v.prefix}index.html" if below else None), *below]
