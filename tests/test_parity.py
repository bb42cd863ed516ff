"""Converted activations equal Keras' own (Keras 3, JAX backend) on the same images."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from jaxviz.model.architecture import CONV_LAYERS
from jaxviz.model.vgg import VGG as VGG16
from jaxviz.model.weights import load_params

keras = pytest.importorskip("keras")


def _rel(a, b):
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def test_all_conv_layers_match_keras(weights_path, params):
    model = keras.applications.VGG16(weights=str(weights_path), include_top=False, input_shape=(64, 64, 3))
    rgb = np.random.default_rng(1).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    prepped = keras.applications.vgg16.preprocess_input(rgb.copy())
    probe = keras.Model(model.inputs, [model.get_layer(n).output for n in CONV_LAYERS])
    theirs = probe.predict(prepped, verbose=0)
    for layer, ref in zip(CONV_LAYERS, theirs):
        ours = np.asarray(VGG16(upto=layer).apply({"params": params}, jnp.asarray(rgb)))
        assert ours.shape == ref.shape
        assert _rel(ours, ref) <= 1e-4, layer
        assert np.abs(ref).max() > 0  # a dead network would match trivially


def test_single_channel_path_matches_full_layer(params):
    rgb = jnp.asarray(np.random.default_rng(2).uniform(0, 255, (1, 48, 48, 3)), jnp.float32)
    for layer in ("block1_conv2", "block3_conv1", "block5_conv3"):
        full = VGG16(upto=layer).apply({"params": params}, rgb)
        one = VGG16(upto=layer).apply({"params": params}, rgb, jnp.int32(7))
        np.testing.assert_allclose(np.asarray(one[..., 0]), np.asarray(full[..., 7]), rtol=1e-4, atol=1e-3)


def test_classifier_top_matches_keras(tmp_path):
    model = keras.applications.VGG16(weights=None, include_top=True)
    model.save_weights(tmp_path / "full.weights.h5")
    params = load_params(tmp_path / "full.weights.h5", include_top=True)
    rgb = np.random.default_rng(3).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    ref = model.predict(keras.applications.vgg16.preprocess_input(rgb.copy()), verbose=0)
    for layer in ("fc1", "predictions"):
        ours = np.asarray(VGG16(upto=layer, include_top=True).apply({"params": params}, jnp.asarray(rgb)))
        if layer == "predictions":
            assert _rel(ours, ref) <= 1e-4
            np.testing.assert_allclose(ours.sum(axis=1), 1.0, rtol=1e-5)
