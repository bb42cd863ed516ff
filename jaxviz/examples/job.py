"""One dataset-examples run: the loop over the folder, the resumable state, the progress line.

RUN/examples/state.npz holds everything needed to continue (the device top-K, the sums, how many files were
consumed, the images read so far) plus the settings that made it; a rerun with other settings is refused by
name rather than silently mixing two runs.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jaxviz.architecture import CONV_LAYERS, conv_geometry
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.examples import loader
from jaxviz.examples.output import Examples, finish_layer, write
from jaxviz.examples.progress import Bar
from jaxviz.files import atomic_write

DEFAULT_BATCH = {"cpu": 8}  # images per forward pass for --batch 0; accelerators: OTHER_BATCH
OTHER_BATCH = 64  # 64 x 224 px to block5_conv3 is ~1 GB of activations: safe on any current accelerator
REPORT_SECONDS = 5.0  # on_progress at most this often (and at every save, and at the end)
OnProgress = Callable[[int, float], None]  # (images read so far, images/s after the first batch or 0.0)


@dataclass(frozen=True)
class Job:
    """What to compute: `filters` per layer (channel indices), the top `top`, on size x size crops."""

    images: Path
    layers: list[str]
    filters: dict[str, list[int]]
    top: int = 16
    size: int = 224
    batch: int = 0
    weights: str = ""
    out: Path | None = None  # None: nothing written, nothing resumed (the Python API)
    save_every: int = 1024  # images between saves of the state


@dataclass
class Counters:
    """How the run went: files consumed (`cursor`), images read, skipped, images/s without the first batch."""

    cursor: int = 0
    images: list[dict] = field(default_factory=list)
    skipped: int = 0
    rate: float = 0.0


def settings(job: Job, files: list[str], fingerprint: str) -> dict:
    """What a saved state must agree with, by the name a refusal uses."""
    return {"image list": files, "size": job.size, "layers": job.layers, "filters": job.filters, "top": job.top,
            "weights": fingerprint}  # fmt: skip


def check_settings(path: Path, saved: dict, now: dict) -> None:
    """Raise JaxvizError naming the first setting that differs between the saved state and this run."""
    for name, value in now.items():
        old = saved.get(name)
        if old == value:
            continue
        if name == "image list":
            diff = sorted(set(old or []) ^ set(value))
            what = f"{diff[0]!r} {'added' if diff and diff[0] in value else 'removed'}" if diff else "reordered"
            detail = f"{len(old or [])} files then, {len(value)} now; {what}"
        else:
            detail = f"{old} then, {value} now"
        raise JaxvizError(
            f"{path} was made with a different {name} ({detail}); rerun with the same settings, "
            f"or use another --out (or delete {path.parent}) to start over"
        )


def save(path: Path, state: dict, sums: dict, counters: Counters, meta: dict) -> None:
    """The whole running state, atomically (a crash leaves the previous save)."""
    arrays = {"meta": np.asarray(json.dumps({**meta, "images": counters.images, "skipped": counters.skipped}))}
    arrays["cursor"] = np.asarray(counters.cursor, np.int64)
    for layer, s in state.items():
        arrays.update({f"{layer}/{key}": np.asarray(value) for key, value in s.items()})
        arrays[f"{layer}/mean"], arrays[f"{layer}/fires"] = sums[layer]
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())


def resume(path: Path, now: dict, state: dict, sums: dict, counters: Counters) -> None:
    """Fill `state`, `sums`, `counters` from a saved state made with the same settings (else JaxvizError)."""
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            check_settings(path, meta["settings"], now)
            for layer in state:
                state[layer] = {key: z[f"{layer}/{key}"] for key in state[layer]}
                sums[layer] = (z[f"{layer}/mean"], z[f"{layer}/fires"])
            counters.cursor = int(z["cursor"])
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise JaxvizError(f"{path} is damaged ({e}); delete it to start over") from None
    counters.images, counters.skipped = meta["images"], meta["skipped"]


def warn(text: str) -> None:
    print(f"jaxviz: warning: {text}", file=sys.stderr, flush=True)


def run(
    job: Job,
    stop_after: int | None = None,
    progress: bool = True,
    say: Callable[[str], None] = warn,
    on_progress: OnProgress | None = None,
) -> Examples:
    """Compute (or continue) the examples of `job`; writes RUN/examples when `job.out` is set (a rerun with
    nothing left to read writes nothing).

    `stop_after`: consume at most this many more files, save and return what is known (an interruption, for
    tests). `on_progress(images, rate)`: called with new images at most every REPORT_SECONDS, at every save
    and at the end (TensorBoard scalars: this module writes no events itself). Raises JaxvizError (one line)
    for a bad folder, weights, or saved state; Interrupted on Ctrl-C after saving the state.
    """
    import jax

    from jaxviz.examples import topk
    from jaxviz.weights import find_and_load, fingerprint

    root = job.images.absolute()
    files = loader.list_images(root)
    batch = job.batch or DEFAULT_BATCH.get(jax.default_backend(), OTHER_BATCH)
    host_params = find_and_load(job.weights)
    now = settings(job, files, fingerprint(host_params))
    widths = {layer: len(job.filters[layer]) for layer in job.layers}
    state = topk.empty_state(widths, job.top)
    sums = {layer: (np.zeros(c, np.float64), np.zeros(c, np.int64)) for layer, c in widths.items()}
    counters = Counters()
    path = job.out / "examples" / "state.npz" if job.out else None
    if path is not None and path.exists():
        resume(path, now, state, sums, counters)
    meta = {"settings": now}
    params = jax.device_put({layer: host_params[layer] for layer in CONV_LAYERS if layer in host_params})
    step = topk.make_step(job.layers, job.filters)
    todo = files[counters.cursor :][:stop_after]
    bar = Bar(len(files), counters.cursor, enabled=progress)
    saved_at, first = len(counters.images), None
    told = [len(counters.images), time.monotonic()]  # images and time of the last on_progress

    def tell(force: bool) -> None:  # only with new images (so `first` is set), rate-limited unless forced
        n = len(counters.images)
        if on_progress is not None and n > told[0] and (force or time.monotonic() - told[1] >= REPORT_SECONDS):
            on_progress(n, (n - first[1]) / (time.perf_counter() - first[0]) if n > first[1] else 0.0)
            told[:] = n, time.monotonic()

    try:
        for group in loader.batches(root, todo, job.size, batch):
            good = [g for g in group if g.pixels is not None]
            for g in group:
                if g.pixels is None:
                    say(f"skipped {g.path}: {g.error}")
            if good:
                rgb = np.zeros((batch, job.size, job.size, 3), np.uint8)
                rgb[: len(good)] = [g.pixels for g in good]
                base = len(counters.images)
                index = np.arange(base, base + batch, dtype=np.int32)
                valid = np.arange(batch) < len(good)
                new, out = step(params, state, rgb, index, valid)
                added = {}
                for layer, (mean, fires) in out.items():  # pulling the sums waits for the device
                    total = sums[layer][0]
                    for row in np.asarray(mean, np.float64)[: len(good)]:  # image by image: any batching, same sum
                        total = total + row
                    added[layer] = (total, sums[layer][1] + np.asarray(fires))
                # Committed together once the batch is complete: a Ctrl-C before this saves the previous batch's
                # state, whose cursor makes the rerun redo this batch (never count it twice).
                state, sums = new, added
                counters.images += [{"path": g.path, "width": g.width, "height": g.height} for g in good]
                if first is None:  # the first batch compiles: the rate starts after it
                    first = (time.perf_counter(), len(counters.images))
            counters.cursor += len(group)
            counters.skipped += len(group) - len(good)
            bar.update(counters.cursor, len(counters.images))
            if path is not None and len(counters.images) - saved_at >= job.save_every:
                save(path, state, sums, counters, meta)
                saved_at = len(counters.images)
                tell(True)
            tell(False)
    except KeyboardInterrupt:
        if path is not None:
            save(path, state, sums, counters, meta)
        done = f"{counters.cursor} of {len(files)} files"
        raise Interrupted(f"saved after {done}; rerun to continue" if path else f"after {done}") from None
    finally:
        bar.close()
    if path is not None and todo:
        save(path, state, sums, counters, meta)
    tell(True)
    if first is not None and len(counters.images) > first[1]:
        counters.rate = (len(counters.images) - first[1]) / (time.perf_counter() - first[0])
    if not counters.images and counters.cursor >= len(files):
        raise JaxvizError(f"none of the {len(files)} JPEG/PNG files under {str(root)!r} could be read")
    host = jax.device_get(state)
    deepest = max(job.layers, key=CONV_LAYERS.index)
    sides = {name: side for name, side, _, _ in conv_geometry(deepest, job.size)}
    layers = {
        layer: finish_layer(
            layer, host[layer], sums[layer], job.filters[layer], len(counters.images), sides[layer], job.size
        )
        for layer in job.layers
    }
    complete = counters.cursor >= len(files)
    result = Examples(root, job.size, counters.images, layers, counters.skipped, complete, counters.rate)
    if job.out is not None and complete and (todo or not (job.out / "examples" / "images.json").is_file()):
        write(job.out, result)
    return result
