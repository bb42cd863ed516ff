"""The model as a plug-in: the registry's names, VGG19 natively (Keras' weights, Keras' activations), the ascent on
any Network, and a VGG file of the other depth refused by name."""

from __future__ import annotations

import numpy as np
import pytest

from jaxviz import ascent
from jaxviz.errors import JaxvizError
from jaxviz.model import model_registry
from jaxviz.model.network import VGG16, VGG19, Network

keras = pytest.importorskip("keras")


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory):
    """keras.applications.VGG19 with Keras' random weights, saved as Keras saves weights (no download)."""
    model = keras.applications.VGG19(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("vgg19") / "vgg19.weights.h5"
    model.save_weights(path)
    return model, path


def test_the_registry_names_every_model_and_the_vggs_need_no_keras():
    names = model_registry.model_names()
    assert names[:2] == ("vgg16", "vgg19") and "resnet50" in names and names[-2:] == ("keras", "flax")
    assert isinstance(VGG16, Network) and isinstance(VGG19, Network)
    assert model_registry.network_of("vgg19") is VGG19 and len(VGG19.layers) == 16
    assert VGG19.layers[-1] == "block5_conv4" and VGG19.widths["block3_conv4"] == 256
    assert [VGG19.min_size(la) for la in ("block1_conv1", "block3_conv4", "block5_conv4")] == [1, 4, 16]
    with pytest.raises(JaxvizError, match="unknown model 'resnet49'; valid models: vgg16, vgg19, resnet50"):
        model_registry.load_model("resnet49", "random")


def test_every_model_takes_random_weights_vgg16_too(tmp_path, capsys):
    """Finding 7: `--model vgg16 --weights random` was taken for a file named 'random'; vgg19 and the Keras
    applications took it. Random weights are drawn once per process, the same for every call."""
    from jaxviz.cli import visualize

    for network in (VGG16, VGG19):
        loaded = model_registry.load_model(network.name, "random")
        assert loaded.network is network and loaded.path is None and "random" in loaded.how
        assert set(loaded.params) == set(network.layers)
        assert model_registry.load_model(network.name, "random").fingerprint == loaded.fingerprint
    out = tmp_path / "r"
    argv = ["--model", "vgg16", "--weights", "random", "--layers", "block1_conv1", "--filters", "0:1"]
    with pytest.raises(SystemExit) as e:
        visualize.main([*argv, "--size", "16", "--steps", "1", "--set", "output.atlas=false", "--out", str(out)])
    assert e.value.code == 0, capsys.readouterr().err
    assert (out / "block1_conv1.png").is_file() and "random" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_a_native_vgg_refuses_a_preprocess_it_would_ignore(tmp_path, capsys, name):
    """Finding 8: model.preprocess = "tf" gave VGG16 the same activations as "caffe" (it preprocesses itself) and
    was recorded as if used: refused, unless it is "" or the model's own."""
    from conftest import assert_main_refuses

    from jaxviz.cli import visualize

    for given in ("", "caffe"):
        assert model_registry.network_of(name, "random", given).name == name
    out = tmp_path / "r"
    argv = ["--model", name, "--weights", "random", "--set", 'model.preprocess="tf"', "--out", str(out)]
    assert_main_refuses(visualize.main, argv, capsys, f"model.preprocess = 'tf' does not apply to {name}",
                        "'caffe' input", 'leave it "" (or "caffe")')  # fmt: skip
    assert not out.exists()
    with pytest.raises(JaxvizError, match="does not apply to vgg16"):
        model_registry.load_model("vgg16", "random", preprocess="torch")


def test_vgg19_reads_keras_weights_and_matches_keras(vgg19_file):
    model, path = vgg19_file
    loaded = model_registry.load_model("vgg19", str(path))
    assert loaded.network is VGG19 and len(loaded.fingerprint) == 16
    rgb = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    layers = ("block1_conv1", "block3_conv4", "block5_conv4")
    probe = keras.Model(model.inputs, [model.get_layer(name).output for name in layers])
    theirs = probe.predict(keras.applications.vgg19.preprocess_input(rgb.copy()), verbose=0)
    for layer, ref in zip(layers, theirs):
        ours = np.maximum(np.asarray(VGG19.activation(loaded.params, rgb, layer, None, "float32", "xla")), 0)
        assert ours.shape == ref.shape and np.abs(ref).max() > 0
        assert _rel(ours, ref) <= 1e-4, layer


def test_a_vgg_file_of_the_other_depth_is_refused_by_name(vgg19_file, weights_path):
    _, path = vgg19_file
    from jaxviz.model.weights import load_params

    with pytest.raises(JaxvizError, match=r"VGG16 does not have: block3_conv4.*use --model vgg19"):
        load_params(path)
    with pytest.raises(JaxvizError, match="lacks VGG19 layer"):
        model_registry.load_model("vgg19", str(weights_path))


def test_the_ascent_runs_on_vgg19_batched_as_per_filter(vgg19_file):
    _, path = vgg19_file
    params = model_registry.load_model("vgg19", str(path)).params
    spec = ascent.Spec("block3_conv4", 32, network=VGG19)
    engine = ascent.LayerAscent(params, spec, ascent.Knobs(steps=4))
    both = engine([1, 5])
    alone = engine([5])
    np.testing.assert_allclose(both.images[1], alone.images[0], rtol=1e-5, atol=1e-3)
    assert (both.history[:, -1] > both.history[:, 0]).all()  # the activations rise
    with pytest.raises(JaxvizError, match="unknown layer 'block3_conv4'; valid layers: block1_conv1"):
        ascent.Spec("block3_conv4", 32)


def test_a_vgg19_run_end_to_end_and_no_other_model_resumes_it(vgg19_file, weights_path, tmp_path, capsys):
    from conftest import assert_one_line_error

    from jaxviz.cli import visualize

    _, path = vgg19_file
    out = tmp_path / "r19"
    argv = ["--layers", "block3_conv4", "--filters", "0:2", "--size", "32", "--steps", "2", "--out", str(out)]
    with pytest.raises(SystemExit) as e:
        visualize.main(["--model", "vgg19", "--weights", str(path), *argv])
    said = capsys.readouterr().out
    assert e.value.code == 0 and "plan: 2 filter(s) of 1 layer(s) of vgg19 (block3_conv4)" in said, said
    assert (out / "block3_conv4.png").is_file() and 'name = "vgg19"' in (out / "config.toml").read_text()
    page = (out / "atlas" / "index.html").read_text()
    assert "VGG19, 1 layer, 2 filters" in page and "block5_conv4" in page  # the whole VGG19, its unrun layers named
    with pytest.raises(SystemExit) as e:  # VGG16 into VGG19's run: another model, other weights
        visualize.main(["--weights", str(weights_path), "--layers", "block3_conv1", *argv[2:]])
    assert_one_line_error(e.value.code, capsys.readouterr().err, "other settings", "model: 'vgg19' -> 'vgg16'")


def test_the_flax_example_in_the_docs_prints_what_it_says():
    """Finding 12: docs/models.md's Flax example said its layers were ('conv1', 'conv2'); the head's (N, C) logits are
    a layer too. Its code up to the run, with the printed layers compared to the comment beside the print."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "flax_model" in b)
    code = block.partition("r = jaxviz.visualize")[0]
    said = re.search(r"print\(model\.network\.layers\)  # (.*)", code).group(1)
    scope: dict = {}
    code = code.replace("print(model.network.layers)", "shown = model.network.layers")
    exec(code.replace("module.init(", "jax.jit(module.init)("), scope)  # noqa: S102 (one compile, not one per op)
    assert repr(scope["shown"]) == said
    assert scope["model"].network.default_layers == ("conv1", "conv2")  # `--layers all`: the maps, as the text says


def test_any_flax_module_through_the_api():
    from conftest import small_flax_cnn

    import jaxviz

    module, variables = small_flax_cnn(32)
    loaded = jaxviz.flax_model(module, variables, preprocess="0-1", natural_size=32)
    net = loaded.network
    assert net.layers == ("conv1", "conv2", "head") and dict(net.widths) == {"conv1": 8, "conv2": 16, "head": 10}
    assert net.default_layers == ("conv1", "conv2") and net.labels("head") == ()  # the logits by name; 10 classes
    # The head's side: its own trace works at 1 px (a mean over an empty map), conv2's map does not.
    assert [net.min_size(la) for la in net.layers] == [1, 2, 2] and net.gflop_per_step("conv2", 32) > 0
    rgb = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    _, state = module.apply(variables, rgb / 255, capture_intermediates=True, mutable=["intermediates"])
    want = state["intermediates"]["conv2"]["__call__"][0]  # the conv's output: before its ReLU
    ours = net.activation(variables, rgb, "conv2", None, "float32", "xla")
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-6)
    r = jaxviz.visualize("conv2", [0, 3, 5], model=loaded, size=32, steps=6, progress=False)
    alone = jaxviz.visualize("conv2", [3], model=loaded, size=32, steps=6, progress=False, quality=False)
    np.testing.assert_allclose(r.images[1], alone.images[0], atol=1)  # batched equals per-filter (uint8 rounding)
    assert r.config.model.name == "flax" and 0 <= r.metrics[0]["robustness"] and r.metrics[0]["display_activation"] >= 0
    assert (np.array([m["history"][-1] > m["history"][0] for m in r.metrics if not m["dead"]])).all()
    with pytest.raises(JaxvizError, match="unknown layer 'fc' of flax:Small; valid layers: all, conv1, conv2, head$"):
        jaxviz.visualize("fc", [0], model=loaded, size=32, steps=1, progress=False)
    logits = module.apply(variables, rgb / 255)  # the head, a class visualisation's target, as a 1 x 1 map
    head = net.activation(variables, rgb, "head", None, "float32", "xla")
    np.testing.assert_allclose(head, logits[:, None, None], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.post(logits, "head"), logits)  # the logits themselves, not their ReLU
    with pytest.raises(JaxvizError, match="unknown preprocess 'bgr'"):
        jaxviz.flax_model(module, variables, preprocess="bgr")


def test_dataset_examples_take_the_configs_model(tmp_path):
    from jaxviz import config as config_lib
    from jaxviz.run.examples_stage import job_for

    (tmp_path / "photos").mkdir()
    updates = {"model.name": "vgg19", "model.weights": "random", "target.layers": "block3_conv4",
               "examples.images": str(tmp_path / "photos"), "output.dir": str(tmp_path / "r")}  # fmt: skip
    job = job_for(config_lib.apply(config_lib.Config(), updates))
    assert job.model == "vgg19" and job.network() is VGG19 and job.layers == ["block3_conv4"]
    assert len(job.filters["block3_conv4"]) == 256 and job.weights == "random"


def test_a_sweep_with_the_model_as_an_axis(tmp_path, weights_path):
    import json

    from jaxviz.sweep.sweep_runner import sweep

    path = tmp_path / "models.toml"
    path.write_text(
        '[target]\nlayers = "block1_conv1"\nfilters = "0:2"\n[ascent]\nsize = 32\nsteps = 2\n'
        "[output]\nquality = false\n"
        f'[sweep]\nmode = "zip"\n[sweep.axes]\n"model.name" = ["vgg16", "vgg19"]\n'
        f'"model.weights" = ["{weights_path}", "random"]\n'
    )
    sweep(path, tmp_path / "out")
    points = json.loads((tmp_path / "out" / "index.json").read_text())["points"]
    assert [p["status"] for p in points] == ["done", "done"]
    assert [p["values"]["model.name"] for p in points] == ["vgg16", "vgg19"]
    configs = [(tmp_path / "out" / p["dir"] / "config.toml").read_text() for p in points]
    assert 'name = "vgg19"' in configs[1] and 'weights = "random"' in configs[1]


def test_a_keras_application_through_the_whole_run(tmp_path, capsys):
    """A keras.applications model on the command line: plan, grid, TensorBoard events, metrics, dataset examples and
    an atlas that names it and shows their crops; its layers are its own names (an unknown one lists them grouped)."""
    from conftest import assert_one_line_error
    from PIL import Image

    from jaxviz.cli import visualize

    out, photos = tmp_path / "resnet", tmp_path / "photos"
    photos.mkdir()
    for i, pixels in enumerate(np.random.default_rng(0).integers(0, 256, (4, 48, 56, 3), dtype=np.uint8)):
        Image.fromarray(pixels).save(photos / f"p{i}.png")
    examples = ["--set", f"examples.images={photos}", "--set", "examples.size=64", "--set", "examples.top=2"]
    argv = ["--model", "resnet50", "--weights", "random", "--filters", "0:2", "--size", "64", "--steps", "3"]
    with pytest.raises(SystemExit) as e:
        visualize.main([*argv, *examples, "--layers", "conv2_block1_out", "--out", str(out)])
    said = capsys.readouterr().out
    assert e.value.code == 0 and "of keras:resnet50 (conv2_block1_out)" in said, said
    assert "examples/ (1 layer(s), 4 image(s))" in said, said
    assert 'class="ex-strip"' in (out / "atlas" / "filters" / "conv2_block1_out" / "0001.html").read_text()
    assert (out / "conv2_block1_out.png").is_file() and list(out.glob("events.out.tfevents.*"))
    metrics = (out / "metrics.json").read_text()
    assert '"conv2_block1_out"' in metrics and 'name = "resnet50"' in (out / "config.toml").read_text()
    assert "resnet50, 1 layer, 2 filters" in (out / "atlas" / "index.html").read_text()
    with pytest.raises(SystemExit) as e:
        visualize.main([*argv, "--layers", "conv9", "--out", str(tmp_path / "bad")])
    said = (
        "unknown layer 'conv9' of keras:resnet50",
        "valid layers: all, zeropadding2d x 2",
        "; conv2d x 53: conv1_conv",
    )
    assert_one_line_error(e.value.code, capsys.readouterr().err, *said)


def test_the_quality_numbers_of_any_model_equal_vgg16s_own_path(params):
    """The quality passes' path for any Network (the whole layer through Network.activation, after Network.post)
    gives VGG16's own fast path's numbers (only the filter's channel of its copies), on VGG16 itself."""
    from jaxviz import quality
    from jaxviz.model.architecture import VGG16_ARCHITECTURE
    from jaxviz.model.network import VGGNetwork

    as_any = VGGNetwork(VGG16_ARCHITECTURE)  # equal to VGG16 but not it: takes the generic path
    assert as_any is not VGG16
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    fast = quality.measure(params, "block2_conv1", images, [4, 9, 17], copies=2)
    generic = quality.measure(params, "block2_conv1", images, [4, 9, 17], copies=2, network=as_any)
    for a, b in zip(fast, generic):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert fast[1].max() > 0  # robustness measured, not zeros on both sides
