"""One dataset-examples run (of any jaxviz.model.network.Network): the loop over the folder (or this process's
share of it), then the merge.

Every process takes a fixed, contiguous share of the sorted file list and keeps its own resumable state
(jaxviz.dataset_examples.resume_state); the top-K is keyed by the global file index, so after a barrier process 0 merges
the shares with the device's own stable sort and writes exactly what one process would have written.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from jaxviz.dataset_examples import loader
from jaxviz.dataset_examples import sums as sums_lib
from jaxviz.dataset_examples.examples_store import Examples, finish_layer, write
from jaxviz.dataset_examples.resume_state import Counters, check_processes, path_of, resume, save, settings
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.model.network import Network

REPORT_SECONDS = 5.0  # on_progress at most this often (and at every save, and at the end)
OnProgress = Callable[[int, float], None]  # (images read so far, images/s after the first batch or 0.0)


class Display(Protocol):
    """A progress display over files (jaxviz.show.progress.Progress is one): `status("compiling")` before the first
    batch, after each batch `measured()` then `update("examples", files done in all, force=...)`, and `close()`."""

    def status(self, text: str) -> None: ...

    def measured(self, unit_cost: float = 0.0) -> None: ...

    def update(self, phase: str, done: float, cost_done: float | None = None, within: tuple[float, int] | None = None,
               force: bool = False) -> None: ...  # fmt: skip

    def close(self) -> None: ...


# (files this process will consume in all, files it consumed before this invocation) -> a Display. The engine shows
# nothing itself: the app and the notebook API hand it jaxviz.show.progress.Progress.over_files.
NewDisplay = Callable[[int, int], Display]


class _Silent:
    def status(self, text: str) -> None:
        pass

    def measured(self, unit_cost: float = 0.0) -> None:
        pass

    def update(self, phase: str, done: float, cost_done: float | None = None, within: tuple[float, int] | None = None,
               force: bool = False) -> None:  # fmt: skip
        pass

    def close(self) -> None:
        pass


BARRIER_SECONDS = 86400  # how long process 0 waits for the other shares (distributed.barrier_timeout's default)


@dataclass(frozen=True)
class Job:
    """What to compute: `filters` per layer (channel indices), the top `top`, on size x size crops, with the model
    `model` (a jaxviz.model.model_registry name, loaded with `weights` and `preprocess`) or the one `given` (a
    LoadedModel in hand: a Flax module from the notebook API)."""

    images: Path
    layers: list[str]
    filters: dict[str, list[int]]
    top: int = 16
    size: int = 224
    batch: int = 0  # images per forward pass; 0: sized for the device (jaxviz.dataset_examples.batch_sizing)
    weights: str = ""
    out: Path | None = None  # None: nothing written, nothing resumed, no sharing between processes (the API)
    save_every: int = 1024  # images between saves of the state
    conv: str = "auto"  # jaxviz.examples.CONVS: how the forward pass convolves (the VGG family's)
    model: str = "vgg16"
    preprocess: str = ""  # model.preprocess: a Keras file's input, where Keras does not name it
    given: Any = field(default=None, compare=False, repr=False)  # a model_registry.LoadedModel in hand

    def network(self) -> Network:
        """The job's Network: the given model's, or the registry's for `model` (a VGG's facts at once, a Keras
        model built once per process). JaxvizError (one line) as jaxviz.model.model_registry.network_of raises."""
        if self.given is not None:
            return self.given.network
        from jaxviz.model.model_registry import network_of

        return network_of(self.model, self.weights, self.preprocess)

    def load(self) -> Any:
        """The job's model with its weights (a model_registry.LoadedModel: the given one, or `model` loaded once per
        process). JaxvizError (one line) for weights that cannot be found or read."""
        if self.given is not None:
            return self.given
        from jaxviz.model.model_registry import load_model

        return load_model(self.model, self.weights, preprocess=self.preprocess)


def warn(text: str) -> None:
    print(f"jaxviz: warning: {text}", file=sys.stderr, flush=True)


def run(
    job: Job,
    stop_after: int | None = None,
    progress: NewDisplay | None = None,
    say: Callable[[str], None] = warn,
    on_progress: OnProgress | None = None,
    barrier_seconds: int = BARRIER_SECONDS,
) -> Examples:
    """Compute (or continue) the examples of `job`; writes RUN/examples when `job.out` is set (a rerun with
    nothing left to read writes nothing).

    With several processes (jax.distributed) and `job.out` set, this process computes its share; process 0
    waits up to `barrier_seconds` for the others, returns (and writes) the whole result, the others their
    share's. `stop_after`: consume at most this many more files, save and return what is known (an
    interruption, for tests). `progress`: makes the display of the files consumed (None: none).
    `on_progress(images, rate)`: called with new images at most every
    REPORT_SECONDS, at every save and at the end (TensorBoard scalars: this module writes no events itself).
    Raises JaxvizError (one line) for a bad folder, weights, or saved state; Interrupted on Ctrl-C after
    saving the state.
    """
    import jax

    from jaxviz.dataset_examples import topk
    from jaxviz.dataset_examples.batch_sizing import (
        pick_batch,  # JAX: imported when a run starts, not when a Job is checked
    )
    from jaxviz.dataset_examples.feed import Feeder
    from jaxviz.dataset_examples.receptive import geometry
    from jaxviz.runtime import numerics
    from jaxviz.runtime import processes as distributed

    root = job.images.absolute()
    files = loader.list_images(root, say)
    index, count = distributed.process() if job.out is not None else (0, 1)
    mine = distributed.share(list(range(len(files))), index, count)  # global file indices, contiguous
    devices = jax.local_devices()
    loaded = job.load()
    network, host_params = loaded.network, loaded.params
    batch = pick_batch(job.batch, job.layers, job.size, devices, network)
    now = settings(job, files, loader.stamps(root, files), loaded.fingerprint, count)
    now["numerics"] = numerics.environment()  # another JAX, backend or precision: another top-K order at ties
    widths = {layer: len(job.filters[layer]) for layer in job.layers}
    state = topk.empty_state(widths, job.top)
    sums = {layer: sums_lib.empty(c) for layer, c in widths.items()}
    counters = Counters()
    path = path_of(job.out, index, count) if job.out else None
    if path is not None:
        check_processes(path.parent, count)
        if path.exists():
            resume(path, now, state, sums, counters)
    meta = {"settings": now}
    params = topk.device_params(host_params, job.layers, job.size, job.conv, devices, network)
    retry = lambda b: say(f"out of device memory: {b} images per forward pass from now on")  # noqa: E731
    step = topk.make_step(job.layers, job.filters, devices, network)
    feed = Feeder(step, params, job.size, batch, len(devices), retry)
    todo = mine[counters.cursor :][:stop_after]
    bar = progress(len(mine), counters.cursor) if progress is not None else _Silent()
    if not topk.fast(network):  # measured once per layer and size (a compile each), before the first batch
        bar.status("measuring receptive fields")
    for layer in job.layers:
        geometry(network, layer, job.size, host_params)
    bar.status("compiling")  # until the first batch is done the wait is mostly its compile: said so
    saved_at, first = len(counters.images), None
    told = [len(counters.images), time.monotonic()]  # images and time of the last on_progress

    def tell(force: bool) -> None:  # only with new images (so `first` is set), rate-limited unless forced
        n = len(counters.images)
        if on_progress is not None and n > told[0] and (force or time.monotonic() - told[1] >= REPORT_SECONDS):
            on_progress(n, (n - first[1]) / (time.perf_counter() - first[0]) if n > first[1] else 0.0)
            told[:] = n, time.monotonic()

    threads = loader.decoders(jax.default_backend())
    try:
        for group in loader.batches(root, [files[i] for i in todo], job.size, batch, threads):
            at = mine[0] + counters.cursor  # the global index of the group's first file
            good = [g for g in group if g.pixels is not None]
            keys = [at + i for i, g in enumerate(group) if g.pixels is not None]
            for g in group:
                if g.pixels is None:
                    say(f"skipped {g.path}: {g.error}")
            if good:
                # Committed together once the group is complete: a Ctrl-C before this saves the previous
                # group's state, whose cursor makes the rerun redo this group (never count it twice).
                state, sums = feed(state, sums, good, keys)
                counters.images += [{"path": g.path, "width": g.width, "height": g.height} for g in good]
                if first is None:  # the first batch compiles: the rate starts after it
                    first = (time.perf_counter(), len(counters.images))
            counters.cursor += len(group)
            counters.skipped += len(group) - len(good)
            bar.measured()
            bar.update("examples", counters.cursor, force=counters.cursor == len(mine))
            if path is not None and len(counters.images) - saved_at >= job.save_every:
                save(path, state, sums, counters, meta)
                saved_at = len(counters.images)
                tell(True)
            tell(False)
    except KeyboardInterrupt:
        if path is not None:
            save(path, state, sums, counters, meta)
        done = f"{counters.cursor} of {len(mine)} files"
        raise Interrupted(f"saved after {done}; rerun to continue" if path else f"after {done}") from None
    finally:
        bar.close()
    if path is not None and todo:
        save(path, state, sums, counters, meta)
    tell(True)
    if first is not None and len(counters.images) > first[1]:
        counters.rate = (len(counters.images) - first[1]) / (time.perf_counter() - first[0])
    complete = counters.cursor >= len(mine)
    host = jax.device_get(state)
    if count > 1 and complete:
        distributed.barrier(f"jaxviz-examples:{job.out}", barrier_seconds)
        if index == 0:
            host, sums, counters = gather(job.out, now, count, files, (host, sums, counters))
    if index == 0 and complete and not counters.images:
        raise JaxvizError(f"none of the {len(files)} JPEG/PNG files under {str(root)!r} could be read")
    result = finish(job, root, files, host, sums, counters, complete, loaded)
    result = dataclasses.replace(result, weights=now["weights"], model=network.name)
    fresh = todo or count > 1 or not (job.out / "examples" / "images.json").is_file() if job.out else False
    if job.out is not None and complete and index == 0 and fresh:
        write(job.out, result)
    return result


def gather(out: Path, now: dict, count: int, files: list[str], own: tuple) -> tuple:
    """Process 0's (state, sums, counters) merged with every other process's finished share, in file order."""
    from jaxviz.dataset_examples import topk
    from jaxviz.runtime.processes import share

    parts = [own]
    for i in range(1, count):
        state = {layer: {} for layer in own[0]}
        sums, counters, path = {layer: {} for layer in own[0]}, Counters(), path_of(out, i, count)
        resume(path, now, state, sums, counters)
        if counters.cursor < len(share(list(range(len(files))), i, count)):
            raise JaxvizError(f"{path} holds an unfinished share; rerun every process to finish it")
        parts.append((state, sums, counters))
    state = topk.combine([p[0] for p in parts])
    sums = {layer: sums_lib.combine([p[1][layer] for p in parts]) for layer in state}
    merged = Counters(sum(p[2].cursor for p in parts), sum((p[2].images for p in parts), []),
                      sum(p[2].skipped for p in parts), own[2].rate)  # fmt: skip
    return state, sums, merged


def finish(
    job: Job, root: Path, files: list[str], host: dict, sums: dict, counters: Counters, complete: bool, loaded: Any
):
    """The Examples of the images read: the top-K's global file indices become indices into their list, the
    positions boxes of `loaded`'s (a model_registry.LoadedModel) receptive fields at the job's size."""
    from jaxviz.dataset_examples.receptive import geometry

    position = {path: i for i, path in enumerate(files)}
    image_of = np.full(len(files) + 1, -1, np.int32)  # the last entry: empty slots (cut off by finish_layer)
    image_of[[position[im["path"]] for im in counters.images]] = np.arange(len(counters.images), dtype=np.int32)
    layers = {}
    for layer in job.layers:
        s = dict(host[layer], image=image_of[np.minimum(host[layer]["image"], len(files))])
        totals = (sums_lib.total(sums[layer]), sums[layer]["fires"])
        count = len(counters.images)
        fields = geometry(loaded.network, layer, job.size, loaded.params)
        side = len(fields.cols)  # the map's width: positions were flattened as row * width + column
        layers[layer] = finish_layer(layer, s, totals, job.filters[layer], count, side, job.size, fields)
    return Examples(root, job.size, counters.images, layers, counters.skipped, complete, counters.rate)
