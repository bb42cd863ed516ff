"""A sweep's own pages: its points in a sortable table, and each layer's filters across every point."""

from __future__ import annotations

from typing import Any

from jaxviz.atlas.assets import render
from jaxviz.atlas.html import alt_text, filter_page, fmt, href, label, layer_page, numeric, page, picture, short
from jaxviz.atlas.site import Sweep
from jaxviz.atlas.tiles import dead
from jaxviz.atlas.view import Peer
from jaxviz.config import short_keys

HOME = "index.html"
FIRST = ("activation_mean", "activation_median", "activation_max", "dead", "nan")  # the per-layer numbers offered first


def compare_page(layer: str) -> str:
    """A layer's page across every point, from the atlas root."""
    return f"compare/{layer}.html"


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


def sweep_index(sw: Sweep, peers: dict[str, Peer]) -> str:
    """The sweep's home: a table of its points (swept values, status, per-layer metrics) and its layers."""
    layers = sw.layers()
    stats = {p.name: p.stats() for p in sw.points}
    fields = list(dict.fromkeys(f for s in stats.values() for la in s.values() for f, x in la.items() if numeric(x)))
    fields.sort(key=lambda f: FIRST.index(f) if f in FIRST else len(FIRST))
    axes = list(sw.axes) or list(dict.fromkeys(k for p in sw.points for k in p.values))
    points = [
        {
            "name": p.name,
            "href": href(HOME, f"{peers[p.name].prefix}index.html") if p.name in peers else None,
            "swept": [_cell(p.values.get(k), swept(p.values.get(k))) for k in axes],
            "status": p.status,
            "error": p.entry.get("error"),
            "seconds": _cell(p.entry.get("seconds")),
            "stats": [_cell(stats[p.name].get(la, {}).get(f), field=f) for la in layers for f in fields],
        }
        for p in sw.points
    ]
    compare = [
        {
            "name": la,
            "href": href(HOME, compare_page(la)),
            "filters": len({f for pe in peers.values() for f in pe.records.get(la, {})}),
            "points": len(peers),
        }
        for la in layers
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


def compare_html(sw: Sweep, layer: str, peers: list[Peer]) -> str:
    """One layer's filters (rows) in every point (columns), each image linking to that filter's page there."""
    here = compare_page(layer)
    rows = []
    for f in sorted({f for p in peers for f in p.records.get(layer, {})}):
        cells = []
        for p in peers:
            r = p.records.get(layer, {}).get(f)
            cells.append(
                None  # not run in that point
                if r is None
                else {
                    "dead": dead(r),
                    "href": href(here, filter_page(p.prefix, layer, f)),
                    "picture": picture(
                        here, p.pictures.get(layer, {}).get(f), alt_text(f"filter {f} in point {p.name}", r)
                    ),
                    "text": "dead" if dead(r) else short(r.get("activation")),
                }
            )
        rows.append({"filter": f, "cells": cells})
    return render(
        "compare.html",
        page=page(here, f"{layer} across the sweep", [(sw.name, HOME), (f"{layer} across points", None)], "compare"),
        layer=layer,
        points=[{"name": p.name, "caption": p.caption, "href": href(here, layer_page(p.prefix, layer))} for p in peers],
        rows=rows,
    )
