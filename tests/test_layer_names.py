"""Layer names that are not file names: a Keras model nested in another ("inner/z1"), a Flax module's submodules
("Block_0/Conv_1"), anything else a model may call a layer. The name is kept as it is wherever it is shown or
recorded (metrics.json, images.json, the pages' text), and is jaxviz.model.network.layer_file's name wherever it
becomes a file, a folder, a URL, an HTML id or a TensorBoard tag. The layers of these models are deliberately not
in alphabetical order: the atlas must follow the model's."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from conftest import SyntheticSweep, check_links
from PIL import Image

from jaxviz.ascent.records import filter_record, is_dead, layer_summary
from jaxviz.atlas import write_atlas
from jaxviz.errors import JaxvizError
from jaxviz.model.network import check_layer_files, layer_file
from jaxviz.run import metrics_file

SAFE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # what a file name, a URL and a TensorBoard tag all keep as it is
NAMES = ["block1_conv1", "inner/c1", "inner__c1", "Block_0/Conv_0", "a_/b", "a/_b", "conv 1", "conv-1", "../x",
         "..", ".", "", "aux", "AUX.1", "a--b", "x" * 300, "é/ü", "a\\b", "a\nb", "-a", "a.", "a//b"]  # fmt: skip


def test_a_layers_file_name_is_its_own_name_where_it_can_be_and_never_another_layers():
    for name in ("block1_conv1", "Conv_0", "conv2_block1_out", "predictions", "a.b"):
        assert layer_file(name) == name  # every existing run directory of these models keeps its files
    assert layer_file("inner/c1") == "inner__c1" and layer_file("Block_0/Conv_1") == "Block_0__Conv_1"
    files = [layer_file(n) for n in NAMES]
    assert len(set(files)) == len(NAMES), files  # no two names share a file
    for f in files:
        assert SAFE.fullmatch(f) and len(f) <= 100 and not f.endswith("."), f
        assert f.split(".")[0].lower() not in ("aux", "con", "nul"), f  # Windows' device names
    # A name that is not written as itself ends in a digest of it: "inner__c1" of its own is not the path's.
    assert re.fullmatch(r"inner__c1--[0-9a-f]{10}", layer_file("inner__c1"))
    assert re.fullmatch(r"conv-1--[0-9a-f]{10}", layer_file("conv 1")) and layer_file("conv-1") == "conv-1"
    assert layer_file("a/_b") == "a___b" and layer_file("a_/b") != "a___b"


def test_layers_whose_files_differ_only_in_case_are_refused():
    check_layer_files(["Conv1", "conv2", "inner/Conv1"], "keras:m")
    with pytest.raises(JaxvizError, match=r"^layers 'Conv1' and 'conv1' of keras:m differ only in case: .*macOS"):
        check_layer_files(["Conv1", "x", "conv1"], "keras:m")


def test_metrics_json_keeps_a_nested_layers_name_and_still_refuses_a_way_out(tmp_path):
    record = filter_record("inner/c1", 0, np.array([0.0, 1.0], np.float32), -1)
    summaries = {"inner/c1": layer_summary("inner/c1", [record])}
    metrics_file.write(tmp_path, {"filters": [record], "layers": summaries})
    doc = metrics_file.read(tmp_path)
    assert doc["filters"][0]["layer"] == "inner/c1" and doc["layers"]["inner/c1"]["grid"] == "inner__c1.png"
    for bad in ("../x", "..", "/etc", "a//b", "a/./b", "a\\b", "a\nb", "tab\there", "\x1b[31m", ""):
        for doc in ({"filters": [{**record, "layer": bad}]}, {"filters": [record], "layers": {bad: {}}}):
            metrics_file.write(tmp_path, doc)
            with pytest.raises(JaxvizError, match="metrics.json is damaged"):
                metrics_file.read(tmp_path)
    metrics_file.write(tmp_path, {"filters": [{**record, "layer": "../x"}]})
    with pytest.raises(JaxvizError, match=r"damaged \(a filter record has the layer '\.\./x'\)"):
        write_atlas(tmp_path)  # the atlas reads it through metrics_file: nothing written
    assert not (tmp_path / "atlas").exists()


def test_dead_means_never_left_zero_so_a_logit_below_zero_is_alive():
    assert is_dead([0.0, 5e-8, 1e-8])  # a ReLU map that never fired
    assert not is_dead([0.0, 0.0, 0.3]) and not is_dead([0.0, 0.0], nan_step=1)
    assert not is_dead([-1.7, -1.5, -1.2])  # a logit that stayed below zero: it responded
    assert is_dead([-5e-8, 0.0, 5e-8])  # a signed unit stuck at zero: no gradient moved its image


def test_a_results_repr_names_its_classes_and_writes_signed_ranges_unambiguously():
    from jaxviz import config as config_lib
    from jaxviz.api import Result

    rows = [{"label": name} for name in ("tench", "goldfish", "great_white_shark", "tiger_shark")]
    images = np.zeros((4, 8, 8, 3), np.uint8)
    r = Result("predictions", [0, 1, 2, 3], images, np.array([-1.67, -0.2, 0.5, 2.35], np.float32), rows,
               config_lib.Config())  # fmt: skip
    text = repr(r)
    assert "4 filters (0-3: tench, goldfish, great_white_shark, ...)" in text and "activation -1.67 to 2.35)" in text


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.heads: list[tuple[str, str]] = []  # the index's layer headings: (href, text)
        self.ids: list[str] = []
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.ids += [a["id"]] if a.get("id") else []
        self._href = a.get("href") if tag == "a" else None

    def handle_data(self, data):
        if self._href and self._href.startswith("layers/"):
            self.heads.append((self._href, data))
            self._href = None


def _parsed(page: Path) -> _Page:
    p = _Page()
    p.feed(page.read_text())
    return p


def _no_folder_named(root: Path, *names: str) -> None:
    """No folder under `root` is named after a part of a module path ("inner", "Block_0"): no name became a path."""
    folders = [p.relative_to(root) for p in root.rglob("*") if p.is_dir() and p.name in names]
    assert not folders, folders


def test_a_sweeps_pages_name_a_nested_layer_by_its_file_and_its_script_finds_them(tmp_path):
    sweep = SyntheticSweep(tmp_path / "sweep", 2, layers=("inner/z1", "a3"))
    for i in range(2):
        sweep.finish(i)
    atlas = write_atlas(sweep.root).parent
    assert check_links(atlas) > 2
    _no_folder_named(atlas, "inner")
    page = (atlas / "compare" / "inner__z1.html").read_text()
    assert 'data-layer="inner/z1" data-file="inner__z1"' in page and "<h1>inner/z1 across the sweep</h1>" in page
    script = (atlas / "compare" / "points.js").read_text()
    points = json.loads(re.fullmatch(r"window\.jaxvizPoints = (.*);\n", script, re.S)[1])["points"]
    for p in points:  # what atlas.js loads for each point: p.prefix + "layers/" + data-file + ".html", and across/
        assert p["layers"] == ["inner/z1", "a3"]
        folder = atlas / "compare" / p["prefix"]
        assert (folder / "layers" / "inner__z1.html").is_file() and (folder / "across" / "inner__z1.js").is_file()
    filter_page = (atlas / "points" / "point-0001" / "filters" / "inner__z1" / "0001.html").read_text()
    assert 'href="../../../../compare/inner__z1.html#f1"' in filter_page


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(3)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (36 + 4 * i, 40, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    return root


@pytest.fixture(scope="module")
def nested_keras(tmp_path_factory) -> Path:
    """A Sequential holding a Sequential "inner" (convolutions "z1", "b2") before its own "a3": jaxviz's layers
    inner/z1, inner/b2, a3, in that order (alphabetically the other way round). Random weights, saved whole."""
    keras = pytest.importorskip("keras")
    layers = keras.layers
    inner = keras.Sequential([keras.Input((32, 32, 3)), layers.Conv2D(4, 3, name="z1", activation="relu"),
                              layers.Conv2D(4, 3, name="b2", activation="relu")], name="inner")  # fmt: skip
    outer = keras.Sequential([keras.Input((32, 32, 3)), inner, layers.Conv2D(3, 3, name="a3")], name="outer")
    path = tmp_path_factory.mktemp("nested") / "nested.keras"
    outer.save(path)
    return path


LAYERS = ["inner/z1", "inner/b2", "a3"]


@pytest.mark.slow  # 16 s on the shared CPU (-n0): three invocations, or a run, examples and the API
def test_a_nested_keras_model_runs_the_whole_pipeline_into_files_named_for_its_layers(nested_keras, photos, tmp_path,
                                                                                      capsys):  # fmt: skip
    from jaxviz.cli import visualize
    from jaxviz.dataset_examples import examples_store
    from jaxviz.show.writers import logged_steps

    out = tmp_path / "run"
    argv = ["--model", "keras", "--weights", str(nested_keras), "--set", "model.preprocess=0-1", "--size", "32",
            "--steps", "2", "--layers", ",".join(LAYERS), "--set", "output.quality=on",
            "--set", "output.filter_pngs=true", "--out", str(out)]  # fmt: skip
    examples = ["--set", f"examples.images={photos}", "--set", "examples.top=2", "--set", "examples.size=32"]

    def run(filters: str, *more: str) -> str:
        with pytest.raises(SystemExit) as e:
            visualize.main([*argv, *more, "--filters", filters])
        said = capsys.readouterr()
        assert e.value.code == 0, said.err
        assert "warning" not in said.out + said.err, said  # the atlas too: no "metrics.json is damaged"
        return said.out

    run("0:2", *examples)
    files = [layer_file(la) for la in LAYERS]
    assert files == ["inner__z1", "inner__b2", "a3"]
    for f in files:
        assert (out / f"{f}.png").is_file() and (out / "state" / f"{f}.quality.npz").is_file()
        assert [p.name for p in sorted((out / "state" / f).glob("*.npz"))] == ["0000-0000.npz", "0001-0001.npz"]
        assert (out / "filters" / f / "0001.png").is_file() and (out / "examples" / f"{f}.npz").is_file()
    _no_folder_named(out, "inner")
    doc = metrics_file.read(out)
    assert list(doc["layers"]) == LAYERS and [r["layer"] for r in doc["filters"]] == [la for la in LAYERS for _ in "01"]
    assert doc["layers"]["inner/z1"]["grid"] == "inner__z1.png"
    listing = json.loads((out / "examples" / "images.json").read_text())
    assert listing["layers"] == LAYERS and examples_store.stored_layers(out) == LAYERS
    # TensorBoard groups tags by their first "/": one group a layer, as for any other model.
    tags = logged_steps(out)
    assert {"inner__z1/grid", "inner__b2/activation_mean", "a3/quality/robustness_mean"} <= set(tags)
    assert not [t for t in tags if t.startswith("inner/")], sorted(tags)

    atlas = out / "atlas"
    assert check_links(atlas) > 2 * 3  # every link of every page leads to a file of the atlas
    index = _parsed(atlas / "index.html")
    # The model's order, shown by its own names (not a3, inner/b2, inner/z1), each linking to its page.
    assert index.heads == [(f"layers/{f}.html", la) for f, la in zip(files, LAYERS)]
    numbers = _parsed(atlas / "numbers.html")
    assert {f"n-{f}" for f in files} <= set(numbers.ids) and set(files) <= set(index.ids)
    for f, la in zip(files, LAYERS):
        page = (atlas / "filters" / f / "0001.html").read_text()
        assert f"<title>{la} filter 1 · jaxviz atlas</title>" in page
        assert (atlas / "img" / f / "0001.png").is_file() and (atlas / "examples" / f / "0001_0.webp").is_file()
    _no_folder_named(atlas, "inner")

    assert "nothing to do" in run("0:2", *examples)  # complete: found complete through its files' names
    before = {p: p.stat().st_mtime_ns for p in (out / "state").rglob("*.npz") if p.parent.name != "state"}
    run("0:3")  # one filter more (its examples as they were): the stored chunks are read back, filter 2 ascends
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())
    for f in files:
        assert (out / "state" / f / "0002-0002.npz").is_file() and (atlas / "filters" / f / "0002.html").is_file()
    assert len(metrics_file.read(out)["filters"]) == 3 * 3 and check_links(atlas)


@pytest.mark.slow  # 16 s on the shared CPU (-n0): three invocations, or a run, examples and the API
def test_a_flax_module_with_nested_submodules_through_the_api_and_into_files(photos, tmp_path):
    flax = pytest.importorskip("flax")
    jax = pytest.importorskip("jax")
    import jaxviz
    from jaxviz import config as config_lib
    from jaxviz.dataset_examples import examples_store
    from jaxviz.run.visualization import run_visualization

    nn = flax.linen

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.relu(nn.Conv(4, (3, 3))(nn.relu(nn.Conv(4, (3, 3))(x))))

    class Net(nn.Module):  # Block_1 computes first (Block_0 is made first, around it); Dense_0: 1,000 logits
        @nn.compact
        def __call__(self, x):
            return nn.Dense(1000)(Block()(Block()(x)).mean((1, 2)))

    module = Net()
    variables = module.init(jax.random.PRNGKey(0), np.zeros((1, 32, 32, 3), np.float32))
    loaded = jaxviz.flax_model(module, variables, preprocess="0-1", natural_size=32)
    layers = ["Dense_0", "Block_0/Conv_1", "Block_1/Conv_0"]  # asked out of order: shown in the module's
    out = tmp_path / "run"
    cfg = config_lib.apply(config_lib.Config(), {
        "target.layers": ",".join(layers), "target.filters": "0:2", "ascent.size": 32, "ascent.steps": 2,
        "output.dir": str(out), "output.progress": False, "output.quality": "on",
    })  # fmt: skip
    found = run_visualization(cfg, model=loaded, after_layer=jaxviz.atlas.refresh)
    order = ["Block_1/Conv_0", "Block_0/Conv_1", "Dense_0"]  # as the module computes them, not alphabetical
    assert [la for la in loaded.network.layers if la in order] == order
    assert list(found["layers"]) == order
    rows = [r for r in found["filters"] if r["layer"] == "Dense_0"]
    assert [r["label"] for r in rows] == ["tench", "goldfish"] and not any(r["dead"] for r in rows)
    for la in order:
        f = layer_file(la)
        assert (out / f"{f}.png").is_file() and len(list((out / "state" / f).glob("*.npz"))) == 2
    examples = jaxviz.find_examples(photos, order[:2], top=2, size=32, model=loaded, progress=False)
    examples_store.write(out, examples)
    write_atlas(out)
    _no_folder_named(out, "Block_0", "Block_1")
    atlas = out / "atlas"
    assert check_links(atlas) > 3
    assert [text for _, text in _parsed(atlas / "index.html").heads] == order
    assert (atlas / "examples" / "Block_0__Conv_1" / "0000_0.webp").is_file()
    assert "Dense_0 filter 1 (goldfish)" in (atlas / "filters" / "Dense_0" / "0001.html").read_text()
    assert run_visualization(cfg, model=loaded)["up_to_date"]  # resumes: the same module, complete

    r = jaxviz.visualize("Dense_0", [0, 1], model=loaded, size=32, steps=2, quality=False, progress=False)
    assert [m["label"] for m in r.metrics] == ["tench", "goldfish"] and "(0, 1: tench, goldfish)" in repr(r)


def test_a_signed_layers_robustness_is_measured_from_a_blank_image():
    """A head that reads each channel's mean (kernel: filter 0 red, filter 1 green) with a bias: robustness is the
    same whatever the bias, where a ratio to zero gave 0.0 for every logit below zero; None where the image does
    not raise the filter above a blank image's level."""
    pytest.importorskip("flax")
    import flax.linen as nn

    import jaxviz
    from jaxviz import quality
    from jaxviz.quality.passes import signed

    class Head(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(2)(x.mean((1, 2)))

    rng = np.random.default_rng(0)
    images = rng.integers(0, 40, (2, 32, 32, 3)).astype(np.uint8)
    images[0, ..., 0] += 200  # red: filter 0 well above the blank image's 128
    images[1, ..., 1] = 30  # green far below it: filter 1 not raised
    kernel = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], np.float32)
    robustness = []
    for bias in (-1000.0, 0.0, 1000.0):
        variables = {"params": {"Dense_0": {"kernel": kernel, "bias": np.full(2, bias, np.float32)}}}
        loaded = jaxviz.flax_model(Head(), variables, preprocess="0-255", natural_size=32)
        assert signed(loaded.network, "Dense_0")
        rows = quality.evaluate(variables, "Dense_0", images, [0, 1], network=loaded.network, copies=4)
        assert rows[1]["robustness"] is None, rows
        robustness.append(rows[0]["robustness"])
    assert 0.5 < robustness[1] <= 1.01 and np.allclose(robustness, robustness[1], atol=2e-3), robustness
