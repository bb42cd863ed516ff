"""scripts/benchmark.py: one layer, the whole network, bfloat16, several devices, and the bad-argument contract."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jax
import pytest
from conftest import script

from jaxviz.architecture import CONV_LAYERS

ROOT = Path(__file__).resolve().parents[1]
LAYER_FIELDS = {
    "layer",
    "filters",
    "chunk",
    "seconds",
    "filters_per_s",
    "image_steps_per_s",
    "achieved_gflops",
    "fraction_of_peak",
    "compile_s",
    "gflop_per_image_step",
}


def bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return script("benchmark", *args, env=env)


def one_json_line(p: subprocess.CompletedProcess) -> dict:
    assert p.returncode == 0, p.stderr
    (line,) = p.stdout.strip().splitlines()
    return json.loads(line)


def test_benchmark_prints_one_json_line(weights_path):
    args = ["--layer", "block1_conv2", "--size", "32", "--filters", "2", "--steps", "2", "--json"]
    r = one_json_line(bench(*args, "--weights", str(weights_path)))
    assert r["image_steps_per_s"] > 0 and r["per_filter_image_steps_per_s"] > 0
    assert r["compile_s"] > 0 and 0 < r["fraction_of_peak"]
    assert r["xla_gflop_per_image_step"] > 0 and r["batched_speedup"] > 0
    assert (r["devices"], r["precision"], r["filters"]) == (1, "float32", 2)


def test_network_reports_every_layer_and_totals_that_add_up(weights_path):
    from jaxviz.benchmark import format_network

    args = ["--network", "--size", "32", "--steps", "1", "--filters", "2", "--weights", str(weights_path), "--json"]
    r = one_json_line(bench(*args))
    rows, total = r["layers"], r["total"]
    assert [row["layer"] for row in rows] == list(CONV_LAYERS)
    for row in rows:
        assert LAYER_FIELDS <= row.keys()
        assert row["filters"] == 2 and row["seconds"] > 0 and row["compile_s"] > 0 and row["fraction_of_peak"] > 0
        assert row["filters_per_s"] == pytest.approx(2 / row["seconds"], rel=1e-3)
    seconds = sum(row["seconds"] for row in rows)
    assert total["filters"] == 26 and total["seconds"] == pytest.approx(seconds, abs=1e-5)
    assert total["filters_per_s"] == pytest.approx(26 / seconds, rel=1e-3)
    work = sum(row["achieved_gflops"] * row["seconds"] for row in rows)
    assert total["achieved_gflops"] == pytest.approx(work / seconds, rel=0.02)
    assert total["fraction_of_peak"] == pytest.approx(total["achieved_gflops"] / r["matmul_peak_gflops"], rel=0.02)
    assert total["compile_s"] == pytest.approx(sum(row["compile_s"] for row in rows), abs=0.02)
    assert (r["devices"], r["precision"], r["steps"]) == (1, "float32", 1)
    text = format_network(r).splitlines()
    assert len(text) == 2 + 13 + 1 and text[-1].split()[:2] == ["total", "26"]


def test_bfloat16_runs(weights_path):
    args = ["--layer", "block2_conv1", "--size", "32", "--filters", "2", "--steps", "1", "--no-per-filter"]
    r = one_json_line(bench(*args, "--precision", "bfloat16", "--weights", str(weights_path), "--json"))
    assert r["precision"] == "bfloat16" and r["image_steps_per_s"] > 0 and r["matmul_peak_gflops"] > 0


def test_several_devices_split_the_filters(weights_path):
    args = ["--layer", "block2_conv1", "--size", "32", "--filters", "3", "--steps", "1", "--weights", str(weights_path)]
    r = one_json_line(bench(*args, "--json", env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}))
    assert r["devices"] == 2 and r["chunk"] % 2 == 0 and r["device"].startswith("cpu")
    assert r["image_steps_per_s"] > 0 and r["per_filter_image_steps_per_s"] > 0  # the baseline: one device


def test_the_timed_loop_never_compiles(params):
    from jaxviz import ascent, timing

    compiled: list[str] = []

    def listen(event: str, duration: float, **kw) -> None:
        if (
            event.endswith("backend_compile_duration")
            and kw.get("fun_name") == f"jit({ascent.step_name('block1_conv2', 22)})"
        ):
            compiled.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        spec, knobs = ascent.Spec("block1_conv2", 22), ascent.Knobs(steps=2)  # a shape no other test compiles
        t = timing.time_layer(params, spec, knobs, [0, 1, 2], 2, jax.local_devices()[:1])
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert len(compiled) == 1  # the timed compile, reused by the warm-up and the timed chunks
    assert t["chunk"] == 2 and t["seconds"] > 0 and t["xla_gflop"] > 0


def one_line_error(argv: list[str], needle: str, capsys) -> None:
    from jaxviz.cli import benchmark_main

    with pytest.raises(SystemExit) as e:
        benchmark_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1, err
    assert err[0].startswith("jaxviz: error: ") and needle in err[0], err[0]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--layer", "block9_conv1"], "unknown layer 'block9_conv1'"),
        (["--layer", "all"], "unknown layer 'all'"),
        (["--layer", "block5_conv1", "--size", "8"], "--size 8 is too small for block5_conv1"),
        (["--network", "--size", "8"], "--size 8 is too small for block5_conv1"),
        (["--size", "0"], "--size must be 1 or more, got 0"),
        (["--steps", "-1"], "--steps must be 1 or more"),
        (["--filters", "0"], "--filters must be 1 or more"),
        (["--network", "--filters", "0"], "--filters must be 1 or more"),
        (["--chunk", "-1"], "--chunk must be 0 or more"),
        (["--devices", "0"], "--devices must be 1.."),
        (["--network", "--devices", "4096"], "--devices must be 1.."),
        (["--precision", "float16"], "--precision must be one of float32, bfloat16"),
        (["--network", "--layer", "block1_conv1"], "--network times every layer"),
    ],
)
def test_bad_arguments_fail_in_one_line(argv, needle, capsys):
    one_line_error(argv + ["--weights", "/nonexistent.h5"], needle, capsys)  # checked before any weights


def test_bad_arguments_through_the_script():
    p = bench("--network", "--layer", "block1_conv1", "--json")
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip().splitlines() == [
        "jaxviz: error: --network times every layer; drop --layer (or drop --network to time one layer)"
    ]
