"""What this process has spent compiling, from JAX's public monitoring events (no private modules): seconds,
and the persistent compilation cache's hits and misses.

Compiling is a fixed cost per program, not per filter: a progress estimate or a throughput figure that
folds it into the rate is wrong by orders of magnitude on short runs (a 7 s compile against 2 ms steps).
"""

from __future__ import annotations

import collections
import threading

# Tracing, lowering to MLIR and XLA's compile (or the cache's retrieval): what a first call waits for.
EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
CACHE_EVENTS = {
    "/jax/compilation_cache/cache_hits": "cache_hits",
    "/jax/compilation_cache/cache_misses": "cache_misses",
}
_lock = threading.Lock()
_total = [0.0]
_counts: collections.Counter = collections.Counter()
_registered = [False]


def _listen_duration(event: str, duration: float, **_: object) -> None:
    if event in EVENTS:
        with _lock:
            _total[0] += duration


def _listen_event(event: str, **_: object) -> None:
    if event in CACHE_EVENTS:
        with _lock:
            _counts[CACHE_EVENTS[event]] += 1


def _register() -> None:
    if not _registered[0]:
        import jax.monitoring

        with _lock:
            if not _registered[0]:
                jax.monitoring.register_event_duration_secs_listener(_listen_duration)
                jax.monitoring.register_event_listener(_listen_event)
                _registered[0] = True


def seconds() -> float:
    """Compile seconds in this process since this module first listened (registers the listeners once)."""
    _register()
    with _lock:
        return _total[0]


def cache_counts() -> dict[str, int]:
    """{"cache_hits": n, "cache_misses": n} of the persistent compilation cache since this module first listened."""
    _register()
    with _lock:
        return {name: _counts[name] for name in CACHE_EVENTS.values()}
