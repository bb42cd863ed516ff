"""When the machine, not the user, fails: an OS error while writing is one line, leaves no part-file, and resumes."""

from __future__ import annotations

import errno
import os

import pytest

from jaxviz.cli import visualize as cli_visualize

FAULTS = {
    errno.ENOSPC: "No space left on device",
    errno.EDQUOT: "Disk quota exceeded",
    errno.EACCES: "Permission denied",
    errno.EROFS: "Read-only file system",
}


class _Failing:
    """A file whose writes fail with `code` (as a full disk fails them: partway, after some bytes), once `after`
    writes went through."""

    def __init__(self, real, code: int, after: int = 0):
        self.real, self.code, self.after = real, code, after

    def write(self, data):
        if self.after > 0:
            self.after -= 1
            return self.real.write(data)
        self.real.write(data[: len(data) // 2])  # half of it reached the disk
        raise OSError(self.code, os.strerror(self.code))

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def _inject(monkeypatch, where: str, code: int, after: int = 0) -> None:
    """Fail every write to a path containing `where` (atomic writes and TensorBoard's event files alike), once
    `after` writes to it went through."""
    import tensorboardX.record_writer as records

    import jaxviz.runtime.files as files

    real_fdopen, real_open_file = os.fdopen, records.open_file

    def fdopen(fd, *args, **kwargs):
        path = os.readlink(f"/proc/self/fd/{fd}")  # the temporary file, named after its target
        f = real_fdopen(fd, *args, **kwargs)
        return _Failing(f, code, after) if where in path else f

    def open_file(path):
        f = real_open_file(path)
        return _Failing(f, code, after) if where in path else f

    monkeypatch.setattr(files.os, "fdopen", fdopen)
    monkeypatch.setattr(records, "open_file", open_file)


def _visualize(out, weights, *extra) -> int:
    args = ["--layers", "block1_conv1", "--filters", "0:4", "--size", "32", "--steps", "2", "--weights", str(weights)]
    args += [
        "--out",
        str(out),
        "--set",
        "ascent.chunk=2",
        "--set",
        "output.quality=false",
        "--set",
        "output.progress=false",
    ]
    args += extra
    with pytest.raises(SystemExit) as e:
        cli_visualize.main(args)
    return e.value.code


@pytest.fixture(scope="module")
def reference(tmp_path_factory, weights_path):
    out = tmp_path_factory.mktemp("reference") / "r"
    assert _visualize(out, weights_path, "--set", "output.atlas=false") == 0
    return (out / "block1_conv1.png").read_bytes()


@pytest.mark.parametrize(
    ("where", "code", "atlas", "after"),
    [
        ("0002-0003.npz", errno.ENOSPC, False, 0),  # the second chunk
        ("block1_conv1.png", errno.EDQUOT, False, 0),  # the grid
        ("metrics.json", errno.EROFS, False, 0),
        ("tfevents", errno.ENOSPC, False, 0),  # TensorBoard's event file, as it is made
        # Its third record (4 writes each): the first live scalar, written by the writer's own thread.
        ("tfevents", errno.ENOSPC, False, 8),
        ("atlas/layers", errno.EACCES, True, 0),  # a page of the atlas
    ],
    ids=["chunk", "grid", "metrics", "events", "events-in-thread", "atlas"],
)
def test_a_failed_write_is_one_line_and_a_rerun_resumes(
    tmp_path, weights_path, monkeypatch, capsys, reference, where, code, atlas, after
):
    out = tmp_path / "r"
    flags = ["--set", f"output.atlas={'true' if atlas else 'false'}"]
    _inject(monkeypatch, where, code, after)
    assert _visualize(out, weights_path, *flags) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("jaxviz: error: cannot write "), err
    assert where.split("/")[-1] in err[0] and FAULTS[code] in err[0] and "Traceback" not in err[0], err
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no part-file left behind
    for events in out.glob("*tfevents*"):  # cut back to whole records: TensorBoard reads every one of them
        size, at = events.stat().st_size, 0
        data = events.read_bytes()
        while at < size:
            at += 12 + int.from_bytes(data[at : at + 8], "little") + 4
        assert at == size, (events.name, at, size)
    monkeypatch.undo()
    assert _visualize(out, weights_path, *flags) == 0  # the rerun resumes and finishes
    assert (out / "block1_conv1.png").read_bytes() == reference
    assert len(list((out / "state" / "block1_conv1").glob("*.npz"))) == 2


class _FullOnFlush:
    """A buffered file on a full disk: writes land in its buffer; flush and close (which flushes) fail."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        return len(data)

    def flush(self):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def close(self):
        self.real.close()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fileno(self):
        return self.real.fileno()


@pytest.mark.parametrize("block_fails", [False, True])
def test_a_full_disk_found_at_close_names_the_file_and_leaves_nothing(tmp_path, monkeypatch, block_fails):
    import jaxviz.runtime.files as files
    from jaxviz.errors import WriteError

    real_fdopen = os.fdopen
    monkeypatch.setattr(files.os, "fdopen", lambda fd, *a, **k: _FullOnFlush(real_fdopen(fd, *a, **k)))
    target = tmp_path / "metrics.json"
    expected = (ValueError, "the block's own") if block_fails else (WriteError, f"cannot write {target}")
    with pytest.raises(expected[0]) as e:
        with files.atomic_file(target) as f:
            f.write(b"x" * 100)
            if block_fails:
                raise ValueError("the block's own")
    assert expected[1] in str(e.value) and ("disk is full" in str(e.value) or block_fails)
    assert os.listdir(tmp_path) == []  # no part-file, no target
