"""A sweep's own pages: its points in a sortable table, and each layer's filters across every point.

Each point's pages show that point alone, so a new point changes none of them. What spans the points is made
from what the atlas keeps of each (`PointSeen`): the table, and each layer's page across the points, which is
the same page whatever the points: it reads them from one script (`points_js`) and their filters from one small
script a point and layer (`across_js`, written with that point's pages), all loaded as `<script src>` (which
works from file://, where fetch() does not).
"""

from __future__ import annotations

import math
from typing import Any

from jaxviz.atlas.assets import render
from jaxviz.atlas.page_parts import alt_text, filter_page, fmt, href, label, numeric, page, picture, short
from jaxviz.atlas.site import Sweep
from jaxviz.atlas.tiles import dead
from jaxviz.atlas.view import PointSeen, RunView
from jaxviz.config import short_keys
from jaxviz.model.architecture import network_order

HOME = "index.html"
COMPARE = "compare/{layer}.html"  # a layer's page across every point, from the atlas root
POINTS = "compare/points.js"  # the points those pages show
FIRST = ("activation_mean", "activation_median", "activation_max", "dead", "nan")  # the per-layer numbers offered first


def compare_page(layer: str) -> str:
    """A layer's page across every point, from the atlas root."""
    return COMPARE.format(layer=layer)


def point_prefix(name: str) -> str:
    """Where a point's own pages go, from the atlas root."""
    return f"points/{name}/"


def across_script(prefix: str, layer: str) -> str:
    """A point's filters of `layer` as its layer's page across the sweep loads them, from the atlas root (atlas.js
    makes the same path from points_js's folder)."""
    return f"{prefix}across/{layer}.js"


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
    layers = network_order({la for s in stats.values() for la in s})
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
    compare = [
        {
            "name": la,
            "href": href(HOME, compare_page(la)),
            "filters": _count([r for s in seen.values() for r in s.filters.get(la, [])]),
            "points": sum(la in s.filters for s in seen.values()),
        }
        for la in network_order({la for s in seen.values() for la in s.filters})
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
        compare=compare,
        stats={"fields": fields, "labels": [label(f) for f in fields], "rows": rows},
        config=sw.config,
    )


def compare_html(sw: Sweep, layer: str) -> str:
    """One layer's filters (rows) in every point that has it (columns). The page itself is the same whatever the
    points: atlas.js reads them from compare/points.js, loads each one's script and draws the table, and the view
    of one filter in every point (#f<number>)."""
    here = compare_page(layer)
    return render(
        "compare.html",
        page=page(here, f"{layer} across the sweep", [(sw.name, HOME), (f"{layer} across points", None)], "compare"),
        layer=layer,
        points=href(here, POINTS),
        home=href(here, HOME),
    )


def points_js(sw: Sweep, seen: dict[str, PointSeen]) -> str:
    """Every point with pages, for the layers' pages across the sweep: its name, swept values, folder (relative to
    compare/; its scripts are across/<layer>.js in it, its layer pages layers/<layer>.html) and layers."""
    points = [
        {
            "name": p.name,
            "caption": caption(p.values),
            "prefix": href(POINTS, point_prefix(p.name)),
            "layers": list(seen[p.name].filters),
        }
        for p in sw.points
        if seen[p.name].filters
    ]
    return render("points.js", data={"points": points})


def across_js(v: RunView, point: str, layer: str) -> str:
    """One point's filters of `layer` for its layer's page across the sweep: pictures, links, final activations."""
    here = compare_page(layer)
    filters = []
    for r in v.run.records[layer]:
        f, gone = r["filter"], dead(r)
        filters.append(
            {
                "filter": f,
                "dead": gone,
                "text": "dead" if gone else short(r.get("activation")),
                "final": "dead" if gone else fmt(r.get("activation")),
                "href": href(here, filter_page(v.prefix, layer, f)),
                "picture": picture(here, v.pictures[layer].get(f), alt_text(f"{layer} filter {f} in point {point}", r)),
            }
        )
    return render("across.js", data={"point": point, "caption": v.caption, "filters": filters})
