"""write_atlas: a run's or a sweep's whole atlas, brought up to date incrementally."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from jaxviz.atlas import assets, curve, examples, filter_pages, html, tiles, view
from jaxviz.atlas.output import Output
from jaxviz.atlas.run_pages import index_html, layer_html
from jaxviz.atlas.site import Run, Sweep, read
from jaxviz.atlas.sweep_pages import HOME, caption, compare_html, compare_page, sweep_index
from jaxviz.atlas.tiles import Pictures, write_pictures
from jaxviz.atlas.view import Peer, RunView

FOLDER = "atlas"
STATE = ".atlas.json"  # what the last pass made (layer sources seen, tile digests): lets the next skip work


def write_atlas(directory: str | Path) -> Path:
    """Write DIR/atlas for the run or sweep directory DIR, or bring it up to date; returns DIR/atlas/index.html.

    Cheap to call again: pictures are encoded only for tiles that changed, a layer's filter pages are made
    only when what they show changed, and files are replaced only when their bytes change. Bad input (neither
    a run nor a sweep, a damaged metrics.json or index.json) raises a one-line JaxvizError before anything
    is written.
    """
    site = read(directory)
    out = Output(Path(directory) / FOLDER)
    known = _known(out.root / STATE)
    for name in assets.STATIC:
        out.put(name, assets.static(name))  # replaced only when the package's copy differs
    if isinstance(site, Run):
        was = known.get("") or {}
        pictures, seen = write_pictures(site.path, site.records, out, "", was.get("pictures") or {})
        v = RunView(site, "", pictures)
        found = _examples(v, out, was.get("examples"))
        state = {"": {"pictures": seen, "examples": found, "pages": _write_run(out, v, was.get("pages"))}}
    else:
        state = _write_sweep(out, site, known)
    out.put(STATE, json.dumps(state, separators=(",", ":")))
    out.prune()
    return out.root / HOME


def _known(path: Path) -> dict:
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or damaged: everything is checked again
    return known if isinstance(known, dict) else {}


@functools.cache
def _code() -> str:
    """The page-making code itself, its templates and static files: a new version of any makes every page again
    (tiles: which filters are dead)."""
    modules = (html, assets, curve, examples, filter_pages, tiles, view)
    code = [Path(m.__file__).read_bytes() for m in modules]
    return hashlib.sha1(b"".join(code + assets.sources())).hexdigest()


def _examples(v: RunView, out: Output, known: object) -> dict:
    """The run's dataset examples (crops made or kept) into `v`; returns what the next pass may skip."""
    known = known if isinstance(known, dict) else {}
    v.examples, found, v.dataset = examples.write_examples(v.run.path, list(v.run.records), out, v.prefix, known)
    return found


def _shown(p: Pictures) -> tuple:
    return p.full, p.thumb, p.size, p.thumb_size  # dataclasses.astuple deep-copies: 10 times slower


def _inputs(v: RunView, layers: list[str], i: int) -> str:
    """A digest of everything layer i's filter pages show: unchanged means they need not be made again."""
    records = v.run.records
    near = [(la, [r["filter"] for r in records[la]]) for la in layers[max(i - 1, 0) : i + 2] if la != layers[i]]
    layer = layers[i]
    shown = {
        "code": _code(),
        "where": [v.prefix, v.run.name, v.above, v.caption, v.compare, layer, near],
        "rows": records[layer],
        "pictures": {f: _shown(p) for f, p in v.pictures[layer].items()},
        "examples": [v.dataset, {f: repr(x) for f, x in v.examples.get(layer, {}).items()}],
        "peers": [
            [
                p.name,
                p.caption,
                p.prefix,
                p.records.get(layer),
                {f: _shown(x) for f, x in p.pictures.get(layer, {}).items()},
            ]
            for p in v.peers
        ],
    }
    return hashlib.sha1(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()


def _write_run(out: Output, v: RunView, known: dict | None) -> dict[str, str]:
    """Filter pages, then layer pages, then the index: a page never links to one not yet written.

    Returns what each layer's filter pages were made from; a layer whose inputs match `known` keeps its pages.
    """
    layers, made = list(v.run.records), {}
    walk = [(layer, r) for layer in layers for r in v.run.records[layer]]
    at = 0
    for i, layer in enumerate(layers):
        rows = v.run.records[layer]
        made[layer] = _inputs(v, layers, i)
        pages = [html.filter_page(v.prefix, layer, r["filter"]) for r in rows]
        if (known or {}).get(layer) == made[layer] and all(map(out.exists, pages)):
            for here in pages:
                out.keep(here)
        else:
            for k, (here, r) in enumerate(zip(pages, rows)):
                prev, nxt = walk[at + k - 1] if at + k else None, walk[at + k + 1] if at + k + 1 < len(walk) else None
                out.put(here, filter_pages.filter_html(v, here, layer, r, prev, nxt))
        at += len(rows)
    for i, layer in enumerate(layers):
        here = html.layer_page(v.prefix, layer)
        prev, nxt = layers[i - 1] if i else None, layers[i + 1] if i + 1 < len(layers) else None
        out.put(here, layer_html(v, here, layer, prev, nxt))
    out.put(f"{v.prefix}index.html", index_html(v))
    return made


def _write_sweep(out: Output, sw: Sweep, known: dict) -> dict:
    """Every point's pictures first (each point's filter pages show the others'), then the pages."""
    peers, runs, state = {}, {}, {}
    for p in sw.points:
        if p.run is None:
            continue
        prefix = f"points/{p.name}/"
        was = known.get(prefix) or {}
        pictures, seen = write_pictures(p.run.path, p.run.records, out, prefix, was.get("pictures") or {})
        state[prefix] = {"pictures": seen}
        records = {la: {r["filter"]: r for r in rows} for la, rows in p.run.records.items()}
        peers[p.name] = Peer(p.name, caption(p.values), prefix, records, pictures)
        runs[p.name] = p.run
    for name, peer in peers.items():
        v = RunView(runs[name], peer.prefix, peer.pictures, [(sw.name, HOME)], peer.caption)
        v.peers, v.compare = list(peers.values()), "compare/{layer}.html"
        state[peer.prefix]["examples"] = _examples(v, out, (known.get(peer.prefix) or {}).get("examples"))
        state[peer.prefix]["pages"] = _write_run(out, v, (known.get(peer.prefix) or {}).get("pages"))
    for layer in sw.layers():
        out.put(compare_page(layer), compare_html(sw, layer, [p for p in peers.values() if layer in p.records]))
    out.put(HOME, sweep_index(sw, peers))
    return state
