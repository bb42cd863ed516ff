"""Live grids for TensorBoard, made off the critical path: a thread builds and encodes them while the device
works, and a snapshot that would have to wait for it is skipped, never waited for.

Building a 512-tile grid and encoding it as PNG takes seconds on a CPU; done inline, every snapshot stalled the
ascent. The queue holds one snapshot: a slow writer costs live pictures, never steps.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

Job = Callable[[], None]


class LiveGrids:
    """One background thread running snapshot jobs, one at a time; `submit` never blocks."""

    def __init__(self):
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self.skipped = 0  # snapshots dropped because the previous one was still being made
        self._thread = threading.Thread(target=self._work, name="jaxviz-live-grids", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if self._error is None:
                    job()
            except BaseException as e:  # noqa: BLE001  (handed to the main thread, which raises it)
                self._error = e
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def submit(self, job: Job) -> bool:
        """Queue `job` (a closure over copies of what it shows) unless one is pending; whether it was queued.
        Raises the error a previous job raised (a failed write is the run's error, not the thread's)."""
        self._raise()
        try:
            self._jobs.put_nowait(job)
            return True
        except queue.Full:
            self.skipped += 1
            return False

    def drain(self) -> None:
        """Wait for the pending job (a layer's final grid must come after its live ones); raise its error."""
        self._jobs.join()
        self._raise()

    def close(self, raise_error: bool = True) -> None:
        """Finish the pending job and stop the thread; its error is raised unless another is already on its way."""
        self._jobs.join()
        self._jobs.put(None)
        self._thread.join()
        if raise_error:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error


def copies(images: np.ndarray) -> np.ndarray:
    """A host copy the job owns (the caller's buffers change as the ascent goes on)."""
    return np.array(images, copy=True)
