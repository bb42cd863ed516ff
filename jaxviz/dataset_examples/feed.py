"""Decoded images into the jitted step: fixed-shape batches (padding masked), global keys, halving on OOM."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from jaxviz.ascent.chunk_runner import out_of_memory
from jaxviz.dataset_examples import sums as sums_lib
from jaxviz.dataset_examples.loader import Loaded
from jaxviz.errors import JaxvizError
from jaxviz.runtime.device_fit import round_up


class Feeder:
    """Runs `step` (topk.make_step's) on batches of `batch` images, a multiple of `n_devices`.

    On an out-of-memory error the batch is halved (still a multiple of the devices; `on_retry(new batch)` is
    told) and the images not yet merged are retried: the step does not donate the state, so it is intact.
    """

    def __init__(self, step: Callable, params, size: int, batch: int, n_devices: int,
                 on_retry: Callable[[int], None] | None = None) -> None:  # fmt: skip
        self.step, self.params, self.size = step, params, size
        self.batch, self.n_devices, self.on_retry = batch, n_devices, on_retry

    def __call__(self, state, sums: dict, good: Sequence[Loaded], keys: Sequence[int]) -> tuple:
        """(state, sums) after the images `good` with their keys (global file indices, ascending)."""
        done = 0
        while done < len(good):
            part = slice(done, done + self.batch)
            try:
                state, sums = self.one(state, sums, good[part], keys[part])
            except Exception as e:
                if not out_of_memory(e):
                    raise
                if self.batch <= self.n_devices:
                    raise JaxvizError(
                        f"out of device memory even with one image per device at {self.size} px; lower --size"
                    ) from None
                self.batch = round_up(self.batch // 2, self.n_devices)
                if self.on_retry is not None:
                    self.on_retry(self.batch)
                continue
            done += len(good[part])
        return state, sums

    def one(self, state, sums: dict, good: Sequence[Loaded], keys: Sequence[int]) -> tuple:
        """One batch (at most `batch` images), padded to the batch shape: one compiled program per shape."""
        n = len(good)
        rgb = np.zeros((self.batch, self.size, self.size, 3), np.uint8)
        rgb[:n] = [g.pixels for g in good]
        index = np.zeros(self.batch, np.int32)
        index[:n] = keys
        new, out = self.step(self.params, state, rgb, index, np.arange(self.batch) < n)
        # pulling the means waits for the device (an out-of-memory error surfaces here, inside the retry)
        added = {layer: sums_lib.add(sums[layer], np.asarray(mean)[:n], np.asarray(fires))
                 for layer, (mean, fires) in out.items()}  # fmt: skip
        return new, added
