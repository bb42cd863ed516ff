"""The atlas in a real browser (headless Chromium through selenium): pages load cleanly, sort, click, keys."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest
from conftest import (
    NO_BROWSER,
    SyntheticSweep,
    console_errors,
    have_browser,
    open_page,
    small_run,
    small_sweep,
    synthetic_examples,
    synthetic_run,
)

from jaxviz.ascent.records import judged_by_its_image
from jaxviz.atlas import write_atlas

try:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # skipped below
    pass

# Without a browser nothing here runs: not even the run and sweep the pages are made from.
pytestmark = pytest.mark.skipif(not have_browser(), reason=NO_BROWSER)


@pytest.fixture(scope="module")
def site(tmp_path_factory, weights_path) -> dict[str, Path]:
    """A small real run (6 filters of two layers) and a two-point sweep, each with its atlas."""
    root = tmp_path_factory.mktemp("browse")
    run = small_run(root / "run", weights_path, filters="0:6")
    sweep = small_sweep(root / "sweep", weights_path)
    write_atlas(run)
    write_atlas(sweep)
    return {"run": run / "atlas", "sweep": sweep / "atlas"}


def order(d) -> list[int]:
    return [int(li.get_attribute("data-f")) for li in d.find_elements(By.CSS_SELECTOR, "#tiles > li")]


def press(d, key: str, expect: str) -> None:
    ActionChains(d).send_keys(key).perform()
    WebDriverWait(d, 10).until(lambda d: d.current_url.endswith(expect))


def every_kind_of_page(site) -> list:
    """One page of each kind the atlas writes, for a run and for a sweep and its points."""
    run, sweep, point = site["run"], site["sweep"], site["sweep"] / "points" / "step-0.5"
    return [
        run / "index.html",
        run / "layers" / "block1_conv1.html",
        run / "layers" / "block2_conv1.html",
        run / "filters" / "block2_conv1" / "0001.html",
        sweep / "index.html",
        sweep / "compare" / "block1_conv1.html",
        point / "index.html",
        point / "layers" / "block1_conv1.html",
        point / "filters" / "block1_conv1" / "0002.html",
    ]


def test_every_kind_of_page_loads_without_console_errors(browser, site):
    pages = every_kind_of_page(site)
    console_errors(browser)
    for page in pages:
        open_page(browser, page)
        assert browser.title.endswith("· jaxviz atlas") and browser.find_element(By.TAG_NAME, "h1").text
        assert console_errors(browser) == [], page
        broken = browser.execute_script(
            "return [...document.images].filter(i => i.loading !== 'lazy' && !(i.complete && i.naturalWidth)).length"
        )
        assert broken == 0, page


def test_a_layer_sorts_hides_dead_filters_and_keeps_that_in_its_address(browser, site):
    records = json.loads((site["run"].parent / "metrics.json").read_text())["filters"]
    rows = [r for r in records if r["layer"] == "block2_conv1"]
    open_page(browser, site["run"] / "layers" / "block2_conv1.html")
    assert order(browser) == list(range(6))
    Select(browser.find_element(By.ID, "sort")).select_by_value("activation")
    by_activation = [r["filter"] for r in sorted(rows, key=lambda r: (-r["activation"], r["filter"]))]
    assert order(browser) == by_activation
    assert browser.current_url.endswith("#sort=activation")
    browser.find_element(By.ID, "reverse").click()
    lowest_first = [r["filter"] for r in sorted(rows, key=lambda r: (r["activation"], r["filter"]))]
    assert order(browser) == lowest_first
    browser.find_element(By.ID, "hide-dead").click()
    shown = [li for li in browser.find_elements(By.CSS_SELECTOR, "#tiles > li") if li.is_displayed()]
    assert len(shown) == sum(not judged_by_its_image(r)["dead"] for r in rows)  # a silent filter is no dead one
    browser.refresh()  # the address holds the view: reloading (or sharing it) gives the same order
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert Select(browser.find_element(By.ID, "sort")).first_selected_option.get_attribute("value") == "activation"
    assert browser.find_element(By.ID, "hide-dead").is_selected()
    assert order(browser) == lowest_first
    assert console_errors(browser) == []


def test_a_tile_leads_to_its_filter_and_the_arrow_keys_walk_the_network(browser, site):
    open_page(browser, site["run"] / "layers" / "block1_conv1.html")
    browser.find_element(By.CSS_SELECTOR, '#tiles > li[data-f="4"] a').click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("filters/block1_conv1/0004.html"))
    assert "filter 4" in browser.find_element(By.TAG_NAME, "h1").text
    press(browser, Keys.ARROW_RIGHT, "filters/block1_conv1/0005.html")
    press(browser, Keys.ARROW_RIGHT, "filters/block2_conv1/0000.html")  # past a layer's last filter: the next layer
    press(browser, Keys.ARROW_LEFT, "filters/block1_conv1/0005.html")
    press(browser, "]", "filters/block2_conv1/0005.html")  # the same filter in the next layer
    press(browser, "[", "filters/block1_conv1/0005.html")
    assert console_errors(browser) == []


def test_jump_to_a_filter_by_number(browser, site):
    open_page(browser, site["run"] / "layers" / "block1_conv1.html")
    box = browser.find_element(By.ID, "jump")
    box.send_keys("99", Keys.ENTER)
    assert "not in this run" in browser.find_element(By.ID, "jump-msg").text
    box.clear()
    box.send_keys("3", Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("filters/block1_conv1/0003.html"))


def test_served_over_http_too(browser, site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site["run"])))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        for page in ("index.html", "layers/block1_conv1.html", "filters/block1_conv1/0000.html"):
            open_page(browser, base + page)
            assert console_errors(browser) == [], page
        browser.find_element(By.CSS_SELECTOR, 'a[rel="next"]').click()
        WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("filters/block1_conv1/0001.html"))
    finally:
        server.shutdown()
        server.server_close()


def test_the_sweep_table_sorts_and_switches_its_numbers(browser, site):
    open_page(browser, site["sweep"] / "index.html")

    def names() -> list[str]:
        return [
            tr.find_element(By.TAG_NAME, "th").text for tr in browser.find_elements(By.CSS_SELECTOR, "#points tbody tr")
        ]

    assert names() == ["step-0.5", "step-1.0"]
    header = browser.find_element(By.XPATH, "//table[@id='points']//th[normalize-space()='ascent.step']/button")
    header.click()
    assert names() == ["step-0.5", "step-1.0"]
    header.click()
    assert names() == ["step-1.0", "step-0.5"]

    def shown() -> list[str]:
        return [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#points th.layer") if th.is_displayed()]

    def cells() -> list[str]:
        return [td.text for td in browser.find_elements(By.CSS_SELECTOR, "#points td.layer")]

    stats = {
        p["name"]: p["layers"]["block1_conv1"]
        for p in json.loads((site["sweep"].parent / "index.json").read_text())["points"]
    }
    assert shown() == ["block1_conv1\nactivation mean"]
    Select(browser.find_element(By.ID, "metric")).select_by_value("dead")
    assert shown() == ["block1_conv1\ndead"]  # the other numbers, from the page's JSON
    assert cells() == [str(stats[name]["dead"]) for name in names()]
    header.click()  # sorted by the number shown
    dead = [stats[name]["dead"] for name in names()]
    assert dead == sorted(dead) or dead == sorted(dead, reverse=True)
    browser.find_element(By.LINK_TEXT, "step-1.0").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("points/step-1.0/index.html"))
    assert console_errors(browser) == []


# Every element that lays out pictures, on any page: each picture must be wholly in view, never clipped.
GALLERIES = ".net-grid, .tiles, .peers, .hero, .compare, .ex-strip"
CLIPPED = """
const view = document.documentElement.clientWidth, bad = [];
for (const g of document.querySelectorAll(arguments[0])) {
  const box = g.getBoundingClientRect();
  for (const el of g.querySelectorAll("img, .ph")) {
    const r = el.getBoundingClientRect(), what = el.getAttribute("alt") || el.getAttribute("aria-label");
    if (!r.width) continue;  // not shown (a hidden dead filter)
    if (r.left < box.left - .5 || r.right > box.right + .5) bad.push(what + ": outside its " + g.className);
    if (r.left < -.5 || r.right > view + .5) bad.push(what + ": outside the window");
    for (let a = el.parentElement; a && a !== document.documentElement; a = a.parentElement) {
      if (getComputedStyle(a).overflowX === "visible") continue;
      const c = a.getBoundingClientRect(), left = c.left + a.clientLeft;
      if (r.left < left - .5 || r.right > left + a.clientWidth + .5) bad.push(what + ": hidden by " + a.className);
    }
  }
}
return {scroll: document.documentElement.scrollWidth, view: view, inner: window.innerWidth, bad: bad};
"""


@pytest.mark.parametrize("width", [1024, 1400, 1920])
def test_no_page_scrolls_sideways_and_every_picture_is_in_view(browser, site, width):
    pages = every_kind_of_page(site)
    browser.set_window_size(width, 900)
    try:
        for page in pages:
            open_page(browser, page)
            got = browser.execute_script(CLIPPED, GALLERIES)
            assert got["inner"] == width, got  # the window is the size asked for
            assert got["scroll"] <= got["view"], (page, width, got)  # no sideways scrolling
            assert got["bad"] == [], (page.relative_to(page.parents[2]), width, got["bad"][:3])
    finally:
        browser.set_window_size(1280, 900)


def test_a_picture_deleted_after_writing_shows_a_placeholder(browser, site, tmp_path):
    atlas = Path(shutil.copytree(site["run"], tmp_path / "atlas"))
    (atlas / "img" / "block1_conv1" / "0002.png").unlink()
    open_page(browser, atlas / "filters" / "block1_conv1" / "0002.html")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".hero .ph"))
    assert not browser.find_elements(By.CSS_SELECTOR, ".hero img")
    assert any("0002.png" in e["message"] for e in console_errors(browser))  # the console check sees failed loads


def recorded(run: Path) -> Path:
    """Every per-layer number a real run records in metrics.json (quality, times, compile counts) added."""
    path = run / "metrics.json"
    metrics = json.loads(path.read_text())
    for s in metrics["layers"].values():
        s.update(display_activation_mean=1.5, robustness_mean=0.75, selectivity=0.5, compile_seconds=1.25)
        s.update(compile_cache_misses=2, seconds=12.5, quality_seconds=3.5, quality_skipped_estimate_seconds=0.0)
    path.write_text(json.dumps(metrics))
    return run


# Elements that scroll sideways inside the page (a table wider than its box); a config's long lines may.
SCROLLED = """
return [...document.querySelectorAll("body *")].filter(e => e.tagName !== "PRE" && e.scrollWidth > e.clientWidth + 1
  && ["auto", "scroll"].includes(getComputedStyle(e).overflowX)).map(e => e.className + ": " + e.scrollWidth)
"""


@pytest.fixture(scope="module")
def indexes(tmp_path_factory) -> dict[str, Path]:
    """Synthetic sites (no JAX) with what widens an index: layers of 40 filters, dataset examples beside them or
    alone, a long image folder, a sweep of 12 points over 5 layers."""
    root = tmp_path_factory.mktemp("wide") / ("a-long-folder-name-for-the-dataset-images-" * 3)
    layers = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv3", "block5_conv3")
    plain = recorded(synthetic_run(root / "plain", layers, 40))
    both = synthetic_examples(recorded(synthetic_run(root / "examples", layers, 40)), dict.fromkeys(layers, 40), top=4)
    (root / "alone").mkdir()
    alone = synthetic_examples(root / "alone", {"block1_conv1": 40, "block3_conv3": 12}, top=4)
    sweep = SyntheticSweep(root / "sweep", 12, layers)
    for i in range(12):
        sweep.finish(i)
    synthetic_examples(sweep.root / "point-0003", {"block1_conv1": 3, "block2_conv1": 3})
    for site in (plain, both, alone, sweep.root):
        write_atlas(site)
    return {
        "run": plain / "atlas" / "index.html",
        "run with examples": both / "atlas" / "index.html",
        "examples alone": alone / "atlas" / "index.html",
        "sweep": sweep.root / "atlas" / "index.html",
        "sweep point with examples": sweep.root / "atlas" / "points" / "point-0003" / "index.html",
        "across the sweep": sweep.root / "atlas" / "compare" / "block1_conv1.html",
    }


@pytest.mark.parametrize("width", [1024, 1280, 1440, 1920])
def test_no_index_scrolls_sideways_with_or_without_examples(browser, indexes, width):
    browser.set_window_size(width, 900)
    try:
        for what, page in indexes.items():
            open_page(browser, page)
            got = browser.execute_script(CLIPPED, GALLERIES)
            assert got["inner"] == width, got
            assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), (
                what,
                width,
                got,
            )
            assert browser.execute_script(SCROLLED) == [], (what, width)  # nor any part of it
            assert got["bad"] == [], (what, width, got["bad"][:3])
            assert console_errors(browser) == [], what
    finally:
        browser.set_window_size(1280, 900)


def test_the_index_pictures_the_network_and_leads_to_filters_layers_and_numbers(browser, indexes):
    open_page(browser, indexes["run with examples"])
    grids = browser.find_elements(By.CSS_SELECTOR, ".net-grid")
    assert [g.get_attribute("aria-label").split()[-1] for g in grids] == [
        "block1_conv1", "block2_conv1", "block3_conv1", "block4_conv3", "block5_conv3"
    ]  # fmt: skip
    assert all(len(g.find_elements(By.CSS_SELECTOR, ":scope > li")) == 32 for g in grids)
    first = grids[2].find_elements(By.CSS_SELECTOR, "li a")[5]
    assert len(first.find_elements(By.TAG_NAME, "img")) == 2  # its image over its best dataset crop
    first.click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("filters/block3_conv1/0005.html"))
    browser.back()
    browser.find_element(By.LINK_TEXT, "all 40 filters of block4_conv3 →").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("layers/block4_conv3.html"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#tiles > li")) == 40
    browser.back()
    browser.find_elements(By.LINK_TEXT, "numbers")[1].click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("numbers.html#n-block2_conv1"))
    assert browser.find_element(By.ID, "n-block2_conv1").is_displayed()
    assert console_errors(browser) == []


def test_a_filter_leads_to_itself_in_every_point(browser, indexes):
    point = indexes["sweep"].parent / "points" / "point-0004"
    open_page(browser, point / "filters" / "block2_conv1" / "0002.html")
    browser.find_element(By.PARTIAL_LINK_TEXT, "in every point of the sweep").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url.endswith("compare/block2_conv1.html#f2"))
    focus = browser.find_element(By.ID, "focus")
    assert focus.is_displayed() and "block2_conv1 filter 2 in every point" in focus.text
    items = focus.find_elements(By.CSS_SELECTOR, "#focus-list > li")
    assert len(items) == 12 and "step 0.25" in items[4].text  # each point with its settings
    WebDriverWait(browser, 10).until(
        lambda d: d.execute_script("return [...document.querySelectorAll('#focus img')].every(i => i.complete)")
    )
    assert browser.execute_script("return [...document.querySelectorAll('#focus img')].every(i => i.naturalWidth)")
    rows = browser.find_elements(By.CSS_SELECTOR, "#across tbody tr")
    assert [r.get_attribute("id") for r in rows] == ["f0", "f1", "f2"]
    assert all(len(r.find_elements(By.CSS_SELECTOR, "td a img")) == 12 for r in rows)  # a filter in every point
    assert "focus" in rows[2].get_attribute("class")
    box = browser.find_element(By.ID, "jump")
    box.send_keys("1", Keys.ENTER)  # another filter: the view follows
    WebDriverWait(browser, 10).until(lambda d: "filter 1 in every point" in d.find_element(By.ID, "focus-h").text)
    browser.find_elements(By.CSS_SELECTOR, "#focus-list > li a")[7].click()
    WebDriverWait(browser, 10).until(
        lambda d: d.current_url.endswith("points/point-0007/filters/block2_conv1/0001.html")
    )
    assert console_errors(browser) == []
