"""Keras VGG16 weight files (h5, .keras; see keras_files) and converted params (msgpack) -> Flax params, validated."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from jaxviz.architecture import CONV_LAYERS, TOP_LAYERS
from jaxviz.errors import JaxvizError
from jaxviz.fetch import FORMATS, check_is_file
from jaxviz.files import atomic_write
from jaxviz.keras_files import is_keras_file, read_keras_file
from jaxviz.vgg import param_shapes

Params = dict[str, dict[str, np.ndarray]]


def read_keras_h5(path: str | Path) -> Params:
    """VGG16's layers from a Keras weights file: any h5 layout, VGG16 alone or nested, or a `.keras` archive.

    Named as Keras names them ({"block1_conv1": {"kernel": (3, 3, 3, 64), "bias": (64,)}, ...}), unchecked
    (see `check_params`). Raises JaxvizError (one line) for a missing path, a directory, a damaged or
    foreign file, or a file holding VGG16 layers in more than one place (two VGG16 sub-models).
    """
    return read_keras_file(path)


def check_params(params: Params, include_top: bool = False, source: str = "weights") -> Params:
    """The subset of `params` VGG16 needs, checked against `jax.eval_shape(model.init)`."""
    expected = param_shapes("predictions" if include_top else CONV_LAYERS[-1], include_top)
    missing = [name for name in expected if name not in params]
    if missing:
        if include_top and set(missing) <= set(TOP_LAYERS):
            raise JaxvizError(f"{source} has no classifier top ({', '.join(missing)}); use a full VGG16 file")
        have = ", ".join(sorted(params)) or "none"
        raise JaxvizError(f"{source} lacks VGG16 layer(s) {', '.join(missing)} (layers found: {have})")
    out: Params = {}
    for layer, leaves in expected.items():
        out[layer] = {}
        for kind, spec in leaves.items():
            value = np.asarray(params[layer].get(kind))
            if value.shape != spec.shape:
                raise JaxvizError(f"{source}: {layer} {kind} has shape {value.shape}, expected {spec.shape}")
            if not np.issubdtype(value.dtype, np.floating) or not np.isfinite(value).all():
                raise JaxvizError(f"{source}: {layer} {kind} is not all finite floating-point numbers")
            out[layer][kind] = value.astype(np.float32)
    return out


def load_params(path: str | Path, include_top: bool = False) -> Params:
    """Checked params (see `check_params`) from a Keras file (see `read_keras_h5`) or a `save_params` msgpack.

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
        return check_params(raw, include_top, str(path))
    return check_params(read_keras_h5(path), include_top, str(path))


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


@functools.cache  # a notebook or a comparison asks many times: the weights load once per process
def find_and_load(weights: str = "", download: bool = True) -> Params:
    """Params of the weights `fetch.resolve_weights` finds for `weights` (a path, or "" to search), loaded once.

    Raises JaxvizError as resolve_weights and load_params do.
    """
    from jaxviz.fetch import resolve_weights

    return load_params(resolve_weights(weights, download=download))
