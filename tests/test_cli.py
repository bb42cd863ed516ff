"""End to end through scripts/: outputs, TensorBoard read back, resume, and the bad-input contract."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, script
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
QUICK = [
    "--layers",
    "block1_conv1,block2_conv1",
    "--filters",
    "0:4",
    "--size",
    "32",
    "--steps",
    "3",
    "--set",
    "output.snapshot_every=1",
]


# Tests about resuming and errors skip the quality numbers and the atlas (tested elsewhere): less to compile.
LEAN = ["--set", "output.quality=false", "--set", "output.atlas=false"]


def visualize(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return script("visualize", *args, env=env)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, weights_path):
    out = tmp_path_factory.mktemp("run") / "r"
    p = visualize(*QUICK, "--weights", str(weights_path), "--out", str(out))
    assert p.returncode == 0, p.stderr
    return out


def test_outputs(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.toml", "metrics.json", "block1_conv1.png", "block2_conv1.png"} <= names
    assert any(n.startswith("events.out.tfevents") for n in names)
    grid = np.asarray(Image.open(run_dir / "block1_conv1.png"))
    assert grid.shape == (2 * 32 + 5, 2 * 32 + 5, 3)  # 4 tiles: 2x2 with a 5 px margin
    assert grid[:32, :32].std() > 0  # a real picture, not a blank tile
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = metrics["filters"]
    assert [(r["layer"], r["filter"]) for r in rows] == [
        (la, f) for la in ("block1_conv1", "block2_conv1") for f in range(4)
    ]
    for r in rows:
        assert isinstance(r["activation"], float) and isinstance(r["dead"], bool)
        assert len(r["history"]) == 4 and r["history"][-1] == pytest.approx(r["activation"], rel=1e-5)
    assert "[ascent]\nsize = 32\nsteps = 3" in (run_dir / "config.toml").read_text()


def test_tensorboard_reads_the_events(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"images": 0, "scalars": 0, "tensors": 0})
    acc.Reload()
    tags = acc.Tags()
    for layer in ("block1_conv1", "block2_conv1"):
        assert {
            f"{layer}/activation_mean",
            f"{layer}/activation_max",
            f"live/{layer}/activation_mean",
            f"{layer}/dead_filters",
        } <= set(tags["scalars"])
        steps = [e.step for e in acc.Scalars(f"{layer}/activation_mean")]
        assert steps == [0, 1, 2, 3]
        images = acc.Images(f"{layer}/grid")
        assert len(images) >= 2  # at least one live snapshot (rate-limited) plus the final grid
        assert (images[-1].width, images[-1].height) == (69, 69)
    assert "config/text_summary" in tags["tensors"]
    assert "hparams" in acc.PluginTagToContent("hparams") or acc.PluginTagToContent("hparams")


def test_rerun_resumes_instead_of_redoing(run_dir, weights_path):
    state = sorted((run_dir / "state").rglob("*.npz"))
    before = {p: p.stat().st_mtime_ns for p in state}
    grid_before = (run_dir / "block1_conv1.png").read_bytes()
    p = visualize(*QUICK, "--weights", str(weights_path), "--out", str(run_dir))
    assert p.returncode == 0, p.stderr
    assert {p: p.stat().st_mtime_ns for p in state} == before  # nothing recomputed
    assert (run_dir / "block1_conv1.png").read_bytes() == grid_before


def test_extending_a_run_computes_only_new_filters(tmp_path, weights_path):
    out = tmp_path / "r"
    base = [*QUICK[:2], "--size", "32", "--steps", "2", *LEAN, "--weights", str(weights_path), "--out", str(out)]
    assert visualize(*base, "--filters", "0:2").returncode == 0
    first = {p.name for p in (out / "state" / "block1_conv1").glob("*.npz")}
    assert visualize(*base, "--filters", "0:3").returncode == 0
    assert len({p.name for p in (out / "state" / "block1_conv1").glob("*.npz")} - first) == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert [r["filter"] for r in metrics["filters"] if r["layer"] == "block1_conv1"] == [0, 1, 2]


def test_damaged_chunk_of_another_layer_does_not_stop_a_run(tmp_path, weights_path):
    out = tmp_path / "r"
    base = [
        "--filters",
        "0:2",
        "--size",
        "32",
        "--steps",
        "2",
        *LEAN,
        "--weights",
        str(weights_path),
        "--out",
        str(out),
    ]
    assert visualize("--layers", "block1_conv1", *base).returncode == 0
    chunk = sorted((out / "state" / "block1_conv1").glob("*.npz"))[0]
    chunk.write_bytes(chunk.read_bytes()[:100])
    p = visualize("--layers", "block2_conv1", *base)
    assert p.returncode == 0, p.stderr
    assert (out / "block2_conv1.png").exists()
    p = visualize("--layers", "block1_conv1", *base)  # its own damaged chunk: set aside and redone
    assert p.returncode == 0, p.stderr
    assert chunk.with_suffix(".damaged").exists() and chunk.exists()


def _one_line_error(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert_one_line_error(p.returncode, p.stderr, *needles)


def test_bad_inputs_fail_in_one_line(tmp_path, weights_path):
    w = ["--weights", str(weights_path)]
    out = ["--out", str(tmp_path / "o")]
    _one_line_error(visualize("--layers", "block9_conv1", *w, *out), "unknown layer 'block9_conv1'", "block5_conv3")
    _one_line_error(visualize("--layers", "block1_conv1", "--filters", "70", *w, *out), "out of range", "0..63")
    _one_line_error(visualize("--set", "ascent.bogus=1", *w, *out), "unknown config key", "valid keys")
    _one_line_error(visualize("--steps", "many", *w, *out), "ascent.steps: expected an integer")
    _one_line_error(visualize("--size", "0", *w, *out), "ascent.size must be greater than 0")
    _one_line_error(visualize("--steps", "-1", *w, *out), "ascent.steps must be greater than 0")
    _one_line_error(visualize("--size", "8", "--layers", "block5_conv1", *w, *out), "too small for block5_conv1")
    _one_line_error(visualize("--config", str(tmp_path / "none.toml"), *w, *out), "does not exist")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    _one_line_error(visualize(*QUICK, *w, "--out", str(blocker / "sub")), "cannot create run directory", "ENOTDIR")
    assert not (tmp_path / "o").exists()  # nothing was started for any of these


def test_bad_weights_fail_in_one_line(tmp_path, weights_path):
    out = ["--out", str(tmp_path / "o")]
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 4096)
    _one_line_error(visualize(*QUICK, "--weights", str(junk), *out), "neither HDF5")
    truncated = tmp_path / "cut.h5"
    truncated.write_bytes(weights_path.read_bytes()[:3_000_000])
    _one_line_error(visualize(*QUICK, "--weights", str(truncated), *out), "cut.h5")
    env = {"HOME": str(tmp_path / "empty_home"), "JAXVIZ_WEIGHTS": ""}
    _one_line_error(visualize(*QUICK, *out, env=env), "no VGG16 weights found", "--weights", "JAXVIZ_WEIGHTS")
    assert not (tmp_path / "o").exists()  # bad weights are found out before anything is written


def test_changed_settings_are_refused_not_mixed(tmp_path, weights_path):
    out = tmp_path / "r"
    args = [*QUICK[:4], "--size", "32", *LEAN, "--weights", str(weights_path), "--out", str(out)]
    assert visualize(*args, "--steps", "2").returncode == 0
    metrics = (out / "metrics.json").read_bytes()
    _one_line_error(visualize(*args, "--steps", "3"), "other settings", "steps: 2 -> 3")
    assert (out / "metrics.json").read_bytes() == metrics  # earlier results untouched


def test_nan_is_reported_per_filter_and_the_run_continues(tmp_path, weights_path):
    out = tmp_path / "r"
    p = visualize(*QUICK, *LEAN, "--set", "ascent.step=3e38", "--weights", str(weights_path), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "block1_conv1 filter 0: non-finite update at step 0" in p.stdout
    rows = json.loads((out / "metrics.json").read_text())["filters"]
    assert len(rows) == 8 and any(r["nan"] for r in rows)
    for r in rows:  # every filter overflows at once (a silent one follows its pre-activation: revive)
        assert (r["nan"], r["nan_step"]) == (True, 0)
    assert (out / "block2_conv1.png").exists()


def test_convert_weights_then_use_them(tmp_path, weights_path):
    target = tmp_path / "vgg16.msgpack"
    p = script("convert_weights", "--weights", str(weights_path), "--output", str(target))
    assert p.returncode == 0, p.stderr
    from jaxviz.model.weights import fingerprint, load_params

    assert fingerprint(load_params(target)) == fingerprint(load_params(weights_path))


@pytest.mark.parametrize(
    "output, said",
    [
        ("", "--output is empty"),
        ("runs\new.msgpack", "a newline"),
        (".", "is a directory; name a file in it"),
        ("dangling", "a broken symbolic link"),
    ],
)
def test_a_bad_convert_output_is_refused_before_loading(tmp_path, monkeypatch, capsys, output, said):
    from jaxviz.cli.convert import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(SystemExit) as e:  # weights that do not exist: the output is checked first
        main(["--weights", str(tmp_path / "absent.h5"), "--output", output])
    assert_one_line_error(e.value.code, capsys.readouterr().err, said)


@pytest.mark.parametrize("installed", ["beside", "on_path", "nowhere"])
def test_the_last_line_says_how_to_open_tensorboard(tmp_path, monkeypatch, capsys, installed):
    import sys

    from jaxviz.cli.arguments import print_where

    bin_dir, path_dir = tmp_path / "venv" / "bin", tmp_path / "path"
    bin_dir.mkdir(parents=True)
    path_dir.mkdir()
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.setenv("PATH", str(path_dir))
    if installed != "nowhere":
        exe = (bin_dir if installed == "beside" else path_dir) / "tensorboard"
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    print_where(tmp_path / "run", atlas=False, tensorboard=True)
    line = capsys.readouterr().out.strip()
    command = {"beside": f"{bin_dir}/tensorboard", "on_path": "tensorboard", "nowhere": "tensorboard"}[installed]
    assert line.startswith(f"jaxviz: open run: {command} --logdir {tmp_path / 'run'}"), line
    assert ("pip install 'jaxviz[tensorboard]'" in line) == (installed == "nowhere"), line
