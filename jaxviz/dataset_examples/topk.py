"""On the device: one forward pass to every requested layer, and a running, stable top-K per filter.

The VGG family's forward is jaxviz's own (`forward`: one pass that collects every layer on the way, Winograd
convolutions on CPU's deep layers); any other Network's is its own `activation` then `post` per layer
(`network_forward`: the layer's output after its nonlinearity, as the ascent's objectives read it).

The running state is (C, K) per layer, whatever the data set's size: each batch's per-filter maxima are
concatenated to it and sorted again (jitted), so memory does not grow with the number of images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxviz.model import winograd
from jaxviz.model.architecture import VGG16_ARCHITECTURE, VGGArchitecture
from jaxviz.model.network import VGG16, Network, VGGNetwork
from jaxviz.model.vgg import conv3x3, max_pool_2x2, preprocess

NO_IMAGE = np.iinfo(np.int32).max  # the image index of an empty slot: it sorts after every real image

State = dict[str, dict[str, jax.Array]]  # layer -> scores (C, K) f32, image (C, K) i32, position (C, K) i32 flat


def fast(network: Network) -> bool:
    """Whether `network` takes the VGG family's own forward pass (`forward`, with its Winograd kernels)."""
    return network.family == "vgg" and isinstance(network, VGGNetwork)


def forward(
    params: Mapping, rgb: jax.Array, layers: Sequence[str], architecture: VGGArchitecture = VGG16_ARCHITECTURE
) -> dict[str, jax.Array]:
    """Post-ReLU maps (N, h, w, C) of every layer in `layers` of a VGG (`architecture`: VGG16 unless told), from
    one pass that stops at the deepest.

    `rgb`: (N, H, W, 3) RGB 0-255. The same arithmetic as jaxviz.model.vgg.VGG (its public conv3x3, max_pool_2x2 and
    preprocess, the same params tree), but collecting several layers on the way instead of returning one; a
    layer whose params also hold "winograd" (see with_winograd) convolves by jaxviz.model.winograd instead.
    """
    order = architecture.layers
    wanted, last = set(layers), max(order.index(name) for name in layers)
    out, x = {}, preprocess(rgb.astype(jnp.float32))
    names = iter(order[: last + 1])
    for b, widths in enumerate(architecture.block_widths):
        if b:
            x = max_pool_2x2(x)
        for _ in widths:
            name = next(names, None)
            if name is None:
                return out
            p = params[name]
            y = winograd.conv3x3(x, p["winograd"]) if "winograd" in p else conv3x3(x, p["kernel"])
            x = jax.nn.relu(y + p["bias"])
            if name in wanted:
                out[name] = x
    return out


def network_forward(network: Network, params, rgb: jax.Array, layers: Sequence[str]) -> dict[str, jax.Array]:
    """Each of `layers`' output (N, h, w, C) float32 after its nonlinearity (`network.post` of its
    `network.activation`; a Dense layer's as a 1 x 1 map), for (N, H, W, 3) RGB 0-255 `rgb`: one call per layer,
    in one jitted program (XLA computes a prefix the layers share once where its common-subexpression pass finds it)."""
    x = rgb.astype(jnp.float32)
    return {la: network.post(network.activation(params, x, la, None, "float32", "xla"), la) for la in layers}


def with_winograd(
    params: Mapping,
    layers: Sequence[str],
    size: int,
    backend: str,
    conv: str = "auto",
    architecture: VGGArchitecture = VGG16_ARCHITECTURE,
) -> dict:
    """`params` (host arrays) with a "winograd" kernel (jaxviz.model.winograd.transform_kernel) added to each layer
    up to the deepest of `layers` whose input map at `size` px suits it: with conv "auto" on CPU only (cuDNN
    and the TPU's convolutions are not slower than 36 small products), with "winograd" everywhere it suits,
    with "xla" nowhere (XLA's own convolution: the exact Keras arithmetic). `architecture`: the VGG's (VGG16)."""
    deepest = max(layers, key=architecture.layers.index)
    out = {name: dict(leaves) for name, leaves in params.items()}
    use = conv == "winograd" or (conv == "auto" and backend == "cpu")
    for name, side, cin, _ in architecture.conv_geometry(deepest, size):
        if use and winograd.suits(side, side, cin):
            out[name]["winograd"] = winograd.transform_kernel(params[name]["kernel"])
    return out


def empty_state(widths: Mapping[str, int], top: int) -> State:
    """The state before any image: every slot scores -inf and belongs to NO_IMAGE."""
    return {
        layer: {
            "scores": np.full((c, top), -np.inf, np.float32),
            "image": np.full((c, top), NO_IMAGE, np.int32),
            "position": np.zeros((c, top), np.int32),
        }
        for layer, c in widths.items()
    }


def merge(prev: Mapping[str, jax.Array], scores: jax.Array, image: jax.Array, position: jax.Array) -> dict:
    """The best K of the previous top-K (C, K) and a batch's (C, B) candidates, best first.

    Stable: sorted by (-score, image index), so of equal scores the earlier image wins; this equals a
    brute-force lexicographic sort over all images. lax.sort with two keys rather than lax.top_k, whose
    order among ties is not specified.
    """
    k = prev["scores"].shape[1]
    s = jnp.concatenate([prev["scores"], scores], axis=1)
    i = jnp.concatenate([prev["image"], image], axis=1)
    p = jnp.concatenate([prev["position"], position], axis=1)
    neg, i, p = lax.sort((-s, i, p), dimension=1, num_keys=2)
    return {"scores": -neg[:, :k], "image": i[:, :k], "position": p[:, :k]}


def peak(maps: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per image and channel of `maps` (B, h, w, C): the maximum (B, C) f32, its flat position row * w + column
    (B, C) int32 (of equal maxima the first in row-major order, as numpy.argmax) and the spatial mean (B, C).

    One pass over the maps, reducing each row first (max and sum, (B, h, C)); the position is then found in
    the row maxima and in the one row that holds the maximum (a gather of (B, w, C)). On XLA:CPU this ran
    2.7x faster than jnp.argmax's variadic reduction at block1 (224 px, 8 images: 45 vs 120 ms), which
    had made the reductions a fifth of the whole step.
    """
    n, h, w, c = maps.shape
    rows, sums = maps.max(axis=2), maps.sum(axis=2)  # (B, h, C)
    best = rows.max(axis=1)
    last = jnp.int32(np.iinfo(np.int32).max)
    row = jnp.where(rows == best[:, None], lax.broadcasted_iota(jnp.int32, rows.shape, 1), last).min(axis=1)
    line = jnp.take_along_axis(maps, row[:, None, None, :], axis=1)[:, 0]  # (B, w, C): the row of each maximum
    column = jnp.where(line == best[:, None], lax.broadcasted_iota(jnp.int32, line.shape, 1), last).min(axis=1)
    return best, row * w + column, sums.sum(axis=1) / (h * w)


def make_step(
    layers: Sequence[str],
    filters: Mapping[str, Sequence[int]],
    devices: Sequence[jax.Device],
    network: Network = VGG16,
):
    """A jitted `step(params, state, rgb (B, S, S, 3) uint8, index (B,) int32, valid (B,) bool)` ->
    (state, sums) where sums[layer] = (each image's spatial mean per filter (B, C) f32, count of valid
    images where the filter's max > 0 (C,) i32). Padding rows (valid False) never enter the
    top-K. The state is not donated: it is small, and after a Ctrl-C the previous one must still be there to save.

    The batch axis is split over `devices` (B a multiple of their number); params and state are replicated.
    Each image's forward pass runs whole on one device, so the scores do not depend on the split. `network`: the
    model (VGG16 unless told): the VGG family's own `forward`, any other's `network_forward`; `params` as
    `device_params` gives them.
    """
    chosen = {layer: np.asarray(filters[layer], np.int32) for layer in layers}
    all_of = {layer: np.array_equal(chosen[layer], np.arange(network.widths[layer])) for layer in layers}

    def step(params, state, rgb, index, valid):
        if fast(network):
            maps = forward(params, rgb, layers, network.architecture)
        else:
            maps = network_forward(network, params, rgb, layers)
        new, sums = {}, {}
        for layer in layers:
            # Reduced over space for every channel first, the chosen ones picked after: picking channels out
            # of the whole map first copied it (about 35 % of the step at 224 px on CPU).
            best, where, mean = peak(maps[layer])  # (B, C_all) each; the means summed exactly on the host
            if not all_of[layer]:
                best, where, mean = best[:, chosen[layer]], where[:, chosen[layer]], mean[:, chosen[layer]]
            score = jnp.where(valid[:, None], best, -jnp.inf)
            owner = jnp.where(valid, index, NO_IMAGE)
            owner = jnp.broadcast_to(owner[None, :], (best.shape[1], best.shape[0]))
            new[layer] = merge(state[layer], score.T, owner, where.T)
            fires = ((best > 0) & valid[:, None]).sum(axis=0, dtype=jnp.int32)
            sums[layer] = (mean, fires)
        return new, sums

    mesh = Mesh(np.asarray(devices), ("batch",))
    whole, rows = NamedSharding(mesh, PartitionSpec()), NamedSharding(mesh, PartitionSpec("batch"))
    sums = {layer: (rows, whole) for layer in layers}
    jitted = jax.jit(step, in_shardings=(whole, whole, rows, rows, rows), out_shardings=(whole, sums))

    def placed(params, state, rgb, index, valid):
        # Host arrays are placed first: under jax.distributed, jit refuses NumPy inputs with a sharding
        # (even one over this process's own devices), and placing them is what jit would do anyway.
        state = jax.device_put(state, whole)
        return jitted(params, state, *jax.device_put((rgb, index, valid), rows))

    return placed


def device_params(
    host: Mapping,
    layers: Sequence[str],
    size: int,
    conv: str,
    devices: Sequence[jax.Device],
    network: Network = VGG16,
):
    """The params of `host` (a loaded params tree of `network`, VGG16 unless told) that the step reads, on every
    one of `devices`: a VGG's conv layers with Winograd kernels where `conv` and this backend call for them
    (with_winograd); any other network's `layer_params` of each of `layers`, joined (`conv` is the VGGs' alone)."""
    if not fast(network):
        joined: dict = {}
        for layer in layers:
            joined.update(network.layer_params(host, layer))
        return replicated(joined, devices)
    convs = {layer: host[layer] for layer in network.layers if layer in host}
    arch = network.architecture
    return replicated(with_winograd(convs, layers, size, jax.default_backend(), conv, arch), devices)


def replicated(tree, devices: Sequence[jax.Device]):
    """`tree` on every one of `devices` (the params and the state a step expects)."""
    return jax.device_put(tree, NamedSharding(Mesh(np.asarray(devices), ("batch",)), PartitionSpec()))


def combine(states: Sequence[Mapping[str, Mapping[str, np.ndarray]]]) -> dict[str, dict[str, np.ndarray]]:
    """The top-K of several shares' states (host arrays, image = a global key): `merge` again, the same
    (-score, image) order as the device's, so the result equals one state over all of the shares' images."""
    out = {layer: dict(s) for layer, s in states[0].items()}
    for other in states[1:]:
        for layer, s in other.items():
            out[layer] = jax.device_get(_merge(out[layer], s["scores"], s["image"], s["position"]))
    return out


_merge = jax.jit(merge)
