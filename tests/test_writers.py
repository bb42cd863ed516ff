"""The writers' one interface: every writer implements all of it, the async wrapper keeps the ascent free (a pending
snapshot is skipped, never waited for; order kept; a failed write raised in the caller's thread), and non-finite
scalars never reach tensorboardX."""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from jaxviz.errors import WriteError
from jaxviz.show.writers import AsyncWriter, MetricWriter, NullWriter, TensorBoardWriter, logged_steps


class Recorder(MetricWriter):
    """Records each call; `gate` (when set) holds write_images until the test opens it."""

    def __init__(self, fail_on: str = ""):
        self.calls: list[tuple] = []
        self.fail_on, self.gate, self.started = fail_on, None, threading.Event()

    def _call(self, *call) -> None:
        if call[0] == self.fail_on:
            raise WriteError(f"cannot write events: {self.fail_on} failed")
        self.calls.append(call)

    def write_scalars(self, step, scalars):
        self._call("scalars", step, dict(scalars))

    def write_images(self, step, images):
        self.started.set()
        if self.gate is not None:
            self.gate.wait(10)
        self._call("images", step, sorted(images))

    def write_texts(self, step, texts):
        self._call("texts", step, dict(texts))

    def write_hparams(self, step, hparams, metrics):
        self._call("hparams", step, dict(hparams), dict(metrics))

    def flush(self):
        self._call("flush")

    def close(self):
        self._call("close")


def test_a_writer_that_leaves_out_a_method_cannot_be_made():
    class Forgetful(MetricWriter):  # no write_texts: a subclass of a do-nothing writer would drop them silently
        def write_scalars(self, step, scalars): ...
        def write_images(self, step, images): ...
        def write_hparams(self, step, hparams, metrics): ...
        def flush(self): ...
        def close(self): ...

    with pytest.raises(TypeError, match="write_texts"):
        Forgetful()
    for writer in (NullWriter(), AsyncWriter(NullWriter()), Recorder()):
        assert isinstance(writer, MetricWriter)


def test_the_async_writer_keeps_order_skips_a_pending_snapshot_and_never_blocks():
    inner = Recorder()
    inner.gate = threading.Event()
    writer = AsyncWriter(inner)
    made = []

    def snapshot(step):
        def make():
            made.append(step)
            return {"grid": np.zeros((2, 2, 3), np.uint8)}

        return make

    assert writer.offer_images(1, snapshot(1))  # taken by the thread at once, then held at the gate
    assert inner.started.wait(10)
    writer.write_scalars(2, {"a": 1.0})  # queued behind it: does not wait
    assert writer.offer_images(3, snapshot(3))  # one offer may wait...
    assert not writer.offer_images(4, snapshot(4))  # ...a second is skipped, never waited for (nor built)
    assert writer.skipped == 1
    inner.gate.set()
    writer.write_texts(5, {"config": "x"})
    writer.flush()
    assert [c[:2] for c in inner.calls] == [("images", 1), ("scalars", 2), ("images", 3), ("texts", 5), ("flush",)]
    assert made == [1, 3]
    writer.close()
    writer.close()  # twice: nothing more
    assert inner.calls[-1] == ("close",) and [c[0] for c in inner.calls].count("close") == 1


def test_a_null_writer_builds_no_snapshot():
    assert not NullWriter().offer_images(0, lambda: pytest.fail("built a grid nobody sees"))


def test_a_failed_write_in_the_thread_is_raised_by_the_next_call_and_nothing_follows_it():
    inner = Recorder(fail_on="images")
    inner.gate = threading.Event()
    writer = AsyncWriter(inner)
    writer.write_scalars(0, {"a": 1.0})
    writer.write_images(1, {"grid": np.zeros((2, 2, 3), np.uint8)})
    assert inner.started.wait(10)
    writer.write_scalars(2, {"a": 2.0})  # queued behind the write that will fail: dropped, not written
    inner.gate.set()
    with pytest.raises(WriteError, match="images failed"):
        writer.flush()
    assert inner.calls == [("scalars", 0, {"a": 1.0})]
    writer.close()  # the error was already raised: closing stops the thread and leaves the failed writer alone
    assert ("close",) not in inner.calls

    writer = AsyncWriter(Recorder(fail_on="scalars"))
    writer.write_scalars(0, {"a": 1.0})
    with pytest.raises(WriteError):  # an error not yet raised comes with close
        writer.close()


def test_non_finite_scalars_never_reach_tensorboardx(tmp_path, caplog, capfd):
    writer = TensorBoardWriter(tmp_path)
    with caplog.at_level(logging.WARNING):
        writer.write_scalars(0, {"nan": float("nan"), "inf": np.float32(np.inf), "-inf": -np.inf, "ok": 1.5})
        writer.write_hparams(1, {"ascent.size": 32}, {"hparams/block1_conv1/activation_mean": float("nan")})
        writer.close()
    said = caplog.text + "".join(capfd.readouterr())
    assert "NaN or Inf" not in said, said
    steps = logged_steps(tmp_path)
    assert steps["ok"] == 0 and not {"nan", "inf", "-inf", "hparams/block1_conv1/activation_mean"} & set(steps)
