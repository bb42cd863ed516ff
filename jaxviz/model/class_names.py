"""Names for a classifier's classes: ImageNet's 1,000, for a model whose last layer has 1,000 units.

The names are Keras' (keras.applications.imagenet_utils.decode_predictions), in its class order, from the file
it downloads, imagenet_class_index.json ({"0": ["n01440764", "tench"], ...}: index -> [WordNet id, name]),
shipped here as package data byte for byte: its MD5 is the `file_hash` Keras checks it against
(c2c37ea517e94d9795004a39431a14cb). Copy taken from the public GitHub repository
JuneLeGency/Fast-Gradient-Signed-Method-FGSM (commit 42b7928e82d871a7385d1c8c6c27d8aa021b2f17), checked against that
hash; the file is Keras' (Apache License 2.0), the names ImageNet's synsets' WordNet lemmas. Importing this module
reads nothing; the file is read once, when a network first asks.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from importlib import resources

IMAGENET_FILE = "imagenet_class_index.json"
IMAGENET_CLASSES = 1000


@functools.cache
def imagenet_classes() -> tuple[str, ...]:
    """ImageNet's 1,000 class names in Keras' class order ("tench", "goldfish", ..., "toilet_tissue")."""
    index = json.loads(resources.files("jaxviz.model").joinpath(IMAGENET_FILE).read_text(encoding="utf-8"))
    return tuple(index[str(i)][1] for i in range(len(index)))


def classifier_labels(layers: Sequence[str], widths: Mapping[str, int], flat: frozenset[str], layer: str) -> tuple:
    """ImageNet's class names for `layer` when it is one of the model's class outputs, else ().

    A model is taken as an ImageNet classifier when its last target layer is (N, 1000), without a map (`flat`: the
    layers whose output is (N, C)); its class outputs are the layers at its end that all have 1,000 channels (the
    logits, and a softmax or flatten after them: MobileNetV3's 1 x 1 convolution "logits" and its "predictions").
    """
    if not layers or layers[-1] not in flat or widths.get(layers[-1]) != IMAGENET_CLASSES:
        return ()
    for name in reversed(layers):
        if widths.get(name) != IMAGENET_CLASSES:
            return ()
        if name == layer:
            return imagenet_classes()
    return ()
