"""Weight files: every Keras layout reads to the same params; anything else is rejected clearly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from conftest import write_keras2_h5

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS
from jaxviz.model.keras_files import read_keras_file as read_keras_h5
from jaxviz.model.vgg import param_shapes
from jaxviz.model.weights import fingerprint, load_params, save_params


def test_params_match_model_init_shapes(params):
    expected = param_shapes()
    assert set(params) == set(expected) == set(CONV_LAYERS)
    for layer, leaves in expected.items():
        for kind, spec in leaves.items():
            assert params[layer][kind].shape == spec.shape
            assert params[layer][kind].dtype == np.float32


def test_reads_by_stored_names_not_order(tmp_path, params):
    # Same weights, layer groups created in reverse order and kernel/bias listed bias-first.
    path = tmp_path / "shuffled.h5"
    with h5py.File(path, "w") as f:
        for layer in reversed(CONV_LAYERS):
            g = f.create_group(layer)
            g.attrs["weight_names"] = [f"{layer}_b_1:0", f"{layer}_W_1:0"]  # Keras 1 style names
            g.create_dataset(f"{layer}_b_1:0", data=params[layer]["bias"])
            g.create_dataset(f"{layer}_W_1:0", data=params[layer]["kernel"])
        f.attrs["layer_names"] = list(reversed(CONV_LAYERS))
    again = load_params(path)
    assert fingerprint(again) == fingerprint(params)


def _keras_vgg(include_top=False):
    import keras

    return keras.applications.VGG16(
        weights=None, include_top=include_top, input_shape=None if include_top else (32, 32, 3)
    )


def _assert_same_as_keras(params, model):
    for layer in CONV_LAYERS:
        kernel, bias = model.get_layer(layer).get_weights()
        np.testing.assert_array_equal(params[layer]["kernel"], kernel)
        np.testing.assert_array_equal(params[layer]["bias"], bias)


def test_keras3_weights_h5(tmp_path):
    model = _keras_vgg()
    model.save_weights(tmp_path / "vgg.weights.h5")
    _assert_same_as_keras(load_params(tmp_path / "vgg.weights.h5"), model)


def test_full_model_save_h5(tmp_path):
    model = _keras_vgg()
    model.save(tmp_path / "vgg_full.h5")
    with h5py.File(tmp_path / "vgg_full.h5") as f:
        assert "model_weights" in f  # really the full-model layout
    _assert_same_as_keras(load_params(tmp_path / "vgg_full.h5"), model)


def test_msgpack_roundtrip(tmp_path, params):
    save_params(params, tmp_path / "p.msgpack")
    assert fingerprint(load_params(tmp_path / "p.msgpack")) == fingerprint(params)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_bytes(b"not hdf5 at all" * 100), "neither HDF5, a .keras zip, nor a jaxviz params file"),
        (lambda p: h5py.File(p, "w").create_dataset("x", data=[1, 2]), "not a Keras weights file"),
        (lambda p: write_keras2_h5(p, skip="block4_conv2"), "lacks VGG16 layer(s) block4_conv2"),
        (lambda p: write_keras2_h5(p, bad_shape="block2_conv1"), "block2_conv1/bias has shape (129,), expected (128,)"),
    ],
    ids=["not-hdf5", "foreign-hdf5", "missing-layer", "wrong-shape"],
)
def test_rejects_bad_files(tmp_path, make, message):
    path = tmp_path / "bad.h5"
    make(path)
    with pytest.raises(JaxvizError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_params(path)


def test_rejects_truncated_file(tmp_path, weights_path):
    data = weights_path.read_bytes()
    path = tmp_path / "truncated.h5"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(JaxvizError, match="damaged or truncated|not an HDF5"):
        read_keras_h5(path)


def test_rejects_missing_file(tmp_path):
    with pytest.raises(JaxvizError, match="does not exist"):
        load_params(tmp_path / "nope.h5")


@pytest.mark.parametrize("read", [load_params, read_keras_h5])
@pytest.mark.parametrize("unzipped_model", [False, True])
def test_directory_says_it_is_a_directory(tmp_path, read, unzipped_model):
    folder = tmp_path / "saved.model"
    folder.mkdir()
    if unzipped_model:  # what Keras' model.save(dir, zipped=False) leaves: point at the weights inside
        (folder / "model.weights.h5").write_bytes(b"")
    with pytest.raises(JaxvizError, match="is a directory, not a weights file") as e:
        read(folder)
    assert ("model.weights.h5" in str(e.value)) == unzipped_model and "\n" not in str(e.value)


def test_notop_file_has_no_top(weights_path):
    with pytest.raises(JaxvizError, match="no classifier top"):
        load_params(weights_path, include_top=True)
