"""The one chunk runner: a layer's filters through a LayerAscent in chunks sized for the device.

Used by runs, the notebook API, the benchmark and the preset comparison alike: chunks are sized from
device memory (or given), padded to a multiple of the device count, and halved on an out-of-memory
error (finished chunks are kept: they were already yielded).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from jaxviz.ascent.chunk_sizing import auto_chunk, shape_of
from jaxviz.ascent.engine import AscentResult
from jaxviz.ascent.layer import LayerAscent
from jaxviz.errors import JaxvizError
from jaxviz.runtime.device_fit import round_up

# on_step(part, s, activations, images): as LayerAscent's, with the chunk's filters first.
ChunkStep = Callable[[list[int], int, np.ndarray, Callable[[], np.ndarray]], None]


def out_of_memory(error: BaseException) -> bool:
    """Whether `error` is XLA running out of device memory (worth retrying with a smaller chunk)."""
    return isinstance(error, jax.errors.JaxRuntimeError) and "RESOURCE_EXHAUSTED" in str(error)


def chunk_size(engine: LayerAscent, n_filters: int, chunk: int = 0, budget: Any = None) -> int:
    """`chunk`, or the automatic size for `n_filters` filters (`auto_chunk`), as a multiple of the devices."""
    spec, n_dev = engine.spec, engine.n_devices
    # What the network is fed per filter: its k images, or with crops (MACO) k * K crops of the crop side
    crops = spec.method.crops
    side, shown = (spec.fed_side(), spec.method.images * crops) if crops else (spec.size, spec.method.images)
    size = chunk or auto_chunk(spec.layer, side, max(n_filters, 1), n_dev, spec.precision, shown, budget, spec.network)
    return round_up(size, n_dev)


def chunks(
    engine: LayerAscent,
    filters: list[int],
    chunk: int = 0,
    on_step: ChunkStep | None = None,
    on_retry: Callable[[int], None] | None = None,
    budget: Any = None,
) -> Iterator[tuple[list[int], AscentResult]]:
    """Yield (filters of the chunk, its AscentResult) until every filter of `filters` is done.

    `chunk` 0 sizes chunks from device memory (`budget` as `auto_chunk`'s). On an out-of-memory error the
    chunk is halved and retried (`on_retry(new size)` is told); at one filter per device it is a
    JaxvizError. Any other error propagates.
    """
    n_dev, size = engine.n_devices, chunk_size(engine, len(filters), chunk, budget)
    todo = list(filters)
    while todo:
        part = todo[:size]
        # An automatic chunk's last, partial batch runs in the smallest power-of-two shape that holds it.
        shape = size if chunk else min(size, shape_of(len(part), n_dev))
        step = functools.partial(on_step, part) if on_step is not None else None
        try:
            result = engine(part, shape, step)
        except Exception as e:
            if not out_of_memory(e):
                raise
            if size <= n_dev:
                raise JaxvizError(
                    f"out of device memory for {engine.layer} at {engine.spec.size} px even with one filter per "
                    f'device; lower ascent.size, or try ascent.precision="bfloat16"'
                ) from None
            size = round_up(size // 2, n_dev)
            if on_retry is not None:
                on_retry(size)
            continue
        todo = todo[len(part) :]
        yield part, result
