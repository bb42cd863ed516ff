"""What every atlas page's view model is made of: links relative to the page, numbers for people, pictures, pagers.

These return plain values (strings, dicts); the templates turn them into markup and Jinja2 escapes them.
"""

from __future__ import annotations

import math
from typing import Any

from jaxviz.atlas.assets import CSS, JS
from jaxviz.atlas.example_crops import Example
from jaxviz.atlas.tiles import Pictures, dead
from jaxviz.model.network import layer_file


def href(here: str, target: str) -> str:
    """`target` (a path from the atlas root) as a link from the page at `here` (also from the root).

    posixpath.relpath would do, but it asks the OS for the working directory twice a link: a third of the time
    of a whole-network atlas.
    """
    where, to = here.split("/")[:-1], target.split("/")
    common = 0
    while common < min(len(where), len(to) - 1) and where[common] == to[common]:
        common += 1
    return "/".join([".."] * (len(where) - common) + to[common:])


LABELS = {
    "activation": "final activation",
    "nan": "NaN",
    "nan_step": "NaN step",
    "top_score": "top example's activation",  # a filter with dataset examples alone (examples.rows_alone)
    "dataset_mean": "mean over the data set",
    "fires": "fires on (share of images)",
    "label": "class",  # a classifier's logit: the class it scores (Network.labels)
    "silent": "silent in its ascent",  # never fired while ascending, yet its image or real images fire it
    # The quality numbers measure the image as shown (output.display's stretch included), not the ascent's own image.
    "display_activation": "activation of the image as displayed",
}


def label(field: str) -> str:
    """A metrics field name for people: `activation_mean` -> `activation mean`, `nan` -> `NaN`."""
    return LABELS.get(field, field.replace("_", " "))


def fmt(value: Any, digits: int = 4) -> str:
    """A value of a record for people: `digits` significant digits, yes/no, — for none."""
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
    """Whether a record's value fits in a table cell (lists such as the history are shown otherwise)."""
    return value is None or isinstance(value, (str, int, float, bool))


def numeric(value: Any) -> bool:
    """A number to sort by (not a bool, though Python counts it as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def filter_page(prefix: str, layer: str, f: int) -> str:
    """A filter's page, from the atlas root. Every path, link and id of the atlas names a layer by its file name
    (network.layer_file: a nested model's "inner/c1" is inner__c1, no folder); its pages show its own name."""
    return f"{prefix}filters/{layer_file(layer)}/{f:04d}.html"


def layer_page(prefix: str, layer: str) -> str:
    """A layer's page, from the atlas root."""
    return f"{prefix}layers/{layer_file(layer)}.html"


def layer_anchor(layer: str) -> str:
    """A layer's HTML id (the index's entry, a row of the numbers' tables after their prefix): its file name, which
    needs no escaping in a URL's fragment."""
    return layer_file(layer)


def page(here: str, title: str, crumbs: list[tuple[str, str | None]], kind: str) -> dict:
    """What base.html shows around a page's own content. `crumbs`: (text, target) from the atlas home down to
    this page (target None)."""
    trail = [{"text": text, "href": href(here, target) if target else None} for text, target in crumbs]
    return {"title": title, "kind": kind, "css": href(here, CSS), "js": href(here, JS), "crumbs": trail}


def pager(
    here: str, name: str, prev: tuple[str, str] | None, nxt: tuple[str, str] | None, key: str = ""
) -> dict | None:
    """← previous · next → links, each (text, target) or None; `key` names what ←/→ (or [ and ]) follow here."""
    if prev is None and nxt is None:
        return None
    links = [{"text": item[0], "href": href(here, item[1])} if item else None for item in (prev, nxt)]
    return {"name": name, "key": key, "prev": links[0], "next": links[1]}


def class_of(record: dict | None) -> str:
    """The name a record gives its filter (metrics.json's "label": a class's, for a classifier's logits), or ""."""
    name = record.get("label") if record else None
    return name if isinstance(name, str) else ""


def filter_name(layer: str, f: int, record: dict | None = None) -> str:
    """How a page names a filter: "block3_conv1 filter 7", or with its class "predictions filter 0 (tench)"."""
    name = class_of(record)
    return f"{layer} filter {f}" + (f" ({name})" if name else "")


def alt_text(name: str, record: dict | None) -> str:
    """A filter picture's alt text: what it shows, and whether that is the mark of a filter that never fired."""
    return f"{name}: dead, it never fired" if record and dead(record) else name


def picture(here: str, pic: Pictures | None, alt: str, *, full: bool = False, lazy: bool = True) -> dict:
    """A filter's thumbnail (or full image) for the `picture` macro; `src` None: no image is stored."""
    if pic is None:
        return {"src": None, "alt": alt}
    src, (w, h) = (pic.full, pic.size) if full else (pic.thumb, pic.thumb_size)
    crisp = max(w, h) < (256 if full else 96)  # an upscaled small tile: show its pixels
    return {"src": href(here, src), "width": w, "height": h, "alt": alt, "crisp": crisp, "lazy": lazy}


def example(here: str, x: Example, name: str) -> dict:
    """One dataset example for the `example` macro: its crop (src None: the image file is gone), its score and
    links to the whole preprocessed image and to the original file."""
    alt = f"{name}: example {x.rank}, {x.image}"
    w, h = x.crop_size
    return {
        "rank": x.rank,
        "score": short(x.score),
        "image": x.image,
        "src": href(here, x.crop) if x.crop else None,
        "width": w,
        "height": h,
        "alt": alt if x.crop else f"{alt} (the image file is gone)",
        "crisp": max(w, h) < 48,
        "lazy": True,
        "whole": href(here, x.whole) if x.whole else None,
        "original": x.original,
    }
