"""How much work fits a device: the one rule behind the ascent's chunks, the dataset examples' batches and the
quality passes' chunks.

The rule: the items one device takes at once are the largest power of two whose bytes fit its budget (a share of
what XLA may allocate there), within the caller's least and most; a batch over several devices is that times the
devices. Powers of two keep the set of batch shapes, so of compiled programs, small (a whole-network run compiles
at most log2(most) + 1 shapes per layer), and a shape compiled once is found again in the compilation cache.
"""

from __future__ import annotations

import os

from jaxviz.errors import JaxvizError


def memory_limit(device=None) -> int | None:
    """Bytes XLA may allocate on `device` (a jax.Device; default: this process's first), from its memory_stats; None
    on CPU (whose figure means nothing for a batch) or where the device does not say."""
    import jax

    device = device or jax.local_devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    return int(stats["bytes_limit"]) if stats and stats.get("bytes_limit") else None


def free_host_memory() -> int:
    """Bytes of the host's memory free now (what XLA:CPU allocates from)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def per_device(budget: int, item_bytes: int, most: int, least: int = 1) -> int:
    """Items one device takes at once: the largest power of two of `item_bytes`-sized items within `budget` bytes,
    and within [least, most] (least wins when even one item is over the budget: the caller halves on an
    out-of-memory error, or refuses beforehand with `check_one_fits`)."""
    fits = max(1, min(most, budget // max(item_bytes, 1)))
    return max(least, 1 << (fits.bit_length() - 1))


def next_power_of_two(n: int) -> int:
    """The least power of two >= n (1 for n <= 1): the batch shape n items run in."""
    return 1 << max(0, n - 1).bit_length()


def round_up(n: int, multiple: int) -> int:
    """The least multiple of `multiple` that is >= n (a batch split evenly over the devices)."""
    return -(-n // multiple) * multiple


def check_one_fits(item_bytes: int, what: str, setting: str) -> None:
    """Refuse (JaxvizError, one line) work of which even one item cannot fit: more bytes than XLA may allocate on
    the device, or than the host has free on CPU. `what` names the item ("one filter of block1_conv1 at 100000
    px"), `setting` what to lower. Refusing before anything starts beats an allocation that swaps for minutes or
    an out-of-memory error after the first compile."""
    limit = memory_limit()
    room, where = (limit, "the device may allocate") if limit is not None else (free_host_memory(), "are free")
    if item_bytes > room:
        raise JaxvizError(
            f"{what} needs about {item_bytes / 2**30:,.1f} GiB at once, but only {room / 2**30:,.1f} GiB {where}; "
            f"lower {setting}"
        )
