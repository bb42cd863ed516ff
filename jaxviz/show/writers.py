"""Metric writers with one small interface (as CommonLoopUtils): TensorBoard event files, or nothing.

Events are written by the calling thread, under a lock (the live grids come from a thread of their own),
with tensorboardX's summaries and record framing and no writer thread of tensorboardX's: an OS failure (disk
full, quota, read-only) then surfaces as one WriteError in the thread that wrote, and the event file is cut
back to its last complete flush, instead of a traceback in a worker thread and a writer that blocks forever
on its full queue.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxviz.errors import WriteError
from jaxviz.runtime.files import writing


class NullWriter:
    """Accepts everything, writes nothing (TensorBoard off, or a process other than 0)."""

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None: ...

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None: ...

    def write_texts(self, step: int, texts: Mapping[str, str]) -> None: ...

    def write_hparams(self, step: int, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


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


class TensorBoardWriter(NullWriter):
    """One new event file in `logdir`, flushed at most every `flush_secs` so a live `tensorboard` sees progress."""

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
        self._lock = threading.RLock()
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
        with self._lock, self._guard():  # the live-grid thread writes too: one record at a time
            self._records.write(data)
        if time.monotonic() - self._last_flush >= self._flush_secs:
            self.flush()

    def _summary(self, step: int, summary: Any) -> None:
        self._emit(self._event(wall_time=time.time(), step=int(step), summary=summary))

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        from tensorboardX.summary import scalar

        for tag, value in scalars.items():
            self._summary(step, scalar(tag, float(value)))

    def write_images(self, step: int, images: Mapping[str, np.ndarray]) -> None:
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
        of a sweep declares the same columns; NaN values are left out rather than logged.
        """
        from tensorboardX.summary import hparams as hparams_summary

        for summary in hparams_summary(dict(hparams), {tag: 0.0 for tag in metrics}):
            self._summary(step, summary)
        self.write_scalars(step, {tag: v for tag, v in metrics.items() if v == v})

    def flush(self) -> None:
        with self._lock, self._guard():
            self._records.flush()
            self._good = self.path.stat().st_size
            self._last_flush = time.monotonic()

    def close(self) -> None:
        self.flush()
        with self._guard():
            self._records.close()
