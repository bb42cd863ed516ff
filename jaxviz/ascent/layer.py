"""One layer's ascent over chunks of filters: params placed on the mesh once, stages, steps kept in flight."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxviz.architecture import CONV_LAYERS
from jaxviz.ascent import engine, optim
from jaxviz.ascent.engine import AscentResult, compiled_step, filter_mesh, layer_params, round_up
from jaxviz.ascent.spec import Knobs, Spec

OnStep = Callable[[int, np.ndarray, Callable[[], np.ndarray]], None]
DEFAULT_KNOBS = Knobs()


class LayerAscent:
    """Everything one layer's chunks share: params on the mesh, the spec, the knobs."""

    def __init__(self, params: dict, spec: Spec, knobs: Knobs = DEFAULT_KNOBS, mesh: Mesh | None = None):
        self.spec, self.knobs, self.layer, self.method = spec, knobs, spec.layer, spec.method
        self.mesh = mesh or filter_mesh()
        self.n_devices = self.mesh.devices.size
        self._batch = NamedSharding(self.mesh, PartitionSpec("filters"))
        self._whole = NamedSharding(self.mesh, PartitionSpec())
        self.params = jax.device_put(layer_params(params, spec.layer), self._whole)
        self.sizes = spec.sizes
        self.total = knobs.steps * spec.stages
        # Placed once: the knobs do not change within a chunk (knobs -> step size, normaliser index, total, seed).
        values = (jnp.float32(knobs.step), jnp.int32(knobs.normalizer_index()), jnp.float32(self.total))
        self._knobs = jax.device_put((*values, jnp.int32(knobs.seed)), self._whole)

    @property
    def sharding(self) -> NamedSharding:
        """How a chunk's filter axis is laid over the mesh's devices."""
        return self._batch

    def lower(self, chunk: int, stage: int = 0):
        """The step for `chunk` filters at `stage`, lowered (for XLA's cost analysis and compile timing)."""
        chunk = round_up(chunk, self.n_devices)
        filters = jax.device_put(np.zeros(chunk, np.int32), self._batch)
        state = self._init(filters, self.sizes[stage])
        step = compiled_step(self.layer, self.method, self.spec.precision, self.sizes[stage])
        return step.lower(self.params, state, filters, self._knobs, self._step(0))

    def _step(self, t: int) -> jax.Array:
        return jax.device_put(jnp.int32(t), self._whole)

    def _init(self, filters: jax.Array, side: int):
        init = engine.init_state(self.method, side)
        return jax.device_put(init(self.knobs.seed, CONV_LAYERS.index(self.layer), filters), self._batch)

    def __call__(self, filters: list[int], chunk: int | None = None, on_step: OnStep | None = None) -> AscentResult:
        """Ascend `filters` as one batch, padded to `chunk` (and to a multiple of the device count).

        `on_step(s, activations, images)` runs for s = 1..stages*steps with the real filters'
        activations before update s; `images()` renders the newest images (up to IN_FLIGHT steps on) as
        (len(filters), k, side, side, 3): every image of each filter, at the current stage's side.
        """
        method, steps, n = self.method, self.knobs.steps, len(filters)
        chunk = round_up(max(chunk or n, n), self.n_devices)
        padded = jax.device_put(np.asarray(list(filters) + [filters[-1]] * (chunk - n), np.int32), self._batch)
        state = self._init(padded, self.sizes[0])
        history = np.zeros((n, self.total + 1), np.float32)
        nan_step = np.full(n, -1, np.int64)
        pending: collections.deque = collections.deque()

        def collect(s: int, act: jax.Array, finite: jax.Array) -> None:
            history[:, s] = np.asarray(act)[:n]
            bad = ~np.asarray(finite)[:n] & (nan_step < 0)
            nan_step[bad] = s
            if on_step is not None and s < self.total:
                latents, side = state[0], self.sizes[min(s // steps, len(self.sizes) - 1)]
                on_step(s + 1, history[:, s], lambda: np.asarray(engine.render_batch(method, side)(latents))[:n])

        t, t_dev, one = 0, self._step(0), self._step(1)
        for i, size in enumerate(self.sizes):
            step_fn = compiled_step(self.layer, method, self.spec.precision, size)
            last_stage = i == len(self.sizes) - 1
            for _ in range(steps + last_stage):  # the last stage's extra call measures the final images
                new, act, finite = step_fn(self.params, state, padded, self._knobs, t_dev)
                pending.append((t, act, finite))
                if t < self.total:
                    state, t, t_dev = new, t + 1, t_dev + one  # the step counter stays on the device
                while len(pending) > (engine.IN_FLIGHT if t < self.total else 0):
                    collect(*pending.popleft())
            if not last_stage and self.sizes[i + 1] != size or last_stage and size != self.spec.size:
                bigger = engine.upscale_images(state[0], self.sizes[i + 1] if not last_stage else self.spec.size)
                state = self._restart(bigger)
        images = np.asarray(engine.render_batch(method, self.spec.size)(state[0]))[:n]
        return AscentResult(images[:, 0], history, nan_step, images if method.images > 1 else None)

    def _restart(self, latents: jax.Array):
        """Fresh optimiser state for resized latents (the old one's shapes no longer fit)."""
        opt = jax.vmap(optim.direction(self.method.optimizer, jnp.int32(0)).init)(latents)
        return jax.device_put((latents, opt), self._batch)


def ascend(
    params: dict,
    spec: Spec,
    filters: list[int],
    knobs: Knobs = DEFAULT_KNOBS,
    chunk: int | None = None,
    on_step: OnStep | None = None,
    devices: Sequence[jax.Device] | None = None,
) -> AscentResult:
    """Run the ascent for `filters` of `spec.layer` as one batch (see LayerAscent), on `devices`."""
    return LayerAscent(params, spec, knobs, filter_mesh(devices))(filters, chunk, on_step)
