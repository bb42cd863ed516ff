"""Every device: the filter axis sharded over 1, 2 or 4 devices gives the same images; bf16; no recompiles."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_main_refuses, traces

from jaxviz import ascent
from jaxviz.ascent import Knobs, Spec
from jaxviz.runtime.device_fit import round_up

KNOBS = Knobs(steps=4)

# Runs in a fresh interpreter: the forced host device count must be set before JAX starts.
_SHARDED = """
import json, sys
import jax, numpy as np
from jaxviz import ascent
from jaxviz.model.weights import load_params
params = load_params(sys.argv[1])
out = {"devices": len(jax.local_devices())}
for layer, filters in (("block1_conv2", [0, 5, 9, 13, 21]), ("block3_conv1", [2, 7, 11])):
    for n in (1, 2, 4):
        mesh = ascent.filter_mesh(jax.local_devices()[:n])
        engine = ascent.LayerAscent(params, ascent.Spec(layer, 32), ascent.Knobs(steps=4), mesh)
        r = engine(filters)
        out[f"{layer}/{n}"] = {"images": r.images.tolist(), "history": r.history.tolist(),
                               "sharding": str(engine.sharding.spec), "mesh": int(engine.mesh.devices.size)}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_images_equal_on_one_two_and_four_devices(weights_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    p = subprocess.run(
        [sys.executable, "-c", _SHARDED, str(weights_path)], capture_output=True, text=True, env=env, timeout=300
    )
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout.strip().splitlines()[-1])
    assert out["devices"] == 4
    for layer in ("block1_conv2", "block3_conv1"):
        one = np.asarray(out[f"{layer}/1"]["images"])
        for n in (2, 4):
            assert out[f"{layer}/{n}"]["mesh"] == n
            np.testing.assert_allclose(np.asarray(out[f"{layer}/{n}"]["images"]), one, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(out[f"{layer}/{n}"]["history"], out[f"{layer}/1"]["history"], rtol=1e-5)


def test_chunk_is_padded_to_a_multiple_of_the_devices():
    assert round_up(5, 4) == 8 and round_up(8, 4) == 8 and round_up(1, 1) == 1
    for n_dev in (1, 2, 4):
        for n in (1, 3, 64, 130):
            c = ascent.auto_chunk("block3_conv1", 64, n, n_dev)
            assert c % n_dev == 0 and c >= 1


def test_step_size_normaliser_and_seed_do_not_recompile(params):
    with traces() as seen:
        for step, normalize, seed in ((1.0, "rms", 0), (0.5, "rms", 1), (2.0, "l2", 2), (3.0, "max", 0)):
            knobs = Knobs(step=step, normalizer=normalize, seed=seed, steps=4)
            ascent.LayerAscent(params, Spec("block2_conv1", 36), knobs)([1, 2])
    assert seen[ascent.step_name("block2_conv1", 36)] == 1


def test_traced_normaliser_matches_the_named_one():
    import jax.numpy as jnp

    g = jnp.asarray(np.random.default_rng(0).normal(size=(8, 8, 3)), jnp.float32)
    for i, name in enumerate(("rms", "l2", "max")):
        np.testing.assert_allclose(ascent.normalize_gradient(g, jnp.int32(i)), ascent.normalize_gradient(g, name))


def test_bfloat16_activations_rise_and_stay_close_to_float32(params):
    filters = [0, 1, 2, 3]
    f32 = ascent.LayerAscent(params, Spec("block3_conv1", 32), KNOBS)(filters)
    bf16 = ascent.LayerAscent(params, Spec("block3_conv1", 32, precision="bfloat16"), KNOBS)(filters)
    assert bf16.images.dtype == np.float32  # the image and its update stay float32
    assert (bf16.nan_step == -1).all()
    live = f32.history[:, -1] > 0
    assert live.any()
    assert (bf16.history[live, -1] > bf16.history[live, 0]).all()
    # bfloat16 has an 8-bit mantissa: the start activations agree to a few percent of their scale.
    scale = np.abs(f32.history[:, 0]).max()
    assert np.abs(bf16.history[:, 0] - f32.history[:, 0]).max() < 0.05 * scale
    np.testing.assert_allclose(bf16.history[live, -1], f32.history[live, -1], rtol=0.05)


def test_the_one_rule_that_fits_work_to_a_device():
    from jaxviz.runtime.device_fit import next_power_of_two, per_device

    assert per_device(1000, 100, 64) == 8  # 10 fit: the largest power of two of them
    assert per_device(1000, 100, 4) == 4 and per_device(50, 100, 64) == 1  # most wins; at least one
    assert per_device(50, 100, 64, least=8) == 8
    assert [next_power_of_two(n) for n in (0, 1, 2, 3, 5, 8, 9)] == [1, 1, 2, 4, 8, 8, 16]


def test_a_size_no_memory_holds_is_refused_before_anything_runs(tmp_path, weights_path, capsys):
    from jaxviz.cli.visualize import main

    argv = ["--layers", "block1_conv1", "--filters", "0:1", "--size", "100000", "--weights", str(weights_path),
            "--out", str(tmp_path / "r")]  # fmt: skip
    assert_main_refuses(main, argv, capsys, "one filter of block1_conv1 at 100000 px needs about", "GiB")
    assert not (tmp_path / "r").exists()
