"""The resumable state of a dataset-examples run: one file per process, its settings, refusals by name.

RUN/examples/state.npz (one process) or state.<i>-of-<n>.npz (process i of n) holds everything that process
needs to continue: its device top-K (keyed by the global file index: the position in the sorted file list),
its exact sums, how many files of its share it consumed, the images it read, and the settings that made it.
A rerun with other settings, or with another number of processes, is refused by name rather than mixing two
runs. Once a process's share is done, its state file is also its partial result, which process 0 merges.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxviz.errors import JaxvizError
from jaxviz.model.network import VGG16
from jaxviz.runtime.files import atomic_write
from jaxviz.runtime.numerics import differences

TOPK_KEYS = ("scores", "image", "position")
SUM_KEYS = ("bands", "rest", "fires")
NAMED = re.compile(r"state\.(\d+)-of-(\d+)\.npz")
# What a state saved before the model was recorded was made with: VGG16, the only model then.
BEFORE = {"model": VGG16.name, "preprocessing": VGG16.input.preprocess}


@dataclass
class Counters:
    """How the run went: files of the share consumed (`cursor`), images read, skipped, images/s without the
    first batch."""

    cursor: int = 0
    images: list[dict] = field(default_factory=list)
    skipped: int = 0
    rate: float = 0.0


def settings(job, files: list[str], stamps: list[str], fingerprint: str, processes: int) -> dict:
    """What a saved state must agree with (of a jaxviz.dataset_examples.scan.Job), by the name a refusal uses: the
    model (its name and preprocessing; first, so that another model is refused by name, not by its layers), the
    folder, its files and their sizes and modification times (loader.stamps: the same names in another folder,
    or a file replaced, would mix two data sets), the settings, the weights, the process count."""
    network = job.network()
    return {"model": network.name, "preprocessing": network.input.preprocess,
            "image folder": str(Path(job.images).absolute()), "image list": files, "file contents": stamps,
            "size": job.size, "layers": job.layers, "filters": job.filters, "top": job.top, "weights": fingerprint,
            "number of processes": processes, "convolution": job.conv}  # fmt: skip


def check_saved(job, files: list[str], stamps: list[str], processes: int) -> None:
    """Refuse (JaxvizError, by name) a run whose saved states disagree with `job`, before any work is done (the
    weights are compared later, once loaded). A no-op without an output directory or a saved state."""
    if job.out is None:
        return
    check_processes(job.out / "examples", processes)
    now = settings(job, files, stamps, "", processes)
    del now["weights"]
    for path in sorted((job.out / "examples").glob("state*.npz")):
        try:
            with np.load(path) as z:
                saved = json.loads(str(z["meta"]))["settings"]
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise JaxvizError(f"{path} is damaged ({e}); delete it to start over") from None
        check_settings(path, saved, now)


def path_of(out: Path, index: int, count: int) -> Path:
    """Process `index` of `count`'s state file under RUN/examples."""
    return out / "examples" / ("state.npz" if count == 1 else f"state.{index}-of-{count}.npz")


def check_processes(folder: Path, count: int) -> None:
    """Refuse (JaxvizError, by name) when `folder` holds the state of a run with another number of processes:
    its shares were cut elsewhere, so neither its files nor its partial results fit this run."""
    found = {1} if (folder / "state.npz").exists() else set()
    found |= {int(m[2]) for p in folder.glob("state.*-of-*.npz") if (m := NAMED.fullmatch(p.name))}
    other = sorted(found - {count})
    if other:
        raise JaxvizError(
            f"{folder} holds the state of a run with a different number of processes ({other[0]} then, {count} "
            f"now); rerun with --num-processes {other[0]}, or use another --out (or delete {folder}) to start over"
        )


def check_settings(path: Path, saved: dict, now: dict) -> None:
    """Raise JaxvizError naming the first setting that differs between the saved state and this run."""
    for name, value in now.items():
        old = saved.get(name, BEFORE.get(name))
        if old == value:
            continue
        if name == "numerics":  # jaxviz.runtime.numerics.environment(): what it did not record then is no difference
            diff = differences(old if isinstance(old, dict) else {}, value)
            if not diff:
                continue
            raise JaxvizError(
                f"{path} was computed under other numerics ({'; '.join(diff)}); run under the same, or use another "
                f"--out (or delete {path.parent}) to start over"
            )
        if name == "image list":
            diff = sorted(set(old or []) ^ set(value))
            what = f"{diff[0]!r} {'added' if diff and diff[0] in value else 'removed'}" if diff else "reordered"
            detail = f"{len(old or [])} files then, {len(value)} now; {what}"
        elif name == "file contents" and old is not None:
            changed = next(i for i, (a, b) in enumerate(zip(old, value)) if a != b)
            detail = f"{now['image list'][changed]!r} has changed since (size or modification time)"
        elif name not in saved and name not in BEFORE:  # a state from before the setting existed
            detail = f"not recorded then, {value} now"
        else:
            detail = f"{old} then, {value} now"
        raise JaxvizError(
            f"{path} was made with a different setting of {name} ({detail}); rerun with the same settings, "
            f"or use another --out (or delete {path.parent}) to start over"
        )


def save(path: Path, state: dict, sums: dict, counters: Counters, meta: dict) -> None:
    """The whole running state, atomically (a crash leaves the previous save)."""
    arrays = {"meta": np.asarray(json.dumps({**meta, "images": counters.images, "skipped": counters.skipped}))}
    arrays["cursor"] = np.asarray(counters.cursor, np.int64)
    for layer, s in state.items():
        arrays.update({f"{layer}/{key}": np.asarray(s[key]) for key in TOPK_KEYS})
        arrays.update({f"{layer}/{key}": np.asarray(sums[layer][key]) for key in SUM_KEYS})
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def resume(path: Path, now: dict, state: dict, sums: dict, counters: Counters) -> None:
    """Fill `state`, `sums`, `counters` (their layers) from a saved state made with the same settings (else
    JaxvizError, one line)."""
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            check_settings(path, meta["settings"], now)
            for layer in state:
                state[layer] = {key: z[f"{layer}/{key}"] for key in TOPK_KEYS}
                sums[layer] = {key: z[f"{layer}/{key}"] for key in SUM_KEYS}
            counters.cursor = int(z["cursor"])
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise JaxvizError(f"{path} is damaged ({e}); delete it to start over") from None
    counters.images, counters.skipped = meta["images"], meta["skipped"]
