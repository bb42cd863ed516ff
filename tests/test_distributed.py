"""Several processes on one run (jax.distributed on 127.0.0.1): same grids, bounded failure, resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, assert_main_refuses, assert_one_line_error, finish, free_port, lock_holder

from jaxviz.runtime.processes import share

JOB = ["--filters", "0:6", "--size", "32", "--steps", "3", "--set", "output.snapshot_every=1"]
JOB += ["--set", "output.quality=false"]  # grids, metrics and chunks are what is compared here
FAST = ["--set", "distributed.initialization_timeout=60", "--set", "distributed.heartbeat_timeout=10"]


def _start(*args: str, devices: int = 1) -> subprocess.Popen:
    env = {**os.environ, "JAXVIZ_NO_DOWNLOAD": "1", "JAX_PLATFORMS": "cpu"}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    cmd = [sys.executable, str(ROOT / "scripts" / "visualize.py"), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _processes(n: int, *args: str, devices: int = 1) -> list[subprocess.Popen]:
    coordinator = f"127.0.0.1:{free_port()}"
    flags = ["--coordinator", coordinator, "--num-processes", str(n)]
    return [_start(*args, *flags, "--process-id", str(i), devices=devices) for i in range(n)]


def test_shares_are_disjoint_deterministic_and_cover_everything():
    items = list(range(3, 40, 3))
    for count in (1, 2, 3, 5):
        parts = [share(items, i, count) for i in range(count)]
        assert sum(parts, []) == items
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.slow
@pytest.mark.parametrize("devices", [1, 2])
def test_two_processes_make_the_grids_of_one(tmp_path, weights_path, devices):
    import numpy as np
    from PIL import Image

    photos = tmp_path / "photos"  # a config's [examples] rides along: shared too, merged by process 0
    photos.mkdir()
    for i in range(5):
        Image.fromarray(np.full((40, 48, 3), (50 * i, 200 - 40 * i, 90), np.uint8)).save(photos / f"{i}.png")
    layers = ["--layers", "block1_conv1,block2_conv1", "--weights", str(weights_path)]
    layers += ["--set", f"examples.images={photos}", "--set", "examples.size=32", "--set", "examples.top=3"]
    procs = _processes(2, *layers, *JOB, *FAST, "--out", str(tmp_path / "multi"), devices=devices)
    results = [finish(p) for p in procs]
    for code, _, err in results:
        assert code == 0, err
    assert "process 1 of 2 finished its share" in results[1][1]
    single = _start(*layers, *JOB, "--out", str(tmp_path / "single"))
    code, _, err = finish(single)
    assert code == 0, err
    for name in ("block1_conv1.png", "block2_conv1.png"):
        assert (tmp_path / "multi" / name).read_bytes() == (tmp_path / "single" / name).read_bytes()
    multi = json.loads((tmp_path / "multi" / "metrics.json").read_text())
    alone = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert multi["filters"] == alone["filters"]
    for name in ("block1_conv1.npz", "block2_conv1.npz", "images.json"):
        multi_file, single_file = (tmp_path / where / "examples" / name for where in ("multi", "single"))
        assert multi_file.read_bytes() == single_file.read_bytes()
    assert sorted(p.name for p in (tmp_path / "multi" / "examples").glob("state*")) == [
        "state.0-of-2.npz", "state.1-of-2.npz"]  # fmt: skip
    # Each process wrote its own chunks: filters 0-2 and 3-5 of each layer.
    chunks = sorted(p.name for p in (tmp_path / "multi" / "state" / "block2_conv1").glob("*.npz"))
    assert chunks[0].startswith("0000-") and any(c.startswith("0003-") for c in chunks)
    # Process 0 alone logs: one event file for the ascent, one for the examples' scalars.
    assert len(list((tmp_path / "multi").glob("events.out.tfevents*"))) == 2


@pytest.mark.slow
def test_a_dead_process_stops_the_others_and_a_rerun_resumes(tmp_path, weights_path):
    out = tmp_path / "r"
    args = ["--layers", "block2_conv1", "--filters", "0:12", "--size", "48", "--steps", "12"]
    args += ["--weights", str(weights_path), "--out", str(out), *FAST]
    procs = _processes(2, *args)
    mine = out / "state" / "block2_conv1"
    deadline = time.monotonic() + 180
    while not any(mine.glob("0006-*.npz")):  # process 1 (filters 6-11) has finished a chunk
        assert time.monotonic() < deadline and procs[1].poll() is None, "process 1 never saved a chunk"
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    procs[1].wait()
    code, _, _ = finish(procs[0], timeout=120)
    assert code != 0  # JAX stops the survivor once the dead peer misses its heartbeats
    assert time.monotonic() - killed < 10 + 60
    saved = {p.name: p.stat().st_mtime_ns for p in mine.glob("*.npz")}
    assert any(n.startswith("0000-") for n in saved) and any(n.startswith("0006-") for n in saved)
    assert not (out / "block2_conv1.png").exists()  # process 0 never got past the barrier
    rerun = _start(*args)
    code, _, err = finish(rerun)
    assert code == 0, err
    assert {name: (mine / name).stat().st_mtime_ns for name in saved} == saved  # not recomputed
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["filter"] for r in metrics["filters"]] == list(range(12))


def test_bad_process_flags_fail_in_one_line(tmp_path, weights_path, capsys):
    from jaxviz.cli.visualize import main

    base = ["--layers", "block1_conv1", *JOB, "--weights", str(weights_path), "--out", str(tmp_path / "o")]
    addr = f"127.0.0.1:{free_port()}"
    cases = [
        (
            ["--coordinator", addr, "--num-processes", "2", "--process-id", "2"],
            ("--process-id 2 is out of range", "0..1"),
        ),
        (["--process-id", "0"], ("go together",)),
        (["--coordinator", "nowhere", "--num-processes", "2", "--process-id", "0"], ("not HOST:PORT",)),
        (["--coordinator", addr, "--num-processes", "two", "--process-id", "0"], ("--num-processes expects a whole",)),
    ]
    for flags, needles in cases:  # refused before any process is joined: in this one
        assert_main_refuses(main, [*base, *flags], capsys, *needles)
    assert not (tmp_path / "o").exists()


def test_unreachable_coordinator_and_busy_port_fail_in_bounded_time(tmp_path, weights_path):
    base = ["--layers", "block1_conv1", *JOB, "--weights", str(weights_path), "--out", str(tmp_path / "o")]
    timeout = ["--set", "distributed.initialization_timeout=3"]
    t = time.monotonic()
    flags = ["--coordinator", f"127.0.0.1:{free_port()}", "--num-processes", "2", "--process-id", "1"]
    code, _, err = finish(_start(*base, *timeout, *flags), timeout=60)
    assert_one_line_error(code, err, "cannot reach the coordinator", "within 3 s")
    assert time.monotonic() - t < 30
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        flags = ["--coordinator", f"127.0.0.1:{busy.getsockname()[1]}", "--num-processes", "2", "--process-id", "0"]
        code, _, err = finish(_start(*base, *timeout, *flags), timeout=60)
    assert_one_line_error(code, err, "cannot listen on port")
    assert not (tmp_path / "o").exists()


def test_the_processes_of_one_run_are_one_holder_and_are_refused_together(tmp_path, weights_path):
    """Process 0 holds the run directory for the job (the two processes above never refuse each other); when
    another run holds it, every process of the job is refused with the same line, and nothing is written."""
    out = tmp_path / "held"
    with lock_holder(out, "another run") as holder:
        args = ["--layers", "block1_conv1", "--weights", str(weights_path), "--out", str(out)]
        procs = _processes(2, *args, *JOB, *FAST)
        for code, _, err in (finish(p, timeout=120) for p in procs):
            assert_one_line_error(code, err, f"{out} is in use by another run", f"pid {holder.pid}")
        assert [p.name for p in out.iterdir()] == [".jaxviz.lock"]
