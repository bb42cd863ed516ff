"""Paths and output streams: control characters refused with the backslash hint, a reader that leaves stops
nothing, a run directory reached through a link is the same run, and the run says which weights it found."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, assert_main_refuses, script

from jaxviz.cli import visualize

ARGS = ["--layers", "block1_conv1", "--filters", "0:2", "--size", "32", "--steps", "2",
        "--set", "output.atlas=false", "--set", "output.quality=false"]  # fmt: skip


@pytest.mark.parametrize(
    "table, said",
    [
        ('[output]\ndir = "runs\\new_test"\n', "output.dir 'runs\\new_test' holds a newline"),
        ('[model]\nweights = "weights\\tiny.h5"\n', "model.weights 'weights\\tiny.h5' holds a tab"),
    ],
    ids=["windows-dir", "windows-weights"],
)
def test_a_backslash_escape_in_a_toml_path_is_refused_with_the_hint(
    tmp_path, weights_path, monkeypatch, capsys, table, said
):
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "c.toml"
    config.write_text(table)
    weights = ["--weights", str(weights_path)] if "dir" in table else []
    argv = ["--config", str(config), *ARGS, *weights]
    assert_main_refuses(visualize.main, argv, capsys, said, "single quotes", "forward slashes")
    assert sorted(f.name for f in tmp_path.iterdir()) == ["c.toml"]  # no directory named with a newline
    config.write_text(table.replace('"', "'"))  # single quotes keep the backslash, as the hint says
    argv = ["--config", str(config), "--layers", "nope"]
    assert_main_refuses(visualize.main, argv, capsys, "unknown layer 'nope'")  # the path itself was accepted


def test_a_control_character_from_the_shell_is_refused(tmp_path, weights_path, capsys):
    argv = [*ARGS, "--weights", str(weights_path), "--out", str(tmp_path / "a\nb")]
    assert_main_refuses(visualize.main, argv, capsys, "output.dir", "holds a newline")
    assert list(tmp_path.iterdir()) == []


def test_a_reader_that_leaves_stops_nothing(tmp_path, weights_path):
    """`visualize.py ... | head -1`: the run finishes and writes every output, no traceback, exit 0."""
    out = tmp_path / "r"
    p = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "scripts" / "visualize.py"),
            *ARGS,
            "--weights",
            str(weights_path),
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    first = p.stdout.readline()
    p.stdout.close()  # the reader leaves after one line, as head -1 does
    err = p.stderr.read()
    assert p.wait(timeout=300) == 0, err
    assert first.startswith("jaxviz: plan:") and "Traceback" not in err and "BrokenPipe" not in err, err
    for name in ("metrics.json", "config.toml", "block1_conv1.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "state" / "block1_conv1").glob("*.npz"))) == 2


def test_a_run_directory_through_a_link_and_by_its_real_path_is_one_run(tmp_path, weights_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    first = script("visualize", *ARGS, "--weights", str(weights_path), "--out", str(tmp_path / "link"))
    assert first.returncode == 0, first.stderr
    assert f'dir = "{tmp_path / "real"}"' in (tmp_path / "real" / "config.toml").read_text()  # recorded by real path
    chunks = {p: p.stat().st_mtime_ns for p in (tmp_path / "real" / "state").rglob("*.npz")}
    again = script("visualize", *ARGS, "--weights", str(weights_path), "--out", str(tmp_path / "real"))
    assert again.returncode == 0, again.stderr
    assert "already complete with this config; nothing to do" in again.stdout, again.stdout
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "real" / "state").rglob("*.npz")} == chunks


def test_the_run_says_which_weights_it_found_in_one_line(tmp_path, weights_path):
    p = script("visualize", *ARGS, "--out", str(tmp_path / "r"), env={"JAXVIZ_WEIGHTS": str(weights_path)})
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("jaxviz: weights: ")]
    assert len(lines) == 1 and str(weights_path.resolve()) in lines[0] and "from $JAXVIZ_WEIGHTS" in lines[0], p.stdout
    assert "fingerprint " in lines[0]
