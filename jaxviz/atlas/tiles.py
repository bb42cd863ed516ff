"""Each filter's pictures as files: a full-size PNG and a small WebP thumbnail, made from the run's stored tiles
(read through their formats' modules: run.chunk_store, else run.filter_pngs).

Only what changed is encoded again: a layer whose chunk files (and dead filters) are unchanged is not even read,
and a tile whose pixels are unchanged is not re-encoded. A dead filter's pictures are `display.dead_tile`.
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
from jaxviz.run import chunk_store, filter_pngs
from jaxviz.runtime.images import png_bytes
from jaxviz.show.display import dead_tile

THUMB = 128  # px, the longer side: sharp at the layer page's ~110 CSS px on most screens, ~5 KB as WebP
THUMB_QUALITY = 75
ENCODING = 1  # bump when the encoding changes, so that every picture is made again


@dataclass(frozen=True)
class Pictures:
    """One filter's picture files, relative to its run's atlas folder, and their sizes in pixels (w, h)."""

    full: str
    thumb: str
    size: tuple[int, int]
    thumb_size: tuple[int, int]


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


def read_tiles(run_dir: Path, layer: str, wanted: set[int]) -> dict[int, np.ndarray]:
    """The wanted filters' tiles ((H, W, 3) uint8) from the run's chunks, else from its per-filter PNGs.

    The chunks through chunk_store.read_tiles, not its Store: the atlas must neither check settings nor move
    damaged chunks aside (a damaged or missing chunk just leaves its filters without a picture).
    """
    tiles = chunk_store.read_tiles(run_dir, layer, wanted)
    for f in wanted - set(tiles):
        tile = filter_pngs.read(run_dir, layer, f)
        if tile is not None:
            tiles[f] = tile
    return tiles


def _digest(tile: np.ndarray) -> str:
    return hashlib.sha1(repr(tile.shape).encode() + tile.tobytes()).hexdigest()[:16]


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
        seen = {  # filter -> [digest, w, h, thumb w, thumb h]
            int(f): v for f, v in dict(old.get("filters") or {}).items() if isinstance(v, list) and len(v) == 5
        }
        entries = {f: seen[f] for f in wanted if f in seen}
        fresh = (
            old.get("signature") == signature
            and wanted <= set(old.get("wanted", []))
            and old.get("dead") == sorted(marked)  # a filter newly found dead (or alive) changes its pictures
        )
        if not (fresh and all(map(out.exists, (p for f in entries for p in _paths(prefix, layer, f))))):
            entries = {}
            for f, tile in read_tiles(run_dir, layer, wanted).items():
                tile = dead_tile(tile.shape) if f in marked else tile  # the digest is of what is shown
                digest, (full, thumb) = _digest(tile), _paths(prefix, layer, f)
                if f in seen and seen[f][0] == digest and out.exists(full) and out.exists(thumb):
                    entries[f] = seen[f]
                    continue
                data, thumb_size = _dead_thumb(tile.shape) if f in marked else _thumb(tile)
                out.put(full, png_bytes(tile))
                out.put(thumb, data)
                entries[f] = [digest, tile.shape[1], tile.shape[0], *thumb_size]
        pictures = {}
        for f in sorted(entries):
            full, thumb = _paths(prefix, layer, f)
            out.keep(full)
            out.keep(thumb)
            _, w, h, tw, th = entries[f]
            pictures[f] = Pictures(full, thumb, (w, h), (tw, th))
        result[layer] = pictures
        now["layers"][layer] = {
            "signature": signature,
            "wanted": sorted(wanted),
            "dead": sorted(marked),
            "filters": {str(f): entries[f] for f in sorted(entries)},
        }
    return result, now


def _paths(prefix: str, layer: str, f: int) -> tuple[str, str]:
    return f"{prefix}img/{layer}/{f:04d}.png", f"{prefix}thumb/{layer}/{f:04d}.webp"
