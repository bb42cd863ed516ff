"""Dataset examples from a config: its [examples] table, into its run directory, with TensorBoard scalars.

The examples engine (jaxviz.dataset_examples) knows nothing of configs, run directories or event files: here a
config becomes its Job (images, top, size, batch, save_every from [examples]; layers and filters from [target];
the model, its weights and preprocessing from [model]; RUN from [output] dir) and the engine's progress becomes
TensorBoard scalars (`examples/images`, step = images read; `examples/images_per_s`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from jaxviz.config import Config
from jaxviz.dataset_examples import Examples
from jaxviz.dataset_examples.scan import Job
from jaxviz.errors import JaxvizError
from jaxviz.run.run_dir import check_run_dir
from jaxviz.runtime.paths import output_dir
from jaxviz.show.writers import TensorBoardWriter, logged_steps

TAG = "examples/images"  # the scalar whose step (images read) resumes: a rerun writes only past it


def images_path(images: str) -> str:
    """An [examples] images folder as a run records it: absolute, relative paths taken from the working
    directory (as output.dir and model.weights are), `~` expanded."""
    return os.path.abspath(os.path.expanduser(images)) if images else ""


def job_for(cfg: Config) -> Job:
    """The checked examples Job of `cfg`, for its model (VGG16's weights found as a run finds them; any other
    model's as cfg.model gives them); JaxvizError (one line) when no folder is set or it is not a directory, or for
    a setting jaxviz.dataset_examples.make_job refuses. Imports no JAX for a VGG (a Keras model is built: its layers
    are known then): the saved state is checked by `check_before`, once the processes are joined."""
    from jaxviz.dataset_examples import make_job
    from jaxviz.model.network import check_layer_files
    from jaxviz.model.weight_search import find_weights

    e = cfg.examples
    if not e.images:
        raise JaxvizError("no image folder: pass --images DIR, or set images in the config's [examples] table")
    images = images_path(e.images)
    if not Path(images).exists():
        raise JaxvizError(f"the image folder {images!r} (examples.images) does not exist")
    if not Path(images).is_dir():
        raise JaxvizError(f"the image folder {images!r} (examples.images) is not a directory")
    out = output_dir(cfg.output.dir)
    check_run_dir(out)  # new, empty or jaxviz's: never a sweep's, never the photos' own folder
    t, m = cfg.target, cfg.model
    # The registry (through make_job's network) checks every model, a VGG's preprocessing included, and finds or
    # draws every model's weights but VGG16's file, found here as a run finds it so that the job records its path.
    search = m.name == "vgg16" and m.weights != "random"
    job = make_job(images, t.layers, t.filters, e.top, e.size, e.batch, "" if search else m.weights, out,
                   e.save_every, e.conv, m.name, m.preprocess)  # fmt: skip
    check_layer_files(job.layers, m.name)  # each layer's file its own on any file system (examples_store)
    if search:
        job = dataclasses.replace(job, weights=str(find_weights(m.weights, download=m.download).path))
    return job


def check_same_weights(out: Path, fingerprint: str, doing: str, model: str = "") -> None:
    """Refuse (JaxvizError, one line) `doing` ("this run", "these examples") with the weights of `fingerprint` (of
    the network named `model`, where given) in run directory `out` when the other half of it was made with other
    weights: the optimised images (RUN/state/settings.json) or the dataset examples (RUN/examples, which record
    their model too: then both models are named). The atlas shows the two side by side as one network's filters;
    from two models or weight sets they would not be."""
    from jaxviz.dataset_examples.examples_store import recorded_model
    from jaxviz.dataset_examples.examples_store import recorded_weights as examples_weights
    from jaxviz.run.chunk_store import recorded_weights as images_weights

    ours_are_images = doing == "this run"
    other = examples_weights(out) if ours_are_images else images_weights(out)
    if other is None or other == fingerprint:
        return
    theirs = "dataset examples" if ours_are_images else "optimised images"
    named = recorded_model(out) if ours_are_images else ""
    then, now = f"{named}, " if named else "", f"{model}, " if model else ""
    raise JaxvizError(
        f"{out} holds {theirs} made with other weights ({then}fingerprint {other}; {doing} has {now}{fingerprint}), "
        f"which its atlas would show as one network's; pass the same model and weights, or use another --out"
    )


def check_before(job: Job) -> None:
    """Refuse now (JaxvizError, one line) what the examples' saved state would refuse after the ascent: a
    changed folder, image set, file or setting must not cost an ascent first, nor rewrite the run."""
    from jaxviz.dataset_examples.loader import list_images, stamps
    from jaxviz.dataset_examples.resume_state import check_saved
    from jaxviz.runtime.processes import process

    files = list_images(job.images)
    check_saved(job, files, stamps(job.images, files), process()[1])


class Scalars:
    """The engine's on_progress as TensorBoard scalars in `run_dir`'s event files: a new event file, opened
    only when there is something to write, and only steps past what the files already hold for TAG."""

    def __init__(self, run_dir: str | Path):
        self.run_dir, self.writer = Path(run_dir), None
        self.last = logged_steps(self.run_dir).get(TAG, -1)

    def __call__(self, images: int, rate: float) -> None:
        """Scalars at step `images` (images read so far); `rate` (images/s) only once it is measured (> 0)."""
        if images <= self.last:  # a resume re-reads images a crash lost: TensorBoard already shows them
            return
        if self.writer is None:
            self.writer = TensorBoardWriter(self.run_dir)
        self.writer.write_scalars(images, {TAG: images, **({"examples/images_per_s": rate} if rate > 0 else {})})
        self.last = images

    def close(self) -> None:
        """Flush and close the event file, if one was opened."""
        if self.writer is not None:
            self.writer.close()


def compute(job: Job, cfg: Config, progress: bool, stop_after: int | None = None) -> tuple[Examples, bool]:
    """jaxviz.dataset_examples.scan.run with TensorBoard scalars in job.out's event files when cfg.output.tensorboard is
    set (process 0 only: the others' shares would interleave their own counts), every process its share, the
    run directory held meanwhile (another writer is refused). Returns the examples and whether RUN/examples
    was written (a complete rerun writes nothing)."""
    from jaxviz.dataset_examples.scan import run
    from jaxviz.runtime.processes import holding, process
    from jaxviz.show.progress import Progress

    with holding(job.out, "a dataset-examples run", cfg.distributed.initialization_timeout):
        if job.out is not None:
            loaded = job.load()
            check_same_weights(job.out, loaded.fingerprint, "these examples", loaded.network.name)
        listing = job.out / "examples" / "images.json"  # written last, and only when something changed
        before = listing.stat().st_mtime_ns if listing.is_file() else None
        tensorboard = cfg.output.tensorboard and job.out is not None and process()[0] == 0
        scalars = Scalars(job.out) if tensorboard else None
        try:
            bar = Progress.over_files if progress else None
            result = run(job, stop_after=stop_after, progress=bar, on_progress=scalars,
                         barrier_seconds=cfg.distributed.barrier_timeout)  # fmt: skip
        except BaseException:
            if scalars is not None:
                with contextlib.suppress(Exception):  # the run's own error is the one to report
                    scalars.close()
            raise
        if scalars is not None:
            scalars.close()
        return result, listing.is_file() and listing.stat().st_mtime_ns != before


def after_ascent(cfg: Config, job: Job, refresh: Callable[[Path], None] | None = None) -> tuple[Examples, bool]:
    """A complete run's examples, on every process (each its share; process 0 merges): computed or continued
    into RUN/examples, then, on process 0, `refresh(RUN)` (the atlas) when they changed; returns them and
    whether anything was written (a complete rerun: no)."""
    from jaxviz.runtime.processes import process

    first = process()[0] == 0
    if not (job.out / "examples" / "images.json").is_file() and cfg.output.progress and first:
        print(f"jaxviz: dataset examples of {job.images} for {len(job.layers)} layer(s), top {job.top}", flush=True)
    result, wrote = compute(job, cfg, cfg.output.progress)
    wrote = wrote and first
    if wrote and refresh is not None:
        refresh(job.out)  # the atlas' last pass came before the examples: this one shows them
    return result, wrote


def summary(result: Examples) -> str:
    """What RUN/examples holds, in a few words."""
    skipped = f", {result.skipped} skipped (unreadable)" if result.skipped else ""
    return f"examples/ ({len(result.layers)} layer(s), {len(result.images)} image(s){skipped})"


class Shared:
    """A sweep's dataset examples: computed (or continued) once per distinct setting, then copied into every
    other point with the same one; the examples depend on the images, layers, filters, weights, top, size and
    convolution, never on the ascent, so a sweep over ascent settings reads its image folder once."""

    def __init__(self) -> None:
        self.made: dict[str, Path] = {}  # setting -> the run directory holding its finished examples

    def __call__(self, cfg: Config, job: Job) -> str:
        """RUN/examples of `job` computed or copied (the copy by process 0 alone); returns what was done, for
        the progress line ("computed", "copied from DIR" or "already there")."""
        import json

        from jaxviz.runtime.files import atomic_write
        from jaxviz.runtime.processes import process

        key = json.dumps([str(job.images), job.layers, job.filters, job.top, job.size, job.weights, job.conv, job.model,
                          job.preprocess])  # fmt: skip
        source = self.made.get(key)
        if source is None or source == job.out:
            _, wrote = after_ascent(cfg, job)  # the sweep refreshes the atlas itself
            self.made[key] = job.out
            return "computed" if wrote else "already there"
        if process()[0] != 0:
            return f"copied from {source}"
        copied = 0
        (job.out / "examples").mkdir(parents=True, exist_ok=True)
        for f in sorted((source / "examples").iterdir()):  # the state too: a rerun of the point finds them done
            target = job.out / "examples" / f.name
            if f.is_file() and not (target.is_file() and target.read_bytes() == f.read_bytes()):
                atomic_write(target, f.read_bytes())
                copied += 1
        return f"copied from {source}" if copied else "already there"
