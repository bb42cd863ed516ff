"""Operating-system errors say their real cause: the path, the errno and what it means, never a guess."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, assert_main_refuses, assert_one_line_error, script

from jaxviz.cli import sweep as sweep_command
from jaxviz.cli import visualize
from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import explain


def test_errno_is_named_and_explained():
    said = explain(PermissionError(errno.EACCES, "Permission denied"))
    assert said.startswith("Permission denied [EACCES]: ") and "owner and mode" in said
    assert "[EROFS]" in explain(OSError(errno.EROFS, "Read-only file system"))
    assert "disk is full" in explain(OSError(errno.ENOSPC, "No space left on device"))
    assert "another process holds a lock" in explain(BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"))
    assert explain(OSError("Unable to open file (file signature not found)")) == (
        "Unable to open file (file signature not found)"  # no errno: its own words, nothing invented
    )


def test_a_weights_file_locked_by_another_process_says_so(tmp_path, weights_path):
    locked = tmp_path / "locked.h5"
    shutil.copyfile(weights_path, locked)
    hold = textwrap.dedent(
        """
        import sys, time, h5py
        f = h5py.File(sys.argv[1], "a")  # a writer: HDF5 locks the file against everyone else
        print("open", flush=True)
        time.sleep(600)
        """
    )
    p = subprocess.Popen([sys.executable, "-c", hold, str(locked)], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "open"
        from jaxviz.model.weights import load_params

        with pytest.raises(JaxvizError) as e:
            load_params(locked)
        said = str(e.value)
        assert "locked by another process" in said and "HDF5_USE_FILE_LOCKING=FALSE" in said, said
        assert "damaged" not in said and "truncated" not in said
        # ... and the hint is true: HDF5 reads it with locking off.
        code = "import sys; from jaxviz.model.weights import load_params; load_params(sys.argv[1]); print('read')"
        env = {**os.environ, "HDF5_USE_FILE_LOCKING": "FALSE"}
        r = subprocess.run([sys.executable, "-c", code, str(locked)], capture_output=True, text=True, env=env, cwd=ROOT)
        assert r.stdout.strip() == "read", r.stderr
    finally:
        p.kill()
        p.wait()


def test_a_broken_link_as_out_says_where_it_points(tmp_path, weights_path, capsys):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone" / "run")
    argv = ["--weights", str(weights_path), "--out", str(link), "--layers", "block1_conv1", "--filters", "0:1",
            "--size", "32", "--steps", "1"]  # fmt: skip
    assert_main_refuses(
        visualize.main, argv, capsys, "broken symbolic link", f"points to '{tmp_path / 'gone' / 'run'}'"
    )
    assert not (tmp_path / "gone").exists()


def test_paths_users_give_name_the_real_cause(tmp_path, capsys):
    (tmp_path / "cfg.toml").mkdir()
    assert_main_refuses(
        visualize.main, ["--config", str(tmp_path / "cfg.toml")], capsys, "config file", "is a directory"
    )
    (tmp_path / "w.h5").symlink_to(tmp_path / "nowhere.h5")
    argv = ["--weights", str(tmp_path / "w.h5"), "--layers", "block1_conv1", "--out", str(tmp_path / "r")]
    assert_main_refuses(visualize.main, argv, capsys, "broken symbolic link", "nowhere.h5")
    argv = ["--config", str(tmp_path / "missing" / "s.toml")]
    missing = f"the folder '{tmp_path / 'missing'}'"
    assert_main_refuses(sweep_command.main, argv, capsys, "sweep file", "does not exist", missing)


ARGS = ["--layers", "block1_conv1,block2_conv1", "--filters", "0:2", "--size", "24", "--steps", "2"]
LEAN = ["--set", "output.quality=false", "--set", "output.atlas=false", "--set", "output.progress=false"]


@pytest.mark.slow
def test_an_unusable_compilation_cache_says_so_once(tmp_path, weights_path):
    cache = tmp_path / "xla"
    first = script("visualize", *ARGS, *LEAN, "--weights", str(weights_path), "--out", str(tmp_path / "a"),
                   env={"JAXVIZ_COMPILE_CACHE": str(cache)})  # fmt: skip
    assert first.returncode == 0, first.stderr
    entries = [f for f in cache.iterdir() if f.is_file()]
    assert len(entries) > 3
    for f in entries:
        f.write_bytes(b"not a compiled program")  # corrupted
    p = script("visualize", *ARGS, *LEAN, "--weights", str(weights_path), "--out", str(tmp_path / "b"),
               env={"JAXVIZ_COMPILE_CACHE": str(cache)})  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert "persistent compilation cache" not in p.stderr  # JAX's own warning, once per program, is gone
    said = [ln for ln in p.stderr.splitlines() if "compilation cache" in ln]
    assert len(said) == 1 and said[0].startswith("jaxviz: warning: ") and "cannot read" in said[0], p.stderr
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    p = script("visualize", *ARGS, *LEAN, "--weights", str(weights_path), "--out", str(tmp_path / "c"),
               env={"JAXVIZ_COMPILE_CACHE": str(blocker / "xla")})  # fmt: skip
    assert p.returncode == 0, p.stderr
    said = [ln for ln in p.stderr.splitlines() if "compilation cache" in ln]
    assert len(said) == 1 and "cannot be used" in said[0] and "ENOTDIR" in said[0], p.stderr


def test_a_fifo_or_a_pipe_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "weights.h5"
    os.mkfifo(fifo)
    for args in (
        ["--config", str(fifo)],
        ["--weights", str(fifo), "--layers", "block1_conv1", "--out", str(tmp_path / "r")],
    ):
        p = script("visualize", *args, timeout=60)  # opening a FIFO without a writer would wait forever
        assert_one_line_error(p.returncode, p.stderr, "is a named pipe (FIFO), not a regular file")


@pytest.mark.slow
def test_a_compilation_cache_that_is_a_file_says_so(tmp_path, weights_path):
    blocker = tmp_path / "cache"
    blocker.write_text("")
    p = script("visualize", *ARGS, *LEAN, "--weights", str(weights_path), "--out", str(tmp_path / "r"),
               env={"JAXVIZ_COMPILE_CACHE": str(blocker)})  # fmt: skip
    said = [ln for ln in p.stderr.splitlines() if "compilation cache" in ln]
    assert p.returncode == 0 and len(said) == 1 and "it is a file, not a directory" in said[0], p.stderr
