"""RUN/state/: a run's finished chunks (for resuming) and settings.json, what made them. Written and read here only:
the run resumes through `Store`, the atlas reads tiles through `read_tiles`. No JAX (the atlas imports this).

A chunk, RUN/state/<file>/<first>-<last>.npz (<file>: the layer's file name, jaxviz.model.network.layer_file; filter
numbers zero-padded to 4 digits): filters (n,) int, tiles (n, H, W, 3) uint8 (deprocessed, as displayed), history (n,
S + 1) float32 (the mean activation at the start and after each of the S steps of all stages), nan_step (n,) int (-1:
every update was finite), and when the method kept transparency maps, alpha (n, size, size) float32 (each filter's raw
map, jaxviz.ascent's AscentResult.alpha: accumulated coverage-corrected |d objective / d image|, not normalised; shown
through jaxviz.show.display.alpha_for_display). A chunk without alpha (every chunk written before it existed) reads as
filters without one.
settings.json: `settings()` plus "environment" (jaxviz.runtime.numerics.environment()). Beside the layer folders,
<file>.quality.npz is the quality numbers' cache, run/measure.py's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxviz.ascent.spec import ACCELERATOR_CHOICES, CPU_CHOICES
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.model.network import layer_file
from jaxviz.runtime.files import atomic_write, read_npz, reason, write_json
from jaxviz.runtime.numerics import differences
from jaxviz.runtime.paths import make_dir, output_dir

FORMAT = 1
STATE = "state"
CHUNK_KEYS = ("filters", "tiles", "history", "nan_step")  # the arrays every chunk file has
ALPHA = "alpha"  # the array a chunk has when its method kept transparency maps
# Settings that change the images; anything else (layers, filters, chunking, grid layout) may change on resume.
RESULT_KEYS = (
    "size",
    "steps",
    "step",
    "normalize",
    "init_mean",
    "init_noise",
    "seed",
    "precision",
    "optimizer",
    "schedule",
    "transforms",
    "stages",
    "upscale",
    # How the step runs: every choice gives the same images within float rounding, which after 20 steps can be 7
    # grey levels (block3_conv1 at 32 px, filter 1 of 0-3: conv "patches" against "xla" on CPU). A directory from
    # before they were recorded used the default, "auto" (`_defaults`).
    "loop",
    "target",
    "conv",
)
CHOICE_KEYS = ("loop", "target", "conv")  # "auto" is made per backend, as ascent.Spec.for_backend makes it
RESULT_SECTIONS = ("param", "method", "objective")  # every key of these but SECTION_PATHS
# A path whose contents the settings name otherwise: MACO's template by its fingerprint (method.spectrum_fingerprint),
# so a template moved to another folder is the same template.
SECTION_PATHS = ("method.spectrum",)


def _defaults() -> dict:
    """Keys added after format 1 was first written: a settings file without them used these values."""
    return {k: v for k, v in settings(Config(), "").items() if k not in ("weights", "format")}


class FilterResult(NamedTuple):
    tile: np.ndarray  # (H, W, 3) uint8, deprocessed
    history: np.ndarray  # (steps + 1,) float32
    nan_step: int  # -1 if every update was finite
    alpha: np.ndarray | None = None  # (size, size) float32 >= 0, the raw transparency map; None: not kept


def settings(cfg: Config, weights_fingerprint: str) -> dict:
    """What made the stored images (JSON-ready): a directory's chunks must all share it."""
    out = {key: getattr(cfg.ascent, key) for key in RESULT_KEYS}
    out["transforms"] = list(out["transforms"])
    for section in RESULT_SECTIONS:
        out.update({f"{section}.{k}": v for k, v in dataclasses.asdict(getattr(cfg, section)).items()})
    for key in SECTION_PATHS:
        out.pop(key)
    out.update(format=FORMAT, weights=weights_fingerprint, deprocess_std=cfg.output.deprocess_std)
    out["display"] = cfg.output.display
    # The model (a directory from before it was recorded: VGG16, `_defaults`); its preprocessing changes the images.
    out.update({"model": cfg.model.name, "model.preprocess": cfg.model.preprocess})
    return out


def recorded_weights(out: Path) -> str | None:
    """The fingerprint of the weights RUN/state's chunks were made with (settings.json), or None when there is
    none, it is damaged, or it names none."""
    try:
        found = json.loads((Path(out) / STATE / "settings.json").read_text()).get("weights")
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return None
    return found if isinstance(found, str) and found else None


def check_writable(out: Path) -> None:
    """Create `out` if needed and prove it is writable, or raise a one-line error naming the real cause (a
    broken link, a file in the way, permissions, a read-only or full file system)."""
    out = output_dir(out)
    make_dir(out)
    try:
        # A probe, not a result (no need for atomic_write's rename), named per process: the processes of one job
        # probe the same directory at once, and one must not delete another's probe under it.
        probe = out / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink(missing_ok=True)
    except OSError as e:
        raise JaxvizError(f"cannot write to output directory {str(out)!r}: {reason(e)}") from None


def _made(key: str, value: object, backend: str | None) -> object:
    """A step choice as `backend` runs it: "auto" is CPU_CHOICES' on "cpu", ACCELERATOR_CHOICES' elsewhere (the
    rule of ascent.Spec.for_backend); unchanged without a backend."""
    if key not in CHOICE_KEYS or value != "auto" or not backend:
        return value
    return (CPU_CHOICES if backend == "cpu" else ACCELERATOR_CHOICES)[key]


def _difference(key: str, then: object, now: object, backends: tuple[str | None, str | None]) -> str | None:
    """The difference `key: then -> now` when the two make other images, None when they make the same (for a step
    choice, "auto" and what it is made as on that backend are the same)."""
    made = [_made(key, value, backend) for value, backend in zip((then, now), backends)]
    if made[0] == made[1]:
        return None
    said = [f"{v!r}" + (f" ({m} on {b})" if v != m else "") for v, m, b in zip((then, now), made, backends)]
    return f"{key}: {said[0]} -> {said[1]}"


def chunk_files(out: Path, layer: str) -> list[Path]:
    """`layer`'s chunk files under OUT/state, sorted by name ([] when there are none)."""
    folder = Path(out) / STATE / layer_file(layer)
    return sorted(folder.glob("*.npz")) if folder.is_dir() else []


def write_chunk(out: Path, layer: str, filters: list[int], results: list[FilterResult]) -> None:
    """Store `results` (one per filter of `filters`, in order) as one chunk of `layer`, atomically; with their
    transparency maps when every one of them has one."""
    arrays = {
        "filters": np.asarray(filters),
        "tiles": np.stack([r.tile for r in results]),
        "history": np.stack([r.history for r in results]),
        "nan_step": np.asarray([r.nan_step for r in results]),
    }
    if all(r.alpha is not None for r in results):
        arrays[ALPHA] = np.stack([np.asarray(r.alpha, np.float32) for r in results])
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(Path(out) / STATE / layer_file(layer) / f"{filters[0]:04d}-{filters[-1]:04d}.npz", buf.getvalue())


def _read_chunk(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """`keys` of a chunk file and its alpha when it has one (None: damaged); a chunk without alpha, as every chunk
    was before transparency maps existed, has none."""
    chunk = read_npz(path, (*keys, ALPHA))
    return chunk if chunk is not None else read_npz(path, keys)


def _tile(x: object) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3 and x.size > 0


def _alpha(chunk: dict[str, np.ndarray], i: int, tile: np.ndarray) -> np.ndarray | None:
    """Filter i's transparency map in `chunk`, or None when it has none or it is not a float (H, W) map of its
    tile's height (a damaged chunk: the image is shown alone)."""
    stack = chunk.get(ALPHA)
    if stack is None or i >= len(stack):
        return None
    a = stack[i]
    return a if a.ndim == 2 and a.dtype.kind == "f" and a.shape[0] == tile.shape[0] else None


def read_shown(out: Path, layer: str, wanted: set[int]) -> dict[int, tuple[np.ndarray, np.ndarray | None]]:
    """The stored tiles ((H, W, 3) uint8) of the `wanted` filters of `layer` with their raw transparency maps
    ((size, size) float32, None: none), by filter, for a reader that must neither check the settings nor move
    damaged chunks aside (the atlas, while a run may be writing): a damaged or missing chunk, or a tile of the wrong
    shape, just leaves its filters out."""
    found: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}
    for path in chunk_files(out, layer):
        chunk = _read_chunk(path, ("filters", "tiles"))
        if chunk is None:
            continue
        filters, stack = chunk["filters"].tolist(), chunk["tiles"]
        for i, f in enumerate(filters):
            if f in wanted and i < len(stack) and _tile(stack[i]):
                found[f] = (stack[i], _alpha(chunk, i, stack[i]))
    return found


def read_tiles(out: Path, layer: str, wanted: set[int]) -> dict[int, np.ndarray]:
    """The stored tiles ((H, W, 3) uint8) of the `wanted` filters of `layer`, by filter (`read_shown` without the
    transparency maps)."""
    return {f: tile for f, (tile, _) in read_shown(out, layer, wanted).items()}


class Store:
    """Finished chunks under RUN/state/<file>/<first>-<last>.npz, each written atomically; RUN/state/settings.json
    records what made them: the settings (`wanted`) and the numerics they were computed under (`environment`:
    jaxviz.runtime.numerics.environment(), kept under the key "environment")."""

    def __init__(self, out: Path, wanted: dict, environment: dict | None = None):
        """Raises JaxvizError (one line, naming each difference) when the directory's chunks were made with other
        settings or under other numerics (another PRNG mode, JAX release, backend, ...): they would mix. The
        advice is to delete the run directory itself: its grids, metrics and event files show the old chunks."""
        self.out, self.root = Path(out), Path(out) / STATE
        path = self.root / "settings.json"
        now = {**wanted, "environment": environment or {}}
        if path.exists():
            try:
                have = json.loads(path.read_text())
            except (OSError, ValueError):
                raise JaxvizError(f"{path} is damaged; delete {out} to start this run afresh") from None
            have = {**_defaults(), **have}
            then = have.get("environment") if isinstance(have.get("environment"), dict) else {}
            backend = now["environment"].get("backend")
            backends = (then.get("backend", backend), backend)  # not recorded then: the same as now
            diff = [d for k, v in wanted.items() if (d := _difference(k, have.get(k), v, backends))]
            if diff:
                raise JaxvizError(
                    f"{out} holds results made with other settings ({'; '.join(diff)}); "
                    f"use another output directory, or delete {out} to redo them"
                )
            diff = differences(then, now["environment"])
            if diff:
                raise JaxvizError(
                    f"{out} holds results computed under other numerics ({'; '.join(diff)}), whose images would mix "
                    f"with these; run under the same, or use another output directory (or delete {out})"
                )
            if any(name not in then for name in now["environment"]):  # from before it was recorded: record it now
                write_json(path, {**have, "environment": {**now["environment"], **then}})
        else:
            write_json(path, now)

    def load(self, layer: str) -> dict[int, FilterResult]:
        """Every finished filter of `layer`, by index, with its transparency map when its chunk kept one; a damaged
        chunk is set aside (renamed .damaged) and redone."""
        found: dict[int, FilterResult] = {}
        for path in chunk_files(self.out, layer):
            chunk = _read_chunk(path, CHUNK_KEYS)
            if chunk is None:
                with contextlib.suppress(OSError):  # another process may have set it aside first
                    os.replace(path, path.with_suffix(".damaged"))  # keep it for inspection
                continue
            for i, f in enumerate(chunk["filters"].tolist()):
                tile = chunk["tiles"][i]
                found[f] = FilterResult(tile, chunk["history"][i], int(chunk["nan_step"][i]), _alpha(chunk, i, tile))
        return found

    def save(self, layer: str, filters: list[int], results: list[FilterResult]) -> None:
        """Store one chunk of `layer` (see `write_chunk`)."""
        write_chunk(self.out, layer, filters, results)

    def layers(self) -> list[str]:
        """The file names (network.layer_file) of the layers with stored chunks, sorted: what `holds` asks of."""
        folders = self.root.iterdir() if self.root.is_dir() else []
        return sorted(p.name for p in folders if p.is_dir() and any(p.glob("*.npz")))

    def holds(self, layer: str) -> bool:
        """Whether `layer` (by its own name) has stored chunks."""
        return bool(chunk_files(self.out, layer))
