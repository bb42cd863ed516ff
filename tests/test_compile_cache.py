"""Compile time is part of the job: a second run of the same programs, in a new process, compiles nothing."""

from __future__ import annotations

import json

from conftest import script

ARGS = ["--layers", "block1_conv1,block2_conv1", "--filters", "0:2", "--size", "24", "--steps", "2"]
LEAN = ["--set", "output.quality=false", "--set", "output.atlas=false", "--set", "output.progress=false"]


def test_a_second_identical_run_compiles_nothing(tmp_path, weights_path):
    env = {"JAXVIZ_COMPILE_CACHE": str(tmp_path / "xla")}  # a cache of its own: cold at first
    layers = []
    for name in ("first", "second"):  # another run directory: the same programs, nothing to resume
        p = script("visualize", *ARGS, *LEAN, "--weights", str(weights_path), "--out", str(tmp_path / name), env=env)
        assert p.returncode == 0, p.stderr
        layers.append(json.loads((tmp_path / name / "metrics.json").read_text())["layers"])
    first, second = layers
    assert all(s["compile_cache_misses"] > 0 for s in first.values())  # compiled, and stored
    assert all(s["compile_cache_misses"] == 0 for s in second.values())  # every program came from the cache
    assert any((tmp_path / "xla").iterdir())
    p = script(
        "visualize",
        *ARGS,
        *LEAN,
        "--weights",
        str(weights_path),
        "--out",
        str(tmp_path / "off"),
        env={"JAXVIZ_COMPILE_CACHE": "off"},
    )
    assert p.returncode == 0, p.stderr
    off = json.loads((tmp_path / "off" / "metrics.json").read_text())["layers"]
    assert all(s["compile_cache_misses"] == 0 and s["compile_seconds"] > 0 for s in off.values())  # off: compiles


def test_the_cache_directory_follows_the_setting(tmp_path, monkeypatch):
    from jaxviz.runtime.compile_cache import directory

    monkeypatch.delenv("JAXVIZ_COMPILE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert directory("auto") == tmp_path / "xdg" / "jaxviz" / "xla"
    monkeypatch.setenv("JAXVIZ_COMPILE_CACHE", "off")
    assert directory("auto") is None
    assert directory(str(tmp_path / "here")) == tmp_path / "here" and directory("off") is None
