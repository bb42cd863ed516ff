"""A sweep's atlas, brought up to date one changed point at a time.

A point's pages show that point alone, so a pass reads and remakes only the points whose run directory or index
entry changed since the last (`plan`: three file sizes and times a point, no contents), and leaves the others'
folders unread, even by the pruning. The sweep's own pages (its table, each layer across the points) are made
from what the state keeps of every point (`PointSeen`), so a pass costs about the same at the 10th point of a
sweep and at the 160th.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from jaxviz.atlas.atlas_state import STATE, dumps, known
from jaxviz.atlas.run_build import code, write_run
from jaxviz.atlas.site import RUN_FILES, Run, Sweep, read_run
from jaxviz.atlas.site_files import Output
from jaxviz.atlas.sweep_pages import (
    COMPARE,
    HOME,
    POINTS,
    across_js,
    across_script,
    caption,
    compare_html,
    compare_page,
    point_prefix,
    points_js,
    spans,
    sweep_index,
)
from jaxviz.atlas.view import PointSeen
from jaxviz.model.architecture import network_order

# What a point's pages are made from, as its run writes it: each writer renames a finished file into place, and
# writes these last (metrics.json after a layer's chunks, grid and PNGs; images.json after the examples' layer
# files), so their sizes and times change whenever anything the pages show does.
SOURCES = RUN_FILES


@dataclass
class Plan:
    """What a pass does: each point's source (see `_source`), the points left as they are, and the runs of the
    points to make again (None: no run in its directory yet)."""

    sources: dict[str, str] = field(default_factory=dict)
    kept: dict[str, PointSeen] = field(default_factory=dict)
    runs: dict[str, Run | None] = field(default_factory=dict)


def _stat(path: Path) -> list | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _source(path: Path, entry: dict, sweep: str) -> str:
    """A digest of what a point's pages are made from, read cheaply (three stats, no contents): its run's files,
    its index entry, the sweep's name (in its crumbs) and the atlas's code."""
    found = [_stat(path / name) for name in SOURCES]
    return hashlib.sha1(json.dumps([found, entry, sweep, code()], sort_keys=True, default=str).encode()).hexdigest()


def plan(out: Output, sw: Sweep, was: dict) -> Plan:
    """Which points changed since the pass that left `was` (the atlas's state); their runs read and checked
    (a damaged metrics.json raises a one-line JaxvizError here, before anything is written)."""
    points = was.get("points") if isinstance(was.get("points"), dict) else {}
    result = Plan()
    for p in sw.points:
        source = _source(p.path, p.entry, sw.name)
        result.sources[p.name] = source
        old = points.get(p.name) if isinstance(points.get(p.name), dict) else {}
        seen = PointSeen.from_json(old.get("seen"))
        if old.get("source") == source and seen and (not seen.pages or out.exists(f"{point_prefix(p.name)}index.html")):
            result.kept[p.name] = seen
        else:
            result.runs[p.name] = read_run(p.path) if p.has_run else None
    return result


def write_sweep(out: Output, sw: Sweep, todo: Plan) -> tuple[dict, list[str]]:
    """Every changed point's pages, then the sweep's own; returns the new state and the folders left as they were
    (for `Output.prune`)."""
    seen = dict(todo.kept)
    for p in sw.points:
        if p.name in todo.kept:
            continue
        run = todo.runs[p.name]
        if run is None:
            seen[p.name] = PointSeen(p.entry_stats(), {}, False)
            continue
        prefix = point_prefix(p.name)
        v, made = write_run(
            out, run, prefix, known(out.root / prefix / STATE), above=[(sw.name, HOME)], caption=caption(p.values),
            compare=COMPARE,
        )  # fmt: skip
        for layer in v.ascent:
            out.put(across_script(prefix, layer), across_js(v, p.name, layer))
        out.put(f"{prefix}{STATE}", dumps(made))
        seen[p.name] = PointSeen(run.layers, {la: spans(v.numbers[la]) for la in network_order(v.ascent)}, True)
    for layer in network_order({la for s in seen.values() for la in s.filters}):
        out.put(compare_page(layer), compare_html(sw, layer))  # the same bytes as last time: not written
    out.put(POINTS, points_js(sw, seen))
    out.put(HOME, sweep_index(sw, seen))
    state = {"points": {p.name: {"source": todo.sources[p.name], "seen": seen[p.name].as_json()} for p in sw.points}}
    return state, [point_prefix(name) for name, s in todo.kept.items() if s.pages]
