"""Dataset examples on several devices and processes: the same files, bit for bit, as one; batch sizing; sums."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_one_line_error, finish, free_port
from PIL import Image

from jaxviz.dataset_examples import sums
from jaxviz.dataset_examples.batch_sizing import CPU_BATCH, auto_batch, bytes_per_image, pick_batch

LAYERS = "block1_conv1,block2_conv1"
NAMES = ("scores", "image", "position", "box", "mean", "fires", "filters")


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """11 files: 8 small patterned images, two exact duplicates (ties across shares), one unreadable."""
    root = tmp_path_factory.mktemp("shard")
    rng = np.random.default_rng(7)
    for i in range(8):
        a = rng.integers(0, 256, (30 + i, 34, 3), dtype=np.uint8)
        a[:, :: 2 + i % 3, i % 3] = 255
        Image.fromarray(a).save(root / f"i{i:02d}.png")
    shutil.copy(root / "i01.png", root / "i05_dup.png")  # between two shares: the earlier file must win ties
    shutil.copy(root / "i01.png", root / "z_dup.png")
    (root / "i03_bad.png").write_text("not an image")
    return root


def _env(devices: int, weights: Path) -> dict:
    env = {**os.environ, "JAXVIZ_NO_DOWNLOAD": "1", "JAX_PLATFORMS": "cpu", "JAXVIZ_WEIGHTS": str(weights)}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["PYTHONPATH"] = str(ROOT)
    return env


def _examples(folder: Path, out: Path, *flags: str, devices: int, weights: Path) -> subprocess.Popen:
    cmd = [sys.executable, str(ROOT / "scripts" / "examples.py"), "--images", str(folder), "--layers", LAYERS]
    cmd += ["--size", "32", "--top", "5", "--batch", "3", "--quiet", "--out", str(out), *flags]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(devices, weights), cwd=ROOT
    )


def _assert_same_outputs(a: Path, b: Path) -> None:
    assert (a / "examples" / "images.json").read_text() == (b / "examples" / "images.json").read_text()
    for layer in LAYERS.split(","):
        with np.load(a / "examples" / f"{layer}.npz") as x, np.load(b / "examples" / f"{layer}.npz") as y:
            for key in NAMES:
                np.testing.assert_array_equal(x[key], y[key], err_msg=f"{layer} {key}", strict=True)


# Asserts the devices it was given, and that the step really splits the batch over them.
_DEVICES = """
import sys, jax, numpy as np
from jaxviz.dataset_examples import make_job, topk
from jaxviz.dataset_examples.scan import run
from jaxviz.model.weights import find_and_load
n = int(sys.argv[3])
assert len(jax.local_devices()) == n
job = make_job(sys.argv[1], "block1_conv1,block2_conv1", "all", top=5, size=32, batch=3, out=sys.argv[2])
run(job)
devices = jax.local_devices()
step = topk.make_step(job.layers, job.filters, devices)
params = topk.replicated({k: v for k, v in find_and_load("").items() if k.startswith("block")}, devices)
state = topk.empty_state({la: len(job.filters[la]) for la in job.layers}, 5)
new, out = step(params, state, np.zeros((2 * n, 32, 32, 3), np.uint8), np.arange(2 * n, dtype=np.int32),
                np.ones(2 * n, bool))
mean = out["block2_conv1"][0]
assert new["block2_conv1"]["scores"].sharding.is_fully_replicated
assert len(mean.sharding.device_set) == n and mean.addressable_shards[0].data.shape[0] == 2, mean.sharding
"""


@pytest.mark.slow
def test_two_devices_give_the_files_of_one(folder, tmp_path, weights_path):
    runs = {}
    for n in (1, 2):
        runs[n] = subprocess.Popen(
            [sys.executable, "-c", _DEVICES, str(folder), str(tmp_path / f"d{n}"), str(n)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(n, weights_path), cwd=ROOT,
        )  # fmt: skip
    for p in runs.values():
        code, _, err = finish(p)
        assert code == 0, err
    _assert_same_outputs(tmp_path / "d1", tmp_path / "d2")


def _two_processes(folder: Path, out: Path, weights: Path, *flags: str) -> list[tuple[int, str, str]]:
    coordinator = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2"]
    procs = [
        _examples(folder, out, *coordinator, "--process-id", str(i), *flags, devices=1, weights=weights)
        for i in range(2)
    ]
    return [finish(p) for p in procs]


@pytest.mark.slow
def test_two_processes_write_the_files_of_one_and_resume_each_share(folder, tmp_path, weights_path):
    code, _, err = finish(_examples(folder, tmp_path / "one", devices=1, weights=weights_path))
    assert code == 0, err
    # Each process stops after 2 files of its share (5 and 6 files), then a rerun finishes both.
    stopped = _two_processes(folder, tmp_path / "two", weights_path, "--stop-after", "2")
    for code, out, err in stopped:
        assert code == 0 and "stopped after" in out, err
    assert sorted(p.name for p in (tmp_path / "two" / "examples").iterdir()) == [
        "state.0-of-2.npz",
        "state.1-of-2.npz",
    ]
    results = _two_processes(folder, tmp_path / "two", weights_path)
    for code, _, err in results:
        assert code == 0, err
    assert "process 1 of 2 finished its share" in results[1][1]
    assert "wrote" in results[0][1] and "1 file(s) skipped" in results[0][1]
    _assert_same_outputs(tmp_path / "one", tmp_path / "two")
    # A rerun with another number of processes is refused by name, before anything is computed.
    code, _, err = finish(_examples(folder, tmp_path / "two", devices=1, weights=weights_path))
    assert_one_line_error(code, err, "different number of processes (2 then, 1 now)", "--num-processes 2")


def test_auto_batch_grows_with_the_budget_in_multiples_of_the_devices():
    layers = ["block1_conv1", "block5_conv3"]
    per_image = bytes_per_image(layers, 224)
    assert per_image == bytes_per_image(["block5_conv3"], 224) > bytes_per_image(["block1_conv1"], 224)
    for n in (1, 2, 4, 8):
        sizes = [auto_batch(layers, 224, n, budget) for budget in (0, per_image * 3, per_image * 40, 10**15)]
        assert sizes == sorted(sizes) and sizes[0] == n and sizes[-1] > sizes[1]
        assert all(s % n == 0 and (s // n) & (s // n - 1) == 0 for s in sizes)  # a power of two per device
        assert sizes[1] == 2 * n
        assert auto_batch(layers, 224, n, None) % n == 0 and auto_batch(layers, 224, n, None) >= CPU_BATCH
    assert auto_batch(layers, 64, 1, per_image * 3) > auto_batch(layers, 224, 1, per_image * 3)  # smaller images

    class Device:
        platform = "gpu"

        def memory_stats(self):
            return {"bytes_limit": 2 * 40 * per_image}

    assert pick_batch(0, layers, 224, [Device(), Device()]) == 2 * 32
    assert pick_batch(5, layers, 224, [Device(), Device()]) == 6  # a given batch: only rounded up


def test_sums_are_exact_in_any_split():
    rng = np.random.default_rng(0)
    x = rng.lognormal(0, 10, (40, 6)).astype(np.float32)
    x[0, 0], x[1, 1], x[2, 2] = 0, np.float32(1e-45), np.float32(3e38)
    whole = sums.add(sums.empty(6), x, np.ones(6))
    for cut in (1, 17, 39):
        parts = [sums.add(sums.empty(6), x[:cut], np.zeros(6)), sums.add(sums.empty(6), x[cut:], np.ones(6))]
        joined = sums.combine(parts)
        np.testing.assert_array_equal(sums.total(joined), sums.total(whole))
        np.testing.assert_array_equal(joined["fires"], whole["fires"])
    exact = [math.fsum(float(v) for v in x[:, c]) for c in range(6)]  # the exact sum, rounded once
    assert sums.total(whole).tolist() == exact
    x[3, 3] = np.nan
    assert np.isnan(sums.total(sums.add(sums.empty(6), x, np.zeros(6)))[3])


def test_out_of_memory_halves_the_batch_and_loses_no_image():
    import jax

    from jaxviz.dataset_examples.feed import Feeder
    from jaxviz.dataset_examples.loader import Loaded
    from jaxviz.errors import JaxvizError

    seen, told = [], []

    def step(params, state, rgb, index, valid):  # out of memory above 2 images per pass
        if len(rgb) > 2:
            raise jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")
        seen.append((len(rgb), index[valid].tolist()))
        return state, {"l": (np.ones((len(rgb), 3), np.float32), valid.sum() * np.ones(3, np.int32))}

    good = [Loaded(f"{i}.png", np.zeros((4, 4, 3), np.uint8)) for i in range(5)]
    feed = Feeder(step, None, 4, 8, 2, told.append)
    _, out = feed({}, {"l": sums.empty(3)}, good, [10, 11, 13, 14, 15])
    assert told == [4, 2] and feed.batch == 2
    assert seen == [(2, [10, 11]), (2, [13, 14]), (2, [15])]
    assert sums.total(out["l"]).tolist() == [5.0] * 3 and out["l"]["fires"].tolist() == [5] * 3
    with pytest.raises(JaxvizError, match="one image per device"):
        Feeder(step, None, 4, 4, 4)({}, {"l": sums.empty(3)}, good, list(range(5)))
