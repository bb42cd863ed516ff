"""A sweep's atlas across models: with `model.name` as an axis, a layer across points is one model's layer across
that model's points, and a layer name several models share gets a page across them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import check_links, console_errors, have_browser, open_page, synthetic_run

from jaxviz.atlas import write_atlas
from jaxviz.sweep import sweep_index

# Each point's model and layers: VGG16 and VGG19 share block1_conv1; ResNet50 shares nothing.
POINTS = [
    ("vgg16", ("block1_conv1", "block2_conv1")),
    ("vgg19", ("block1_conv1", "block3_conv4")),
    ("resnet50", ("conv1_conv", "conv2_block1_out")),
    ("vgg19", ("block1_conv1", "block3_conv4")),
]


def points_of(script: Path) -> list[dict]:
    text = script.read_text()
    return json.loads(re.fullmatch(r"window\.jaxvizPoints = (.*);\n", text, re.S)[1])["points"]


def publish(root: Path, points: list[tuple[str, tuple[str, ...]]]) -> None:
    """index.json of a grid sweep over model.name (synthetic points: no JAX), every point done."""
    entries = []
    for i, (model, layers) in enumerate(points):
        name = f"point-{i:04d}"
        if not (root / name).is_dir():
            synthetic_run(root / name, layers, filters=3, seed=i)
        summary = json.loads((root / name / "metrics.json").read_text())["layers"]
        entries.append(sweep_index.entry(name, name, {"model.name": model}, "done", None, 1.0, summary))
    axes = {"model.name": list(dict.fromkeys(model for model, _ in points))}
    doc = {"sweep": {"mode": "grid", "axes": axes, "base": {}}, "points": entries}
    (root / "index.json").write_text(json.dumps(doc))


def test_each_layer_is_compared_within_its_model_and_shared_names_across_models(tmp_path):
    root = tmp_path / "sweep"
    root.mkdir()
    publish(root, POINTS[:1])  # one model so far: the pages of a sweep of one model
    atlas = write_atlas(root).parent
    assert (atlas / "compare" / "block1_conv1.html").is_file() and not (atlas / "compare" / "vgg16").exists()

    publish(root, POINTS)  # now over models: every point's pages move to its model's comparisons
    write_atlas(root)
    compare = atlas / "compare"
    assert not (compare / "block1_conv1.html").exists() and not (compare / "points.js").exists()
    for model, layers in dict(POINTS).items():
        for layer in layers:
            page = (compare / model / f"{layer}.html").read_text()
            assert f"<h1>{layer} of {model} across the sweep</h1>" in page
            assert ("block1_conv1 across models</a>" in page) == (layer == "block1_conv1")
    assert [p["name"] for p in points_of(compare / "vgg19" / "points.js")] == ["point-0001", "point-0003"]
    assert [p["name"] for p in points_of(compare / "resnet50" / "points.js")] == ["point-0002"]
    # The one name two models share, across them: the points grouped by model (the page shows those with the layer).
    assert sorted(p.name for p in (compare / "across-models").iterdir()) == ["block1_conv1.html", "points.js"]
    across = points_of(compare / "across-models" / "points.js")
    assert [p["name"] for p in across] == ["point-0000", "point-0001", "point-0003", "point-0002"]
    assert across[1]["prefix"] == "../../points/point-0001/" and across[1]["caption"] == "name vgg19"
    page = (compare / "across-models" / "block1_conv1.html").read_text()
    assert '<a href="../vgg16/block1_conv1.html">vgg16</a>, <a href="../vgg19/block1_conv1.html">vgg19</a>' in page
    # A point's filters of a layer, as both pages at compare/<folder>/ read them; a filter page leads to its model's.
    script = (atlas / "points" / "point-0001" / "across" / "block1_conv1.js").read_text()
    assert '"href":"../../points/point-0001/filters/block1_conv1/0002.html"' in script
    filter_page = (atlas / "points" / "point-0003" / "filters" / "block3_conv4" / "0001.html").read_text()
    assert 'href="../../../../compare/vgg19/block3_conv4.html#f1"' in filter_page
    layer_page = (atlas / "points" / "point-0002" / "layers" / "conv1_conv.html").read_text()
    assert 'href="../../../compare/resnet50/conv1_conv.html"' in layer_page

    home = (atlas / "index.html").read_text()
    # Per model its layers in its order; the shared name once, with its models; the table's columns in each
    # model's order (VGG19's block3_conv4 after VGG16's block2_conv1, ResNet50's after both).
    for model, layers in dict(POINTS).items():
        block = home.split(f"<h3>{model}</h3>")[1].split("</ul>")[0]
        assert re.findall(r'href="compare/[^/]+/([^"]+)\.html"', block) == list(layers), block
    assert '<a href="compare/across-models/block1_conv1.html">block1_conv1</a> — vgg16, vgg19' in home
    columns = re.findall(r'<th scope="col" class="layer">(\w+?)<wbr>(\w+)<small>', home)
    assert ["".join(c) for c in columns] == [
        "block1_conv1", "block2_conv1", "block3_conv4", "conv1_conv", "conv2_block1_out"
    ]  # fmt: skip
    assert ">model.name</th>" in home and ">resnet50</td>" in home  # the model of each point, in the table
    check_links(atlas)


def test_a_sweep_over_vgg16_and_vgg19_and_its_pages_in_a_browser(tmp_path, weights_path, request):
    """A real sweep (random VGG19 weights; 2 filters of block1_conv1 at 32 px, 2 steps), its atlas as the sweep
    leaves it; drawn by a headless browser where there is one."""
    from jaxviz.sweep.sweep_runner import sweep

    path = tmp_path / "models.toml"
    path.write_text(
        '[target]\nlayers = "block1_conv1"\nfilters = "0:2"\n[ascent]\nsize = 32\nsteps = 2\n'
        "[output]\nquality = false\n"
        f'[sweep]\nmode = "zip"\n[sweep.axes]\n"model.name" = ["vgg16", "vgg19"]\n'
        f'"model.weights" = [{json.dumps(str(weights_path))}, "random"]\n'
    )
    sweep(path, tmp_path / "out")
    atlas = write_atlas(tmp_path / "out").parent
    names = [p["name"] for p in json.loads((tmp_path / "out" / "index.json").read_text())["points"]]
    for model, point in zip(("vgg16", "vgg19"), names):
        page = (atlas / "compare" / model / "block1_conv1.html").read_text()
        assert f"block1_conv1 of {model} across the sweep" in page
        assert [p["name"] for p in points_of(atlas / "compare" / model / "points.js")] == [point]
    page = (atlas / "compare" / "across-models" / "block1_conv1.html").read_text()
    assert "<h1>block1_conv1 across models across the sweep</h1>" in page
    home = (atlas / "index.html").read_text()
    assert "<h3>vgg16</h3>" in home and "<h3>vgg19</h3>" in home and "— vgg16, vgg19</li>" in home
    assert "VGG19, 1 layer, 2 filters" in (atlas / "points" / names[1] / "index.html").read_text()
    check_links(atlas)
    if not have_browser():
        return
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = request.getfixturevalue("browser")
    console_errors(d)
    open_page(d, atlas / "compare" / "across-models" / "block1_conv1.html")
    WebDriverWait(d, 10).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#across tbody tr")) == 2)
    heads = [th.text for th in d.find_elements(By.CSS_SELECTOR, "#across thead th")][1:]
    assert [h.split("\n")[0] for h in heads] == names and "name vgg19" in heads[1]
    cells = d.find_elements(By.CSS_SELECTOR, "#across tbody tr td a img")
    assert len(cells) == 4  # 2 filters x 2 models, each a picture
    WebDriverWait(d, 10).until(lambda d: d.execute_script("return [...document.images].every(i => i.complete)"))
    assert d.execute_script("return [...document.images].every(i => i.naturalWidth > 0)")
    open_page(d, (atlas / "compare" / "vgg19" / "block1_conv1.html").as_uri() + "#f1")
    WebDriverWait(d, 10).until(lambda d: d.find_element(By.ID, "focus").is_displayed())
    assert len(d.find_elements(By.CSS_SELECTOR, "#focus-list > li")) == 1  # VGG19's one point, not VGG16's
    assert console_errors(d) == []
