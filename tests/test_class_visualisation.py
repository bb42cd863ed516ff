"""Class visualisation: a classifier's logits are a target, each class a filter, with ImageNet's class names where
the model has its 1,000 classes. A Keras MobileNetV2 with its classifier, random weights saved by Keras here (no
downloads), 32 px so that the run stays small."""

from __future__ import annotations

import hashlib
import inspect
import json
from importlib import resources

import numpy as np
import pytest

keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")

from jaxviz.model.class_names import IMAGENET_FILE, imagenet_classes  # noqa: E402
from jaxviz.model.keras_network import load_keras_model  # noqa: E402
from jaxviz.model.targets import resolve_layers  # noqa: E402

SIDE = 32  # MobileNetV2's smallest input; with its classifier a model takes one fixed size


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """keras.applications.MobileNetV2(include_top=True) at 32 px, alpha 0.35, Keras' initialisers drawn by NumPy
    (jaxviz's loader's way: no XLA compile per variable), saved whole. Its BatchNorms' statistics are those of a
    batch of random images (one training-mode call with momentum 0): with Keras' initial ones (mean 0, variance 1)
    the input's signal dies out over its 17 blocks, and every logit would be the same for any image."""
    from jaxviz.model.keras_network import _deferred, _fill_uninitialised

    build = keras.applications.MobileNetV2
    model = _deferred(lambda: build(include_top=True, weights=None, input_shape=(SIDE, SIDE, 3), alpha=0.35))[0]
    _fill_uninitialised(model)
    norms = [t for t in model.layers if isinstance(t, keras.layers.BatchNormalization)]
    for t in norms:
        t.momentum = 0.0
    rgb = np.random.default_rng(0).uniform(0, 255, (8, SIDE, SIDE, 3)).astype(np.float32)
    trainable, frozen = [v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables]
    calibrate = jax.jit(lambda a, b, x: model.stateless_call(a, b, x, training=True)[1])
    for v, value in zip(model.non_trainable_variables, calibrate(trainable, frozen, rgb / 127.5 - 1)):
        v.assign(value)
    for t in norms:
        t.momentum = 0.999
    path = tmp_path_factory.mktemp("classifier") / "mobile.keras"
    model.save(path)
    return model, path


def relative(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


def test_the_class_names_are_the_file_keras_decodes_with():
    names = imagenet_classes()
    assert len(names) == 1000 and names[:3] == ("tench", "goldfish", "great_white_shark")
    assert names[999] == "toilet_tissue" and names[619] == "lampshade"
    data = resources.files("jaxviz.model").joinpath(IMAGENET_FILE).read_bytes()
    from keras.src.applications import imagenet_utils

    # Byte for byte the file keras.applications' decode_predictions downloads: Keras checks it by this MD5.
    assert f'file_hash="{hashlib.md5(data).hexdigest()}"' in inspect.getsource(imagenet_utils.decode_predictions)


def test_the_logits_are_a_target_equal_to_keras_own_pre_softmax(classifier):
    model, path = classifier
    network, params = load_keras_model(str(path))
    assert network.layers[-2:] == ("global_average_pooling2d", "predictions")
    assert network.widths["predictions"] == 1000 and network.input.fixed_size == SIDE
    assert network.labels("predictions")[:2] == ("tench", "goldfish") and network.labels("Conv_1") == ()
    assert network.labels("global_average_pooling2d") == ()  # 1,280 channels: features, not classes
    # `--layers all` is the maps' convolutions and block outputs; the logits are asked for by name.
    assert "predictions" not in resolve_layers("all", network) and "Conv_1" in resolve_layers("all", network)
    assert resolve_layers("predictions", network) == ["predictions"]

    images = np.random.default_rng(1).uniform(0, 255, (2, SIDE, SIDE, 3)).astype(np.float32)
    preprocessed = keras.applications.mobilenet_v2.preprocess_input(images.copy())
    top = model.get_layer("predictions")
    features = keras.Model(model.inputs[0], top.input).predict(preprocessed, verbose=0)
    want = features @ np.asarray(top.kernel) + np.asarray(top.bias)  # the Dense before its softmax
    got = jax.jit(lambda p, x: network.activation(p, x, "predictions", None, "float32", "xla"))(
        network.layer_params(params, "predictions"), images
    )
    assert got.shape == (2, 1, 1, 1000) and relative(got[:, 0, 0], want) <= 1e-4
    assert relative(jax.nn.softmax(got[:, 0, 0]), model.predict(preprocessed, verbose=0)) <= 1e-4
    # The objectives score the logits themselves (the softmax is left out: Simonyan et al. 2014), and one class's
    # channel is that class's logit.
    np.testing.assert_array_equal(network.post(got, "predictions"), got)
    one = network.activation(params, images, "predictions", 7, "float32", "xla")
    np.testing.assert_allclose(one, np.asarray(got)[..., 7:8], rtol=1e-5, atol=1e-5)


def test_a_class_visualisation_run_and_its_atlas(classifier, tmp_path, capsys):
    from jaxviz.atlas.build import write_atlas
    from jaxviz.cli import visualize
    from jaxviz.run import metrics_file

    _, path = classifier
    out = tmp_path / "classes"
    argv = ["--model", "keras", "--weights", str(path), "--layers", "predictions", "--filters", "0:3"]
    with pytest.raises(SystemExit) as e:
        # Steps of 0.005 (RMS, 0-255 pixel units): a random network's logits are rough beyond a few hundredths.
        visualize.main([*argv, "--size", str(SIDE), "--steps", "4", "--set", "ascent.step=0.005", "--out", str(out)])
    said = capsys.readouterr().out
    assert e.value.code == 0 and "plan: 3 filter(s) of 1 layer(s) of keras:mobilenetv2_0.35_32 (predictions)" in said
    assert (out / "predictions.png").is_file()
    doc = metrics_file.read(out)
    rows = [r for r in doc["filters"] if r["layer"] == "predictions"]
    assert [r["filter"] for r in rows] == [0, 1, 2]
    # The logits rise, each from where the noise image puts it, maybe below zero: a class visualisation scores the
    # logit itself.
    assert all(r["history"][-1] > r["history"][0] + 0.3 for r in rows), [r["history"] for r in rows]

    # The atlas shows each class's name where metrics.json's record carries it ("label"), as the run records it.
    assert [r["label"] for r in rows] == ["tench", "goldfish", "great_white_shark"]
    index = write_atlas(out)
    layer_page = (out / "atlas" / "layers" / "predictions.html").read_text()
    assert "<b>0</b> tench" in layer_page and "<b>2</b> great_white_shark" in layer_page
    assert 'alt="predictions filter 1 (goldfish)' in layer_page
    assert 'title="filter 0 · tench · ' in index.read_text()
    page = (out / "atlas" / "filters" / "predictions" / "0000.html").read_text()
    assert "tench" in page  # the filter's numbers: its class
    # The filter page names the class wherever it names the filter (filter_name): its title and heading.
    assert "<title>predictions filter 0 (tench)" in page and "</span> filter 0 (tench)</h1>" in page.replace("\n", "")
    # A logit is signed: alive below zero, not the dead cross a ReLU map that never fired gets (records.is_dead).
    assert not any(r["dead"] for r in rows), rows
    json.loads((out / "metrics.json").read_text())  # still metrics.json's format
