"""The only place jaxviz touches JAX's private modules (jax._src), each use with a public fallback.

JAX moves its internals between releases (an accelerator machine may run a newer JAX than this one):
when a private name is gone, jaxviz keeps working with the fallback and loses only a convenience.
"""

from __future__ import annotations

import os

# Environment variables by which JAX's own cluster detection recognises a job (the fallback's list).
_CLUSTER_VARIABLES = ("SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "OMPI_COMM_WORLD_SIZE", "TPU_WORKER_HOSTNAMES")


def cluster_detected() -> bool:
    """Whether JAX's auto-detection would find a cluster (SLURM, Open MPI, a TPU pod, ...).

    Uses JAX's own list of cluster types (jax._src.clusters); without it, the environment variables those
    types look for.
    """
    try:
        from jax._src import clusters

        types = clusters.ClusterEnv._cluster_types
        return any(c.is_env_present() for c in types if c.opt_in_only_method is False)
    except (ImportError, AttributeError):
        return any(os.environ.get(v) for v in _CLUSTER_VARIABLES)


def wait_at_barrier(name: str, timeout_s: int) -> None:
    """Block until every process reaches barrier `name`, at most `timeout_s` seconds (the runtime raises then).

    Uses the distributed runtime's client, which has a timeout (jax._src.distributed); without it, the
    public multihost_utils barrier, which waits as long as it takes.
    """
    client = _client()
    if client is None:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    client.wait_at_barrier(name, timeout_s * 1000)


def _client():
    try:
        from jax._src import distributed

        return distributed.global_state.client
    except (ImportError, AttributeError):
        return None


def tell_all(key: str, text: str | None, timeout_s: int) -> str:
    """Process 0's `text` on every process of a multi-process job: process 0 passes it (and gets it back),
    the others pass None and wait up to `timeout_s` for it. `key` must be new for each exchange.

    Uses the distributed runtime's key-value store (jax._src.distributed); without it, the public
    multihost_utils.broadcast_one_to_all of the text's bytes (padded to a fixed length, so every process
    traces the same program).
    """
    client = _client()
    if client is not None:
        if text is not None:
            client.key_value_set(key, text)
            return text
        return client.blocking_key_value_get(key, timeout_s * 1000)
    import numpy as np
    from jax.experimental import multihost_utils

    size = 4096
    data = np.zeros(size, np.uint8)
    if text is not None:
        raw = text.encode()[:size]
        data[: len(raw)] = np.frombuffer(raw, np.uint8)
    got = np.asarray(multihost_utils.broadcast_one_to_all(data, is_source=text is not None))
    return bytes(got[got != 0]).decode(errors="replace")
