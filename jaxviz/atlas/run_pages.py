"""One run's overview pages: its model (index: every layer of the network with its filters as thumbnails), its
numbers (one table a run, one click from the index) and each layer (every filter as a tile)."""

from __future__ import annotations

from jaxviz.atlas.assets import render
from jaxviz.atlas.page_parts import (
    alt_text,
    class_of,
    example,
    filter_name,
    filter_page,
    fmt,
    href,
    label,
    layer_anchor,
    layer_page,
    numeric,
    page,
    pager,
    picture,
    short,
)
from jaxviz.atlas.tiles import dead
from jaxviz.atlas.view import RunView, crumbs
from jaxviz.model.architecture import VGG16_ARCHITECTURE, VGG19_ARCHITECTURE

# The VGGs' whole layer lists are facts (no JAX, no Keras): their index shows every layer, the run's and the others.
_VGGS = {a.name: a for a in (VGG16_ARCHITECTURE, VGG19_ARCHITECTURE)}


def model_label(model: str) -> str:
    """How the pages name a model: "VGG16", "VGG19", else its registry name ("resnet50", "keras")."""
    return model.upper() if model in _VGGS else model


# Filters each layer shows on the index: its first STRIP by number, so that a 512-filter layer costs no more than
# a 64-filter one and the index reads the same in every run (the layer page has them all, sortable).
STRIP = 32
FRONT = ("filters", "dead", "nan", "activation_mean")  # the numbers on the index's line of each layer


def numbers_page(prefix: str) -> str:
    """A run's table of every layer's numbers, from the atlas root."""
    return f"{prefix}numbers.html"


def _developer(field: str) -> bool:
    """Numbers about how the run went rather than what it found (compile time, cache misses, estimates)."""
    return field.startswith("compile_") or "estimate" in field


def _lede(v: RunView) -> str:
    s, n = v.run.settings, sum(map(len, v.run.records.values()))
    label = model_label(v.run.model)
    parts = [f"{label}, {len(v.run.records)} layer{'s' * (len(v.run.records) != 1)}, {n} filters"]
    if v.ascent:
        parts += [f"{s[k]}{unit}" for k, unit in (("size", " px"), ("steps", " steps")) if k in s]
    if v.dataset:
        parts.append("dataset examples" if v.ascent else "dataset examples only (no optimised images)")
    return " · ".join(parts)


def _partial(summary: dict) -> str:
    """A mark for a layer an interruption left unfinished (metrics.json's "partial"); "" for a finished one."""
    if not summary.get("partial"):
        return ""
    done, planned = summary.get("filters"), summary.get("planned")
    if done == planned:  # every filter ascended; the grid, numbers or pages after it were cut short
        return "interrupted after its ascent: rerun to finish its numbers"
    return f"partial: {done} of {planned} filters, rerun to resume"


def _top(v: RunView, here: str, layer: str, r: dict) -> dict | None:
    """The best dataset example of record `r`'s filter (None without examples)."""
    ex = v.examples.get(layer, {}).get(r["filter"])
    return example(here, ex.items[0], filter_name(layer, r["filter"], r)) if ex and ex.items else None


def _face(v: RunView, here: str, layer: str, r: dict) -> tuple[dict, dict | None]:
    """What stands for a filter in a grid: its optimised image and its best example under it; with examples
    alone, that example (a placeholder when it has none)."""
    f = r["filter"]
    top = _top(v, here, layer, r)
    if layer in v.ascent:
        return picture(here, v.pictures[layer].get(f), alt_text(filter_name(layer, f, r), r)), top
    return top or picture(here, None, f"{filter_name(layer, f, r)}: no dataset example"), None


def _meta(v: RunView, layer: str) -> str:
    """The index's line of numbers for a layer: its count, dead and NaN filters, mean final activation."""
    s, rows = v.run.layers[layer], v.run.records[layer]
    parts = [f"{s.get('filters', len(rows))} filters"]
    if layer not in v.ascent:
        return " · ".join([*parts, "dataset examples only"])
    parts += [f"{s[k]} {label(k)}" for k in ("dead", "nan") if numeric(s.get(k)) and s[k]]
    parts += [f"mean activation {fmt(s['activation_mean'])}"] if numeric(s.get("activation_mean")) else []
    return " · ".join(parts)


def _layer(v: RunView, here: str, layer: str) -> dict:
    rows = v.run.records[layer]
    cells = []
    for r in rows[:STRIP]:
        face, below = _face(v, here, layer, r)
        gone = layer in v.ascent and dead(r)
        value = "dead" if gone else short(r.get("activation" if layer in v.ascent else "top_score"))
        cells.append(
            {
                "href": href(here, filter_page(v.prefix, layer, r["filter"])),
                "title": " · ".join(x for x in (f"filter {r['filter']}", class_of(r), value) if x),
                "picture": face,
                "example": below,
                "dead": gone,
            }
        )
    return {
        "name": layer,
        "present": True,
        "href": href(here, layer_page(v.prefix, layer)),
        "numbers": href(here, numbers_page(v.prefix)) + f"#n-{layer_anchor(layer)}",
        "anchor": layer_anchor(layer),
        "meta": _meta(v, layer),
        "partial": _partial(v.run.layers[layer]),
        "cells": cells,
        "count": len(rows),
        "more": len(rows) > STRIP,
        # images over their best crops, images alone, or crops alone (their own shapes, so shown whole)
        "kind": "crops" if layer not in v.ascent else "paired" if v.examples.get(layer) else "images",
    }


def _blocks(v: RunView, here: str) -> list[dict]:
    """A VGG's every conv layer in network order, by block: the run's with their filters, the others named; another
    model's layers that the run holds, in its order (its whole list is the model's, known only to Keras)."""
    arch = _VGGS.get(v.run.model)
    if arch is None:
        return [{"name": model_label(v.run.model), "layers": [_layer(v, here, la) for la in v.run.records]}]
    blocks: dict[str, list[dict]] = {}
    widths = arch.widths
    for layer in arch.layers:
        entry = (
            _layer(v, here, layer)
            if layer in v.run.records
            else {"name": layer, "present": False, "width": widths[layer]}
        )
        blocks.setdefault(f"block {layer[len('block')]}", []).append(entry)
    others = [la for la in v.run.records if la not in widths]  # not the model's: shown after it
    if others:
        blocks["other layers"] = [_layer(v, here, la) for la in others]
    return [{"name": name, "layers": layers} for name, layers in blocks.items()]


def index_html(v: RunView) -> str:
    """The run's home: the network, each of its layers with its first filters as thumbnails, then the config."""
    here = f"{v.prefix}index.html"
    return render(
        "index.html",
        page=page(here, v.run.name, crumbs(v), "index"),
        name=v.run.name,
        model=model_label(v.run.model),
        lede=_lede(v),
        point=v.caption,
        strip=STRIP,
        blocks=_blocks(v, here) if v.run.records else [],
        numbers=href(here, numbers_page(v.prefix)),
        ascent=bool(v.ascent),
        config=v.run.config,
        dataset=v.dataset or None,
    )


def _table(v: RunView, here: str, fields: list[str]) -> dict:
    return {
        "fields": [label(f) for f in fields],
        "rows": [
            {
                "name": layer,
                "anchor": layer_anchor(layer),
                "href": href(here, layer_page(v.prefix, layer)),
                "partial": _partial(s),
                "cells": [{"label": label(f), "text": fmt(s.get(f))} for f in fields],
            }
            for layer, s in v.run.layers.items()
        ],
    }


def numbers_html(v: RunView) -> str:
    """Every layer's numbers (metrics.json's summaries): what it found, then how the run went (for developers)."""
    here, summaries = numbers_page(v.prefix), v.run.layers
    fields = list(dict.fromkeys(k for s in summaries.values() for k, x in s.items() if numeric(x) and k != "planned"))
    found = [f for f in fields if not _developer(f)]
    developer = [f for f in fields if _developer(f)]
    return render(
        "numbers.html",
        page=page(here, f"{v.run.name}: numbers", crumbs(v, ("numbers", None)), "numbers"),
        name=v.run.name,
        point=v.caption,
        found=_table(v, here, found) if summaries else None,
        developer=_table(v, here, developer) if developer else None,
        index=href(here, f"{v.prefix}index.html"),
    )


def layer_html(v: RunView, here: str, layer: str, prev: str | None, nxt: str | None) -> str:
    """Every filter of `layer` as a tile; the script sorts them by any numeric field and hides dead ones."""
    rows, s, ascent = v.run.records[layer], v.run.layers[layer], layer in v.ascent
    fields = ["filter"] + [
        k for k in dict.fromkeys(k for r in rows for k in r) if k != "filter" and any(numeric(r.get(k)) for r in rows)
    ]
    tiles = []
    for r in rows:
        f, flags = r["filter"], [k for k in ("dead", "nan") if r.get(k)]
        face, below = _face(v, here, layer, r)
        tiles.append(
            {
                "filter": f,
                "flags": flags,
                "href": href(here, filter_page(v.prefix, layer, f)),
                "picture": face,
                "activation": short(r.get("activation" if ascent else "top_score")),
                "label": class_of(r),
                "badges": [{"kind": k, "text": label(k)} for k in flags],
                "example": below,
            }
        )
    numbers = [f"{s.get('filters', len(rows))} filters"]
    if ascent:
        numbers += [f"{s.get('dead', 0)} dead", f"{s.get('nan', 0)} NaN"]
        numbers += [f"mean activation {fmt(s['activation_mean'])}"] if numeric(s.get("activation_mean")) else []
    else:
        numbers.append("dataset examples only")
    return render(
        "layer.html",
        page=page(here, layer, crumbs(v, (layer, None)), "layer"),
        layer=layer,
        numbers=" · ".join(numbers),
        compare=href(here, v.compare_page(layer)) if v.compare and ascent else None,
        layers=pager(here, "Layers", *[(x, layer_page(v.prefix, x)) if x else None for x in (prev, nxt)]),
        options=[{"value": f, "text": label(f) if f != "filter" else "filter number"} for f in fields],
        dead=s.get("dead", 0),
        ascent=ascent,
        tiles=tiles,
        examples=bool(v.examples.get(layer)),
        labelled=any(t["label"] for t in tiles),
        data={"fields": fields, "rows": [[r.get(k) if numeric(r.get(k)) else None for k in fields] for r in rows]},
    )
