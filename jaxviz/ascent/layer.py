"""One layer's ascent over chunks of filters: params placed on the mesh once, stages, steps kept in flight."""

from __future__ import annotations

import collections
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxviz.architecture import CONV_LAYERS
from jaxviz.ascent import engine
from jaxviz.ascent.engine import AscentResult, compiled_step, filter_mesh, layer_params, round_up
from jaxviz.ascent.method import Method, stage_sizes
from jaxviz.config import NORMALIZERS, AscentConfig


class LayerAscent:
    """Everything one layer's chunks share: params on the mesh, the method, the settings."""

    def __init__(
        self, params: dict, layer: str, cfg: AscentConfig, mesh: Mesh | None = None, method: Method | None = None
    ):
        self.layer, self.cfg, self.method = layer, cfg, method or Method()
        self.mesh = mesh or filter_mesh()
        self.n_devices = self.mesh.devices.size
        self._batch = NamedSharding(self.mesh, PartitionSpec("filters"))
        self._whole = NamedSharding(self.mesh, PartitionSpec())
        self.params = jax.device_put(layer_params(params, layer), self._whole)
        self.sizes = stage_sizes(cfg.size, cfg.stages, cfg.upscale)
        self.total = cfg.steps * cfg.stages

    def _knobs(self, t: int) -> tuple:
        cfg = self.cfg
        values = (
            jnp.float32(cfg.step),
            jnp.int32(NORMALIZERS.index(cfg.normalize)),
            jnp.int32(t),
            jnp.float32(self.total),
            jnp.int32(cfg.seed),
        )
        return jax.device_put(values, self._whole)

    def lower(self, chunk: int, stage: int = 0):
        """The step for `chunk` filters at `stage`, lowered (for XLA's cost analysis and compile timing)."""
        chunk = round_up(chunk, self.n_devices)
        filters = jax.device_put(np.zeros(chunk, np.int32), self._batch)
        state = self._init(filters, self.sizes[stage])
        step = compiled_step(self.layer, self.method, self.cfg.precision, self.sizes[stage])
        return step.lower(self.params, state, filters, *self._knobs(0))

    def _init(self, filters: jax.Array, size: int):
        init = engine._init_state(self.method, size, float(self.cfg.init_mean), float(self.cfg.init_noise))
        return jax.device_put(init(self.cfg.seed, CONV_LAYERS.index(self.layer), filters), self._batch)

    def __call__(
        self,
        filters: list[int],
        chunk: int | None = None,
        on_step: Callable[[int, np.ndarray, Callable[[], np.ndarray]], None] | None = None,
    ) -> AscentResult:
        """Ascend `filters` as one batch, padded to `chunk` (and to a multiple of the device count).

        `on_step(s, activations, images)` runs for s = 1..stages*steps with the real filters'
        activations before update s; `images()` renders the newest images (up to IN_FLIGHT steps on) as
        (len(filters), k, side, side, 3): every image of each filter, at the current stage's side.
        """
        cfg, method, n = self.cfg, self.method, len(filters)
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
                latents, side = state[0], self.sizes[min(s // cfg.steps, len(self.sizes) - 1)]
                on_step(s + 1, history[:, s], lambda: np.asarray(engine.render_batch(method, side)(latents))[:n])

        t = 0
        for i, size in enumerate(self.sizes):
            step_fn = compiled_step(self.layer, method, cfg.precision, size)
            last_stage = i == len(self.sizes) - 1
            for _ in range(cfg.steps + last_stage):  # the last stage's extra call measures the final images
                new, act, finite = step_fn(self.params, state, padded, *self._knobs(t))
                pending.append((t, act, finite))
                if t < self.total:
                    state, t = new, t + 1
                while len(pending) > (engine.IN_FLIGHT if t < self.total else 0):
                    collect(*pending.popleft())
            if not last_stage and self.sizes[i + 1] != size or last_stage and size != cfg.size:
                bigger = engine.upscale_images(state[0], self.sizes[i + 1] if not last_stage else cfg.size)
                state = self._restart(bigger)
        images = np.asarray(engine.render_batch(method, cfg.size)(state[0]))[:n]
        return AscentResult(images[:, 0], history, nan_step, images if method.images > 1 else None)

    def _restart(self, latents: jax.Array):
        """Fresh optimiser state for resized latents (the old one's shapes no longer fit)."""
        from jaxviz.ascent import optim

        opt = jax.vmap(optim.direction(self.method.optimizer, jnp.int32(0)).init)(latents)
        return jax.device_put((latents, opt), self._batch)


def ascend(
    params: dict,
    layer: str,
    filters: list[int],
    cfg: AscentConfig,
    chunk: int | None = None,
    on_step: Callable[[int, np.ndarray, Callable[[], np.ndarray]], None] | None = None,
    devices: Sequence[jax.Device] | None = None,
    method: Method | None = None,
) -> AscentResult:
    """Run the ascent for `filters` of `layer` as one batch (see LayerAscent), on `devices`."""
    return LayerAscent(params, layer, cfg, filter_mesh(devices), method)(filters, chunk, on_step)
