"""Any Flax (linen) module as a Network, from the notebook API: a module and its variables, its layers named by
their module path, read with flax's `capture_intermediates` (each submodule's output is recorded as it is computed;
nothing in the module is changed).

A layer is any submodule whose output has a channel axis, (N, H, W, C): a `nn.Conv`'s output is the convolution
before whatever nonlinearity the module applies after it (flax's activations are functions, not submodules), which
is what the objectives that must see below zero want; or (N, C), a head's `nn.Dense` (the logits: a class
visualisation), seen as a 1 x 1 map. The module takes what `preprocess` makes of jaxviz's RGB 0-255 images (see
PREPROCESS).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import MEAN_BGR
from jaxviz.model.class_names import classifier_labels
from jaxviz.model.network import InputSpec

# RGB 0-255 -> what a module was trained on. Formulas: "caffe" and "torch" as keras.applications.imagenet_utils'
# preprocess_input modes (ImageNet's BGR mean subtracted; RGB scaled to 0-1, then ImageNet's mean and std), "tf" its
# scaling to [-1, 1].
_TORCH_MEAN, _TORCH_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
PREPROCESS: dict[str, Callable[[Any], Any]] = {
    "0-255": lambda x: x,
    "0-1": lambda x: x / 255.0,
    "tf": lambda x: x / 127.5 - 1.0,
    "caffe": lambda x: x[..., ::-1] - _constant(MEAN_BGR, x),
    "torch": lambda x: (x / 255.0 - _constant(_TORCH_MEAN, x)) / _constant(_TORCH_STD, x),
}


def _constant(values: tuple[float, ...], like: Any) -> Any:
    import jax.numpy as jnp

    return jnp.asarray(values, like.dtype)


def _path(keys: tuple) -> str:
    return "/".join(str(getattr(k, "key", k)) for k in keys)


@dataclass(frozen=True, eq=False)  # hashed by identity: it keys compiled programs
class FlaxNetwork:
    """A Flax module as a Network (see jaxviz.model.network): `layers` are module paths ("Conv_0", "block2/conv"),
    in the order the module computes them; `flat` those whose output is (N, C) (a head's Dense)."""

    module: Any
    name: str
    layers: tuple[str, ...]
    widths: Mapping[str, int]
    input: InputSpec
    preprocess_name: str
    shapes: Any = field(repr=False, default=None)  # the variables' ShapeDtypeStructs (abstract calls take them)
    natural_bytes: dict = field(repr=False, default_factory=dict)  # each layer's float32 output at natural_size
    flat: frozenset[str] = frozenset()
    others: Mapping[str, tuple] = field(default_factory=dict, repr=False)  # submodules with another output shape
    family: str = ""
    _least: dict = field(default_factory=dict, repr=False)  # caches: min_size and gflop_per_step per layer (size)
    _gflop: dict = field(default_factory=dict, repr=False)

    def _capture(self, variables: Any, images: Any, layer: str) -> Any:
        import jax.numpy as jnp

        x = PREPROCESS[self.preprocess_name](jnp.asarray(images, jnp.float32))
        target = tuple(layer.split("/"))

        def only(mdl: Any, method_name: str) -> bool:  # capture just the asked layer: nothing else is kept
            return method_name == "__call__" and tuple(mdl.path) == target

        _, state = self.module.apply(variables, x, capture_intermediates=only, mutable=["intermediates"])
        node = state["intermediates"]
        for part in target:
            node = node[part]
        return node["__call__"][0]

    def activation(self, params: Any, images: Any, layer: str, channel: Any, precision: str, conv: str) -> Any:
        import jax
        import jax.numpy as jnp

        if precision != "float32":
            raise JaxvizError(f"a Flax module runs in float32 here; got ascent.precision = {precision!r}")
        images, fixed = jnp.asarray(images, jnp.float32), self.input.fixed_size
        if fixed and images.shape[1:3] != (fixed, fixed):  # a finished image or a photograph: seen at its side
            images = jax.image.resize(images, (images.shape[0], fixed, fixed, images.shape[3]), "linear")
        out = self._capture(params, images, layer).astype(jnp.float32)
        return out[:, None, None, :] if out.ndim == 2 else out  # (k, C): a 1 x 1 map

    @property
    def default_layers(self) -> tuple[str, ...]:
        """`--layers all`: the layers with a map; the (N, C) ones (the logits) are targets by name."""
        return tuple(la for la in self.layers if la not in self.flat) or self.layers

    def post(self, z: Any, layer: str) -> Any:
        """ReLU: a Flax module applies its nonlinearities as functions, out of capture_intermediates' sight, so the
        one after a layer is not known; ReLU is the convnets' usual one (and VGG's, as jaxviz's default). An (N, C)
        layer is taken as it is: a head's logits, which a class visualisation maximises themselves (a softmax
        after them, if any, is the loss's)."""
        import jax

        return z if layer in self.flat else jax.nn.relu(z)

    def labels(self, layer: str) -> tuple[str, ...]:
        """ImageNet's 1,000 class names for the logits of a module whose last layer has 1,000 units
        (jaxviz.model.class_names.classifier_labels); () otherwise."""
        return classifier_labels(self.layers, self.widths, self.flat, layer)

    def not_target(self, layer: str) -> str:
        """Why `layer`, a submodule whose output is neither (N, H, W, C) nor (N, C), cannot be a target (its output
        shape at the natural size named); "" for a target or a path the module does not have."""
        if layer not in self.others:
            return ""
        shape = "(" + ", ".join("N" if i == 0 else str(d) for i, d in enumerate(self.others[layer])) + ")"
        return (
            f"layer {layer!r} of {self.name} has output {shape} at {self.input.natural_size} px, not (N, H, W, C) or "
            "(N, C): no channel axis jaxviz can visualise (a target is a map of channels or a vector of them)"
        )

    def layer_params(self, params: Any, layer: str) -> Any:
        return params  # a module's variables are not per layer in general: all of them enter the jit

    def min_size(self, layer: str) -> int:
        """The smallest side (px) at which `layer`'s map is at least 1 x 1: found by trying shapes (jax.eval_shape,
        nothing computed), a binary search up to the natural size. An (N, C) layer has no map to shrink (a mean
        over an empty map still has a shape), so its side is also at least every earlier layer's with a map."""
        if self.input.fixed_size:
            return self.input.fixed_size
        if layer not in self._least:
            earlier = self.layers[: self.layers.index(layer)] if layer in self.flat else ()
            lo = max((self.min_size(la) for la in earlier if la not in self.flat), default=1)
            hi = max(lo, self.input.natural_size)
            while lo < hi:
                mid = (lo + hi) // 2
                if self._fits(layer, mid):
                    hi = mid
                else:
                    lo = mid + 1
            self._least[layer] = lo
        return self._least[layer]

    def _fits(self, layer: str, side: int) -> bool:
        import jax
        import jax.numpy as jnp

        try:
            x = jax.ShapeDtypeStruct((1, side, side, 3), jnp.float32)
            shape = jax.eval_shape(lambda v, im: self._capture(v, im, layer), self.shapes, x).shape
        except Exception:  # a shape the module cannot take (a reshape, a pool past its input): too small
            return False
        return len(shape) == 2 or (len(shape) == 4 and shape[1] >= 1 and shape[2] >= 1)

    def gflop_per_step(self, layer: str, size: int) -> float:
        """Twice the forward's FLOPs from XLA's cost analysis (forward and input gradient), in GFLOP; cached."""
        import jax
        import jax.numpy as jnp

        size = self.input.fixed_size or size  # a fixed-size module is only ever fed its side
        if (layer, size) not in self._gflop:
            x = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
            lowered = jax.jit(lambda v, im: self._capture(v, im, layer)).lower(self.shapes, x)
            cost = lowered.compile().cost_analysis()
            cost = cost[0] if isinstance(cost, list) else cost
            self._gflop[(layer, size)] = 2 * float((cost or {}).get("flops", 0.0)) / 1e9
        return self._gflop[(layer, size)]

    def bytes_per_image(self, layer: str, size: int, precision: str = "float32", images: int = 1) -> int:
        """Five times the float32 output of every 4-D submodule up to `layer` (forward, its gradient, the
        nonlinearities', a margin) plus the image and its optimiser state: a rough bound, as for VGG."""
        index = self.layers.index(layer)
        scale = ((self.input.fixed_size or size) / self.input.natural_size) ** 2
        maps = sum(self.natural_bytes[name] for name in self.layers[: index + 1]) * scale
        return int(images * (5 * maps + 4 * size * size * 3 * 4))


def flax_network(
    module: Any, variables: Any, preprocess: str = "0-255", natural_size: int = 224, name: str = ""
) -> FlaxNetwork:
    """`module` (a flax.linen Module taking (N, H, W, 3) images) with `variables` as a Network. `preprocess`: what
    the module takes, from jaxviz's RGB 0-255 (PREPROCESS: "0-255", "0-1", "tf" ([-1, 1]), "caffe", "torch");
    `natural_size`: the side it was trained at (px).

    Layers: every submodule whose output is (N, H, W, C) or (N, C), found by one abstract call at `natural_size`
    (jax.eval_shape with capture_intermediates: nothing is computed). Raises JaxvizError for an unknown
    `preprocess`, or a module with no such submodule.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    if preprocess not in PREPROCESS:
        raise JaxvizError(f"unknown preprocess {preprocess!r} for a Flax module; valid: {', '.join(PREPROCESS)}")
    x = jax.ShapeDtypeStruct((1, natural_size, natural_size, 3), jnp.float32)
    shapes = jax.tree.map(lambda a: jax.ShapeDtypeStruct(jnp.shape(a), jnp.result_type(a)), variables)

    def everything(v, im):
        return module.apply(v, PREPROCESS[preprocess](im), capture_intermediates=True, mutable=["intermediates"])[1]

    captured = jax.eval_shape(everything, shapes, x)["intermediates"]
    # A module that takes its natural size only (a Dense after a flatten): twice that side fails where a convnet's
    # pools and convolutions would take it. Then the ascent must feed it that side (run_plan.check_sizes).
    try:
        twice = jax.ShapeDtypeStruct((1, 2 * natural_size, 2 * natural_size, 3), jnp.float32)
        jax.eval_shape(everything, shapes, twice)
        fixed = None
    except Exception:  # flax's shape errors come in many types: any of them means "not this side"
        fixed = natural_size
    found: list[tuple[str, tuple]] = []
    others: dict[str, tuple] = {}  # a submodule with another output (a 1-D conv's (N, L, C)): named when asked for
    for keys, leaf in jax.tree_util.tree_flatten_with_path(captured)[0]:
        path = [getattr(k, "key", getattr(k, "idx", k)) for k in keys]
        if len(path) >= 2 and path[-2] == "__call__" and len(path[:-2]):
            module_path = "/".join(map(str, path[:-2]))
            if len(leaf.shape) in (2, 4):
                found.append((module_path, leaf.shape))
            elif path[-1] == 0:  # its first call's output
                others.setdefault(module_path, tuple(leaf.shape))
    if not found:
        raise JaxvizError(f"{type(module).__name__} has no submodule with an (N, H, W, C) or (N, C) output to show")
    # flatten_with_path sorts by name; the order a module computes its layers is their order in its call
    order = _call_order(module, shapes, x, preprocess)
    found.sort(key=lambda item: order.get(item[0], len(order)))
    return FlaxNetwork(
        module,
        name or f"flax:{type(module).__name__}",
        tuple(p for p, _ in found),
        {p: int(s[-1]) for p, s in found},
        InputSpec(3, natural_size, fixed, f"RGB 0-255 -> {preprocess}"),
        preprocess,
        shapes,
        {p: 4 * int(np.prod(s[1:])) for p, s in found},
        flat=frozenset(p for p, s in found if len(s) == 2),
        others={p: s for p, s in others.items() if p not in {q for q, _ in found}},
    )


def _call_order(module: Any, shapes: Any, x: Any, preprocess: str) -> dict[str, int]:
    """Module path -> the position of its first call in `module`'s forward (traced once, abstractly)."""
    import jax

    order: dict[str, int] = {}

    def record(mdl: Any, method_name: str) -> bool:
        if method_name == "__call__":
            order.setdefault("/".join(mdl.path), len(order))
        return False

    def call(v, im):
        return module.apply(v, PREPROCESS[preprocess](im), capture_intermediates=record, mutable=["intermediates"])

    jax.eval_shape(call, shapes, x)
    return order
