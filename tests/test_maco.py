"""MACO (the phase of the spectrum under a fixed magnitude, random crops, NAdam) for a whole layer at once, and the
transparency maps: coverage-corrected, batched as per filter, one compile per layer, from a config and a preset."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import assert_main_refuses, depends_on_weights, traces

from jaxviz import ascent
from jaxviz import config as config_lib
from jaxviz.ascent import Knobs, Method, Spec, spectrum
from jaxviz.ascent import params as params_lib
from jaxviz.errors import JaxvizError
from jaxviz.model.network import InputSpec

MACO = Method(param="maco", optimizer="nadam", crops=2, crop_side=24, crop_start=0.8, crop_end=0.5, alpha=True)


class MeanOfImage:
    """A one-layer network whose one filter is the mean of what it is shown: d(filter) / d(pixel) is the same for
    every pixel it is shown, so every pixel of the image matters as much as it is seen."""

    name, family, layers, default_layers = "mean-of-image", "", ("mean",), ("mean",)
    widths = {"mean": 1}
    input = InputSpec(3, 16, None, "none")

    def min_size(self, layer):
        return 1

    def activation(self, params, images, layer, channel, precision, conv):
        return images.mean(axis=(1, 2, 3))[:, None, None, None]

    def post(self, z, layer):
        return z

    def labels(self, layer):
        return ()

    def layer_params(self, params, layer):
        return {}

    def gflop_per_step(self, layer, size):
        return 0.0

    def bytes_per_image(self, layer, size, precision="float32", images=1):
        return 1


MEAN = MeanOfImage()


@pytest.mark.parametrize(
    "method",
    [
        # crops crowded towards the top left: their centres from N(0.3, 0.1), not the sources' N(0.5, 0.15)
        Method(param="maco", optimizer="nadam", crops=3, crop_side=12, crop_centre=(0.3, 0.1), alpha=True),
        # no crops: pixels through a jitter and a rotation (grey corners), each pixel seen as often as they show it
        Method(transforms=("jitter:10", "rotate:-20:20"), alpha=True),
    ],
    ids=["skewed-crops", "jitter-rotate"],
)
def test_uniform_importance_gives_uniform_alpha_whatever_is_seen(method):
    engine = ascent.LayerAscent({}, Spec("mean", 32, method=method, network=MEAN), Knobs(steps=6))
    r = engine([0])
    assert r.alpha.shape == (1, 32, 32) and r.alpha.dtype == np.float32 and (r.alpha >= 0).all()
    grads, cover = (np.asarray(a)[0, 0] for a in engine._state[2])  # the raw sums: what α would be uncorrected
    seen = r.alpha[0] > 0
    assert seen.sum() > 100
    if method.crops:  # the crowded crops never reach the bottom right corner, which is then transparent
        assert not seen[-4:, -4:].any() and (cover[~seen] <= 1e-6 * cover.max()).all()
    a = r.alpha[0][seen]
    assert (a.max() - a.min()) / a.mean() < 1e-3  # flat where seen: importance, not how often seen
    assert grads[seen].max() > 3 * grads[seen].min()  # while the gradient summed alone is far from flat


def test_alpha_with_stages_is_the_last_stages_enlarged_with_the_image():
    method = Method(transforms=("jitter:2",), alpha=True)
    spec = Spec("mean", 30, stages=2, upscale=1.5, method=method, network=MEAN)  # stages at 13 and 20 px
    r = ascent.LayerAscent({}, spec, Knobs(steps=3))([0])
    assert r.alpha.shape == (1, 30, 30) and r.images.shape == (1, 30, 30, 3)
    inner = r.alpha[0, 6:-6, 6:-6]  # away from the edges the jitter may leave unseen
    assert inner.min() > 0 and (inner.max() - inner.min()) / inner.mean() < 1e-3


@pytest.mark.slow
def test_maco_batched_equals_per_filter_with_alpha_in_one_compile(params, real_weights):
    if not real_weights:  # seen: 3 steps on random weights, one filter 13 px of 255 apart between chunk shapes
        pytest.skip(depends_on_weights("NAdam's first steps are near the gradient's sign: random weights' tiny "
                                       "gradients flip with the last bits a chunk's shape changes"))  # fmt: skip
    engine = ascent.LayerAscent(params, Spec("block1_conv2", 32, method=MACO), Knobs(steps=3))
    with traces() as seen:
        both = engine([1, 6, 9])
        other = Knobs(steps=2, seed=4, step=0.5)  # traced: other values, the same program
        ascent.LayerAscent(params, Spec("block1_conv2", 32, method=MACO), other)([2, 3, 4])
    assert seen[ascent.step_name("block1_conv2", 32)] == 1
    assert both.images.shape == (3, 32, 32, 3) and both.alpha.shape == (3, 32, 32)
    assert 0 <= both.images.min() and both.images.max() <= 255
    for i, f in enumerate([1, 6, 9]):
        alone = engine([f])  # another chunk shape: crops and noise come from (seed, layer, filter, step) alone
        np.testing.assert_allclose(both.images[i], alone.images[0], rtol=1e-4, atol=1e-2)
        np.testing.assert_allclose(both.alpha[i], alone.alpha[0], rtol=1e-3, atol=1e-6 * both.alpha[i].max())
        np.testing.assert_allclose(both.history[i], alone.history[0], rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_maco_activation_rises(params, real_weights):
    if not real_weights:
        pytest.skip(depends_on_weights("ImageNet's filters respond to MACO's images within a few steps"))
    # Crops of one size throughout, so that the history (the mean over each step's crops) measures one thing
    method = Method(param="maco", optimizer="nadam", crops=4, crop_side=56, crop_start=0.8, crop_end=0.8, noise=4.0)
    r = ascent.LayerAscent(params, Spec("block3_conv1", 64, method=method), Knobs(steps=12))([0, 1, 2, 3])
    assert r.alpha is None  # alpha is asked for, not implied by maco, in the library
    first, last = r.history[:, :2].mean(axis=1), r.history[:, -3:].mean(axis=1)
    assert (last > first).all() and last.sum() > 1.5 * first.sum(), (first, last)


@pytest.mark.parametrize("size", [16, 17])
def test_the_phase_latent_keeps_the_magnitude_exactly(size):
    r = params_lib.hermitian_magnitude(spectrum.default().resized(size))
    phase = jax.random.normal(jax.random.key(3), (3, size, size // 2 + 1))
    x = np.asarray(jax.jit(params_lib.maco_spatial)(phase, jnp.asarray(r)), np.float64)
    assert abs(x.mean()) < 1e-5 and abs(x.std() - 1) < 1e-4  # standardised
    ratio = np.abs(np.fft.rfft2(x, axes=(-2, -1))) / r
    ratio[:, 0, 0] = np.nan  # the zero frequency: moved by the standardisation's mean
    assert np.nanmax(np.abs(ratio / np.nanmean(ratio) - 1)) < 1e-4  # |rfft2| = the template times one scale
    resized = spectrum.default().resized(size)  # and the template itself, but where irfft2 needs it symmetric
    assert np.abs(r[:, :, 1 : (size + 1) // 2] - resized[:, :, 1 : (size + 1) // 2]).max() == 0


def test_nadam_is_optaxs_nadam_without_its_step():
    import optax

    from jaxviz.ascent import optim

    g = {"x": jnp.asarray([0.3, -1.0, 2.0])}
    mine = optim.direction("nadam", jnp.int32(0))
    theirs = optax.nadam(1.0)
    s1, s2 = mine.init(g), theirs.init(g)
    for _ in range(3):
        d, s1 = mine.update(g, s1)
        u, s2 = theirs.update(g, s2)
        np.testing.assert_allclose(d["x"], -u["x"], rtol=1e-6)  # optax's descends; the ascent adds


def _cfg(**updates):
    return config_lib.apply(config_lib.Config(), {k.replace("__", "."): v for k, v in updates.items()})


def test_a_maco_config_translates_and_alpha_is_auto(tmp_path):
    from jaxviz.run.translate import method_of

    m = method_of(_cfg(param__kind="maco", method__crops=8, method__noise=2.5))
    assert (m.param, m.crops, m.noise, m.alpha) == ("maco", 8, 2.5, True)
    assert m.spectrum == spectrum.default()
    assert method_of(_cfg(param__kind="maco", method__alpha="off")).alpha is False
    assert method_of(_cfg(method__alpha=True)).alpha is True and method_of(_cfg()).alpha is False
    saved = tmp_path / "t.npz"
    noise = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)  # a flat image has no spectrum
    spectrum.save(spectrum.from_images([noise], 8, "noise"), saved)
    m = method_of(_cfg(param__kind="maco", method__spectrum=str(saved)))
    assert m.spectrum.fingerprint == spectrum.load(saved).fingerprint != spectrum.default().fingerprint


@pytest.mark.parametrize(
    "updates, needle",
    [
        ({"method.crops": -1}, "method.crops must be 0 or more, got -1"),
        ({"method.crop_start": 1.5}, "method.crop_start is a fraction of the image side: it must lie in 0.05..1"),
        ({"method.crop_end": 0.0}, "method.crop_end is a fraction of the image side"),
        ({"method.noise": -2.0}, "method.noise must be 0 or more"),
        ({"method.alpha": "maybe"}, "method.alpha must be one of auto, on, off; got 'maybe'"),
        ({"method.crops": "many"}, "method.crops: expected an integer, got 'many'"),
        ({"param.kind": "macco"}, "param.kind must be one of pixels, fourier, maco"),
        ({"ascent.optimizer": "nadamw"}, "ascent.optimizer must be one of normalized"),
    ],
)
def test_bad_values_are_one_line_errors(updates, needle):
    with pytest.raises(JaxvizError) as e:
        config_lib.apply(config_lib.Config(), updates)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_bad_templates_and_combinations_are_one_line_errors(tmp_path):
    from jaxviz.run.run_plan import prepare
    from jaxviz.run.translate import method_of

    cases = [
        ({"method.spectrum": str(tmp_path / "nope")}, "does not exist"),
        ({"method.spectrum_fingerprint": "0" * 64}, "but method.spectrum_fingerprint is 0000"),
        ({"method.crops": 2, "objective.images": 2, "objective.diversity": 0.1}, "cannot be used with method.crops"),
        ({"ascent.stages": 2, "ascent.upscale": 1.5}, 'needs param.kind = "pixels"'),
        ({"method.crops": 2, "method.crop_side": 4}, "method.crop_side must be at least 8 px"),
        ({"method.crops": 2, "method.crop_side": 12, "target.layers": "block5_conv1"}, "method.crops are resized"),
    ]
    for updates, needle in cases:
        cfg = config_lib.apply(config_lib.Config(), {"param.kind": "maco", "target.filters": "0:2", **updates})
        with pytest.raises(JaxvizError) as e:
            method_of(cfg)
            prepare(cfg)
        assert needle in str(e.value) and "\n" not in str(e.value), (updates, str(e.value))


@pytest.mark.slow
def test_maco_through_the_command_line_records_its_template(tmp_path, weights_path, capsys):
    """--preset maco (shrunk to seconds by overrides), end to end on VGG16: the plan says the crops, the run
    records the template's fingerprint, and a rerun with another template, of its config or of the same command,
    is refused in one line."""
    from jaxviz.cli import visualize

    out = tmp_path / "run"
    small = ["--size", "32", "--steps", "2", "--set", "method.crops=2", "--set", "method.crop_side=32"]
    argv = ["--preset", "maco", "--weights", str(weights_path), "--layers", "block2_conv1", "--filters", "0:2"]
    with pytest.raises(SystemExit) as e:
        visualize.main([*argv, *small, "--out", str(out)])
    said = capsys.readouterr().out
    assert e.value.code == 0, said
    assert "maco, nadam, objective channel, 2 crops of 0.5->0.05 of the side at 32 px" in said
    recorded = config_lib.load(out / "config.toml")
    assert recorded.method.spectrum_fingerprint == spectrum.default().fingerprint
    assert (out / "block2_conv1.png").is_file()
    other = tmp_path / "other.npz"
    noise = np.random.default_rng(3).integers(0, 256, (8, 8, 3), dtype=np.uint8)  # a flat image has no spectrum
    spectrum.save(spectrum.from_images([noise], 8, "noise"), other)
    assert_main_refuses(
        visualize.main,
        ["--config", str(out / "config.toml"), "--set", f"method.spectrum={other}"],
        capsys,
        "but method.spectrum_fingerprint is",
    )
    # The same command with another template: the directory's chunks were made with the first one
    again = [*argv, *small, "--out", str(out), "--set", f"method.spectrum={other}"]
    assert_main_refuses(visualize.main, again, capsys, "other settings (method.spectrum_fingerprint")


@pytest.mark.slow
def test_maco_on_a_keras_model_through_the_command_line(tmp_path, capsys):
    """--preset maco on a keras.applications model (random weights), crops resized to a side of its own."""
    pytest.importorskip("keras")
    from jaxviz.cli import visualize

    out = tmp_path / "mobilenet"
    argv = ["--preset", "maco", "--model", "mobilenetv2", "--weights", "random", "--layers", "block_3_project"]
    small = [
        "--filters",
        "0:2",
        "--size",
        "64",
        "--steps",
        "3",
        "--set",
        "method.crops=2",
        "--set",
        "method.crop_side=64",
    ]
    with pytest.raises(SystemExit) as e:
        visualize.main([*argv, *small, "--out", str(out)])
    said = capsys.readouterr().out
    assert e.value.code == 0 and "of keras:mobilenetv2 (block_3_project)" in said and "2 crops" in said, said
    assert (out / "block_3_project.png").is_file()
    assert config_lib.load(out / "config.toml").method.spectrum_fingerprint == spectrum.default().fingerprint
