"""A sweep's own pages: its points in a sortable table, and each layer's filters across every point.

Each point's pages show that point alone, so a new point changes none of them. What spans the points is made
from what the atlas keeps of each (`PointSeen`): the table, and each layer's page across the points, which is
the same page whatever the points: it reads them from one script (`points_js`) and their filters from one small
script a point and layer (`across_js`, written with that point's pages), all loaded as `<script src>` (which
works from file://, where fetch() does not).

A sweep with the model as an axis (`model.name` with two values or more) compares layers that belong to different
networks: a layer across points is a layer of one model across that model's points (compare/<model>/<layer>.html,
the model's points in compare/<model>/points.js), and a layer name that several models share (VGG16's and VGG19's
block1_conv1) gets a page across the models (compare/across-models/<layer>.html: every point that has it, the
columns grouped by model). The home lists each model's layers in its order. Which layout a sweep has is read
from its axes, so it is known before any point has run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from jaxviz.atlas.assets import render
from jaxviz.atlas.page_parts import (
    alt_text,
    class_of,
    filter_name,
    filter_page,
    fmt,
    href,
    label,
    numeric,
    page,
    picture,
    short,
)
from jaxviz.atlas.site import Sweep, layer_order
from jaxviz.atlas.tiles import dead
from jaxviz.atlas.view import PointSeen, RunView
from jaxviz.config import short_keys
from jaxviz.model.network import layer_file

HOME = "index.html"
COMPARE = "compare/{layer}.html"  # a layer's page across every point, from the atlas root ({layer}: its file name)
POINTS = "compare/points.js"  # the points those pages show
FIRST = ("activation_mean", "activation_median", "activation_max", "dead", "nan")  # the per-layer numbers offered first
MODEL_AXIS = "model.name"  # the axis that makes a sweep's points different networks
ACROSS_MODELS = "across-models"  # the folder of the pages of a layer name across models (no model is so named)


def models(sw: Sweep) -> dict[str, str]:
    """Each point's model where the sweep has the model as an axis with two values or more (point name -> its
    `model.name`); {} for a sweep of one model, whose pages are laid out as ever."""
    values = sw.axes.get(MODEL_AXIS)
    if not isinstance(values, list) or len({swept(v) for v in values}) < 2:
        return {}
    return {p.name: swept(p.values.get(MODEL_AXIS, "")) for p in sw.points}


def model_folder(model: str) -> str:
    """A model's folder under compare/ (its name, any character a path cannot safely hold replaced)."""
    return re.sub(r"[^A-Za-z0-9._-]", "-", model).lstrip(".") or "model"


def compare_page(layer: str, model: str = "") -> str:
    """A layer's page across every point (of `model`, in a sweep over models), from the atlas root; the layer by
    its file name (network.layer_file), as every path of the atlas names it."""
    return compare_pattern(model).format(layer=layer_file(layer))


def compare_pattern(model: str = "") -> str:
    """A point's `RunView.compare`: its layers' pages across the sweep, with {layer} in it for a layer's file name
    (network.layer_file; RunView.compare_page fills it)."""
    return f"compare/{model_folder(model)}/{{layer}}.html" if model else COMPARE


def across_models_page(layer: str) -> str:
    """The page of a layer name that several models of the sweep share, across all their points."""
    return f"compare/{ACROSS_MODELS}/{layer_file(layer)}.html"


def points_script(model: str = "", across: bool = False) -> str:
    """The points.js the layer pages across the sweep (of `model`; across the models) read, from the atlas root."""
    if across:
        return f"compare/{ACROSS_MODELS}/points.js"
    return f"compare/{model_folder(model)}/points.js" if model else POINTS


def point_prefix(name: str) -> str:
    """Where a point's own pages go, from the atlas root."""
    return f"points/{name}/"


def across_script(prefix: str, layer: str) -> str:
    """A point's filters of `layer` as its layer's page across the sweep loads them, from the atlas root (atlas.js
    makes the same path from points_js's folder)."""
    return f"{prefix}across/{layer_file(layer)}.js"


def swept(value: Any) -> str:
    """A swept value as the sweep file writes it (1.0 stays 1.0: it names the point)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(swept, value))
    return repr(value) if isinstance(value, float) else str(value)


def caption(values: dict[str, Any]) -> str:
    """Swept values for people: `steps 20 · step 0.5` (keys shortened to their last dotted part when unique)."""
    labels = short_keys(values)
    return " · ".join(f"{labels[k]} {swept(v)}" for k, v in values.items())


def _cell(value: Any, text: str | None = None, field: str | None = None) -> dict:
    """A cell of the points table: its text, and its number for sorting (None: sorted by its text)."""
    return {"value": value if numeric(value) else None, "text": fmt(value) if text is None else text, "field": field}


def spans(numbers: set[int]) -> list[list[int]]:
    """Filter numbers as [first, last] runs: 0..511 is one pair, not 512 numbers, in the atlas's state."""
    out: list[list[int]] = []
    for f in sorted(numbers):
        if out and out[-1][1] == f - 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


def _count(runs: list[list[int]]) -> int:
    """How many numbers a list of possibly overlapping [first, last] runs covers."""
    total, end = 0, -1
    for first, last in sorted(runs):
        if last > end:
            total += last - max(first, end + 1) + 1
            end = last
    return total


def _number(x: Any) -> float | int | None:
    """A number for the page's JSON (which has no NaN or infinity), else None."""
    return x if numeric(x) and math.isfinite(x) else None


def sweep_index(sw: Sweep, seen: dict[str, PointSeen]) -> str:
    """The sweep's home: a table of its points (swept values, status, one per-layer number at a time) and its
    layers. The table holds the first number; the others are in the page as JSON, for atlas.js to show instead
    (a cell a layer, not a cell a layer and number: a 13-layer sweep's table was most of a pass's time)."""
    stats = {p.name: seen[p.name].stats for p in sw.points}
    layers = layer_order(list(stats[p.name]) for p in sw.points)  # each point's in its model's order
    fields = list(dict.fromkeys(f for s in stats.values() for la in s.values() for f, x in la.items() if numeric(x)))
    fields.sort(key=lambda f: FIRST.index(f) if f in FIRST else len(FIRST))
    shown = fields[0] if fields else ""
    axes = list(sw.axes) or list(dict.fromkeys(k for p in sw.points for k in p.values))
    points = [
        {
            "name": p.name,
            "href": href(HOME, f"{point_prefix(p.name)}index.html") if seen[p.name].pages else None,
            "swept": [_cell(p.values.get(k), swept(p.values.get(k))) for k in axes],
            "status": p.status,
            "error": p.entry.get("error"),
            "numbers": [_cell(p.entry.get("seconds"))] + [_cell(stats[p.name].get(la, {}).get(shown)) for la in layers],
        }
        for p in sw.points
    ]
    by_model = models(sw)
    groups = []
    for model in dict.fromkeys(by_model.values()) if by_model else [""]:
        mine = {name: s for name, s in seen.items() if by_model.get(name, "") == model}
        compare = [
            {
                "name": la,
                "href": href(HOME, compare_page(la, model)),
                "filters": _count([r for s in mine.values() for r in s.filters.get(la, [])]),
                "points": sum(la in s.filters for s in mine.values()),
            }
            for la in layer_order(list(s.filters) for s in mine.values())
        ]
        groups.append({"model": model, "layers": compare})
    shared = [
        {"name": la, "href": href(HOME, across_models_page(la)), "models": ms}
        for la, ms in shared_layers(by_model, seen).items()
    ]
    # rows[point][field][layer], in the table's order of points, fields and layers
    rows = [[[_number(stats[p.name].get(la, {}).get(f)) for la in layers] for f in fields] for p in sw.points]
    return render(
        "sweep.html",
        page=page(HOME, sw.name, [(sw.name, None)], "sweep"),
        name=sw.name,
        mode=sw.mode or "?",
        done=sum(p.status == "done" for p in sw.points),
        span="; ".join(f"{k} ∈ {', '.join(swept(x) for x in v)}" for k, v in sw.axes.items() if isinstance(v, list)),
        options=[{"value": f, "text": label(f)} for f in fields],
        shown=label(shown),
        axes=axes,
        layers=[la.partition("_") for la in layers],
        points=points,
        groups=[g for g in groups if g["layers"]],
        shared=shared,
        stats={"fields": fields, "labels": [label(f) for f in fields], "rows": rows},
        config=sw.config,
    )


def compare_html(sw: Sweep, layer: str, model: str = "", shared: Sequence[str] = ()) -> str:
    """One layer's filters (rows) in every point that has it (columns): of `model`'s points in a sweep over models
    (`shared`: the models that also have a layer of this name, whose pages it links to). The page itself is the
    same whatever the points: atlas.js reads them from its points.js, loads each one's script and draws the table,
    and the view of one filter in every point (#f<number>)."""
    here = compare_page(layer, model)
    title = f"{layer} of {model}" if model else layer
    return render(
        "compare.html",
        page=page(here, f"{title} across the sweep", [(sw.name, HOME), (f"{title} across points", None)], "compare"),
        layer=layer,
        file=layer_file(layer),  # the layer in each point's paths (atlas.js: layers/<file>.html, across/<file>.js)
        title=title,
        model=model,
        across=href(here, across_models_page(layer)) if len(shared) > 1 else None,
        models=[],
        points=href(here, points_script(model)),
        home=href(here, HOME),
    )


def across_models_html(sw: Sweep, layer: str, shared: Sequence[str]) -> str:
    """A layer name that several models of the sweep share (`shared`), in every point of those models: the same
    table as a layer's page across points, its columns grouped by model (atlas.js draws it from
    compare/across-models/points.js, whose points are in model order)."""
    here = across_models_page(layer)
    title = f"{layer} across models"
    return render(
        "compare.html",
        page=page(here, f"{title} in the sweep", [(sw.name, HOME), (title, None)], "compare"),
        layer=layer,
        file=layer_file(layer),  # the layer in each point's paths (atlas.js: layers/<file>.html, across/<file>.js)
        title=title,
        model="",
        across=None,
        models=[{"name": m, "href": href(here, compare_page(layer, m))} for m in shared],
        points=href(here, points_script(across=True)),
        home=href(here, HOME),
    )


def shared_layers(by_model: dict[str, str], seen: dict[str, PointSeen]) -> dict[str, list[str]]:
    """The layer names that two models or more of a sweep over models have (some point of each has the layer's
    filters), each with those models in the sweep's order; {} for a sweep of one model."""
    owners: dict[str, list[str]] = {}
    for model in dict.fromkeys(by_model.values()):
        mine = [list(s.filters) for name, s in seen.items() if by_model.get(name) == model]
        for layer in layer_order(mine):
            owners.setdefault(layer, []).append(model)
    return {layer: ms for layer, ms in owners.items() if len(ms) > 1}


def points_js(sw: Sweep, seen: dict[str, PointSeen], model: str = "", across: bool = False) -> str:
    """Every point with pages (of `model`; of every model, grouped by model, `across` them), for the layers' pages
    across the sweep: its name, swept values, folder (relative to the pages; its scripts are across/<layer>.js in
    it, its layer pages layers/<layer>.html) and layers."""
    script, by_model = points_script(model, across), models(sw)
    chosen = [p for p in sw.points if seen[p.name].filters and (not model or by_model.get(p.name) == model)]
    if across:  # the columns of a layer across models: each model's points together, in the sweep's order of models
        order = list(dict.fromkeys(by_model.get(p.name, "") for p in chosen))
        chosen.sort(key=lambda p: order.index(by_model.get(p.name, "")))
    points = [
        {
            "name": p.name,
            "caption": caption(p.values),
            "prefix": href(script, point_prefix(p.name)),
            "layers": list(seen[p.name].filters),
        }
        for p in chosen
    ]
    return render("points.js", data={"points": points})


def across_js(v: RunView, point: str, layer: str, here: str = "") -> str:
    """One point's filters of `layer` for its layer's page across the sweep (`here`, default compare_page(layer);
    the page across models, at the same depth, reads the same script): pictures, links, final activations, and
    each filter's class where the run names it."""
    here = here or compare_page(layer)
    filters = []
    for r in v.run.records[layer]:
        f, gone = r["filter"], dead(r)
        value = "dead" if gone else short(r.get("activation"))
        name = class_of(r)
        filters.append(
            {
                "filter": f,
                "dead": gone,
                "text": f"{name} · {value}" if name else value,
                "final": "dead" if gone else fmt(r.get("activation")),
                "href": href(here, filter_page(v.prefix, layer, f)),
                "picture": picture(
                    here, v.pictures[layer].get(f), alt_text(f"{filter_name(layer, f, r)} in point {point}", r)
                ),
            }
        )
    return render("across.js", data={"point": point, "caption": v.caption, "filters": filters})
