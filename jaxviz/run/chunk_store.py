"""What a run directory already holds: finished chunks (for resuming) and the settings they used."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.runtime.files import atomic_write, read_npz, reason, write_json
from jaxviz.runtime.numerics import differences
from jaxviz.runtime.paths import make_dir, output_dir

FORMAT = 1
CHUNK_KEYS = ("filters", "tiles", "history", "nan_step")  # the arrays of a chunk file
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
)
RESULT_SECTIONS = ("param", "objective")  # every key of these


def _defaults() -> dict:
    """Keys added after format 1 was first written: a settings file without them used these values."""
    return {k: v for k, v in settings(Config(), "").items() if k not in ("weights", "format")}


class FilterResult(NamedTuple):
    tile: np.ndarray  # (H, W, 3) uint8, deprocessed
    history: np.ndarray  # (steps + 1,) float32
    nan_step: int  # -1 if every update was finite


def settings(cfg: Config, weights_fingerprint: str) -> dict:
    """What made the stored images (JSON-ready): a directory's chunks must all share it."""
    out = {key: getattr(cfg.ascent, key) for key in RESULT_KEYS}
    out["transforms"] = list(out["transforms"])
    for section in RESULT_SECTIONS:
        out.update({f"{section}.{k}": v for k, v in dataclasses.asdict(getattr(cfg, section)).items()})
    out.update(format=FORMAT, weights=weights_fingerprint, deprocess_std=cfg.output.deprocess_std)
    out["display"] = cfg.output.display
    return out


def check_writable(out: Path) -> None:
    """Create `out` if needed and prove it is writable, or raise a one-line error naming the real cause (a
    broken link, a file in the way, permissions, a read-only or full file system)."""
    out = output_dir(out)
    make_dir(out)
    try:
        (out / ".write-test").write_bytes(b"")  # a probe, not a result: no need for atomic_write's rename
        (out / ".write-test").unlink()
    except OSError as e:
        raise JaxvizError(f"cannot write to output directory {str(out)!r}: {reason(e)}") from None


class Store:
    """Finished chunks under RUN/state/<layer>/<first>-<last>.npz, each written atomically; RUN/state/settings.json
    records what made them: the settings (`wanted`) and the numerics they were computed under (`environment`:
    jaxviz.runtime.numerics.environment(), kept under the key "environment")."""

    def __init__(self, out: Path, wanted: dict, environment: dict | None = None):
        """Raises JaxvizError (one line, naming each difference) when the directory's chunks were made with other
        settings or under other numerics (another PRNG mode, JAX release, backend, ...): they would mix."""
        self.root = out / "state"
        path = self.root / "settings.json"
        now = {**wanted, "environment": environment or {}}
        if path.exists():
            try:
                have = json.loads(path.read_text())
            except (OSError, ValueError):
                raise JaxvizError(f"{path} is damaged; delete {self.root} to start this run afresh") from None
            have = {**_defaults(), **have}
            diff = [f"{k}: {have.get(k)!r} -> {v!r}" for k, v in wanted.items() if have.get(k) != v]
            if diff:
                raise JaxvizError(
                    f"{out} holds results made with other settings ({'; '.join(diff)}); "
                    f"use another output directory, or delete {self.root} to redo them"
                )
            then = have.get("environment") if isinstance(have.get("environment"), dict) else {}
            diff = differences(then, now["environment"])
            if diff:
                raise JaxvizError(
                    f"{out} holds results computed under other numerics ({'; '.join(diff)}), whose images would mix "
                    f"with these; run under the same, or use another output directory (or delete {self.root})"
                )
            if any(name not in then for name in now["environment"]):  # from before it was recorded: record it now
                write_json(path, {**have, "environment": {**now["environment"], **then}})
        else:
            write_json(path, now)

    def load(self, layer: str) -> dict[int, FilterResult]:
        """Every finished filter of `layer`, by index; a damaged chunk is set aside and redone."""
        found: dict[int, FilterResult] = {}
        folder = self.root / layer
        for path in sorted(folder.glob("*.npz")) if folder.is_dir() else []:
            chunk = read_npz(path, CHUNK_KEYS)
            if chunk is None:
                with contextlib.suppress(OSError):  # another process may have set it aside first
                    os.replace(path, path.with_suffix(".damaged"))  # keep it for inspection
                continue
            for i, f in enumerate(chunk["filters"].tolist()):
                found[f] = FilterResult(chunk["tiles"][i], chunk["history"][i], int(chunk["nan_step"][i]))
        return found

    def save(self, layer: str, filters: list[int], results: list[FilterResult]) -> None:
        buf = io.BytesIO()
        np.savez(
            buf,
            filters=np.asarray(filters),
            tiles=np.stack([r.tile for r in results]),
            history=np.stack([r.history for r in results]),
            nan_step=np.asarray([r.nan_step for r in results]),
        )
        atomic_write(self.root / layer / f"{filters[0]:04d}-{filters[-1]:04d}.npz", buf.getvalue())

    def layers(self) -> list[str]:
        """The layers with stored chunks."""
        folders = self.root.iterdir() if self.root.is_dir() else []
        return sorted(p.name for p in folders if p.is_dir() and any(p.glob("*.npz")))
