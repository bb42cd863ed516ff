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
    try:
        from jax._src import distributed

        client = distributed.global_state.client
    except (ImportError, AttributeError):
        client = None
    if client is None:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    client.wait_at_barrier(name, timeout_s * 1000)
