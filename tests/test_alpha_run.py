"""Transparency maps end to end: a MACO run (the maco-fast preset, tiny) interrupted and resumed keeps every
filter's map in its chunks, writes RGBA per-filter PNGs with the raw maps beside them, TensorBoard's images with
alpha and an atlas with the toggle; the notebook API returns the same maps; a run with alpha off writes none."""

from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import interrupt_chunk
from PIL import Image

import jaxviz
from jaxviz import ascent
from jaxviz import config as config_lib
from jaxviz.config import presets
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.run import chunk_store, filter_pngs
from jaxviz.run.visualization import run_visualization
from jaxviz.show import display

LAYER = "block1_conv1"
FILTERS = [0, 1, 2]
TINY = {  # maco-fast at 32 px, 3 steps, its crops at the image's own side: a few seconds on a CPU
    "ascent.size": 32,
    "ascent.steps": 3,
    "ascent.chunk": 1,
    "method.crop_side": 32,
}


def _cfg(tmp_path, weights_path, **updates):
    base = {
        **TINY,
        "model.weights": str(weights_path),
        "target.layers": LAYER,
        "target.filters": ",".join(map(str, FILTERS)),
        "output.dir": str(tmp_path / "r"),
        "output.progress": False,
        "output.quality": False,
        "output.filter_pngs": True,
        "output.atlas": False,
    }
    return config_lib.apply(config_lib.load(presets.path("maco-fast")), {**base, **updates})


@pytest.mark.slow
def test_an_interrupted_maco_run_resumes_with_its_maps_everywhere_they_show(tmp_path, weights_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    from jaxviz.atlas import write_atlas

    cfg = _cfg(tmp_path, weights_path)
    out = tmp_path / "r"
    original = interrupt_chunk(monkeypatch, 2)  # Ctrl-C after the first filter's chunk
    with pytest.raises(Interrupted):
        run_visualization(cfg)
    first = chunk_store.read_shown(out, LAYER, set(FILTERS))
    assert sorted(first) == [0] and first[0][1] is not None
    monkeypatch.setattr(ascent.LayerAscent, "__call__", original)
    run_visualization(cfg)  # the rerun resumes: filter 0 from its chunk, 1 and 2 ascended

    shown = chunk_store.read_shown(out, LAYER, set(FILTERS))
    assert sorted(shown) == FILTERS
    np.testing.assert_array_equal(shown[0][1], first[0][1])  # the map kept across the resume, as stored
    for f, (tile, alpha) in shown.items():
        assert alpha.shape == (32, 32) and alpha.dtype == np.float32 and np.isfinite(alpha).all()
        assert alpha.min() >= 0 and alpha.max() > 0
        with Image.open(filter_pngs.path(out, LAYER, f)) as im:
            assert im.mode == "RGBA"
            rgba = np.asarray(im)
        assert np.array_equal(rgba, display.with_alpha(tile, display.alpha_for_display(alpha)))
        np.testing.assert_array_equal(filter_pngs.read_alpha(out, LAYER, f), alpha)

    images = {}
    for path in out.glob("*tfevents*"):
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:
                if v.tag in (f"{LAYER}/grid", f"{LAYER}/alpha"):
                    images.setdefault(v.tag, []).append(v.tensor.string_val[2])
    assert images[f"{LAYER}/alpha"]
    with Image.open(io.BytesIO(images[f"{LAYER}/grid"][-1])) as im:
        assert im.mode == "RGBA"  # the layer's final grid: the images with their alpha

    atlas = write_atlas(out).parent
    page = (atlas / "filters" / LAYER / "0001.html").read_text()
    assert 'id="opaque"' in page and (atlas / "img" / LAYER / "0001.alpha.png").is_file()

    # The notebook API: the same filters, the same maps (its chunks the same as the run's).
    api = jaxviz.visualize(LAYER, FILTERS, preset="maco-fast", weights=str(weights_path), quality=False,
                           progress=False, overrides=TINY)  # fmt: skip
    assert api.alpha.shape == (3, 32, 32)
    for i, f in enumerate(FILTERS):
        np.testing.assert_array_equal(api.images[i], shown[f][0])
        np.testing.assert_allclose(api.alpha[i], shown[f][1], rtol=1e-6)
    assert "with alpha" in repr(api)


def test_a_run_with_alpha_off_keeps_no_maps_and_its_resume_with_them_is_refused(tmp_path, weights_path):
    off = {"method.alpha": "off", "ascent.steps": 1, "target.filters": "0"}
    run_visualization(_cfg(tmp_path, weights_path, **off))
    out = tmp_path / "r"
    assert chunk_store.read_shown(out, LAYER, {0})[0][1] is None
    with Image.open(filter_pngs.path(out, LAYER, 0)) as im:
        assert im.mode == "RGB"
    assert not filter_pngs.alpha_path(out, LAYER, 0).exists()
    with pytest.raises(JaxvizError, match="method.alpha"):  # its images would mix with and without maps
        run_visualization(_cfg(tmp_path, weights_path, **{**off, "method.alpha": "auto", "target.filters": "0:2"}))
