"""One layer's ascent over chunks of filters: params placed on the mesh once, stages, a host or a device loop."""

from __future__ import annotations

import collections
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxviz.ascent import engine
from jaxviz.ascent.engine import DTYPES, AscentResult, StepKey, filter_mesh, layer_params
from jaxviz.ascent.spec import Knobs, Spec
from jaxviz.runtime.device_fit import round_up

OnStep = Callable[[int, np.ndarray, Callable[[], np.ndarray]], None]
DEFAULT_KNOBS = Knobs()


class LayerAscent:
    """Everything one layer's chunks share: params on the mesh (cast to the precision once), the spec with
    its "auto" choices made for the mesh's backend, the knobs placed once.

    `segment`: steps per compiled device-loop call (0: a whole stage); between segments `on_step` reports
    their activations, so a watched run never goes dark for longer than a segment.
    """

    def __init__(
        self, params: dict, spec: Spec, knobs: Knobs = DEFAULT_KNOBS, mesh: Mesh | None = None, segment: int = 0
    ):
        self.mesh = mesh or filter_mesh()
        self.spec = spec.for_backend(self.mesh.devices.flat[0].platform)
        self.knobs, self.layer, self.method, self.segment = knobs, spec.layer, spec.method, segment
        self.n_devices = self.mesh.devices.size
        self._batch = NamedSharding(self.mesh, PartitionSpec("filters"))
        self._whole = NamedSharding(self.mesh, PartitionSpec())
        dtype = DTYPES[spec.precision]  # cast once here, not inside every step
        self.params = jax.device_put(
            jax.tree.map(lambda a: jnp.asarray(a, dtype), layer_params(params, spec.layer, spec.network)), self._whole
        )
        self.sizes = self.spec.sizes
        self.total = knobs.steps * spec.stages
        values = (jnp.float32(knobs.step), jnp.int32(knobs.normalizer_index()), jnp.float32(self.total))
        self._knobs = jax.device_put((*values, jnp.int32(knobs.seed)), self._whole)

    @property
    def sharding(self) -> NamedSharding:
        """How a chunk's filter axis is laid over the mesh's devices."""
        return self._batch

    def key(self, stage: int = 0) -> StepKey:
        """The compiled program's static key at `stage`."""
        s = self.spec
        return StepKey(s.layer, s.method, s.precision, s.conv, s.single_channel, self.sizes[stage], s.network)

    def lower(self, chunk: int, stage: int = 0):
        """The step for `chunk` filters at `stage`, lowered (for XLA's cost analysis, compile timing, the HLO)."""
        chunk = round_up(chunk, self.n_devices)
        filters = jax.device_put(np.zeros(chunk, np.int32), self._batch)
        state = self._init(filters, self.sizes[stage])
        return engine.compiled_step(self.key(stage)).lower(self.params, state, filters, self._knobs, self._t(0))

    def _t(self, t: int) -> jax.Array:
        return jax.device_put(jnp.int32(t), self._whole)

    def _init(self, filters: jax.Array, side: int):
        init = engine.init_state(self.method, side)
        return jax.device_put(init(self.knobs.seed, self.spec.network.layers.index(self.layer), filters), self._batch)

    def __call__(self, filters: list[int], chunk: int | None = None, on_step: OnStep | None = None) -> AscentResult:
        """Ascend `filters` as one batch, padded to `chunk` (and to a multiple of the device count).

        `on_step(s, activations, images)` runs for s = 1..stages*steps with the real filters'
        activations before update s; `images()` renders the newest images as (len(filters), k, side, side, 3):
        every image of each filter at the current stage's side (the host loop runs up to IN_FLIGHT steps ahead,
        the device loop a segment).
        """
        n = len(filters)
        chunk = round_up(max(chunk or n, n), self.n_devices)
        padded = jax.device_put(np.asarray(list(filters) + [filters[-1]] * (chunk - n), np.int32), self._batch)
        self._state = self._init(padded, self.sizes[0])
        history = np.zeros((n, self.total + 1), np.float32)
        nan_step = np.full(n, -1, np.int64)

        def record(s: int, act: np.ndarray, finite: np.ndarray, side: int) -> None:
            history[:, s] = act[:n]
            nan_step[~finite[:n] & (nan_step < 0)] = s
            if on_step is not None and s < self.total:
                latents = self._state[0]
                on_step(s + 1, history[:, s], lambda: np.asarray(engine.render_batch(self.method, side)(latents))[:n])

        loop = self._device_loop if self.spec.loop == "device" else self._host_loop
        alpha = None
        for i, side in enumerate(self.sizes):
            loop(i, padded, lambda s, act, fin, side=side: record(s, act, fin, side))
            last = i == len(self.sizes) - 1
            if last and self.method.alpha:  # the last stage's map (each stage restarts it), of the first images
                alpha = engine.alpha_of(tuple(np.asarray(a)[:n, 0] for a in self._state[2]))
            bigger = self.spec.size if last else self.sizes[i + 1]
            if bigger != side:
                self._state = self._restart(engine.upscale_images(self._state[0], bigger), bigger)
        final = engine.compiled_measure(self.key(len(self.sizes) - 1)._replace(side=self.spec.size))
        act = np.asarray(final(self.params, self._state[0], padded, self._knobs, self._t(self.total)))
        record(self.total, act, np.isfinite(act), self.spec.size)
        images = np.asarray(engine.render_batch(self.method, self.spec.size)(self._state[0]))[:n]
        if alpha is not None and alpha.shape[-1] != self.spec.size:  # enlarged with the image after the last stage
            alpha = np.maximum(np.asarray(jax.image.resize(alpha, (n, self.spec.size, self.spec.size), "linear")), 0)
        return AscentResult(images[:, 0], history, nan_step, images if self.method.images > 1 else None, alpha)

    def _host_loop(self, stage: int, padded: jax.Array, record: Callable) -> None:
        """A stage's steps dispatched one by one from Python, IN_FLIGHT ahead of the one the host reads."""
        step_fn, steps = engine.compiled_step(self.key(stage)), self.knobs.steps
        first = stage * steps
        t_dev, one = self._t(first), self._t(1)
        pending: collections.deque = collections.deque()
        for t in range(first, first + steps):
            self._state, act, finite = step_fn(self.params, self._state, padded, self._knobs, t_dev)
            pending.append((t, act, finite))
            t_dev = t_dev + one  # the step counter stays on the device
            while len(pending) > engine.IN_FLIGHT:
                s, a, f = pending.popleft()
                record(s, np.asarray(a), np.asarray(f))
        while pending:
            s, a, f = pending.popleft()
            record(s, np.asarray(a), np.asarray(f))

    def _device_loop(self, stage: int, padded: jax.Array, record: Callable) -> None:
        """A stage's steps in compiled segments (lax.fori_loop); each segment's activations are read, and
        reported, while the next one runs."""
        steps = self.knobs.steps
        length = min(self.segment or steps, steps)
        t, t_dev, previous = stage * steps, self._t(stage * steps), None
        while t < (stage + 1) * steps:
            n = min(length, (stage + 1) * steps - t)
            segment = engine.compiled_segment(self.key(stage), n)
            self._state, acts, fins, t_dev = segment(self.params, self._state, padded, self._knobs, t_dev)
            if previous is not None:
                self._report(*previous, record)  # the last segment's numbers while this one runs
            previous, t = (t, acts, fins), t + n
        if previous is not None:
            self._report(*previous, record)

    @staticmethod
    def _report(t0: int, acts: jax.Array, fins: jax.Array, record: Callable) -> None:
        acts, fins = np.asarray(acts), np.asarray(fins)
        for i in range(len(acts)):
            record(t0 + i, acts[i], fins[i])

    def _restart(self, latents: jax.Array, side: int):
        """Fresh optimiser state and alpha sums for latents resized to `side` (the old shapes no longer fit: the
        transparency is the last stage's)."""
        return jax.device_put(jax.vmap(lambda x: engine.fresh(self.method, x, side))(latents), self._batch)
