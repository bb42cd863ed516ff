"""The atlas of a run with transparency maps: a filter's page shows its image with its transparency, a toggle to see
it without (CSS alone: it works offline and with scripts off) and the map itself; the layer's tiles show the image
with its transparency; a run without maps is as before. Synthetic runs (no JAX); one check in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import NO_BROWSER, check_links, console_errors, have_browser, open_page, synthetic_run
from PIL import Image

from jaxviz.atlas import write_atlas
from jaxviz.run import chunk_store, filter_pngs
from jaxviz.show import display

LAYER = "block1_conv1"


def _add_maps(run_dir: Path, layers: tuple[str, ...] = (LAYER,)) -> dict[str, dict[int, np.ndarray]]:
    """Give every stored filter of `layers` a raw map (rewriting its chunks through the store's own writer)."""
    maps: dict[str, dict[int, np.ndarray]] = {}
    for i, layer in enumerate(layers):
        for path in chunk_store.chunk_files(run_dir, layer):
            with np.load(path) as z:
                filters, tiles, history, nan = z["filters"].tolist(), z["tiles"], z["history"], z["nan_step"]
            rng = np.random.default_rng(i)
            raw = (rng.random((len(filters), *tiles.shape[1:3])) ** 4 * 50).astype(np.float32)
            results = [chunk_store.FilterResult(t, h, int(n), a) for t, h, n, a in zip(tiles, history, nan, raw)]
            path.unlink()
            chunk_store.write_chunk(run_dir, layer, filters, results)
            maps.setdefault(layer, {}).update(zip(filters, raw))
    return maps


def _live(run_dir: Path, layer: str) -> list[int]:
    rows = json.loads((run_dir / "metrics.json").read_text())["filters"]
    return [r["filter"] for r in rows if r["layer"] == layer and not r["dead"]]


@pytest.fixture
def mapped(tmp_path) -> tuple[Path, dict]:
    run = synthetic_run(tmp_path / "run")
    return run, _add_maps(run)


def _rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def test_a_filter_page_shows_the_image_with_its_transparency_a_toggle_and_the_map(mapped):
    run, maps = mapped
    atlas = write_atlas(run).parent
    f = _live(run, LAYER)[0]
    tile = chunk_store.read_tiles(run, LAYER, {f})[f]
    shown = display.alpha_for_display(maps[LAYER][f])
    img = atlas / "img" / LAYER
    with Image.open(img / f"{f:04d}.png") as im:
        assert im.mode == "RGBA"
    assert np.array_equal(_rgba(img / f"{f:04d}.png"), display.with_alpha(tile, shown))  # lossless, with its alpha
    assert np.array_equal(np.asarray(Image.open(img / f"{f:04d}.opaque.png")), tile)  # the image alone
    alpha_map = np.asarray(Image.open(img / f"{f:04d}.alpha.png"))
    assert np.array_equal(alpha_map[..., 0], (shown * 255).round().astype(np.uint8))  # the map, white = opaque
    with Image.open(atlas / "thumb" / LAYER / f"{f:04d}.webp") as im:
        assert im.mode == "RGBA"  # the layer page's tile: the image with its transparency

    page = (atlas / "filters" / LAYER / f"{f:04d}.html").read_text()
    assert '<input type="checkbox" id="opaque" class="alpha-toggle">' in page
    assert '<label for="opaque" class="alpha-toggle">Show without transparency</label>' in page
    assert f'src="../../img/{LAYER}/{f:04d}.png"' in page and f'src="../../img/{LAYER}/{f:04d}.opaque.png"' in page
    assert f'src="../../img/{LAYER}/{f:04d}.alpha.png"' in page and 'class="alpha-map"' in page
    assert f"capped at its {display.ALPHA_PERCENTILE:g}th percentile" in page
    # The toggle is CSS: the checkbox comes before the pictures it switches, and the stylesheet switches them.
    assert page.index('id="opaque"') < page.index('class="views"')
    css = (atlas / "atlas.css").read_text()
    assert "#opaque:checked ~ .views .without-alpha { display: block; }" in css
    layer_page = (atlas / "layers" / f"{LAYER}.html").read_text()
    assert f'src="../thumb/{LAYER}/{f:04d}.webp"' in layer_page
    assert check_links(atlas) > 0  # every picture there, each with its alt text, nothing from the network


def test_without_maps_the_pages_are_as_before_and_a_map_arriving_remakes_them(tmp_path):
    run = synthetic_run(tmp_path / "run")
    atlas = write_atlas(run).parent
    f = _live(run, LAYER)[0]
    page = atlas / "filters" / LAYER / f"{f:04d}.html"
    assert 'id="opaque"' not in page.read_text() and "alpha-map" not in page.read_text()
    assert not list((atlas / "img" / LAYER).glob("*.opaque.png"))
    with Image.open(atlas / "img" / LAYER / f"{f:04d}.png") as im:
        assert im.mode == "RGB"
    _add_maps(run)  # the same images, now with maps (a later refresh of the same run directory)
    write_atlas(run)
    assert 'id="opaque"' in page.read_text() and (atlas / "img" / LAYER / f"{f:04d}.alpha.png").is_file()
    with Image.open(atlas / "img" / LAYER / f"{f:04d}.png") as im:
        assert im.mode == "RGBA"


def test_a_dead_filter_keeps_the_dead_mark_without_a_map(mapped):
    run, _ = mapped
    atlas = write_atlas(run).parent
    rows = json.loads((run / "metrics.json").read_text())["filters"]
    dead = [r["filter"] for r in rows if r["layer"] == LAYER and r["dead"]]
    assert dead, "the synthetic run has a dead filter a layer"
    page = (atlas / "filters" / LAYER / f"{dead[0]:04d}.html").read_text()
    assert 'id="opaque"' not in page and '<figure class="hero dead">' in page


def test_a_filter_whose_chunk_is_gone_shows_its_map_from_run_filters(mapped):
    run, maps = mapped
    f = _live(run, LAYER)[0]
    tile = chunk_store.read_tiles(run, LAYER, {f})[f]
    filter_pngs.write(run, LAYER, f, tile, maps[LAYER][f])
    shutil.rmtree(run / "state" / LAYER)  # state/ deleted to save space: RUN/filters/ is what is left
    atlas = write_atlas(run).parent
    shown = display.alpha_for_display(maps[LAYER][f])
    assert np.array_equal(_rgba(atlas / "img" / LAYER / f"{f:04d}.png"), display.with_alpha(tile, shown))
    assert 'id="opaque"' in (atlas / "filters" / LAYER / f"{f:04d}.html").read_text()


# --- in a browser ---


@pytest.mark.skipif(not have_browser(), reason=NO_BROWSER)
def test_the_toggle_switches_pictures_in_a_browser_even_with_the_script_gone(browser, mapped):
    from selenium.webdriver.common.by import By

    run, _ = mapped
    atlas = write_atlas(run).parent
    f = _live(run, LAYER)[0]
    page = atlas / "filters" / LAYER / f"{f:04d}.html"

    def shown() -> list[str]:
        imgs = browser.find_elements(By.CSS_SELECTOR, ".hero .views img")
        return [re.sub(r".*/", "", i.get_attribute("src")) for i in imgs if i.is_displayed()]

    console_errors(browser)
    open_page(browser, page)
    browser.execute_script("localStorage.clear()")
    open_page(browser, page)
    assert shown() == [f"{f:04d}.png"] and browser.find_element(By.CSS_SELECTOR, ".alpha-map img").is_displayed()
    browser.find_element(By.CSS_SELECTOR, "label.alpha-toggle").click()
    assert shown() == [f"{f:04d}.opaque.png"]
    assert browser.execute_script(
        "const i = document.querySelector('.without-alpha img'); return i.complete && i.naturalWidth"
    )  # loaded once shown, though lazy
    nxt = atlas / "filters" / LAYER / f"{_live(run, LAYER)[1]:04d}.html"
    open_page(browser, nxt)
    assert browser.find_element(By.ID, "opaque").is_selected()  # remembered from page to page by the script
    browser.find_element(By.CSS_SELECTOR, "label.alpha-toggle").click()  # back to the image with transparency
    assert console_errors(browser) == []

    (atlas / "atlas.js").unlink()  # scripts off (or the file gone): the toggle is the stylesheet's
    open_page(browser, page)
    assert shown() == [f"{f:04d}.png"]
    browser.find_element(By.CSS_SELECTOR, "label.alpha-toggle").click()
    assert shown() == [f"{f:04d}.opaque.png"]
