"""Each filter's pictures as files: a full-size PNG and a small WebP thumbnail, made from the run's stored tiles
(read through their formats' modules: run.chunk_store, else run.filter_pngs).

A filter with a transparency map (the method's alpha on) has both with its alpha (RGBA, as jaxviz.show.display
shows it), and two more PNGs for its page: the image alone (opaque) and the map itself in grey (white: where the
filter looks). Only what changed is encoded again: a layer whose chunk files (and dead filters) are unchanged is
not even read, and a tile whose pixels and map are unchanged is not re-encoded. A dead filter's pictures are
`display.dead_tile`, without a map.
"""

from __future__ import annotations

import functools
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from jaxviz.atlas.site_files import Output
from jaxviz.model.network import layer_file
from jaxviz.run import chunk_store, filter_pngs
from jaxviz.runtime.images import png_bytes
from jaxviz.show.display import dead_tile, shown_alpha, with_alpha

THUMB = 128  # px, the longer side: sharp at the layer page's ~110 CSS px on most screens, ~5 KB as WebP
THUMB_QUALITY = 75
ENCODING = 2  # bump when the encoding changes, so that every picture is made again (2: transparency maps)


@dataclass(frozen=True)
class Pictures:
    """One filter's picture files, relative to its run's atlas folder, and their sizes in pixels (w, h).

    With a transparency map, `full` and `thumb` show the image with it (RGBA), `opaque` is the image alone and
    `alpha` the map in grey (both PNGs of `size`); None without one."""

    full: str
    thumb: str
    size: tuple[int, int]
    thumb_size: tuple[int, int]
    opaque: str | None = None
    alpha: str | None = None


def dead(record: dict) -> bool:
    """Whether the atlas shows `record`'s filter as dead: it never fired (metrics.json's `dead`) and had no NaN.

    A NaN filter's tile is its last finite image, worth seeing; a dead one's is the starting noise, which reads
    as a texture, so its pictures are the dead mark instead.
    """
    return bool(record.get("dead")) and not record.get("nan")


def _signature(run_dir: Path, layer: str) -> list:
    """What the layer's sources look like on disk (names, sizes, times): unchanged means nothing to read."""
    found = []
    for p in chunk_store.chunk_files(run_dir, layer) + filter_pngs.files(run_dir, layer):
        st = p.stat()
        found.append([p.name, st.st_size, st.st_mtime_ns])
    return found


def read_shown(run_dir: Path, layer: str, wanted: set[int]) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    """The wanted filters' tiles ((H, W, 3) uint8) and raw transparency maps ((size, size) float32, None: none)
    from the run's chunks, else from its per-filter PNGs and their .npy maps.

    The chunks through chunk_store.read_shown, not its Store: the atlas must neither check settings nor move
    damaged chunks aside (a damaged or missing chunk just leaves its filters without a picture).
    """
    found = chunk_store.read_shown(run_dir, layer, wanted)
    for f in wanted - set(found):
        tile = filter_pngs.read(run_dir, layer, f)
        if tile is not None:
            found[f] = (tile, filter_pngs.read_alpha(run_dir, layer, f))
    return found


def read_tiles(run_dir: Path, layer: str, wanted: set[int]) -> dict[int, np.ndarray]:
    """The wanted filters' tiles ((H, W, 3) uint8), as `read_shown` finds them (without their maps)."""
    return {f: tile for f, (tile, _) in read_shown(run_dir, layer, wanted).items()}


def _digest(tile: np.ndarray, alpha: np.ndarray | None = None) -> str:
    h = hashlib.sha1(repr(tile.shape).encode() + tile.tobytes())
    if alpha is not None:
        h.update(b"alpha" + alpha.tobytes())
    return h.hexdigest()[:16]


def _grey(alpha01: np.ndarray) -> np.ndarray:
    """A display alpha (H, W) in [0, 1] as a grey RGB picture (white: opaque, where the filter looks)."""
    return np.repeat((alpha01 * 255).round().astype(np.uint8)[..., None], 3, axis=-1)


def _webp(tile: np.ndarray, lossless: bool) -> tuple[bytes, tuple[int, int]]:
    im = Image.fromarray(tile)
    if max(im.size) > THUMB:
        im.thumbnail((THUMB, THUMB), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="WEBP", quality=THUMB_QUALITY, lossless=lossless)
    return buf.getvalue(), im.size


def _thumb(tile: np.ndarray) -> tuple[bytes, tuple[int, int]]:
    return _webp(tile, lossless=False)


@functools.lru_cache(maxsize=16)
def _dead_thumb(shape: tuple[int, ...]) -> tuple[bytes, tuple[int, int]]:
    """Every dead tile of a shape is the same: encoded once, losslessly (lossy WebP smudges the flat mark)."""
    return _webp(dead_tile(shape), lossless=True)


def write_pictures(
    run_dir: Path, records: dict[str, list[dict]], out: Output, prefix: str, known: dict
) -> tuple[dict[str, dict[int, Pictures]], dict]:
    """Every recorded filter's pictures under out/prefix: by layer and filter, and the new `known`.

    `known` is what the last call returned (the caller keeps it between calls). A filter with no stored tile
    is absent from the result, and its pages show a placeholder.
    """
    result: dict[str, dict[int, Pictures]] = {}
    now: dict = {"encoding": ENCODING, "layers": {}}
    old_layers = (
        known.get("layers") if known.get("encoding") == ENCODING and isinstance(known.get("layers"), dict) else {}
    )
    for layer, rows in records.items():
        wanted, marked = {r["filter"] for r in rows}, {r["filter"] for r in rows if dead(r)}
        signature = _signature(run_dir, layer)
        old = old_layers.get(layer) if isinstance(old_layers.get(layer), dict) else {}
        seen = {  # filter -> [digest, w, h, thumb w, thumb h, has a map]
            int(f): v for f, v in dict(old.get("filters") or {}).items() if isinstance(v, list) and len(v) == 6
        }
        entries = {f: seen[f] for f in wanted if f in seen}
        fresh = (
            old.get("signature") == signature
            and wanted <= set(old.get("wanted", []))
            and old.get("dead") == sorted(marked)  # a filter newly found dead (or alive) changes its pictures
        )
        if not (fresh and all(map(out.exists, (p for f in entries for p in _paths(prefix, layer, f, entries[f][5]))))):
            entries = {}
            for f, (tile, raw) in read_shown(run_dir, layer, wanted).items():
                tile = dead_tile(tile.shape) if f in marked else tile  # the digest is of what is shown
                alpha = None if f in marked else shown_alpha(tile, raw)
                digest, paths = _digest(tile, alpha), _paths(prefix, layer, f, alpha is not None)
                if f in seen and seen[f][0] == digest and all(map(out.exists, paths)):
                    entries[f] = seen[f]
                    continue
                full, thumb = paths[:2]
                shown = tile if alpha is None else with_alpha(tile, alpha)
                data, thumb_size = _dead_thumb(tile.shape) if f in marked else _thumb(shown)
                out.put(full, png_bytes(shown))
                out.put(thumb, data)
                if alpha is not None:
                    out.put(paths[2], png_bytes(tile))
                    out.put(paths[3], png_bytes(_grey(alpha)))
                entries[f] = [digest, tile.shape[1], tile.shape[0], *thumb_size, alpha is not None]
        pictures = {}
        for f in sorted(entries):
            *_, w, h, tw, th, has_alpha = entries[f]
            paths = _paths(prefix, layer, f, has_alpha)
            for p in paths:
                out.keep(p)
            extra = dict(opaque=paths[2], alpha=paths[3]) if has_alpha else {}
            pictures[f] = Pictures(paths[0], paths[1], (w, h), (tw, th), **extra)
        result[layer] = pictures
        now["layers"][layer] = {
            "signature": signature,
            "wanted": sorted(wanted),
            "dead": sorted(marked),
            "filters": {str(f): entries[f] for f in sorted(entries)},
        }
    return result, now


def _paths(prefix: str, layer: str, f: int, alpha: bool) -> tuple[str, ...]:
    """A filter's picture files: the full PNG and the thumbnail, and with a map the image alone and the map."""
    name = layer_file(layer)  # a module path's "/" is no folder here either
    full, thumb = f"{prefix}img/{name}/{f:04d}.png", f"{prefix}thumb/{name}/{f:04d}.webp"
    if not alpha:
        return full, thumb
    return full, thumb, f"{prefix}img/{name}/{f:04d}.opaque.png", f"{prefix}img/{name}/{f:04d}.alpha.png"
