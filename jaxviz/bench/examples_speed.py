"""Dataset-examples throughput (scripts/benchmark.py --examples): images/s for the whole network's 13 layers,
decoding in (the engine end to end) and out (the jitted step on images already decoded), optionally beside a
peer script run in the same invocation, alternating, so the ratio compares like with like on a noisy machine.

The peer is any script that takes `--images DIR --weights PATH --batch N --top K --repeat R` and prints one JSON
line with `images_per_s` and `model_images_per_s` (the Keras/TensorFlow reference the issue names does).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxviz.dataset_examples import CONVS, make_job
from jaxviz.dataset_examples.loader import list_images
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS

OnRow = Callable[[dict], None]
PEER_SIZE = 224  # px: the peer's crop (ImageNet evaluation's), which --size must match to compare with it


@dataclass(frozen=True)
class ExamplesBench:
    """One dataset-examples benchmark: the `images` folder cycled `repeat` times, `batch` images per forward
    pass (0: what a run picks), the `top` images kept per filter, the `weights` ("" to search), `rounds`
    alternations with the peer script `peer_script` ("" for none) run by `peer_python` at `peer_batch`, the
    engine's `conv` (examples.conv) and the image `size` (px)."""

    images: Path
    repeat: int = 1
    batch: int = 0
    top: int = 16
    weights: str = ""
    rounds: int = 2
    peer_script: str = ""
    peer_python: str = "python3"
    peer_batch: int = 16
    conv: str = "auto"
    size: int = 224

    def check(self) -> None:
        """Raise JaxvizError (one line, naming the flag) for a bad count, a missing peer, a size the peer cannot
        compare at, an unknown conv, or a missing or empty image folder; needs no JAX."""
        counts = (("--repeat", self.repeat, 1), ("--rounds", self.rounds, 1), ("--batch", self.batch, 0))
        for name, value, least in (*counts, ("--size", self.size, 1)):
            if value < least:
                raise JaxvizError(f"{name} must be {least} or more, got {value}")
        if self.peer_script and not Path(self.peer_script).is_file():
            raise JaxvizError(f"--peer {self.peer_script!r} is not a file")
        if self.peer_script and self.size != PEER_SIZE:
            raise JaxvizError(f"--size {self.size}: the peer crops {PEER_SIZE} px; leave --size out to compare with it")
        if self.conv not in CONVS:
            raise JaxvizError(f"--conv must be one of {', '.join(CONVS)} with --examples; got {self.conv!r}")
        self.job(self.images)  # top, size and batch as a run checks them (the size each layer needs)
        list_images(self.images)  # a missing or empty folder: one line before the weights are looked for

    def job(self, folder: Path):
        """The examples engine's Job over `folder`: every filter of the 13 layers, nothing written."""
        return make_job(folder, "all", "all", self.top, self.size, self.batch, self.weights, conv=self.conv)


def repeated(images: Path, repeat: int, into: Path) -> Path:
    """A folder holding `repeat` copies of `images`' files as symlinks (r000/..., r001/...): the engine lists,
    decodes and ranks every copy as a file of its own, as the peer's --repeat cycles its list."""
    if repeat == 1:
        return images
    files = list_images(images)
    for r in range(repeat):
        for name in files:
            link = into / f"r{r:03d}" / name
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((images / name).absolute())
    return into


def engine(folder: Path, bench: ExamplesBench) -> dict:
    """The engine end to end (jaxviz.find_examples' engine, every filter of the 13 layers, nothing written) over
    `folder`: images/s after its first batch (which compiles; the peer likewise warms up before its clock
    starts) and the wall seconds of the whole call, compile included."""
    from jaxviz.dataset_examples.scan import run

    start = time.perf_counter()
    result = run(bench.job(folder), say=lambda _: None)
    seconds = time.perf_counter() - start
    return {"images": len(result.images), "images_per_s": round(result.rate, 3), "seconds": round(seconds, 2)}


def model_only(folder: Path, bench: ExamplesBench, seconds: float = 10.0) -> dict:
    """The jitted step alone (forward to every layer, top-K merge, the sums pulled to the host) on one batch of
    `folder` decoded beforehand, repeated for about `seconds` after a compiling call: images/s with decoding
    out, and the batch."""
    import jax

    from jaxviz.dataset_examples import topk
    from jaxviz.dataset_examples.batch_sizing import pick_batch
    from jaxviz.dataset_examples.loader import batches
    from jaxviz.model.weights import find_and_load

    job, size = bench.job(folder), bench.size
    devices = jax.local_devices()
    batch = pick_batch(job.batch, job.layers, size, devices)
    step = topk.make_step(job.layers, job.filters, devices)
    params = topk.device_params(find_and_load(bench.weights), job.layers, size, bench.conv, devices)
    state = topk.empty_state({layer: len(f) for layer, f in job.filters.items()}, bench.top)
    names = (list_images(folder) * batch)[:batch]
    rgb = np.stack([g.pixels for g in next(batches(folder, names, size, batch)) if g.pixels is not None])
    rgb = np.resize(rgb, (batch, size, size, 3))  # an unreadable file's place taken by a repeat
    index, valid = np.arange(batch, dtype=np.int32), np.ones(batch, bool)

    def once() -> None:
        new, sums = step(params, state, rgb, index, valid)
        jax.block_until_ready(new)
        [np.asarray(mean) for mean, _ in sums.values()]  # the engine pulls the means every batch

    once()  # compiles
    start, count = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        once()
        count += batch
    return {"model_images_per_s": round(count / (time.perf_counter() - start), 3), "batch": batch}


def peer(bench: ExamplesBench, weights: Path) -> dict:
    """Run the peer script once over `bench.images` with the weights file `weights`; its JSON line. JaxvizError
    (one line) when it fails or prints no JSON."""
    cmd = [bench.peer_python, bench.peer_script, "--images", str(bench.images), "--batch", str(bench.peer_batch)]
    cmd += ["--top", str(bench.top), "--repeat", str(bench.repeat), "--weights", str(weights)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise JaxvizError(f"the peer {bench.peer_script} failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])


def compare(bench: ExamplesBench, on_row: OnRow | None = None) -> dict:
    """`bench.rounds` alternations of jaxviz (end to end, then the step alone) and, when `bench.peer_script` is
    given, the peer; each row is passed to `on_row` as it comes. Returns every row and, per round, jaxviz / peer.
    Raises JaxvizError (one line) as `ExamplesBench.check` and `peer` do, or for weights that cannot be read."""
    from jaxviz.model.weights import find_and_load_file

    bench.check()
    weights = find_and_load_file(bench.weights).path  # the peer needs a file: the one jaxviz loads (once)
    rows, ratios = [], []
    with tempfile.TemporaryDirectory(prefix="jaxviz-bench-") as tmp:
        folder = repeated(Path(bench.images), bench.repeat, Path(tmp))
        for r in range(1, bench.rounds + 1):
            row = {"round": r, "who": "jaxviz", "conv": bench.conv, "size": bench.size, **engine(folder, bench)}
            row.update(model_only(Path(bench.images), bench))
            rows.append(row)
            if on_row:
                on_row(row)
            if bench.peer_script:
                other = {"round": r, "who": "peer", **peer(bench, weights)}
                rows.append(other)
                if on_row:
                    on_row(other)
                ratios.append(round(row["images_per_s"] / other["images_per_s"], 3))
    return {"layers": len(CONV_LAYERS), "rows": rows, "ratio_end_to_end": ratios}


def main(bench: ExamplesBench, as_json: bool) -> int:
    """scripts/benchmark.py --examples: one line per measurement as it comes, then the ratios (JSON lines with
    `as_json`). JaxvizError (one line) as `compare`."""

    def show(row: dict) -> None:
        if as_json:
            print(json.dumps(row), flush=True)
        elif row["who"] == "jaxviz":
            print(f"round {row['round']}  jaxviz  ({row['conv']})  {row['images_per_s']:7.2f} images/s end to end "
                  f"({row['images']} images, {row['seconds']:.1f} s with compiling)  "
                  f"{row['model_images_per_s']:7.2f} images/s decoded (batch {row['batch']})", flush=True)  # fmt: skip
        else:
            print(f"round {row['round']}  peer    {row['images_per_s']:7.2f} images/s end to end "
                  f"({row['images']} images)  {row['model_images_per_s']:7.2f} images/s decoded "
                  f"(batch {row.get('batch', '?')})", flush=True)  # fmt: skip

    report = compare(bench, on_row=show)
    if report["ratio_end_to_end"]:
        ratios = ", ".join(f"{r:.2f}" for r in report["ratio_end_to_end"])
        print(json.dumps({"ratio_end_to_end": report["ratio_end_to_end"]}) if as_json
              else f"jaxviz / peer, end to end, per round: {ratios}")  # fmt: skip
    return 0
