"""The quality numbers' compiled passes: each image and its COPIES perturbed copies through the network up to
`layer` in one batch per chunk of filters, shared across calls (see the package's docstring), and what they will
cost here (`plan`, `estimate_seconds`: learnt from the calls this process made)."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxviz.ascent import bytes_per_image, layer_params
from jaxviz.ascent.records import DEAD_EPS
from jaxviz.ascent.transforms import GREY, random_affine
from jaxviz.model.architecture import CONV_LAYERS, CONV_WIDTHS
from jaxviz.model.network import VGG16, Network
from jaxviz.model.vgg import VGG, Conv3x3, max_pool_2x2, preprocess
from jaxviz.runtime.device_fit import memory_limit, next_power_of_two, per_device

SCALES = (0.9, 1.1)  # zoom range of the robustness copies (uniform)
DEGREES = 10.0  # rotation range of the robustness copies: uniform in [-DEGREES, DEGREES]
SHIFT_FRACTION = 16  # default max shift: 1/16 of the image side (8 px at 128 px)
# Copies per filter per call: the default count, so one call; more take several calls, fewer are padded,
# so `copies` never changes a shape (one compile for the tests' 1-3 copies and the runs' 8).
COPIES = 8
# Filters per call on XLA:CPU, measured (2 cores, 4 filters, compile apart): 1 is fastest or level at every
# depth (block1_conv2 at 128 px: 0.4 s against 2.0 s for 2, whose per-filter channel is a grouped conv).
CPU_CHUNK = 1
MIN_CHUNK, MAX_CHUNK = 8, 256  # elsewhere: a power of two in this range, so at most 6 compiles per layer
# XLA:CPU at LLVM -O0: the work is in library convolutions and matmuls, so runs are as fast (up to 1.5x
# slower in block1 at 128 px), while compiles take a third of -O2's (block5_conv3 at 32 px: 1.0 s, not 3.2).
CPU_OPTIONS = {"xla_backend_optimization_level": 0}
KEY_TAG = 0x0B05  # keeps these keys apart from the ascent's (seed, layer, filter) keys


class Executables:
    """This process's compiled measuring programs, by key, and what measuring costs here: compiled on first use,
    each compile timed apart from the runs, and the figures `estimate_seconds` works from learnt from each
    `measure` call (jax.jit's own cache would hide the compiles). One per process (EXECUTABLES), as JAX's own
    compiled programs are: a second would compile everything again."""

    # What the estimate starts from, each replaced by what this process's latest `measure` took. Measured on
    # XLA:CPU (2 busy cores, CPU_OPTIONS): compiles of 0.1 s per conv layer up to the measured one at 32 px (0.05
    # at 128 px) and 0.4 s for the copies (once per image shape), forward passes at 60-150 GFLOP/s. Other
    # backends: a guess of GUESS_GFLOPS until a layer has been measured there.
    GUESS_GFLOPS = 1e4

    def __init__(self) -> None:
        self._compiled: dict[tuple, jax.stages.Compiled] = {}
        self.compile_s_per_layer = 0.1  # seconds to compile `layer`'s measure, per conv layer up to it
        self.copies_compile_s = 0.4  # seconds to compile the copies (one program per image shape)
        self.gflops: dict[str, float] = {"cpu": 60.0}  # forward-pass rate by backend ("cpu", "gpu", "tpu")

    def __contains__(self, key: tuple) -> bool:
        return key in self._compiled

    def call(self, key: tuple, jitted: Callable, took: dict, *args) -> jax.Array:
        """jitted(*args) by the executable cached under `key`, compiled on first use and its seconds added to
        took[key[0] + "_compile_s"] and took["compile_s"]."""
        if key not in self._compiled:
            t = time.perf_counter()
            self._compiled[key] = jitted.lower(*args).compile()
            for name in (f"{key[0]}_compile_s", "compile_s"):
                took[name] += time.perf_counter() - t
        return self._compiled[key](*args)

    def learn(self, layer: str, size: int, passes: int, took: dict, network: Network = VGG16) -> None:
        """Take the figures from one `measure` call that ran `passes` forward passes of `size` px images through
        `layer` and spent `took` (its "seconds", "compile_s", "measure_compile_s", "copies_compile_s")."""
        if took["measure_compile_s"]:
            self.compile_s_per_layer = took["measure_compile_s"] / (network.layers.index(layer) + 1)
        if took["copies_compile_s"]:
            self.copies_compile_s = took["copies_compile_s"]
        run = took["seconds"] - took["compile_s"]
        if run > 0.05:  # shorter is mostly dispatch, no measure of the rate
            self.gflops[jax.default_backend()] = passes * forward_gflop(layer, size, network) / run

    def estimate_seconds(self, layer: str, size: int, n: int, network: Network = VGG16) -> float:
        """Rough wall seconds of `measure` on n square `size` px images with default settings: the compiles this
        process has yet to make and the forward passes, at the figures learnt so far. Nothing is compiled or run."""
        passes, compiles = plan(layer, size, n, compiled=self, network=network)
        seconds = self.compile_s_per_layer * (network.layers.index(layer) + 1) if "measure" in compiles else 0.0
        seconds += self.copies_compile_s if "copies" in compiles else 0.0
        rate = self.gflops.get(jax.default_backend(), self.GUESS_GFLOPS)
        return seconds + passes * forward_gflop(layer, size, network) / rate


EXECUTABLES = Executables()  # one per process, as JAX's own compiled programs are


def forward_gflop(layer: str, size: int, network: Network = VGG16) -> float:
    """GFLOP of one forward pass of a `size` px image up to `layer` of `network`: half an ascent step (a step is a
    forward and an input-gradient backward of the same cost; Network.gflop_per_step)."""
    return network.gflop_per_step(layer, size) / 2


def estimate_seconds(layer: str, size: int, n: int, network: Network = VGG16) -> float:
    """Rough wall seconds `measure` takes here on n square `size` px images of `network` with default settings (0.0
    for none): EXECUTABLES.estimate_seconds. Nothing is compiled or run."""
    return EXECUTABLES.estimate_seconds(layer, size, n, network)


def on_cpu() -> bool:
    """Whether the default backend is XLA:CPU (one filter per call is fastest there)."""
    return jax.default_backend() == "cpu"


def _jit(fn: Callable) -> Callable:
    return jax.jit(fn, compiler_options=CPU_OPTIONS if on_cpu() else None)


def chunk_size(layer: str, size: int, n: int, network: Network = VGG16) -> int:
    """Filters per compiled call for `n` images of `size` px: CPU_CHUNK on XLA:CPU (fastest there, as
    for the ascent); elsewhere the power of two >= n in [MIN_CHUNK, MAX_CHUNK] that fits half the
    device's memory (taking 1 + COPIES ascent images' worth per filter: forward only, so generous)."""
    if on_cpu():
        return CPU_CHUNK
    need = (1 + COPIES) * bytes_per_image(layer, size, network=network)
    fits = per_device((memory_limit() or 1 << 34) // 2, need, MAX_CHUNK)
    return min(max(next_power_of_two(n), MIN_CHUNK), fits)


@functools.cache
def _copies_fn(max_shift: int, scales: tuple, degrees: float) -> Callable:
    """(images (F, H, W, 3) uint8, filters (F,), seed, first) -> (F, COPIES, H, W, 3) float32: copies
    first..first + COPIES - 1 of each image. Nothing in it depends on the layer: every layer shares it."""

    def one(image: jax.Array, filt: jax.Array, seed: jax.Array, first: jax.Array) -> jax.Array:
        image = image.astype(jnp.float32)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), KEY_TAG), filt)
        # fold_in per copy (not split): copy c is the same whatever `copies` or the batching is.
        keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(first + jnp.arange(COPIES))
        return jax.vmap(lambda k: random_affine(k, image, max_shift, scales, degrees))(keys)

    return _jit(jax.vmap(one, in_axes=(0, 0, None, None)))


def _below(params: dict, rgb: jax.Array, layer: str) -> jax.Array:
    """What `layer`'s convolution reads: the network below it (pooled when `layer` opens a block)."""
    i = CONV_LAYERS.index(layer)
    if i == 0:
        return preprocess(rgb)
    x = VGG(upto=CONV_LAYERS[i - 1]).apply({"params": params}, rgb)
    return max_pool_2x2(x) if layer.endswith("_conv1") else x


@functools.cache
def _measure_fn(layer: str, with_copies: bool) -> Callable:
    """(params, images (F, H, W, 3) uint8, copies (F, K, H, W, 3) float32, filters (F,)) ->
    (channel means (F, C), filter filters[i]'s mean activation on each copy of image i (F, K))."""
    conv = Conv3x3(CONV_WIDTHS[layer])

    def fn(params: dict, images: jax.Array, copies: jax.Array, filters: jax.Array) -> tuple[jax.Array, jax.Array]:
        f, k = copies.shape[:2]
        batch = images.astype(jnp.float32)
        if with_copies:  # one batch through the shared layers; the images come first
            batch = jnp.concatenate([batch, copies.reshape(f * k, *copies.shape[2:])])
        x = _below(params, batch, layer)
        apply = functools.partial(conv.apply, {"params": params[layer]})
        means = jax.nn.relu(apply(x[:f])).mean(axis=(1, 2))
        if not with_copies:
            return means, jnp.zeros((f, 0), jnp.float32)

        def own(xs: jax.Array, filt: jax.Array) -> jax.Array:  # only the filter's channel of its copies
            return jax.nn.relu(apply(xs, filt)).mean(axis=(1, 2, 3))

        return means, jax.vmap(own)(x[f:].reshape(f, k, *x.shape[1:]), filters)

    return _jit(fn)


@functools.cache
def _measure_any(network: Network, layer: str, with_copies: bool) -> Callable:
    """`_measure_fn` for any Network: the whole layer through `network.activation` for the images and their copies
    (one batch), after the layer's own nonlinearity (`network.post`); the filter's channel taken from its copies'.
    VGG16 keeps `_measure_fn`, which computes only the filter's channel of its copies."""

    def fn(params: dict, images: jax.Array, copies: jax.Array, filters: jax.Array) -> tuple[jax.Array, jax.Array]:
        f, k = copies.shape[:2]
        batch = images.astype(jnp.float32)
        if with_copies:
            batch = jnp.concatenate([batch, copies.reshape(f * k, *copies.shape[2:])])
        z = network.post(network.activation(params, batch, layer, None, "float32", "xla"), layer)
        channels = z.mean(axis=(1, 2))  # (F + F * K, C)
        if not with_copies:
            return channels[:f], jnp.zeros((f, 0), jnp.float32)
        own = jnp.take_along_axis(channels[f:].reshape(f, k, -1), filters[:, None, None], axis=-1)[..., 0]
        return channels[:f], own

    return _jit(fn)


def _checked(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be (N, H, W, 3) RGB, got shape {images.shape}")
    return images


def _placed(params: dict, layer: str, network: Network = VGG16) -> dict:
    # float32 on the device whatever was loaded (the cached executables take it); no copy if it is already
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), layer_params(params, layer, network))


def _keys(
    layer: str, chunk: int, shape: tuple, copies: int, shift: int, scales: tuple, degrees: float, model: str = "vgg16"
) -> dict:
    """The cache keys of the executables `measure` runs: static settings and argument shapes (and the model, but
    for VGG16's, whose keys stay as they were)."""
    keys = {"measure": ("measure", layer, copies > 0, chunk, *shape, *([model] if model != "vgg16" else []))}
    return keys | {"copies": ("copies", chunk, *shape, shift, scales, degrees)} if copies else keys


def plan(
    layer: str, size: int, n: int, copies: int = COPIES, compiled: Executables = EXECUTABLES, network: Network = VGG16
) -> tuple[int, list[str]]:
    """For `measure` on n square `size` px images with default settings: (forward passes it runs, padding
    and whole groups of COPIES included; which of its executables, "measure" and "copies", `compiled` (this
    process's) has yet to compile). Nothing is compiled or run."""
    if n <= 0:
        return 0, []
    chunk = chunk_size(layer, size, n, network)
    keys = _keys(layer, chunk, (size, size, 3), copies, size // SHIFT_FRACTION, SCALES, DEGREES, network.name)
    passes = -(-n // chunk) * chunk * (1 + -(-copies // COPIES) * COPIES)
    return passes, [name for name, key in keys.items() if key not in compiled]


def ratio(perturbed: np.ndarray, unperturbed: np.ndarray) -> np.ndarray:
    """perturbed / unperturbed where the unperturbed activation fired (> DEAD_EPS), else 0 (float32)."""
    unperturbed = np.asarray(unperturbed, np.float32)
    live = unperturbed > DEAD_EPS
    return np.where(live, perturbed / np.where(live, unperturbed, 1.0), 0.0).astype(np.float32)


def ratio_over(perturbed: np.ndarray, unperturbed: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """(perturbed - baseline) / (unperturbed - baseline) where the image raised the activation above the baseline (by
    more than DEAD_EPS), else NaN (float32): `ratio` for a signed layer, measured from what a blank image gives
    rather than from zero, so that it does not change when a constant is added to the layer's output (a logit's
    bias), and means something below zero. 1: the perturbed copies keep all the image added; 0: they fall back to
    the blank image's level; NaN: the image added nothing to keep."""
    perturbed, unperturbed, baseline = (np.asarray(x, np.float64) for x in (perturbed, unperturbed, baseline))
    gain = unperturbed - baseline
    live = gain > DEAD_EPS
    return np.where(live, (perturbed - baseline) / np.where(live, gain, 1.0), np.nan).astype(np.float32)


def signed(network: Network, layer: str) -> bool:
    """Whether `layer`'s output after its own nonlinearity (Network.post) can be below zero: a classifier's logits,
    a Keras model's linear convolutions, BatchNorms and Adds, a swish or GELU map; not a ReLU's (VGG's convolutions,
    a Flax module's maps). Asked of the network itself: its `post` of a few negative values (an op on 3 numbers)."""
    return network is not VGG16 and _signed(network, layer)


@functools.lru_cache(maxsize=1024)
def _signed(network: Network, layer: str) -> bool:
    z = jnp.asarray([-4.0, -1.0, -0.25], jnp.float32).reshape(1, 1, 1, 3)
    return bool((np.asarray(network.post(z, layer)) < 0).any())


def measure(
    params: dict,
    layer: str,
    images: np.ndarray,
    filters: Sequence[int],
    copies: int = COPIES,
    seed: int = 0,
    max_shift: int | None = None,
    scales: tuple[float, float] = SCALES,
    degrees: float = DEGREES,
    spent: dict | None = None,
    network: Network = VGG16,
) -> tuple[np.ndarray, np.ndarray]:
    """Channel means (N, C) and robustness (N,) of uint8 (N, H, W, 3) images, image i shown for filters[i].

    Means: the post-ReLU mean activation of every channel of `layer` on each image as shown. Robustness: the mean
    activation of filter filters[i] over `copies` perturbed copies of image i, over its unperturbed one; 0 where
    that is <= DEAD_EPS, 1 fully robust, above 1 possible. For a layer whose output is signed (`signed`: logits,
    linear convolutions), whose ratio to zero would mean nothing (a logit below zero), both are measured from the
    activation of a blank image (GREY, run in the same batch): `ratio_over`, NaN where the image did not raise the
    filter above the blank image's level. Each copy is rolled (wrapping round) by up to
    `max_shift` px in y and x (default: side // 16), zoomed by U(scales) and rotated by U(-degrees, degrees) about
    the centre, grey outside (`random_affine`); copy c of filter f draws from
    fold_in(fold_in(fold_in(key(seed), KEY_TAG), f), c): the same whatever the batching, order or `copies`.
    One pass for both (see the module docstring); copies=0 measures the means alone (robustness then 0).
    `spent`, if given, is set to this call's "seconds" (wall) and "compile_s" (of
    them; apart: "measure_compile_s", "copies_compile_s"); `estimate_seconds` learns from them. `network`: the
    model (VGG16 by default; another's layer is scored after its own nonlinearity, Network.post). ValueError: bad
    image shape, a filter count unlike the image count, copies < 0.
    """
    t0, took = (
        time.perf_counter(),
        dict.fromkeys(("seconds", "compile_s", "measure_compile_s", "copies_compile_s"), 0.0),
    )
    spent = {} if spent is None else spent
    spent.update(took)  # zeros unless this call gets to the end
    images, filt = _checked(images), np.asarray(filters, np.int32).reshape(-1)
    n = len(images)
    if len(filt) != n:
        raise ValueError(f"{n} images but {len(filt)} filters")
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    if not n:
        return np.zeros((0, network.widths[layer]), np.float32), np.zeros(0, np.float32)
    chunk = chunk_size(layer, images.shape[1], n, network)
    blank = copies > 0 and signed(network, layer)  # the baseline of a signed layer: a blank image, the last one run
    pad = -(n + blank) % chunk + blank  # repeats of the last image: one shape per chunk size, so one compile
    images, filt = np.concatenate([images, images[-1:].repeat(pad, 0)]), np.concatenate([filt, filt[-1:].repeat(pad)])
    if blank:
        images[-1] = round(GREY)
    shift = images.shape[1] // SHIFT_FRACTION if max_shift is None else int(max_shift)
    scales, degrees = tuple(map(float, scales)), float(degrees)
    keys = _keys(layer, chunk, images.shape[1:], copies, shift, scales, degrees, network.name)
    fn = _measure_fn(layer, copies > 0) if network is VGG16 else _measure_any(network, layer, copies > 0)
    make = _copies_fn(shift, scales, degrees)
    placed, none = _placed(params, layer, network), np.zeros((chunk, 0, *images.shape[1:]), np.float32)
    groups, out = [np.int32(g) for g in range(0, copies, COPIES)], []  # all dispatched before any is read
    for s in range(0, len(images), chunk):
        part, fs = images[s : s + chunk], filt[s : s + chunk]
        made = [EXECUTABLES.call(keys["copies"], make, took, part, fs, np.int32(seed), g) for g in groups] or [none]
        out.append([EXECUTABLES.call(keys["measure"], fn, took, placed, part, m, fs) for m in made])
    computed = np.concatenate([np.asarray(row[0][0]) for row in out])
    means, base = computed[:n], computed[-1]  # base: the blank image's, where it was run
    per_copy = np.concatenate([np.concatenate([np.asarray(p) for _, p in row], axis=1) for row in out])[:n]
    own = means[np.arange(n), filt[:n]]
    if blank:
        robust = ratio_over(per_copy[:, :copies].mean(axis=1), own, base[filt[:n]])
    else:
        robust = ratio(per_copy[:, :copies].mean(axis=1), own) if copies else np.zeros(n, np.float32)
    took["seconds"] = time.perf_counter() - t0
    if images.shape[1] == images.shape[2]:  # the estimate is of square images (a run's)
        EXECUTABLES.learn(layer, images.shape[1], len(images) * (1 + len(groups) * COPIES), took, network)
    spent.update(took)
    return means, robust
