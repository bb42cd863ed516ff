"""Several processes on one job (jax.distributed): joining them, which process this is, its share of a list,
barriers, and one lock holder for all of them. No configs or command lines: the command line turns its flags into
a Launch, and a job's loop asks the rest.

Every process computes its own share of each layer's filters (or of a folder's images) on its local devices and
writes its own chunks into the shared run directory; process 0 waits at a barrier, then writes what is shared.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from jaxviz.errors import JaxvizError
from jaxviz.runtime import dir_lock
from jaxviz.runtime.jax_internals import cluster_detected, tell_all, wait_at_barrier


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


@dataclass(frozen=True)
class Launch:
    """Which process this is, from --coordinator/--num-processes/--process-id (all empty: detect)."""

    coordinator: str = ""
    num_processes: int | None = None
    process_id: int | None = None


def check_launch(launch: Launch) -> None:
    """Validate the flags together (before anything else runs)."""
    given = [launch.coordinator != "", launch.num_processes is not None, launch.process_id is not None]
    if any(given) and not all(given):
        raise JaxvizError("--coordinator, --num-processes and --process-id go together: give all three or none")
    if not any(given):
        return
    host, _, port = launch.coordinator.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise JaxvizError(f"--coordinator {launch.coordinator!r} is not HOST:PORT (e.g. 10.0.0.1:1234)")
    if launch.num_processes < 1:
        raise JaxvizError(f"--num-processes must be 1 or more, got {launch.num_processes}")
    if not 0 <= launch.process_id < launch.num_processes:
        raise JaxvizError(
            f"--process-id {launch.process_id} is out of range for --num-processes {launch.num_processes} "
            f"(valid: 0..{launch.num_processes - 1})"
        )


def _wait_for_coordinator(address: str, timeout: float) -> None:
    # JAX aborts the whole process (no exception) when it cannot reach the coordinator: ask first.
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
                return
        except OSError as e:
            if time.monotonic() >= deadline:
                raise JaxvizError(
                    f"cannot reach the coordinator {address} within {timeout:g} s ({e.strerror or e}); "
                    f"is process 0 running there?"
                ) from None
            time.sleep(0.5)


def _check_port_free(address: str) -> None:
    # A coordinator whose port is taken crashes inside JAX: say so plainly instead.
    port = int(address.rpartition(":")[2])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("", port))
        except OSError as e:
            raise JaxvizError(
                f"the coordinator cannot listen on port {port}: {e.strerror or e}; pick another --coordinator port"
            ) from None


def initialize(launch: Launch, initialization_timeout: int = 300, heartbeat_timeout: int = 100) -> None:
    """Join the multi-process job when one is asked for or detected; a no-op for a single process.

    Must run before any other JAX call. `initialization_timeout`: seconds to wait for every process to join (and,
    for a process other than 0, for the coordinator to listen); `heartbeat_timeout`: seconds without a heartbeat
    before a process counts as dead (the config's [distributed] table).
    """
    check_launch(launch)
    import jax

    timeouts = {"initialization_timeout": initialization_timeout, "heartbeat_timeout_seconds": heartbeat_timeout}
    if launch.coordinator:
        if launch.num_processes == 1:
            return
        if launch.process_id == 0:
            _check_port_free(launch.coordinator)
        else:
            _wait_for_coordinator(launch.coordinator, initialization_timeout)
        args = {"coordinator_address": launch.coordinator, "num_processes": launch.num_processes}
        args["process_id"] = launch.process_id
    elif os.environ.get("JAXVIZ_NO_AUTO_DISTRIBUTED") != "1" and cluster_detected():
        args = {}
    else:
        return
    try:
        jax.distributed.initialize(**args, **timeouts)
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise JaxvizError(f"could not join the multi-process job: {first}") from None
