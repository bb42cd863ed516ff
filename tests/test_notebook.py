"""The notebook API as a notebook user meets it: progress while a call runs (terminal, Jupyter, log lines), a
warning before a long call, short reprs, results that draw themselves, and a grid of dataset-example crops."""

from __future__ import annotations

import io
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import jaxviz
from jaxviz.errors import JaxvizError

TINY = {"size": 32, "steps": 2}  # block1_conv1 at 32 px: a step is ~7 MFLOP


@pytest.fixture(autouse=True)
def _weights(weights_path, monkeypatch):
    monkeypatch.setenv("JAXVIZ_WEIGHTS", str(weights_path))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Six small noise images: every field of block1/block2 finds something to fire on."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def found(folder, weights_path):
    """One dataset-examples result for the repr, display and grid tests (no progress: its own test shows it)."""
    layers = "block1_conv1,block2_conv1"
    weights = str(weights_path)
    return jaxviz.find_examples(folder, layers, filters=range(5), top=3, size=32, weights=weights, progress=False)


def _png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(io.BytesIO(data))
    image.load()  # a truncated file fails here
    assert image.format == "PNG"
    return image


def _short(text: str) -> None:
    assert "\n" not in text and len(text) < 200, text
    assert "array(" not in text and "[[" not in text, text  # no pixel or score arrays


def test_visualize_shows_its_phases_and_time_left_and_a_small_call_does_not_warn(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxviz.SlowCallWarning)  # a few MFLOP: far below the estimate's threshold
        jaxviz.visualize("block1_conv1", [0, 1, 2], **TINY)
    said = capsys.readouterr().err  # off a terminal: lines at each phase and at the end of the ascent
    for phase in ("loading weights", "compiling", "block1_conv1", "quality numbers"):
        assert re.search(rf"^{phase}\b", said, re.M), said
    assert "3/3 | 3/3 filters" in said and "filters/s" in said and "left 0 s" in said, said
    assert not re.search(r"left \d+:\d\d", said)  # a duration, never a clock time


def test_progress_false_is_silent_and_a_result_is_one_line_that_draws_its_grid(capsys):
    r = jaxviz.visualize("block1_conv1", [0, 1, 2], quality=False, progress=False, **TINY)
    assert capsys.readouterr().err == ""
    _short(repr(r))
    assert repr(r).startswith("Result('block1_conv1', 3 filters (0-2), 32 px, 2 steps, pixels, normalized (rms)")
    image = _png(r._repr_png_())
    assert image.size == (2 * 32 + 5, 2 * 32 + 5) and image.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(image), r.grid())


def test_a_huge_grid_is_shown_shrunk():
    from jaxviz.api import DISPLAY_SIDE, Result
    from jaxviz.config import Config

    n = 100  # 10 x 10 tiles of 256 px: 2,605 px a side
    images = np.zeros((n, 256, 256, 3), np.uint8)
    r = Result("block5_conv3", list(range(n)), images, np.ones(n, np.float32), [], Config())
    assert _png(r._repr_png_()).size == (DISPLAY_SIDE, DISPLAY_SIDE)
    _short(repr(r))


class _Handle:
    def __init__(self, shown: list):
        self.shown = shown

    def update(self, obj) -> None:
        self.shown.append(obj)


@pytest.fixture
def notebook(monkeypatch) -> list:
    """A Jupyter kernel as rich sees it (rich.console._is_jupyter) with IPython's display: returns what each
    display call and handle update received, as (kind, text shown)."""
    import rich.console

    calls: list = []
    shown: list = []

    def display(obj, display_id=None):
        calls.append(display_id)
        shown.append(obj)
        return _Handle(shown)

    ipython = types.ModuleType("IPython")
    module = types.ModuleType("IPython.display")
    module.display = display
    ipython.display = module
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", module)
    monkeypatch.setattr(rich.console, "_is_jupyter", lambda: True)
    text = lambda: [obj._repr_mimebundle_([], [])["text/plain"] for obj in shown]  # noqa: E731
    return calls, text


def test_in_a_notebook_progress_is_one_output_updated_in_place(notebook, capsys):
    from jaxviz.show.progress import Progress, Work

    calls, text = notebook
    bar = Progress(Work("filters", total=4, total_cost=4.0))
    assert not bar.live
    bar.status("compiling")
    for s in range(1, 5):
        bar.update("block1_conv1", done=s, cost_done=float(s), within=(s, 4))  # redrawn at most 2/s
    bar.close()
    assert calls == [True]  # one output, made with a display id; every later state replaces it
    shown = text()
    assert shown[0].startswith("compiling") and "4/4 | 4/4 filters" in shown[-1], shown
    assert capsys.readouterr().err == ""  # nothing also printed as lines

    calls.clear()
    files = Progress.over_files(3)
    files.status("compiling")
    files.measured()
    files.update("examples", 3, force=True)
    files.close()
    assert calls == [True] and "3/3 files" in text()[-1] and "left 0 s" in text()[-1]


def test_the_api_calls_show_their_progress_in_a_notebook(notebook, folder, capsys):
    calls, text = notebook
    jaxviz.visualize("block1_conv1", [0, 1, 2], quality=False, **TINY)
    assert calls == [True] and "3/3 | 3/3 filters" in text()[-1] and "left 0 s" in text()[-1], text()
    assert [t.split()[0] for t in text()[:2]] == ["loading", "compiling"], text()
    calls.clear()
    jaxviz.find_examples(folder, layers="block1_conv1", filters=[0, 1], top=2, size=32)
    assert calls == [True] and "6/6 files" in text()[-1], text()
    assert capsys.readouterr().err == ""


def test_a_long_call_warns_once_with_an_estimate_before_loading_anything(monkeypatch):
    from jaxviz.model import model_registry
    from jaxviz.show import progress

    def never(*args, **kwargs):
        raise AssertionError("loaded weights before warning")

    monkeypatch.setattr(model_registry, "load_model", never)  # what the API loads the model and weights with
    monkeypatch.setattr(progress, "PRIOR_GFLOPS", {"cpu": 60.0, "gpu": 60.0, "tpu": 60.0})  # 2 CPU cores
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(AssertionError, match="before warning"):
            jaxviz.visualize("block5_conv3", range(512), size=224)
    slow = [w for w in caught if issubclass(w.category, jaxviz.SlowCallWarning)]
    assert len(slow) == 1 and slow[0].filename == __file__, [str(w.message) for w in caught]  # the caller's line
    message = str(slow[0].message)
    assert "jaxviz.visualize of 512 filter(s) of block5_conv3 at 224 px x 40 steps should take about 6 h" in message
    assert "fewer filters, a smaller size or fewer steps" in message

    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxviz.SlowCallWarning)
        with pytest.raises(AssertionError, match="before warning"):  # 3 tiny filters at that rate: no warning
            jaxviz.visualize("block1_conv1", [0, 1, 2], **TINY)
        monkeypatch.setattr(progress, "PRIOR_GFLOPS", {"cpu": 1e-4, "gpu": 1e-4, "tpu": 1e-4})  # a slow machine
        with pytest.raises(jaxviz.SlowCallWarning, match="should take about"):
            jaxviz.visualize("block1_conv1", [0, 1, 2], **TINY)


def test_a_long_examples_call_warns_before_it_starts(folder, monkeypatch):
    from jaxviz.dataset_examples import scan as job
    from jaxviz.show import progress

    monkeypatch.setattr(job, "run", lambda *a, **k: pytest.fail("ran before warning"))
    monkeypatch.setattr(progress, "PRIOR_GFLOPS", {"cpu": 1e-4, "gpu": 1e-4, "tpu": 1e-4})
    with warnings.catch_warnings():
        warnings.simplefilter("error", jaxviz.SlowCallWarning)
        with pytest.raises(jaxviz.SlowCallWarning, match=r"over 6 images to block2_conv1 at 32 px should take about"):
            jaxviz.find_examples(folder, layers="block1_conv1,block2_conv1", size=32)


def test_examples_show_progress_unless_told_not_to(folder, capsys):
    jaxviz.find_examples(folder, layers="block1_conv1", filters=[0, 1], top=2, size=32)
    said = capsys.readouterr().err
    assert re.search(r"^compiling .* 0/6 files", said, re.M) and re.search(r"^examples .* 6/6 files", said, re.M), said
    jaxviz.find_examples(folder, layers="block1_conv1", filters=[0, 1], top=2, size=32, progress=False)
    assert "files" not in capsys.readouterr().err


def test_examples_reprs_are_short_and_a_result_shows_crops(found):
    from jaxviz.dataset_examples import Examples
    from jaxviz.model.architecture import CONV_LAYERS

    _short(repr(found))
    _short(repr(found.layers["block1_conv1"]))
    assert repr(found.layers["block1_conv1"]).startswith("LayerExamples(5 filters (0-4), top 3, scores ")
    every = Examples(found.root, 32, found.images, dict.fromkeys(CONV_LAYERS, found.layers["block1_conv1"]))
    _short(repr(every))
    assert "13 layers block1_conv1 ... block5_conv3: 65 filters" in repr(every)

    image = _png(found._repr_png_())  # the first layer's first 4 filters x their best 3 (all it kept)
    assert image.size == (3 * 48 + 2 * 2, 4 * 48 + 3 * 2)
    np.testing.assert_array_equal(np.asarray(image), jaxviz.crops_grid(found, "block1_conv1", range(4), top=3))
    page = found._repr_html_()
    assert "data:image/png;base64," in page and "block1_conv1, filters 0-3 (rows)" in page


def test_crops_grid_is_filters_by_top_images(found):
    from jaxviz.dataset_examples.examples_store import PAD_RGB

    g = jaxviz.crops_grid(found, "block2_conv1", [4, 0], top=2)  # a 10 px field, shown 5x at 50 px
    assert g.shape == (2 * 50 + 2, 2 * 50 + 2, 3) and g.dtype == np.uint8
    assert np.array_equal(g, found.grid("block2_conv1", [4, 0], top=2))
    assert jaxviz.crops_grid(found, "block2_conv1", 1, side=20, margin=1).shape == (20, 3 * 20 + 2 * 1, 3)
    assert (g[50:52] == 0).all() and (g[:, 50:52] == 0).all()  # the margins
    # Each tile is its crop enlarged by whole pixels; where the field runs off the image, the padding's colour.
    g = jaxviz.crops_grid(found, "block1_conv1", range(5))  # a 3 px field, shown 16x at 48 px
    assert g.shape == (5 * 48 + 4 * 2, 3 * 48 + 2 * 2, 3)
    whole = 0
    for i in range(5):
        for j, crop in enumerate(jaxviz.crops(found, "block1_conv1", i)):
            tile = g[i * 50 : i * 50 + 48, j * 50 : j * 50 + 48]
            if crop.shape == (3, 3, 3):
                whole += 1
                np.testing.assert_array_equal(tile, crop.repeat(16, 0).repeat(16, 1))
            else:
                assert (tile == PAD_RGB).all(axis=-1).any()
    assert whole

    for kwargs, needle in [
        ({"layer": "block3_conv1"}, "'block3_conv1' was not computed; computed: block1_conv1, block2_conv1"),
        ({"layer": "block2_conv1", "filters": [9]}, r"filter 9 was not computed \(5 filters"),
        ({"layer": "block2_conv1", "top": -1}, "top must be a whole number >= 0"),
        ({}, "name a layer: this result holds block1_conv1, block2_conv1"),
    ]:
        with pytest.raises(JaxvizError, match=needle):
            jaxviz.crops_grid(found, **kwargs)
