"""Which process this is among several (jax.distributed), its share of a list, barriers, and one lock holder for
all of them: what a job's loop needs, with no knowledge of configs or command lines (jaxviz.run.distributed
joins the processes)."""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from pathlib import Path

from jaxviz import dir_lock
from jaxviz.errors import JaxvizError
from jaxviz.jax_internals import tell_all, wait_at_barrier


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


_EXCHANGES = itertools.count()


@contextlib.contextmanager
def holding(
    directory: str | Path, job: str, timeout_s: int, what: str = "run directory", advice: str = ""
) -> Iterator[None]:
    """dir_lock.holding for every process of a job, which together are one holder: process 0 takes the lock
    and tells the others whether it got it (they raise the same one-line refusal if not); they wait for that
    at most `timeout_s`. One process: dir_lock.holding itself."""
    index, count = process()
    if count == 1:
        with dir_lock.holding(directory, job, what, advice):
            yield
        return
    key = f"jaxviz-lock:{os.path.realpath(directory)}#{next(_EXCHANGES)}"  # every process counts the same calls
    if index != 0:
        refusal = tell_all(key, None, timeout_s)
        if refusal:
            raise JaxvizError(refusal)
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(dir_lock.holding(directory, job, what, advice))
        except JaxvizError as e:
            tell_all(key, str(e) or "refused", timeout_s)
            raise
        tell_all(key, "", timeout_s)
        yield
