"""How many filters go in one compiled batch: the ascent's memory per image and budget, by the one rule of
jaxviz.runtime.device_fit."""

from __future__ import annotations

from jaxviz.model.network import VGG16, Network
from jaxviz.runtime.device_fit import free_host_memory, memory_limit, next_power_of_two, per_device

CPU_CHUNK_CAP = 1  # measured: on XLA:CPU one image at a time is fastest (cache); batching pays on GPUs


def bytes_per_image(
    layer: str, size: int, precision: str = "float32", images: int = 1, network: Network = VGG16
) -> int:
    """Rough peak memory (bytes) of one filter's forward + backward up to `layer` of `network` for `images` images
    of `size` px (Network.bytes_per_image)."""
    return network.bytes_per_image(layer, size, precision, images)


def device_budget(n_devices: int = 1) -> tuple[int, int]:
    """(bytes one chunk may use per device, most filters per device) for this process's devices.

    Accelerators: half of what XLA may allocate, up to 4096 filters. CPU: a third of the free memory shared
    by the devices, one filter per device (measured fastest there).
    """
    limit = memory_limit()
    if limit is not None:
        return limit // 2, 4096
    return free_host_memory() // (3 * n_devices), CPU_CHUNK_CAP


def auto_chunk(
    layer: str,
    size: int,
    n_filters: int,
    n_devices: int = 1,
    precision: str = "float32",
    images: int = 1,
    budget: tuple[int, int] | None = None,
    network: Network = VGG16,
) -> int:
    """Filters per chunk: a power of two per device (`shape_of`) within `budget` = (bytes per device, most
    filters per device), default `device_budget`, and no larger than `n_filters` needs.

    Powers of two keep the set of chunk shapes, so of compiled programs, small: a whole-network run compiles
    at most log2(chunk) + 1 shapes per layer and stage, and their compiles are reused from the cache.
    """
    per_bytes, cap = budget or device_budget(n_devices)
    fits = per_device(per_bytes, bytes_per_image(layer, size, precision, images, network), cap)
    return min(fits * n_devices, shape_of(n_filters, n_devices))


def shape_of(n_filters: int, n_devices: int = 1) -> int:
    """The batch shape `n_filters` filters run in: the next power of two per device, times the devices."""
    return next_power_of_two(-(-n_filters // n_devices)) * n_devices
