"""JAX, jax.numpy and optax bound to names that import on first use.

The ascent's name tables (parameterisations, transforms, objective terms, optimisers, normalisers, schedules)
are what a config is checked against and what a run's plan is built from. Checking must answer in about a
second (every --help, every bad argument or config), while importing JAX takes 3-10 s on a small CPU. The
modules holding those tables bind `jax`, `jnp` and `optax` from here: their factories, which build JAX
computations, import JAX when first called; looking up a name or parsing a spec never does.
(The same idea as scientific Python's lazy_loader, in the few lines jaxviz needs.)
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["LazyModule", "jax", "jnp", "optax"]


class LazyModule:
    """A stand-in for the module `name`: the first attribute read imports it, later reads go straight to it."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        # Only called for names this object does not have itself: everything of the real module.
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        state = "imported" if self._module is not None else "not imported yet"
        return f"<lazy module {self._name!r} ({state})>"


jax = LazyModule("jax")
jnp = LazyModule("jax.numpy")
optax = LazyModule("optax")
