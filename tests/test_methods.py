"""Beyond the seeds: parameterisations, transforms, optimisers, objectives, regularisers, stages, all batched."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import depends_on_weights, traces

from jaxviz import ascent
from jaxviz import config as config_lib
from jaxviz.ascent import Knobs, Method, Spec, objectives, optim, stage_sizes, transforms
from jaxviz.ascent import params as params_lib
from jaxviz.errors import JaxvizError
from jaxviz.run.run_plan import prepare

KNOBS = Knobs(steps=6)
LUCID = Method(
    param="fourier",
    decorrelate=True,
    squash="sigmoid",
    transforms=("pad:4", "jitter:4", "scale:0.9:1.0:1.1", "rotate:-10:0:10", "jitter:2"),
    optimizer="adam",
)
LUCID_KNOBS = Knobs(step=0.05, steps=5)


def _ascend(params, layer, filters, knobs=KNOBS, method=None, size=40, **kw):
    spec = Spec(layer, size, method=method or Method(), **kw.pop("spec", {}))
    return ascent.LayerAscent(params, spec, knobs)(filters, kw.pop("chunk", None), **kw)


@pytest.mark.parametrize("kind", ["pixels", "fourier"])
@pytest.mark.parametrize("decorrelate", [False, True])
@pytest.mark.parametrize("squash", ["none", "sigmoid"])
def test_parameterisations_render_k_images(kind, decorrelate, squash):
    p = params_lib.build(kind, 24, 128.0, 20.0, decorrelate, squash, 1.0)
    latent = p.init(jax.random.key(0), 3)
    images = p.render(latent)
    assert images.shape == (3, 24, 24, 3) and images.dtype == jnp.float32
    assert not np.allclose(images[0], images[1])  # each image has its own key
    if squash == "sigmoid":
        assert float(images.min()) >= 0 and float(images.max()) <= 255
    if kind == "pixels" and squash == "none":  # the seeds' start, whatever colour space it is stored in
        np.testing.assert_allclose(images.mean(), 138.0, atol=1.5)


def test_pixels_without_colour_transform_is_the_image_itself():
    p = params_lib.pixels(8, 128.0, 20.0)
    latent = p.init(jax.random.key(1), 1)
    assert p.identity and np.array_equal(p.render(latent), latent)


@pytest.mark.slow
def test_lucid_method_is_chunking_independent_and_rises(params):
    whole = _ascend(params, "block3_conv1", [1, 2, 5], LUCID_KNOBS, LUCID, size=32)
    for i, f in enumerate([1, 2, 5]):
        alone = _ascend(params, "block3_conv1", [f], LUCID_KNOBS, LUCID, size=32, chunk=2)
        np.testing.assert_allclose(whole.images[i], alone.images[0], rtol=1e-4, atol=1e-2)
    live = whole.history[:, -1] > 0
    assert live.any() and (whole.history[live, -1] > whole.history[live, 0]).all()
    assert whole.images.min() >= 0 and whole.images.max() <= 255


def test_transforms_draw_independently_per_filter_and_step():
    t = transforms.compose(transforms.build(["jitter:6", "rotate:-20:20"]))
    image = jnp.asarray(np.random.default_rng(0).uniform(0, 255, (20, 20, 3)), jnp.float32)
    keys = [transforms.step_key(jnp.int32(0), 3, jnp.int32(f), jnp.int32(s)) for f, s in ((0, 0), (1, 0), (0, 1))]
    outs = [np.asarray(t(k, image)) for k in keys]
    assert outs[0].shape == (14, 14, 3)
    assert not np.allclose(outs[0], outs[1]) and not np.allclose(outs[0], outs[2])
    np.testing.assert_array_equal(outs[0], np.asarray(t(keys[0], image)))  # same key, same draw


def test_warp_is_a_rotation_and_identity():
    image = jnp.asarray(np.random.default_rng(0).uniform(0, 255, (16, 16, 3)), jnp.float32)
    np.testing.assert_allclose(transforms.warp(image, 1.0, 0.0), image, atol=1e-3)
    quarter = np.rot90(np.asarray(image), k=-1, axes=(0, 1))
    np.testing.assert_allclose(transforms.warp(image, 1.0, np.pi / 2), quarter, atol=1e-3)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_optax_optimisers_raise_the_activation(params, optimizer):
    step = {"sgd": 0.5, "momentum": 0.2}.get(optimizer, 2.0)
    r = _ascend(params, "block3_conv1", [0, 1, 2], KNOBS._replace(step=step), Method(optimizer=optimizer))
    live = r.history[:, -1] > 0
    assert live.any() and (r.history[live, -1] > r.history[live, 0]).all()


def test_schedules():
    lr = lambda name, t: float(optim.learning_rate(name, jnp.float32(2.0), jnp.float32(t), jnp.float32(100)))  # noqa: E731
    assert lr("constant", 50) == 2.0
    assert lr("cosine", 0) == pytest.approx(2.0) and lr("cosine", 100) == pytest.approx(0.0, abs=1e-6)
    assert lr("linear", 50) == pytest.approx(1.0)
    assert lr("warmup_cosine", 0) == pytest.approx(0.2) and lr("warmup_cosine", 9) == pytest.approx(2.0)
    assert lr("warmup_cosine", 55) == pytest.approx(1.0, abs=1e-5)


def test_objective_algebra_and_parsing():
    parsed = objectives.parse("channel + 0.5*neuron - 0.1*layer_l2")
    built = objectives.channel() + 0.5 * objectives.neuron() - 0.1 * objectives.layer_l2()
    assert parsed == built and built.needs_layer and not objectives.parse("2*channel").needs_layer
    penalised = objectives.parse("channel - 0.1*tv - 2*diversity")  # regularisers are terms of the same algebra
    assert penalised == objectives.channel() - 0.1 * objectives.tv() - 2 * objectives.diversity()
    assert penalised.needs_layer and penalised.uses("diversity") and not penalised.uses("blur")
    for bad in ("", "chanel", "channel +", "channel neuron", "0.5*"):
        with pytest.raises(JaxvizError):
            objectives.parse(bad)


def test_objective_terms_on_a_known_map():
    z = jnp.zeros((1, 5, 5, 2)).at[0, 2, 2, 1].set(10.0).at[0, 0, 0, 1].set(-5.0)
    images = jnp.full((1, 6, 6, 3), 127.5)  # mid-grey: flat, so no penalty

    def value(expr, pre=False):
        return float(objectives.value(objectives.parse(expr), objectives.Seen(images, z, 1, pre, False)))

    assert value("channel") == pytest.approx(10 / 25)
    assert value("channel", pre=True) == pytest.approx(5 / 25)
    assert value("neuron") == pytest.approx(10.0)
    assert value("layer_l2") == pytest.approx(100 / 50)
    assert value("channel + 2*neuron") == pytest.approx(10 / 25 + 20)
    assert value("channel - 5*tv - 5*l2 - 5*blur") == pytest.approx(10 / 25)


def test_revive_gives_a_silent_filter_a_gradient():
    z0 = -jnp.ones((1, 4, 4, 1))
    obj = objectives.channel()
    images = jnp.zeros((1, 8, 8, 3))

    def value(z, revive):
        return objectives.value(obj, objectives.Seen(images, z, 0, False, revive))

    g_plain = jax.grad(lambda z: value(z, False))(z0)
    g_revive = jax.grad(lambda z: value(z, True))(z0)
    assert float(jnp.abs(g_plain).sum()) == 0 and float(g_revive.sum()) > 0
    assert float(value(z0, True)) == 0  # the value is still the post-ReLU one


@pytest.mark.slow
def test_revive_makes_deep_filters_fire_from_grey(params, real_weights):
    if not real_weights:
        pytest.skip(depends_on_weights("ImageNet's shut every block5_conv3 ReLU on grey, random ones do not"))
    knobs = Knobs(steps=8)
    plain = _ascend(params, "block5_conv3", [0, 1], knobs, Method(revive=False), size=32)
    revived = _ascend(params, "block5_conv3", [0, 1], knobs, size=32)
    assert (plain.history == 0).all()  # grey + noise: every block5_conv3 ReLU is shut, no gradient
    assert (revived.history[:, -1] > 0).all()


def test_regularisers_and_diversity(params):
    knobs = Knobs(steps=8)
    free = _ascend(params, "block2_conv1", [3], knobs)
    smooth = _ascend(
        params, "block2_conv1", [3], knobs, Method(objective=objectives.channel() - 3000.0 * objectives.tv())
    )
    tv = lambda im: float(objectives.total_variation(jnp.asarray(im)[None]))  # noqa: E731
    assert tv(smooth.images[0]) < tv(free.images[0])
    two = _ascend(
        params,
        "block2_conv1",
        [3, 4],
        knobs,
        Method(images=2, objective=objectives.channel() - 50.0 * objectives.diversity()),
    )
    assert two.all_images.shape == (2, 2, 40, 40, 3)
    assert not np.allclose(two.all_images[0, 0], two.all_images[0, 1])


def test_upscaling_stages(params):
    assert stage_sizes(412, 9, 1.2)[0] == 79 and stage_sizes(412, 9, 1.2)[-1] == 343
    assert stage_sizes(40, 3, 1.0) == [40, 40, 40]
    with traces() as seen:
        r = _ascend(params, "block2_conv1", [0, 1], Knobs(steps=3), size=48, spec={"stages": 3, "upscale": 1.2})
    assert r.images.shape == (2, 48, 48, 3) and r.history.shape == (2, 10)
    compiled = sorted(int(n.rsplit("_", 1)[1][:-2]) for n in seen if n.startswith("ascent_step_block2_conv1_"))
    assert compiled == stage_sizes(48, 3, 1.2)  # one program per stage size, each traced once


@pytest.mark.slow
def test_one_compile_per_shape_with_transforms_and_optimiser(params):
    with traces() as seen:
        for step in (0.05, 0.1):
            _ascend(params, "block2_conv2", [0, 1], LUCID_KNOBS._replace(step=step), LUCID, size=32)
    assert seen[ascent.step_name("block2_conv2", 32)] == 1


def _cfg(**updates):
    return config_lib.apply(config_lib.Config(), updates)


@pytest.mark.parametrize(
    "updates, needle",
    [
        ({"ascent.optimizer": "adagrad"}, "ascent.optimizer must be one of normalized"),
        ({"param.kind": "cppn"}, "param.kind must be one of pixels, fourier"),
        ({"ascent.schedule": "step"}, "ascent.schedule must be one of"),
        ({"output.display": "gamma"}, "output.display must be one of"),
        ({"ascent.upscale": 0.5}, "ascent.upscale must be 1 or more"),
        ({"objective.images": 0}, "objective.images must be greater than 0"),
    ],
)
def test_bad_names_fail_in_config(updates, needle):
    with pytest.raises(JaxvizError, match=needle):
        _cfg(**updates)


@pytest.mark.parametrize(
    "updates, needle",
    [
        ({"ascent.transforms": ("twirl:3",)}, "unknown transform 'twirl'"),
        ({"ascent.transforms": ("jitter:-2",)}, "one whole number of pixels"),
        ({"ascent.transforms": ("scale:9",)}, "scale factors must lie in 0.25..4"),
        ({"ascent.transforms": ("rotate:x",)}, "rotate takes numbers"),
        ({"ascent.transforms": ("jitter:200",), "ascent.size": 64}, "crop the 64 px image below 8 px"),
        ({"objective.expr": "chanel"}, "unknown objective term 'chanel'"),
        ({"objective.diversity": 1.0}, "needs objective.images >= 2"),
        ({"ascent.stages": 3, "ascent.upscale": 1.2, "param.kind": "fourier"}, "needs param.kind"),
    ],
)
def test_bad_methods_fail_before_any_compile(updates, needle):
    with pytest.raises(JaxvizError, match=needle):
        prepare(_cfg(**updates))
