"""How many images go in one forward pass (`--batch 0`): from device memory on accelerators, small on CPU.

The one rule of jaxviz.runtime.device_fit, as for the ascent's chunks: activation bytes per image against the memory
XLA may allocate, a power of two per device (few compiled shapes), a multiple of the local devices.
"""

from __future__ import annotations

from collections.abc import Sequence

from jaxviz.model.network import VGG16, Network
from jaxviz.runtime.device_fit import memory_limit, per_device, round_up

# Measured on 2 busy CPU cores, 224 px to block3_conv3: 2 to 16 images per batch all ran at 3-6 images/s
# (within the noise), at 128 px 1-2 per batch ran ~10% faster than 8 and 16 slower: small, as before.
CPU_BATCH = 8
SAFETY = 0.5  # of the device's bytes_limit: room for the params, the compiled program and XLA's own buffers
MOST_PER_DEVICE = 256  # past this the decoding threads, not the device, are the limit, and the (C, K+B) sort grows


def bytes_per_image(layers: Sequence[str], size: int, network: Network = VGG16) -> int:
    """Rough peak bytes of one image's forward pass to the deepest of `layers` at `size` px (float32).

    A VGG (`network`, VGG16 unless told): every conv map up to the deepest layer counted twice (its conv output
    and its ReLU live together for a moment; the requested layers' maps are kept until the top-K), plus the uint8
    and float32 input. Any other network: two fifths of its `bytes_per_image` (which counts five copies of every
    map, for an ascent's forward and backward), plus the input.
    """
    deepest = max(layers, key=network.layers.index)
    architecture = getattr(network, "architecture", None)
    if network.family != "vgg" or architecture is None:
        return 2 * (network.bytes_per_image(deepest, size) - 4 * size * size * 3 * 4) // 5 + (1 + 4) * size * size * 3
    maps = sum(side * side * cout for _, side, _, cout in architecture.conv_geometry(deepest, size))
    return 2 * 4 * maps + (1 + 4) * size * size * 3


def auto_batch(layers: Sequence[str], size: int, n_devices: int, budget: int | None, network: Network = VGG16) -> int:
    """Images per forward pass over `n_devices` devices: `budget` (bytes each device may use; None: CPU, or a
    device that does not report its memory) -> the largest power of two per device that fits (at least one,
    at most MOST_PER_DEVICE), times the devices; None -> CPU_BATCH rounded up to a multiple of the devices."""
    if budget is None:
        return round_up(CPU_BATCH, n_devices)
    return per_device(budget, bytes_per_image(layers, size, network), MOST_PER_DEVICE) * n_devices


def device_budget(devices: Sequence) -> int | None:
    """Bytes one forward pass may use on each of `devices`: SAFETY x the first one's bytes_limit; None on CPU
    (which reports no limit that means anything for a batch) or where memory_stats says nothing."""
    limit = memory_limit(devices[0])
    return None if limit is None else int(limit * SAFETY)


def pick_batch(batch: int, layers: Sequence[str], size: int, devices: Sequence, network: Network = VGG16) -> int:
    """`batch` rounded up to a multiple of the devices (the padding rows are masked), or for 0 `auto_batch`
    with this machine's budget (for `network`'s maps, VGG16's unless told)."""
    if batch:
        return round_up(batch, len(devices))
    return auto_batch(layers, size, len(devices), device_budget(devices), network)
