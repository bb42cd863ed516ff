"""What a new user's first Keras models met (issues 19 and 20): a fixed-size model under MACO's crops, layers that
exist but cannot be targets, sizes too small for a reason of their own, VGG16's own settings, damaged or wrong-kind
model files. Each bad input is one line `jaxviz: error: ...` naming the problem and the valid choices, exit 2, no
traceback, nothing written; each good one runs. Tiny models built by Keras here, a few steps at a few pixels."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_main_refuses

from jaxviz import config as config_lib
from jaxviz.errors import JaxvizError

keras = pytest.importorskip("keras")

from jaxviz.cli import visualize  # noqa: E402

os.environ.setdefault("KERAS_BACKEND", "jax")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """flat.keras: a fixed 16 px input, Conv2D c1, Flatten flat, Dense(4) logits; conv1d.keras: Conv2D c2d,
    Reshape resh, Conv1D c1d (no map after c2d)."""
    root = tmp_path_factory.mktemp("models")
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="c1")(inputs)
    x = keras.layers.Flatten(name="flat")(x)
    keras.Model(inputs, keras.layers.Dense(4, name="logits")(x)).save(root / "flat.keras")
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(2, 3, name="c2d")(inputs)
    x = keras.layers.Reshape((100, 2), name="resh")(x)
    keras.Model(inputs, keras.layers.Conv1D(3, 3, name="c1d")(x)).save(root / "conv1d.keras")
    return {p.stem: p for p in root.iterdir()}


# The run's own files only (quality on: it reads the finished image), no atlas, TensorBoard or bar: seconds saved.
QUICK = ["--set", "output.quality=true", "--set", "output.atlas=false", "--set", "output.tensorboard=false",
         "--set", "output.progress=false"]  # fmt: skip


def keras_args(model: Path, *more: str) -> list[str]:
    return ["--model", "keras", "--weights", str(model), "--set", 'model.preprocess="caffe"', *more]


def test_maco_on_a_fixed_size_model_costs_what_the_model_sees(models, tmp_path, capsys):
    """`--preset maco` (here at 64 px, its 512 px's cost in a test's time) on a 16 px model feeds it 16 px crops;
    the cost estimate (and the quality passes on the finished 64 px image) must not feed it 64 px."""
    from jaxviz.run.session import filter_cost
    from jaxviz.run.translate import model_of

    out = tmp_path / "run"
    argv = ["--preset", "maco", *keras_args(models["flat"]), "--layers", "logits", "--filters", "0:2"]
    with pytest.raises(SystemExit) as e:
        visualize.main([*argv, "--size", "64", "--steps", "2", "--set", "method.crops=2", *QUICK, "--out", str(out)])
    said = capsys.readouterr()
    assert e.value.code == 0 and "Traceback" not in said.err, said.err
    assert (out / "logits.png").is_file() and "display_activation" in (out / "metrics.json").read_text()
    cfg = config_lib.load(out / "config.toml")
    network, params = model_of(cfg).network, model_of(cfg).params
    # Each step: method.crops crops at the model's side, so the cost is the crops', not a 64 px image's.
    per_crop = network.gflop_per_step("logits", 16)
    assert filter_cost(cfg, "logits", network) == pytest.approx(2 * per_crop * (cfg.ascent.steps + 1))
    # Whatever size a caller names, a fixed-size model is costed (and sized) at its own side.
    assert network.gflop_per_step("logits", 512) == per_crop
    assert network.bytes_per_image("logits", 512) > network.bytes_per_image("logits", 16)  # the image is 512 px
    image = np.full((1, 40, 40, 3), 100.0, np.float32)  # a photograph or a finished image: resized to 16 px
    resized = network.activation(params, image, "logits", None, "float32", "xla")
    assert resized.shape == (1, 1, 1, 4) and np.isfinite(np.asarray(resized)).all()


@pytest.mark.parametrize(
    "model,layer,needles",
    [
        ("conv1d", "c1d", ["layer 'c1d' of keras:", "(Conv1D) has output (N, 98, 3), not (N, H, W, C) or (N, C)",
                           "valid layers: all, c2d"]),
        ("conv1d", "resh", ["layer 'resh' of keras:", "(Reshape) has output (N, 100, 2)", "valid layers: all, c2d"]),
        ("flat", "flat", ["(Flatten) outputs (N, 588): each unit is one position", "none is a filter",
                          "visualise the map before it (c1) or a layer after it (logits)", "all, c1, logits"]),
        ("flat", "nope", ["unknown layer 'nope' of keras:", "valid layers: all, c1, logits"]),
    ],
)  # fmt: skip
def test_a_layer_that_is_no_target_says_why(models, tmp_path, capsys, model, layer, needles):
    """Finding 4: a layer the model has but that cannot be a target is not an "unknown layer": its output shape,
    what a target needs, and for a Flatten why its (N, C) is no vector of channels."""
    out = tmp_path / "run"
    argv = keras_args(models[model], "--layers", layer, "--size", "16", "--steps", "2", "--out", str(out))
    assert_main_refuses(visualize.main, argv, capsys, *needles)
    assert not out.exists()


def test_vgg_pools_and_classifier_say_what_to_use_instead():
    from jaxviz.model.network import VGG16, VGG19
    from jaxviz.model.targets import resolve_layers

    with pytest.raises(JaxvizError, match=r"'block2_pool' is a max pool of block2_conv2's map.*visualise block2_conv2"):
        resolve_layers("block2_pool", VGG16)
    with pytest.raises(JaxvizError, match=r"'block3_pool' of vgg19 is a max pool of block3_conv4's map"):
        resolve_layers("block3_pool", VGG19)
    with pytest.raises(JaxvizError, match=r"'predictions' is in the classifier.*--model keras"):
        resolve_layers("predictions", VGG16)
    with pytest.raises(JaxvizError, match=r"^unknown layer 'block6_pool'; valid layers: all, block1_conv1"):
        resolve_layers("block6_pool", VGG16)


def test_a_flax_submodule_without_a_channel_axis_says_its_shape():
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from jaxviz.model.flax_network import flax_network
    from jaxviz.model.targets import resolve_layers

    class OneD(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(2, (3, 3), name="conv")(x)
            return nn.Conv(3, (3,), name="c1d")(x.reshape(x.shape[0], -1, 2))

    module = OneD()
    network = flax_network(module, module.init(jax.random.key(0), jnp.zeros((1, 8, 8, 3))), natural_size=8)
    assert network.layers == ("conv",)
    with pytest.raises(JaxvizError, match=r"'c1d' of flax:OneD has output \(N, 64, 3\) at 8 px, not \(N, H, W, C\)"):
        resolve_layers("c1d", network)


def test_a_fixed_size_model_under_a_preset_is_told_the_setting_that_decides(models, tmp_path, capsys):
    """Finding 5: maco-fast resizes its crops to 96 px (method.crop_side); the advice is that setting, not
    ascent.size (already the model's); with method.crop_side = 0 the model's own side is taken."""
    from jaxviz.run.run_plan import prepare

    out = tmp_path / "run"
    argv = ["--preset", "maco-fast", *keras_args(models["flat"], "--layers", "logits", "--size", "16")]
    assert_main_refuses(
        visualize.main,
        [*argv, "--out", str(out)],
        capsys,
        "takes 16 px images only, but would see 96 px",
        "method.crop_side = 96 px",
        "set method.crop_side = 16, or 0 for the model's own side",
    )
    assert not out.exists()
    # Upscaling stages feed it less than ascent.size: the setting named is ascent.upscale.
    stages = [*keras_args(models["flat"], "--layers", "logits", "--size", "16"), "--set", "ascent.stages=2"]
    assert_main_refuses(visualize.main, [*stages, "--set", "ascent.upscale=1.2", "--out", str(out)], capsys,
                        "would see 11 px (stage 1 of ascent.stages = 2", "set ascent.upscale = 1")  # fmt: skip
    # A jitter that crops 24 px to 16 px feeds it its own side, and so do crops resized to the model's side (0).
    base = {"model.name": "keras", "model.weights": str(models["flat"]), "model.preprocess": "caffe",
            "target.layers": "logits"}  # fmt: skip
    for updates in ({"ascent.size": 24, "ascent.transforms": ["jitter:8"]}, {"method.crops": 2, "method.crop_side": 0}):
        cfg = config_lib.apply(config_lib.Config(), {**base, **updates})
        assert prepare(cfg).targets == {"logits": [0, 1, 2, 3]}


@pytest.mark.parametrize(
    "argv,needles,not_said",
    [
        (["--size", "4", "--set", "ascent.transforms=[]"],
         ["shown 4 px images, below the 8 px", "ascent.size = 4 is that small", "raise ascent.size to at least 8"],
         "transforms"),
        (["--preset", "keras-example", "--size", "32"],
         ["shown 6 px images", "stage 1 of ascent.stages = 9 runs at 6 px", "raise ascent.size to at least 42"],
         "transforms"),
        (["--size", "10", "--set", 'ascent.transforms=["jitter:4"]'],
         ["ascent.transforms jitter:4 crop the 10 px image below 8 px to 6 px", "raise ascent.size to at least 12"],
         "stage"),
        (["--layers", "block5_conv1", "--size", "12"],
         ["too small for block5_conv1", "(ascent.size = 12 is that small); raise ascent.size to at least 16"],
         "shrink it less"),
    ],
)  # fmt: skip
def test_a_too_small_image_names_its_real_cause(tmp_path, capsys, argv, needles, not_said):
    """Finding 10: below the ascent's 8 px, the message blamed ascent.transforms even with none; it names what
    shrinks the image (ascent.size itself, the stages' first side, a jitter) and the size that would do."""
    out = tmp_path / "run"
    full = [*argv, "--filters", "0:1", "--weights", str(tmp_path / "nowhere.h5"), "--out", str(out)]
    _, err = assert_main_refuses(visualize.main, full, capsys, *needles)
    assert not_said not in err and not out.exists()


def test_crops_of_a_few_pixels_are_warned_of():
    """Finding 15: `--preset maco --size 32` ends with crops of 0.05 x 32 px = 1.6 px enlarged to 224 px."""
    from jaxviz.run.run_plan import describe, plan

    said = {}
    for size in (32, 512):
        cfg = config_lib.apply(
            config_lib.Config(),
            {"param.kind": "maco", "method.crops": 4, "method.crop_end": 0.05, "ascent.size": size,
             "target.layers": "block1_conv1", "target.filters": "0:1", "ascent.optimizer": "nadam"},
        )  # fmt: skip
        said[size] = [line for line in describe(cfg, plan(cfg)) if line.startswith("warning: the smallest crops")]
    assert said[512] == [] and len(said[32]) == 1, said
    assert "0.05 of the 32 px image, 1.6 px, enlarged to 224 px (140x)" in said[32][0]
    assert "raise ascent.size to at least 160 or method.crop_end to at least 0.25" in said[32][0]


def test_damaged_or_wrong_kind_model_files_say_what_they_are(models, weights_path, tmp_path, capsys):
    """Finding 11: a truncated .keras was "File not found", an HDF5 without Keras content and VGG16's own weights
    were "weights only: name the model (e.g. resnet50)", a Keras model file given to VGG16 "lacks VGG16 layers
    (layers found: none)". Each now says what the file is and what to pass."""
    import h5py

    whole = models["flat"].read_bytes()
    (tmp_path / "cut.keras").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "text.keras").write_text("not a model\n")
    with h5py.File(tmp_path / "hdf5.keras", "w") as f:
        f["x"] = np.zeros(3)
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["x"] = np.zeros(3)
    with zipfile.ZipFile(tmp_path / "nocfg.keras", "w") as zf:
        zf.writestr("readme.txt", "hello")
    keras.saving.load_model(models["flat"]).save_weights(tmp_path / "flat.weights.h5")
    cases = [
        ("keras", "cut.keras", ["cut.keras is a damaged or truncated .keras archive"]),
        ("keras", "text.keras", ["text.keras is not a .keras archive: not a zip file", "a .keras archive, a full"]),
        ("keras", "hdf5.keras", ["is an HDF5 file under a .keras name", "rename it to .h5"]),
        ("keras", "nocfg.keras", ["is a zip without config.json (it holds: readme.txt)"]),
        ("keras", "data.h5", ["data.h5 is HDF5 but holds no Keras model or weights", "a .keras archive"]),
        ("keras", str(weights_path), ["holds VGG16's weights only", f"--model vgg16 --weights {weights_path}"]),
        ("keras", "flat.weights.h5", ["holds weights only, no architecture", "resnet50", "model.save("]),
        ("vgg16", str(models["flat"]), ["is a Keras model file", "not VGG16 weights", "--model keras --weights"]),
        ("vgg16", "flat.weights.h5", ["lacks VGG16 layer(s) block1_conv1 ... block5_conv3, all of them",
                                      "--model resnet50", "--model keras"]),
    ]  # fmt: skip
    for model, file, needles in cases:
        given = file if os.path.isabs(file) else str(tmp_path / file)
        out = tmp_path / "run"
        layer = "c1" if model == "keras" else "block1_conv1"
        argv = ["--model", model, "--weights", given, "--layers", layer, "--size", "16", "--out", str(out)]
        if model == "keras":
            argv += ["--set", 'model.preprocess="caffe"']
        _, err = assert_main_refuses(visualize.main, argv, capsys, *needles)
        assert "File not found" not in err and "layers found: none" not in err and not out.exists()


def test_a_flax_module_of_one_input_size_is_fed_that_size_only():
    """Finding 1's kind for Flax: a Dense after a flatten takes the natural size only; it is found (twice the side
    fails), refused at another ascent.size in one line, costed at its side, and shown other images resized."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from jaxviz.model.flax_network import flax_network
    from jaxviz.run.run_plan import check_sizes

    class Flat(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(2, (3, 3), name="conv")(x)
            return nn.Dense(3, name="head")(x.reshape(x.shape[0], -1))

    module = Flat()
    variables = jax.jit(module.init)(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
    network = flax_network(module, variables, natural_size=8)
    assert network.input.fixed_size == 8 and network.min_size("conv") == 8
    cfg = config_lib.apply(config_lib.Config(), {"ascent.size": 16, "ascent.transforms": []})
    with pytest.raises(JaxvizError, match=r"^flax:Flat takes 8 px images only, but would see 16 px \(ascent.size = 16\)"
                                          r"; set ascent.size = 8$"):  # fmt: skip
        check_sizes(cfg, ["head"], network)
    assert network.gflop_per_step("head", 512) == network.gflop_per_step("head", 8)
    out = network.activation(variables, np.zeros((2, 20, 20, 3), np.float32), "head", None, "float32", "xla")
    assert out.shape == (2, 1, 1, 3)
