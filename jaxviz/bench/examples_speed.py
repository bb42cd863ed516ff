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
from pathlib import Path

import numpy as np

from jaxviz.dataset_examples import CONVS
from jaxviz.dataset_examples.loader import list_images
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS

OnRow = Callable[[dict], None]


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


def engine(folder: Path, batch: int, top: int, weights: str, conv: str = "auto", size: int = 224) -> dict:
    """The engine end to end (jaxviz.examples, every filter of the 13 layers, nothing written): images/s after
    its first batch (which compiles; the peer likewise warms up before its clock starts) and the wall seconds
    of the whole call, compile included."""
    from jaxviz.dataset_examples import make_job
    from jaxviz.dataset_examples.scan import run

    job = make_job(folder, "all", "all", top, size, batch, weights, conv=conv)
    start = time.perf_counter()
    result = run(job, say=lambda _: None)
    seconds = time.perf_counter() - start
    return {"images": len(result.images), "images_per_s": round(result.rate, 3), "seconds": round(seconds, 2)}


def model_only(
    folder: Path, batch: int, top: int, weights: str, conv: str = "auto", seconds: float = 10.0, size: int = 224
) -> dict:
    """The jitted step alone (forward to every layer, top-K merge, the sums pulled to the host) on one batch
    decoded beforehand, repeated for about `seconds` after a compiling call: images/s with decoding out."""
    import jax

    from jaxviz.dataset_examples import make_job, topk
    from jaxviz.dataset_examples.batch_sizing import pick_batch
    from jaxviz.dataset_examples.loader import batches
    from jaxviz.model.weights import find_and_load

    job = make_job(folder, "all", "all", top, size, batch, weights, conv=conv)
    devices = jax.local_devices()
    batch = pick_batch(job.batch, job.layers, size, devices)
    step = topk.make_step(job.layers, job.filters, devices)
    params = topk.device_params(find_and_load(weights), job.layers, size, conv, devices)
    state = topk.empty_state({layer: len(f) for layer, f in job.filters.items()}, top)
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


def peer(python: str, script: str, folder: Path, batch: int, top: int, repeat: int, weights: str) -> dict:
    """Run the peer script once; its JSON line. JaxvizError (one line) when it fails or prints no JSON."""
    cmd = [python, script, "--images", str(folder), "--batch", str(batch), "--top", str(top), "--repeat", str(repeat)]
    if weights:
        cmd += ["--weights", weights]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise JaxvizError(f"the peer {script} failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1])


def compare(
    images: Path,
    repeat: int = 1,
    batch: int = 0,
    top: int = 16,
    weights: str = "",
    rounds: int = 2,
    peer_script: str = "",
    peer_python: str = "python3",
    peer_batch: int = 16,
    conv: str = "auto",
    size: int = 224,
    on_row: OnRow | None = None,
) -> dict:
    """`rounds` alternations of jaxviz (end to end, then the step alone) and, when `peer_script` is given, the
    peer; each row is passed to `on_row` as it comes. Returns every row and, per round, jaxviz / peer."""
    from jaxviz.model.weight_search import resolve_weights

    weights = str(resolve_weights(weights))  # the peer needs a file: the one jaxviz would use
    rows, ratios = [], []
    with tempfile.TemporaryDirectory(prefix="jaxviz-bench-") as tmp:
        folder = repeated(Path(images), repeat, Path(tmp))
        for r in range(1, rounds + 1):
            row = {"round": r, "who": "jaxviz", "conv": conv, "size": size, **engine(folder, batch, top, weights, conv,
                                                                                        size)}  # fmt: skip
            row.update(model_only(Path(images), batch, top, weights, conv, size=size))
            rows.append(row)
            if on_row:
                on_row(row)
            if peer_script:
                other = {"round": r, "who": "peer", **peer(peer_python, peer_script, Path(images), peer_batch, top,
                                                           repeat, weights)}  # fmt: skip
                rows.append(other)
                if on_row:
                    on_row(other)
                ratios.append(round(row["images_per_s"] / other["images_per_s"], 3))
    return {"layers": len(CONV_LAYERS), "rows": rows, "ratio_end_to_end": ratios}


def main(images: str, repeat: int, batch: int, weights: str, rounds: int, peer_script: str, peer_python: str,
         as_json: bool, conv: str = "auto", size: int = 224) -> int:  # fmt: skip
    """scripts/benchmark.py --examples: one line per measurement as it comes, then the ratios. JaxvizError (one
    line) for a bad folder or count, or a failing peer."""
    for name, value in (("--repeat", repeat), ("--rounds", rounds)):
        if value < 1:
            raise JaxvizError(f"{name} must be 1 or more, got {value}")
    if peer_script and not Path(peer_script).is_file():
        raise JaxvizError(f"--peer {peer_script!r} is not a file")
    if peer_script and size != 224:
        raise JaxvizError(f"--size {size}: the peer crops 224 px; leave --size out to compare with it")
    if conv not in CONVS:
        raise JaxvizError(f"--conv must be one of {', '.join(CONVS)} with --examples; got {conv!r}")
    list_images(images)  # a missing or empty folder: one line before the weights are looked for

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

    report = compare(Path(images), repeat, batch, 16, weights, rounds, peer_script, peer_python, conv=conv,
                     size=size, on_row=show)  # fmt: skip
    if report["ratio_end_to_end"]:
        ratios = ", ".join(f"{r:.2f}" for r in report["ratio_end_to_end"])
        print(json.dumps({"ratio_end_to_end": report["ratio_end_to_end"]}) if as_json
              else f"jaxviz / peer, end to end, per round: {ratios}")  # fmt: skip
    return 0
