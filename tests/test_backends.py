"""What the step does by backend: every choice of loop, target and conv gives the same images; properties of
the compiled program (XLA's optimised HLO) that matter on accelerators are checked here, on CPU."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import traces

from jaxviz import ascent
from jaxviz.ascent import Knobs, Method, Spec

KNOBS = Knobs(steps=6)
CPU = {"loop": "host", "target": "channel", "conv": "patches"}


@pytest.mark.parametrize("layer", ["block1_conv2", "block3_conv1", "block5_conv3"])
def test_every_choice_gives_the_same_images(params, layer):
    size = 32 if layer.startswith("block5") else 40
    base = ascent.LayerAscent(params, Spec(layer, size, **CPU), KNOBS)([0, 3])
    for choice in ({"loop": "device"}, {"target": "layer"}, {"conv": "xla"}, ascent.spec.ACCELERATOR_CHOICES):
        r = ascent.LayerAscent(params, Spec(layer, size, **{**CPU, **choice}), KNOBS)([0, 3])
        # Tolerance stated: float rounding differs with the program's shape, and six normalised steps carry it
        # on (a ReLU near zero may flip): measured with the ImageNet weights at most 0.05 of 255 per pixel, with
        # random weights up to 1.6 at a few pixels; so: every pixel within 3 of 255, the mean within 0.1, the
        # activations within 2% (random weights: 0.65% after 6 steps).
        diff = np.abs(r.images - base.images)
        assert diff.max() < 3.0 and diff.mean() < 0.1, (choice, diff.max(), diff.mean())
        np.testing.assert_allclose(r.history, base.history, rtol=2e-2, atol=1e-3 * np.abs(base.history).max())


def test_auto_is_chosen_by_backend():
    spec = Spec("block3_conv1", 32)
    assert (spec.loop, spec.target, spec.conv) == ("auto", "auto", "auto")
    cpu, gpu = spec.for_backend("cpu"), spec.for_backend("gpu")
    assert (cpu.loop, cpu.target, cpu.conv) == ("host", "channel", "patches")
    assert (gpu.loop, gpu.target, gpu.conv) == ("device", "layer", "xla")
    assert Spec("block3_conv1", 32, conv="patches").for_backend("tpu").conv == "patches"  # a made choice stays


def _hlo(params, spec: Spec, chunk: int = 2) -> str:
    return ascent.LayerAscent(params, spec, KNOBS).lower(chunk).compile().as_text()


@pytest.mark.parametrize("optimizer", ["normalized", "sgd", "momentum", "adam", "rmsprop"])
def test_the_compiled_step_has_no_conditional(params, optimizer):
    # A conditional's predicate is copied to the host every step on XLA:GPU; the normaliser is selected instead.
    hlo = _hlo(params, Spec("block1_conv2", 24, method=Method(optimizer=optimizer)))
    assert not re.search(r"\bconditional\(", hlo), optimizer


def test_layer_mode_has_no_grouped_convolution(params):
    groups = lambda hlo: [int(g) for g in re.findall(r"feature_group_count=(\d+)", hlo)]  # noqa: E731
    channel = _hlo(params, Spec("block2_conv2", 40, target="channel", conv="xla"))
    layer = _hlo(params, Spec("block2_conv2", 40, target="layer", conv="xla"))
    assert max(groups(channel), default=1) == 2  # under vmap the filter's own channel is a grouped conv
    assert "convolution(" in layer and max(groups(layer), default=1) == 1  # XLA prints no count of 1


def test_the_device_loop_runs_segments_and_reports_every_step(params):
    seen_steps: list[int] = []
    spec = Spec("block1_conv2", 28, loop="device")
    engine = ascent.LayerAscent(params, spec, KNOBS, segment=4)
    with traces() as compiled:
        r = engine([1, 2], on_step=lambda s, act, images: seen_steps.append(s))
    assert seen_steps == list(range(1, KNOBS.steps + 1))
    name = ascent.step_name("block1_conv2", 28, "segment")
    assert compiled[name] == 2  # segments of 4 and 2 steps: one program each, no per-step dispatch
    host = ascent.LayerAscent(params, Spec("block1_conv2", 28, loop="host"), KNOBS)([1, 2])
    np.testing.assert_allclose(r.history, host.history, rtol=1e-5, atol=1e-5)
