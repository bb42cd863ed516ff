"""Transparency maps (alpha) where a run and the API show them, without an ascent: the display rule, the chunk store
and RUN/filters/ keeping them, the layer's grid, TensorBoard's images, and the API's Result."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from jaxviz import config as config_lib
from jaxviz.run import chunk_store, filter_pngs, report
from jaxviz.run.chunk_store import FilterResult, Store
from jaxviz.show import display

LAYER = "block1_conv1"
CPU = {"backend": "cpu"}


def _maps(n: int, size: int = 8, seed: int = 0) -> np.ndarray:
    """Raw maps as the engine gives them: >= 0, any scale (here up to 1e4: gradients are not in [0, 1])."""
    return (np.random.default_rng(seed).random((n, size, size)) ** 3 * 1e4).astype(np.float32)


def _results(n: int, size: int = 8, alpha: bool = True, seed: int = 0) -> list[FilterResult]:
    rng = np.random.default_rng(seed)
    maps = _maps(n, size, seed)
    return [
        FilterResult(
            rng.integers(0, 256, (size, size, 3), np.uint8),
            np.array([0.0, 1.0, 2.0 + f], np.float32),
            -1,
            maps[f] if alpha else None,
        )
        for f in range(n)
    ]


# --- the display rule (jaxviz.show.display) ---


def test_alpha_for_display_caps_each_map_at_its_own_percentile():
    maps = _maps(3, 20)
    maps[1] *= 1000  # another scale: each filter is shown by its own map alone
    shown = display.alpha_for_display(maps)
    assert shown.shape == maps.shape and shown.dtype == np.float32
    assert shown.min() >= 0 and shown.max() == 1
    for raw, a in zip(maps, shown):
        cap = np.percentile(raw, display.ALPHA_PERCENTILE)
        opaque = raw >= cap
        assert np.allclose(a[opaque], 1) and np.allclose(a[~opaque], raw[~opaque] / cap, rtol=1e-5)
        assert abs(opaque.mean() - (100 - display.ALPHA_PERCENTILE) / 100) < 0.01  # the top fifth is opaque
    np.testing.assert_allclose(shown[0], display.alpha_for_display(maps[0]))  # one map alone: the same
    np.testing.assert_allclose(display.alpha_for_display(maps * 7), shown, rtol=1e-5)  # scale does not matter


def test_a_map_without_signal_shows_the_image_and_bad_values_count_as_nothing():
    maps = np.zeros((3, 6, 6), np.float32)
    maps[1, 2, 3] = 5.0  # one pixel mattered (fewer than a fifth): it is the only opaque one
    maps[2] = np.nan
    maps[2, 0, 0] = np.inf
    maps[2, 0, 1] = -3
    shown = display.alpha_for_display(maps)
    assert (shown[0] == 1).all()  # nothing to say where it looks: shown whole, not invisible
    assert shown[1, 2, 3] == 1 and shown[1].sum() == 1
    assert (shown[2] == 1).all()  # NaN, inf and negative: no signal


def test_with_alpha_over_background_and_a_strip_of_images():
    rgb = np.full((2, 4, 4, 3), 200, np.uint8)
    a = np.zeros((2, 4, 4), np.float32)
    a[:, :2] = 1.0
    a[:, 2] = 0.5
    rgba = display.with_alpha(rgb, a)
    assert rgba.shape == (2, 4, 4, 4) and rgba.dtype == np.uint8
    assert (rgba[..., :3] == 200).all() and (rgba[:, 0, :, 3] == 255).all() and (rgba[:, 3, :, 3] == 0).all()
    over = display.over_background(rgba, 40)
    assert over.shape == (2, 4, 4, 3)
    assert (over[:, 0] == 200).all() and (over[:, 3] == 40).all() and (over[:, 2] == 120).all()  # 200 * .5 + 40 * .5
    # A filter's k images side by side (objective.images = k): the map is its first image's; the rest opaque.
    one = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    strip = display.alpha_tile(one, display.tile(np.zeros((3, 4, 4, 3))).shape)
    assert strip.shape == (4, 3 * 4 + 2 * display.STRIP_MARGIN)
    assert np.array_equal(strip[:, :4], one) and (strip[:, 4:] == 1).all()
    with pytest.raises(ValueError, match="does not fit"):
        display.alpha_tile(one, (4, 9, 3))
    assert display.shown_alpha(np.zeros((4, 9, 3), np.uint8), one) is None  # a map that does not fit: image alone


def test_the_layer_grid_shows_images_with_alpha_over_grey_and_in_its_other_modes():
    results = dict(enumerate(_results(3)))
    results[2] = results[2]._replace(alpha=None)  # a filter without a map is shown as it is
    results[3] = FilterResult(np.zeros((8, 8, 3), np.uint8), np.zeros(3, np.float32), -1, _maps(1)[0])  # dead
    layout = display.GridLayout(columns=4, margin=1)
    filters = [0, 1, 2, 3, 4]  # 4: not done yet
    over = display.layer_grid(filters, results, 8, layout)
    image = display.layer_grid(filters, results, 8, layout, "image")
    rgba = display.layer_grid(filters, results, 8, layout, "rgba")
    maps = display.layer_grid(filters, results, 8, layout, "alpha")
    assert over.shape == image.shape == maps.shape == (17, 35, 3) and rgba.shape == (17, 35, 4)

    def cell(g, i):
        r, c = divmod(i, 4)
        return g[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8]

    a0 = display.alpha_for_display(results[0].alpha)
    expect = display.over_background(display.with_alpha(results[0].tile, a0))
    assert np.array_equal(cell(over, 0), expect) and np.array_equal(cell(image, 0), results[0].tile)
    assert np.array_equal(cell(rgba, 0), display.with_alpha(results[0].tile, a0))
    assert np.array_equal(cell(maps, 0)[..., 0], (a0 * 255).round().astype(np.uint8))
    assert np.array_equal(cell(over, 2), results[2].tile) and (cell(rgba, 2)[..., 3] == 255).all()
    assert np.array_equal(cell(over, 3), display.dead_tile((8, 8, 3)))  # the dead mark has no map
    assert (cell(maps, 2) == 255).all() and (cell(over, 4) == 0).all()
    assert (rgba[8, :, 3] == 0).all()  # the margins: transparent in the RGBA grid, black in the others
    assert display.any_alpha(results) and not display.any_alpha({2: results[2]})
    with pytest.raises(ValueError, match="unknown grid mode"):
        display.layer_grid(filters, results, 8, layout, "sepia")


# --- the run's formats: RUN/state/ (run/chunk_store.py), RUN/filters/ (run/filter_pngs.py) ---


def _wanted() -> dict:
    return chunk_store.settings(config_lib.Config(), "fingerprint")


def test_the_chunk_store_keeps_alpha_and_reads_old_chunks_without_it(tmp_path):
    made = _results(4)
    store = Store(tmp_path, _wanted(), CPU)
    store.save(LAYER, [0, 1], made[:2])
    store.save(LAYER, [2, 3], _results(2, alpha=False, seed=1))  # a chunk as every chunk was before alpha
    again = Store(tmp_path, _wanted(), CPU).load(LAYER)
    for f in (0, 1):
        assert again[f].alpha.dtype == np.float32 and np.array_equal(again[f].alpha, made[f].alpha)
        assert np.array_equal(again[f].tile, made[f].tile)
    assert again[2].alpha is None and again[3].alpha is None
    shown = chunk_store.read_shown(tmp_path, LAYER, {0, 3, 9})
    assert sorted(shown) == [0, 3] and np.array_equal(shown[0][1], made[0].alpha) and shown[3][1] is None
    assert sorted(chunk_store.read_tiles(tmp_path, LAYER, {0, 1, 2, 3})) == [0, 1, 2, 3]
    with np.load(chunk_store.chunk_files(tmp_path, LAYER)[1]) as z:
        assert chunk_store.ALPHA not in z.files


def test_a_chunk_whose_map_is_bad_reads_as_its_image_alone(tmp_path):
    made = _results(2)
    bad = [r._replace(alpha=np.zeros((5, 5), np.float32)) for r in made]  # not its tile's height
    chunk_store.write_chunk(tmp_path, LAYER, [0, 1], bad)
    found = Store(tmp_path, _wanted(), CPU).load(LAYER)
    assert found[0].alpha is None and np.array_equal(found[0].tile, made[0].tile)


def test_per_filter_pngs_are_rgba_with_the_raw_map_beside_them(tmp_path):
    r = _results(1, size=12)[0]
    filter_pngs.write(tmp_path, LAYER, 7, r.tile, r.alpha)
    with Image.open(filter_pngs.path(tmp_path, LAYER, 7)) as im:
        assert im.mode == "RGBA"
        rgba = np.asarray(im)
    shown = display.alpha_for_display(r.alpha)
    assert np.array_equal(rgba, display.with_alpha(r.tile, shown))
    assert np.array_equal(filter_pngs.read(tmp_path, LAYER, 7), r.tile)  # the colours, alpha left out
    assert np.array_equal(filter_pngs.read_alpha(tmp_path, LAYER, 7), r.alpha)  # raw, not normalised
    assert np.load(filter_pngs.alpha_path(tmp_path, LAYER, 7)).max() > 1
    assert [p.name for p in filter_pngs.files(tmp_path, LAYER)] == ["0007.png"]
    filter_pngs.write(tmp_path, LAYER, 7, r.tile)  # again without a map: RGB, and no stale map beside it
    with Image.open(filter_pngs.path(tmp_path, LAYER, 7)) as im:
        assert im.mode == "RGB"
    assert (
        filter_pngs.read_alpha(tmp_path, LAYER, 7) is None and not filter_pngs.alpha_path(tmp_path, LAYER, 7).exists()
    )
    filter_pngs.alpha_path(tmp_path, LAYER, 8).write_bytes(b"not a npy")
    assert filter_pngs.read_alpha(tmp_path, LAYER, 8) is None


# --- what a finished layer writes: grid, RUN/filters/, TensorBoard (run/report.py) ---


def _events(run_dir) -> dict[str, list]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    found: dict[str, list] = {}
    for path in sorted(run_dir.glob("*tfevents*")):
        for event in EventFileLoader(str(path)).Load():
            for v in event.summary.value:
                found.setdefault(v.tag, []).append(v)
    return found


def _image(value) -> np.ndarray:
    """An image summary as the event file loader gives it (a tensor of width, height and the PNG bytes)."""
    return _png(value.tensor.string_val[2])


def _png(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def test_a_finished_layer_writes_its_grid_pngs_and_tensorboard_images_with_alpha(tmp_path):
    pytest.importorskip("tensorboard")
    from jaxviz.show.writers import TensorBoardWriter

    cfg = config_lib.apply(
        config_lib.Config(),
        {"ascent.size": 8, "output.filter_pngs": True, "output.columns": 2, "output.margin": 1},
    )
    results = dict(enumerate(_results(2)))
    record = report.LayerRecord(LAYER, [0, 1], True, [0, 1], results)
    writer = TensorBoardWriter(tmp_path)
    report.finish_layer(cfg, tmp_path, writer, LAYER, record, 3, 0)
    writer.close()
    grid = np.asarray(Image.open(tmp_path / f"{LAYER}.png"))
    a0 = display.alpha_for_display(results[0].alpha)
    assert grid.shape == (8, 17, 3)
    assert np.array_equal(grid[:, :8], display.over_background(display.with_alpha(results[0].tile, a0)))
    for f in (0, 1):
        assert Image.open(filter_pngs.path(tmp_path, LAYER, f)).mode == "RGBA"
        assert np.array_equal(filter_pngs.read_alpha(tmp_path, LAYER, f), results[f].alpha)
    events = _events(tmp_path)
    (tb_grid,), (tb_alpha,) = events[f"{LAYER}/grid"], events[f"{LAYER}/alpha"]
    rgba = _image(tb_grid)
    assert rgba.shape == (8, 17, 4) and np.array_equal(rgba[:, :8], display.with_alpha(results[0].tile, a0))
    maps = _image(tb_alpha)
    assert np.array_equal(maps[:, :8, 0], (a0 * 255).round().astype(np.uint8))

    plain = tmp_path / "plain"  # without maps: the grid as before, no alpha tag
    record = report.LayerRecord(LAYER, [0, 1], True, [0, 1], dict(enumerate(_results(2, alpha=False))))
    writer = TensorBoardWriter(plain)
    report.finish_layer(cfg, plain, writer, LAYER, record, 3, 0)
    writer.close()
    events = _events(plain)
    assert f"{LAYER}/alpha" not in events and _image(events[f"{LAYER}/grid"][0]).shape == (8, 17, 3)
    assert Image.open(filter_pngs.path(plain, LAYER, 0)).mode == "RGB"
    assert not filter_pngs.alpha_path(plain, LAYER, 0).exists()


# --- the API's Result ---


def test_a_result_shows_its_alpha_in_its_grid_and_its_notebook_picture():
    from jaxviz.api import Result

    rs = _results(3)
    images = np.stack([r.tile for r in rs])
    alpha = np.stack([r.alpha for r in rs])
    acts = np.ones(3, np.float32)
    plain = Result(LAYER, [0, 1, 2], images, acts, [], config_lib.Config())
    with_map = Result(LAYER, [0, 1, 2], images, acts, [], config_lib.Config(), alpha)
    assert plain.alpha is None and "with alpha" not in repr(plain) and "with alpha" in repr(with_map)
    rgba = with_map.rgba()
    shown = display.alpha_for_display(alpha)
    assert rgba.shape == (3, 8, 8, 4) and np.array_equal(rgba, display.with_alpha(images, shown))
    assert (plain.rgba()[..., 3] == 255).all()
    g = with_map.grid(columns=3, margin=1)
    assert np.array_equal(g[:, :8], display.over_background(rgba[0]))
    assert np.array_equal(with_map.grid(columns=3, margin=1, alpha=False), plain.grid(columns=3, margin=1))
    assert np.array_equal(_png(with_map._repr_png_()), with_map.grid())
