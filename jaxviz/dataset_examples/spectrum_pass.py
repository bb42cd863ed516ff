"""A magnitude template from an image folder: one streamed pass with the dataset-examples loader, cached.

The folder is read as the dataset examples read it (jaxviz.dataset_examples.loader: every JPEG/PNG under it,
shorter side to size * 256/224, centre crop size x size), each image's spectrum added to a running mean
(jaxviz.ascent.spectrum.Accumulator), so memory is one template whatever the folder's size. The result is kept
in jaxviz's cache under a key of the folder's listing (names, sizes, modification times), the size and the
format's version: a second call on an unchanged folder reads it back instead of decoding every image again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from jaxviz.ascent import spectrum
from jaxviz.dataset_examples import loader
from jaxviz.errors import JaxvizError
from jaxviz.model.weight_search import jaxviz_cache_dir

DEFAULT_SIZE = 256  # px: photos of 300 px and more are shrunk, not enlarged (an enlarged one has no high frequencies)
BATCH = 16  # images decoded ahead and transformed together
# The cache's own version: bump it when what a pass computes changes (the loader's resize, the colour convention).
PASS_VERSION = 1


def print_warning(text: str) -> None:
    """One warning line on stderr (as the dataset examples say theirs)."""
    print(f"jaxviz: warning: {text}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """Where finished templates are kept: jaxviz's cache ($JAXVIZ_CACHE, $XDG_CACHE_HOME/jaxviz, ~/.cache/jaxviz)
    / "spectrum"."""
    return jaxviz_cache_dir() / "spectrum"


def cache_key(root: Path, files: list[str], size: int) -> str:
    """sha256 of the folder's real path, its files with their sizes and modification times (loader.stamps), the
    template size and the versions of the pass and the file format: any change makes a new key."""
    listing = list(zip(files, loader.stamps(root, files), strict=True))
    text = json.dumps([os.path.realpath(root), listing, size, PASS_VERSION, spectrum.VERSION])
    return hashlib.sha256(text.encode()).hexdigest()


def template_of(
    path: str | Path,
    size: int = DEFAULT_SIZE,
    progress: Callable[[int, int], Any] | None = None,
    warn: Callable[[str], None] | None = print_warning,
    cache: bool = True,
) -> spectrum.Magnitude:
    """The magnitude template of `path`: a folder -> the mean spectrum of its images at `size` x `size` px (one
    streamed pass, or the cached result of an earlier identical one); a file -> `spectrum.load` (`size` unused:
    a template is resized where it is used). `source` is the path as given.

    `progress(total files, 0)` makes a display, or None for none (jaxviz.show.progress.Progress.over_files; the
    dataset examples' Display protocol: measured, update, close); `warn` gets one line per unreadable file
    skipped (None: silent); `cache=False` neither reads nor writes the cache.
    Raises JaxvizError (one line): missing path, a folder with no JPEG/PNG or none readable, a bad template file.
    """
    if size < spectrum.MIN_SIZE:
        raise JaxvizError(f"the template size {size} is too small: give at least {spectrum.MIN_SIZE}")
    p = Path(path).expanduser()
    if not p.exists() and not p.is_symlink():
        raise JaxvizError(f"the image folder or template file {str(path)!r} does not exist")
    if not p.is_dir():
        return spectrum.load(path)
    files = loader.list_images(p, warn)
    cached = cache_dir() / f"{cache_key(p, files, size)}.npz"
    if cache and cached.is_file():
        try:
            m = spectrum.load(cached)
            return spectrum.Magnitude(m.array, m.fingerprint, str(path), m.images)
        except JaxvizError:
            pass  # a damaged cache entry is computed again and overwritten
    m = _pass(p, files, size, str(path), progress, warn)
    if cache:
        try:
            spectrum.save(m, cached)
        except JaxvizError as e:  # a read-only or full cache costs the next run time, never this one its result
            if warn is not None:
                warn(f"the template was not cached: {e}")
    return m


def is_cached(path: str | Path, size: int = DEFAULT_SIZE) -> bool:
    """Whether `template_of(path, size)` would read its result from the cache (False for a file, or a folder
    that changed since). Raises JaxvizError as `template_of` does for a folder that is not one."""
    p = Path(path).expanduser()
    if not p.is_dir():
        return False
    files = loader.list_images(p)
    return (cache_dir() / f"{cache_key(p, files, size)}.npz").is_file()


def _pass(
    root: Path,
    files: list[str],
    size: int,
    source: str,
    progress: Callable[[int, int], Any] | None,
    warn: Callable[[str], None] | None,
) -> spectrum.Magnitude:
    acc = spectrum.Accumulator(size)
    bar = progress(len(files), 0) if progress is not None else None
    done = 0
    try:
        # One decoding thread: the FFTs run in this thread between batches, and numpy's FFT is single-threaded,
        # so a second decoder keeps the other core busy (loader.decoders' reasoning for the CPU).
        for group in loader.batches(root, files, size, BATCH, workers=2):
            good = [g.pixels for g in group if g.pixels is not None]
            for g in group:
                if g.pixels is None and warn is not None:
                    warn(f"skipped {g.path}: {g.error}")
            if good:
                acc.add(np.stack(good))
            done += len(group)
            if bar is not None:
                bar.measured()
                bar.update("spectrum", done, force=done == len(files))
    finally:
        if bar is not None:
            bar.close()
    if acc.count == 0:
        raise JaxvizError(f"none of the {len(files)} JPEG/PNG files under {source!r} could be read")
    return acc.result(source)
