"""How many filters go in one compiled batch: memory per image, the device's budget, chunk sizes."""

from __future__ import annotations

import os

import jax

from jaxviz.model.architecture import conv_geometry

CPU_CHUNK_CAP = 1  # measured: on XLA:CPU one image at a time is fastest (cache); batching pays on GPUs


def bytes_per_image(layer: str, size: int, precision: str = "float32", images: int = 1) -> int:
    """Rough peak memory (bytes) of one filter's forward + backward up to `layer` for `images` images of `size` px."""
    width = 2 if precision == "bfloat16" else 4
    total = sum(side * side * cout * width for _, side, _, cout in conv_geometry(layer, size))
    return images * (5 * total + 4 * size * size * 3 * 4)  # conv, ReLU, pool, cotangents; image, optimiser


def memory_limit(device: jax.Device | None = None) -> int | None:
    """Bytes XLA may allocate on `device` (default: this process's first), from its memory_stats; None on CPU
    (whose figure means nothing for a batch) or where the device does not say."""
    device = device or jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    return int(stats["bytes_limit"]) if stats and stats.get("bytes_limit") else None


def device_budget(n_devices: int = 1) -> tuple[int, int]:
    """(bytes one chunk may use per device, most filters per device) for this process's devices.

    Accelerators: half of what XLA may allocate, up to 4096 filters. CPU: a third of the free memory shared
    by the devices, one filter per device (measured fastest there).
    """
    limit = memory_limit()
    if limit is not None:
        return limit // 2, 4096
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES") // (3 * n_devices), CPU_CHUNK_CAP


def auto_chunk(
    layer: str,
    size: int,
    n_filters: int,
    n_devices: int = 1,
    precision: str = "float32",
    images: int = 1,
    budget: tuple[int, int] | None = None,
) -> int:
    """Filters per chunk: a power of two per device (`shape_of`) within `budget` = (bytes per device, most
    filters per device), default `device_budget`, and no larger than `n_filters` needs.

    Powers of two keep the set of chunk shapes, so of compiled programs, small: a whole-network run compiles
    at most log2(chunk) + 1 shapes per layer and stage, and their compiles are reused from the cache.
    """
    per_bytes, cap = budget or device_budget(n_devices)
    per_device = max(1, min(cap, per_bytes // bytes_per_image(layer, size, precision, images)))
    per_device = 1 << (per_device.bit_length() - 1)  # the largest power of two that fits
    return min(per_device * n_devices, shape_of(n_filters, n_devices))


def shape_of(n_filters: int, n_devices: int = 1) -> int:
    """The batch shape `n_filters` filters run in: the next power of two per device, times the devices."""
    per_device = -(-n_filters // n_devices)
    return (1 << (per_device - 1).bit_length()) * n_devices


def round_up(n: int, multiple: int) -> int:
    """The least multiple of `multiple` that is >= n."""
    return -(-n // multiple) * multiple
