"""The VGG family (VGG16, VGG19) in Flax with Keras' layer names, taking RGB 0-255 images (NHWC, kernels HWIO)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxviz.model.architecture import BLOCK_WIDTHS, MEAN_BGR, TOP_INPUT_SIZE, TOP_LAYERS, VGGArchitecture

PATCH_MATMUL_MAX_PIXELS = 256  # maps this small (or with <= 4 channels) convolve as one patch matmul


def max_pool_2x2(x: jax.Array) -> jax.Array:
    """2x2/stride-2 max pool, 'valid' like Keras (odd edges dropped).

    Written as reshape + max rather than reduce_window: its gradient is a cheap equality mask,
    whereas reduce_window's select-and-scatter gradient is slow on XLA:CPU.
    """
    n, h, w, c = x.shape
    x = x[:, : h // 2 * 2, : w // 2 * 2, :]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


CONVS = ("xla", "patches")  # how a 3x3 convolution is computed (see conv3x3)


def conv3x3(x: jax.Array, kernel: jax.Array, form: str = "patches") -> jax.Array:
    """3x3 'SAME' convolution, NHWC x HWIO.

    With few input channels (the RGB layer) or a small map (block4-5 at 128 px, everything deep at
    32 px) it is one matmul over 3x3 patches: XLA:CPU's own conv is slow there, above all for the
    input gradient (block5_conv3 at 32 px: 4.3 -> 37 steps/s; at 128 px: 3.9 -> 4.6).
    """
    n, h, w, c = x.shape
    if form == "xla" or (c > 4 and h * w > PATCH_MATMUL_MAX_PIXELS):
        return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    patches = jnp.concatenate([xp[:, i : i + h, j : j + w, :] for i in range(3) for j in range(3)], axis=-1)
    return patches @ kernel.reshape(9 * c, kernel.shape[-1])


class Conv3x3(nn.Module):
    """Keras-compatible 3x3 conv (params `kernel` HWIO, `bias`) that can compute a single channel."""

    features: int
    dtype: jnp.dtype = jnp.float32  # compute dtype; params stay float32
    conv: str = "patches"  # "xla": always XLA's convolution; "patches": a patch matmul where XLA:CPU is slow

    @nn.compact
    def __call__(self, x: jax.Array, channel: jax.Array | None = None) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if channel is not None:
            kernel = lax.dynamic_slice_in_dim(kernel, channel, 1, axis=3)
            bias = lax.dynamic_slice_in_dim(bias, channel, 1)
        return conv3x3(x.astype(self.dtype), kernel.astype(self.dtype), self.conv) + bias.astype(self.dtype)


def preprocess(rgb: jax.Array) -> jax.Array:
    """RGB 0-255 -> mean-subtracted BGR, as keras.applications.vgg16.preprocess_input."""
    return rgb[..., ::-1] - jnp.asarray(MEAN_BGR, rgb.dtype)


class VGG(nn.Module):
    """A VGG (VGG16 by default; VGG19 with architecture.VGG19_BLOCK_WIDTHS as `block_widths`) up to and including
    `upto` (a conv layer name, or a top layer with `include_top`).

    Input: (N, H, W, 3) RGB in 0-255. Output: the activation of `upto` (after its ReLU;
    class probabilities for "predictions"). Nothing after `upto` is built or computed.
    """

    upto: str = "block5_conv3"
    include_top: bool = False
    dtype: jnp.dtype = jnp.float32  # convolutions in this dtype (bfloat16 on accelerators); output float32
    preact: bool = False  # return `upto` before its ReLU (objectives that must see below zero)
    conv: str = "patches"  # how convolutions are computed: CONVS (the same numbers either way)
    block_widths: tuple[tuple[int, ...], ...] = BLOCK_WIDTHS

    @nn.compact
    def __call__(self, rgb: jax.Array, channel: jax.Array | None = None) -> jax.Array:
        """`channel` (an index into `upto`) computes only that channel of `upto`: (N, H, W, 1)."""
        x = preprocess(rgb)
        for b, widths in enumerate(self.block_widths, 1):
            for c, width in enumerate(widths, 1):
                name = f"block{b}_conv{c}"
                last = name == self.upto
                x = Conv3x3(width, dtype=self.dtype, conv=self.conv, name=name)(x, channel if last else None)
                if last:
                    return (x if self.preact else nn.relu(x)).astype(jnp.float32)
                x = nn.relu(x)
            x = max_pool_2x2(x)
        convs = VGGArchitecture("", self.block_widths).layers
        if not self.include_top:
            raise ValueError(f"unknown layer {self.upto!r}; valid: {', '.join(convs)}")
        if x.shape[1:3] != (7, 7):
            raise ValueError(f"the classifier top needs {TOP_INPUT_SIZE}x{TOP_INPUT_SIZE} input")
        x = x.astype(jnp.float32).reshape(x.shape[0], -1)  # NHWC flatten, the order Keras' Flatten uses
        x = nn.relu(nn.Dense(4096, name="fc1")(x))
        if self.upto == "fc1":
            return x
        x = nn.relu(nn.Dense(4096, name="fc2")(x))
        if self.upto == "fc2":
            return x
        x = nn.Dense(1000, name="predictions")(x)
        if self.upto == "predictions":
            return nn.softmax(x)
        raise ValueError(f"unknown layer {self.upto!r}; valid: {', '.join(convs + TOP_LAYERS)}")


def param_shapes(
    upto: str = "block5_conv3", include_top: bool = False, block_widths: tuple[tuple[int, ...], ...] = BLOCK_WIDTHS
) -> dict:
    """The params tree a VGG (VGG16's `block_widths` by default) up to `upto` expects, as ShapeDtypeStructs
    (nothing is allocated)."""
    size = TOP_INPUT_SIZE if include_top else 32
    model = VGG(upto=upto, include_top=include_top, block_widths=block_widths)
    dummy = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
    return jax.eval_shape(model.init, jax.random.key(0), dummy)["params"]
