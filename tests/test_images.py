"""Host-side image processing: deprocessing and grid geometry."""

from __future__ import annotations

import numpy as np

from jaxviz.images import deprocess, grid, grid_shape


def test_deprocess_centres_and_scales_each_tile():
    x = np.random.default_rng(0).normal(500, 30, (20, 20, 3))
    out = deprocess(x, std=0.1)
    assert out.dtype == np.uint8
    assert abs(out.mean() - 127.5) < 2
    assert abs(out.std() - 25.5) < 2
    assert deprocess(np.full((4, 4, 3), 7.0)).max() == deprocess(np.full((4, 4, 3), 7.0)).min()


def test_grid_geometry_and_margins():
    tiles = np.stack([np.full((6, 4, 3), i + 1, np.uint8) for i in range(7)])
    g = grid(tiles, columns=3, margin=2)
    assert grid_shape(7, 3) == (3, 3)
    assert g.shape == (3 * 6 + 2 * 2, 3 * 4 + 2 * 2, 3)
    assert (g[0:6, 0:4] == 1).all() and (g[0:6, 6:10] == 2).all()
    assert (g[8:14, 0:4] == 4).all()  # row 2 starts after one tile and one margin
    assert (g[:, 4:6] == 0).all()  # margin column is black
    assert (g[16:, 6:] == 0).all()  # empty cells stay black


def test_default_grid_is_square():
    assert grid_shape(64) == (8, 8)
    assert grid_shape(10) == (3, 4)
    assert grid_shape(1) == (1, 1)
