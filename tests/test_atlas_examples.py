"""Dataset examples in the atlas: the filter page's strip of crops, the layer tiles, the index, reuse, damage."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import check_links, console_errors, open_page, script, synthetic_examples, synthetic_run
from PIL import Image

from jaxviz import config as config_lib
from jaxviz.atlas import write_atlas

TOP = 3
LAYER = "block1_conv1"


def _photos(root: Path, shapes: list[tuple[int, int]], seed: int) -> Path:
    """root/images with one random RGB PNG per (height, width) of `shapes`, im0.png, im1.png, ..."""
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(shapes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(images / f"im{i}.png")
    return images


@pytest.fixture(scope="module")
def made(tmp_path_factory, weights_path) -> Path:
    """A tiny run (4 filters of block1_conv1, 32 px, 2 steps) with the examples of 6 small PNGs beside it."""
    import jaxviz.atlas
    from jaxviz.dataset_examples import make_job
    from jaxviz.dataset_examples.scan import run as examples_run
    from jaxviz.run.visualization import run_visualization

    root = tmp_path_factory.mktemp("atlasex")
    images = _photos(root, [(40 + 4 * i, 36) for i in range(6)], seed=0)
    out = root / "run"
    updates = {
        "model.weights": str(weights_path),
        "target.layers": LAYER,
        "target.filters": "0:4",
        "ascent.size": 32,
        "ascent.steps": 2,
        "output.dir": str(out),
        "output.tensorboard": False,
        "output.progress": False,
        "output.quality": "off",
    }
    run_visualization(config_lib.apply(config_lib.Config(), updates), after_layer=jaxviz.atlas.refresh)
    job = make_job(images, LAYER, top=TOP, size=32, weights=str(weights_path), out=out)
    examples_run(job)
    shutil.rmtree(out / "atlas", ignore_errors=True)
    return out


@pytest.fixture
def run_dir(made, tmp_path) -> Path:
    return Path(shutil.copytree(made, tmp_path / "run"))


def strip(page: str) -> str:
    m = re.search(r'<ol class="ex-strip".*?</ol>', page, re.S)
    assert m, "no examples strip"
    return m.group(0)


def test_filter_page_strip_index_and_reuse(run_dir, monkeypatch):
    write_atlas(run_dir)
    atlas = run_dir / "atlas"
    page = (atlas / "filters" / LAYER / "0001.html").read_text()
    s = strip(page)
    crops = re.findall(r'<img src="([^"]+)"', s)
    assert len(crops) == TOP
    assert len(re.findall(r'class="score"', s)) == TOP
    wholes = re.findall(r'<a href="(\.\./\.\./examples/images/[^"]+)"', s)
    assert len(wholes) == TOP and all((atlas / "filters" / LAYER / w).resolve().is_file() for w in wholes)
    assert len(re.findall(r'href="file://[^"]+"', s)) == TOP
    assert "Mean activation over the data set" in page and "fires on" in page
    files = [(atlas / "filters" / LAYER / c).resolve() for c in crops]
    assert all(f.is_file() and f.suffix == ".webp" for f in files)
    assert files[0].name == "0001_0.webp"
    index = (atlas / "index.html").read_text()
    root = json.loads((run_dir / "examples" / "images.json").read_text())["root"]
    assert f"<code>{root}</code>" in index
    assert "(6 images)" in index
    layer = (atlas / "layers" / f"{LAYER}.html").read_text()
    assert layer.count('class="top-ex"') == 4
    every = sorted((atlas / "examples").rglob("*.webp"))
    times = {p: p.stat().st_mtime_ns for p in every}
    import jaxviz.atlas.example_crops as atlas_examples

    def no_encoding(*_):
        raise AssertionError("an unchanged crop was encoded again")

    monkeypatch.setattr(atlas_examples, "_encode", no_encoding)
    write_atlas(run_dir)
    assert {p: p.stat().st_mtime_ns for p in sorted((atlas / "examples").rglob("*.webp"))} == times


def test_vanished_image_and_damage(run_dir):
    meta = json.loads((run_dir / "examples" / "images.json").read_text())
    root = Path(meta["root"])
    moved = run_dir.parent / "moved"
    shutil.copytree(root, moved)
    meta["root"] = str(moved)
    (run_dir / "examples" / "images.json").write_text(json.dumps(meta))
    write_atlas(run_dir)
    atlas = run_dir / "atlas"
    z = np.load(run_dir / "examples" / f"{LAYER}.npz")
    best = meta["images"][int(z["image"][0, 0])]["path"]
    (moved / best).unlink()
    write_atlas(run_dir)
    s = strip((atlas / "filters" / LAYER / "0000.html").read_text())
    assert "image gone" in s and len(re.findall(r"<li>", s)) == TOP
    (run_dir / "examples" / f"{LAYER}.npz").write_bytes(b"damaged")
    write_atlas(run_dir)
    assert 'class="ex-strip"' not in (atlas / "filters" / LAYER / "0000.html").read_text()
    assert not (atlas / "examples").exists()
    shutil.rmtree(run_dir / "examples")
    write_atlas(run_dir)
    assert "Dataset examples" not in (atlas / "index.html").read_text()


def test_in_browser(run_dir, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    write_atlas(run_dir)
    d = browser
    d.set_window_size(1400, 900)
    open_page(d, run_dir / "atlas" / "filters" / LAYER / "0002.html")
    imgs = d.find_elements(By.CSS_SELECTOR, ".ex-strip img")
    assert len(imgs) == TOP
    WebDriverWait(d, 10).until(
        lambda d: d.execute_script(
            "return [...document.querySelectorAll('.ex-strip img')].every(i => i.complete && i.naturalWidth > 0)"
        )
    )
    assert all(i.is_displayed() for i in imgs)
    assert d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    assert not console_errors(d)


def test_examples_alone_get_an_atlas_of_their_own(tmp_path):
    """RUN/examples with no ascent (synthetic, in jaxviz-examples' own format): each filter's top images."""
    run = tmp_path / "run"
    run.mkdir()
    synthetic_examples(run, {"block1_conv1": 8, "block3_conv1": 40}, top=2)
    index = write_atlas(run)
    atlas = run / "atlas"
    assert index == atlas / "index.html"
    home = index.read_text()
    assert "dataset examples only" in home and "(3 images)" in home
    grids = dict(
        re.findall(r'<ol class="net-grid crops" aria-label="The first filters of (\w+)">(.*?)</ol>', home, re.S)
    )
    assert list(grids) == ["block1_conv1", "block3_conv1"]
    for layer, n in (("block1_conv1", 8), ("block3_conv1", 32)):  # each filter's best crop stands for it
        assert re.findall(r'<img src="examples/[^"]+/(\d+)_0\.webp"', grids[layer]) == [f"{f:04d}" for f in range(n)]
    assert '<a href="layers/block3_conv1.html">all 40 filters of block3_conv1 →</a>' in home
    layer = (atlas / "layers" / "block3_conv1.html").read_text()
    assert layer.count("<li data-i=") == 40 and '<option value="dataset_mean">' in layer
    page = (atlas / "filters" / "block3_conv1" / "0005.html").read_text()
    assert len(re.findall(r"<img ", strip(page))) == 2 and ">mean over the data set<" in page
    assert 'class="hero' not in page and "Activation" not in page  # no optimised image, no ascent curve
    assert check_links(atlas) == 1 + 1 + 2 + 48


def test_a_run_shows_examples_of_layers_it_did_not_ascend(tmp_path):
    run = synthetic_examples(synthetic_run(tmp_path / "run", ("block1_conv1",), 4), {"block1_conv1": 4, LAYER2: 3})
    atlas = write_atlas(run).parent
    home = (atlas / "index.html").read_text()
    assert 'class="net-grid paired" aria-label="The first filters of block1_conv1"' in home  # image over its crop
    assert 'class="net-grid crops" aria-label="The first filters of block2_conv2"' in home
    page = (atlas / "filters" / "block1_conv1" / "0001.html").read_text()
    assert 'class="hero' in page and len(re.findall(r"<img ", strip(page))) == 2  # both, as before
    assert 'class="hero' not in (atlas / "filters" / LAYER2 / "0001.html").read_text()
    check_links(atlas)


LAYER2 = "block2_conv2"


@pytest.fixture(scope="module")
def alone(tmp_path_factory, weights_path) -> Path:
    """jaxviz-examples' engine alone (3 tiny images, 4 filters of block1_conv1, 32 px): RUN holds only examples."""
    from jaxviz.dataset_examples import make_job
    from jaxviz.dataset_examples.scan import run as examples_run

    root = tmp_path_factory.mktemp("alone")
    images = _photos(root, [(36, 40)] * 3, seed=2)
    out = root / "run"
    examples_run(make_job(images, LAYER, "0:4", top=2, size=32, weights=str(weights_path), out=out))
    return out


def test_a_real_examples_run_alone_gets_an_atlas(alone):
    assert sorted(p.name for p in alone.iterdir()) == ["examples"]  # nothing but the examples
    index = write_atlas(alone)
    home = index.read_text()
    assert index == alone / "atlas" / "index.html" and "dataset examples only" in home
    assert len(re.findall(r'<img src="examples/block1_conv1/\d{4}_0\.webp"', home)) == 4
    assert check_links(alone / "atlas") == 1 + 1 + 1 + 4


@pytest.mark.slow
def test_the_examples_main_refreshes_a_run_atlas_or_makes_its_own_and_names_it(tmp_path, weights_path):
    """jaxviz-examples into a run with an atlas refreshes that atlas (the examples reach it); into a directory
    of its own it writes one; either way its last line names the page to open."""
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (36, 40, 3), dtype=np.uint8)).save(images / f"im{i}.png")
    small = ["--layers", LAYER, "--filters", "0:2", "--weights", str(weights_path)]
    run = tmp_path / "run"
    p = script("visualize", *small, "--size", "32", "--steps", "2", "--out", str(run), "--set", "output.quality=false")
    assert p.returncode == 0, p.stderr
    page = run / "atlas" / "filters" / LAYER / "0000.html"
    assert "examples/" not in page.read_text()  # no examples yet
    for out in (run, tmp_path / "alone"):
        p = script("examples", *small, "--images", str(images), "--size", "32", "--top", "2", "--out", str(out))
        assert p.returncode == 0, p.stderr
        index = out / "atlas" / "index.html"
        assert p.stdout.splitlines()[-1].startswith(f"jaxviz: open {index} in a browser"), p.stdout
        shown = (out / "atlas" / "filters" / LAYER / "0000.html").read_text()
        assert re.search(r'src="[./]*examples/block1_conv1/0000_0\.webp"', shown), shown
