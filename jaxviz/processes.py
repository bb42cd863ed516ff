"""Which process this is among several (jax.distributed), its share of a list, and barriers: what a job's
loop needs, with no knowledge of configs or command lines (jaxviz.run.distributed joins the processes)."""

from __future__ import annotations

import itertools

from jaxviz.errors import JaxvizError
from jaxviz.jax_internals import wait_at_barrier


def process() -> tuple[int, int]:
    """(this process's index, the number of processes)."""
    import jax

    return jax.process_index(), jax.process_count()


def share(items: list[int], index: int, count: int) -> list[int]:
    """This process's contiguous, deterministic share of `items` (sizes differ by at most one)."""
    n = len(items)
    return items[index * n // count : (index + 1) * n // count]


_BARRIERS = itertools.count()


def barrier(name: str, timeout_s: int) -> None:
    """Wait until every process has reached `name`; a no-op for a single process."""
    import jax

    if jax.process_count() == 1:
        return
    # Every process passes the same barriers in the same order, so a counter keeps names unique.
    unique = f"{name}#{next(_BARRIERS)}"
    try:
        wait_at_barrier(unique, timeout_s)
    except Exception as e:  # the runtime raises its own status types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise JaxvizError(f"waiting for the other processes at {name!r} failed: {first}") from None
