"""Pieces every atlas page shares: the page shell, links relative to the page, numbers, pictures, the curve."""

from __future__ import annotations

import json
import math
from html import escape
from typing import Any

from jaxviz.atlas.tiles import Pictures, dead

CSS, JS = "atlas.css", "atlas.js"  # at the atlas root


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def href(here: str, target: str) -> str:
    """`target` (a path from the atlas root) as a link from the page at `here` (also from the root).

    posixpath.relpath would do, but it asks the OS for the working directory twice a link: a third of the time
    of a whole-network atlas.
    """
    where, to = here.split("/")[:-1], target.split("/")
    common = 0
    while common < min(len(where), len(to) - 1) and where[common] == to[common]:
        common += 1
    return esc("/".join([".."] * (len(where) - common) + to[common:]))


def label(field: str) -> str:
    """A metrics field name for people: `activation_mean` -> `activation mean`, `nan` -> `NaN`."""
    return {"activation": "final activation", "nan": "NaN", "nan_step": "NaN step"}.get(field, field.replace("_", " "))


def fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else str(value)
    return str(value)


def short(value: Any) -> str:
    """A number for a tile's caption: 2624, 12.3, 0.0123 (no exponent below a million)."""
    if isinstance(value, float) and math.isfinite(value) and 100 <= abs(value) < 1e6:
        return f"{value:.0f}"
    return fmt(value, 3)


def scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def filter_page(prefix: str, layer: str, f: int) -> str:
    return f"{prefix}filters/{layer}/{f:04d}.html"


def layer_page(prefix: str, layer: str) -> str:
    return f"{prefix}layers/{layer}.html"


def data_script(element_id: str, data: Any) -> str:
    """JSON for the page's script, safe inside <script> (no `</` can end it early)."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def page(here: str, title: str, crumbs: list[tuple[str, str | None]], body: str, kind: str) -> str:
    """A whole page. `crumbs`: (text, target) from the atlas home down to this page (target None)."""
    trail = "".join(
        f'<li><a href="{href(here, target)}">{esc(text)}</a></li>'
        if target
        else f'<li aria-current="page">{esc(text)}</li>'
        for text, target in crumbs
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)} · jaxviz atlas</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{href(here, CSS)}">
<script src="{href(here, JS)}" defer></script>
</head>
<body class="page-{kind}">
<a class="skip" href="#main">Skip to content</a>
<header class="top"><nav aria-label="Breadcrumb"><span class="brand">jaxviz atlas</span>
<ol class="crumbs">{trail}</ol></nav></header>
<main id="main">
{body}
</main>
<footer><p>Made by jaxviz: each image is found by gradient ascent in input space, \
changed step by step until one filter of VGG16 fires as strongly as it can.</p></footer>
</body>
</html>
"""


def pager(here: str, name: str, prev: tuple[str, str] | None, nxt: tuple[str, str] | None, key: str = "") -> str:
    """← previous · next → links; `key` names what ←/→ (or [ and ]) follow on this page."""

    def link(item: tuple[str, str] | None, rel: str, text: str) -> str:
        if item is None:
            return f'<span class="off">{text.format("none")}</span>'
        return f'<a href="{href(here, item[1])}" data-key="{key}{rel}" rel="{rel}">{text.format(esc(item[0]))}</a>'

    if prev is None and nxt is None:
        return ""
    return f'<nav class="pager" aria-label="{esc(name)}">{link(prev, "prev", "← {}")}{link(nxt, "next", "{} →")}</nav>'


def alt_text(name: str, record: dict | None) -> str:
    """A filter picture's alt text: what it shows, and whether that is the mark of a filter that never fired."""
    return f"{name}: dead, it never fired" if record and dead(record) else name


def picture(here: str, pic: Pictures | None, alt: str, *, full: bool = False, lazy: bool = True) -> str:
    """An <img> of a filter's thumbnail (or full image), or a placeholder when no image is stored."""
    if pic is None:
        return f'<span class="ph" role="img" aria-label="{esc(alt)}: no image stored">no image</span>'
    src, (w, h) = (pic.full, pic.size) if full else (pic.thumb, pic.thumb_size)
    crisp = ' class="px"' if max(w, h) < (256 if full else 96) else ""  # an upscaled small tile: show its pixels
    load = ' loading="lazy"' if lazy else ""
    return f'<img src="{href(here, src)}" width="{w}" height="{h}" alt="{esc(alt)}"{crisp}{load} decoding="async">'


def curve(history: list, nan_step: int | None, name: str) -> str:
    """The activation over the ascent steps as an inline SVG line chart, with its values in a table below."""
    points = [(i, v) for i, v in enumerate(history) if v is not None]
    if not points:
        return '<p class="muted">No activation history was recorded.</p>'
    w, h, left, right, top, bottom = 560, 220, 60, 14, 14, 36
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span, last = (hi - lo) or abs(hi) or 1.0, max(len(history) - 1, 1)

    def x(i: float) -> float:
        return left + (w - left - right) * i / last

    def y(v: float) -> float:
        return top + (h - top - bottom) * (1 - (v - lo) / span)

    runs, run = [], []
    for i, v in enumerate(history):  # a None (non-finite) step breaks the line
        if v is None:
            runs, run = runs + [run] * bool(run), []
        else:
            run.append(f"{x(i):.1f},{y(v):.1f}")
    runs += [run] * bool(run)
    lines = "".join(f'<polyline points="{" ".join(r)}"/>' if len(r) > 1 else "" for r in runs)
    dots = (
        "".join(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5"/>' for i, v in points) if len(history) <= 60 else ""
    )
    ticks = "".join(
        f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{fmt(v)}</text>' for v in sorted({lo, hi})
    ) + "".join(
        f'<text x="{x(i):.1f}" y="{h - bottom + 18}" text-anchor="middle">{i}</text>' for i in sorted({0, last})
    )
    nan = ""
    if nan_step is not None and 0 <= nan_step <= last:
        nan = (
            f'<line class="nan" x1="{x(nan_step):.1f}" x2="{x(nan_step):.1f}" y1="{top}" y2="{h - bottom}"/>'
            f'<text class="nan" x="{x(nan_step):.1f}" y="{top + 10}" text-anchor="middle">non-finite</text>'
        )
    (i0, v0), (i1, v1) = points[0], points[-1]
    desc = f"From {fmt(v0)} at step {i0} to {fmt(v1)} at step {i1}; lowest {fmt(lo)}, highest {fmt(hi)}."
    rows = "".join(f"<tr><th scope='row'>{i}</th><td>{fmt(v, 6)}</td></tr>" for i, v in enumerate(history))
    return f"""<figure class="curve">
<svg viewBox="0 0 {w} {h}" role="img" aria-labelledby="curve-t curve-d">
<title id="curve-t">Mean activation of {esc(name)} at each ascent step</title><desc id="curve-d">{esc(desc)}</desc>
<g class="axes"><line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}"/>\
<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}"/></g>
<g class="ticks">{ticks}<text x="{(left + w - right) / 2:.0f}" y="{h - 4}" text-anchor="middle">ascent step</text></g>
{nan}<g class="line">{lines}{dots}</g>
</svg>
<figcaption>{esc(desc)}</figcaption>
</figure>
<details><summary>Values at every step</summary>
<table class="values"><thead><tr><th scope="col">step</th><th scope="col">activation</th></tr></thead>
<tbody>{rows}</tbody></table></details>"""
