"""The side-by-side study: peers' images are read and resized, the table is complete."""

from __future__ import annotations

import numpy as np
from PIL import Image

from jaxviz.bench.preset_comparison import peer_images, table


def test_peer_images_are_resized_and_missing_ones_reported(tmp_path):
    for f in (0, 1):
        Image.fromarray(np.full((64, 64, 3), 40 * f, np.uint8)).save(tmp_path / f"{f:04d}.png")
    images = peer_images(tmp_path, [0, 1], 32)
    assert images.shape == (2, 32, 32, 3) and images[1].mean() == 40
    assert peer_images(tmp_path, [0, 2], 32) is None


def test_table_lists_every_row_in_method_order():
    row = {"display_activation_mean": 1.0, "robustness_mean": 0.5, "selectivity": None, "live": 1.0}
    rows = [
        {"layer": "block3_conv1", "method": "quality", "seconds_per_filter": 2.0, **row},
        {"layer": "block3_conv1", "method": "book", "seconds_per_filter": None, **row},
    ]
    text = table(rows, ["book", "quality"])
    lines = text.strip().splitlines()
    assert len(lines) == 4 and "| book | n/a |" in lines[2] and "| quality | 2.0 |" in lines[3]
