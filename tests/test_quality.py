"""Image quality: activation as displayed, robustness under perturbation, selectivity within a layer."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import depends_on_weights

from jaxviz import quality
from jaxviz.ascent import Knobs, LayerAscent, Spec, layer_params
from jaxviz.ascent.records import DEAD_EPS
from jaxviz.ascent.transforms import random_affine
from jaxviz.model.architecture import CONV_WIDTHS
from jaxviz.model.vgg import VGG as VGG16
from jaxviz.show.display import deprocess

LAYER = "block2_conv1"
IDENTITY = {"max_shift": 0, "scales": (1.0, 1.0), "degrees": 0.0}


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (4, 40, 40, 3), dtype=np.uint8)


def channel_means(params, images: np.ndarray) -> np.ndarray:
    """(N, C): every channel's mean activation on each image (measure's means; no perturbed copies)."""
    return quality.measure(params, LAYER, images, [0] * len(images), copies=0)[0]


def robustness(params, images: np.ndarray, filters, **options) -> np.ndarray:
    """(N,): measure's robustness of image i for filters[i]."""
    return quality.measure(params, LAYER, images, filters, **options)[1]


@pytest.fixture(scope="module")
def means(params, images) -> np.ndarray:
    return channel_means(params, images)


@pytest.fixture(scope="module")
def live(means) -> list[int]:
    """Per image, its most active filter (so every unperturbed activation is > 0)."""
    return [int(f) for f in means.argmax(axis=1)]


def test_channel_means_equal_the_model_output(params, images, means):
    direct = VGG16(upto=LAYER).apply({"params": layer_params(params, LAYER)}, images.astype(np.float32))
    assert means.shape == (len(images), CONV_WIDTHS[LAYER]) and means.dtype == np.float32
    np.testing.assert_allclose(means, np.asarray(direct).mean(axis=(1, 2)), rtol=1e-5, atol=1e-5)


@contextlib.contextmanager
def compiles() -> Iterator[list[str]]:
    """The XLA compiles made inside the block (jax's own compile events: whatever in jaxviz compiles)."""
    seen: list[str] = []

    def listener(event: str, seconds: float, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def test_one_compile_per_layer_and_shape(params, images, means, live):
    # Other tests may have compiled other image sizes already: count what these calls add.
    with compiles() as means_compiles:
        channel_means(params, images[:1])
        channel_means(params, images[1:])
    assert len(means_compiles) <= 1
    robustness(params, images[:1], live[:1], copies=1)
    with compiles() as robustness_compiles:
        for copies in (1, 2, 3):
            robustness(params, images[:copies], live[:copies], copies=copies)
    assert robustness_compiles == []
    assert channel_means(params, images[:0]).shape == (0, CONV_WIDTHS[LAYER])


def test_compiles_stay_bounded_across_layers_and_filter_counts(params):
    # A size no other test uses: every compile these calls need is counted here.
    rng = np.random.default_rng(1)
    tiles = rng.integers(0, 256, (5, 44, 44, 3), dtype=np.uint8)
    with compiles() as first:
        quality.measure(params, "block1_conv2", tiles[:3], [0, 1, 2], copies=2)
        quality.measure(params, "block2_conv1", tiles, [0, 1, 2, 3, 4], copies=2)
    # The copies (shared by the layers) and one pass per layer; not one per filter, copy or dispatch.
    assert len(first) <= 3, first
    with compiles() as again:
        quality.measure(params, "block1_conv2", tiles, [5, 6, 7, 8, 9], copies=2)
        quality.measure(params, "block2_conv1", tiles[:2], [5, 6], copies=8)
    assert again == []


def test_batched_measure_equals_the_per_image_reference(params, images, means, live, monkeypatch):
    """The one-pass batches (chunks padded, copies in several groups) against the former formula, one
    image at a time: means at rtol 1e-5 and robustness at rtol 1e-4 (float32; batches of other sizes
    may sum in another order)."""
    monkeypatch.setattr(quality.passes, "CPU_CHUNK", 2)  # 3 filters: a padded chunk even on XLA:CPU
    filters = live[:2] + [int(np.argsort(means[2])[-2])]  # live, and not all the same filter
    copies, seed, shift = quality.COPIES + 2, 5, 40 // 16
    got, robust = quality.measure(params, LAYER, images[:3], filters, copies=copies, seed=seed)
    lp = layer_params(params, LAYER)
    forward = jax.jit(lambda x, c: VGG16(upto=LAYER).apply({"params": lp}, x[None], c).mean())
    full = jax.jit(lambda x: VGG16(upto=LAYER).apply({"params": lp}, x[None])[0].mean(axis=(0, 1)))
    perturb = jax.jit(lambda key, image: random_affine(key, image, shift, quality.SCALES, quality.DEGREES))
    for i, f in enumerate(filters):
        image = jnp.asarray(images[i], jnp.float32)
        np.testing.assert_allclose(got[i], full(image), rtol=1e-5, atol=1e-5)
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), quality.KEY_TAG), f)
        per_copy = [forward(perturb(jax.random.fold_in(key, c), image), f) for c in range(copies)]
        assert robust[i] == pytest.approx(np.mean(per_copy) / float(full(image)[f]), rel=1e-4)


def test_accelerator_chunks_are_padded_powers_of_two(params, images, live, monkeypatch):
    expected = quality.measure(params, LAYER, images[:3], live[:3], copies=2)
    monkeypatch.setattr(quality.passes, "on_cpu", lambda: False)  # the accelerators' chunking, run here
    assert [quality.chunk_size(LAYER, 40, n) for n in (1, 3, 8, 9)] == [8, 8, 8, 16]
    big = quality.chunk_size(LAYER, 40, 1000)  # also bounded by the device's memory
    assert big <= quality.MAX_CHUNK and big & (big - 1) == 0
    got = quality.measure(params, LAYER, images[:3], live[:3], copies=2)  # 3 filters padded to 8
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-4)


def test_evaluate_reports_the_displayed_activation(params, images, means, live):
    rows = quality.evaluate(params, LAYER, images, live, copies=2)
    assert [r["display_activation"] for r in rows] == pytest.approx(means[np.arange(4), live].tolist(), rel=1e-6)
    assert all(set(r) == {"display_activation", "robustness", "selective"} for r in rows)
    assert [r["selective"] for r in rows] == quality.selectivity(means, live).tolist()


def test_identity_perturbations_give_ratio_one(params, images, live):
    r = robustness(params, images, live, copies=2, **IDENTITY)
    np.testing.assert_allclose(r, 1.0, rtol=1e-4)


def test_robustness_matches_a_direct_computation(params, images, live):
    seed, copies, shift = 3, 3, 40 // 16  # default max_shift: 1/16 of the side
    got = robustness(params, images[:2], live[:2], copies=copies, seed=seed)
    lp = layer_params(params, LAYER)
    forward = jax.jit(lambda x: VGG16(upto=LAYER).apply({"params": lp}, x))
    perturb = jax.jit(lambda key, image: random_affine(key, image, shift, (0.9, 1.1), 10.0))
    for i in range(2):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), quality.KEY_TAG), live[i])
        image = jnp.asarray(images[i], jnp.float32)
        copies_ = jnp.stack([perturb(jax.random.fold_in(key, c), image) for c in range(copies)])
        perturbed = np.asarray(forward(copies_))[..., live[i]].mean()
        base = np.asarray(forward(image[None]))[..., live[i]].mean()
        assert got[i] == pytest.approx(perturbed / base, rel=1e-4)


def test_robustness_is_deterministic_and_independent_of_batching(params, images, live):
    whole = robustness(params, images, live, copies=2, seed=1)
    again = robustness(params, images, live, copies=2, seed=1)
    reverse = robustness(params, images[::-1], live[::-1], copies=2, seed=1)[::-1]
    alone = [robustness(params, images[i : i + 1], live[i : i + 1], copies=2, seed=1)[0] for i in (2, 0)]
    np.testing.assert_array_equal(whole, again)
    np.testing.assert_allclose(reverse, whole, rtol=1e-6)
    np.testing.assert_allclose(alone, whole[[2, 0]], rtol=1e-6)
    other = robustness(params, images, live, copies=2, seed=2)
    assert not np.allclose(other, whole)


def test_robustness_of_a_filter_that_never_fires_is_zero(params, weights_path):
    black = np.zeros((1, 40, 40, 3), np.uint8)
    dead = np.flatnonzero(channel_means(params, black)[0] <= DEAD_EPS)
    if not dead.size:
        pytest.skip(depends_on_weights(f"with {weights_path.name} every {LAYER} filter fires on a black image"))
    assert robustness(params, black, [int(dead[0])], copies=2).tolist() == [0.0]


def test_selectivity_on_a_hand_made_matrix():
    means = np.array(
        [
            [5.0, 1.0, 0.0, 2.0],  # image 0, for filter 0
            [6.0, 3.0, 0.0, 2.0],  # image 1, for filter 1: beats image 0 on filter 1, but image 1 beats 0 on filter 0
            [1.0, 3.0, 0.0, 1.0],  # image 2, for filter 2: dead, ties at 0
            [0.0, 0.0, 0.0, 4.0],  # image 3, for filter 3
        ]
    )
    np.testing.assert_array_equal(quality.selectivity(means, [0, 1, 2, 3]), [False, False, False, True])
    np.testing.assert_array_equal(quality.selectivity(means[[0, 2, 3]], [0, 2, 3]), [True, False, True])
    np.testing.assert_array_equal(quality.selectivity(means[:1], [0]), [False])  # no rival: no evidence
    assert quality.selectivity(means, [0, 1, 2, 3]).dtype == bool


def test_one_image_leaves_selectivity_undefined(params, images, live):
    rows = quality.evaluate(params, LAYER, images[:1], live[:1], copies=2)
    assert rows[0]["selective"] is None
    assert quality.summarize(rows)["selectivity"] is None


def test_summarize():
    rows = [
        {"display_activation": 2.0, "robustness": 0.5, "selective": True},
        {"display_activation": 4.0, "robustness": 1.0, "selective": False},
        {"display_activation": 6.0, "robustness": 0.0, "selective": True},
    ]
    assert quality.summarize(rows) == pytest.approx(
        {"display_activation_mean": 4.0, "robustness_mean": 0.5, "selectivity": 2 / 3}
    )


def test_real_ascent_images_are_mostly_selective(params, real_weights):
    filters = [0, 1, 2, 3]
    result = LayerAscent(params, Spec("block3_conv1", 48), Knobs(steps=10))(filters)
    tiles = np.stack([deprocess(image) for image in result.images])
    rows = quality.evaluate(params, "block3_conv1", tiles, filters, copies=2)
    summary = quality.summarize(rows)
    assert all(np.isfinite(r["display_activation"]) and np.isfinite(r["robustness"]) for r in rows)
    assert summary["selectivity"] == pytest.approx(np.mean([r["selective"] for r in rows]))
    if real_weights:
        assert summary["selectivity"] >= 0.75, rows
