"""3x3 'SAME' convolution by Winograd's minimal filtering F(4x4, 3x3), for forward passes on CPU.

Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (CVPR 2016): each 4x4 output tile is
A^T [(G g G^T) * (B^T d B)] A over a 6x6 input tile d, so the channel mixing becomes 36 matrix products of
(tiles, C_in) x (C_in, C_out), 4x fewer multiplications than the direct 3x3 convolution. The transforms are
additions over strided slices and memory-bound: it pays where maps are small and channels many (VGG16's
blocks 3-5 at 224 px: 1.2-2x faster than XLA:CPU's convolution, measured in BENCHMARKS.md), not on the wide
early maps. Rounding: about 2e-5 of the largest output (the transform constants are not powers of two), so it
serves ranking (dataset examples), not the ascent, whose gradients keep XLA's convolution.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

TILE = 4  # output tile side m; the input tile is m + 2 = 6
# B^T, G and A^T of F(4x4, 3x3) with interpolation points 0, +-1, +-2, infinity (Lavin & Gray 2016, section 4.2).
BT = np.array(
    [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
     [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], np.float64)  # fmt: skip
G = np.array(
    [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
     [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], np.float64)  # fmt: skip
AT = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]], np.float64)
MIN_CHANNELS = 256  # fewer input channels: too little mixing to repay the transforms (block3_conv1: 98 vs 80 ms)
MAX_PIXELS = 64 * 64  # larger maps: the transforms' memory traffic outweighs the saved multiplications


def suits(height: int, width: int, channels: int) -> bool:
    """Whether a (height, width, channels) input map is one where F(4x4, 3x3) measured faster on CPU."""
    return channels >= MIN_CHANNELS and height * width <= MAX_PIXELS


def transform_kernel(kernel: np.ndarray) -> np.ndarray:
    """HWIO (3, 3, C_in, C_out) float -> (36, C_in, C_out) float32, G g G^T per (in, out) pair, computed in
    float64 once per layer (host side, outside the compiled step)."""
    k = np.asarray(kernel, np.float64)
    u = np.einsum("ai,ijcd,bj->abcd", G, k, G)
    return u.reshape(36, k.shape[2], k.shape[3]).astype(np.float32)


# The two-sided transforms of a 6x6 tile (d -> B^T d B) and of the 6x6 products (M -> A^T M A) as one matrix
# each over the flattened tile: kron(B^T, B^T) (36, 36) and kron(A^T, A^T) (16, 36). As matrix products over
# all tiles and channels at once they ran faster on XLA:CPU than the same sums written out as elementwise
# additions (block4_conv1 at 224 px, 8 images: 34 vs 52 ms), and they are simpler.
IN = np.kron(BT, BT).astype(np.float32)
OUT = np.kron(AT, AT).astype(np.float32)


def conv3x3(x: jax.Array, transformed: jax.Array) -> jax.Array:
    """3x3 'SAME' convolution (no bias) of `x` (N, H, W, C_in) with `transformed` = transform_kernel(kernel)
    (36, C_in, C_out) -> (N, H, W, C_out), any H and W (tiles past the edge are padded and cropped)."""
    n, h, w, c = x.shape
    m, a = TILE, TILE + 2
    th, tw = -(-h // m), -(-w // m)
    xp = jnp.pad(x, ((0, 0), (1, th * m - h + 1), (1, tw * m - w + 1), (0, 0)))
    # The 36 overlapping 6x6 input tiles, position by position: (36, N * th * tw * C_in).
    d = jnp.stack([xp[:, i : i + m * th : m, j : j + m * tw : m, :] for i in range(a) for j in range(a)])
    v = (jnp.asarray(IN) @ d.reshape(a * a, -1)).reshape(a * a, -1, c)
    products = jnp.einsum("kpc,kcd->kpd", v, transformed)  # (36, tiles, C_out): the channel mixing
    y = (jnp.asarray(OUT) @ products.reshape(a * a, -1)).reshape(m, m, n, th, tw, -1)
    y = y.transpose(2, 3, 0, 4, 1, 5).reshape(n, th * m, tw * m, -1)  # tiles back into the map
    return y[:, :h, :w, :]
