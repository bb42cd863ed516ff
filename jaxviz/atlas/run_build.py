"""One run's part of an atlas (a run's own atlas, or one point of a sweep's): its pictures, its dataset examples
and its pages, made again only where what they show changed."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from importlib import resources

from jaxviz.ascent.records import judged_by_its_image
from jaxviz.atlas import assets, filter_pages
from jaxviz.atlas import example_crops as examples
from jaxviz.atlas.page_parts import filter_page, layer_page
from jaxviz.atlas.run_pages import index_html, layer_html, numbers_html, numbers_page
from jaxviz.atlas.site import Run, layer_order
from jaxviz.atlas.site_files import Output
from jaxviz.atlas.tiles import Pictures, write_pictures
from jaxviz.atlas.view import RunView
from jaxviz.dataset_examples.examples_store import stored_layers


@functools.cache
def code() -> str:
    """The atlas's own code, its templates and static files: a new version of any makes every page again (an
    unchanged sweep point's pages are otherwise never looked at again)."""
    package = resources.files(assets.PACKAGE)
    modules = sorted((f for f in package.iterdir() if f.name.endswith(".py")), key=lambda f: f.name)
    return hashlib.sha1(b"".join([f.name.encode() + f.read_bytes() for f in modules] + assets.sources())).hexdigest()


def write_run(out: Output, run: Run, prefix: str, known: object, **where: object) -> tuple[RunView, dict]:
    """`run`'s pictures, examples and pages under out/prefix; `where`: RunView's place in a sweep (above,
    caption, compare). Returns what the pages were made from and what the next call may skip (`known` is
    what the last call returned)."""
    known = known if isinstance(known, dict) else {}
    ascent = set(run.records)
    # Layers with dataset examples but no ascent (a run of jaxviz-examples alone) show their examples instead. Each in
    # the model's order: metrics.json's and images.json's (layer_order keeps both), never sorted by name.
    layers = layer_order([list(run.records), stored_layers(run.path)])
    shown, found, dataset = examples.write_examples(run.path, layers, out, prefix, _dict(known.get("examples")))
    run = _silent(run, shown)  # before the pictures: a filter that something fires gets no dead mark
    pictures, seen = write_pictures(run.path, run.records, out, prefix, _dict(known.get("pictures")))
    alone = examples.rows_alone(shown, [la for la in layers if la not in ascent and shown.get(la)])
    if alone:
        records = {la: run.records.get(la) or alone[la] for la in layers if la in ascent or la in alone}
        summaries = {la: run.layers.get(la) or {"filters": len(records[la])} for la in records}
        run = dataclasses.replace(run, records=records, layers=summaries)
        pictures = {la: pictures.get(la, {}) for la in records}
    v = RunView(run, prefix, pictures, examples=shown, dataset=dataset, ascent=ascent, **where)
    return v, {"pictures": seen, "examples": found, "pages": _write_pages(out, v, _dict(known.get("pages")))}


def _silent(run: Run, shown: dict) -> Run:
    """`run` with each filter its ascent never fired (metrics.json's `dead`, the grid's mark: records.is_dead) but
    that something else fires called "silent", not dead: its image as displayed (records.judged_by_its_image: the
    quality numbers' display activation) or real images (its dataset examples fire on some image). "Never fired"
    would be false there, and a dead mark would hide its image. The layers' dead counts follow."""
    records, layers = dict(run.records), dict(run.layers)
    for layer, rows in run.records.items():
        fired = {f for f, ex in shown.get(layer, {}).items() if ex.fires == ex.fires and ex.fires > 0}
        judged = [judged_by_its_image(r, r["filter"] in fired) for r in rows]
        if all(a is b for a, b in zip(judged, rows)):
            continue
        records[layer] = judged
        if isinstance(layers.get(layer), dict) and "dead" in layers[layer]:
            layers[layer] = {**layers[layer], "dead": sum(bool(r.get("dead")) for r in judged)}
    return dataclasses.replace(run, records=records, layers=layers)


def _dict(x: object) -> dict:
    return x if isinstance(x, dict) else {}


def _shown(p: Pictures) -> tuple:
    return p.full, p.thumb, p.size, p.thumb_size, p.opaque, p.alpha  # dataclasses.astuple deep-copies: 10x slower


def _inputs(v: RunView, layers: list[str], i: int) -> str:
    """A digest of everything layer i's filter pages show: unchanged means they need not be made again."""
    records = v.run.records
    near = [(la, [r["filter"] for r in records[la]]) for la in layers[max(i - 1, 0) : i + 2] if la != layers[i]]
    layer = layers[i]
    shown = {
        "code": code(),
        "where": [v.prefix, v.run.name, v.above, v.caption, v.compare, layer, layer in v.ascent, near],
        "rows": records[layer],
        "pictures": {f: _shown(p) for f, p in v.pictures[layer].items()},
        "examples": [v.dataset, {f: repr(x) for f, x in v.examples.get(layer, {}).items()}],
    }
    return hashlib.sha1(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def _write_pages(out: Output, v: RunView, known: dict) -> dict[str, str]:
    """Filter pages, then layer pages, then the numbers and the index: a page never links to one not yet written.

    Returns what each layer's filter pages were made from; a layer whose inputs match `known` keeps its pages.
    """
    layers, made = list(v.run.records), {}
    walk = [(layer, r) for layer in layers for r in v.run.records[layer]]
    at = 0
    for i, layer in enumerate(layers):
        rows = v.run.records[layer]
        made[layer] = _inputs(v, layers, i)
        pages = [filter_page(v.prefix, layer, r["filter"]) for r in rows]
        if known.get(layer) == made[layer] and all(map(out.exists, pages)):
            for here in pages:
                out.keep(here)
        else:
            for k, (here, r) in enumerate(zip(pages, rows)):
                prev, nxt = walk[at + k - 1] if at + k else None, walk[at + k + 1] if at + k + 1 < len(walk) else None
                out.put(here, filter_pages.filter_html(v, here, layer, r, prev, nxt))
        at += len(rows)
    for i, layer in enumerate(layers):
        here = layer_page(v.prefix, layer)
        prev, nxt = layers[i - 1] if i else None, layers[i + 1] if i + 1 < len(layers) else None
        out.put(here, layer_html(v, here, layer, prev, nxt))
    out.put(numbers_page(v.prefix), numbers_html(v))
    out.put(f"{v.prefix}index.html", index_html(v))
    return made
