"""The image the network really sees: every stage, after every transform, checked against every layer first."""

from __future__ import annotations

import pytest
from conftest import assert_main_refuses

from jaxviz import config as config_lib
from jaxviz.cli import visualize as cli_visualize
from jaxviz.errors import JaxvizError
from jaxviz.run.run_plan import fed_sizes, plan


def _cfg(**updates):
    return config_lib.apply(config_lib.Config(), {"target.filters": "0:2", **updates})


@pytest.mark.parametrize(
    ("updates", "seen", "setting"),
    [
        # A jitter crop: 16 px is enough for block5 until jitter:4 makes it 12.
        ({"target.layers": "block5_conv3", "ascent.size": 16, "ascent.transforms": ["jitter:4"]}, 12, "jitter:4"),
        # Two crops add up.
        (
            {"target.layers": "block5_conv2", "ascent.size": 14, "ascent.transforms": ["jitter:2", "jitter:3"]},
            9,
            "jitter",
        ),
        # Upscaling stages start smaller than ascent.size: 64 / 1.2**9 -> 12 px at the first stage.
        (
            {"target.layers": "block5_conv1", "ascent.size": 64, "ascent.stages": 9, "ascent.upscale": 1.2},
            12,
            "stage 1",
        ),
        # Both at once: the smallest stage after its crop.
        (
            {
                "target.layers": "block1_conv1,block5_conv1",
                "ascent.size": 40,
                "ascent.stages": 3,
                "ascent.upscale": 1.2,
                "ascent.transforms": ["jitter:8"],
            },
            15,
            "ascent.upscale",
        ),
    ],
)
def test_a_layer_that_would_see_too_small_an_image_is_refused(updates, seen, setting):
    cfg = _cfg(**updates)
    with pytest.raises(JaxvizError) as e:
        plan(cfg)
    text = str(e.value)
    layer = [la for la in updates["target.layers"].split(",") if la.startswith("block5")][0]
    assert f"too small for {layer}" in text and f"would see {seen} px" in text and setting in text, text
    assert "\n" not in text


def test_sizes_that_fit_pass_and_pads_count():
    assert plan(_cfg(**{"target.layers": "block5_conv3", "ascent.size": 16})) == {"block5_conv3": [0, 1]}
    cfg = _cfg(**{"target.layers": "block5_conv3", "ascent.size": 16, "ascent.transforms": ["pad:2", "jitter:4"]})
    assert fed_sizes(cfg) == [(16, 16)] and plan(cfg)
    stages = _cfg(**{"ascent.size": 100, "ascent.stages": 3, "ascent.upscale": 2.0, "ascent.transforms": ["jitter:2"]})
    assert fed_sizes(stages) == [(12, 10), (25, 23), (50, 48)]


def test_the_command_line_refuses_before_loading_anything(tmp_path, capsys):
    argv = ["--layers", "block5_conv3", "--size", "16", "--set", 'ascent.transforms=["jitter:4"]']
    argv += ["--weights", str(tmp_path / "nowhere.h5"), "--out", str(tmp_path / "r")]
    assert_main_refuses(cli_visualize.main, argv, capsys, "too small for block5_conv3")
    assert not (tmp_path / "r").exists()


def test_the_api_refuses_too(weights_path):
    import jaxviz

    with pytest.raises(JaxvizError, match="too small for block5_conv1"):
        jaxviz.visualize("block5_conv1", [0], size=20, transforms=["jitter:6"], weights=str(weights_path))
