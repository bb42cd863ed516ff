"""Any Keras 3 model as a jaxviz Network (jaxviz.model.network), run by Keras' own JAX backend.

Keras is an optional extra (pip install 'jaxviz[keras]') and is imported only when a Keras model is loaded:
importing this module imports neither Keras nor JAX, and VGG16's path never imports Keras.

A model comes from a `.keras` archive, a full-model `.h5` (both hold their architecture), or a keras.applications
name ("resnet50", "inceptionv3", ...) built without its classifier at a free input size, with a Keras weights
file loaded into it (or Keras' own initialisation, `weights="random"`). Its variables are created uninitialised
and then given the file's values: Keras' random initialisation would compile one XLA program per variable shape
(tens of seconds for a ResNet on a CPU) only to be overwritten.

Its params are every Keras variable's value, keyed by the variable's path ("conv1_conv/kernel", ...):
`activation` runs the functional sub-model up to the target layer (one per graph, for a layer inside a nested
model) through `keras.Model.stateless_call` with those values passed as arguments, so jit, vmap and grad see a
pure function of (params, images). BatchNorm runs in inference mode. "Before its nonlinearity": a layer that is
only a nonlinearity (Activation, ReLU, ...) gives its input, a layer with a fused `activation` (VGG's
Conv2D(activation="relu")) is traced with the identity in its place (`nonlinearity` names what was left out).

Input: jaxviz hands RGB 0-255 images (N, H, W, 3). A keras.applications model, named or recognised by its
model name, gets that application's own `preprocess_input` (it traces: it is keras.ops arithmetic, which is
jax.numpy on this backend); any other model states its input in `preprocess` ("caffe", "tf", "torch": Keras'
imagenet_utils.preprocess_input modes; "0-1"; "0-255": none), else it is refused.

A few of Keras' private hooks are used, each where its public API has no answer: the stateless scope that defers
initialisation and its list of variables to initialise (keras.src.backend.common), the auto-naming counters
(so a layer name means the same layer in every process), and a graph's nodes (a nested model's call in its
container, and the shape walk of `_walk_shapes`).
"""

from __future__ import annotations

import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxviz.errors import JaxvizError
from jaxviz.model.class_names import classifier_labels
from jaxviz.model.network import InputSpec, check_target, of_network

RANDOM = "random"  # `weights`: Keras' own initialisers (their formulas, drawn by NumPy: see _initial_value)
EXTRA = "pip install 'jaxviz[keras]'"
PREPROCESS_MODES = ("caffe", "tf", "torch", "0-1", "0-255")
# What each mode does, in words (keras.applications.imagenet_utils.preprocess_input's documented modes, and ours).
PREPROCESS_WORDS = {
    "caffe": "RGB -> BGR, ImageNet's mean (103.939, 116.779, 123.68) subtracted (Keras' 'caffe' mode)",
    "tf": "scaled to [-1, 1]: x / 127.5 - 1 (Keras' 'tf' mode)",
    "torch": "x / 255, ImageNet's mean (0.485, 0.456, 0.406) subtracted, divided by (0.229, 0.224, 0.225) "
    "(Keras' 'torch' mode)",
    "0-1": "scaled to [0, 1]: x / 255",
    "0-255": "none: RGB 0-255 as given (the model rescales inside)",
}
# Files jaxviz cannot read, by suffix, and what they are.
FOREIGN = {
    ".pt": "a PyTorch file",
    ".pth": "a PyTorch file",
    ".ckpt": "a checkpoint (PyTorch or TensorFlow)",
    ".bin": "a PyTorch / Hugging Face weights file",
    ".safetensors": "a safetensors weights file",
    ".onnx": "an ONNX model",
    ".pb": "a TensorFlow graph",
    ".tflite": "a TensorFlow Lite model",
}
SUPPORTED = (
    "jaxviz reads Keras 3 models: a .keras archive, a full-model .h5, or a keras.applications name with a Keras "
    "weights file"
)
# Layers that are a nonlinearity and nothing else: their pre-activation is their input.
NONLINEARITY_LAYERS = ("Activation", "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax")
# The layers `--layers all` takes (KerasNetwork.default_layers), where their output is a map: filters of the
# model's own (a Dense on a map is a 1 x 1 convolution: ConvNeXt's), block outputs.
DEFAULT_CLASSES = frozenset(
    {"Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "Add", "Concatenate", "Dense"}
)
# Layers whose (N, C) output is no channel axis: each unit is a position and a channel of the map they flatten.
NOT_CHANNELS = ("Flatten", "Reshape")
_SIZE_LIMIT = 8192  # px: the largest side min_size tries before calling a layer unreachable


def import_keras() -> Any:
    """Keras 3 on its JAX backend (KERAS_BACKEND is set to "jax" unless already set).

    Raises JaxvizError (one line): Keras not installed (naming the extra), Keras 2, or Keras already imported, or
    asked for, with another backend.
    """
    backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    if "keras" not in sys.modules and backend != "jax":
        raise JaxvizError(
            f"KERAS_BACKEND is {backend!r}: jaxviz runs Keras models on Keras' JAX backend; set KERAS_BACKEND=jax"
        )
    try:
        import keras
    except ImportError as e:
        raise JaxvizError(f"Keras models need Keras 3 ({e}): {EXTRA}") from None
    version = str(getattr(keras, "__version__", "0"))
    if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 3:
        raise JaxvizError(f"Keras models need Keras 3, found Keras {version}: {EXTRA}")
    if keras.backend.backend() != "jax":
        raise JaxvizError(
            f"Keras was imported with its {keras.backend.backend()!r} backend before jaxviz: "
            "set KERAS_BACKEND=jax before anything imports keras"
        )
    return keras


@dataclass(frozen=True, eq=False)  # eq=False: hashed by identity, so a network keys compiled programs
class KerasNetwork:
    """A Keras 3 model as a Network (see jaxviz.model.network.Network and this module's docstring).

    model: the keras.Model (functional or sequential; one (N, H, W, 3) input, channels last).
    layers: every layer with a 4-D output (N, H, W, C), in model order, and every layer with an (N, C) output
      (`flat`: the logits, a global pool, seen as 1 x 1 maps; not a Flatten or Reshape, whose units are positions
      as well as channels, nor a nested model, whose output is its last layer's); `widths` their channel counts;
      `classes` their Keras class names. A functional or sequential
      model nested in the model (a fine-tuned application: Sequential([ResNet50(...), pooling, Dense])) is a
      layer, and so is each of its layers, named by its path ("resnet50/conv2_block1_out").
    where: every layer's name -> (the chain of models from `model` to the one whose graph holds it, the layer).
    keys: the params' keys (variable paths), in the order of `model.variables`; `shapes` their (shape, dtype).
    preprocess: RGB 0-255 (jax array) -> what the model's first layer takes (traceable).
    """

    model: Any
    name: str
    layers: tuple[str, ...]
    widths: Mapping[str, int]
    classes: Mapping[str, str]
    input: InputSpec
    keys: tuple[str, ...]
    shapes: Mapping[str, tuple]
    preprocess: Callable[[Any], Any]
    where: Mapping[str, tuple] = field(default_factory=dict, repr=False)
    flat: frozenset[str] = frozenset()
    family: str = ""
    _programs: dict = field(default_factory=dict, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: Any = field(default_factory=threading.RLock, repr=False)

    # -- the Network protocol --------------------------------------------------------------------------------

    @property
    def default_layers(self) -> tuple[str, ...]:
        """What `--layers all` means for a Keras model: its convolutions and block outputs (DEFAULT_CLASSES: the
        layers whose filters are the model's own, and the sums and concatenations that end its blocks); not its
        paddings, pools, normalisations or nonlinearities (each the image of a layer in the list), nor its (N, C)
        layers: the logits are a class visualisation, asked for by name (`--layers predictions`)."""
        chosen = tuple(la for la in self.layers if self.classes.get(la) in DEFAULT_CLASSES and la not in self.flat)
        return chosen or tuple(la for la in self.layers if la not in self.flat) or self.layers

    def min_size(self, layer: str) -> int:
        """Smallest input side (px) at which `layer`'s map, and every map on the way to it, is at least 1 x 1: the
        model's fixed side where it has one, else found by bisection, assuming that a side that works keeps working
        when it grows (true of convolutions, pools and paddings), over Keras' shape functions (`_shapes`: all
        layers at once, no arrays), or over `jax.eval_shape` of the sub-model where those cannot say. Cached.

        Raises JaxvizError for an unknown layer, or one no side up to 8192 px reaches.
        """
        self.check_layer(layer)
        if self.input.fixed_size:
            return self.input.fixed_size
        key = ("min_size", layer)
        if key not in self._cache:
            try:
                self._cache[key] = self._smallest(layer, lambda side: _fits(self._shapes(side).get(layer)))
            except JaxvizError:  # a layer Keras' shape functions cannot follow: traced as it runs
                self._cache[key] = self._smallest(layer, lambda side: self._traces(layer, side))
        return self._cache[key]

    def activation(self, params: Any, images: Any, layer: str, channel: Any, precision: str, conv: str) -> Any:
        """`layer`'s output before its nonlinearity, (k, h, w, C) float32 (an (N, C) layer's (k, C) as (k, 1, 1, C)),
        for (k, H, W, 3) RGB 0-255 `images`; with `channel` (an int or a traced index) just that channel,
        (k, h, w, 1). `params`: `load_keras_model`'s, whole or trimmed by `layer_params`. BatchNorm and Dropout
        run in inference mode. `conv` is ignored (Keras chooses its own convolutions).

        "Before its nonlinearity": a layer that is only a nonlinearity (Activation, ReLU, ...) gives its input; a
        layer with a nonlinear `activation` (Conv2D(activation="relu"), as in VGG) is traced with that activation
        replaced by the identity (see `_linear`).

        A model with a fixed input size (`input.fixed_size`) sees images of any other side resized to it (bilinear,
        antialiased, as jax.image.resize does it): the ascent always feeds it that side (run_plan.check_sizes), but
        the quality passes and dataset examples read a finished `ascent.size` image or a photograph, which the model
        can only see at its own size.

        Raises JaxvizError for `precision` other than "float32" (Keras' layers compute in their own dtype, so
        casting the inputs would not make them bfloat16) and for an unknown layer or one without channels.
        """
        if precision != "float32":
            raise JaxvizError(f"{self.name}: Keras models run in float32 only; set precision = 'float32'")
        import jax
        import jax.numpy as jnp

        images = jnp.asarray(images, jnp.float32)
        fixed = self.input.fixed_size
        if fixed and images.shape[1:3] != (fixed, fixed):
            images = jax.image.resize(images, (images.shape[0], fixed, fixed, images.shape[3]), "linear")
        out = self.preprocess(images)
        with self._lock:
            for stage in self._program(layer):
                out, _ = self._run(stage, stage.model, params, out)
        out = jnp.asarray(out, jnp.float32)
        if out.ndim == 2:
            out = out[:, None, None, :]
        if channel is not None:
            out = jax.lax.dynamic_slice_in_dim(out, jnp.asarray(channel, jnp.int32), 1, axis=-1)
        return out

    def post(self, z: Any, layer: str) -> Any:
        """`z` through the nonlinearity `activation` leaves out for `layer` (`nonlinearity`): the layer's own
        output. A layer without one (a BatchNorm, an Add, a linear conv) is its output already; where the name is
        not one of jax.nn's, Keras' own activation of that name (keras.activations.get) computes it.

        A softmax is left out too: the classifier's logits are what a class visualisation maximises, not the
        class probabilities, which rise as well by lowering every other class's score (Simonyan, Vedaldi and
        Zisserman, "Deep Inside Convolutional Networks", 2014, section 2)."""
        import jax
        import jax.numpy as jnp

        kind = self.nonlinearity(layer)
        if kind in ("linear", "softmax"):
            return z
        if kind.startswith("relu") and kind != "relu":  # ReLU(max_value=6): "relu6"
            return jnp.clip(z, 0.0, float(kind[len("relu") :]))
        known = {"relu": jax.nn.relu, "swish": jax.nn.silu, "gelu": lambda x: jax.nn.gelu(x, approximate=False),
                 "elu": jax.nn.elu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh}  # fmt: skip
        if kind in known:
            return known[kind](z)
        return import_keras().activations.get(kind)(z)

    def layer_params(self, params: Any, layer: str) -> dict:
        """The entries of `params` the sub-model up to `layer` reads (later layers' arrays stay out of the jit)."""
        return {k: params[k] for stage in self._program(layer) for k in (*stage.trainable, *stage.frozen)}

    def gflop_per_step(self, layer: str, size: int) -> float:
        """GFLOP of one ascent step of one `size` px image up to `layer`: XLA's cost analysis of the lowered
        forward ('flops'), times 2 for the input gradient's backward pass (one transposed op per forward op; no
        weight gradients). A model with a fixed input size is only ever fed that size (run_plan.check_sizes
        refuses anything else), so its cost is that size's whatever `size` says: Keras' own layers refuse any other
        (a Dense after a Flatten). Cached per (layer, size)."""
        size = self.input.fixed_size or size
        key = ("gflop", layer, size)
        if key not in self._cache:
            import jax

            fn = jax.jit(lambda p, x: self.activation(p, x, layer, None, "float32", "xla"))
            lowered = fn.lower(self._param_specs(layer), _image_spec(size))
            try:
                cost = lowered.cost_analysis()  # the unoptimised HLO's: no compile needed
            except Exception:  # older JAX: only the compiled program has one
                cost = lowered.compile().cost_analysis()
            if isinstance(cost, Sequence):
                cost = cost[0] if cost else {}
            self._cache[key] = 2 * float((cost or {}).get("flops", 0.0)) / 1e9
        return self._cache[key]

    def bytes_per_image(self, layer: str, size: int, precision: str = "float32", images: int = 1) -> int:
        """Rough peak memory (bytes) of one filter's forward and backward up to `layer` for `images` images: 5 x
        the float32 outputs of every layer the sub-model runs (shapes from `jax.eval_shape`, no FLOPs: kept for
        the backward pass, their cotangents, XLA's temporaries, as for VGG), plus the image and the optimiser's
        state (4 image-sized arrays). A model with a fixed input size runs at that size whatever `size` says (as
        `gflop_per_step`); the image and its optimiser state stay `size` px. Cached per (layer, size)."""
        key = ("bytes", layer, size)
        if key not in self._cache:
            fed = self.input.fixed_size or size
            self._cache[key] = 5 * 4 * self._activation_elements(layer, fed) + 4 * size * size * 3 * 4
        return images * self._cache[key]

    def labels(self, layer: str) -> tuple[str, ...]:
        """ImageNet's 1,000 class names for the logits (and a softmax after them) of a model whose last layer has
        1,000 units (jaxviz.model.class_names.classifier_labels); () for any other layer."""
        return classifier_labels(self.layers, self.widths, self.flat, layer)

    # -- beyond the protocol ---------------------------------------------------------------------------------

    def nonlinearity(self, layer: str) -> str:
        """The nonlinearity `activation` leaves out for `layer` ("relu", "swish", "gelu", "relu6", ...; "linear"
        where there is none): what a post-activation objective would apply to see the layer's own output."""
        self.check_layer(layer)
        target = self.where[layer][1]
        kind = type(target).__name__
        if kind == "ReLU":
            top = getattr(target, "max_value", None)
            return "relu" if top is None else f"relu{float(top):g}"
        if kind in ("LeakyReLU", "ELU", "PReLU", "Softmax"):
            return kind.lower()
        return _activation_name(getattr(target, "activation", None))

    def check_layer(self, layer: str) -> None:
        """Nothing for a target layer; JaxvizError (one line) for a layer of the model that cannot be a target
        (`not_target` says why) or an unknown one, the valid ones listed, grouped by class
        (jaxviz.model.network.check_target, valid_layers)."""
        check_target(self, layer)

    def not_target(self, layer: str) -> str:
        """Why `layer`, a layer of the model but not among `layers`, cannot be a target, in words ("" for a target
        or a name the model does not have): the input; a layer without one output tensor; an output without a
        channel axis (a Conv1D's (N, L, C): its shape named, and what a target needs); a Flatten's or Reshape's
        (N, C), whose units are positions of the map it flattens as well as its channels, so none is a filter (the
        map before it and the layer after it named); a nested model's (N, C), which is its last layer's."""
        if layer in self.widths or layer not in self.where:
            return ""
        chain, target = self.where[layer]
        kind, named = type(target).__name__, f"layer {layer!r}{of_network(self)}"
        if kind == "InputLayer":
            return f"{layer!r}{of_network(self)} is the model's input, not a layer"
        out = _output_of(chain[-1], target)
        if out is None:
            return f"{named} ({kind}) has no single output tensor to visualise (several, or none in this graph)"
        shape = "(" + ", ".join("N" if i == 0 else str(d) for i, d in enumerate(out.shape)) + ")"
        names = list(self.where)
        before = [n for n in names[: names.index(layer)] if n in self.widths and n not in self.flat]
        after = [n for n in names[names.index(layer) + 1 :] if n in self.widths]
        if len(out.shape) == 2 and kind in NOT_CHANNELS:
            around = [
                f"the map before it ({before[-1]})" if before else "",
                f"a layer after it ({after[0]})" if after else "",
            ]
            instead = " or ".join(a for a in around if a)
            return (
                f"{named} ({kind}) outputs {shape}: each unit is one position of the map it flattens as well as one "
                f"channel, so none is a filter (a target needs (N, H, W, C) or a vector of channels (N, C))"
                + (f"; visualise {instead}" if instead else "")
            )
        if len(out.shape) == 2 and _is_graph(import_keras(), target):
            last = next((n for n in reversed(names) if n.startswith(f"{layer}/") and n in self.widths), "")
            return f"{named} is a nested model: its output is its last layer's" + (
                f"; name it: {last!r}" if last else ""
            )
        if out.shape[-1] is None:
            return f"{named} ({kind}) outputs {shape}: its channel count is not known before it runs"
        return (
            f"{named} ({kind}) has output {shape}, not (N, H, W, C) or (N, C): no channel axis jaxviz can visualise "
            "(a target is a map of channels or a vector of them)"
        )

    # -- internals -----------------------------------------------------------------------------------------------

    def _program(self, layer: str) -> tuple[_Stage, ...]:
        """The functional sub-models that run one after the other from the input to `layer`'s pre-activation
        (one, or one more per nested model on the way), built once per layer."""
        self.check_layer(layer)
        with self._lock:
            if layer not in self._programs:
                keys = dict(zip(map(id, self.model.variables), self.keys))
                self._programs[layer] = _build_program(*self.where[layer], keys)
            return self._programs[layer]

    def _run(self, stage: _Stage, model: Any, params: Any, x: Any) -> Any:
        """`model` (a stage's, or one over the same layers) on `x` with `params`' values, in inference mode."""
        import jax.numpy as jnp

        # Each value in its variable's own dtype: a caller that casts the whole tree to float32 (the ascent does)
        # must not turn a layer's integer state (a seed, a count) into floats.
        keys = dict(zip(map(id, self.model.variables), self.keys))
        trainable = [jnp.asarray(params[keys[id(v)]], self.shapes[keys[id(v)]][1]) for v in model.trainable_variables]
        frozen = [jnp.asarray(params[keys[id(v)]], self.shapes[keys[id(v)]][1]) for v in model.non_trainable_variables]
        with _linear(stage.swap):
            return model.stateless_call(trainable, frozen, x, training=False)

    def _param_specs(self, layer: str) -> dict:
        import jax

        return {k: jax.ShapeDtypeStruct(*spec) for k, spec in self.layer_params(self.shapes, layer).items()}

    def _smallest(self, layer: str, fits: Callable[[int], bool]) -> int:
        hi = self.input.natural_size
        while not fits(hi):
            hi *= 2
            if hi > _SIZE_LIMIT:
                raise JaxvizError(f"{self.name}: no input side up to {_SIZE_LIMIT} px gives {layer} a map")
        lo = 0  # invariant: lo fails (or is 0), hi fits
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid, hi)
        return hi

    def _traces(self, layer: str, side: int) -> bool:
        """Whether the sub-model up to `layer` traces for a `side` px image and gives a map of at least 1 x 1."""
        import jax

        try:
            out = jax.eval_shape(
                lambda p, x: self.activation(p, x, layer, None, "float32", "xla"),
                self._param_specs(layer),
                _image_spec(side),
            )
        except Exception:  # a too-small map: a negative size, an invalid padding, ... as each layer says it
            return False
        return _fits(out.shape)

    def _shapes(self, side: int) -> dict[str, tuple | None]:
        """Every layer's output shape for one `side` px image (None where it fails), all found in one walk of each
        graph with Keras' own shape functions (each layer's compute_output_spec: arithmetic for convolutions,
        pools and paddings, an abstract trace of that layer alone otherwise), as Keras infers shapes when it builds
        a model. A layer fails where its shape function refuses its input (a zero or negative size) or an input map
        is under 1 x 1, and so does everything after it: JAX itself would run a VALID convolution on a too-small
        map to an empty one, and a padding after it would make a map again that no pixel reaches. Cached."""
        key = ("shapes", side)
        if key not in self._cache:
            try:
                self._cache[key] = self._walk_shapes(side)
            except Exception:  # not a graph Keras' shape functions follow: no shapes, each layer traced instead
                self._cache[key] = {}
        return self._cache[key]

    def _walk_shapes(self, side: int) -> dict[str, tuple | None]:
        keras = import_keras()
        from keras.src import tree

        failed = object()  # a layer's result when it fails: passed on, never None (None is a valid argument)

        def checked(op: Any) -> Callable:
            def spec(*args: Any, **kwargs: Any) -> Any:
                for a in tree.flatten((args, kwargs)):
                    if a is failed or (isinstance(a, keras.KerasTensor) and not _fits(a.shape)):
                        return failed
                try:
                    return op.compute_output_spec(*args, **kwargs)
                except Exception:
                    return failed

            return spec

        shapes: dict[str, tuple | None] = {}

        def walk(model: Any, prefix: str, given: Any) -> None:
            inner = [t for t in model.layers if type(t).__name__ != "InputLayer"]
            named = [(prefix + t.name, o) for t in inner if (o := _output_of(model, t)) is not None]
            nested = [t for t in inner if _is_graph(keras, t)]
            wanted = [*(o for _, o in named), *(_input_of(model, t) for t in nested)]
            found = keras.Model(_graph(model).inputs[0], wanted)._run_through_graph([given], operation_fn=checked)
            for (name, _), out in zip(named, found):
                shapes[name] = None if out is failed else tuple(out.shape)
            for t, entry in zip(nested, found[len(named) :]):
                if entry is not failed:
                    walk(t, f"{prefix}{t.name}/", entry)

        walk(self.model, "", keras.KerasTensor((1, side, side, 3)))
        return shapes

    def _activation_elements(self, layer: str, size: int) -> int:
        """Elements of the outputs of every layer the sub-model up to `layer` runs (inside nested models too), at
        `size` px (one image): from `_shapes`, else from `jax.eval_shape` of every layer's output."""
        import numpy as np

        keras = import_keras()
        shapes, names = self._shapes(size), set()
        for stage in self._program(layer):
            for t in stage.model.layers:
                if type(t).__name__ != "InputLayer":
                    name = stage.prefix + t.name
                    names.add(name)
                    if _is_graph(keras, t):
                        names |= {n for n in shapes if n.startswith(f"{name}/")}
        if all(shapes.get(n) is not None for n in names):
            return int(sum(np.prod(shapes[n]) for n in names))
        return self._traced_elements(layer, size)

    def _traced_elements(self, layer: str, size: int) -> int:
        """_activation_elements by `jax.eval_shape` of probes over every layer the stages run (and inside nested
        models), for graphs Keras' shape functions cannot follow."""
        import jax
        import numpy as np

        keras = import_keras()
        stages = self._program(layer)

        def count(stage: _Stage, model: Any, params: Any, x: Any) -> list:
            inner = [t for t in model.layers if type(t).__name__ != "InputLayer"]
            outs = [o for o in (_output_of(model, t) for t in inner) if o is not None]
            nested = [t for t in inner if _is_graph(keras, t)]
            probe = keras.Model(_graph(model).inputs[0], [*outs, *(_input_of(model, t) for t in nested)])
            found = self._run(stage, probe, params, x)[0]
            deeper = (y for t, z in zip(nested, found[len(outs) :]) for y in count(stage, t, params, z))
            return [*found[: len(outs)], *deeper]

        def every_output(params, x):
            found = []
            with self._lock:
                for stage in stages:
                    found += count(stage, stage.model, params, x)
                    x, _ = self._run(stage, stage.model, params, x)
            return found

        outs = jax.eval_shape(every_output, self._param_specs(layer), _image_spec(size))
        return int(sum(np.prod(o.shape) for o in jax.tree_util.tree_leaves(outs)))


@dataclass(frozen=True)
class _Stage:
    model: Any  # keras.Model: one graph's input -> a nested model's input, or the layer's pre-activation
    trainable: tuple[str, ...]  # params keys of model.trainable_variables
    frozen: tuple[str, ...]  # params keys of model.non_trainable_variables
    swap: Any  # the layer whose `activation` is traced as the identity, or None
    prefix: str  # the path of the graph it runs in ("" for the model's own, "resnet50/" inside a nested one)


def _build_program(chain: tuple, target: Any, keys: Mapping[int, str]) -> tuple[_Stage, ...]:
    """The stages from the input of chain[0] (the model) to `target`'s pre-activation in chain[-1]'s graph: one
    per nested model entered (from its container's input to the nested model's input, where they differ), then
    the last graph's input to the target."""
    keras = import_keras()

    def stage(start: Any, end: Any, prefix: str, swap: Any = None) -> _Stage:
        sub = keras.Model(start, end)
        return _Stage(sub, tuple(keys[id(v)] for v in sub.trainable_variables),
                      tuple(keys[id(v)] for v in sub.non_trainable_variables), swap, prefix)  # fmt: skip

    stages = []
    for depth, (outer, inner) in enumerate(zip(chain, chain[1:])):
        start, end = _graph(outer).inputs[0], _input_of(outer, inner)
        if end is not start:
            stages.append(stage(start, end, "".join(f"{m.name}/" for m in chain[1 : depth + 1])))
    last, swap = chain[-1], None
    if type(target).__name__ in NONLINEARITY_LAYERS:
        end = _input_of(last, target)
    else:
        end = _output_of(last, target)
        if _activation_name(getattr(target, "activation", None)) != "linear":
            swap = target
    stages.append(stage(_graph(last).inputs[0], end, "".join(f"{m.name}/" for m in chain[1:]), swap))
    return tuple(stages)


def _graph(model: Any) -> Any:
    """The functional graph of `model`: itself, or a Sequential's functional model (built with its input)."""
    inner = getattr(model, "_functional", None)
    return inner if inner is not None else model


def _node(model: Any, layer: Any) -> Any:
    """The node (call) of `layer` in `model`'s graph, or None. `layer.output` would be its first call's, which
    for a nested model is its own graph's, not the call in `model` (Keras' Function keeps its graph's node keys in
    `_nodes`, made by keras.src.ops.function.make_node_key)."""
    from keras.src.ops.function import make_node_key

    nodes = getattr(_graph(model), "_nodes", None)
    if nodes is None:
        return None
    for index, node in enumerate(getattr(layer, "_inbound_nodes", ())):
        if make_node_key(layer, index) in nodes:
            return node
    return None


def _output_of(model: Any, layer: Any) -> Any:
    """`layer`'s one output tensor in `model`'s graph, or None (no call there, or several outputs)."""
    node = _node(model, layer)
    outputs = list(node.output_tensors) if node is not None else []
    return outputs[0] if len(outputs) == 1 else None


def _input_of(model: Any, layer: Any) -> Any:
    node = _node(model, layer)
    inputs = list(node.input_tensors) if node is not None else []
    if len(inputs) != 1:
        raise JaxvizError(f"{model.name}: layer {layer.name!r} takes {len(inputs)} inputs; jaxviz follows one")
    return inputs[0]


def _walk(keras: Any, model: Any, prefix: str = "", chain: tuple = ()) -> Iterator[tuple[str, tuple, Any]]:
    """(name, chain of models, layer) for every layer of `model` and, by path, of the functional and sequential
    models nested in it, in model order."""
    chain = (*chain, model)
    for layer in model.layers:
        name = prefix + layer.name
        yield name, chain, layer
        if _is_graph(keras, layer):
            yield from _walk(keras, layer, f"{name}/", chain)


@contextmanager
def _linear(layer: Any) -> Iterator[None]:
    """`layer.activation` as the identity for the duration of one call (nothing when `layer` is None).

    Safe because Keras' layers read `self.activation` when called, the call here runs only while jit, vmap,
    grad or eval_shape trace it (the traced program keeps the identity, and the layer gets its own function back
    before anything else calls it), and the network's lock keeps two threads from tracing the same layer at once.
    """
    if layer is None:
        yield
        return
    keras = import_keras()
    original = layer.activation
    layer.activation = keras.activations.linear
    try:
        yield
    finally:
        layer.activation = original


def _activation_name(fn: Any) -> str:
    if fn is None:
        return "linear"
    name = getattr(fn, "__name__", type(fn).__name__)
    return {"silu": "swish"}.get(name, name)


def _fits(shape: tuple | None) -> bool:
    """Whether a shape is a map of at least 1 x 1 (any shape that is not (N, H, W, C) counts; None: failed)."""
    return shape is not None and not (len(shape) == 4 and any(d is not None and d < 1 for d in shape[1:3]))


def _is_graph(keras: Any, layer: Any) -> bool:
    """Whether `layer` is a functional or sequential model whose graph jaxviz can enter (a nested model)."""
    return isinstance(layer, keras.Model) and getattr(_graph(layer), "_nodes", None) is not None


def _image_spec(side: int) -> Any:
    import jax
    import jax.numpy as jnp

    return jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32)


# -- loading ----------------------------------------------------------------------------------------------------


def load_keras_model(source: str, weights: str = "", preprocess: str = "") -> tuple[KerasNetwork, dict[str, Any]]:
    """A Keras model as (KerasNetwork, params): `source` is a `.keras` archive or a full-model `.h5` (its
    architecture and weights; `weights`, if given, a weights file loaded over them), or a keras.applications
    name in lower case ("resnet50", "inceptionv3", "mobilenetv2", "efficientnetb0", "convnexttiny", "vgg16", ...),
    built with include_top=False at a free input size where the application allows one, with `weights` loaded
    by Keras' load_weights (a .weights.h5, an .h5 as in ~/.keras/models/, or a .keras) or `weights="random"`.

    params: {variable path: array} for every variable of the model (floats, and the int state of a few layers).
    `preprocess` ("caffe", "tf", "torch", "0-1", "0-255") says what input the model takes; "" means the
    application's own preprocess_input, for a model named or recognised (by its model name) as one.

    Raises JaxvizError (one line): Keras missing (the extra named) or on another backend; a file that is not a
    Keras model (a SavedModel directory, a PyTorch or ONNX file: what is supported said), a weights-only file as
    `source`, a layer Keras cannot rebuild (its class named), a weights file that does not fit, an application
    without `weights`, an unknown name, a preprocess jaxviz does not know or a model whose input it cannot know.
    """
    if preprocess and preprocess not in PREPROCESS_MODES:
        raise JaxvizError(f"unknown model.preprocess {preprocess!r}; valid: {', '.join(PREPROCESS_MODES)}")
    path = Path(source).expanduser()
    looks_like_file = path.suffix != "" or os.sep in source or path.exists()
    if looks_like_file:
        _check_model_file(path)
    keras = import_keras()
    if looks_like_file:
        if weights == RANDOM:
            raise JaxvizError(f"{path} holds its own weights; weights = 'random' is for a keras.applications name")
        model = _load_file(keras, path)
        application = _recognise(keras, model.name)
    else:
        application = _application(keras, source)
        if not weights:
            raise JaxvizError(
                f"model {source!r} needs its weights: give a Keras weights file (model.weights, as kept in "
                f"~/.keras/models/), or 'random' for Keras' own initialisation"
            )
        model = _build_application(keras, application)
    try:
        if looks_like_file:
            _check_loaded(model, path)
        if weights and weights != RANDOM:
            _load_weights(model, weights)
    except BaseException:
        _forget_uninitialised(model.variables)  # or the next stateless scope initialises them, the slow way
        raise
    _fill_uninitialised(model)
    # An application by name is called by it, not by Keras' model name ("mobilenetv2_1.00_None").
    return keras_network(model, preprocess, application, "" if looks_like_file else f"keras:{source.lower()}")


def keras_network(
    model: Any, preprocess: str = "", application: str = "", name: str = ""
) -> tuple[KerasNetwork, dict[str, Any]]:
    """A built keras.Model (the notebook's own, with its custom layers) as (KerasNetwork, params); see
    load_keras_model for `preprocess` and the errors. `application`: the keras.applications constructor it is
    (e.g. "ResNet50"), else it is recognised from the model's name, else `preprocess` must be given. `name`:
    the network's name (default "keras:" and the model's name)."""
    import numpy as np

    keras = import_keras()
    if not isinstance(model, keras.Model):
        raise JaxvizError(f"a Keras model is a keras.Model, not a {type(model).__name__}")
    application = application or _recognise(keras, model.name)
    input_spec, fn = _input(keras, model, preprocess, application)
    variables = list(model.variables)
    paths = [v.path for v in variables]
    keys = tuple(paths if len(set(paths)) == len(paths) else (f"{i:05d}:{p}" for i, p in enumerate(paths)))
    params = {k: np.asarray(v.value) for k, v in zip(keys, variables)}
    layers, widths, classes, where, flat = [], {}, {}, {}, set()
    for path, chain, target in _walk(keras, model):
        where.setdefault(path, (chain, target))
        kind = type(target).__name__
        out = _output_of(chain[-1], target) if kind != "InputLayer" else None
        shape = tuple(out.shape) if out is not None else ()
        # A nested model's (N, C) output is its last layer's after that layer's softmax: a target by its path.
        two = len(shape) == 2 and kind not in NOT_CHANNELS and not _is_graph(keras, target)
        if shape and shape[-1] is not None and (len(shape) == 4 or two):
            layers.append(path)
            widths[path] = int(shape[-1])
            classes[path] = kind
            if len(shape) == 2:
                flat.add(path)
    if not layers:
        raise JaxvizError(f"{model.name} has no layer with a channel axis (N, H, W, C) to visualise")
    network = KerasNetwork(
        model=model,
        name=name or f"keras:{model.name}",
        layers=tuple(layers),
        widths=widths,
        classes=classes,
        input=input_spec,
        keys=keys,
        shapes={k: (a.shape, a.dtype) for k, a in params.items()},
        preprocess=fn,
        where=where,
        flat=frozenset(flat),
    )
    return network, params


def _check_model_file(path: Path) -> None:
    """JaxvizError (one line) for what is not a Keras model file, before Keras is imported."""
    if path.is_dir():
        if (path / "saved_model.pb").exists() or (path / "saved_model.pbtxt").exists():
            raise JaxvizError(f"{path} is a TensorFlow SavedModel, which jaxviz cannot read; {SUPPORTED}")
        raise JaxvizError(f"{path} is a directory, not a model file; {SUPPORTED}")
    suffix = path.suffix.lower()
    if suffix in FOREIGN:
        raise JaxvizError(f"{path} is {FOREIGN[suffix]}, which jaxviz cannot read; {SUPPORTED}")
    if not path.is_file():
        raise JaxvizError(f"no model file {path}; {SUPPORTED}")
    if suffix not in (".keras", ".h5", ".hdf5"):
        raise JaxvizError(f"{path} is not a .keras or .h5 file; {SUPPORTED}")
    import h5py

    if suffix == ".keras":
        _check_keras_archive(path, h5py.is_hdf5(path))
        return
    if not h5py.is_hdf5(path):
        raise JaxvizError(f"{path} is not an HDF5 file (damaged, truncated, or another format); {SUPPORTED}")
    try:
        with h5py.File(path, "r") as f:
            full = "model_config" in f.attrs
    except OSError as e:
        raise JaxvizError(f"{path} is a damaged or truncated HDF5 file ({_first(e)}); {SUPPORTED}") from None
    if not full:
        raise JaxvizError(_weights_only(path))


def _check_keras_archive(path: Path, hdf5: bool) -> None:
    """JaxvizError (one line) for a `.keras` file Keras would call "not found": an HDF5 file under that name, a
    file that is no zip, a zip that lost its directory (truncated), or one without Keras' config.json."""
    import zipfile

    if hdf5:
        raise JaxvizError(f"{path} is an HDF5 file under a .keras name (Keras 3's .keras is a zip archive): rename it "
                          f"to .h5")  # fmt: skip
    with open(path, "rb") as f:
        zip_start = f.read(4) == b"PK\x03\x04"
    damaged = (
        f"{path} is a damaged or truncated .keras archive (a zip whose directory, at its end, is missing or unreadable:"
        " an interrupted copy or download?); save or copy it again"
    )
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        if zip_start:
            raise JaxvizError(damaged) from None
        raise JaxvizError(f"{path} is not a .keras archive: not a zip file, which Keras 3 saves a .keras as; "
                          f"{SUPPORTED}") from None  # fmt: skip
    if "config.json" not in names:
        held = ", ".join(names[:6]) or "nothing"
        raise JaxvizError(f"{path} is a zip without config.json (it holds: {held}): not a Keras 3 model archive")


def _weights_only(path: Path) -> str:
    """What an HDF5 file without an architecture is, in one line: one of jaxviz's own VGGs' weights (use that
    model), another model's Keras weights (name the model), or no Keras file at all."""
    from jaxviz.model.keras_files import holds_keras_weights, vgg_in_file

    if not holds_keras_weights(path):
        return f"{path} is HDF5 but holds no Keras model or weights; {SUPPORTED}"
    vgg = vgg_in_file(path)
    if vgg:
        return (
            f"{path} holds {vgg.upper()}'s weights only, no architecture: give it to jaxviz's own {vgg.upper()}, "
            f"--model {vgg} --weights {path}"
        )
    return (
        f"{path} holds weights only, no architecture: name the model they belong to (model.name, --model: a "
        f"keras.applications name such as resnet50) and give this file as its weights, or save the whole model "
        f"(model.save('NAME.keras')) and give that with --model keras"
    )


def _load_file(keras: Any, path: Path) -> Any:
    """keras.saving.load_model(path) without Keras' random initialisation (see _deferred), one-line errors."""
    try:
        with warnings.catch_warnings():  # a partial load warns per layer; _check_loaded says it in one line
            warnings.simplefilter("ignore")
            try:
                model = _deferred_load(keras, path)
            except Exception:  # an unusual file the deferred load does not suit: Keras' own way, its own errors
                model = keras.saving.load_model(path, compile=False)
    except Exception as e:
        raise JaxvizError(f"{path}: {_rebuild_error(e)}") from None
    if not isinstance(model, keras.Model):
        raise JaxvizError(f"{path} holds a {type(model).__name__}, not a keras.Model")
    return model


def _rebuild_error(e: Exception) -> str:
    text = str(e)
    found = re.search(r"(?:Could not locate (?:class|function)|Unknown (?:layer|object|class)[^']*?)\s*'([^']+)'", text)
    if found:
        return (
            f"Keras cannot rebuild class {found.group(1)!r} (a custom layer): register it with "
            "@keras.saving.register_keras_serializable in code imported first, or pass the built model to "
            "jaxviz.model.keras_network.keras_network"
        )
    if "safe_mode" in text or "Lambda" in text:
        return "it holds a Lambda layer (Python code), which Keras loads only with safe_mode=False; jaxviz does not"
    return f"Keras could not load it: {_first(e)}"


def _first(e: Exception) -> str:
    """The first line of Keras' message, with the next one where it ends with a colon ("Example error ...:")."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
    return " ".join(lines[:2]) if lines[0].endswith(":") and len(lines) > 1 else lines[0]


def _deferred_load(keras: Any, path: Path) -> Any:
    """load_model with every variable created uninitialised (see _deferred) and the file's values, which Keras
    assigns inside the stateless scope, collected from it and assigned after; what the file did not hold stays
    uninitialised (see _check_loaded)."""
    model, scope = _deferred(lambda: keras.saving.load_model(path, compile=False))
    for v in model.variables:
        value = scope.get_current_value(v)
        if value is not None:
            v.assign(value)
    return model


def _application(keras: Any, name: str) -> str:
    """The keras.applications constructor named `name` (lower case, e.g. "resnet50" -> "ResNet50")."""
    constructors = _constructors(keras)
    if name.lower() not in constructors:
        raise JaxvizError(
            f"unknown model {name!r}: not a file, nor a keras.applications name ({', '.join(sorted(constructors))})"
        )
    return constructors[name.lower()]


def _constructors(keras: Any) -> dict[str, str]:
    apps = keras.applications
    return {n.lower(): n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n))}


def _recognise(keras: Any, model_name: str) -> str:
    """The keras.applications constructor a model's name says it is ("resnet50", "inception_v3",
    "mobilenetv2_1.00_224", "efficientnetv2-b0", ...), else ""."""
    base = re.sub(r"_\d+(\.\d+)?_(\d+|none)$", "", model_name.lower())  # MobileNets' alpha and input size
    return _constructors(keras).get(re.sub(r"[_\-]", "", base), "")


def _build_application(keras: Any, application: str) -> Any:
    """keras.applications.<application>(include_top=False, weights=None) at a free input size where it allows
    one (else its default), its variables uninitialised (filled by load_weights or _fill_uninitialised)."""
    ctor = getattr(keras.applications, application)
    try:
        return _deferred(lambda: ctor(include_top=False, weights=None, input_shape=(None, None, 3)))[0]
    except ValueError:  # an application that only takes its own size
        return _deferred(lambda: ctor(include_top=False, weights=None))[0]


def _deferred(build: Callable[[], Any]) -> tuple[Any, Any]:
    """(build(), the stateless scope it ran in): its variables created uninitialised (Keras' stateless scope
    defers initialisation; Keras' random initialisation compiles one XLA program per variable shape, tens of
    seconds for a ResNet on a CPU, only to be overwritten by the weights), and its auto-named layers ("conv2d_5",
    "activation_12": InceptionV3's) numbered from zero whatever was built before in this process, so that a
    layer name means the same layer in every run (the session's own numbering is restored afterwards). When
    build() fails, Keras' list of variables to initialise is restored too."""
    import collections

    from keras.src.backend.common import global_state
    from keras.src.backend.common.stateless_scope import StatelessScope

    numbering = global_state.get_global_attribute("object_name_uids")
    pending = list(global_state.get_global_attribute("uninitialized_variables") or [])
    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        with StatelessScope(initialize_variables=False) as scope:
            return build(), scope
    except BaseException:
        global_state.set_global_attribute("uninitialized_variables", pending)
        raise
    finally:
        global_state.set_global_attribute("object_name_uids", numbering)


def _natural_size(keras: Any, application: str) -> int:
    """The side an application was trained at: the input of its full model (with its classifier), built with
    uninitialised variables (no arrays made) and then forgotten."""
    ctor = getattr(keras.applications, application)
    try:
        full = _deferred(lambda: ctor(include_top=True, weights=None))[0]
    except Exception:
        return 224
    _forget_uninitialised(full.variables)
    side = full.input_shape[1]
    return int(side) if side else 224


def _load_weights(model: Any, weights: str) -> None:
    path = Path(weights).expanduser()
    if not path.is_file():
        raise JaxvizError(f"no weights file {path}")
    try:
        with warnings.catch_warnings():  # a partial load warns per layer; _check_loaded says it in one line
            warnings.simplefilter("ignore")
            try:
                model.load_weights(path)
            except ValueError as e:
                # A legacy .h5 with more layers than the model (Keras' ImageNet file with the classifier, as
                # keras.applications downloads by default, for a model built without it): Keras refuses before
                # assigning anything, so load the layers of the model by name instead (_check_loaded then checks
                # that every weight got a value).
                if "Layer count mismatch" not in str(e) or path.name.endswith(".weights.h5"):
                    raise
                model.load_weights(path, by_name=True)
    except Exception as e:
        from jaxviz.model.keras_files import keras_architecture

        other = keras_architecture(path)  # a whole model of its own: the user meant --model keras
        if other is not None and other != model.name:
            raise JaxvizError(
                f"{path} is a whole Keras model{f' ({other!r})' if other else ''} that does not fit {model.name}: "
                f"give it alone, --model keras --weights {path}"
            ) from None
        raise JaxvizError(f"{path}: Keras could not load these weights into {model.name}: {_first(e)}") from None
    _check_loaded(model, path)


def _check_loaded(model: Any, path: Path) -> None:
    """JaxvizError (one line) when the file left floating-point variables without values (Keras would have kept
    their random initial values, saying so only in warnings); integer state (a seed) is initialised as usual."""
    missing = [v.path for v in model.variables if v._value is None and "float" in str(v.dtype)]
    if missing:
        raise JaxvizError(
            f"{path} holds no values for {len(missing)} of {model.name}'s weights (first: {missing[0]}): not weights "
            "of this model, or saved by an older Keras"
        )


def _fill_uninitialised(model: Any) -> None:
    """Give every variable still uninitialised its initial value (see _initial_value), then take the model's
    variables off Keras' list of variables to initialise (which the next stateless scope would otherwise
    initialise again, the slow way, or refuse as already initialised)."""
    import numpy as np

    rng = np.random.default_rng(0)
    filled = False
    for v in model.variables:
        if v._value is None:
            v.assign(_initial_value(v._initializer, tuple(v.shape), v.dtype, rng))
            filled = True
    _forget_uninitialised(model.variables)
    if filled:
        for target in model.layers:
            if hasattr(target, "finalize_state"):  # Normalization bakes its variables into constants
                target.finalize_state()


def _forget_uninitialised(variables: Sequence[Any]) -> None:
    from keras.src.backend.common import global_state

    drop = {id(v) for v in variables}
    pending = global_state.get_global_attribute("uninitialized_variables") or []
    global_state.set_global_attribute("uninitialized_variables", [v for v in pending if id(v) not in drop])


def _initial_value(initializer: Any, shape: tuple[int, ...], dtype: str, rng: Any) -> Any:
    """What Keras' `initializer` draws, drawn by NumPy (no XLA compile per shape): the formulas of
    keras.initializers (keras.io/api/layers/initializers): VarianceScaling and its Glorot, He and Lecun forms
    (scale / fan, fans as keras' compute_fans: kernel taps x in or out channels; truncated normal std
    sqrt(scale) / .87962566103423978, cut at 2 std; uniform limit sqrt(3 scale)), RandomNormal, RandomUniform,
    TruncatedNormal (cut at 2 std), Zeros, Ones, Constant; any other initialiser is Keras' own call."""
    import numpy as np

    ki = import_keras().initializers

    def truncated(std: float) -> Any:
        out = rng.normal(0.0, std, shape)
        bad = np.abs(out) > 2 * std
        while bad.any():
            out[bad] = rng.normal(0.0, std, int(bad.sum()))
            bad = np.abs(out) > 2 * std
        return out

    if isinstance(initializer, ki.VarianceScaling):
        fan_in, fan_out = _fans(shape)
        fan = {"fan_in": fan_in, "fan_out": fan_out}.get(initializer.mode, (fan_in + fan_out) / 2)
        scale = initializer.scale / max(1.0, fan)
        if initializer.distribution == "truncated_normal":
            value = truncated(np.sqrt(scale) / 0.87962566103423978)
        elif initializer.distribution == "untruncated_normal":
            value = rng.normal(0.0, np.sqrt(scale), shape)
        else:
            limit = np.sqrt(3.0 * scale)
            value = rng.uniform(-limit, limit, shape)
    elif isinstance(initializer, ki.TruncatedNormal):
        value = initializer.mean + truncated(initializer.stddev)
    elif isinstance(initializer, ki.RandomNormal):
        value = rng.normal(initializer.mean, initializer.stddev, shape)
    elif isinstance(initializer, ki.RandomUniform):
        value = rng.uniform(initializer.minval, initializer.maxval, shape)
    elif isinstance(initializer, ki.Zeros):
        value = np.zeros(shape)
    elif isinstance(initializer, ki.Ones):
        value = np.ones(shape)
    elif isinstance(initializer, ki.Constant):
        value = np.broadcast_to(np.asarray(initializer.value), shape)
    else:
        value = np.asarray(initializer(shape, dtype=dtype))
    return np.asarray(value).astype(dtype)


def _fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """Keras' compute_fans: (in, out) of a kernel; a conv kernel's taps multiply both."""
    if len(shape) == 0:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    if len(shape) == 2:
        return float(shape[0]), float(shape[1])
    taps = 1
    for d in shape[:-2]:
        taps *= d
    return float(shape[-2] * taps), float(shape[-1] * taps)


def _input(keras: Any, model: Any, preprocess: str, application: str) -> tuple[InputSpec, Callable[[Any], Any]]:
    """The model's InputSpec and its preprocessing, or JaxvizError (one line) for an input jaxviz cannot feed
    (not one (N, H, W, 3) image input, a non-square fixed size, channels first) or cannot know."""
    if len(model.inputs) != 1:
        raise JaxvizError(f"{model.name} takes {len(model.inputs)} inputs; jaxviz feeds one image input")
    shape = tuple(model.inputs[0].shape)
    if len(shape) != 4 or shape[-1] != 3:
        raise JaxvizError(f"{model.name} takes input of shape {shape}; jaxviz feeds RGB images (N, H, W, 3)")
    if any(getattr(t, "data_format", "channels_last") == "channels_first" for _, _, t in _walk(keras, model)):
        raise JaxvizError(f"{model.name} computes channels first; jaxviz reads channels-last models only")
    fixed = None
    if shape[1] is not None or shape[2] is not None:
        if shape[1] != shape[2]:
            raise JaxvizError(f"{model.name} takes {shape[1]} x {shape[2]} images; jaxviz renders square images")
        fixed = int(shape[1])
    natural = fixed or (_natural_size(keras, application) if application else 224)
    if preprocess:
        fn, words = _mode(keras, preprocess), PREPROCESS_WORDS[preprocess]
    elif application:
        fn = _application_preprocess(keras, application)
        words = f"{_describe(fn)} (keras.applications' {application} preprocess_input)"
    else:
        raise JaxvizError(
            f"{model.name} is not a keras.applications model, so jaxviz cannot know its input: set model.preprocess "
            f"to one of {', '.join(PREPROCESS_MODES)}"
        )
    return InputSpec(3, natural, fixed, words), fn


def _mode(keras: Any, mode: str) -> Callable[[Any], Any]:
    if mode == "0-255":
        return lambda x: x
    if mode == "0-1":
        return lambda x: x / 255.0
    from keras.applications import imagenet_utils

    return lambda x: imagenet_utils.preprocess_input(x, data_format="channels_last", mode=mode)


def _application_preprocess(keras: Any, application: str) -> Callable[[Any], Any]:
    """The preprocess_input of the keras.applications module that defines `application`."""
    apps = keras.applications
    for module_name in dir(apps):
        module = getattr(apps, module_name)
        if module_name[:1].islower() and hasattr(module, application) and hasattr(module, "preprocess_input"):
            fn = module.preprocess_input
            return lambda x: fn(x, data_format="channels_last")
    raise JaxvizError(f"keras.applications has no preprocess_input for {application}; set model.preprocess")


def _describe(fn: Callable[[Any], Any]) -> str:
    """Which of the known modes `fn` is, in words, found by applying it to a few pixels."""
    import numpy as np

    probe = np.array([[[[0.0, 0.0, 0.0], [255.0, 128.0, 0.0], [10.0, 200.0, 60.0]]]], np.float32)
    got = np.asarray(fn(probe.copy()))
    mean = np.array([0.485, 0.456, 0.406])
    std = np.array([0.229, 0.224, 0.225])
    expected = {
        "caffe": probe[..., ::-1] - np.array([103.939, 116.779, 123.68]),
        "tf": probe / 127.5 - 1,
        "torch": (probe / 255 - mean) / std,
        "0-1": probe / 255,
        "0-255": probe,
    }
    for mode, want in expected.items():
        if got.shape == want.shape and np.allclose(got, want, atol=1e-4):
            return PREPROCESS_WORDS[mode]
    return "the application's own"
