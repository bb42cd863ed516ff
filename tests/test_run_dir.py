"""What a run directory may be (new, empty or jaxviz's; never a sweep's or some other folder), a run that was moved,
and a sweep whose point is in use by another process."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import assert_main_refuses, assert_one_line_error, lock_holder, script

from jaxviz.cli import examples, visualize
from jaxviz.cli import sweep as sweep_command

SMALL = ["--layers", "block1_conv1", "--filters", "0:2", "--size", "32", "--steps", "2",
         "--set", "output.atlas=false", "--set", "output.quality=false"]  # fmt: skip


def test_an_empty_out_is_refused(tmp_path, weights_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    for main, extra in ((visualize.main, []), (examples.main, ["--images", str(tmp_path)])):
        assert_main_refuses(main, ["--weights", str(weights_path), "--out", "", *extra], capsys, "is empty")
        assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["visualize", "examples"])
def test_a_folder_of_other_files_is_refused_as_a_run_directory(tmp_path, weights_path, capsys, command):
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image

    Image.new("RGB", (40, 40)).save(photos / "cat.png")
    before = sorted(p.name for p in photos.iterdir())
    extra = ["--images", str(photos)] if command == "examples" else []
    main = {"visualize": visualize.main, "examples": examples.main}[command]
    argv = [*SMALL[:6], *extra, "--weights", str(weights_path), "--out", str(photos)]
    assert_main_refuses(main, argv, capsys, f"{photos}' already holds other files (cat.png)", "new or empty")
    assert sorted(p.name for p in photos.iterdir()) == before  # not even a lock file


def test_runs_and_sweeps_keep_to_their_own_directories(tmp_path, weights_path, capsys):
    run = tmp_path / "run"
    first = script("visualize", *SMALL, "--weights", str(weights_path), "--out", str(run))
    assert first.returncode == 0, first.stderr
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(f'[model]\nweights = "{weights_path}"\n[target]\nlayers = "block1_conv1"\nfilters = "0:1"\n'
                          '[ascent]\nsize = 32\n[sweep.axes]\n"ascent.steps" = [1, 2]\n')  # fmt: skip
    argv = ["--config", str(sweep_file), "--out", str(run)]
    assert_main_refuses(sweep_command.main, argv, capsys, "is a run directory", "a directory of its own")
    sweep = tmp_path / "sweep"
    assert script("sweep", "--config", str(sweep_file), "--out", str(sweep)).returncode == 0
    argv = [*SMALL, "--weights", str(weights_path), "--out", str(sweep)]
    assert_main_refuses(visualize.main, argv, capsys, "is a sweep directory", "a directory of its own")
    assert not (sweep / "config.toml").exists() and not (run / "index.json").exists()


def test_a_moved_run_continues_where_it_is_now(tmp_path, weights_path):
    run = tmp_path / "run"
    first = script("visualize", *SMALL, "--weights", str(weights_path), "--out", str(run))
    assert first.returncode == 0, first.stderr
    shutil.move(run, tmp_path / "moved")
    p = script("visualize", "--config", str(tmp_path / "moved" / "config.toml"))
    assert p.returncode == 0, p.stderr
    assert f"the run is now in {tmp_path / 'moved'}: continuing there" in p.stdout, p.stdout
    assert "already complete" in p.stdout and not run.exists()  # nothing recomputed, nothing made at the old place
    assert f'dir = "{tmp_path / "moved"}"' in (tmp_path / "moved" / "config.toml").read_text()


def test_a_sweep_point_in_use_is_skipped_and_keeps_its_results(tmp_path, weights_path):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(f'[model]\nweights = "{weights_path}"\n[target]\nlayers = "block1_conv1"\nfilters = "0:1"\n'
                          '[ascent]\nsize = 32\n[output]\natlas = false\nquality = false\n'
                          '[sweep.axes]\n"ascent.steps" = [1, 2]\n')  # fmt: skip
    out = tmp_path / "sweep"
    assert script("sweep", "--config", str(sweep_file), "--out", str(out)).returncode == 0
    entry = json.loads((out / "index.json").read_text())["points"][1]
    recorded = (out / "steps-2" / "config.toml").read_text()
    assert "columns = 0" in recorded  # a setting that changes what the point writes: it is no longer the same point
    (out / "steps-2" / "config.toml").write_text(recorded.replace("columns = 0", "columns = 1"))
    with lock_holder(out / "steps-2", "a run extending this point"):
        p = script("sweep", "--config", str(sweep_file), "--out", str(out))
        assert_one_line_error(p.returncode, p.stderr.splitlines()[-1], "in use by another process", "steps-2")
        assert "sweep point steps-2 skipped" in p.stdout
        assert (out / "steps-2" / "metrics.json").is_file()  # its results, untouched
        assert json.loads((out / "index.json").read_text())["points"][1] == entry  # and its entry in the index
