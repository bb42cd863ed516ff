"""A sweep's own pages: its points in a sortable table, and each layer's filters across every point.

Each point's pages show that point alone, so a new point changes none of them. What spans the points is made
from what the atlas keeps of each (`PointSeen`): the table, and each layer's page across the points, whose
filters come from one small script a point (`across_js`, written with that point's pages), loaded by a
`<script src>` (which works from file://, where fetch() does not).
"""

from __future__ import annotations

from typing import Any

from jaxviz.architecture import network_order
from jaxviz.atlas.assets import render
from jaxviz.atlas.html import alt_text, filter_page, fmt, href, label, layer_page, numeric, page, picture, short
from jaxviz.atlas.site import Sweep
from jaxviz.atlas.tiles import dead
from jaxviz.atlas.view import PointSeen, RunView
from jaxviz.config import short_keys

HOME = "index.html"
COMPARE = "compare/{layer}.html"  # a layer's page across every point, from the atlas root
FIRST = ("activation_mean", "activation_median", "activation_max", "dead", "nan")  # the per-layer numbers offered first


def compare_page(layer: str) -> str:
    """A layer's page across every point, from the atlas root."""
    return COMPARE.format(layer=layer)


def point_prefix(name: str) -> str:
    """Where a point's own pages go, from the atlas root."""
    return f"points/{name}/"


def across_script(prefix: str, layer: str) -> str:
    """A point's filters of `layer` as its layer's page across the sweep loads them, from the atlas root."""
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


def sweep_index(sw: Sweep, seen: dict[str, PointSeen]) -> str:
    """The sweep's home: a table of its points (swept values, status, per-layer metrics) and its layers."""
    stats = {p.name: seen[p.name].stats for p in sw.points}
    layers = network_order({la for s in stats.values() for la in s})
    fields = list(dict.fromkeys(f for s in stats.values() for la in s.values() for f, x in la.items() if numeric(x)))
    fields.sort(key=lambda f: FIRST.index(f) if f in FIRST else len(FIRST))
    axes = list(sw.axes) or list(dict.fromkeys(k for p in sw.points for k in p.values))
    points = [
        {
            "name": p.name,
            "href": href(HOME, f"{point_prefix(p.name)}index.html") if seen[p.name].pages else None,
            "swept": [_cell(p.values.get(k), swept(p.values.get(k))) for k in axes],
            "status": p.status,
            "error": p.entry.get("error"),
            "seconds": _cell(p.entry.get("seconds")),
            "stats": [_cell(stats[p.name].get(la, {}).get(f), field=f) for la in layers for f in fields],
        }
        for p in sw.points
    ]
    compared = network_order({la for s in seen.values() for la in s.filters})
    compare = [
        {
            "name": la,
            "href": href(HOME, compare_page(la)),
            "filters": _count([r for s in seen.values() for r in s.filters.get(la, [])]),
            "points": sum(la in s.filters for s in seen.values()),
        }
        for la in compared
    ]
    return render(
        "sweep.html",
        page=page(HOME, sw.name, [(sw.name, None)], "sweep"),
        name=sw.name,
        mode=sw.mode or "?",
        done=sum(p.status == "done" for p in sw.points),
        span="; ".join(f"{k} ∈ {', '.join(swept(x) for x in v)}" for k, v in sw.axes.items() if isinstance(v, list)),
        options=[{"value": f, "text": label(f)} for f in fields],
        axes=axes,
        columns=[{"layer": la, "field": f, "label": label(f)} for la in layers for f in fields],
        points=points,
        layers=compare,
        config=sw.config,
    )


def compare_html(sw: Sweep, layer: str, seen: dict[str, PointSeen]) -> str:
    """One layer's filters (rows) in every point that has it (columns): the points here, their filters from each
    point's script (atlas.js makes the rows, and the view of one filter in every point)."""
    here = compare_page(layer)
    points = [p for p in sw.points if layer in seen[p.name].filters]
    return render(
        "compare.html",
        page=page(here, f"{layer} across the sweep", [(sw.name, HOME), (f"{layer} across points", None)], "compare"),
        layer=layer,
        filters=_count([r for p in points for r in seen[p.name].filters[layer]]),
        points=[
            {
                "name": p.name,
                "caption": caption(p.values),
                "href": href(here, layer_page(point_prefix(p.name), layer)),
                "script": href(here, across_script(point_prefix(p.name), layer)),
            }
            for p in points
        ],
    )


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
