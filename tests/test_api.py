"""The notebook API: jaxviz.visualize(layer, filters, preset=..., **settings)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import jaxviz
from jaxviz.errors import JaxvizError


def test_visualize_returns_images_activations_and_metrics(weights_path):
    r = jaxviz.visualize(
        "block2_conv1", filters=range(3), preset="quality", size=32, steps=4, weights=str(weights_path)
    )
    assert r.images.shape == (3, 32, 32, 3) and r.images.dtype == np.uint8
    assert r.activations.shape == (3,) and r.activations.dtype == np.float32
    assert [m["filter"] for m in r.metrics] == [0, 1, 2]
    assert all(
        {"activation", "dead", "history", "display_activation", "robustness", "selective"} <= set(m) for m in r.metrics
    )
    np.testing.assert_allclose(r.activations, [m["activation"] for m in r.metrics])
    assert r.config.param.kind == "fourier" and r.config.ascent.steps == 4
    assert r.grid().shape == (2 * 32 + 5, 2 * 32 + 5, 3)


def test_visualize_matches_the_engine_for_the_book_preset(weights_path, params):
    from jaxviz import ascent
    from jaxviz.show.display import deprocess

    r = jaxviz.visualize("block1_conv2", [5, 2], size=24, steps=3, weights=str(weights_path), quality=False)
    text = jaxviz.visualize("block1_conv2", "5,2", size=24, steps=3, weights=str(weights_path), quality=False)
    np.testing.assert_array_equal(text.images, r.images)  # the command line's text form of the filters
    # the config names what made the images, as a run's config.toml does
    assert r.config.model.weights == os.path.realpath(weights_path) and len(r.config.model.fingerprint) == 16
    direct = ascent.LayerAscent(params, ascent.Spec("block1_conv2", 24), ascent.Knobs(steps=3))([5, 2])
    np.testing.assert_array_equal(r.images, np.stack([deprocess(im) for im in direct.images]))
    assert "robustness" not in r.metrics[0]


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"filters": [1.5]}, "filters must be integers"),
        ({"filters": ["3"]}, "filters must be integers"),
        ({"filters": [True]}, "filters must be integers"),
        ({"filters": 3.0}, "filters must be integers"),
        ({"filters": [999]}, "out of range"),
        ({"filters": "0:999"}, "out of range"),
        ({"filters": "three"}, "filters"),
        ({"overrides": {"model.fingerprint": "0123456789abcdef"}}, "fingerprint"),
        ({"preset": "nope"}, "unknown preset 'nope'; valid presets: book"),
        ({"bogus": 1}, "unknown setting 'bogus'"),
        ({"optimizer": "adagrad"}, "ascent.optimizer must be one of"),
        ({"transforms": ["twirl:2"]}, "unknown transform 'twirl'"),
        ({"overrides": {"objective.expr": "channel * 2"}}, "objective"),
    ],
)
def test_bad_api_input_is_one_clear_error(kwargs, needle, weights_path):
    with pytest.raises(JaxvizError, match=needle):
        jaxviz.visualize("block1_conv1", weights=str(weights_path), size=16, steps=1, **kwargs)


def test_the_estimate_is_the_progress_bars_cost_at_the_prior_rate():
    from jaxviz import config
    from jaxviz.api import estimate_seconds
    from jaxviz.run.session import filter_cost
    from jaxviz.show.progress import PRIOR_GFLOPS

    cfg = config.apply(config.Config(), {"ascent.size": 96, "ascent.steps": 25})
    alone = estimate_seconds(cfg, "block3_conv1", 64, quality=False, backend="cpu")
    assert alone == pytest.approx(64 * filter_cost(cfg, "block3_conv1") / PRIOR_GFLOPS["cpu"])
    assert estimate_seconds(cfg, "block3_conv1", 128, quality=False, backend="cpu") == pytest.approx(2 * alone)
    assert alone < estimate_seconds(cfg, "block3_conv1", 64, backend="cpu") < 1.5 * alone  # quality: forward passes
    assert estimate_seconds(cfg, "block3_conv1", 64, backend="gpu") < alone / 100
