"""The atlas without a browser: what it writes for a run and a sweep, incremental rewrites, bad input, placeholders."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ATLAS_LAYERS, assert_main_refuses, check_links, script, small_run, small_sweep, synthetic_run
from PIL import Image

from jaxviz.atlas import filter_pages, tiles, write_atlas
from jaxviz.atlas.page_parts import label
from jaxviz.cli import atlas as atlas_command
from jaxviz.errors import JaxvizError
from jaxviz.show.display import dead_tile

real_thumb = tiles._thumb
# Why a dead filter's page shows a cross: the template's own text, shown as written (its apostrophe not escaped).
DEAD_NOTE = (
    "This filter never fired: its activation never rose above zero, so the ascent had nothing to follow "
    "and its image is only the starting noise. The cross marks it as dead (the run's state keeps the noise)."
)


@pytest.fixture(scope="module")
def made(tmp_path_factory, weights_path) -> Path:
    return small_run(tmp_path_factory.mktemp("atlas") / "run", weights_path)


@pytest.fixture
def run_dir(made, tmp_path) -> Path:
    """A fresh copy of the module's run, without an atlas, for a test to change."""
    return Path(shutil.copytree(made, tmp_path / "run"))


def test_a_run_atlas_holds_every_page_and_picture(run_dir):
    index = write_atlas(run_dir)
    atlas = run_dir / "atlas"
    assert index == atlas / "index.html"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for layer in ATLAS_LAYERS:
        assert (atlas / "layers" / f"{layer}.html").is_file()
        for f in range(4):
            assert (atlas / "filters" / layer / f"{f:04d}.html").is_file()
            assert Image.open(atlas / "thumb" / layer / f"{f:04d}.webp").format == "WEBP"
    dead = {r["filter"] for r in metrics["filters"] if r["layer"] == "block2_conv1" and r["dead"]}
    stored = {}
    for chunk in sorted((run_dir / "state" / "block2_conv1").glob("*.npz")):
        with np.load(chunk) as z:
            stored.update(zip(map(int, z["filters"]), z["tiles"]))
    live = min(set(stored) - dead)  # a dead filter shows the dead mark instead
    png = np.asarray(Image.open(atlas / "img" / "block2_conv1" / f"{live:04d}.png"))
    assert np.array_equal(png, stored[live])  # the stored tile itself, lossless
    assert check_links(atlas) == 1 + 1 + 2 + 8  # index, numbers, layers, filters
    home = index.read_text()
    assert all(layer in home for layer in ATLAS_LAYERS) and "[ascent]" in home and 'class="net-grid images"' in home
    record = next(r for r in metrics["filters"] if r["layer"] == "block2_conv1" and r["filter"] == 1)
    page = (atlas / "filters" / "block2_conv1" / "0001.html").read_text()
    assert "<svg" in page and 'rel="prev"' in page and 'rel="next"' in page
    for key in ("activation", "initial_activation", "max_activation", "dead", "nan_step"):
        assert f">{label(key)}<" in page
    assert f"{record['activation']:.6g}" in page
    assert "base64" not in page and "https://" not in home


def test_fields_added_later_appear_without_code_changes(run_dir):
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text())
    for r in metrics["filters"]:
        r.update(robustness=0.25 + r["filter"], selectivity_index=3, note="made by hand")
    path.write_text(json.dumps(metrics))
    atlas = write_atlas(run_dir).parent
    page = (atlas / "filters" / "block1_conv1" / "0002.html").read_text()
    assert ">robustness<" in page and ">2.25<" in page and ">selectivity index<" in page and "made by hand" in page
    layer = (atlas / "layers" / "block1_conv1.html").read_text()
    assert '<option value="robustness">' in layer  # and the layer page can sort by it


def _mtimes(atlas: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in atlas.rglob("*") if p.is_file()}


def test_rewrites_only_what_changed(run_dir, monkeypatch):
    atlas = write_atlas(run_dir).parent
    before = _mtimes(atlas)
    encoded, made = [], []
    monkeypatch.setattr(tiles, "_thumb", lambda tile: encoded.append(tile) or (b"x", (1, 1)))
    real_filter_html = filter_pages.filter_html
    monkeypatch.setattr(
        filter_pages, "filter_html", lambda v, here, *a: made.append(here) or real_filter_html(v, here, *a)
    )
    write_atlas(run_dir)
    assert _mtimes(atlas) == before and not encoded and not made  # nothing changed: nothing made, nothing written

    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text())
    metrics["filters"][2]["activation"] = 1234.5  # block1_conv1 filter 2
    path.write_text(json.dumps(metrics))
    (atlas / "img" / "block2_conv1" / "0003.png").unlink()  # deleted by hand: made again
    monkeypatch.setattr(tiles, "_thumb", real_thumb)
    write_atlas(run_dir)
    assert sorted(made) == [f"filters/block1_conv1/{f:04d}.html" for f in range(4)]  # that layer's pages only
    after = _mtimes(atlas)
    changed = {p.relative_to(atlas).as_posix() for p in after if after[p] != before.get(p)}
    assert changed == {
        ".atlas.json",  # what the pages and pictures were made from
        "filters/block1_conv1/0002.html",
        "layers/block1_conv1.html",
        "index.html",  # its best-filters strip
        "img/block2_conv1/0003.png",  # its thumbnail came out byte-identical, so it was left alone
    }


def test_missing_or_damaged_chunks_show_a_placeholder(run_dir):
    write_atlas(run_dir)
    chunks = sorted((run_dir / "state" / "block2_conv1").glob("*.npz"))
    with np.load(chunks[0]) as z:
        gone = [int(f) for f in z["filters"]]
    chunks[0].unlink()
    chunks[1].write_bytes(b"not a zip")
    with np.load(chunks[2]) as z:
        kept = [int(f) for f in z["filters"]]
    atlas = write_atlas(run_dir).parent
    assert chunks[1].exists()  # read, never moved aside: the atlas leaves the run's state alone
    for f in gone:
        page = (atlas / "filters" / "block2_conv1" / f"{f:04d}.html").read_text()
        assert 'class="ph"' in page and "No image is stored" in page
        assert not (atlas / "img" / "block2_conv1" / f"{f:04d}.png").exists()  # the old picture is pruned
    assert 'class="ph"' not in (atlas / "filters" / "block2_conv1" / f"{kept[0]:04d}.html").read_text()
    assert (atlas / "layers" / "block2_conv1.html").read_text().count('class="ph"') == 2
    check_links(atlas)


def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def test_a_dead_filter_shows_the_dead_mark_and_the_run_keeps_its_tile(run_dir, real_weights):
    path = run_dir / "metrics.json"
    original = path.read_text()
    metrics = json.loads(original)
    rows = {r["filter"]: r for r in metrics["filters"] if r["layer"] == "block2_conv1"}
    assert any(r["dead"] for r in rows.values()) or not real_weights, "no dead filter left to check the grid with"
    stored = tiles.read_tiles(run_dir, "block2_conv1", set(rows))  # the run's state
    mark = dead_tile(stored[1].shape)
    # The run's own grid: a filter that never fired (the real weights leave block2_conv1 filter 0 at 0 for 2 steps)
    # is the mark there, every other filter its image. 4 tiles of 32 px, 2 columns, 5 px apart.
    grid = _rgb(run_dir / "block2_conv1.png")
    for f, r in rows.items():
        cell = grid[f // 2 * 37 : f // 2 * 37 + 32, f % 2 * 37 : f % 2 * 37 + 32]
        assert np.array_equal(cell, mark if r["dead"] and not r["nan"] else stored[f]), f
    # Its image as displayed does not fire it either (else it is "silent", not dead: the next test).
    rows[1].update(activation=0.0, initial_activation=0.0, max_activation=0.0, dead=True, history=[0.0, 0.0, 0.0],
                   display_activation=0.0)  # fmt: skip
    rows[2].update(dead=True, nan=True, nan_step=1)  # a NaN filter keeps its last finite image
    path.write_text(json.dumps(metrics))
    atlas = write_atlas(run_dir).parent
    assert not np.array_equal(stored[1], mark)  # the run's state keeps the starting noise
    assert np.array_equal(_rgb(atlas / "img" / "block2_conv1" / "0001.png"), mark)
    assert np.array_equal(_rgb(atlas / "thumb" / "block2_conv1" / "0001.webp"), mark)  # lossless: exactly the mark
    for f in (2, 3):
        assert np.array_equal(_rgb(atlas / "img" / "block2_conv1" / f"{f:04d}.png"), stored[f])
    layer = (atlas / "layers" / "block2_conv1.html").read_text()
    assert '<li data-i="1" data-f="1" class="dead">' in layer
    assert 'alt="block2_conv1 filter 1: dead, it never fired"' in layer
    assert 'alt="block2_conv1 filter 2"' in layer  # NaN: its picture is its image, not the mark
    page = (atlas / "filters" / "block2_conv1" / "0001.html").read_text()
    assert '<figure class="hero dead">' in page and DEAD_NOTE in page and 'class="badge dead"' in page
    assert DEAD_NOTE not in (atlas / "filters" / "block2_conv1" / "0002.html").read_text()

    path.write_text(original)  # alive after all (a rerun): its own image comes back
    write_atlas(run_dir)
    assert np.array_equal(_rgb(atlas / "img" / "block2_conv1" / "0001.png"), stored[1])
    assert "filter 1: dead" not in (atlas / "layers" / "block2_conv1.html").read_text()


def test_per_filter_pngs_stand_in_for_deleted_state(run_dir):
    tile = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    (run_dir / "filters" / "block1_conv1").mkdir(parents=True)
    Image.fromarray(tile).save(run_dir / "filters" / "block1_conv1" / "0001.png")  # output.filter_pngs=true's file
    shutil.rmtree(run_dir / "state")
    atlas = write_atlas(run_dir).parent
    assert np.array_equal(np.asarray(Image.open(atlas / "img" / "block1_conv1" / "0001.png")), tile)
    assert 'class="ph"' in (atlas / "filters" / "block1_conv1" / "0000.html").read_text()


def test_a_run_before_its_first_layer_finishes(tmp_path):
    (tmp_path / "config.toml").write_text("[ascent]\nsize = 32\n")
    atlas = write_atlas(tmp_path).parent
    assert "No layer has finished yet" in (atlas / "index.html").read_text()


@pytest.mark.parametrize(
    "case, needle",
    [
        ("empty", "neither a run directory"),
        ("missing", "is not a directory"),
        ("truncated", "metrics.json is damaged (not JSON"),
        ("wrong shape", "metrics.json is damaged (a filter record has the layer '../x')"),
        ("bad index", "index.json is damaged"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, case, needle):
    target = tmp_path / "d"
    if case != "missing":
        target.mkdir()
    if case == "truncated":
        (target / "metrics.json").write_text('{"filters": [{"layer": "block1_co')
    elif case == "wrong shape":
        (target / "metrics.json").write_text(json.dumps({"filters": [{"layer": "../x", "filter": 0}], "layers": {}}))
    elif case == "bad index":
        (target / "index.json").write_text(json.dumps({"points": [{"name": "a/../../b"}]}))
    assert_main_refuses(atlas_command.main, [str(target)], capsys, needle)
    assert not (target / "atlas").exists()
    with pytest.raises(JaxvizError, match=re.escape(needle)):
        write_atlas(target)


def test_the_command_writes_the_atlas(run_dir):
    p = script("atlas", str(run_dir), timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"jaxviz: wrote {run_dir / 'atlas' / 'index.html'} (open it in a browser)"


def test_a_sweep_atlas_compares_the_points(tmp_path, weights_path):
    out = small_sweep(tmp_path, weights_path)
    index = json.loads((out / "index.json").read_text())
    index["points"].append({**index["points"][0], "name": "step-2.0", "status": "pending", "layers": {}})
    (out / "index.json").write_text(json.dumps(index))  # a point not run yet: a row, no pages
    metrics = json.loads((out / "step-0.5" / "metrics.json").read_text())
    # block1_conv1 filter 1 never fired there, its image as displayed neither (else it is silent, not dead)
    metrics["filters"][1].update(dead=True, history=[0.0, 0.0, 0.0], display_activation=0.0)
    (out / "step-0.5" / "metrics.json").write_text(json.dumps(metrics))
    atlas = write_atlas(out).parent
    home = (atlas / "index.html").read_text()
    assert 'href="points/step-0.5/index.html"' in home and 'href="points/step-1.0/index.html"' in home
    assert ">step-2.0<" in home and ">pending<" in home and 'href="compare/block1_conv1.html"' in home
    compare = (atlas / "compare" / "block1_conv1.html").read_text()
    assert ">block1_conv1 across the sweep<" in compare and '<script src="points.js"></script>' in compare
    # The page is drawn by atlas.js (tests/test_atlas_browser.py looks at it) from the points in points.js and
    # one script a point.
    points = (atlas / "compare" / "points.js").read_text()
    assert '"name":"step-0.5"' in points and '"prefix":"../points/step-1.0/"' in points and "step-2.0" not in points
    data = {}
    for point in ("step-0.5", "step-1.0"):
        script = (atlas / "points" / point / "across" / "block1_conv1.js").read_text()
        data[point] = json.loads(re.fullmatch(r"\(window.jaxvizAcross = .*?\)\.push\((.*)\);\n", script, re.S)[1])
    assert [x["filter"] for x in data["step-1.0"]["filters"]] == [0, 1, 2]
    peer = data["step-0.5"]["filters"][1]  # its dead filter, marked
    assert (
        peer["dead"] and peer["text"] == "dead" and peer["href"] == "../points/step-0.5/filters/block1_conv1/0001.html"
    )
    assert peer["picture"]["alt"] == "block1_conv1 filter 1 in point step-0.5: dead, it never fired"
    page = (atlas / "points" / "step-1.0" / "filters" / "block1_conv1" / "0001.html").read_text()
    assert 'href="../../../../compare/block1_conv1.html#f1"' in page and page.count("<img") == 1  # no other point
    assert check_links(atlas) == 1 + 1 + 2 * (1 + 1 + 1 + 3)  # home, compare; each point: index, numbers, layer
    shutil.move(out, tmp_path / "moved")  # links are relative: a moved (or copied, or served) sweep still works
    check_links(write_atlas(tmp_path / "moved").parent)


def test_the_index_is_a_picture_of_the_network(tmp_path):
    from jaxviz.model.architecture import CONV_LAYERS

    run = synthetic_run(tmp_path / "run", ("block1_conv1", "block3_conv1"), filters=40)
    path = run / "metrics.json"
    metrics = json.loads(path.read_text())
    for s in metrics["layers"].values():  # what a run records about itself, for developers
        s.update(compile_seconds=1.25, compile_cache_misses=3, quality_skipped_estimate_seconds=99.5, seconds=2.5)
    path.write_text(json.dumps(metrics))
    atlas = write_atlas(run).parent
    home = (atlas / "index.html").read_text()
    at = [home.index(f">{layer}<") for layer in CONV_LAYERS]  # every layer of VGG16, in network order
    assert at == sorted(at) and home.count("not in this run") == len(CONV_LAYERS) - 2
    grids = re.findall(r'<ol class="net-grid images"[^>]*>(.*?)</ol>', home, re.S)
    assert len(grids) == 2
    for layer, grid in zip(("block1_conv1", "block3_conv1"), grids):
        # A bounded grid (its first filters), each a lazy thumbnail that opens its page; all of them one click on.
        assert re.findall(r'<a href="([^"]+)"', grid) == [f"filters/{layer}/{f:04d}.html" for f in range(32)]
        assert grid.count('loading="lazy"') == 32 and f'src="thumb/{layer}/0031.webp"' in grid
        assert f'<a href="layers/{layer}.html">all 40 filters of {layer} →</a>' in home
        assert f'<a href="layers/{layer}.html">{layer}</a>' in home
        assert f'<li class="dead"><a href="filters/{layer}/0000.html" title="filter 0 · dead">' in grid
    # The numbers are one click away; those about the run itself are not on the front page.
    assert 'href="numbers.html#n-block1_conv1"' in home and "<table" not in home
    for name in ("compile_seconds", "compile_cache_misses", "quality_skipped_estimate_seconds"):
        assert f">{label(name)}<" not in home
    numbers = (atlas / "numbers.html").read_text()
    found, developer = numbers.split("For developers")
    assert 'id="n-block3_conv1"' in found and ">activation mean<" in found and ">seconds<" in found
    assert ">compile cache misses<" in developer and ">quality skipped estimate seconds<" in developer
    assert ">compile seconds<" in developer and ">compile cache misses<" not in found
    assert check_links(atlas) == 1 + 1 + 2 + 80


def test_a_filter_its_ascent_never_fired_but_its_image_does_is_silent_not_dead(run_dir):
    """Finding 14: a filter whose 2-step ascent never fired it (metrics.json's dead) while its image as displayed
    does (display activation 4.7) is no dead mark with "never fired" on its page: its image, a "silent in its
    ascent" badge, why, and what the display activation measures; the layer counts it as no dead filter."""
    path = run_dir / "metrics.json"
    metrics = json.loads(path.read_text())
    rows = {r["filter"]: r for r in metrics["filters"] if r["layer"] == "block2_conv1"}
    rows[1].update(activation=0.0, max_activation=0.0, dead=True, history=[0.0, 0.0, 0.0], display_activation=4.7)
    metrics["layers"]["block2_conv1"]["dead"] = sum(r["dead"] for r in rows.values())
    path.write_text(json.dumps(metrics))
    atlas = write_atlas(run_dir).parent
    stored = tiles.read_tiles(run_dir, "block2_conv1", {1})
    assert np.array_equal(_rgb(atlas / "img" / "block2_conv1" / "0001.png"), stored[1])  # its image, no mark
    page = (atlas / "filters" / "block2_conv1" / "0001.html").read_text()
    assert DEAD_NOTE not in page and '<figure class="hero dead">' not in page and 'class="badge silent"' in page
    assert "never made this filter fire" in page and "display activation 4.7" in page
    assert label("display_activation") == "activation of the image as displayed"
    layer = (atlas / "layers" / "block2_conv1.html").read_text()
    assert "filter 1: dead" not in layer
    assert f"{sum(r['dead'] for r in rows.values()) - 1} dead" in layer
