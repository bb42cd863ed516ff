"""Where VGG16's weights sit in the files Keras writes: h5 layouts, nested sub-models, `.keras` zips.

A file may hold VGG16 as the whole model or as a sub-model of a bigger one (`vgg16` inside a
fine-tuned classifier). Each layout reader finds every VGG16 layer and the "place" it sits in (the
model it belongs to); the conv layers must all sit in one place, else it is not clear which VGG16 is meant.
"""

from __future__ import annotations

import errno
import io
import re
import zipfile
import zlib
from pathlib import Path

import h5py
import numpy as np

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS, CONV_WIDTHS, TOP_LAYERS, VGG19_ARCHITECTURE
from jaxviz.model.weight_search import FORMATS, check_is_file
from jaxviz.runtime.paths import explain

Params = dict[str, dict[str, np.ndarray]]
Found = dict[str, dict[str, list[h5py.Dataset]]]  # place -> VGG16 layer -> its datasets (read only when chosen)
# place -> layers beside VGG16's that would change what it computes, each "name (where)": never skipped silently.
Foreign = dict[str, list[str]]
# VGG16's own layers without weights (Keras' names): a weights file lists them too, in order.
_WEIGHTLESS = frozenset({*(f"block{b}_pool" for b in range(1, 6)), "flatten"})

# VGG19's names include VGG16's: both are found, and the caller's check (weights.check_params) says which it needs
# (a VGG19 file read as VGG16 is refused by its extra layers' names, not cut silently to VGG16).
VGG_LAYERS = frozenset(VGG19_ARCHITECTURE.layers + CONV_LAYERS + TOP_LAYERS)
KERAS_ZIP_MEMBER = "model.weights.h5"  # where a Keras 3 `.keras` archive keeps its weights
# Keras 3 keeps a model's layers in `layers/`; tf.keras 2.13-2.15's `.weights.h5` named it this instead.
_CONTAINERS = ("layers", "_layer_checkpoint_dependencies")
_CONV_KERNELS = [(3, 3, cin, CONV_WIDTHS[layer]) for cin, layer in zip((3, *CONV_WIDTHS.values()), CONV_LAYERS)]


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


def _attr_list(group: h5py.Group, name: str) -> list[str]:
    """A list-of-strings attribute; Keras splits long ones into name0, name1, … (HDF5's 64 KiB header limit)."""
    if name in group.attrs:
        return [_text(v) for v in np.atleast_1d(group.attrs[name])]
    out, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
        out += [_text(v) for v in np.atleast_1d(group.attrs[f"{name}{chunk}"])]
        chunk += 1
    return out


def _read_legacy(root: h5py.Group) -> tuple[Found, Foreign]:
    """Keras 1/2 `save_weights` and legacy `model.save` h5: a group per layer, `weight_names` in its attrs.

    A nested model is one group (`vgg16`) whose weight names carry the inner layer
    (`block1_conv1/kernel:0`, maybe behind a prefix such as `vgg16/`); a plain layer's names may be bare
    (`kernel:0`, Keras 1's `block1_conv1_W_1:0`). The VGG16 layer is the first path component that is a
    VGG16 layer name; the place is the path before it. The layers' order is kept (layer_names and
    weight_names are in model order), so layers inside the chain that are not VGG16's are found (Foreign).
    """
    found: Found = {}
    order: dict[str, list[tuple[str, bool]]] = {}  # place -> its layers in model order: (name, has weights)
    top = root.name.rstrip("/") or "/"

    def seen(place: str, layer: str, weighted: bool) -> None:
        layers = order.setdefault(place, [])
        if not layers or layers[-1][0] != layer:
            layers.append((layer, weighted))

    for layer in _attr_list(root, "layer_names"):
        if layer not in root:
            raise JaxvizError(f"layer {layer!r} is listed in layer_names but has no group")
        names = _attr_list(root[layer], "weight_names")
        if not names:
            seen(top, layer, False)
        for name in names:
            parts = [layer, *name.split("/")]
            hit = next((i for i, part in enumerate(parts[:-1]) if part in VGG_LAYERS), None)
            if hit is not None:
                place = "/".join([root.name.rstrip("/"), *parts[:hit]]) or "/"
                found.setdefault(place, {}).setdefault(parts[hit], []).append(root[layer][name])
                seen(place, parts[hit], True)
                continue
            # Another layer's weight: in its own group (`bn` holding `bn/gamma:0`, or a bare `gamma:0`), or inside
            # a nested model's group (`vgg16` holding `batch_normalization/gamma:0`, maybe behind a prefix).
            own = len(parts) == 2 or len(parts) == 3 and parts[1] == layer
            owner, inner = (layer, []) if own else (parts[-2], parts[:-2])
            seen("/".join([root.name.rstrip("/"), *inner]) or "/", owner, True)
    return found, {place: _in_chain(layers) for place, layers in order.items()}


def _legacy_by_shape(root: h5py.Group) -> tuple[Found, Foreign]:
    """A legacy file's top-level model read as VGG16 by its layers' order and shapes, for a VGG16 whose layers kept
    Keras' automatic names: the place found (or nothing), and the other layers with weights inside its chain."""
    names = [name for name in _attr_list(root, "layer_names") if name in root]
    weights = {name: [root[name][w] for w in _attr_list(root[name], "weight_names")] for name in names}
    mapped = _by_shape([weights[name] for name in names if weights[name]])
    if not mapped:
        return {}, {}
    place = root.name.rstrip("/") or "/"
    chosen = {id(datasets[0]) for datasets in mapped.values()}
    order = [(name, bool(weights[name]), bool(weights[name]) and id(weights[name][0]) in chosen) for name in names]
    vgg = [i for i, (_, _, hit) in enumerate(order) if hit]
    between = [f"{name} (after {order[i - 1][0]})" for i, (name, weighted, hit) in enumerate(order)
               if vgg[0] < i < vgg[-1] and weighted and not hit]  # fmt: skip
    return {place: mapped}, {place: between}


def _in_chain(layers: list[tuple[str, bool]]) -> list[str]:
    """The layers of one model, in order, that sit inside its VGG16 chain (from block1_conv1 to the last VGG16
    layer it holds) but are not VGG16's, each "name (after the layer before it)". A head after the chain (a
    fine-tuned classifier), an input layer before it and VGG16's own pools are not among them."""
    names = [name for name, _ in layers]
    vgg = [i for i, name in enumerate(names) if name in VGG_LAYERS]
    if not vgg:
        return []
    return [
        f"{name} (after {names[i - 1]})" if weighted else f"{name} (no weights, after {names[i - 1]})"
        for i, (name, weighted) in enumerate(layers)
        if vgg[0] < i < vgg[-1] and name not in VGG_LAYERS and name not in _WEIGHTLESS
    ]


def _unique_name_order(name: str) -> tuple[str, int]:
    # Keras 3 names a container's layers by class, in order: conv2d, conv2d_1, …, conv2d_12.
    base, _, number = re.fullmatch(r"(.*?)(_(\d+))?", name).groups()
    return base, int(number or 0)


def _vars(group: h5py.Group) -> list[h5py.Dataset]:
    # Keras numbers a layer's variables 0, 1, …; (length, text) sorts those numerically without int() failing.
    return [group["vars"][k] for k in sorted(group["vars"], key=lambda k: (len(k), k))] if "vars" in group else []


def _by_structure(container: h5py.Group) -> dict[str, list[h5py.Dataset]]:
    """VGG16 layers of one model by order and shape, for files that do not store the layer names."""
    layers = [_vars(g) for k in sorted(container, key=_unique_name_order) if isinstance(g := container[k], h5py.Group)]
    return _by_shape(layers)


def _by_shape(layers: list[list[h5py.Dataset]]) -> dict[str, list[h5py.Dataset]]:
    """VGG16's layers among one model's `layers` (each its weights, in model order): the kernel-and-bias pairs
    whose 3x3 kernels have VGG16's shapes in VGG16's order; {} when they do not."""
    pairs = [v for v in layers if len(v) == 2 and sorted(d.ndim for d in v)[0] == 1]
    convs = [v for v in pairs if max(d.ndim for d in v) == 4]
    dense = [v for v in pairs if max(d.ndim for d in v) == 2]
    if [next(d.shape for d in v if d.ndim == 4) for v in convs] != _CONV_KERNELS:
        return {}  # not a VGG16
    out = dict(zip(CONV_LAYERS, convs))
    return out | (dict(zip(TOP_LAYERS, dense)) if len(dense) == len(TOP_LAYERS) else {})


def _read_keras3(root: h5py.Group) -> tuple[Found, Foreign]:
    """Keras 3 `.weights.h5` (also inside `.keras`): <model>/layers/<auto name>/vars/{0,1}.

    Keras 3.15 stores each layer's real name (`block1_conv1`) as the `name` attribute of its `vars`
    group; where that is missing (files from other versions) or an auto name (`conv2d_3`), a model whose
    conv layers have VGG16's shapes in order is mapped by that order. A nested model is
    <model>/layers/functional/layers/…, its own name in <model>/layers/functional/vars.
    """
    found: Found = {}
    others: dict[str, list[tuple[str, list[h5py.Dataset]]]] = {}  # place -> its other layers with weights
    models: list[str] = []

    def visit(path: str, obj: object) -> None:
        if not isinstance(obj, h5py.Group):
            return
        parts = path.split("/")
        if parts[-1] in _CONTAINERS:
            models.append("/".join(parts[:-1]))
        elif parts[-1] == "vars" and len(parts) > 1 and len(obj):
            owner = parts[:-2]  # the layer's parent: a model's container, or a model holding it as an attribute
            place = "/".join(owner[:-1] if owner and owner[-1] in _CONTAINERS else owner)
            name = _text(obj.attrs.get("name", "")) or parts[-2]
            variables = _vars(root["/".join(parts[:-1])])
            if name in VGG_LAYERS:
                found.setdefault(place, {})[name] = variables
            else:
                others.setdefault(place, []).append((name, variables))

    root.visititems(visit)
    for model in [m for m in models if m not in found]:
        group = root[model] if model else root
        for container in (c for c in _CONTAINERS if c in group):
            if mapped := _by_structure(group[container]):
                found[model] = mapped
    # No order is stored here: a layer with weights that no head has (a BatchNormalization's four vectors, a
    # convolution's 4-D kernel) beside VGG16's layers is taken to be inside its chain. A Dense layer (one 2-D
    # kernel and a bias) is a classifier head's, as in a fine-tuned model, and is left out as before.
    foreign = {
        place: [f"{name} ({_shapes(variables)})" for name, variables in sorted(layers, key=_by_name)
                if not _dense(variables) and not _is_vgg_pair(variables, found, place)]
        for place, layers in others.items()
    }  # fmt: skip
    return found, foreign


def _by_name(layer: tuple[str, list]) -> tuple[str, int]:
    return _unique_name_order(layer[0])


def _shapes(variables: list[h5py.Dataset]) -> str:
    shapes = [str(v.shape) for v in variables]
    return f"{len(shapes)} arrays of shape {shapes[0]}" if len(set(shapes)) == 1 else f"shapes {', '.join(shapes)}"


def _dense(variables: list[h5py.Dataset]) -> bool:
    return len(variables) == 2 and sorted(v.ndim for v in variables) == [1, 2]


def _is_vgg_pair(variables: list[h5py.Dataset], found: Found, place: str) -> bool:
    """A conv layer mapped by structure (an auto name such as conv2d_3, read as a VGG16 layer by its order)."""
    return any(variables == mapped for mapped in found.get(place, {}).values())


def _place_label(root: h5py.Group, place: str) -> str:
    # The place's path, and whether it is the file's top level and the model's own name where Keras 3 stored it.
    group = root[place] if place else root
    notes = ["top level"] if group.name == root.name else []
    if "vars" in group and "name" in group["vars"].attrs:
        notes.append(f"model {_text(group['vars'].attrs['name'])!r}")
    return f"{group.name}" + (f" ({', '.join(notes)})" if notes else "")


def _choose(root: h5py.Group, found: Found, source: str, foreign: Foreign | None = None) -> Params:
    """The layers of the one place that holds VGG16 conv layers, read into arrays. Raises JaxvizError when that
    place also holds layers jaxviz's VGG16 does not compute (`foreign`): skipping them would compute another
    network than the file describes."""
    places = {p: layers for p, layers in found.items() if any(layer in CONV_LAYERS for layer in layers)}
    if len(places) > 1:
        where = "; ".join(f"{_place_label(root, p)}: {len(places[p])} layer(s)" for p in sorted(places))
        raise JaxvizError(
            f"{source} holds VGG16 layers in {len(places)} places ({where}); jaxviz needs exactly one VGG16: "
            f"save that sub-model alone, e.g. model.get_layer('vgg16').save_weights('vgg16.weights.h5')"
        )
    if not places:
        places = found if len(found) == 1 else {}  # maybe a top alone: check_params names what is missing
    extra = (foreign or {}).get(next(iter(places), None), [])
    if extra:
        shown = ", ".join(extra[:4]) + (f" and {len(extra) - 4} more" if len(extra) > 4 else "")
        raise JaxvizError(
            f"{source} is not plain VGG16: its VGG16 ({_place_label(root, next(iter(places)))}) also holds "
            f"{len(extra)} layer(s) jaxviz's VGG16 does not compute: {shown}. Skipping them would visualise another "
            f"network than the file describes; jaxviz's own VGG16 reads Keras' plain VGG16 (keras.applications.VGG16) "
            f"only, so give this model whole to Keras: --model keras --weights FILE"
        )
    layers = next(iter(places.values()), {})
    return {layer: _as_kernel_bias(layer, [np.asarray(d) for d in data]) for layer, data in layers.items()}


def read_h5(f: h5py.File, source: str) -> Params:
    """VGG16's layers (by their Keras names) from an open Keras h5 file of any layout."""
    root = f["model_weights"] if "model_weights" in f else f
    if "layer_names" in root.attrs or "layer_names0" in root.attrs:
        found, foreign = _read_legacy(root)
        if not any(layer in CONV_LAYERS for layers in found.values() for layer in layers):
            found, foreign = _legacy_by_shape(root)  # Keras' automatic names (conv2d, conv2d_1, ...)
        return _choose(root, found, source, foreign)
    if "vars" in root or any(c in root for c in _CONTAINERS):
        found, foreign = _read_keras3(root)
        return _choose(root, found, source, foreign)
    found = ", ".join(sorted(root.keys())[:8]) or "nothing"
    raise JaxvizError(
        f"{source} is HDF5 but not a Keras weights file (no layer_names attribute, no "
        f"model_weights, layers or vars group; it holds: {found})"
    )


def _is_zip(path: Path) -> bool:
    # A damaged archive may have lost its directory (at the end) yet still start like a zip.
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04" or zipfile.is_zipfile(path)


def _zip_member(path: Path) -> io.BytesIO:
    """The `model.weights.h5` of a Keras 3 `.keras` archive, in memory (seeking inside a zip is slow)."""
    try:
        with zipfile.ZipFile(path) as zf:
            if KERAS_ZIP_MEMBER not in zf.namelist():
                held = ", ".join(zf.namelist()[:8]) or "nothing"
                raise JaxvizError(
                    f"{str(path)!r} is a zip archive without {KERAS_ZIP_MEMBER} (it holds: {held}); expected {FORMATS}"
                )
            return io.BytesIO(zf.read(KERAS_ZIP_MEMBER))
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise JaxvizError(f"cannot read {str(path)!r}: damaged zip archive ({reason}); expected {FORMATS}") from None


def is_keras_file(path: Path) -> bool:
    """True when `path` is HDF5 or a zip (a `.keras` archive), i.e. not a candidate for msgpack."""
    return h5py.is_hdf5(path) or _is_zip(path)


def read_keras_file(path: str | Path) -> Params:
    """VGG16's layers, by their Keras names, from a Keras h5 file of any layout or a `.keras` archive.

    Returns {layer: {"kernel": array, "bias": array}} for every VGG16 layer found (conv layers, and
    fc1/fc2/predictions when present), unchecked. Raises JaxvizError (one line) for a missing path, a
    directory, a file that is neither HDF5 nor a zip, a damaged one, a foreign one, or one holding
    VGG16 layers in more than one place.
    """
    path = Path(path)
    check_is_file(path, "weights file")
    label = repr(str(path))
    if h5py.is_hdf5(path):
        data: Path | io.BytesIO = path
    elif _is_zip(path):
        data, label = _zip_member(path), f"{label} ({KERAS_ZIP_MEMBER} inside)"
    else:
        raise JaxvizError(f"{label} is neither HDF5 nor a zip archive; expected {FORMATS}")
    try:
        with h5py.File(data, "r") as f:
            return read_h5(f, label)
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):  # HDF5 locks a file its writer has open (Keras saving)
            raise JaxvizError(
                f"cannot read {label}: it is locked by another process (HDF5 file locking: a program has it open "
                f"for writing, a Keras training run saving it, say); wait for it to close the file, or set "
                f"HDF5_USE_FILE_LOCKING=FALSE to read it anyway"
            ) from None
        if e.errno is not None:  # the file system's refusal, not the bytes' fault
            raise JaxvizError(f"cannot read {label}: {explain(e)}") from None
        raise JaxvizError(f"cannot read {label}: damaged or truncated HDF5 ({_first_line(e)})") from None
    except (KeyError, ValueError, TypeError) as e:
        raise JaxvizError(f"cannot read {label}: damaged or truncated HDF5 ({_first_line(e)})") from None


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def keras_architecture(path: str | Path) -> str | None:
    """The model name a Keras file that holds an architecture records: a `.keras` archive's config.json, or a
    full-model h5's `model_config` attribute (what keras.saving.load_model rebuilds the model from); "" where the
    config names none; None for a weights-only file, or anything that is not a readable Keras file."""
    import json

    path = Path(path)
    try:
        if _is_zip(path):
            with zipfile.ZipFile(path) as zf:
                if "config.json" not in zf.namelist():
                    return None
                config = json.loads(zf.read("config.json"))
        elif h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                if "model_config" not in f.attrs:
                    return None
                config = json.loads(_text(f.attrs["model_config"]))
        else:
            return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, EOFError):
        return None
    inner = config.get("config", {}) if isinstance(config, dict) else {}
    return str(inner.get("name", "")) if isinstance(inner, dict) else ""


def vgg_in_file(path: str | Path) -> str:
    """ "vgg19" or "vgg16" when `path` holds every convolution of that plain VGG (read_keras_file finds them, by name
    or by shape), else "": what a weights-only file given as another model's is, where it is one of jaxviz's own."""
    try:
        found = read_keras_file(path)
    except JaxvizError:
        return ""
    if set(VGG19_ARCHITECTURE.layers) <= set(found):
        return "vgg19"
    return "vgg16" if set(CONV_LAYERS) <= set(found) else ""


def holds_keras_weights(path: str | Path) -> bool:
    """Whether an HDF5 file is laid out as Keras writes weights (read_h5's layouts: a layer_names attribute, or a
    model_weights, layers or vars group); False for any other HDF5 file, or one that cannot be opened."""
    try:
        with h5py.File(path, "r") as f:
            root = f["model_weights"] if "model_weights" in f else f
            legacy = "layer_names" in root.attrs or "layer_names0" in root.attrs
            return legacy or "vars" in root or any(c in root for c in _CONTAINERS)
    except (OSError, ValueError, KeyError):
        return False
