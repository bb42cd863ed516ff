"""Dataset examples of any model: receptive fields measured on the network (equal to VGG's exact recurrence on
VGG16, growing with depth in ResNet50), the top-K of a Keras file and of a Flax module against brute force, the
generic path equal to VGG16's own, each listed Keras application, a Keras model's run with its examples and atlas
crops, and another model refused where one model's examples are."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_main_refuses
from PIL import Image

import jaxviz
from jaxviz.dataset_examples.loader import load
from jaxviz.dataset_examples.receptive import Field, computed, geometry
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import VGG16_ARCHITECTURE
from jaxviz.model.model_registry import LoadedModel, load_model
from jaxviz.model.network import VGG16, VGGNetwork

SIZE = 32
TOP = 3


@dataclass(frozen=True)
class PlainVGG16(VGGNetwork):
    """VGG16 outside the VGG family: the examples engine and the receptive fields take the path of any network."""

    family: str = ""


@pytest.fixture(autouse=True)
def _weights(weights_path, monkeypatch):
    monkeypatch.setenv("JAXVIZ_WEIGHTS", str(weights_path))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Six random RGB PNGs of different shapes (no two scores tie)."""
    root = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(5)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (36 + 3 * i, 40, 3), dtype=np.uint8)).save(root / f"p{i}.png")
    return root


def pixels(root: Path, names: list[str], size: int) -> np.ndarray:
    """The images as the engine reads them: (N, size, size, 3) float32 RGB 0-255."""
    return np.stack([load(root, n, size).pixels for n in names]).astype(np.float32)


def brute_force(maps: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(scores, images, flat positions), (C, top) each: every image's maximum per channel of `maps` (N, h, w, C),
    sorted by (-score, image) in NumPy."""
    n = len(maps)
    flat = maps.reshape(n, -1, maps.shape[-1])
    best, where = flat.max(axis=1).T, flat.argmax(axis=1).T  # (C, N)
    order = np.stack([np.lexsort((np.arange(n), -row)) for row in best])[:, :top]
    return np.take_along_axis(best, order, 1), order, np.take_along_axis(where, order, 1)


def assert_brute_force(result, layer: str, maps: np.ndarray) -> None:
    """`result`'s `layer` is the brute-force top-K of `maps` (the same images, positions; scores to rounding)."""
    ex = result.layers[layer]
    scores, image, flat = brute_force(np.asarray(maps, np.float64), ex.image.shape[1])
    np.testing.assert_array_equal(ex.image, image)
    np.testing.assert_allclose(ex.scores, scores, rtol=1e-5, atol=1e-6 * np.abs(scores).max())
    np.testing.assert_array_equal(ex.position[..., 0] * maps.shape[2] + ex.position[..., 1], flat)


def within(box: np.ndarray, size: int) -> bool:
    """Every box is a non-empty part of the size x size image."""
    return bool(((box[..., :2] >= 0) & (box[..., 2:] <= size) & (box[..., 2:] > box[..., :2])).all())


def test_measured_fields_equal_vggs_exact_recurrence(params):
    plain = PlainVGG16(VGG16_ARCHITECTURE)
    for layer in ("block1_conv2", "block2_conv1", "block3_conv1"):
        exact, measured = geometry(VGG16, layer, 48), computed(plain, params, layer, 48)
        assert exact.exact and not measured.exact
        np.testing.assert_array_equal(measured.rows, exact.rows)  # every row's span, the borders' clipped ones too
        np.testing.assert_array_equal(measured.cols, exact.cols)
        assert measured.field == exact.field
    assert geometry(VGG16, "block3_conv1", 48).field == Field(24, 4, 1.5)
    assert geometry(plain, "block2_conv1", 48, params) is geometry(plain, "block2_conv1", 48)  # cached
    with pytest.raises(ValueError, match="measured: pass its params"):
        geometry(plain, "block1_conv1", 40)


def test_the_generic_path_equals_vgg16s_own(photos, params):
    """VGG16 through Network.activation and Network.post (and measured fields) finds what its own forward does."""
    layers = "block1_conv2,block2_conv1"
    own = jaxviz.find_examples(photos, layers, top=TOP, size=SIZE, batch=4, conv="xla", progress=False)
    plain = LoadedModel(PlainVGG16(VGG16_ARCHITECTURE), params, None, "given", "plain")
    generic = jaxviz.find_examples(photos, layers, top=TOP, size=SIZE, batch=4, model=plain, progress=False)
    assert own.model == generic.model == "vgg16"
    for layer in own.layers:
        a, b = own.layers[layer], generic.layers[layer]
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.box, b.box)
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6 * np.abs(a.scores).max())  # as brute force


def test_resnet50_fields_grow_with_depth_and_stay_in_the_image():
    pytest.importorskip("keras")
    loaded = load_model("resnet50", "random")
    layers = ("conv1_conv", "conv2_block1_out", "conv3_block1_out")
    fields = [geometry(loaded.network, layer, 64, loaded.params) for layer in layers]
    assert fields[0].field == Field(7, 2, 0.0) and fields[1].field == Field(19, 4, 0.0)  # 7x7/2 conv; 3x3/2 pool
    sizes = [g.field.size for g in fields]
    assert sizes == sorted(set(sizes)) and [g.field.jump for g in fields] == [2, 4, 8]
    for g in fields:  # every unit's box, the border's too
        rows, cols = np.meshgrid(np.arange(len(g.rows)), np.arange(len(g.cols)), indexing="ij")
        assert within(g.boxes(np.stack([rows, cols], axis=-1)), 64)


def test_fields_that_do_not_move_by_a_whole_jump_are_measured_line_by_line(tmp_path):
    """An upsampling halves the jump: the few lines measured first do not fit one field moved by a whole jump, so
    every line is measured."""
    keras = pytest.importorskip("keras")
    from jaxviz.model.keras_network import load_keras_model

    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(2, 3, name="conv_a")(inputs)
    x = keras.layers.UpSampling2D(2, name="up")(x)
    x = keras.layers.Conv2D(2, 3, name="conv_b")(x)
    keras.Model(inputs, x, name="up").save(tmp_path / "up.keras")
    network, params = load_keras_model(str(tmp_path / "up.keras"), preprocess="0-1")
    g = computed(network, params, "conv_b", 24)  # conv_b's row i: upsampled rows i..i+2, conv_a's rows (i..i+2) // 2
    i = np.arange(len(g.rows))
    np.testing.assert_array_equal(g.rows, np.stack([i // 2, (i + 2) // 2 + 3], axis=-1))
    np.testing.assert_array_equal(g.cols, g.rows)


def tiny_keras(path: Path) -> Path:
    """A small functional convnet of any input side, saved by Keras: a ReLU conv, a pool, a linear conv, a global
    pool and softmax logits."""
    keras = pytest.importorskip("keras")
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="logits")(x)
    keras.Model(inputs, outputs, name="tiny").save(path)
    return path


def test_a_keras_files_examples_are_the_brute_force_top_k_of_keras_own_outputs(photos, tmp_path):
    keras = pytest.importorskip("keras")
    path = tiny_keras(tmp_path / "tiny.keras")
    layers = ["conv_a", "conv_b", "logits"]
    result = jaxviz.find_examples(photos, ",".join(layers), top=TOP, size=SIZE, batch=4, model="keras",
                                  weights=str(path), preprocess="0-1", progress=False)  # fmt: skip
    assert result.model == "keras:tiny" and list(result.layers) == layers
    model = keras.models.load_model(path)
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in layers])
    outputs = probe.predict(pixels(photos, [im["path"] for im in result.images], SIZE) / 255, verbose=0)
    for layer, maps in zip(layers[:2], outputs):  # each conv's own output: after its ReLU; linear
        assert_brute_force(result, layer, maps)
    # The measured fields: a 3x3 'valid' conv sees rows i..i+2; after the 2x2 pool and another, 2i..2i+7; the
    # logits, after the global pool, the whole image.
    ex = result.layers["conv_a"]
    i, j = ex.position[..., 0], ex.position[..., 1]
    np.testing.assert_array_equal(ex.box, np.stack([i, j, i + 3, j + 3], axis=-1))
    ex = result.layers["conv_b"]
    i, j = ex.position[..., 0], ex.position[..., 1]
    np.testing.assert_array_equal(ex.box, np.stack([2 * i, 2 * j, 2 * i + 8, 2 * j + 8], axis=-1))
    assert (result.layers["logits"].box == [0, 0, SIZE, SIZE]).all()
    grid = jaxviz.crops_grid(result, "conv_b", [0, 1], top=2)  # tiles of the 8 px field, enlarged to 48
    assert grid.shape == (2 * 48 + 2, 2 * 48 + 2, 3)


def test_a_flax_modules_examples_are_the_brute_force_top_k(photos):
    from conftest import small_flax_cnn

    module, variables = small_flax_cnn(SIZE)
    loaded = jaxviz.flax_model(module, variables, preprocess="0-1", natural_size=SIZE)
    result = jaxviz.find_examples(photos, "conv1,conv2", top=TOP, size=SIZE, batch=4, model=loaded, progress=False)
    assert result.model == "flax:Small"
    rgb = pixels(photos, [im["path"] for im in result.images], SIZE)
    _, state = module.apply(variables, rgb / 255, capture_intermediates=True, mutable=["intermediates"])
    for layer in ("conv1", "conv2"):  # the convs' outputs, after the ReLU that follows them (Network.post)
        assert_brute_force(result, layer, np.maximum(state["intermediates"][layer]["__call__"][0], 0))
    assert result.layers["conv1"].field == Field(3, 1, 0.0) and result.layers["conv2"].field == Field(8, 2, 0.5)
    assert within(result.layers["conv2"].box, SIZE)


# One layer of each model the issue lists (test_keras_network.CASES' layers), at its smallest side that works.
MODELS = [
    ("vgg19", "block2_conv1", 32),
    ("resnet50", "conv2_block1_out", 64),
    ("inceptionv3", "mixed0", 80),
    ("mobilenetv2", "block_1_expand_relu", 64),
    ("efficientnetb0", "block1a_activation", 64),
    ("convnexttiny", "convnext_tiny_stage_0_block_0_gelu", 64),
]


@pytest.mark.parametrize("name,layer,side", MODELS, ids=[m[0] for m in MODELS])
def test_every_listed_model_finds_its_examples(photos, name, layer, side):
    """Random weights drawn by Keras (VGG19: jaxviz's own): each model's top 2 of 6 images for 4 filters equal the
    brute force of its own Network.activation then Network.post, and every crop lies in the image."""
    if name != "vgg19":
        pytest.importorskip("keras")
    loaded = load_model(name, "random")
    result = jaxviz.find_examples(photos, layer, filters="0:4", top=2, size=side, model=name, weights="random",
                                  progress=False)  # fmt: skip
    net = loaded.network
    rgb = pixels(photos, [im["path"] for im in result.images], side)
    maps = np.asarray(net.post(net.activation(loaded.params, rgb, layer, None, "float32", "xla"), layer))[..., :4]
    assert_brute_force(result, layer, maps)
    box = result.layers[layer].box
    assert result.model == net.name and within(box, side)
    crops = jaxviz.crops(result, layer, 2)  # filter 2's top images, cut to its units' fields
    assert [c.shape for c in crops] == [(b[2] - b[0], b[3] - b[1], 3) for b in box[2]]


# VGG19 and ResNet50 have their own whole runs (tests/test_models.py): the four others here.
WHOLE = [m for m in MODELS if m[0] not in ("vgg19", "resnet50")]


@pytest.mark.slow
@pytest.mark.parametrize("name,layer,side", WHOLE, ids=[m[0] for m in WHOLE])
def test_every_listed_model_runs_the_whole_pipeline(photos, tmp_path, capsys, name, layer, side):
    """Issue 19's "done when": each listed model (random weights) through the command line's whole job (the
    ascent, its grid, TensorBoard events, metrics, dataset examples and the atlas showing their crops) and the API."""
    from jaxviz.cli import visualize

    pytest.importorskip("keras")
    out = tmp_path / "run"
    argv = ["--model", name, "--weights", "random", "--layers", layer, "--filters", "0:2", "--size", str(side),
            "--steps", "2", "--out", str(out), "--set", "output.quality=false", "--set", f"examples.images={photos}",
            "--set", f"examples.size={side}", "--set", "examples.top=2"]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        visualize.main(argv)
    said = capsys.readouterr().out
    assert e.value.code == 0, said
    from jaxviz.model.network import layer_file

    grid = Image.open(out / f"{layer_file(layer)}.png")
    assert grid.size[0] >= side and list(out.glob("events.out.tfevents.*"))  # the ascent's and the examples'
    rows = json.loads((out / "metrics.json").read_text())["filters"]
    assert [(r["layer"], r["filter"]) for r in rows] == [(layer, 0), (layer, 1)]
    assert (
        json.loads((out / "examples" / "images.json").read_text())["model"] == load_model(name, "random").network.name
    )
    page = (out / "atlas" / "filters" / layer_file(layer) / "0001.html").read_text()
    assert 'class="ex-strip"' in page
    result = jaxviz.visualize(layer, "0:2", model=name, weights="random", size=side, steps=2, quality=False,
                              progress=False)  # fmt: skip
    assert result.images.shape == (2, side, side, 3) and np.isfinite(result.images).all()


def test_a_keras_models_run_writes_its_examples_and_its_atlas_shows_the_crops(photos, tmp_path, capsys):
    from jaxviz.cli import visualize
    from jaxviz.run.examples_stage import check_same_weights

    path = tiny_keras(tmp_path / "tiny.keras")
    out = tmp_path / "run"
    argv = ["--model", "keras", "--weights", str(path), "--layers", "conv_a,conv_b", "--filters", "0:2", "--size",
            str(SIZE), "--steps", "2", "--out", str(out)]  # fmt: skip
    sets = {"model.preprocess": "0-1", "examples.images": photos, "examples.size": SIZE, "examples.top": 2,
            "output.quality": "false"}  # fmt: skip
    with pytest.raises(SystemExit) as e:
        visualize.main([*argv, *(a for k, v in sets.items() for a in ("--set", f"{k}={v}"))])
    said = capsys.readouterr().out
    assert e.value.code == 0 and "examples/ (2 layer(s), 6 image(s))" in said, said
    listing = json.loads((out / "examples" / "images.json").read_text())
    assert listing["model"] == "keras:tiny" and listing["layers"] == ["conv_a", "conv_b"]
    with np.load(out / "examples" / "conv_b.npz") as z:
        box = z["box"]
    page = (out / "atlas" / "filters" / "conv_b" / "0001.html").read_text()
    assert 'class="ex-strip"' in page and "Dataset examples" in page
    crops = re.findall(r'<img src="([^"]+\.webp)"', page)
    first = Image.open((out / "atlas" / "filters" / "conv_b" / crops[0]).resolve())
    top, left, bottom, right = box[1, 0]
    assert first.size == (right - left, bottom - top) == (8, 8)  # conv_b's whole field, inside the image
    with pytest.raises(JaxvizError, match=r"dataset examples made with other weights \(keras:tiny, fingerprint"):
        check_same_weights(out, "0" * 16, "this run", "vgg16")


def test_a_resume_with_another_model_is_refused_naming_both(photos, tmp_path, params):
    from jaxviz.dataset_examples import make_job
    from jaxviz.dataset_examples.scan import run

    path = tiny_keras(tmp_path / "tiny.keras")
    out = tmp_path / "run"
    job = make_job(photos, "conv_a", top=2, size=SIZE, batch=2, weights=str(path), out=out, save_every=1,
                   model="keras", preprocess="0-1")  # fmt: skip
    assert not run(job, stop_after=2, say=lambda _: None).complete  # stopped, its state saved
    other = make_job(photos, "block1_conv1", top=2, size=SIZE, batch=2, out=out, save_every=1)
    with pytest.raises(JaxvizError, match=r"different setting of model \(keras:tiny then, vgg16 now\)") as e:
        run(other, say=lambda _: None)
    assert "\n" not in str(e.value)


def test_the_examples_command_takes_the_configs_model(photos, tmp_path, capsys):
    """`jaxviz-examples` alone, for a model other than VGG16 (it loaded VGG16's weights whatever the model was)."""
    from jaxviz.cli import examples

    out = tmp_path / "run"
    argv = ["--images", str(photos), "--weights", "random", "--size", str(SIZE), "--top", "2", "--out", str(out),
            "--set", "model.name=vgg19", "--set", "target.layers=block1_conv2",
            "--set", "target.filters=0:2"]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        examples.main(argv)
    said = capsys.readouterr().out
    assert e.value.code == 0, said
    assert "jaxviz: weights: random (" in said and "1 layer(s), 6 image(s)" in said, said
    assert json.loads((out / "examples" / "images.json").read_text())["model"] == "vgg19"


def test_the_examples_command_takes_vgg16s_random_weights_and_refuses_its_preprocessing(photos, tmp_path, capsys):
    """VGG16 went around the registry there: `--weights random` was 'no such file', model.preprocess ignored."""
    from jaxviz.cli import examples

    base = ["--images", str(photos), "--size", str(SIZE), "--top", "2", "--set", "target.layers=block1_conv1",
            "--set", "target.filters=0:2"]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        examples.main([*base, "--weights", "random", "--out", str(tmp_path / "a")])
    assert e.value.code == 0 and "jaxviz: weights: random (" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        examples.main([*base, "--set", "model.preprocess=tf", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "model.preprocess = 'tf' does not apply to vgg16" in err and err.count("\n") == 1
    assert not (tmp_path / "b").exists()


def test_the_examples_command_takes_the_model_flags_visualize_takes(photos, tmp_path, capsys):
    """Finding 9: `jaxviz-examples --model keras --weights FILE` as `jaxviz-visualize` takes it (every flag that sets
    a model.* key there is one here too), and the examples are the Keras model's."""
    from jaxviz.cli import examples
    from jaxviz.config.keys import flags

    def model_flags(command: str) -> set[str]:
        return {name for name, f in flags(command).items() if f.key.startswith("model.")}

    assert model_flags("visualize") <= model_flags("examples")
    path = tiny_keras(tmp_path / "tiny.keras")
    out = tmp_path / "run"
    argv = ["--model", "keras", "--weights", str(path), "--layers", "conv_b", "--filters", "0:2", "--images",
            str(photos), "--size", str(SIZE), "--top", "2", "--out", str(out), "--set", "model.preprocess=0-1",
            "--quiet"]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        examples.main(argv)
    assert e.value.code == 0, capsys.readouterr()
    assert json.loads((out / "examples" / "images.json").read_text())["model"] == "keras:tiny"
    assert_main_refuses(examples.main, ["--model", "nosuch", "--images", str(photos)], capsys, "got 'nosuch'")
