"""One chunk -> tile -> record loop: the notebook API and a run show the same filters the same way."""

from __future__ import annotations

import numpy as np

import jaxviz
from jaxviz import config as config_lib
from jaxviz.config import presets


def test_the_api_and_a_run_make_the_same_tiles_and_records(tmp_path, weights_path):
    # Two images per filter (side by side in a tile) and chunks of 2 over 3 filters: a full and a partial chunk.
    settings = {
        "ascent.size": 32,
        "ascent.steps": 2,
        "ascent.chunk": 2,
        "objective.images": 2,
        "output.display": "minmax",
    }
    api = jaxviz.visualize("block1_conv1", [4, 0, 2], weights=str(weights_path), quality=False, progress=False,
                           overrides=settings)  # fmt: skip

    from jaxviz.run.visualization import run_visualization

    cfg = config_lib.apply(config_lib.load(presets.path("book")), {
        **settings, "model.weights": str(weights_path), "target.layers": "block1_conv1", "target.filters": "4,0,2",
        "output.dir": str(tmp_path / "r"), "output.progress": False, "output.quality": False,
        "output.tensorboard": False, "output.atlas": False})  # fmt: skip
    metrics = run_visualization(cfg)
    stored = {}
    for chunk in sorted((tmp_path / "r" / "state" / "block1_conv1").glob("*.npz")):
        with np.load(chunk) as z:
            stored.update(zip(z["filters"].tolist(), z["tiles"]))
    assert api.images.shape == (3, 32, 2 * 32 + 2, 3)  # two images side by side, 2 px apart
    np.testing.assert_array_equal(api.images, np.stack([stored[f] for f in (4, 0, 2)]))
    assert api.metrics == metrics["filters"]
