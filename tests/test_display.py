"""What is shown (jaxviz.show.display; runtime.images for the grid): deprocessing, grid geometry, the dead mark."""

from __future__ import annotations

import numpy as np

from jaxviz.runtime.images import grid, grid_shape
from jaxviz.show.display import DEAD_BACKGROUND, DEAD_CROSS, dead_tile, deprocess


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


def test_the_dead_mark_is_a_flat_dark_tile_with_a_cross():
    mark = dead_tile((32, 32, 3))
    assert mark.shape == (32, 32, 3) and mark.dtype == np.uint8
    assert set(np.unique(mark)) == {DEAD_BACKGROUND, DEAD_CROSS}  # two greys, nothing like noise
    assert (mark[16, 16] == DEAD_CROSS).all() and (mark[8, 8] == DEAD_CROSS).all() and (mark[8, 23] == DEAD_CROSS).all()
    assert (mark[0] == DEAD_BACKGROUND).all() and (mark[16, 2] == DEAD_BACKGROUND).all()  # edges, between the arms
    wide = dead_tile((32, 98, 3))  # a filter's 3 images side by side: one cross, in the middle
    assert np.array_equal(wide[:, 33:65], mark) and (wide[:, :33] == DEAD_BACKGROUND).all()
    assert dead_tile((1, 1, 3)).shape == (1, 1, 3)


def test_layer_grid_marks_filters_that_never_fired_and_nothing_else():
    from jaxviz.config import Config, apply
    from jaxviz.run.chunk_store import FilterResult
    from jaxviz.run.session import layer_grid

    cfg = apply(Config(), {"ascent.size": 8, "output.columns": 6, "output.margin": 0})
    noise = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 3), np.uint8)
    results = {
        0: FilterResult(noise[0], np.array([0.0, 0.5], np.float32), -1),  # live
        1: FilterResult(noise[1], np.zeros(3, np.float32), -1),  # never fired: dead
        2: FilterResult(noise[2], np.array([0.0, np.nan], np.float32), 1),  # NaN: keeps its last finite image
        3: FilterResult(noise[3], None, -1),  # a live snapshot, still ascending
        4: FilterResult(noise[4], np.array([1e-8, 5e-8], np.float32), -1),  # never above DEAD_EPS: dead
    }
    g = layer_grid(cfg, [0, 1, 2, 3, 4, 5], results)
    cells = [g[:, 8 * i : 8 * i + 8] for i in range(6)]
    assert np.array_equal(cells[1], dead_tile((8, 8, 3))) and np.array_equal(cells[4], dead_tile((8, 8, 3)))
    for i in (0, 2, 3):
        assert np.array_equal(cells[i], noise[i])
    assert (cells[5] == 0).all()  # not stored yet: black, as before
    assert np.array_equal(results[1].tile, noise[1])  # the stored tile keeps the noise


def test_best_square_drops_the_silent_filters_only():
    """The Keras example's grid keeps the n*n live filters: a ReLU map at zero is silent, a logit below zero is not."""
    from jaxviz.show.display import GRIDS

    finals = {0: 3.0, 1: 0.0, 2: -2.0, 3: 1e-9, 4: 0.5, 5: -1.0}
    order = sorted(finals, key=lambda f: -finals[f])  # [0, 4, 1, 3, 5, 2]
    assert GRIDS["best_square"](order, finals.get) == [0, 4, 5, 2]
