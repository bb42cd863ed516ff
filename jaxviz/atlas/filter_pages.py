"""One filter's page: its image large (with its transparency when it has a map, a toggle to see it without, and the
map itself), its activation curve, its dataset examples, every number of its record."""

from __future__ import annotations

import dataclasses

from jaxviz.atlas.assets import render
from jaxviz.atlas.curve import curve
from jaxviz.atlas.page_parts import (
    class_of,
    example,
    filter_name,
    filter_page,
    fmt,
    href,
    label,
    layer_page,
    page,
    pager,
    picture,
    scalar,
)
from jaxviz.atlas.tiles import Pictures, dead
from jaxviz.atlas.view import RunView, crumbs
from jaxviz.show.display import ALPHA_PERCENTILE

HIDDEN = ("layer", "filter", "history")  # record fields shown otherwise (the title, the curve)


def filter_html(v: RunView, here: str, layer: str, r: dict, prev: tuple | None, nxt: tuple | None) -> str:
    """The page of record `r`; `prev`/`nxt`: the (layer, record) before and after it in the whole run."""
    f, layers = r["filter"], list(v.run.records)
    name = filter_name(layer, f, r)  # with its class where the record names one: "predictions filter 0 (tench)"

    def step(item: tuple[str, dict] | None) -> tuple[str, str] | None:  # ←/→ walk on into the next layer
        if item is None:
            return None
        la, g = item[0], item[1]["filter"]
        return (f"filter {g}" if la == layer else f"{la} {g}"), filter_page(v.prefix, la, g)

    def same_in(at: int) -> tuple[str, str] | None:  # the same filter number in another layer, else its first
        if not 0 <= at < len(layers):
            return None
        there = f if f in v.numbers[layers[at]] else v.run.records[layers[at]][0]["filter"]
        return layers[at], filter_page(v.prefix, layers[at], there)

    at = layers.index(layer)
    pic = v.pictures[layer].get(f)
    what = f"Dead-filter mark: {name} never fired" if dead(r) else f"Synthetic image that maximally activates {name}"
    mapped = pic is not None and pic.opaque is not None and pic.alpha is not None
    return render(
        "filter.html",
        page=page(here, name, crumbs(v, (layer, layer_page(v.prefix, layer)), (f"filter {f}", None)), "filter"),
        layer=layer,
        filter=f,
        label=class_of(r),  # a logit's class (metrics.json's "label"), in the heading
        name=name,
        badges=[{"kind": k, "text": label(k)} for k in ("dead", "silent", "nan") if r.get(k)],
        filters=pager(here, "Filters", step(prev), step(nxt)),
        dead=dead(r),  # the template says why there is a cross, not an image
        silent=_silent(v, layer, r),
        hero=picture(here, pic, what + (", with its transparency" if mapped else ""), full=True, lazy=False),
        **(_mapped(here, pic, what, name) if mapped else {"opaque": None, "alpha_map": None}),
        size=f"{pic.size[0]}×{pic.size[1]}" if pic else None,
        png=href(here, pic.full) if pic else None,
        curve=curve(r.get("history") or [], r.get("nan_step")),
        numbers=[(label(k), fmt(x, 6)) for k, x in r.items() if k not in HIDDEN and scalar(x)],
        examples=_examples(v, here, layer, f, name),
        # The same filter in every point: its row of the layer's page across the sweep (not here: a filter page
        # that showed every point would have to be made again for every point added).
        across=href(here, v.compare_page(layer)) + f"#f{f}" if v.compare and layer in v.ascent else None,
        ascent=layer in v.ascent,
        layers=pager(here, "Layers", same_in(at - 1), same_in(at + 1), "layer-"),
        layer_href=href(here, layer_page(v.prefix, layer)),
    )


def _silent(v: RunView, layer: str, r: dict) -> str | None:
    """Why a filter its ascent never fired is not called dead (records.judged_by_its_image; real images firing it, in
    the atlas): what fires it. None for any other filter."""
    if not r.get("silent") or r.get("dead"):
        return None
    steps = max(len(r.get("history") or []) - 1, 0)
    why = []
    shown = r.get("display_activation")
    if isinstance(shown, (int, float)) and shown > 0:
        why.append(f"its image as displayed here does (display activation {fmt(shown)})")
    ex = v.examples.get(layer, {}).get(r["filter"])
    if ex is not None and ex.fires == ex.fires and ex.fires > 0:
        why.append(f"real images do (its dataset examples: it fires on {ex.fires:.0%} of them)")
    return (
        f"Its ascent never made this filter fire: its mean activation stayed at zero at every one of its {steps} "
        f"step(s), so the image is little more than its start. It is not dead: {' and '.join(why) or 'it fired'}. "
        f"More steps (ascent.steps) may wake it. "
    )


def _mapped(here: str, pic: Pictures, what: str, name: str) -> dict:
    """A filter with a transparency map: its image alone (`opaque`, behind the toggle: loaded when shown), the map
    itself (`alpha_map`) and the percentile it is capped at, as the `picture` macro shows them at the hero's size."""
    opaque = dataclasses.replace(pic, full=pic.opaque)
    alpha = dataclasses.replace(pic, full=pic.alpha)
    return {
        "opaque": picture(here, opaque, f"{what}, without its transparency", full=True, lazy=True),
        "alpha_map": picture(here, alpha, f"Transparency map of {name}: white where it looks", full=True, lazy=False),
        "percentile": f"{ALPHA_PERCENTILE:g}",
    }


def _examples(v: RunView, here: str, layer: str, f: int, name: str) -> dict | None:
    """The filter's dataset examples (None without any): its crops best first (`name`: the filter's, for their alt
    texts), its mean and how often it fires."""
    ex = v.examples.get(layer, {}).get(f)
    if ex is None:
        return None
    return {
        "items": [example(here, x, name) for x in ex.items],
        "mean": fmt(ex.mean),
        "fires": f"{ex.fires:.0%}" if ex.fires == ex.fires else "—",
        "root": v.dataset.get("root", ""),
        "images": v.dataset.get("images", 0),
    }
