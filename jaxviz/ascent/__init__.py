"""The ascent as a library: what every filter of a VGG16 layer responds to, by gradient ascent in input space.

Inputs are explicit: a static `Spec` (layer, size, stages, upscale, precision, `Method`) keys the compile,
traced `Knobs` (step size, normaliser, seed, steps) do not. Nothing here reads a config file or writes
outputs: `jaxviz.run` translates configs into these and owns the run directory.

The names below are imported when first used (PEP 562): a config check or a plan reads `Spec`, `Method` and the
name tables without importing JAX, which the engine's modules (`engine`, `layer`, `chunk_runner`, `chunk_sizing`) need.
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module of this package that defines it. No module may be named like a name it exports: once
# imported, a submodule is an attribute of its package and would hide the lazily exported name.
_WHERE = {
    "chunk_size": "chunk_runner",
    "chunks": "chunk_runner",
    "out_of_memory": "chunk_runner",
    "DTYPES": "engine",
    "AscentResult": "engine",
    "StepKey": "engine",
    "compiled_step": "engine",
    "filter_mesh": "engine",
    "layer_params": "engine",
    "step_name": "engine",
    "LayerAscent": "layer",
    "Method": "method",
    "normalize_gradient": "optim",
    "auto_chunk": "chunk_sizing",
    "bytes_per_image": "chunk_sizing",
    "device_budget": "chunk_sizing",
    "PRECISIONS": "spec",
    "Knobs": "spec",
    "Spec": "spec",
    "stage_sizes": "spec",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value  # found once; later reads are ordinary
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
