"""Any Keras 3 model as a Network (jaxviz.model.keras_network): activations equal Keras' own for six
applications with random weights saved by Keras here (no downloads), the ascent's gradient goes through them, the
Keras route's VGG16 equals jaxviz's native one, and bad input is refused in one line."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxviz.errors import JaxvizError

keras = pytest.importorskip("keras")
jax = pytest.importorskip("jax")

from jaxviz.model.keras_network import NONLINEARITY_LAYERS, load_keras_model  # noqa: E402

# (application, layer, side): a shallow layer of each, reaching the features that differ between them: a conv
# with its ReLU inside (VGG19), an Activation after a residual Add (ResNet50), a Concatenate of branches
# (InceptionV3), ReLU6 layers (MobileNetV2), swish after depthwise convs and a model that rescales inside
# (EfficientNetB0), a Dense on a 4-D map followed by GELU (ConvNeXtTiny).
CASES = [
    ("vgg19", "block1_conv2", 64),
    ("resnet50", "conv2_block1_out", 64),
    ("inceptionv3", "mixed0", 80),
    ("mobilenetv2", "block_1_expand_relu", 64),
    ("efficientnetb0", "block1a_activation", 64),
    ("convnexttiny", "convnext_tiny_stage_0_block_0_gelu", 64),
]


def relative(got, want) -> float:
    """max |got - want| / max |want|."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-30))


@functools.cache
def random_model(name: str):
    """The application with Keras' random weights, every non-kernel variable moved off its initial value (so
    BatchNorm's statistics, LayerScale and the normalisers are not ones and zeros), built once per session."""
    network, _ = load_keras_model(name, weights="random")
    rng = np.random.default_rng(1)
    for v in network.model.variables:
        if "float" in str(v.dtype) and not v.path.endswith("kernel"):
            value = np.asarray(v.value)
            moved = value + rng.normal(0, 0.1, value.shape)
            v.assign(np.abs(moved) if "variance" in v.path else moved)
    for target in network.model.layers:
        if hasattr(target, "finalize_state"):  # a Normalization layer bakes its statistics as constants
            target.finalize_state()
    return network.model


def keras_reference(model, layer: str, preprocessed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(pre-activation, output) of `layer` as Keras computes them: its sub-models' predict, and for a layer with
    its nonlinearity inside (a Conv2D(activation="relu")) Keras' own convolution of the layer's input."""
    target = model.get_layer(layer)
    out = keras.Model(model.inputs[0], target.output).predict(preprocessed, verbose=0)
    if type(target).__name__ in NONLINEARITY_LAYERS:
        return keras.Model(model.inputs[0], target.input).predict(preprocessed, verbose=0), out
    if getattr(target, "activation", None) in (None, keras.activations.linear):
        return out, out
    seen = keras.Model(model.inputs[0], target.input).predict(preprocessed, verbose=0)
    pre = keras.ops.add(target.convolution_op(seen, target.kernel), target.bias)
    return np.asarray(pre), out


@pytest.mark.parametrize("name,layer,side", CASES, ids=[c[0] for c in CASES])
def test_activations_equal_keras_own_and_their_gradient_flows(tmp_path, name, layer, side):
    reference = random_model(name)
    weights = tmp_path / f"{name}.weights.h5"
    reference.save_weights(weights)
    network, params = load_keras_model(name, weights=str(weights))
    assert network.name == f"keras:{name}" and layer in network.layers and network.family == ""
    images = np.random.default_rng(0).uniform(0, 255, (2, side, side, 3)).astype(np.float32)
    module = {"vgg19": "vgg19", "resnet50": "resnet50", "inceptionv3": "inception_v3", "mobilenetv2": "mobilenet_v2",
              "efficientnetb0": "efficientnet", "convnexttiny": "convnext"}[name]  # fmt: skip
    preprocessed = getattr(keras.applications, module).preprocess_input(images.copy())
    want_pre, want_out = keras_reference(reference, layer, preprocessed)

    trimmed = network.layer_params(params, layer)
    got = jax.jit(lambda p, x: network.activation(p, x, layer, None, "float32", "xla"))(trimmed, images)
    assert got.shape[-1] == network.widths[layer]
    assert relative(got, want_pre) <= 1e-4
    target = reference.get_layer(layer)
    after = target(got) if type(target).__name__ in NONLINEARITY_LAYERS else jax.nn.relu(got)
    assert relative(after, want_out) <= 1e-4
    if network.nonlinearity(layer).startswith("relu"):
        assert (np.asarray(got) < 0).any(), "the pre-activation of a ReLU layer has negative values"

    # One ascent step's gradient, as the engine takes it: jit(vmap(grad)) over images, one channel's mean (the
    # liveliest: random weights leave some channels of a post-ReLU concatenation dead).
    channel = int(np.asarray(got).mean(axis=(0, 1, 2)).argmax())

    def score(image, p):
        return network.activation(p, image, layer, None, "float32", "xla")[..., channel].mean()

    grads = jax.jit(jax.vmap(jax.grad(score), in_axes=(0, None)))(images[:, None], trimmed)
    assert grads.shape == (2, 1, side, side, 3)
    assert bool(np.isfinite(grads).all()) and float(np.abs(grads).max()) > 0
    assert network.min_size(layer) <= side


def test_one_channel_is_that_channel_of_the_whole_layer():
    network, params = load_keras_model("resnet50", weights="random")
    images = np.random.default_rng(2).uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    whole = network.activation(params, images, "conv1_relu", None, "float32", "xla")
    one = jax.jit(lambda c: network.activation(params, images, "conv1_relu", c, "float32", "xla"))(5)
    np.testing.assert_allclose(np.asarray(one), np.asarray(whole)[..., 5:6], rtol=1e-5, atol=1e-5)


def test_network_facts_are_computed(tmp_path):
    network, _ = load_keras_model("resnet50", weights="random")
    assert network.input.natural_size == 224 and network.input.fixed_size is None
    assert "caffe" in network.input.preprocess
    assert network.min_size("conv1_conv") == 1 and network.min_size("conv5_block3_out") == 1
    assert network.widths["conv5_block3_out"] == 2048 and network.classes["conv2_block1_add"] == "Add"
    assert network.nonlinearity("conv1_bn") == "linear" and network.nonlinearity("conv1_relu") == "relu"
    assert 0 < network.gflop_per_step("conv1_conv", 64) < network.gflop_per_step("conv2_block1_out", 64)
    assert network.bytes_per_image("conv1_conv", 64) < network.bytes_per_image("conv2_block1_out", 64)
    inception, _ = load_keras_model("inceptionv3", weights="random")
    assert inception.input.natural_size == 299 and "[-1, 1]" in inception.input.preprocess
    assert 3 < inception.min_size("activation_2") < inception.min_size("mixed0") <= 80
    # Keras' documentation: InceptionV3's input "should be no smaller than 75" (for its last block, mixed10).
    assert inception.min_size("mixed10") == 75 and max(map(inception.min_size, inception.layers)) == 75


def with_classifier(notop: Path, path: Path) -> Path:
    """A copy of a Keras 2 layout VGG16 notop file with a (small, fake) classifier after it, in the layout of
    Keras' full ImageNet file: more layers than a model built without the classifier has."""
    import h5py

    path.write_bytes(notop.read_bytes())
    with h5py.File(path, "a") as f:
        names = [n if isinstance(n, bytes) else n.encode() for n in f.attrs["layer_names"]]  # h5py: bytes, not str
        for name in ("flatten", "fc1", "fc2", "predictions"):
            group = f.create_group(name)
            names.append(name.encode())
            if name == "flatten":
                group.attrs["weight_names"] = np.array([], dtype="S1")
                continue
            group.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            group.create_dataset(f"{name}/kernel:0", data=np.zeros((4, 3), np.float32))
            group.create_dataset(f"{name}/bias:0", data=np.zeros(3, np.float32))
        f.attrs["layer_names"] = names
    return path


def test_vgg16_through_keras_equals_jaxviz_native(weights_path, params, tmp_path):
    from jaxviz.model.network import VGG16

    # Keras' file with the classifier (what keras.applications downloads by default) loads by layer name.
    full = with_classifier(weights_path, tmp_path / "vgg16_with_top.h5")
    network, keras_params = load_keras_model("vgg16", weights=str(full))
    images = np.random.default_rng(3).uniform(0, 255, (2, 48, 48, 3)).astype(np.float32)
    native = jax.jit(lambda p, x: VGG16.activation(p, x, "block3_conv1", None, "float32", "xla"))
    ours = jax.jit(lambda p, x: network.activation(p, x, "block3_conv1", None, "float32", "xla"))
    want = native(VGG16.layer_params(params, "block3_conv1"), images)
    assert relative(ours(network.layer_params(keras_params, "block3_conv1"), images), want) <= 1e-4
    assert network.gflop_per_step("block3_conv1", 64) == pytest.approx(VGG16.gflop_per_step("block3_conv1", 64), 0.05)


def small_model(fixed: int | None = 32):
    """A small functional convnet of no application (its input cannot be guessed)."""
    inputs = keras.Input((fixed, fixed, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv_a")(inputs)
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.Conv2D(6, 3, name="conv_b")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="logits")(x), name="tiny")


def test_a_keras_file_needs_no_name_and_states_its_input(tmp_path):
    small_model().save(tmp_path / "tiny.keras")
    with pytest.raises(JaxvizError, match=r"model\.preprocess") as e:
        load_keras_model(str(tmp_path / "tiny.keras"))
    assert "\n" not in str(e.value)
    network, params = load_keras_model(str(tmp_path / "tiny.keras"), preprocess="0-1")
    # A global pool's (N, C) is a target as a 1 x 1 map; `--layers all` takes the maps' layers, the logits by name.
    assert network.name == "keras:tiny" and network.layers == ("conv_a", "pool", "conv_b", "gap", "logits")
    assert network.default_layers == ("conv_a", "conv_b") and network.labels("logits") == ()
    assert network.input.fixed_size == 32 and network.min_size("conv_a") == 32
    logits = network.activation(params, np.full((1, 32, 32, 3), 128.0, np.float32), "logits", None, "float32", "")
    assert logits.shape == (1, 1, 1, 3) and network.nonlinearity("logits") == "softmax"
    # A model nested in another (a fine-tuned base): itself and each of its layers, by path, are targets.
    base = small_model(None)
    inputs = keras.Input((40, 40, 3))
    head = keras.layers.Dense(2, name="head")(base(keras.layers.Rescaling(1 / 255, name="scale")(inputs)))
    keras.Model(inputs, head, name="tuned").save(tmp_path / "tuned.keras")
    tuned, tuned_params = load_keras_model(str(tmp_path / "tuned.keras"), preprocess="0-255")
    assert tuned.layers == ("scale", "tiny/conv_a", "tiny/pool", "tiny/conv_b", "tiny/gap", "tiny/logits", "head")
    images = np.random.default_rng(4).uniform(0, 255, (2, 40, 40, 3)).astype(np.float32)
    inner = keras.Model(base.inputs[0], base.get_layer("conv_b").output).predict(images / 255, verbose=0)
    assert relative(tuned.activation(tuned_params, images, "tiny/conv_b", None, "float32", ""), inner) <= 1e-5
    whole = tuned.model.predict(images, verbose=0)[:, None, None, :]
    assert relative(tuned.activation(tuned_params, images, "head", None, "float32", ""), whole) <= 1e-5
    # An application saved whole is recognised by its name and gets its own preprocessing.
    random_model("mobilenetv2").save(tmp_path / "mobile.keras")
    mobile, _ = load_keras_model(str(tmp_path / "mobile.keras"))
    assert "[-1, 1]" in mobile.input.preprocess and "block_1_expand_relu" in mobile.layers


class Doubler(keras.layers.Layer):
    """A custom layer, not registered with Keras: a file holding it cannot be rebuilt."""

    def call(self, x):
        return 2 * x


def test_bad_models_are_refused_in_one_line(tmp_path, monkeypatch):
    def refused(match: str, *args, **kwargs) -> str:
        with pytest.raises(JaxvizError, match=match) as e:
            load_keras_model(*args, **kwargs)
        assert "\n" not in str(e.value), str(e.value)
        return str(e.value)

    # A custom layer Keras cannot rebuild in a process that lacks its code.
    inputs = keras.Input((8, 8, 3))
    keras.Model(inputs, Doubler(name="double")(keras.layers.Conv2D(2, 3)(inputs))).save(tmp_path / "custom.keras")
    refused("Doubler", str(tmp_path / "custom.keras"), preprocess="0-1")

    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"")
    assert ".keras" in refused("SavedModel", str(tmp_path / "saved"))
    (tmp_path / "net.pth").write_bytes(b"")
    assert ".keras" in refused("PyTorch", str(tmp_path / "net.pth"))
    small_model().save_weights(tmp_path / "tiny.weights.h5")
    refused("weights only.*model.name", str(tmp_path / "tiny.weights.h5"))
    refused("needs its weights.*random", "resnet50")
    refused("unknown model 'resnet5'.*resnet50", "resnet5", weights="random")
    refused("unknown model.preprocess", "resnet50", weights="random", preprocess="imagenet")
    tiny_weights = str(tmp_path / "tiny.weights.h5")
    refused("could not load these weights into resnet50: .*conv1_conv", "resnet50", weights=tiny_weights)

    network, params = load_keras_model("resnet50", weights="random")
    images = np.zeros((1, 32, 32, 3), np.float32)
    for layer, match in [
        (
            "conv9",
            r"unknown layer 'conv9' of keras:resnet50; valid layers: zeropadding2d x 2: conv1_pad, pool1_pad; "
            r"conv2d x 53: conv1_conv, "
            r"conv2_block1_1_conv, conv2_block1_2_conv, \.\.\., conv5_block3_3_conv; batchnormalization x 53",
        ),
        ("input_layer", "the model's input, not a layer"),
    ]:
        with pytest.raises(JaxvizError, match=match) as e:
            network.activation(params, images, layer, None, "float32", "xla")
        assert "\n" not in str(e.value) and len(str(e.value)) < 1200
    with pytest.raises(JaxvizError, match="float32"):
        network.activation(params, images, "conv1_conv", None, "bfloat16", "xla")
    inputs = keras.Input((8, 8, 3))  # a Flatten's units are positions as well as channels: not a target
    flat = keras.layers.Flatten(name="flat")(keras.layers.Conv2D(2, 3, name="conv")(inputs))
    keras.Model(inputs, keras.layers.Dense(4, name="fc")(flat)).save(tmp_path / "flat.keras")
    flattened, _ = load_keras_model(str(tmp_path / "flat.keras"), preprocess="tf")
    assert flattened.layers == ("conv", "fc") and flattened.default_layers == ("conv",)
    with pytest.raises(JaxvizError, match=r"'flat' of keras:\w+ \(Flatten\) outputs \(N, 72\): each unit is one "
                       r"position .* none is a filter .*; visualise the map before it \(conv\) or a layer after it "
                       r"\(fc\); valid layers: conv, fc$"):  # fmt: skip
        flattened.min_size("flat")

    monkeypatch.setitem(sys.modules, "keras", None)  # Keras not installed
    refused(r"pip install 'jaxviz\[keras\]'", "resnet50", weights="random")


def test_importing_the_module_imports_no_keras_and_refuses_another_backend():
    code = (
        "import sys, jaxviz.model.keras_network as k\n"
        "assert 'keras' not in sys.modules and 'jax' not in sys.modules, 'keras or jax imported'\n"
        "try:\n    k.import_keras()\nexcept k.JaxvizError as e:\n    print(e)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": "torch"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "KERAS_BACKEND is 'torch'" in done.stdout and "keras" not in done.stderr.lower()
