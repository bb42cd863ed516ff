"""Weights files as users have them: VGG16 nested in a bigger model, every h5 layout, `.keras` archives.

Small files are made here with h5py from the session's weights (the real ones when present), so the
loaded params must equal them exactly; where Keras is installed, files Keras 3 itself writes are read too.
"""

from __future__ import annotations

import io
import zipfile

import h5py
import numpy as np
import pytest
from conftest import assert_main_refuses

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS, TOP_LAYERS
from jaxviz.model.keras_files import read_keras_file as read_keras_h5
from jaxviz.model.weights import fingerprint, load_params

HEAD = {"dense/kernel:0": np.ones((512, 2), "f4"), "dense/bias:0": np.zeros(2, "f4")}
BN = {f"bn/{k}:0": np.ones(2, "f4") for k in ("gamma", "beta", "moving_mean", "moving_variance")}  # not 2 arrays
PREDICTIONS_HEAD = {"predictions/kernel:0": HEAD["dense/kernel:0"], "predictions/bias:0": HEAD["dense/bias:0"]}


def _assert_same(got, want):
    assert set(got) == set(want)
    for layer in want:
        for kind in ("kernel", "bias"):
            np.testing.assert_array_equal(got[layer][kind], want[layer][kind])


def _strings(names):
    return np.array([n.encode() for n in names], dtype="S") if names else np.array([], dtype="S1")


def write_legacy(path, groups, model_save=False, chunks=1):
    """tf.keras 2 `save_weights` layout ({layer group: {weight name: array}}); `model.save` puts it in model_weights.

    `chunks` > 1 splits layer_names and weight_names as Keras does for attributes over HDF5's 64 KiB limit.
    """
    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if model_save else f
        for layer, weights in groups.items():
            g = root.create_group(layer)
            for name, array in weights.items():
                g.create_dataset(name, data=array)
            names = list(weights)
            for i in range(chunks):
                key = f"weight_names{i}" if chunks > 1 else "weight_names"
                g.attrs[key] = _strings(names[i * len(names) // chunks : (i + 1) * len(names) // chunks])
        for i in range(chunks):
            key = f"layer_names{i}" if chunks > 1 else "layer_names"
            root.attrs[key] = _strings(list(groups)[i * len(groups) // chunks : (i + 1) * len(groups) // chunks])
    return path


def nested(params, layers=CONV_LAYERS, prefix="", suffix=":0"):
    """One sub-model's group: weight names `<prefix>block1_conv1/kernel<suffix>`, as tf.keras 2 and Keras 3 write."""
    return {f"{prefix}{layer}/{kind}{suffix}": params[layer][kind] for layer in layers for kind in ("kernel", "bias")}


def flat(params, layers=CONV_LAYERS, bare=False):
    """A group per VGG16 layer, its weights named `block1_conv1/kernel:0` or bare `kernel:0`."""
    return {layer: {f"{'' if bare else layer + '/'}{kind}:0": params[layer][kind] for kind in ("kernel", "bias")}
            for layer in layers}  # fmt: skip


LEGACY_LAYOUTS = {
    "tf2-save-weights": lambda p: ({"input_1": {}, "vgg16": nested(p), "flatten": {}, "dense": HEAD, "bn": BN}, {}),
    "tf2-model-save": lambda p: ({"input_1": {}, "vgg16": nested(p), "flatten": {}, "dense": HEAD}, {"model_save": 1}),
    "keras3-legacy-h5": lambda p: (
        {"input_layer": {}, "vgg16": nested(p, suffix=""), "flatten": {}, "dense": HEAD, "top_level_model_weights": {}},
        {"model_save": 1},
    ),
    "prefixed-names": lambda p: ({"vgg16": nested(p, prefix="vgg16/"), "dense": HEAD}, {}),
    "sub-sub-model": lambda p: ({"backbone": nested(p, prefix="vgg16/"), "dense": HEAD}, {}),
    "bare-names": lambda p: (flat(p, bare=True), {}),
    "chunked-attrs": lambda p: ({"input_1": {}, "vgg16": nested(p), "dense": HEAD}, {"chunks": 2}),
    # A fine-tuned head named like VGG16's classifier sits at another place than the conv layers: not VGG16's.
    "head-named-predictions": lambda p: ({"vgg16": nested(p), "predictions": PREDICTIONS_HEAD}, {}),
}


@pytest.mark.parametrize("layout", LEGACY_LAYOUTS)
def test_legacy_h5_layouts_load_exactly(tmp_path, params, layout):
    groups, options = LEGACY_LAYOUTS[layout](params)
    _assert_same(load_params(write_legacy(tmp_path / "w.h5", groups, **options)), params)


@pytest.mark.parametrize(
    "groups, places",
    [
        ({"vgg16": "nested", "vgg16_1": "nested", "dense": "head"}, ["/vgg16:", "/vgg16_1:"]),
        ({"block1_conv1": "flat", "vgg16": "nested"}, ["/ (top level)", "/vgg16:"]),
        ({"backbone": "two-prefixed"}, ["/backbone/vgg16:", "/backbone/vgg16_1:"]),
    ],
    ids=["two-sub-models", "top-level-and-nested", "two-inside-one-group"],
)
def test_legacy_h5_with_two_vgg16s_is_refused_naming_each(tmp_path, params, groups, places):
    some = CONV_LAYERS[:2]  # the refusal comes before any layer is checked
    make = {
        "nested": lambda: nested(params, some),
        "flat": lambda: flat(params, ["block1_conv1"])["block1_conv1"],
        "head": lambda: HEAD,
        "two-prefixed": lambda: nested(params, some, prefix="vgg16/") | nested(params, some, prefix="vgg16_1/"),
    }
    path = write_legacy(tmp_path / "two.h5", {g: make[kind]() for g, kind in groups.items()})
    with pytest.raises(JaxvizError, match="2 places") as e:
        read_keras_h5(path)
    assert all(place in str(e.value) for place in places) and "\n" not in str(e.value), e.value


def write_keras3_model(group, params, names="real", layers=CONV_LAYERS, container="layers"):
    """A Keras 3 functional VGG16 under `group`: layers/<auto name>/vars/{0,1}, names per `names`.

    names: "real" (Keras 3.15 stores `block1_conv1` in vars' `name` attr), "auto" (`conv2d_3`), "none" (no attr).
    `container`: tf.keras 2.13-2.15 wrote `_layer_checkpoint_dependencies` where Keras 3 writes `layers`.
    """
    group.create_group("vars").attrs["name"] = "vgg16"
    container = group.create_group(container)
    count: dict[str, int] = {}
    for layer in layers:
        kind = "conv2d" if "conv" in layer else "dense"
        count[kind] = count.get(kind, -1) + 1
        auto = kind + (f"_{count[kind]}" if count[kind] else "")  # Keras' conv2d, conv2d_1, …
        v = container.create_group(auto).create_group("vars")
        v.create_dataset("0", data=params[layer]["kernel"])
        v.create_dataset("1", data=params[layer]["bias"])
        if names != "none":
            v.attrs["name"] = layer if names == "real" else auto
    for i in range(5):
        container.create_group(f"max_pooling2d{f'_{i}' if i else ''}").create_group("vars")
    container.create_group("input_layer").create_group("vars")


def write_keras3_wrapper(path, params, names="real", submodels=("functional",), **options):
    """Keras 3 `.weights.h5` of Model(inp, Dense(Flatten(VGG16(inp)))): the VGG16 at layers/functional/."""
    with h5py.File(path, "w") as f:
        f.create_group("vars").attrs["name"] = "functional"
        for sub in submodels:
            write_keras3_model(f.create_group(f"layers/{sub}"), params, names, **options)
        dense = f.create_group("layers/dense/vars")
        dense.create_dataset("0", data=HEAD["dense/kernel:0"])
        dense.create_dataset("1", data=HEAD["dense/bias:0"])
        f.create_group("layers/flatten/vars")
    return path


@pytest.mark.parametrize("names", ["real", "auto", "none"])
def test_keras3_weights_h5_nested_loads_with_real_auto_or_no_names(tmp_path, params, names):
    _assert_same(load_params(write_keras3_wrapper(tmp_path / "w.weights.h5", params, names)), params)


@pytest.mark.parametrize("names", ["real", "none"])
def test_keras3_weights_h5_deeper_nesting_and_tf_keras_container(tmp_path, params, names):
    deep = write_keras3_wrapper(tmp_path / "deep.weights.h5", params, names, ("functional/layers/functional",))
    _assert_same(load_params(deep), params)
    tf2 = write_keras3_wrapper(tmp_path / "tf2.weights.h5", params, names, container="_layer_checkpoint_dependencies")
    _assert_same(load_params(tf2), params)


@pytest.mark.parametrize("names", ["real", "none"])
def test_nested_vgg16_with_top_keeps_its_top(tmp_path, params, names):
    # Read unchecked: fake small fc arrays stand in for VGG16's 500 MB classifier.
    top = {name: {"kernel": np.full((4, 3), i, "f4"), "bias": np.full(3, i, "f4")} for i, name in enumerate(TOP_LAYERS)}
    full = params | top
    legacy = write_legacy(tmp_path / "w.h5", {"vgg16": nested(full, CONV_LAYERS + TOP_LAYERS), "dense": HEAD})
    _assert_same(read_keras_h5(legacy), full)
    keras3 = write_keras3_wrapper(tmp_path / "w.weights.h5", full, names, layers=CONV_LAYERS + TOP_LAYERS)
    _assert_same(read_keras_h5(keras3), full)


@pytest.mark.parametrize("names", ["auto", "none"])
def test_keras3_weights_h5_plain_without_names_loads_by_order(tmp_path, params, names):
    with h5py.File(tmp_path / "w.weights.h5", "w") as f:
        write_keras3_model(f, params, names)
    _assert_same(load_params(tmp_path / "w.weights.h5"), params)


def test_keras3_structure_that_is_not_vgg16_is_not_taken(tmp_path, params):
    swapped = dict(params) | {"block4_conv1": params["block3_conv1"], "block3_conv1": params["block4_conv1"]}
    with h5py.File(tmp_path / "w.weights.h5", "w") as f:
        write_keras3_model(f, swapped, "none")
    with pytest.raises(JaxvizError, match="lacks VGG16 layer"):
        load_params(tmp_path / "w.weights.h5")


@pytest.mark.parametrize("names", ["real", "none"])
def test_keras3_weights_h5_with_two_vgg16s_is_refused(tmp_path, params, names):
    path = write_keras3_wrapper(tmp_path / "two.weights.h5", params, names, ("functional", "functional_1"))
    with pytest.raises(JaxvizError, match="2 places") as e:
        read_keras_h5(path)
    assert "/layers/functional:" in str(e.value) or "/layers/functional (" in str(e.value)
    assert "/layers/functional_1" in str(e.value)


def test_keras3_top_level_and_nested_is_refused(tmp_path, params):
    path = write_keras3_wrapper(tmp_path / "two.weights.h5", params)
    with h5py.File(path, "a") as f:
        v = f.create_group("layers/conv2d/vars")
        v.attrs["name"] = "block1_conv1"
        v.create_dataset("0", data=params["block1_conv1"]["kernel"])
        v.create_dataset("1", data=params["block1_conv1"]["bias"])
    with pytest.raises(JaxvizError, match=r"2 places \(/ \(top level, model 'functional'\): 1 layer"):
        read_keras_h5(path)


def _keras_zip(path, weights: bytes | None, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        zf.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        zf.writestr("config.json", "{}")
        if weights is not None:
            zf.writestr("model.weights.h5", weights)
    return path


def test_keras_archive_loads(tmp_path, params):
    inner = write_keras3_wrapper(tmp_path / "inner.h5", params).read_bytes()
    _assert_same(load_params(_keras_zip(tmp_path / "m.keras", inner)), params)


def _small_keras3(path, params):
    """A Keras 3 file with VGG16's first 4 layers only: few bytes, and reading needs no complete VGG16."""
    with h5py.File(path, "w") as f:
        write_keras3_model(f, params, layers=CONV_LAYERS[:4])
    return path.read_bytes()


def test_compressed_keras_archive_reads(tmp_path, params):
    # Keras stores model.weights.h5 uncompressed, but a re-zipped archive may deflate it.
    inner = _small_keras3(tmp_path / "inner.h5", params)
    got = read_keras_h5(_keras_zip(tmp_path / "m.keras", inner, zipfile.ZIP_DEFLATED))
    _assert_same(got, {layer: params[layer] for layer in CONV_LAYERS[:4]})


def _damaged_zip(path, inner):
    data = bytearray(_keras_zip(path, inner).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeroed bytes inside model.weights.h5: a CRC error
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p, inner: p.write_bytes(_keras_zip(p, inner).read_bytes()[:-5000]), "damaged zip archive"),
        (_damaged_zip, "damaged zip archive"),
        (lambda p, inner: _keras_zip(p, None), "zip archive without model.weights.h5 (it holds: metadata.json"),
        (lambda p, inner: _keras_zip(p, b"not hdf5" * 100), "model.weights.h5 inside): damaged or truncated HDF5"),
        (lambda p, inner: _keras_zip(p, b""), "model.weights.h5 inside): damaged or truncated HDF5"),
    ],
    ids=["truncated", "corrupted", "no-weights-member", "member-not-hdf5", "member-empty"],
)
def test_bad_keras_archives_say_so_in_one_line(tmp_path, params, make, message):
    make(tmp_path / "m.keras", _small_keras3(tmp_path / "inner.h5", params))
    with pytest.raises(JaxvizError) as e:
        load_params(tmp_path / "m.keras")
    assert message in str(e.value) and "\n" not in str(e.value), e.value


def test_cli_refuses_two_vgg16s_in_one_line(tmp_path, params, capsys):
    from jaxviz.cli.convert import main as convert_main

    path = write_legacy(tmp_path / "two.h5", {"vgg16": nested(params, CONV_LAYERS[:1]), "vgg16_1": nested(params)})
    argv = ["--weights", str(path), "--output", str(tmp_path / "p.msgpack")]
    assert_main_refuses(convert_main, argv, capsys, "2 places", "/vgg16:", "/vgg16_1:")


def test_cli_converts_a_nested_keras_archive(tmp_path, params, capsys):
    from jaxviz.cli.convert import main as convert_main

    inner = write_keras3_wrapper(tmp_path / "inner.h5", params, "none").read_bytes()
    with pytest.raises(SystemExit) as e:
        convert_main(["--weights", str(_keras_zip(tmp_path / "m.keras", inner)), "--output", str(tmp_path / "p.mp")])
    assert e.value.code == 0, capsys.readouterr().err
    assert fingerprint(load_params(tmp_path / "p.mp")) == fingerprint(params)


# --- files real Keras 3 writes (skipped without keras) ---


@pytest.fixture(scope="module")
def keras_wrapped(tmp_path_factory):
    """A fine-tuning model, VGG16 nested as a sub-model, saved every way Keras 3 allows."""
    keras = pytest.importorskip("keras")
    out = tmp_path_factory.mktemp("keras3")
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    inp = keras.Input((32, 32, 3))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.Flatten()(vgg(inp))))
    seq_vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    seq = keras.Sequential([keras.Input((32, 32, 3)), seq_vgg, keras.layers.Flatten(), keras.layers.Dense(2)])
    for name, m in (("m", model), ("seq", seq)):
        m.save(out / f"{name}.keras")
        m.save(out / f"{name}.h5")  # Keras 3's legacy h5
        m.save_weights(out / f"{name}.weights.h5")
    want = {name: {layer: dict(zip(("kernel", "bias"), v.get_layer(layer).get_weights())) for layer in CONV_LAYERS}
            for name, v in (("m", vgg), ("seq", seq_vgg))}  # fmt: skip
    return out, want


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5", "seq.keras", "seq.h5", "seq.weights.h5"])
def test_real_keras3_nested_files_load(keras_wrapped, name):
    folder, want = keras_wrapped
    _assert_same(load_params(folder / name), want[name.split(".")[0]])


def test_real_keras3_layouts_are_what_the_readers_expect(keras_wrapped):
    # If a Keras release changes these, the synthetic files above no longer stand for real ones.
    folder, _ = keras_wrapped
    with h5py.File(folder / "m.weights.h5") as f:
        assert f["layers/functional/vars"].attrs["name"] == "vgg16"
        assert f["layers/functional/layers/conv2d_3/vars"].attrs["name"] == "block2_conv2"
    with h5py.File(folder / "m.h5") as f:
        assert "vgg16" in list(f["model_weights"].attrs["layer_names"])
        assert "block1_conv1/kernel" in list(f["model_weights/vgg16"].attrs["weight_names"])
    with zipfile.ZipFile(folder / "m.keras") as zf:
        with h5py.File(io.BytesIO(zf.read("model.weights.h5"))) as f:
            assert "layers/functional/layers/conv2d_12/vars/0" in f


def test_real_keras3_two_vgg16s_are_refused(tmp_path):
    keras = pytest.importorskip("keras")
    inp = keras.Input((32, 32, 3))
    a, b = (keras.applications.VGG16(weights=None, include_top=False) for _ in range(2))
    b = keras.Model(b.input, b.output, name="vgg16_1")  # Keras refuses two models both named vgg16
    model = keras.Model(inp, keras.layers.Concatenate()([keras.layers.Flatten()(m(inp)) for m in (a, b)]))
    model.save_weights(tmp_path / "two.weights.h5")
    model.save(tmp_path / "two.h5")
    for name, places in [("two.weights.h5", ("'vgg16'", "'vgg16_1'")), ("two.h5", ("/vgg16:", "/vgg16_1:"))]:
        with pytest.raises(JaxvizError, match="2 places") as e:
            load_params(tmp_path / name)
        assert all(p in str(e.value) for p in places), e.value


# --- never a different network than the file describes ---

CONV_BN = {f"batch_normalization/{k}": np.ones(64, "f4") for k in ("gamma", "beta", "moving_mean", "moving_variance")}


def _chain(params, insert: dict[str, tuple[str, dict]]):
    """A top-level legacy VGG16 with, after each layer named in `insert`, another layer (name, its weights)."""
    groups = {"input_layer": {}}
    for layer in CONV_LAYERS:
        groups[layer] = flat(params, [layer])[layer]
        if layer in insert:
            name, weights = insert[layer]
            groups[name] = {f"{name}/{w.split('/')[-1]}": a for w, a in weights.items()}
        if layer.endswith(("conv2", "conv3")) and layer != "block1_conv2" or layer in ("block1_conv2", "block2_conv2"):
            groups[f"block{layer[5]}_pool"] = {}
    return groups


@pytest.mark.parametrize(
    "after, layer, weights, said",
    [
        ("block1_conv1", "batch_normalization", CONV_BN, "batch_normalization (after block1_conv1)"),
        ("block2_conv1", "extra_conv", {"k": np.ones((1, 1, 128, 128), "f4"), "b": np.zeros(128, "f4")},
         "extra_conv (after block2_conv1)"),
        ("block3_conv2", "dropout", {"w": np.ones(256, "f4")}, "dropout (after block3_conv2)"),
        ("block4_conv1", "activation", {}, "activation (no weights, after block4_conv1)"),
    ],
    ids=["batchnorm", "extra-conv", "dropout-with-weights", "weightless-layer"],
)  # fmt: skip
def test_layers_inside_the_vgg16_chain_are_refused_by_name(tmp_path, params, after, layer, weights, said):
    path = write_legacy(tmp_path / "w.h5", _chain(params, {after: (layer, weights)}))
    with pytest.raises(JaxvizError) as e:
        load_params(path)
    assert "is not plain VGG16" in str(e.value) and said in str(e.value) and "\n" not in str(e.value), e.value


def test_vgg16_bn_in_every_legacy_layout_is_refused_and_a_head_after_the_chain_is_not(tmp_path, params):
    bn = {layer: ("batch_normalization" + (f"_{i}" if i else ""), CONV_BN) for i, layer in enumerate(CONV_LAYERS)}
    for options in ({}, {"model_save": 1}):
        with pytest.raises(JaxvizError, match=r"holds 12 layer\(s\).*batch_normalization \(after block1_conv1\)"):
            load_params(write_legacy(tmp_path / "bn.h5", _chain(params, bn), **options))
    # After block5_conv3 a layer changes nothing jaxviz computes: a fine-tuned head keeps loading.
    head = _chain(params, {"block5_conv3": ("batch_normalization", CONV_BN)}) | {"dense": HEAD}
    _assert_same(load_params(write_legacy(tmp_path / "head.h5", head)), params)
    inner = nested(params, CONV_LAYERS[:1]) | {f"{k}:0": v for k, v in CONV_BN.items()}
    nested_bn = {"vgg16": inner | nested(params, CONV_LAYERS[1:])}  # weight_names keep the model's order
    with pytest.raises(JaxvizError, match="is not plain VGG16"):
        load_params(write_legacy(tmp_path / "nested.h5", {**nested_bn, "dense": HEAD}))


def test_keras3_layout_with_batchnorm_is_refused_and_a_dense_head_is_not(tmp_path, params):
    for names in ("real", "none"):
        with h5py.File(tmp_path / f"bn-{names}.weights.h5", "w") as f:
            write_keras3_model(f, params, names)
            v = f["layers"].create_group("batch_normalization_3").create_group("vars")
            for i in range(4):
                v.create_dataset(str(i), data=np.ones(128, "f4"))
        with pytest.raises(JaxvizError, match=r"batch_normalization_3 \(4 arrays of shape \(128,\)\)"):
            load_params(tmp_path / f"bn-{names}.weights.h5")
    with h5py.File(tmp_path / "head.weights.h5", "w") as f:
        write_keras3_model(f, params)
        v = f["layers"].create_group("dense").create_group("vars")
        v.create_dataset("0", data=HEAD["dense/kernel:0"])
        v.create_dataset("1", data=HEAD["dense/bias:0"])
    _assert_same(load_params(tmp_path / "head.weights.h5"), params)


def test_real_keras3_vgg16_bn_is_refused_in_every_format(tmp_path):
    keras = pytest.importorskip("keras")
    inp = x = keras.Input((32, 32, 3))
    for b, widths in enumerate(((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3), 1):
        for c, width in enumerate(widths, 1):
            x = keras.layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{b}_conv{c}")(x)
            x = keras.layers.BatchNormalization()(x)
        x = keras.layers.MaxPooling2D(name=f"block{b}_pool")(x)
    model = keras.Model(inp, x, name="vgg16")
    for name in ("bn.keras", "bn.weights.h5"):
        model.save_weights(tmp_path / name) if name.endswith(".weights.h5") else model.save(tmp_path / name)
        with pytest.raises(JaxvizError, match="is not plain VGG16.*batch_normalization"):
            load_params(tmp_path / name)


# --- converted params (.msgpack) checked whole ---


def _msgpack(tmp_path, tree) -> str:
    from flax import serialization

    path = tmp_path / "p.msgpack"
    path.write_bytes(serialization.msgpack_serialize(tree))
    return str(path)


@pytest.mark.parametrize(
    "change, said",
    [
        (lambda t: t.update(block2_conv1=[t["block2_conv1"]["kernel"], t["block2_conv1"]["bias"]]),
         "block2_conv1 is a list, expected a table of kernel and bias"),
        (lambda t: t["block3_conv2"].pop("bias"), "block3_conv2 has no bias (it holds: kernel)"),
        (lambda t: t.pop("block4_conv3"), "lacks VGG16 layer(s) block4_conv3"),
        (lambda t: t.update(block6_conv1=t["block5_conv3"]), "holds layer(s) VGG16 does not have: block6_conv1"),
        (lambda t: t["block1_conv1"].update(gamma=np.ones(64, "f4")), "block1_conv1 holds gamma besides"),
        (lambda t: t["block1_conv2"].update(bias=np.zeros(64, "i4")), "block1_conv2/bias is int32, not floating"),
        (lambda t: t["block5_conv1"].update(bias=np.full(512, np.nan, "f4")), "5_conv1/bias holds 512 NaN or inf"),
        (lambda t: t["block1_conv1"].update(bias=np.zeros(65, "f4")), "bias has shape (65,), expected (64,)"),
    ],
    ids=["layer-as-list", "missing-bias", "missing-layer", "extra-layer", "extra-entry", "int", "nan", "shape"],
)  # fmt: skip
def test_a_converted_params_file_is_checked_whole(tmp_path, params, change, said):
    tree = {layer: dict(leaves) for layer, leaves in params.items()}
    change(tree)
    with pytest.raises(JaxvizError) as e:
        load_params(_msgpack(tmp_path, tree))
    assert said in str(e.value) and "\n" not in str(e.value), e.value


def test_any_floating_dtype_is_valid_weights(tmp_path, params):
    import ml_dtypes

    for dtype in (np.float16, ml_dtypes.bfloat16, np.float64):
        tree = {layer: {k: v.astype(dtype) for k, v in leaves.items()} for layer, leaves in params.items()}
        got = load_params(_msgpack(tmp_path, tree))
        assert all(got[la][k].dtype == np.float32 for la in got for k in got[la])
        np.testing.assert_array_equal(got["block3_conv1"]["kernel"], tree["block3_conv1"]["kernel"].astype(np.float32))


def test_a_vgg16_with_keras_automatic_names_reads_from_a_legacy_h5_too(tmp_path, params):
    """Keras names layers conv2d, conv2d_1, ... unless told otherwise: such a VGG16 is read by its order and shapes
    from a legacy .h5 as from a .keras archive (it was refused as "layers found: none")."""
    groups = {"input_layer": {}}
    for i, layer in enumerate(CONV_LAYERS):
        name = "conv2d" + (f"_{i}" if i else "")
        groups[name] = {f"{name}/kernel": params[layer]["kernel"], f"{name}/bias": params[layer]["bias"]}
    _assert_same(load_params(write_legacy(tmp_path / "auto.h5", groups, model_save=True)), params)
    inside = dict(list(groups.items())[:3]) | {"bn": {"bn/gamma": np.ones(64, "f4")}} | dict(list(groups.items())[3:])
    with pytest.raises(JaxvizError, match=r"not plain VGG16.*bn \(after conv2d_1\)"):
        load_params(write_legacy(tmp_path / "auto_bn.h5", inside, model_save=True))
