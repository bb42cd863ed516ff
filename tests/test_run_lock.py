"""One run directory, one writer: a second process is refused by name, nothing it would write is written, and a
killed holder leaves no stale lock (the lock is fcntl.flock, released by the operating system)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, assert_main_refuses, lock_holder

from jaxviz.cli import atlas, examples, visualize
from jaxviz.cli import sweep as sweep_command
from jaxviz.errors import JaxvizError
from jaxviz.runtime import dir_lock

pytestmark = pytest.mark.skipif(dir_lock.fcntl is None, reason="no fcntl: this platform holds no directory locks")


def _tree(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under `directory`: (size, modification time in ns)."""
    return {
        str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_a_second_holder_is_refused_by_name_and_kill_9_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    with lock_holder(run, "a test holder") as p:  # killed with SIGKILL: the OS alone releases the lock
        with pytest.raises(dir_lock.Busy) as refused:
            with dir_lock.holding(run, "a second run"):
                pass
        said = str(refused.value)
        assert f"pid {p.pid} on {socket.gethostname()}" in said and "a test holder" in said, said
        assert "another --out" in said and str(run.resolve()) in said
        assert dir_lock.is_held(run)
    with dir_lock.holding(run, "after the holder died"):
        with dir_lock.holding(run / ".." / "run", "nested, through another spelling of the path"):  # re-entrant
            assert dir_lock.is_held(run)
    assert not dir_lock.is_held(run)


def test_the_same_directory_through_a_link_is_one_directory(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with lock_holder(tmp_path / "real", "a test holder"):
        with pytest.raises(JaxvizError, match="in use by a test holder"):
            with dir_lock.holding(tmp_path / "link", "through the link"):
                pass


def test_two_real_runs_on_one_directory(tmp_path, weights_path, capsys):
    """A visualisation holds RUN; a second one with the same settings, one with other layers, dataset examples
    and the atlas command are each refused in one line naming it, and write nothing; once it is killed
    (kill -9), no stale lock is left: a rerun with other steps is refused by its settings alone."""
    run = tmp_path / "run"
    common = ["--weights", str(weights_path), "--out", str(run), "--size", "32", "--set", "output.quality=false"]
    first = [*common, "--layers", "block1_conv1", "--filters", "0:64", "--steps", "400"]
    env = {**os.environ, "JAXVIZ_NO_DOWNLOAD": "1"}
    holder = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "visualize.py"), *first],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 120
        # It holds the directory and has started writing: its settings, then (after sizing each layer) config.toml
        while not ((run / "state" / "settings.json").is_file() and (run / "config.toml").is_file()):
            assert holder.poll() is None and time.monotonic() < deadline, "the first run did not start"
            time.sleep(0.2)
        holder.send_signal(signal.SIGSTOP)  # frozen, still holding: whatever changes now is the others' doing
        before = _tree(run)
        images = tmp_path / "images"
        images.mkdir()
        from PIL import Image

        Image.new("RGB", (40, 40), (200, 30, 30)).save(images / "red.png")
        other = [*common, "--layers", "block2_conv1", "--filters", "0:2", "--steps", "2"]
        examples_args = ["--images", str(images), "--weights", str(weights_path), "--out", str(run)]
        examples_args += ["--layers", "block1_conv1", "--filters", "0:2", "--size", "32"]
        # The same settings, other settings, dataset examples: each refused by this process naming the other.
        for main, argv in ((visualize.main, first), (visualize.main, other), (examples.main, examples_args)):
            out, _ = assert_main_refuses(
                main, argv, capsys, f"{run} is in use by a visualisation run", f"pid {holder.pid}"
            )
            assert "plan:" not in out
        # The run refreshes its atlas itself: a second writer would race it.
        assert_main_refuses(atlas.main, [str(run)], capsys, "in use by a visualisation run", "refreshes the atlas")
        assert _tree(run) == before  # nothing written by any of them
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # Other steps, once the holder is gone: refused by its settings, not by a stale lock.
    _, err = assert_main_refuses(
        visualize.main, [*first[:-1], "2", "--set", "output.atlas=false"], capsys, "other settings"
    )
    assert "in use" not in err


def test_a_sweep_directory_has_one_writer(tmp_path, weights_path, capsys):
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(
        f'[model]\nweights = "{weights_path}"\n[target]\nlayers = "block1_conv1"\nfilters = "0:1"\n'
        '[ascent]\nsize = 32\n[sweep.axes]\n"ascent.steps" = [1, 2]\n'
    )
    out = tmp_path / "sweep"
    with lock_holder(out) as p:
        argv = ["--config", str(sweep_file), "--out", str(out)]
        assert_main_refuses(sweep_command.main, argv, capsys, f"sweep directory {out} is in use", f"pid {p.pid}")
        assert [f.name for f in out.iterdir()] == [dir_lock.LOCK_NAME]  # not one point started


def test_a_read_only_directory_needs_no_lock(tmp_path, monkeypatch):
    """Nobody can write a read-only directory: holding it takes no lock (and makes no lock file) instead of failing,
    so a complete run on a read-only mount reruns as complete."""
    import errno

    real = os.open

    def read_only(path, flags, *args):
        if str(path).endswith(dir_lock.LOCK_NAME):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real(path, flags, *args)

    monkeypatch.setattr(dir_lock.os, "open", read_only)
    with dir_lock.holding(tmp_path, "a run on a read-only mount"):
        pass
    assert not (tmp_path / dir_lock.LOCK_NAME).exists()
