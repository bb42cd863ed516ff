"""Several processes (machines) on one run, through JAX's own multi-controller runtime.

Every process computes its own share of each layer's filters on its local devices and writes its own
chunks into the shared run directory; process 0 waits at a barrier, then writes grids and metrics.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from jaxviz.config import DistributedConfig
from jaxviz.errors import JaxvizError
from jaxviz.jax_internals import cluster_detected
from jaxviz.processes import barrier, holding, process, share

__all__ = ["Launch", "barrier", "check_launch", "holding", "initialize", "process", "share"]


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


def initialize(launch: Launch, cfg: DistributedConfig) -> None:
    """Join the multi-process job when one is asked for or detected; a no-op for a single process.

    Must run before any other JAX call.
    """
    check_launch(launch)
    import jax

    timeouts = {
        "initialization_timeout": cfg.initialization_timeout,
        "heartbeat_timeout_seconds": cfg.heartbeat_timeout,
    }
    if launch.coordinator:
        if launch.num_processes == 1:
            return
        if launch.process_id == 0:
            _check_port_free(launch.coordinator)
        else:
            _wait_for_coordinator(launch.coordinator, cfg.initialization_timeout)
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
