"""One filter's page: its image large, its activation curve, every number of its record, and its sweep peers."""

from __future__ import annotations

from jaxviz.atlas.html import (
    alt_text,
    curve,
    esc,
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
from jaxviz.atlas.tiles import dead
from jaxviz.atlas.view import RunView, crumbs

HIDDEN = ("layer", "filter", "history")  # record fields shown otherwise (the title, the curve)
DEAD_NOTE = (
    "This filter never fired: its activation never rose above zero, so the ascent had nothing to follow "
    "and its image is only the starting noise. The cross marks it as dead (the run's state keeps the noise)."
)


def filter_html(v: RunView, here: str, layer: str, r: dict, prev: tuple | None, nxt: tuple | None) -> str:
    """The page of record `r`; `prev`/`nxt`: the (layer, record) before and after it in the whole run."""
    f, layers = r["filter"], list(v.run.records)
    name = f"{layer} filter {f}"

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
    hero = picture(here, pic, what, full=True, lazy=False)
    about = (
        f'{pic.size[0]}×{pic.size[1]} px · <a href="{href(here, pic.full)}">PNG</a>'
        if pic
        else "No image is stored for this filter."
    )
    if dead(r):  # say why there is a cross where an image should be
        about = f"{DEAD_NOTE} {about}"
    numbers = "".join(
        f'<tr><th scope="row">{esc(label(k))}</th><td>{esc(fmt(x, 6))}</td></tr>'
        for k, x in r.items()
        if k not in HIDDEN and scalar(x)
    )
    flags = "".join(f' <span class="badge {k}">{label(k)}</span>' for k in ("dead", "nan") if r.get(k))
    body = f"""<h1><span class="pre">{esc(layer)}</span> filter {f}{flags}</h1>
{pager(here, "Filters", step(prev), step(nxt))}
<div class="filter">
<figure class="hero{" dead" * dead(r)}">{hero}<figcaption>{about}</figcaption></figure>
<div class="facts">
<section aria-labelledby="curve-h"><h2 id="curve-h">Activation</h2>
{curve(r.get("history") or [], r.get("nan_step"), name)}</section>
<section aria-labelledby="numbers-h"><h2 id="numbers-h">Numbers</h2>
<table class="numbers"><tbody>{numbers}</tbody></table></section>
</div>
</div>
{_peers(v, here, layer, f)}
{pager(here, "Layers", same_in(at - 1), same_in(at + 1), "layer-")}
<p class="keys">Keys: <kbd>←</kbd> <kbd>→</kbd> previous and next filter ·
<kbd>[</kbd> <kbd>]</kbd> previous and next layer ·
<a href="{href(here, layer_page(v.prefix, layer))}">every filter of {esc(layer)}</a></p>"""
    return page(here, name, crumbs(v, (layer, layer_page(v.prefix, layer)), (f"filter {f}", None)), body, "filter")


def _peers(v: RunView, here: str, layer: str, f: int) -> str:
    """The same filter in every point of the sweep, side by side."""
    if not v.peers:
        return ""
    items = []
    for p in v.peers:
        r = p.records.get(layer, {}).get(f)
        img = picture(here, p.pictures.get(layer, {}).get(f), alt_text(f"{layer} filter {f} in point {p.name}", r))
        gone = bool(r) and dead(r)
        final = "dead" if gone else fmt(r.get("activation")) if r else "not run"
        inner = f'{img}<span class="cap">{esc(p.caption)}<br><b>{final}</b></span>'
        classes = " ".join(["here"] * (p.prefix == v.prefix) + ["dead"] * gone)
        cls = f' class="{classes}"' if classes else ""
        if p.prefix == v.prefix:
            items.append(f'<li{cls} aria-current="page">{inner}<span class="sr"> (this point)</span></li>')
        elif r:
            items.append(f'<li{cls}><a href="{href(here, filter_page(p.prefix, layer, f))}">{inner}</a></li>')
        else:
            items.append(f"<li>{inner}</li>")
    compare = (
        f' · <a href="{href(here, v.compare.format(layer=layer))}">every filter across the sweep</a>'
        if v.compare
        else ""
    )
    return f"""<section aria-labelledby="peers-h"><h2 id="peers-h">In every point of the sweep</h2>
<p class="muted">The same filter with each point's settings; final activation in bold{compare}.</p>
<ul class="peers">{"".join(items)}</ul></section>"""
