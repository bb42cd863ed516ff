"""Keras VGG16 weight files (h5, .keras; see keras_files) and converted params (msgpack) -> Flax params, validated."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import serialization

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import TOP_LAYERS, VGG16_ARCHITECTURE, VGG19_ARCHITECTURE, VGGArchitecture
from jaxviz.model.keras_files import is_keras_file, read_keras_file
from jaxviz.model.vgg import param_shapes
from jaxviz.model.weight_search import FORMATS, RANDOM, check_is_file, find_local_weights, find_weights
from jaxviz.runtime.files import atomic_write

Params = dict[str, dict[str, np.ndarray]]


def check_params(
    params: object,
    include_top: bool = False,
    source: str = "weights",
    architecture: VGGArchitecture = VGG16_ARCHITECTURE,
) -> Params:
    """The subset of `params` a VGG (`architecture`: VGG16 by default, or VGG19) needs, checked whole against
    `jax.eval_shape(model.init)`, as float32.

    `params` must be a mapping of layer name -> {"kernel", "bias"} arrays (a converted .msgpack, or what
    keras_files read). Checked in network order, the first difference named: a missing layer or entry, a
    layer that is not a table (a list, say), an entry too many (a BatchNormalization's `gamma`, say), a shape,
    a dtype that is not floating-point (float16, bfloat16 and float64 are upcast or cast to float32), NaN or
    infinite values; then a layer VGG16 does not have (the classifier top is allowed in a notop read).
    Raises JaxvizError (one line) on the first.
    """
    net = architecture.name.upper()
    upto = "predictions" if include_top else architecture.layers[-1]
    expected = param_shapes(upto, include_top, architecture.block_widths)
    if not isinstance(params, Mapping):
        raise JaxvizError(f"{source} holds a {type(params).__name__}, not a table of {net} layers")
    missing = [name for name in expected if name not in params]
    if missing:
        if include_top and set(missing) <= set(TOP_LAYERS):
            raise JaxvizError(f"{source} has no classifier top ({', '.join(missing)}); use a full VGG16 file")
        if len(missing) == len(expected):  # nothing of a VGG's: another model's weights, not a damaged VGG file
            raise JaxvizError(
                f"{source} lacks {net} layer(s) {missing[0]} ... {missing[-1]}, all of them: weights of another model; "
                f"give a keras.applications model's weights with its name (--model resnet50, ...), a whole Keras "
                f"model file with --model keras"
            )
        have = ", ".join(sorted(map(str, params))) or "none"
        raise JaxvizError(f"{source} lacks {net} layer(s) {', '.join(missing)} (layers found: {have})")
    out: Params = {}
    for layer, leaves in expected.items():
        got = params[layer]
        if not isinstance(got, Mapping):
            raise JaxvizError(f"{source}: {layer} is a {type(got).__name__}, expected a table of kernel and bias")
        for kind in leaves:
            if kind not in got:
                raise JaxvizError(
                    f"{source}: {layer} has no {kind} (it holds: {', '.join(map(str, got)) or 'nothing'})"
                )
        extra = [str(k) for k in got if k not in leaves]
        if extra:
            raise JaxvizError(
                f"{source}: {layer} holds {', '.join(extra)} besides its kernel and bias: not a layer of plain {net}"
            )
        out[layer] = {kind: _leaf(source, f"{layer}/{kind}", got[kind], spec.shape) for kind, spec in leaves.items()}
    order = {name: i for i, name in enumerate(VGG19_ARCHITECTURE.layers)}  # network order, VGG19's holding VGG16's
    unknown = sorted(
        (str(n) for n in params if n not in expected and n not in TOP_LAYERS), key=lambda n: (order.get(n, 99), n)
    )
    if unknown:
        other = next(
            (a for a in (VGG16_ARCHITECTURE, VGG19_ARCHITECTURE) if set(a.layers) == set(params) - set(TOP_LAYERS)),
            None,
        )
        hint = f" (they are {other.name.upper()}'s: use --model {other.name})" if other is not None else ""
        raise JaxvizError(f"{source} holds layer(s) {net} does not have: {', '.join(unknown)}{hint}")
    return out


def _floating(dtype: np.dtype) -> bool:
    # bfloat16 comes from ml_dtypes (JAX's), which NumPy does not count among its floating types.
    return np.issubdtype(dtype, np.floating) or dtype.name == "bfloat16"


def _leaf(source: str, where: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """One checked array as float32 (see check_params)."""
    if not isinstance(value, np.ndarray):
        raise JaxvizError(f"{source}: {where} is a {type(value).__name__}, not an array")
    if not _floating(value.dtype):
        raise JaxvizError(f"{source}: {where} is {value.dtype}, not floating-point numbers")
    if value.shape != tuple(shape):
        raise JaxvizError(f"{source}: {where} has shape {value.shape}, expected {tuple(shape)}")
    out = value.astype(np.float32)
    bad = int(np.size(out) - np.count_nonzero(np.isfinite(out)))
    if bad:
        raise JaxvizError(f"{source}: {where} holds {bad} NaN or infinite value(s)")
    return out


def load_params(
    path: str | Path, include_top: bool = False, architecture: VGGArchitecture = VGG16_ARCHITECTURE
) -> Params:
    """Checked params of a VGG (`architecture`, VGG16 by default; see `check_params`) from a Keras file (see
    `keras_files.read_keras_file`) or a `save_params` msgpack.

    Raises JaxvizError (one line) for a missing path, a directory, or a file that is none of these.
    """
    path = Path(path)
    check_is_file(path, "weights file")
    if not is_keras_file(path):
        try:
            raw = serialization.msgpack_restore(path.read_bytes())
        except Exception:  # msgpack raises many types; any of them means "not ours"
            raise JaxvizError(
                f"{str(path)!r} is neither HDF5, a .keras zip, nor a jaxviz params file; expected {FORMATS}"
            ) from None
        if not isinstance(raw, dict):
            raise JaxvizError(f"{str(path)!r} is not a jaxviz params file")
        return check_params(raw, include_top, str(path), architecture)
    raw = read_keras_file(path)
    if not set(raw) & set(architecture.layers):
        from jaxviz.model.keras_files import keras_architecture

        model = keras_architecture(path)
        if model is not None:  # a model of its own, saved whole: it is read by Keras, not as a VGG's weights
            net = architecture.name.upper()
            named = f" (model {model!r})" if model else ""
            raise JaxvizError(
                f"{str(path)!r} is a Keras model file{named} with its own architecture, not {net} weights: give it "
                f"with --model keras --weights {path}"
            )
    return check_params(raw, include_top, str(path), architecture)


def save_params(params: Params, path: str | Path) -> None:
    """Write params with flax serialization (msgpack), atomically."""
    atomic_write(path, serialization.msgpack_serialize(jax.tree.map(np.asarray, params)))


def fingerprint(params: Params) -> str:
    """A short hash of the parameter values (not the file bytes), to tell weight sets apart."""
    h = hashlib.sha256()
    for layer in sorted(params):
        for kind in sorted(params[layer]):
            h.update(f"{layer}/{kind}".encode())
            h.update(np.ascontiguousarray(params[layer][kind]).tobytes())
    return h.hexdigest()[:16]


def random_params(seed: int = 0, architecture: VGGArchitecture = VGG16_ARCHITECTURE) -> Params:
    """A VGG's (VGG16 by default) conv params of the right shapes (no top), float32: kernels He-normal,
    N(0, 2 / fan_in) with fan_in = 3 * 3 * input channels (He et al. 2015, "Delving deep into rectifiers");
    biases by the same formula over their one axis (fan_in 1: N(0, 2)).

    The same speed as ImageNet's weights (dense convolutions, the same shapes), for machines without a weights
    file; the pictures they make mean nothing. `seed` fixes the draw (NumPy's default generator).
    """
    rng = np.random.default_rng(seed)
    return {
        name: {
            k: (rng.normal(size=s.shape) * np.sqrt(2 / np.prod(s.shape[:-1]))).astype(np.float32)
            for k, s in leaves.items()
        }
        for name, leaves in param_shapes(architecture.layers[-1], False, architecture.block_widths).items()
    }


def tree_fingerprint(tree: Any) -> str:
    """`fingerprint` of any pytree of arrays (a Keras model's variables, a Flax module's): its leaves by their
    path (jax.tree_util.keystr), so the hash is that of the values and where they sit."""
    import jax

    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return fingerprint({jax.tree_util.keystr(path): {"value": np.asarray(leaf)} for path, leaf in leaves})


class Loaded(NamedTuple):
    """Weights found and loaded: the file (None for random_params), how it was found (weight_search.FoundWeights'
    `how`, or RANDOM), the checked params."""

    path: Path | None
    how: str
    params: Params

    @property
    def fingerprint(self) -> str:
        """`fingerprint(params)`, hashed once per process and file (58 MB of VGG16: a run, its examples and their
        checks all ask)."""
        if self.path is None:
            return fingerprint(self.params)
        return _fingerprint_once(self.path, "fc1" in self.params)


def find_and_load_file(weights: str = "", download: bool = True, include_top: bool = False) -> Loaded:
    """The weights `weight_search.find_weights` finds for `weights` (a path, or "" to search), loaded and checked
    once per process and file (with the classifier top when `include_top`: a full VGG16 file is needed).

    Raises JaxvizError (one line) as find_weights and load_params do.
    """
    path, how = find_weights(weights, include_top, download)
    return Loaded(path, how, _load_once(path, bool(include_top)))


@functools.cache  # a notebook, a comparison, a run and its examples ask many times: each file loaded once
def _load_once(path: Path, include_top: bool) -> Params:
    return load_params(path, include_top)


@functools.cache
def _fingerprint_once(path: Path, include_top: bool) -> str:
    return fingerprint(_load_once(path, include_top))


def find_and_load(weights: str = "", download: bool = True) -> Params:
    """The params of `find_and_load_file(weights, download)`."""
    return find_and_load_file(weights, download).params


def find_and_load_or_random(weights: str = "") -> Loaded:
    """These weights, else random ones: the file `weights` names, else the one on this machine
    (`weight_search.find_local_weights`: $JAXVIZ_WEIGHTS, Keras' or jaxviz's cache), loaded once per process;
    else `random_params()` (path None, how RANDOM), drawn once per process. Never downloads: what measures
    speed needs no network.

    Raises JaxvizError (one line) when `weights` or $JAXVIZ_WEIGHTS names a file that is missing or not VGG16
    weights (a named file is never replaced by random ones).
    """
    found = find_local_weights(weights)
    if found is None:
        return Loaded(None, RANDOM, _random_once())
    return Loaded(found.path, found.how, _load_once(found.path, False))


@functools.cache  # 14.7 million normal draws: once per process
def _random_once() -> Params:
    return random_params()
