"""Reproducibility recorded whole: what changes the numbers besides the settings is recorded, and a resume under
another value is refused by name instead of mixing two noise sources or arithmetics in one run directory."""

from __future__ import annotations

import json

from conftest import assert_one_line_error, script

from jaxviz.runtime.numerics import differences, environment

ARGS = ["--layers", "block1_conv1", "--size", "32", "--steps", "2", "--set", "output.atlas=false",
        "--set", "output.quality=false", "--set", "output.progress=false"]  # fmt: skip


def test_the_environment_names_what_changes_the_numbers():
    env = environment()
    for name in ("jax", "jaxlib", "backend", "device kind", "PRNG implementation", "threefry partitionable",
                 "default matmul precision", "64-bit mode", "XLA flags", "starting noise"):  # fmt: skip
        assert name in env and isinstance(env[name], str), name
    then = {**env, "threefry partitionable": "False"}
    said = differences(then, env)
    assert said == [f"threefry partitionable: 'False' -> {env['threefry partitionable']!r} "
                    "(to match: JAX_THREEFRY_PARTITIONABLE=False)"]  # fmt: skip
    assert differences({"jax": env["jax"]}, env) == []  # not recorded then: no difference


def test_a_resume_under_another_prng_mode_is_refused_by_name(tmp_path, weights_path):
    out = tmp_path / "r"
    first = script("visualize", *ARGS, "--filters", "0:2", "--weights", str(weights_path), "--out", str(out))
    assert first.returncode == 0, first.stderr
    recorded = json.loads((out / "state" / "settings.json").read_text())["environment"]
    assert recorded == environment()  # the same JAX, in a new process: the same numbers
    before = sorted(p.name for p in out.rglob("*"))
    metrics = (out / "metrics.json").read_bytes()
    flipped = "False" if recorded["threefry partitionable"] == "True" else "True"
    p = script("visualize", *ARGS, "--filters", "0:4", "--weights", str(weights_path), "--out", str(out),
               env={"JAX_THREEFRY_PARTITIONABLE": flipped})  # fmt: skip
    assert_one_line_error(p.returncode, p.stderr, "other numerics", "threefry partitionable", "starting noise",
                          f"JAX_THREEFRY_PARTITIONABLE={recorded['threefry partitionable']}")  # fmt: skip
    assert sorted(p.name for p in out.rglob("*")) == before and (out / "metrics.json").read_bytes() == metrics
    again = script("visualize", *ARGS, "--filters", "0:4", "--weights", str(weights_path), "--out", str(out))
    assert again.returncode == 0, again.stderr  # under the recorded mode it extends the run


def test_a_directory_from_before_the_environment_was_recorded_resumes_and_records_it(tmp_path, weights_path):
    out = tmp_path / "r"
    assert (
        script("visualize", *ARGS, "--filters", "0:2", "--weights", str(weights_path), "--out", str(out)).returncode
        == 0
    )
    path = out / "state" / "settings.json"
    old = json.loads(path.read_text())
    del old["environment"]
    path.write_text(json.dumps(old))
    p = script("visualize", *ARGS, "--filters", "0:3", "--weights", str(weights_path), "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(path.read_text())["environment"] == environment()


def test_examples_state_refuses_other_numerics(tmp_path):
    import pytest

    from jaxviz.dataset_examples.resume_state import check_settings
    from jaxviz.errors import JaxvizError

    now = {"size": 224, "numerics": environment()}
    check_settings(tmp_path / "state.npz", {"size": 224}, now)  # a state from before: resumes
    then = {"size": 224, "numerics": {**environment(), "backend": "gpu"}}
    with pytest.raises(JaxvizError, match="other numerics .*backend: 'gpu' -> "):
        check_settings(tmp_path / "state.npz", then, now)
