"""scripts/benchmark.py: one layer, the whole network (streamed per layer), bfloat16, several devices, the auto
choices as flags, out-of-memory halving, the datasheet peaks, and the bad-argument contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import jax
import pytest
from conftest import assert_main_refuses, script

from jaxviz.ascent.spec import CPU_CHOICES
from jaxviz.bench import ascent_speed, timing
from jaxviz.bench.ascent_speed import Settings
from jaxviz.cli import benchmark as cli_benchmark
from jaxviz.model.architecture import CONV_LAYERS, gflop_per_step

PEAK_SIDE = 256  # a small matmul for the peak: 0.1 s, where the CPU default (2048) takes 2-7 s a report
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
    "xla_gflop_per_image_step",
    "executed_gflops",
    "executed_fraction_of_peak",
    "fraction_of_datasheet_peak",
    "retries",
    "choices",
}


def bench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return script("benchmark", *args, env=env)


# jaxviz-benchmark in an interpreter of its own, its matmul peak measured at PEAK_SIDE.
_QUICK_PEAK = """
import sys
from jaxviz.bench import timing
real = timing.matmul_peak_gflops
timing.matmul_peak_gflops = lambda precision, device=None, n=None: real(precision, device, int(sys.argv[1]))
from jaxviz.cli.benchmark import main
main(sys.argv[2:])
"""


def bench_quick_peak(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The command line in a new interpreter, as `bench`, with its peak on a small matmul."""
    full = {**os.environ, "JAXVIZ_NO_DOWNLOAD": "1", **(env or {})}
    cmd = [sys.executable, "-c", _QUICK_PEAK, str(PEAK_SIDE), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=300)


def one_json_line(p: subprocess.CompletedProcess) -> dict:
    assert p.returncode == 0, p.stderr
    (line,) = p.stdout.strip().splitlines()
    return json.loads(line)


@pytest.fixture
def quick_peak(monkeypatch):
    """The matmul peak measured on a small matrix (the reports' arithmetic is the same)."""
    real = timing.matmul_peak_gflops
    monkeypatch.setattr(
        timing, "matmul_peak_gflops", lambda precision, device=None, n=None: real(precision, device, PEAK_SIDE)
    )


def run_main(argv: list[str], capsys) -> list[str]:
    """jaxviz-benchmark in this process: its stdout lines (exit 0 asserted)."""
    with pytest.raises(SystemExit) as e:
        cli_benchmark.main(argv)
    out, err = capsys.readouterr()
    assert e.value.code == 0, err
    return out.strip().splitlines()


def fake_time_layer(on_call=None):
    """A stand-in for timing.time_layer: layer i of the network (in call order) took 0.01 * (i + 1) s, compiled
    in 0.5 s, in chunks of 2, XLA counting 1.2x the analytic FLOPs. `on_call(spec)` runs as each layer starts."""
    calls = []

    def time_layer(params, spec, knobs, filters, chunk, devices, keep=0) -> dict:
        if on_call is not None:
            on_call(spec)
        calls.append(spec.layer)
        return {
            "chunk": 2,
            "retries": [],
            "seconds": 0.01 * len(calls),
            "compile_s": 0.5,
            "xla_gflop": 1.2 * gflop_per_step(spec.layer, spec.size),
            "xla_gbytes": 0.01,
            "executed_images": -(-len(filters) // 2) * 2,
            "choices": dict(CPU_CHOICES),
        }

    return time_layer


def test_benchmark_prints_one_json_line(weights_path):
    args = ["--layer", "block1_conv2", "--size", "32", "--filters", "2", "--steps", "2", "--json"]
    r = one_json_line(bench_quick_peak(*args, "--weights", str(weights_path)))
    assert r["image_steps_per_s"] > 0 and r["per_filter_image_steps_per_s"] > 0
    assert r["compile_s"] > 0 and 0 < r["fraction_of_peak"]
    assert r["xla_gflop_per_image_step"] > 0 and r["batched_speedup"] > 0
    assert (r["devices"], r["precision"], r["filters"]) == (1, "float32", 2)
    assert r["choices"] == CPU_CHOICES and r["retries"] == []  # auto, made for the CPU
    # executed work is XLA's count of what ran (padding in): the chunk is 1 on CPU, so 2 filters x 2 steps
    executed = 2 * 2 * r["xla_gflop_per_image_step"] / r["seconds"]
    assert r["executed_gflops"] == pytest.approx(executed, rel=0.01, abs=0.1)
    assert r["executed_fraction_of_peak"] == pytest.approx(r["executed_gflops"] / r["matmul_peak_gflops"], rel=0.02)
    assert r["datasheet_peak_gflops"] is None and r["fraction_of_datasheet_peak"] is None  # no datasheet for a CPU


def test_choice_flags_go_into_the_spec(weights_path, quick_peak, capsys):
    args = ["--layer", "block2_conv1", "--size", "32", "--filters", "2", "--steps", "2", "--no-per-filter"]
    flags = ["--loop", "device", "--target", "layer", "--conv", "xla"]
    (line,) = run_main([*args, *flags, "--weights", str(weights_path), "--json"], capsys)
    r = json.loads(line)
    assert r["choices"] == {"loop": "device", "target": "layer", "conv": "xla"}
    assert r["image_steps_per_s"] > 0 and r["xla_gflop_per_image_step"] > 0


def test_network_streams_every_layer_and_totals_that_add_up(weights_path, quick_peak, monkeypatch, capsys):
    # The timings are faked (the real loop is timed in test_network_stops_before_a_layer_...): what is checked is
    # what the network report makes of them, for all 13 layers.
    monkeypatch.setattr(timing, "time_layer", fake_time_layer())
    args = ["--network", "--size", "32", "--steps", "1", "--filters", "2", "--weights", str(weights_path)]
    *lines, r = [json.loads(line) for line in run_main([*args, "--json"], capsys)]
    assert [line["mode"] for line in lines] == ["network_layer"] * 13 and r["mode"] == "network" and r["complete"]
    assert [line["layer"] for line in lines] == list(CONV_LAYERS)
    assert all(line["matmul_peak_gflops"] == r["matmul_peak_gflops"] for line in lines)  # each line stands alone
    rows, total = r["layers"], r["total"]
    assert rows == [{k: line[k] for k in row} for line, row in zip(lines, rows)]  # the streamed lines are the rows
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
    executed = sum(row["executed_gflops"] * row["seconds"] for row in rows)
    assert total["executed_gflops"] == pytest.approx(executed / seconds, rel=0.02)
    assert total["compile_s"] == pytest.approx(sum(row["compile_s"] for row in rows), abs=0.02)
    assert (r["devices"], r["precision"], r["steps"]) == (1, "float32", 1)
    text = run_main(args, capsys)
    assert len(text) == 2 + 13 + 1 and text[-1].split()[:2] == ["total", "26"]


def test_network_text_is_printed_layer_by_layer(weights_path, quick_peak, capsys, monkeypatch):
    printed: list[str] = []  # what was out as each layer started: the layers before it, printed already
    monkeypatch.setattr(
        timing, "time_layer", fake_time_layer(on_call=lambda spec: printed.append(capsys.readouterr().out))
    )
    rest = run_main(["--network", "--size", "32", "--filters", "1", "--weights", str(weights_path)], capsys)
    assert printed[0] == "" and len(printed) == 13
    first = printed[1].splitlines()
    assert len(first) == 3 and first[0].startswith("cpu:") and first[2].split()[0] == "block1_conv1"
    assert printed[2].split()[0] == "block1_conv2"
    assert rest[-2].split()[0] == "block5_conv3" and rest[-1].split()[:2] == ["total", "13"]


def test_network_stops_before_a_layer_that_would_pass_the_deadline(weights_path):
    seen: list[str] = []
    r = ascent_speed.network(
        Settings(32, 1, weights=str(weights_path), peak_side=PEAK_SIDE),
        1,
        layers=CONV_LAYERS[:3],
        deadline=time.monotonic(),  # already past: the first layer runs (nothing to judge by), then none
        on_layer=lambda header, row: seen.append(row["layer"]),
    )
    assert not r["complete"] and [row["layer"] for row in r["layers"]] == seen == [CONV_LAYERS[0]]
    assert r["total"]["filters"] == 1
    (row,) = r["layers"]  # the real loop, timed
    assert LAYER_FIELDS <= row.keys() and row["seconds"] > 0 and row["xla_gflop_per_image_step"] > 0
    assert row["filters_per_s"] == pytest.approx(1 / row["seconds"], rel=1e-3)


def test_bfloat16_runs(weights_path, quick_peak, capsys):
    args = ["--layer", "block2_conv1", "--size", "32", "--filters", "2", "--steps", "1", "--no-per-filter"]
    (line,) = run_main([*args, "--precision", "bfloat16", "--weights", str(weights_path), "--json"], capsys)
    r = json.loads(line)
    assert r["precision"] == "bfloat16" and r["image_steps_per_s"] > 0 and r["matmul_peak_gflops"] > 0


def test_several_devices_split_the_filters(weights_path):
    args = ["--layer", "block2_conv1", "--size", "32", "--filters", "3", "--steps", "1", "--weights", str(weights_path)]
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}  # read when JAX starts: its own interpreter
    r = one_json_line(bench_quick_peak(*args, "--json", env=env))
    assert r["devices"] == 2 and r["chunk"] % 2 == 0 and r["device"].startswith("cpu")
    assert r["image_steps_per_s"] > 0 and r["per_filter_image_steps_per_s"] > 0  # the baseline: one device


@pytest.mark.parametrize("loop, side", [("host", 22), ("device", 26)])  # shapes no other test compiles
def test_the_timed_loop_never_compiles(params, loop, side, monkeypatch):
    from jaxviz import ascent
    from jaxviz.bench import timing

    compiled: list[str] = []
    names = {f"jit({ascent.step_name('block1_conv2', side, kind)})" for kind in ("step", "segment", "measure")}

    def listen(event: str, duration: float, **kw) -> None:
        if event.endswith("backend_compile_duration") and kw.get("fun_name") in names:
            compiled.append(kw["fun_name"])

    started: list[int] = []  # compiles seen as each chunk run starts: the warm-up's, then the timed loop's
    real = ascent.chunks
    monkeypatch.setattr(ascent, "chunks", lambda *a, **kw: started.append(len(compiled)) or real(*a, **kw))
    spec, knobs = ascent.Spec("block1_conv2", side, loop=loop), ascent.Knobs(steps=2)
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        t = timing.time_layer(params, spec, knobs, [0, 1, 2], 2, jax.local_devices()[:1])
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert len(started) == 2 and started[-1] == len(compiled)  # nothing compiled once the timed chunks began
    assert compiled.count(f"jit({ascent.step_name('block1_conv2', side)})") == 1  # the cost analysis reuses it
    assert t["chunk"] == 2 and t["seconds"] > 0 and t["xla_gflop"] > 0 and t["choices"]["loop"] == loop
    assert t["executed_images"] == 4 and t["compile_s"] > 0


def test_out_of_memory_halves_the_chunk_before_timing(params, monkeypatch):
    from jaxviz import ascent
    from jaxviz.bench import timing

    call = ascent.LayerAscent.__call__

    def ceiling(self, filters, chunk=None, on_step=None):  # a device that holds 2 filters per chunk
        if (chunk or len(filters)) > 2:
            raise jax.errors.JaxRuntimeError(f"RESOURCE_EXHAUSTED: out of memory for {chunk} filters")
        return call(self, filters, chunk, on_step)

    monkeypatch.setattr(ascent.LayerAscent, "__call__", ceiling)
    spec, knobs = ascent.Spec("block1_conv2", 32), ascent.Knobs(steps=1)
    t = timing.time_layer(params, spec, knobs, list(range(5)), 8, jax.local_devices()[:1], keep=3)
    assert t["retries"] == [4, 2] and t["chunk"] == 2  # halved in the warm-up, before anything was timed
    assert t["executed_images"] == 6 and t["images"].shape == (3, 32, 32, 3)  # 3 chunks of 2 (the last padded)


@pytest.mark.parametrize(
    "kind, precision, tflops",
    [
        ("NVIDIA H200", "bfloat16", 989.5),  # 1,979 sparse, halved
        ("NVIDIA H200", "float32", 494.5),  # TF32 tensor cores: XLA's DEFAULT precision
        ("NVIDIA H100 80GB HBM3", "bfloat16", 989.5),  # the SXM part
        ("NVIDIA H100 PCIe", "bfloat16", 756.5),
        ("NVIDIA A100-SXM4-40GB", "float32", 156.0),
        ("NVIDIA A100 80GB PCIe", "bfloat16", 312.0),
        ("NVIDIA L4", "bfloat16", 121.0),
        ("TPU v4", "bfloat16", 275.0),
        ("TPU v5 lite", "bfloat16", 197.0),
        ("TPU v5", "bfloat16", 459.0),
        ("TPU v5p", "float32", 459.0),  # no float32 figure: XLA:TPU runs it as bf16 passes
        ("TPU v6 lite", "bfloat16", 918.0),
        ("NVIDIA H200 NVL", "bfloat16", None),  # other clocks: better none than a wrong one
        ("NVIDIA L40S", "bfloat16", None),
        ("cpu", "float32", None),
    ],
)
def test_datasheet_peaks_match_device_kinds(kind, precision, tflops):
    from jaxviz.bench import peaks

    found = peaks.dense_peak(kind, precision)
    assert (found and found[0] / 1e3) == (tflops and pytest.approx(tflops))
    if found:
        assert "datasheet" in found[1] or "documentation" in found[1]


def test_fraction_of_the_datasheet_peak_where_the_kind_is_known(weights_path, monkeypatch):
    from jaxviz.bench import peaks

    monkeypatch.setattr(peaks, "dense_peak", lambda kind, precision: (1000.0, "a test chip"))
    settings = Settings(32, 1, weights=str(weights_path), peak_side=PEAK_SIDE)
    r = ascent_speed.benchmark(settings, "block2_conv1", 3, per_filter=False, keep=2)
    assert r.pop("images").shape == (2, 32, 32, 3) and r["filters"] == 3  # the first filters' images, kept
    assert r["datasheet_peak_gflops"] == 1000.0 and r["datasheet_peak"] == "a test chip"
    assert r["fraction_of_datasheet_peak"] == pytest.approx(r["achieved_gflops"] / 1000, rel=0.01, abs=1e-4)
    assert r["executed_fraction_of_datasheet_peak"] == pytest.approx(r["executed_gflops"] / 1000, rel=0.01, abs=1e-4)


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
        (["--devices", "0"], "--devices must be 1 or more, got 0"),
        (["--precision", "float16"], "--precision must be one of float32, bfloat16"),
        (["--network", "--layer", "block1_conv1"], "--network times every layer"),
        (["--loop", "gpu"], "--loop must be one of auto, host, device; got 'gpu'"),
        (["--network", "--target", "all"], "--target must be one of auto, channel, layer; got 'all'"),
        (["--conv", "cudnn"], "--conv must be one of auto, xla, patches; got 'cudnn'"),
        (["--layer", ""], "unknown layer ''"),
        (["--repeat", "3"], "--repeat is for --examples DIR"),
        (["--network", "--peer", "x.py"], "--peer is for --examples DIR"),
        (["--rounds", "3"], "--rounds is for --examples DIR"),  # without a method to alternate with the default
        (["--preset", "nope"], "unknown preset 'nope'; valid presets: book, keras-example, maco, maco-fast"),
        (["--preset", "keras-example"], "keras-example preset's ascent.stages = 9 resizes the image between stages"),
        (["--preset", "maco-fast", "--rounds", "0"], "--rounds must be 1 or more, got 0"),
        (["--preset", "maco", "--set", "method.crop_side=4"], "method.crop_side must be at least 8 px"),
        (["--set", "param.kind=macco"], "param.kind must be one of pixels, fourier, maco"),
        (["--set", "crops=2"], "override 'crops=2' is not of the form section.key=value"),
    ],
)
def test_bad_arguments_fail_in_one_line(argv, needle, capsys):
    assert_main_refuses(cli_benchmark.main, argv + ["--weights", "/nonexistent.h5"], capsys, needle)  # before weights


def test_more_devices_than_there_are_fail_in_one_line(weights_path, capsys):
    argv = ["--network", "--devices", "4096", "--weights", str(weights_path)]
    assert_main_refuses(cli_benchmark.main, argv, capsys, "--devices must be 1..")


def test_bad_arguments_with_json_print_nothing_to_stdout(capsys):
    out, _ = assert_main_refuses(
        cli_benchmark.main,
        ["--network", "--layer", "block1_conv1", "--json"],
        capsys,
        "--network times every layer; drop --layer (or drop --network to time one layer)",
    )
    assert out == ""  # a reader of the JSON lines gets none


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--repeat", "0"], "--repeat must be 1 or more, got 0"),
        (["--rounds", "0"], "--rounds must be 1 or more, got 0"),
        (["--peer", "/nonexistent/tf_examples.py"], "--peer '/nonexistent/tf_examples.py' is not a file"),
        (["--conv", "patches"], "--conv must be one of auto, xla, winograd with --examples; got 'patches'"),
        (["--network"], "--network is the ascent's: drop it"),
        (["--steps", "9"], "--steps is the ascent's: drop it"),
        (["--size", "64", "--peer", __file__], "the peer crops 224 px"),
        (["--size", "0"], "--size must be 1 or more, got 0"),
        (["--size", "8"], "size 8 is too small for block5_conv1"),
        (["--batch", "-1"], "--batch must be 0 or more, got -1"),
        (["--precision", "bfloat16"], "--precision is the ascent's: drop it"),
        (["--loop", "host"], "--loop is the ascent's: drop it"),
        (["--preset", "maco"], "--preset is the ascent's: drop it"),
        (["--set", "method.crops=2"], "--set is the ascent's: drop it"),
    ],
)
def test_examples_benchmark_bad_arguments_fail_in_one_line(tmp_path, extra, needle, capsys):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "a.png")
    argv = ["--examples", str(tmp_path), *extra, "--weights", "/nonexistent.h5"]
    assert_main_refuses(cli_benchmark.main, argv, capsys, needle)
    assert_main_refuses(cli_benchmark.main, ["--examples", str(tmp_path / "none")], capsys, "does not exist")


def test_examples_benchmark_alternates_with_the_peer_and_divides_per_round(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from jaxviz.bench import examples_speed as be
    from jaxviz.cli.benchmark import main as benchmark_main
    from jaxviz.model.weights import Loaded

    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    for name in ("a.png", "sub/b.png"):
        Image.new("RGB", (8, 8)).save(photos / name)
    linked = be.repeated(photos, 3, tmp_path / "cycled")
    assert sorted(p.relative_to(linked).as_posix() for p in linked.rglob("*.png")) == [
        f"r{r:03d}/{n}" for r in range(3) for n in ("a.png", "sub/b.png")]  # fmt: skip
    calls = []  # the engine is faked (the real one compiles VGG16 at 224 px); the peer is a real subprocess
    monkeypatch.setattr(be, "engine", lambda folder, bench: calls.append(("engine", len(list(folder.rglob("*.png")))))
                        or {"images": 6, "images_per_s": 3.0, "seconds": 1.0})  # fmt: skip
    monkeypatch.setattr(be, "model_only", lambda folder, bench: {"model_images_per_s": 4.0, "batch": 8})
    peer = tmp_path / "peer.py"
    peer.write_text("import json, sys\nprint('noise')\nprint(json.dumps({'images': 6, 'images_per_s': 2.0, "
                    "'model_images_per_s': 2.5, 'argv': sys.argv[1:]}))\n")  # fmt: skip
    weights = tmp_path / "w.h5"
    weights.write_bytes(b"")
    monkeypatch.setattr("jaxviz.model.weights.find_and_load_file", lambda w, *a: Loaded(weights, "given", {}))
    with pytest.raises(SystemExit) as e:
        benchmark_main(["--examples", str(photos), "--repeat", "3", "--rounds", "2", "--peer", str(peer), "--json"])
    assert e.value.code == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("who") for r in rows] == ["jaxviz", "peer", "jaxviz", "peer", None]
    assert calls == [("engine", 6), ("engine", 6)]  # every cycled copy is a file of its own
    assert rows[1]["argv"][rows[1]["argv"].index("--repeat") + 1] == "3"
    assert rows[1]["argv"][rows[1]["argv"].index("--weights") + 1] == str(weights)
    assert rows[-1] == {"ratio_end_to_end": [1.5, 1.5]}
    failing = tmp_path / "bad.py"
    failing.write_text("import sys\nsys.exit('no tensorflow here')\n")
    argv = ["--examples", str(photos), "--peer", str(failing)]
    assert_main_refuses(cli_benchmark.main, argv, capsys, "no tensorflow here")


def test_the_benchmark_times_another_model(capsys):
    from jaxviz.cli.benchmark import main

    argv = ["--model", "vgg19", "--weights", "random", "--layer", "block3_conv4", "--filters", "2", "--size", "32"]
    argv += ["--steps", "2", "--json"]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--no-per-filter"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert e.value.code == 0 and report["model"] == "vgg19" and report["layer"] == "block3_conv4"
    assert report["image_steps_per_s"] > 0 and report["gflop_per_image_step"] > 0 and report["weights"] == "random"
    with pytest.raises(SystemExit) as e:
        main(["--model", "vgg21"])
    assert e.value.code == 2 and "unknown model 'vgg21'; valid models: vgg16, vgg19" in capsys.readouterr().err


@pytest.mark.slow  # 25 s on the shared CPU, MACO's compiles (step 9 s, final measure 6 s) the most of it
def test_a_preset_is_timed_beside_the_default_method(weights_path, quick_peak, capsys):
    """--preset maco-fast (its crops shrunk to the image's 32 px): the report describes the preset's method, the
    work per image-step is its 2 crops' (by the analytic count and by XLA's count of the compiled step, neither a
    timing), and the default method is timed in alternating rounds beside it."""
    from jaxviz.bench.speed_report import format_report

    args = ["--preset", "maco-fast", "--set", "method.crop_side=32", "--layer", "block1_conv2", "--size", "32"]
    (line,) = run_main([*args, "--filters", "2", "--steps", "2", "--weights", str(weights_path), "--json"], capsys)
    r = json.loads(line)
    assert (r["preset"], r["overrides"], r["size"], r["steps"], r["filters"]) == (
        "maco-fast", ["method.crop_side=32"], 32, 2, 2)  # fmt: skip
    want = {"param": "maco", "optimizer": "nadam", "crops": 2, "fed_side": 32, "noise": 10.2, "alpha": True}
    assert {k: r["method"][k] for k in want} == want
    d = r["default"]
    assert (d["method"]["param"], d["method"]["optimizer"], d["method"]["crops"]) == ("pixels", "normalized", 0)
    assert r["gflop_per_image_step"] == pytest.approx(2 * d["gflop_per_image_step"], rel=1e-3)  # 2 crops of 32 px
    assert r["xla_gflop_per_image_step"] > 1.5 * d["xla_gflop_per_image_step"]  # and so the compiled step does
    assert [set(x) for x in r["rounds"]] == [{"method", "default"}] * 2  # two alternations, the faster reported
    assert r["image_steps_per_s"] == max(x["method"] for x in r["rounds"])
    assert d["image_steps_per_s"] == max(x["default"] for x in r["rounds"])
    assert r["cost_vs_default"] == pytest.approx(r["ms_per_image_step"] / d["ms_per_image_step"], rel=0.01)
    assert r["per_filter_image_steps_per_s"] > 0 and d["compile_s"] >= 0  # 0: a program an earlier test compiled
    text = format_report(r)
    assert "preset maco-fast, --set method.crop_side=32" in text.splitlines()[0]
    assert "method:     maco, nadam, 2 crops a step at 32 px, noise 10.2, alpha" in text
    assert "default:" in text and "(faster of 2 alternating rounds: " in text


def test_a_bad_preset_is_refused_before_jax():
    from jaxviz.bench.startup_speed import measure

    row = measure("jaxviz.cli.benchmark:main", ["--preset", "nope"], repeat=1)
    assert not row["jax_imported"] and "unknown preset 'nope'" in row["said"], row
