"""What a model is to jaxviz: one small interface (`Network`) that the ascent, the run and the API read, and the
VGG family's implementation of it (`VGGNetwork`: VGG16, VGG19). Importing this module imports no JAX.

A Network answers what every filter visualisation needs of a model, the way Lucent's hooks, tf-keras-vis'
model modifiers and flax's `capture_intermediates` each answer it: which layers can be targets and how many
channels each has; what input it takes (jaxviz always hands it RGB 0-255 images, NHWC, and the network applies
its own preprocessing); the smallest input each layer accepts; and a pure function from images and weights to a
layer's activations before its nonlinearity (the objectives that must see below zero need them; after it is
relu of that for a conv layer followed by a ReLU, or the same values where the layer has no nonlinearity).

A layer whose output is (N, C), without a map (a classifier's logits, a global pool), is a target too: its
activations are (N, 1, 1, C), a 1 x 1 map, so the ascent, its objectives and the quality passes read it as any
other layer. A classifier's logits are its classes, one "filter" each (class visualisation); `labels` names them
where the model has ImageNet's 1,000 classes (jaxviz.model.class_names).

Other models implement the same interface: jaxviz.model.keras_network (any Keras 3 model, through Keras' own JAX
backend) and jaxviz.model.flax_network (any Flax module and its variables).

A layer's name is the model's own ("block3_conv1"; "inner/c1" for a Keras model nested in another, "Block_0/Conv_0" for
a Flax submodule), kept as it is wherever it is shown or recorded; where it becomes a file, a folder, a URL or a
TensorBoard tag, it is `layer_file`'s name for it, and nowhere else.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import MEAN_BGR, TOP_LAYERS, VGG16_ARCHITECTURE, VGG19_ARCHITECTURE, VGGArchitecture


class InputSpec(NamedTuple):
    """What a network's input is: `channels` (3: RGB), `natural_size` (px, the side it was trained at),
    `fixed_size` (px; None when any side at or above a layer's minimum works) and `preprocess`, in words (how the
    network turns RGB 0-255 into what its first layer sees)."""

    channels: int = 3
    natural_size: int = 224
    fixed_size: int | None = None
    preprocess: str = ""


@runtime_checkable
class Network(Protocol):
    """A model the ascent can visualise. Implementations are hashable (they key compiled programs) and their
    `activation` is a pure function of its array arguments (jit, vmap and grad see through it).

    name: the registry name or a description ("vgg16", "keras:resnet50", "flax:MyNet").
    layers: every layer that can be a target, in network order.
    widths: channels of each layer of `layers`.
    input: its InputSpec.
    family: "vgg" where the VGG fast paths apply (a one-channel target, patch-matmul convolutions), else "".
    default_layers: what `--layers all` means: the convolutions and block outputs (all VGG's layers; a Keras
      model's convolutions, adds and concatenations, not its paddings, BatchNorms or nonlinearities, nor its (N, C)
      layers: the logits are a target by name, e.g. `--layers predictions`).
    """

    name: str
    layers: tuple[str, ...]
    widths: Mapping[str, int]
    input: InputSpec
    family: str
    default_layers: tuple[str, ...]

    def min_size(self, layer: str) -> int:
        """Smallest input side (px) at which `layer`'s map is at least 1 x 1."""
        ...

    def activation(self, params: Any, images: Any, layer: str, channel: Any, precision: str, conv: str) -> Any:
        """`layer`'s activation before its nonlinearity, (k, h, w, C) float32, for (k, H, W, 3) RGB 0-255 `images`;
        with `channel` (an index; VGG family only) just that channel, (k, h, w, 1). `precision`: "float32" or
        "bfloat16" for the convolutions; `conv`: "xla" or "patches" (VGG family; others ignore it)."""
        ...

    def post(self, z: Any, layer: str) -> Any:
        """`layer`'s nonlinearity applied to `activation`'s output (ReLU for VGG's convolutions): what the
        objectives that read the layer's output, and the activation figures, see."""
        ...

    def labels(self, layer: str) -> tuple[str, ...]:
        """A name for each of `layer`'s filters where the model has them (ImageNet's 1,000 class names for a
        classifier's logits, in class order), else ()."""
        ...

    def layer_params(self, params: Any, layer: str) -> Any:
        """The part of `params` that `activation` of `layer` reads (later layers' arrays stay out of the jit)."""
        ...

    def gflop_per_step(self, layer: str, size: int) -> float:
        """GFLOP of one ascent step of one `size` px image up to `layer` (forward and input gradient)."""
        ...

    def bytes_per_image(self, layer: str, size: int, precision: str = "float32", images: int = 1) -> int:
        """Rough peak memory (bytes) of one filter's forward and backward up to `layer` for `images` images."""
        ...


@dataclass(frozen=True)
class VGGNetwork:
    """A VGG (VGG16, VGG19) as a Network: jaxviz's own Flax module (jaxviz.model.vgg.VGG), Keras' layer names,
    Keras' "caffe" preprocessing (RGB -> BGR, ImageNet's mean subtracted), any side from each layer's minimum."""

    architecture: VGGArchitecture
    family: str = "vgg"

    @property
    def name(self) -> str:
        return self.architecture.name

    @property
    def layers(self) -> tuple[str, ...]:
        return self.architecture.layers

    @property
    def widths(self) -> dict[str, int]:
        return self.architecture.widths

    @property
    def default_layers(self) -> tuple[str, ...]:
        return self.architecture.layers

    @property
    def input(self) -> InputSpec:
        return InputSpec(3, 224, None, f"RGB -> BGR, mean {MEAN_BGR} subtracted (Keras' 'caffe' mode)")

    def min_size(self, layer: str) -> int:
        return self.architecture.min_size(layer)

    def activation(self, params: Any, images: Any, layer: str, channel: Any, precision: str, conv: str) -> Any:
        import jax.numpy as jnp

        from jaxviz.model.vgg import VGG

        dtype = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[precision]
        model = VGG(upto=layer, dtype=dtype, preact=True, conv=conv, block_widths=self.architecture.block_widths)
        return model.apply({"params": params}, images, channel)

    def post(self, z: Any, layer: str) -> Any:
        import jax

        return jax.nn.relu(z)

    def labels(self, layer: str) -> tuple[str, ...]:
        return ()  # jaxviz's VGGs stop at their last convolution: no classifier

    def not_target(self, layer: str) -> str:
        """Why `layer`, a layer of Keras' VGG that jaxviz's does not offer, is no target, in words ("" for a target
        or a name VGG does not have): a block's max pool (its filters are the block's last convolution's) or the
        classifier (jaxviz's VGGs stop at their last convolution; a full Keras file has it)."""
        found = re.fullmatch(r"block(\d)_pool", layer)
        n = len(self.architecture.block_widths)
        if found and 1 <= int(found.group(1)) <= n:
            b = int(found.group(1))
            last = f"block{b}_conv{len(self.architecture.block_widths[b - 1])}"
            return (
                f"layer {layer!r}{of_network(self)} is a max pool of {last}'s map: its channels are {last}'s filters, "
                f"each the maximum over 2 x 2 positions; visualise {last}"
            )
        if layer in ("flatten", *TOP_LAYERS):
            return (
                f"layer {layer!r}{of_network(self)} is in the classifier, which jaxviz's {self.name.upper()} leaves "
                f"out (it stops at its last convolution); for class visualisation give the full model to Keras: "
                f"--model keras --weights {self.name}.keras (saved with include_top=True)"
            )
        return ""

    def layer_params(self, params: Any, layer: str) -> Any:
        return {name: params[name] for name in self.layers[: self.layers.index(layer) + 1]}

    def gflop_per_step(self, layer: str, size: int) -> float:
        return self.architecture.gflop_per_step(layer, size)

    def bytes_per_image(self, layer: str, size: int, precision: str = "float32", images: int = 1) -> int:
        width = 2 if precision == "bfloat16" else 4
        maps = sum(side * side * cout * width for _, side, _, cout in self.architecture.conv_geometry(layer, size))
        return images * (5 * maps + 4 * size * size * 3 * 4)  # conv, ReLU, pool, cotangents; image, optimiser


VGG16 = VGGNetwork(VGG16_ARCHITECTURE)
VGG19 = VGGNetwork(VGG19_ARCHITECTURE)


def of_network(network: Network) -> str:
    """How a message names the model after a layer: "" for VGG16 (the default model goes without saying), else
    " of NAME" ("unknown layer 'conv9' of keras:resnet50")."""
    return "" if network.name == "vgg16" else f" of {network.name}"


# Up to this many layers a refusal lists them all; beyond, grouped (a ResNet50 has 175 targets).
LISTED = 24


def valid_layers(network: Network, first: int = 3) -> str:
    """`network`'s target layers as a refusal lists them: all of them when few (LISTED), else grouped by kind,
    in order of first appearance, with each group's count, first `first` and last names, so that a 300-layer
    model's list stays readable: "conv2d x 53: conv1_conv, conv2_block1_1_conv, conv2_block1_2_conv, ...,
    conv5_block3_3_conv; batchnormalization x 53: ...". A layer's kind is its class where the network records
    one (KerasNetwork.classes: Keras' class names), else its name's last word without digits ("block1_conv1":
    "conv")."""
    layers, kinds = network.layers, getattr(network, "classes", None) or {}
    if len(layers) <= LISTED:
        return ", ".join(layers)
    groups: dict[str, list[str]] = {}
    for name in layers:
        kind = kinds.get(name) or name.rsplit("_", 1)[-1].rstrip("0123456789") or name
        groups.setdefault(kind.lower(), []).append(name)
    parts = []
    for kind, names in groups.items():
        shown = names if len(names) <= first + 1 else [*names[:first], "...", names[-1]]
        parts.append(f"{kind} x {len(names)}: {', '.join(shown)}")
    return "; ".join(parts)


def check_target(network: Network, layer: str, all_too: bool = False) -> None:
    """Nothing when `layer` is a target of `network`; else JaxvizError (one line) saying why and listing the
    targets (`valid_layers`, after "all" when `all_too`: where `--layers all` is a choice). A layer the model has
    but that cannot be a target (a Conv1D's (N, L, C), a Flatten's (N, H*W*C), a pool, an input) is explained by
    the network's own `not_target(layer)` where it has one; any other name is an unknown layer."""
    if layer in network.widths:
        return
    listed = ("all, " if all_too else "") + valid_layers(network)
    why = getattr(network, "not_target", lambda _: "")(layer)
    if why:
        raise JaxvizError(f"{why}; valid layers: {listed}")
    raise JaxvizError(f"unknown layer {layer!r}{of_network(network)}; valid layers: {listed}")


# A layer's file name: what URLs leave unescaped (RFC 3986's unreserved characters but "~"), file systems and shells
# take as they are, and TensorBoard keeps in a tag (tensorboardX turns anything else into "_").
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
SEPARATOR = "__"  # a module path's "/" ("inner/c1" -> "inner__c1")
DIGEST = "--"  # a name that cannot be written as itself ends in this and a digest of it; no other name holds it
DIGEST_CHARS = 10  # hex digits of SHA-1: 40 bits, a collision between two names of one model is not a concern
MAX_FILE = 100  # characters: room for ".quality.npz" and the atlas' folders within any file system's 255 bytes
# Windows' reserved device names: "aux.png" cannot be created there whatever its extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)), *(f"lpt{i}" for i in range(1, 10))}


def layer_file(layer: str) -> str:
    """`layer`'s name as a file, folder, URL or TensorBoard tag name: the name itself where it is one already
    ("block3_conv1", "Conv_0"); a module path with "__" for "/" ("inner/c1" -> "inner__c1", "Block_0/Conv_0" ->
    "Block_0__Conv_0"); any other name readable (characters outside A-Z a-z 0-9 _ . - as "-", "/" as "__", at most
    MAX_FILE characters) followed by "--" and a digest of the exact name ("conv 1" -> "conv-1--6a357ca6dc"): a
    name holding "__" or "--" of its own, a character a path or URL cannot hold as it is, a leading "." or "-", a
    trailing ".", Windows' reserved device names ("aux"), an empty or over-long one.

    Two names never share a file name: a name written as itself (or with "__" for "/") is exactly the name its file
    name reads back as, and holds no "--"; every other ends in its own digest. Only case can still bring two
    together, on a case-insensitive file system (macOS', Windows'): `check_layer_files` refuses that."""
    readable = _UNSAFE.sub("-", layer.replace("/", SEPARATOR))
    plain = (
        readable.replace(SEPARATOR, "/") == layer
        and 0 < len(readable) <= MAX_FILE
        and DIGEST not in readable
        and readable[0] not in ".-"
        and not readable.endswith(".")
        and readable.split(".")[0].lower() not in _RESERVED
    )
    if plain:
        return readable
    digest = hashlib.sha1(layer.encode("utf-8", "surrogatepass")).hexdigest()[:DIGEST_CHARS]
    stem = readable[: MAX_FILE - len(DIGEST) - DIGEST_CHARS]
    stem = "_" + stem[1:] if stem[:1] in (".", "-") else stem  # never hidden, never an option on a command line
    stem = "_" + stem if stem.split(".")[0].lower() in _RESERVED else stem  # "AUX.1--..." is Windows' AUX too
    return f"{stem or '_'}{DIGEST}{digest}"


def check_layer_files(layers: Iterable[str], network: str = "") -> None:
    """Refuse (JaxvizError, one line) layers whose file names (`layer_file`) differ only in case ("Conv1" and
    "conv1"): on a case-insensitive file system (macOS', Windows') they would be one file, and one layer's stored
    images would be read as the other's. `network`: its name, for the message."""
    seen: dict[str, str] = {}
    for layer in layers:
        key = layer_file(layer).lower()
        if key in seen and seen[key] != layer:
            of = f" of {network}" if network and network != "vgg16" else ""
            raise JaxvizError(
                f"layers {seen[key]!r} and {layer!r}{of} differ only in case: their files would be one on a "
                f"case-insensitive file system (macOS, Windows); visualise them into separate run directories"
            )
        seen[key] = layer
