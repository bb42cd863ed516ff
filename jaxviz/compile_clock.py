"""Seconds this process has spent compiling, from JAX's public monitoring events (no private modules).

Compiling is a fixed cost per program, not per filter: a progress estimate or a throughput figure that
folds it into the rate is wrong by orders of magnitude on short runs (a 7 s compile against 2 ms steps).
"""

from __future__ import annotations

import threading

# Tracing, lowering to MLIR and XLA's compile: what a first call waits for before it runs.
EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
_lock = threading.Lock()
_total = [0.0]
_registered = [False]


def _listen(event: str, duration: float, **_: object) -> None:
    if event in EVENTS:
        with _lock:
            _total[0] += duration


def seconds() -> float:
    """Compile seconds in this process since the first call of this function (registers the listener once)."""
    if not _registered[0]:
        import jax.monitoring

        with _lock:
            if not _registered[0]:
                jax.monitoring.register_event_duration_secs_listener(_listen)
                _registered[0] = True
    with _lock:
        return _total[0]
