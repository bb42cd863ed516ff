"""One run's overview pages: its model (index: every layer, its numbers, its best filters) and each layer."""

from __future__ import annotations

from jaxviz.atlas.assets import render
from jaxviz.atlas.html import (
    alt_text,
    example,
    filter_page,
    fmt,
    href,
    label,
    layer_page,
    numeric,
    page,
    pager,
    picture,
    short,
)
from jaxviz.atlas.view import RunView, crumbs

BEST = 6  # filters in each layer's strip on the index page


def _lede(v: RunView) -> str:
    s, n = v.run.settings, sum(map(len, v.run.records.values()))
    parts = [f"VGG16, {len(v.run.records)} layer{'s' * (len(v.run.records) != 1)}, {n} filters"]
    parts += [f"{s[k]}{unit}" for k, unit in (("size", " px"), ("steps", " steps")) if k in s]
    return " · ".join(parts)


def _best(v: RunView, here: str, layer: str) -> list[dict]:
    """The layer's live filters with the highest final activation, best first."""
    rows = [r for r in v.run.records[layer] if numeric(r.get("activation")) and not r.get("dead")]
    best = [r["filter"] for r in sorted(rows, key=lambda r: -r["activation"])[:BEST]]
    return [
        {
            "href": href(here, filter_page(v.prefix, layer, f)),
            "picture": picture(here, v.pictures[layer].get(f), f"{layer} filter {f}"),
        }
        for f in best
    ]


def _partial(summary: dict) -> str:
    """A mark for a layer an interruption left unfinished (metrics.json's "partial"); "" for a finished one."""
    if not summary.get("partial"):
        return ""
    done, planned = summary.get("filters"), summary.get("planned")
    if done == planned:  # every filter ascended; the grid, numbers or pages after it were cut short
        return "interrupted after its ascent: rerun to finish its numbers"
    return f"partial: {done} of {planned} filters, rerun to resume"


def index_html(v: RunView) -> str:
    """The run's home: each layer with its numbers and a strip of its best filters, then the resolved config."""
    here, summaries = f"{v.prefix}index.html", v.run.layers
    fields = list(dict.fromkeys(k for s in summaries.values() for k, x in s.items() if numeric(x) and k != "planned"))
    layers = [
        {
            "name": layer,
            "href": href(here, layer_page(v.prefix, layer)),
            "partial": _partial(s),
            "cells": [{"label": label(f), "text": fmt(s.get(f))} for f in fields],
            "best": _best(v, here, layer),
        }
        for layer, s in summaries.items()
    ]
    return render(
        "index.html",
        page=page(here, v.run.name, crumbs(v), "index"),
        name=v.run.name,
        lede=_lede(v),
        point=v.caption,
        best=BEST,
        fields=[label(f) for f in fields],
        layers=layers,
        config=v.run.config,
        dataset=v.dataset or None,
    )


def _top(v: RunView, here: str, layer: str, f: int) -> dict | None:
    """The filter's best dataset example, small under its tile (None without examples)."""
    ex = v.examples.get(layer, {}).get(f)
    return example(here, ex.items[0], f"{layer} filter {f}") if ex and ex.items else None


def layer_html(v: RunView, here: str, layer: str, prev: str | None, nxt: str | None) -> str:
    """Every filter of `layer` as a tile; the script sorts them by any numeric field and hides dead ones."""
    rows, s = v.run.records[layer], v.run.layers[layer]
    fields = ["filter"] + [
        k for k in dict.fromkeys(k for r in rows for k in r) if k != "filter" and any(numeric(r.get(k)) for r in rows)
    ]
    tiles = []
    for r in rows:
        f, flags = r["filter"], [k for k in ("dead", "nan") if r.get(k)]
        tiles.append(
            {
                "filter": f,
                "flags": flags,
                "href": href(here, filter_page(v.prefix, layer, f)),
                "picture": picture(here, v.pictures[layer].get(f), alt_text(f"{layer} filter {f}", r)),
                "activation": short(r.get("activation")),
                "badges": [{"kind": k, "text": label(k)} for k in flags],
                "example": _top(v, here, layer, f),
            }
        )
    numbers = [f"{s.get('filters', len(rows))} filters", f"{s.get('dead', 0)} dead", f"{s.get('nan', 0)} NaN"]
    numbers += [f"mean activation {fmt(s['activation_mean'])}"] if numeric(s.get("activation_mean")) else []
    return render(
        "layer.html",
        page=page(here, layer, crumbs(v, (layer, None)), "layer"),
        layer=layer,
        numbers=" · ".join(numbers),
        compare=href(here, v.compare.format(layer=layer)) if v.compare else None,
        layers=pager(here, "Layers", *[(x, layer_page(v.prefix, x)) if x else None for x in (prev, nxt)]),
        options=[{"value": f, "text": label(f) if f != "filter" else "filter number"} for f in fields],
        dead=s.get("dead", 0),
        tiles=tiles,
        examples=bool(v.examples.get(layer)),
        data={"fields": fields, "rows": [[r.get(k) if numeric(r.get(k)) else None for k in fields] for r in rows]},
    )
