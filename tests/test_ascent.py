"""The engine: batched equals per-filter, activation rises, one compile per shape, NaNs contained."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import traces

from jaxviz import ascent
from jaxviz.ascent import Knobs, Spec

KNOBS = Knobs(steps=6)


def spec(layer: str, size: int = 40) -> Spec:
    return Spec(layer, size)


def test_batched_equals_per_filter_loop(params):
    filters = [0, 3, 9, 17]
    batched = ascent.LayerAscent(params, spec("block2_conv1"), KNOBS)(filters)
    for i, f in enumerate(filters):
        alone = ascent.LayerAscent(params, spec("block2_conv1"), KNOBS)([f])
        np.testing.assert_allclose(batched.images[i], alone.images[0], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(batched.history[i], alone.history[0], rtol=1e-4, atol=1e-4)


def test_chunking_does_not_change_results(params):
    whole = ascent.LayerAscent(params, spec("block3_conv1"), KNOBS)([1, 2, 5])
    padded = ascent.LayerAscent(params, spec("block3_conv1"), KNOBS)([1, 2, 5], 5)
    np.testing.assert_allclose(whole.images, padded.images, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("normalize", ["rms", "l2", "max"])
def test_activation_rises(params, normalize):
    knobs = KNOBS._replace(normalizer=normalize, step=1.0 if normalize == "rms" else 5.0)
    r = ascent.LayerAscent(params, spec("block3_conv1"), knobs)([0, 1, 2, 3])
    assert r.history.shape == (4, KNOBS.steps + 1)
    assert (r.nan_step == -1).all()
    live = r.history[:, -1] > 0
    assert live.any()
    assert (r.history[live, -1] > r.history[live, 0]).all()


def test_one_compile_per_layer_and_shape(params):
    name = ascent.step_name("block1_conv2", 36)
    with traces() as seen:
        ascent.LayerAscent(params, spec("block1_conv2", 36), KNOBS)([0, 1])
        ascent.LayerAscent(params, spec("block1_conv2", 36), KNOBS)([5, 6])  # same shape: reused
        assert seen[name] == 1
        ascent.LayerAscent(params, spec("block1_conv2", 36), KNOBS)([7], 2)  # padded to the same shape
        assert seen[name] == 1
        ascent.LayerAscent(params, spec("block1_conv2", 36), KNOBS)([7])  # a new shape compiles once more
        assert seen[name] == 2
        ascent.LayerAscent(params, spec("block1_conv2", 36), KNOBS._replace(step=0.5, seed=3, steps=2))([0, 1])
        assert seen[name] == 2  # knobs are traced: other values, no compile


def test_seed_gives_identical_images_and_differs_across_seeds(params):
    a = ascent.LayerAscent(params, spec("block1_conv1"), KNOBS)([4])
    b = ascent.LayerAscent(params, spec("block1_conv1"), KNOBS)([4])
    c = ascent.LayerAscent(params, spec("block1_conv1"), KNOBS._replace(seed=1))([4])
    np.testing.assert_array_equal(a.images, b.images)
    assert not np.allclose(a.images, c.images)


def test_non_finite_update_is_reported_and_contained(params):
    overflowing = KNOBS._replace(step=3e38)  # the first update overflows
    r = ascent.LayerAscent(params, spec("block1_conv1"), overflowing)([0, 1])
    assert (r.nan_step == 0).all()
    assert np.isfinite(r.images).all()  # the last finite image is kept


def test_dead_filter_never_activates(params):
    dead = {k: dict(v) for k, v in params.items()}
    dead["block1_conv1"]["bias"] = params["block1_conv1"]["bias"].copy()
    dead["block1_conv1"]["bias"][2] = -1e6
    r = ascent.LayerAscent(dead, spec("block1_conv1"), KNOBS)([2])
    assert (r.history <= 0).all()


def test_auto_chunk_is_a_power_of_two_within_the_budget():
    per = ascent.bytes_per_image("block3_conv1", 64)
    for n in (1, 7, 64, 512):
        c = ascent.auto_chunk("block3_conv1", 64, n, budget=(10 * per, 4096))
        assert c & (c - 1) == 0 and c <= 10  # a power of two that the budget holds
        assert c < 2 * n  # no bigger than the filters need
    assert ascent.auto_chunk("block3_conv1", 64, 512, budget=(100 * per, 4096)) == 64
    assert ascent.auto_chunk("block3_conv1", 64, 512, budget=(100 * per, 8)) == 8  # the cap
    assert ascent.auto_chunk("block3_conv1", 64, 6, n_devices=4, budget=(per, 4096)) == 4  # a multiple of devices
    assert ascent.auto_chunk("block3_conv1", 64, 8, images=2, budget=(4 * per, 4096)) == 2  # k images cost k times


def test_a_run_compiles_few_chunk_shapes(params, monkeypatch):
    engine = ascent.LayerAscent(params, spec("block1_conv2", 20), Knobs(steps=1))
    shapes, original = [], ascent.LayerAscent.__call__

    def spy(self, filters, chunk=None, on_step=None):
        shapes.append(chunk)
        return original(self, filters, chunk, on_step)

    monkeypatch.setattr(ascent.LayerAscent, "__call__", spy)
    done = [f for part, _ in ascent.chunks(engine, list(range(11)), budget=(10**12, 4)) for f in part]
    assert done == list(range(11)) and shapes == [4, 4, 4]  # 11 = 4 + 4 + 3, the last padded to 4
    shapes.clear()
    list(ascent.chunks(engine, list(range(9)), budget=(10**12, 4)))
    assert shapes == [4, 4, 1]  # the last, single filter in the one-filter shape: powers of two only


def test_spec_refuses_what_cannot_work():
    from jaxviz.errors import JaxvizError

    with pytest.raises(JaxvizError, match="unknown layer"):
        Spec("block9_conv1", 32)
    with pytest.raises(JaxvizError, match="below 8 px"):
        Spec("block1_conv1", 12, method=ascent.Method(transforms=("jitter:6",)))
