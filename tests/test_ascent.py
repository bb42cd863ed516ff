"""The engine: batched equals per-filter, activation rises, one compile per shape, NaNs contained."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from jaxviz import ascent
from jaxviz.config import AscentConfig

CFG = AscentConfig(size=40, steps=6)


def test_batched_equals_per_filter_loop(params):
    filters = [0, 3, 9, 17]
    batched = ascent.ascend(params, "block2_conv1", filters, CFG)
    for i, f in enumerate(filters):
        alone = ascent.ascend(params, "block2_conv1", [f], CFG)
        np.testing.assert_allclose(batched.images[i], alone.images[0], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(batched.history[i], alone.history[0], rtol=1e-4, atol=1e-4)


def test_chunking_does_not_change_results(params):
    whole = ascent.ascend(params, "block3_conv1", [1, 2, 5], CFG)
    padded = ascent.ascend(params, "block3_conv1", [1, 2, 5], CFG, chunk=5)
    np.testing.assert_allclose(whole.images, padded.images, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("normalize", ["rms", "l2", "max"])
def test_activation_rises(params, normalize):
    cfg = dataclasses.replace(CFG, normalize=normalize, step=1.0 if normalize == "rms" else 5.0)
    r = ascent.ascend(params, "block3_conv1", [0, 1, 2, 3], cfg)
    assert r.history.shape == (4, CFG.steps + 1)
    assert (r.nan_step == -1).all()
    live = r.history[:, -1] > 0
    assert live.any()
    assert (r.history[live, -1] > r.history[live, 0]).all()


def test_one_compile_per_layer_and_shape(params):
    ascent.TRACES.clear()
    cfg = dataclasses.replace(CFG, size=36)
    ascent.ascend(params, "block1_conv2", [0, 1], cfg)
    ascent.ascend(params, "block1_conv2", [5, 6], cfg)  # same shape: reused
    assert ascent.TRACES[("block1_conv2", 2, 36, 36, 3)] == 1
    ascent.ascend(params, "block1_conv2", [7], cfg, chunk=2)  # padded to the same shape
    assert ascent.TRACES[("block1_conv2", 2, 36, 36, 3)] == 1
    ascent.ascend(params, "block1_conv2", [7], cfg)  # a new shape compiles once more
    assert sum(v for k, v in ascent.TRACES.items() if k[0] == "block1_conv2") == 2


def test_seed_gives_identical_images_and_differs_across_seeds(params):
    a = ascent.ascend(params, "block1_conv1", [4], CFG)
    b = ascent.ascend(params, "block1_conv1", [4], CFG)
    c = ascent.ascend(params, "block1_conv1", [4], dataclasses.replace(CFG, seed=1))
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.allclose(a.images, c.images)


def test_non_finite_update_is_reported_and_contained(params):
    cfg = dataclasses.replace(CFG, step=3e38)  # the first update overflows to inf
    r = ascent.ascend(params, "block1_conv1", [0, 1], cfg)
    assert (r.nan_step == 0).all()
    assert np.isfinite(r.images).all()  # the last finite image is kept


def test_dead_filter_never_activates(params):
    dead = {k: dict(v) for k, v in params.items()}
    dead["block1_conv1"]["bias"] = params["block1_conv1"]["bias"].copy()
    dead["block1_conv1"]["bias"][2] = -1e6
    r = ascent.ascend(dead, "block1_conv1", [2], CFG)
    assert (r.history <= 0).all()


def test_auto_chunk_splits_evenly():
    for n in (1, 7, 64, 512):
        c = ascent.auto_chunk("block3_conv1", 64, n)
        assert 1 <= c <= n
        assert -(-n // c) * c - n < -(-n // c)  # padding below one filter per chunk
