"""A run directory reruns from anywhere: its config.toml names the weights used and absolute paths."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

from conftest import assert_one_line_error, script, write_keras2_h5

from jaxviz.runtime.dir_lock import LOCK_NAME

ROOT = Path(__file__).resolve().parents[1]
LEAN = ["--set", "output.quality=false", "--set", "output.atlas=false", "--set", "output.progress=false"]


def _visualize(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return script("visualize", *args, env=env, cwd=cwd, drop=("JAXVIZ_WEIGHTS",))  # a new shell: no variable


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file's size and time, but the lock file's: each run that holds the directory names itself there."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.name != LOCK_NAME}  # fmt: skip


def test_config_toml_reruns_the_same_run_from_another_directory(tmp_path, weights_path):
    first, elsewhere = tmp_path / "first", tmp_path / "elsewhere"
    first.mkdir()
    elsewhere.mkdir()
    args = ["--layers", "block1_conv1", "--filters", "0:3", "--size", "32", "--steps", "2", "--out", "runs/x", *LEAN]
    p = _visualize(first, *args, env={"JAXVIZ_WEIGHTS": str(weights_path)})  # weights from the variable
    assert p.returncode == 0, p.stderr
    run_dir = first / "runs" / "x"
    recorded = tomllib.loads((run_dir / "config.toml").read_text())
    assert recorded["model"]["weights"] == str(weights_path.absolute())
    assert len(recorded["model"]["fingerprint"]) == 16
    assert recorded["output"]["dir"] == str(run_dir)
    before = _snapshot(run_dir)

    # A finished run: rerunning its config.toml from elsewhere, without the variable, writes nothing at all.
    p = _visualize(elsewhere, "--config", str(run_dir / "config.toml"))
    assert p.returncode == 0, p.stderr
    assert "already complete" in p.stdout and "wrote" not in p.stdout
    assert _snapshot(run_dir) == before and not list(elsewhere.iterdir())

    # An unfinished one resumes in its own directory, whatever the working directory.
    chunk = sorted((run_dir / "state" / "block1_conv1").glob("*.npz"))[-1]
    chunk.unlink()
    p = _visualize(elsewhere, "--config", str(run_dir / "config.toml"))
    assert p.returncode == 0, p.stderr
    assert chunk.is_file() and not list(elsewhere.iterdir())


def test_other_weights_than_the_recorded_ones_are_refused(tmp_path, weights_path):
    run_dir = tmp_path / "r"
    args = ["--layers", "block1_conv1", "--filters", "0:1", "--size", "32", "--steps", "1", *LEAN]
    p = _visualize(tmp_path, *args, "--weights", str(weights_path), "--out", str(run_dir))
    assert p.returncode == 0, p.stderr
    other = write_keras2_h5(tmp_path / "other.h5", seed=7)
    p = _visualize(tmp_path, "--config", str(run_dir / "config.toml"), "--weights", str(other))
    assert_one_line_error(p.returncode, p.stderr, "fingerprint", str(other))


def test_a_sweep_names_its_points_relative_to_itself(tmp_path, weights_path):
    import json

    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(
        f'[model]\nweights = "{weights_path}"\n[target]\nlayers = "block1_conv1"\nfilters = "0:1"\n'
        "[ascent]\nsize = 32\nsteps = 1\n[output]\nprogress = false\nquality = false\natlas = false\n"
        '[sweep]\n[sweep.axes]\n"ascent.step" = [0.5, 1.0]\n'
    )
    p = script("sweep", "--config", str(sweep_file), "--out", "sw", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    index = json.loads((tmp_path / "sw" / "index.json").read_text())
    assert [e["dir"] for e in index["points"]] == [e["name"] for e in index["points"]]
    assert "sw/" not in (tmp_path / "sw" / "index.csv").read_text()
    moved = tmp_path / "moved"
    (tmp_path / "sw").rename(moved)  # the sweep.toml still runs from anywhere, here into its new place
    p = script("sweep", "--config", str(moved / "sweep.toml"), "--out", str(moved))
    assert p.returncode == 0, p.stderr
    assert "2 points done" in p.stdout
