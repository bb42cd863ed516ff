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
MIN_CHANNELS = 128  # fewer input channels: the 36 products are too thin to beat the direct convolution
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


def _combine(coefficients: np.ndarray, terms: list[jax.Array]) -> jax.Array:
    # A fixed linear combination written out term by term (zeros skipped, +-1 without a multiply), so that XLA
    # fuses it into one elementwise pass instead of a small matrix product.
    out = None
    for c, t in zip(coefficients, terms):
        if c == 0:
            continue
        t = t if c == 1 else -t if c == -1 else t * np.float32(c)
        out = t if out is None else out + t
    return out


def conv3x3(x: jax.Array, transformed: jax.Array) -> jax.Array:
    """3x3 'SAME' convolution (no bias) of `x` (N, H, W, C_in) with `transformed` = transform_kernel(kernel)
    (36, C_in, C_out) -> (N, H, W, C_out), any H and W (tiles past the edge are padded and cropped)."""
    n, h, w, c = x.shape
    th, tw, m, a = -(-h // TILE), -(-w // TILE), TILE, TILE + 2
    xp = jnp.pad(x, ((0, 0), (1, th * m - h + 1), (1, tw * m - w + 1), (0, 0)))
    d = [[xp[:, i : i + m * th : m, j : j + m * tw : m, :] for j in range(a)] for i in range(a)]  # (N, th, tw, C)
    rows = [[_combine(BT[r], [d[i][j] for i in range(a)]) for j in range(a)] for r in range(a)]
    rows = jax.lax.optimization_barrier(rows)  # each row is used six times: computed once, not re-fused six times
    v = jnp.stack([_combine(BT[s], rows[r]) for r in range(a) for s in range(a)]).reshape(a * a, -1, c)
    mm = jnp.einsum("kpc,kcd->kpd", v, transformed).reshape(a, a, n, th, tw, -1)
    cols = [_combine(AT[u], [mm[r] for r in range(a)]) for u in range(m)]  # each (a, N, th, tw, C_out)
    cols = jax.lax.optimization_barrier(cols)
    y = [[_combine(AT[v_], [cols[u][s] for s in range(a)]) for v_ in range(m)] for u in range(m)]
    y = jnp.stack([jnp.stack(row, axis=3) for row in y], axis=2)  # (N, th, m, tw, m, C_out)
    return y.reshape(n, th * m, tw * m, -1)[:, :h, :w, :]
