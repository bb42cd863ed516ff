"""Keras VGG16 weight files (HDF5) and converted params (msgpack) -> Flax params, validated."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import jax
import numpy as np
from flax import serialization

from jaxviz.errors import JaxvizError
from jaxviz.files import atomic_write
from jaxviz.vgg import CONV_LAYERS, TOP_LAYERS, param_shapes

Params = dict[str, dict[str, np.ndarray]]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _as_kernel_bias(layer: str, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    # Identify kernel/bias by rank, not by name: Keras 1, 2 and 3 all name them differently.
    kernels = [a for a in arrays if a.ndim >= 2]
    biases = [a for a in arrays if a.ndim == 1]
    if len(arrays) != 2 or len(kernels) != 1 or len(biases) != 1:
        shapes = ", ".join(str(a.shape) for a in arrays)
        raise JaxvizError(f"layer {layer!r} holds weights of shapes [{shapes}], expected a kernel and a bias")
    return {"kernel": kernels[0], "bias": biases[0]}


def _read_legacy(root: h5py.Group) -> Params:
    """Keras 1/2 `save_weights` layout (also `model_weights` of a `model.save` file)."""
    out = {}
    for layer in map(_text, root.attrs["layer_names"]):
        if layer not in root:
            raise JaxvizError(f"layer {layer!r} is listed in layer_names but has no group")
        group = root[layer]
        names = [_text(n) for n in group.attrs.get("weight_names", [])]
        if names:
            out[layer] = _as_kernel_bias(layer, [np.asarray(group[n]) for n in names])
    return out


def _read_keras3(root: h5py.Group) -> Params:
    """Keras 3 `.weights.h5` layout: layers/<auto name>/vars/{0,1}, the real name in vars' attrs."""
    out = {}

    def visit(_: str, obj: object) -> None:
        if isinstance(obj, h5py.Group) and obj.name.endswith("/vars") and len(obj) and "name" in obj.attrs:
            arrays = [np.asarray(obj[k]) for k in sorted(obj, key=int)]
            out[_text(obj.attrs["name"])] = _as_kernel_bias(_text(obj.attrs["name"]), arrays)

    root["layers"].visititems(visit)
    return out


def read_keras_h5(path: str | Path) -> Params:
    """Every layer with weights in a Keras h5 file, named as the file names them."""
    path = Path(path)
    if not path.is_file():
        raise JaxvizError(f"weights file {str(path)!r} does not exist")
    if not h5py.is_hdf5(path):
        raise JaxvizError(f"{str(path)!r} is not an HDF5 file (expected a Keras VGG16 .h5 weights file)")
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            if "layer_names" in root.attrs:
                return _read_legacy(root)
            if "layers" in root:
                return _read_keras3(root)
            found = ", ".join(sorted(root.keys())[:8]) or "nothing"
            raise JaxvizError(
                f"{str(path)!r} is HDF5 but not a Keras weights file (no layer_names attribute, no "
                f"model_weights or layers group; it holds: {found})"
            )
    except (OSError, KeyError, ValueError, TypeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise JaxvizError(f"cannot read {str(path)!r}: damaged or truncated HDF5 ({reason})") from None


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
    """Params from a Keras h5 file or from a msgpack file written by `save_params`."""
    path = Path(path)
    if path.is_file() and not h5py.is_hdf5(path):
        try:
            raw = serialization.msgpack_restore(path.read_bytes())
        except Exception:  # msgpack raises many types; any of them means "not ours"
            raise JaxvizError(
                f"{str(path)!r} is neither HDF5 nor a jaxviz params file (expected a Keras VGG16 .h5)"
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
