"""Metric writers behind one interface (CommonLoopUtils' `metric_writers.MetricWriter`): TensorBoard event files,
nothing, or either of them run on a thread of its own.

`MetricWriter` is an abstract base: a writer that leaves out one of its methods cannot be constructed (a subclass
of a do-nothing writer would silently drop what it forgot). `AsyncWriter` wraps one and does its work on its own
thread, in the order asked: building and PNG-encoding a 512-tile grid takes seconds on a CPU, and done inline
every live snapshot stalled the ascent.

TensorBoard events are written with tensorboardX's summaries and record framing and no writer thread of
tensorboardX's: an OS failure (disk full, quota, read-only) then surfaces as one WriteError in the thread that
wrote (handed on to the main thread by AsyncWriter), and the event file is cut back to its last complete flush,
instead of a traceback in a worker thread and a writer that blocks forever on its full queue.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import math
import os
import queue
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxviz.errors import WriteError
from jaxviz.runtime.files import writing

Images = Mapping[str, np.ndarray]  # tag -> (H, W, 3) uint8 image, or (H, W, 4) RGBA (an image with its alpha)


class MetricWriter(abc.ABC):
    """Where a run's numbers and pictures go, by TensorBoard step (CommonLoopUtils' MetricWriter, less what jaxviz
    never writes: audio, video, histograms). Every method is abstract but `offer_images`."""

    @abc.abstractmethod
    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """One value per tag at `step`; a non-finite value may be left out (TensorBoard cannot plot it)."""

    @abc.abstractmethod
    def write_images(self, step: int, images: Images) -> None:
        """One (H, W, 3) uint8 image per tag at `step`, or (H, W, 4) RGBA: TensorBoard shows its transparency."""

    @abc.abstractmethod
    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        """One Markdown text per tag at `step`."""

    @abc.abstractmethod
    def write_hparams(self, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """The run's settings (`hparams`) and the metric tags that compare runs by them, with their values."""

    @abc.abstractmethod
    def flush(self) -> None:
        """Everything written so far on disk (or wherever it goes)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Flush and release the writer; nothing is written after."""

    def offer_images(self, step: int, make: Callable[[], Images]) -> bool:
        """Images worth writing only if they cost the caller nothing (a live snapshot): `make()` builds them. This
        writer builds and writes them at once; AsyncWriter on its thread, or not at all while an earlier offer
        still waits; NullWriter never calls `make`. Returns whether they were (or will be) written."""
        self.write_images(step, make())
        return True


class NullWriter(MetricWriter):
    """Accepts everything, writes nothing (TensorBoard off, or a process other than 0)."""

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        pass

    def write_images(self, step: int, images: Images) -> None:
        pass

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        pass

    def write_hparams(self, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def offer_images(self, step: int, make: Callable[[], Images]) -> bool:
        return False  # nothing would see them: not even built


def logged_steps(logdir: str | Path) -> dict[str, int]:
    """Tag -> the highest step any event file directly in `logdir` holds for it (what TensorBoard shows).

    Reads the TFRecord framing (8-byte length, 4-byte CRC, data, 4-byte CRC) and parses each record as an
    Event; a record cut short by a crash ends that file. Raises nothing for missing or foreign files.
    """
    from tensorboardX.proto import event_pb2

    steps: dict[str, int] = {}
    for path in sorted(Path(logdir).glob("*tfevents*")):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        at = 0
        while at + 12 <= len(data):
            (length,) = struct.unpack_from("<Q", data, at)
            end = at + 12 + length + 4
            if end > len(data):
                break
            try:
                event = event_pb2.Event.FromString(data[at + 12 : end - 4])
            except Exception:  # protobuf's DecodeError: a foreign or damaged record ends the file
                break
            for value in event.summary.value:
                steps[value.tag] = max(steps.get(value.tag, -1), event.step)
            at = end
    return steps


class TensorBoardWriter(MetricWriter):
    """One new event file in `logdir`, flushed at most every `flush_secs` so a live `tensorboard` sees progress.

    Raises WriteError (one line naming the file) when the OS refuses a write, the file cut back to its last
    complete flush first."""

    def __init__(self, logdir: str | Path, flush_secs: float = 10.0):
        from tensorboardX.proto import event_pb2
        from tensorboardX.record_writer import RecordWriter

        self._event = event_pb2.Event
        stamp, host, n = int(time.time()), socket.gethostname(), 0
        while True:  # tensorboardX names files by the second: a quick resume would overwrite the last one
            self.path = Path(logdir) / f"events.out.tfevents.{stamp}.{host}.{os.getpid()}.{n}"
            if not self.path.exists():
                break
            n += 1
        self._good = 0  # bytes of the file known to be on disk, complete
        self._lock = threading.RLock()  # one record at a time, whichever thread writes
        self._flush_secs, self._last_flush = flush_secs, time.monotonic()
        with self._guard():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._records = RecordWriter(str(self.path))
        self._emit(self._event(wall_time=time.time(), file_version="brain.Event:2"))
        self.flush()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """files.writing (an OSError becomes one WriteError naming the file), cutting the file back first."""
        try:
            with writing(self.path):
                yield
        except WriteError:
            self._cut_back()
            raise

    def _cut_back(self) -> None:
        """Leave only what was completely flushed: no half record for TensorBoard to stumble on. The file is
        closed first, so bytes still buffered cannot land after the cut (the writer is done for anyway)."""
        with contextlib.suppress(OSError, AttributeError):  # no records writer yet, or its buffer cannot flush
            self._records.close()
        with contextlib.suppress(OSError):  # the folder itself vanished or turned read-only: nothing more to undo
            os.truncate(self.path, self._good)

    def _emit(self, event: Any) -> None:
        data = event.SerializeToString()
        with self._lock, self._guard():
            self._records.write(data)
        if time.monotonic() - self._last_flush >= self._flush_secs:
            self.flush()

    def _summary(self, step: int, summary: Any) -> None:
        self._emit(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        """Non-finite values are left out: TensorBoard cannot plot them, and tensorboardX would log "NaN or Inf
        found in input tensor." on standard error for each (a run whose filters all went non-finite printed it
        over and over, reading like a crash)."""
        from tensorboardX.summary import scalar

        for tag, value in scalars.items():
            if math.isfinite(value := float(value)):
                self._summary(step, scalar(tag, value))

    def write_images(self, step: int, images: Images) -> None:
        from tensorboardX.summary import image

        for tag, img in images.items():
            self._summary(step, image(tag, np.asarray(img), dataformats="HWC"))

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        from tensorboardX.summary import text

        for tag, value in texts.items():
            self._summary(step, text(tag, value))

    def write_hparams(self, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        """The HParams dashboard's session for this run: `hparams` and the `metrics` it lists as columns.

        A metric without a value (a layer this run did not visualise) is declared all the same, so every run
        of a sweep declares the same columns; NaN values are left out rather than logged (write_scalars).
        """
        from tensorboardX.summary import hparams as hparams_summary

        for summary in hparams_summary(dict(hparams), {tag: 0.0 for tag in metrics}):
            self._summary(step, summary)
        self.write_scalars(step, metrics)

    def flush(self) -> None:
        with self._lock, self._guard():
            self._records.flush()
            self._good = self.path.stat().st_size
            self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        with self._guard():
            self._records.close()


class AsyncWriter(MetricWriter):
    """`writer`'s work on a thread of its own, in the order it was asked for (CommonLoopUtils' AsyncWriter); no
    write call waits for it, `flush` and `close` do.

    `offer_images` is the live snapshot: its images are built by the thread too, and an offer made while an
    earlier one still waits to start is skipped (counted in `skipped`), never waited for: a slow writer costs
    live pictures, never steps. A write that failed in the thread is raised by the next call made here (the run's
    error, not the thread's), and nothing more is written after it. Images and values handed over must not change
    afterwards (the caller passes copies it no longer touches).
    """

    def __init__(self, writer: MetricWriter):
        self._writer = writer
        self._jobs: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._failed = False
        self._closed = False
        self._offered = 0  # offers queued and not started yet: at most one
        self._offers = threading.Lock()
        self.skipped = 0  # offers dropped because an earlier one was still waiting
        self._thread = threading.Thread(target=self._work, name="jaxviz-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if not self._failed:
                    job()
            except BaseException as e:  # noqa: BLE001  (handed to the main thread, which raises it)
                self._error, self._failed = e, True
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _put(self, job: Callable[[], None]) -> None:
        self._raise()
        if self._closed:
            raise RuntimeError("AsyncWriter: written to after close()")
        self._jobs.put(job)

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self._put(functools.partial(self._writer.write_scalars, step, dict(scalars)))

    def write_images(self, step: int, images: Images) -> None:
        self._put(functools.partial(self._writer.write_images, step, dict(images)))

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None:
        self._put(functools.partial(self._writer.write_texts, step, dict(texts)))

    def write_hparams(self, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        self._put(functools.partial(self._writer.write_hparams, step, dict(hparams), dict(metrics)))

    def offer_images(self, step: int, make: Callable[[], Images]) -> bool:
        """Queue `make()`'s images (built on the thread) unless an earlier offer has not started; whether queued.
        Raises the error an earlier write raised."""
        self._raise()
        with self._offers:
            if self._offered:
                self.skipped += 1
                return False
            self._offered += 1

        def job() -> None:
            with self._offers:
                self._offered -= 1
            self._writer.write_images(step, make())

        try:
            self._put(job)
        except BaseException:
            with self._offers:
                self._offered -= 1
            raise
        return True

    def flush(self) -> None:
        """Wait for everything asked so far, flush the writer; raise the error a write raised."""
        self._put(self._writer.flush)
        self._jobs.join()
        self._raise()

    def close(self) -> None:
        """Finish what was asked, close the writer (not after a failed write: it is done for) and stop the thread;
        raise the error a write raised. Closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        self._jobs.put(self._writer.close)  # skipped by the thread once a write has failed
        self._jobs.put(None)
        self._thread.join()
        self._raise()
