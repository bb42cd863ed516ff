"""A sweep's atlas, brought up to date one changed point at a time.

A point's pages show that point alone, so a pass reads and remakes only the points whose run directory or index
entry changed since the last (`plan`: three file sizes and times a point, no contents), and leaves the others'
folders unread, even by the pruning. The sweep's own pages (its table, each layer across the points) are made
from what the state keeps of every point (`PointSeen`), so a pass costs about the same at the 10th point of a
sweep and at the 160th.

A sweep over models (sweep_pages.models) has a layer's pages across points per model, and a page across the models
for each layer name several models share; a point's pages link to its model's.
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
    HOME,
    across_js,
    across_models_html,
    across_models_page,
    across_script,
    caption,
    compare_html,
    compare_page,
    compare_pattern,
    layer_order,
    models,
    point_prefix,
    points_js,
    points_script,
    shared_layers,
    spans,
    sweep_index,
)
from jaxviz.atlas.view import PointSeen

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


def _source(path: Path, entry: dict, sweep: str, compare: str) -> str:
    """A digest of what a point's pages are made from, read cheaply (three stats, no contents): its run's files,
    its index entry, the sweep's name (in its crumbs), where its layers' pages across the sweep are (`compare`:
    a sweep that becomes one over models moves them) and the atlas's code."""
    found = [_stat(path / name) for name in SOURCES]
    digest = json.dumps([found, entry, sweep, compare, code()], sort_keys=True, default=str)
    return hashlib.sha1(digest.encode()).hexdigest()


def plan(out: Output, sw: Sweep, was: dict) -> Plan:
    """Which points changed since the pass that left `was` (the atlas's state); their runs read and checked
    (a damaged metrics.json raises a one-line JaxvizError here, before anything is written)."""
    points = was.get("points") if isinstance(was.get("points"), dict) else {}
    result, by_model = Plan(), models(sw)
    for p in sw.points:
        source = _source(p.path, p.entry, sw.name, compare_pattern(by_model.get(p.name, "")))
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
    seen, by_model = dict(todo.kept), models(sw)
    for p in sw.points:
        if p.name in todo.kept:
            continue
        run = todo.runs[p.name]
        if run is None:
            seen[p.name] = PointSeen(p.entry_stats(), {}, False)
            continue
        prefix, model = point_prefix(p.name), by_model.get(p.name, "")
        v, made = write_run(
            out, run, prefix, known(out.root / prefix / STATE), above=[(sw.name, HOME)], caption=caption(p.values),
            compare=compare_pattern(model),
        )  # fmt: skip
        for layer in v.ascent:
            out.put(across_script(prefix, layer), across_js(v, p.name, layer, compare_page(layer, model)))
        out.put(f"{prefix}{STATE}", dumps(made))
        filters = {la: spans(v.numbers[la]) for la in v.run.records if la in v.ascent}  # in the model's order
        seen[p.name] = PointSeen(run.layers, filters, True)
    _write_compare(out, sw, seen, by_model)
    out.put(HOME, sweep_index(sw, seen))
    state = {"points": {p.name: {"source": todo.sources[p.name], "seen": seen[p.name].as_json()} for p in sw.points}}
    return state, [point_prefix(name) for name, s in todo.kept.items() if s.pages]


def _write_compare(out: Output, sw: Sweep, seen: dict[str, PointSeen], by_model: dict[str, str]) -> None:
    """Each layer's page across the points and the points.js it reads: one set for a sweep of one model; per model,
    and across the models for each layer name they share, for a sweep over models. Each page is the same bytes
    whatever the points (not written again); the points.js files hold what changes."""
    shared = shared_layers(by_model, seen)
    for model in dict.fromkeys(by_model.values()) if by_model else [""]:
        mine = {name: s for name, s in seen.items() if by_model.get(name, "") == model}
        for layer in layer_order(list(s.filters) for s in mine.values()):
            out.put(compare_page(layer, model), compare_html(sw, layer, model, shared.get(layer, ())))
        out.put(points_script(model), points_js(sw, seen, model))
    if by_model:
        for layer, owners in shared.items():
            out.put(across_models_page(layer), across_models_html(sw, layer, owners))
        out.put(points_script(across=True), points_js(sw, seen, across=True))
