"""Models by name: the table the config's `model.name` choices come from, and the one function that turns a
model's settings into a Network and its weights. Importing this module imports neither JAX nor Keras.

- "vgg16" (the default), "vgg19": jaxviz's own Flax VGG (jaxviz.model.network.VGGNetwork) with its fast paths;
  VGG16's weights are found and read as jaxviz.model.weights says (docs/weights.md).
- a keras.applications name ("resnet50", "inceptionv3", "mobilenetv2", "efficientnetb0", "convnexttiny", ...):
  that application built by Keras (the optional extra jaxviz[keras]) with `model.weights` loaded into it, or
  Keras' own random initialisation with `model.weights = "random"`, and its own preprocess_input;
- "keras": the Keras model a `.keras` archive or a full-model `.h5` in `model.weights` holds (architecture and
  weights), preprocessed as `model.preprocess` says unless Keras names it as an application;
- "flax": a Flax module with its variables, handed over in Python (jaxviz.flax_model): recorded by that name.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from jaxviz.errors import JaxvizError
from jaxviz.model.network import VGG16, VGG19, Network

NATIVE: dict[str, Network] = {"vgg16": VGG16, "vgg19": VGG19}
# keras.applications constructors by the lower-case name `model.name` takes (Keras 3's own module names).
KERAS_APPLICATIONS = {
    "resnet50": "ResNet50",
    "resnet101": "ResNet101",
    "resnet50v2": "ResNet50V2",
    "inceptionv3": "InceptionV3",
    "inceptionresnetv2": "InceptionResNetV2",
    "xception": "Xception",
    "mobilenet": "MobileNet",
    "mobilenetv2": "MobileNetV2",
    "mobilenetv3small": "MobileNetV3Small",
    "mobilenetv3large": "MobileNetV3Large",
    "efficientnetb0": "EfficientNetB0",
    "efficientnetv2b0": "EfficientNetV2B0",
    "densenet121": "DenseNet121",
    "convnexttiny": "ConvNeXtTiny",
    "nasnetmobile": "NASNetMobile",
}
FROM_FILE = "keras"  # the architecture is read from the weights file itself
FLAX = "flax"  # a Flax module handed to the notebook API (jaxviz.flax_model): recorded, never loaded by name
RANDOM = "random"  # `model.weights` for Keras' or jaxviz's own random initialisation, for every model
PREPROCESSES = ("", "caffe", "tf", "torch", "0-1", "0-255")  # "" : the application's own, else refused


def model_names() -> tuple[str, ...]:
    """Every valid `model.name`: jaxviz's own VGGs, the Keras applications, and "keras" (from the file)."""
    return (*NATIVE, *KERAS_APPLICATIONS, FROM_FILE, FLAX)


def is_native(name: str) -> bool:
    """Whether `name` is one of jaxviz's own Flax networks (the VGG family), which need no Keras."""
    return name in NATIVE


class LoadedModel(NamedTuple):
    """A model ready to run: its Network, its params (the pytree `network.activation` takes), the weights file
    (None: random), how it was found (words), and their fingerprint (jaxviz.model.weights.fingerprint's hash)."""

    network: Network
    params: Any
    path: Any
    how: str
    fingerprint: str


def network_of(name: str, weights: str = "", preprocess: str = "") -> Network:
    """The Network `name` describes, without reading weights for the native VGGs (their layers are facts), and
    with the Keras model built (and cached) otherwise, since its layers are only known once it is.

    Raises JaxvizError (one line) for an unknown name (listing the valid ones), a model.preprocess a native VGG
    would ignore (`check_native_preprocess`) or a Keras model that cannot be built (see
    jaxviz.model.keras_network).
    """
    if name in NATIVE:
        check_native_preprocess(name, preprocess)
        return NATIVE[name]
    return _keras(name, weights, preprocess).network


NATIVE_PREPROCESS = "caffe"  # the VGGs' own input: Keras' "caffe" mode, built into jaxviz's VGG


def check_native_preprocess(name: str, preprocess: str) -> None:
    """JaxvizError (one line) for a `model.preprocess` other than "" or "caffe" with a native VGG, which applies
    Keras' "caffe" preprocessing itself (the one its weights were trained with) and would otherwise ignore it."""
    if preprocess not in ("", NATIVE_PREPROCESS):
        raise JaxvizError(
            f"model.preprocess = {preprocess!r} does not apply to {name}: it takes Keras' 'caffe' input (RGB -> BGR, "
            f"ImageNet's mean subtracted), built in; model.preprocess is for Keras models and Flax modules, so "
            f'leave it "" (or "caffe") with --model {name}'
        )


def load_model(name: str, weights: str = "", download: bool = True, preprocess: str = "") -> LoadedModel:
    """The model `name` with its weights, found and checked: the native VGGs' weights found as
    jaxviz.model.weights.find_and_load_file finds them (VGG19: a Keras VGG19 weights file, `weights` given),
    Keras models built by jaxviz.model.keras_network. Loaded once per process and argument set.

    Raises JaxvizError (one line) as those do, for an unknown name, and for a model.preprocess a native VGG would
    ignore (`check_native_preprocess`).
    """
    if name in NATIVE:
        check_native_preprocess(name, preprocess)
    if name in NATIVE and weights == RANDOM:  # every model takes "random": the right shapes, pictures meaning nothing
        return _random_vgg(name)
    if name == "vgg16":
        from jaxviz.model.weights import find_and_load_file

        found = find_and_load_file(weights, download)
        return LoadedModel(VGG16, found.params, found.path, found.how, found.fingerprint)
    if name == "vgg19":
        return _vgg19(weights)
    return _keras(name, weights, preprocess)


@functools.cache
def _random_vgg(name: str) -> LoadedModel:
    """A native VGG with random weights (jaxviz.model.weights.random_params: He-normal, seed 0), drawn once per
    process: as for Keras models' "random", the right shapes and speed, pictures that mean nothing (benchmarks)."""
    from jaxviz.model.weights import fingerprint, random_params

    network = NATIVE[name]
    params = random_params(architecture=network.architecture)
    return LoadedModel(network, params, None, "drawn at random, He-normal", fingerprint(params))


@functools.cache
def _vgg19(weights: str) -> LoadedModel:
    from pathlib import Path

    from jaxviz.model.weights import fingerprint, load_params

    if not weights:
        raise JaxvizError(
            "model.name = 'vgg19' needs its weights file: pass --weights (Keras' "
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5, or a .keras / .weights.h5 of "
            "keras.applications.VGG19), or 'random'"
        )
    params = load_params(weights, architecture=VGG19.architecture)
    return LoadedModel(VGG19, params, Path(weights), "given", fingerprint(params))


@functools.cache
def _keras(name: str, weights: str, preprocess: str) -> LoadedModel:
    if name == FLAX:
        raise JaxvizError(
            "model 'flax' is a Flax module and its variables, handed over in Python: "
            "jaxviz.visualize(layer, model=jaxviz.flax_model(module, variables))"
        )
    if name not in KERAS_APPLICATIONS and name != FROM_FILE:
        raise JaxvizError(f"unknown model {name!r}; valid models: {', '.join(model_names())}")
    if name == FROM_FILE and not weights:
        raise JaxvizError(
            "model.name = 'keras' reads the model from its file: pass --weights MODEL.keras (or a full-model .h5)"
        )
    from pathlib import Path

    from jaxviz.model.keras_network import load_keras_model

    network, params = load_keras_model(weights if name == FROM_FILE else name, "" if name == FROM_FILE else weights,
                                       preprocess)  # fmt: skip
    from jaxviz.model.weights import tree_fingerprint

    path = None if weights in ("", "random") else Path(weights)
    how = "Keras' random initialisation" if weights == "random" else "given"
    return LoadedModel(network, params, path, how, tree_fingerprint(params))
