"""The device check: the runner's budget arithmetic on an injected clock (no waiting on real time), stages in
processes of their own, each stage's body at tiny sizes in this process, the engine's checks, the command line.

Nothing here depends on how busy the machine is: caps are computed from a fake clock, and where real processes
run, the budget is far beyond what they take."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, depends_on_weights
from PIL import Image

from jaxviz.devicecheck import child, engine_checks, runner, stages
from jaxviz.devicecheck import stage_plan as plan_lib

# Smaller than --smoke: one chunk of one or two filters wherever a stage allows it.
TINY = dataclasses.replace(
    plan_lib.SMOKE,
    layer_filters=2,
    grid_filters=2,
    steps=1,
    choice_layers=("block1_conv2",),
    choice_filters=1,
    program_calls=1,
    quality_layer="block1_conv1",
    quality_steps=1,
    examples_files=2,
    examples_repeat=9,  # 18 images: more than the CPU's first batch, which compiles and is left out of the rate
    examples_seconds=0.01,  # one timed call of the step
)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def finals_of(lines: list[dict]) -> dict[str, dict]:
    """Each stage's final line (the one with a status), by stage name."""
    return {line["stage"]: line for line in lines if "status" in line}


class FakeClock:
    """time.monotonic for the runner: moves only when a fake stage says it took so long."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fake_stages(clock: FakeClock, took: dict[str, float], failing: dict[str, str] | None = None):
    """A runner.StageRunner that runs nothing: stage NAME takes took[NAME] seconds of `clock`; the ones in
    `failing` fail with that error; versions reports a CPU. Records (name, cap) of each call in `.calls`."""
    calls: list[tuple[str, float]] = []

    def run_stage(name: str, args: dict, env: dict, cap: float, results: runner.Results) -> tuple[str, dict]:
        calls.append((name, cap))
        clock.now += took.get(name, 0.0)
        if name in (failing or {}):
            return "failed", {"error": failing[name]}
        if name == "versions":
            return "ok", {"result": {"backend": "cpu", "device_kinds": ["cpu"], "devices": 1}}
        return "ok", {"result": {"stage": name, "plan_size": args["plan"]["size"]}}

    run_stage.calls = calls
    return run_stage


def test_each_stage_gets_its_share_of_what_is_left_and_the_summary_adds_up(tmp_path):
    clock = FakeClock()
    took = {"versions": 5.0, "tests": 10.0, "layer_float32": 20.0}
    fake = fake_stages(clock, took)
    only = ["versions", "tests", "layer_float32"]
    summary = runner.run(tmp_path, 103.0, plan_lib.SMOKE, "w.h5", "file w.h5", only, clock, fake)
    shares = {s.name: s.share for s in plan_lib.STAGES}
    left, expected = 100.0, []  # the budget less RESERVE_S
    for i, name in enumerate(only):
        expected.append((name, left * shares[name] / sum(shares[n] for n in only[i:])))
        left -= took[name]
    assert [name for name, _ in fake.calls] == only
    assert [cap for _, cap in fake.calls] == pytest.approx([cap for _, cap in expected])
    lines = read_lines(tmp_path / "results.jsonl")
    finals = finals_of(lines)
    assert list(finals) == [*only, "summary"] and json.loads(json.dumps(summary)) == finals["summary"]
    for name, cap in expected:
        assert finals[name]["status"] == "ok" and finals[name]["seconds"] == took[name]
        assert finals[name]["cap_s"] == round(cap, 1)
    assert finals["versions"]["result"]["weights"] == "file w.h5"  # how the weights were found, with the versions
    assert finals["versions"]["device"] == finals["tests"]["device"] == "cpu:cpu"  # what versions found, from it on
    assert all(line["devices"] == 1 for line in lines[1:])
    assert summary["status"] == "ok" and summary["seconds"] == sum(took.values())
    assert summary["result"]["stages"] == dict.fromkeys(only, "ok") and summary["result"]["plan"]["size"] == 32


def test_a_failing_stage_records_its_error_and_the_next_one_runs(tmp_path):
    clock = FakeClock()
    fake = fake_stages(clock, {"layer_float32": 3.0}, failing={"layer_float32": "ValueError: broken"})
    summary = runner.run(tmp_path, 500.0, plan_lib.SMOKE, "", "random", ["layer_float32", "oom"], clock, fake)
    finals = finals_of(read_lines(tmp_path / "results.jsonl"))
    assert finals["layer_float32"]["status"] == "failed" and finals["layer_float32"]["error"] == "ValueError: broken"
    assert finals["oom"]["status"] == "ok" and summary["status"] == "incomplete"
    assert summary["result"]["stages"] == {"layer_float32": "failed", "oom": "ok"}


def test_stages_without_time_left_are_skipped(tmp_path):
    clock = FakeClock()
    fake = fake_stages(clock, {"versions": 190.0})  # the first stage eats the budget: even the last cap is too small
    summary = runner.run(tmp_path, 200.0, plan_lib.SMOKE, "", "random", list(plan_lib.STAGE_NAMES), clock, fake)
    assert [name for name, _ in fake.calls] == ["versions"]
    assert summary["result"]["stages"] == {"versions": "ok"} | dict.fromkeys(plan_lib.STAGE_NAMES[1:], "skipped")
    assert summary["status"] == "incomplete"
    finals = finals_of(read_lines(tmp_path / "results.jsonl"))
    assert all(finals[s.name]["cap_s"] < s.least for s in plan_lib.STAGES[1:])


def test_stages_run_in_processes_of_their_own_and_stream_their_lines(tmp_path, weights_path):
    """Real processes (the budget far above what they take): versions, a stage whose process fails (a layer VGG16
    lacks), and the out-of-memory stage, whose process alone gets the small memory fraction."""
    broken = dataclasses.replace(plan_lib.SMOKE, layer="block9_conv1")
    weights, described = runner.describe_weights(str(weights_path))
    only = ["versions", "layer_float32", "oom"]
    summary = runner.run(tmp_path, 100_000.0, broken, weights, described, only)
    lines = read_lines(tmp_path / "results.jsonl")
    finals = finals_of(lines)
    assert finals["versions"]["status"] == "ok", finals["versions"]
    versions = finals["versions"]["result"]
    assert versions["backend"] == "cpu" and versions["jax"] and versions["weights"] == f"file {weights_path}"
    assert all(line["device"] == "cpu:cpu" for line in lines[1:])
    assert finals["layer_float32"]["status"] == "failed" and "block9_conv1" in finals["layer_float32"]["error"]
    oom = finals["oom"]["result"]
    assert finals["oom"]["status"] == "ok" and oom["mem_fraction"] == plan_lib.SMOKE.oom_fraction
    assert oom["simulated"] and oom["retries"] == [8, 4, 2] and oom["done"] == oom["filters"] == 16
    assert summary["result"]["stages"] == {"versions": "ok", "layer_float32": "failed", "oom": "ok"}
    assert "JaxvizError" in (tmp_path / "log.txt").read_text()  # the failed stage's traceback, kept


def test_a_stage_is_killed_at_its_cap_and_its_lines_are_kept(tmp_path):
    results = runner.Results(tmp_path, {"device": "test"})
    seen: list[str] = []
    slow = "import time; print('started', flush=True); time.sleep(600)"
    try:
        code, _ = runner.launch([sys.executable, "-c", slow], dict(os.environ), 5.0, seen.append, results)
    finally:
        results.close()
    assert code is None and seen == ["started"]  # killed, not finished: the sleep is 600 s


def test_a_stage_that_raises_reports_one_error_line(capsys, tmp_path):
    args = {"plan": TINY.as_dict() | {"layer": "block9_conv1"}, "weights": "", "out": str(tmp_path)}
    assert child.main(["layer_float32", json.dumps({**args, "deadline": time.time() + 600})]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["error"].startswith("JaxvizError: unknown layer 'block9_conv1'")


def context(tmp_path: Path, weights: str, plan: plan_lib.Plan = TINY, deadline: float | None = None):
    """A stage's Context in this process, and the parts it reports ([(name, figures)])."""
    parts: list[tuple[str, dict]] = []
    deadline = time.time() + 3600 if deadline is None else deadline
    return stages.Context(plan, weights, tmp_path, deadline, lambda name, data: parts.append((name, data))), parts


def test_versions(tmp_path, weights_path):
    ctx, _ = context(tmp_path, str(weights_path))
    r = stages.versions(ctx)
    assert r["backend"] == "cpu" and r["devices"] >= 1 and r["jax"] and r["jaxviz"] and r["datasheet"] is None


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_the_layer_stage_saves_the_first_filters_grid(tmp_path, weights_path, monkeypatch, precision):
    from jaxviz.bench import ascent_speed

    asked = []

    def benchmark(settings, layer, filters, per_filter=True, keep=0):  # timed for real in test_benchmark.py
        asked.append((settings, layer, filters, keep))
        return {"layer": layer, "precision": settings.precision, "images": np.full((keep, 32, 32, 3), 100.0)}

    monkeypatch.setattr(ascent_speed, "benchmark", benchmark)
    ctx, _ = context(tmp_path, str(weights_path))
    r = child.BODIES[f"layer_{precision}"](ctx)
    ((settings, layer, filters, keep),) = asked
    assert (layer, filters, keep) == (TINY.layer, TINY.layer_filters, TINY.grid_filters)
    assert (settings.precision, settings.size, settings.steps) == (precision, TINY.size, TINY.steps)
    assert settings.weights == str(weights_path) and settings.peak_side == TINY.peak_side
    assert r == {"layer": layer, "precision": precision, "png": f"layer_{precision}.png"}
    with Image.open(tmp_path / r["png"]) as image:
        assert image.format == "PNG" and min(image.size) >= 32


@pytest.mark.parametrize("complete", [True, False])
def test_the_network_stage_streams_each_layer(tmp_path, monkeypatch, complete):
    from jaxviz.bench import ascent_speed

    def network(settings, filters, layers, deadline, on_layer):  # timed for real in test_benchmark.py
        done = layers if complete else layers[:1]
        rows = [{"layer": layer, "seconds": 0.5} for layer in done]
        for row in rows:
            on_layer({"device": "cpu:cpu"}, row)
        return {"precision": settings.precision, "complete": complete, "layers": rows, "total": {"filters": 2}}

    monkeypatch.setattr(ascent_speed, "network", network)
    ctx, parts = context(tmp_path, "")
    r = child.BODIES["network_bfloat16"](ctx)
    assert [name for name, _ in parts] == list(TINY.network_layers if complete else TINY.network_layers[:1])
    assert r["layers_done"] == [name for name, _ in parts] and r["precision"] == "bfloat16"
    assert r["complete"] == complete and ("status" not in r if complete else r["status"] == "stopped")


def test_the_choices_stage_times_auto_and_each_choice_flipped(tmp_path, weights_path):
    ctx, parts = context(tmp_path, str(weights_path))
    r = child.BODIES["choices"](ctx)
    variants = [data for _, data in parts]
    assert [v["variant"] for v in variants] == ["auto", "loop=device", "target=layer", "conv=xla"]
    assert all(v["step_ms"] > 0 and v["program_ms"] > 0 and v["dispatch_ms"] > 0 for v in variants)
    assert r["made"] == {"loop": "host", "target": "channel", "conv": "patches"}
    assert set(r["auto_faster"]["block1_conv2"]) == {"loop", "target", "conv"}


def test_the_examples_stage_times_the_engine_and_the_step(tmp_path, weights_path):
    ctx, parts = context(tmp_path, str(weights_path))
    r = child.BODIES["examples"](ctx)
    assert [name for name, _ in parts] == ["files", "step"]
    assert r["images"] == TINY.examples_files * TINY.examples_repeat and r["size"] == 32
    assert r["images_per_s"] > 0 and r["model_images_per_s"] > 0 and r["batch"] >= 1


def test_the_oom_stage_halves_until_a_chunk_fits(tmp_path, weights_path):
    ctx, _ = context(tmp_path, str(weights_path))
    r = child.BODIES["oom"](ctx)
    assert r["simulated"] and r["retries"] == [8, 4, 2] and r["done"] == r["filters"] == 16 and r["finite"]


def test_the_quality_stage_saves_its_grid(tmp_path, monkeypatch):
    monkeypatch.delenv("JAXVIZ_WEIGHTS", raising=False)  # no weights file: random ones, written for visualize
    ctx, _ = context(tmp_path, "")
    r = child.BODIES["quality"](ctx)
    assert r["layer"] == "block1_conv1" and r["filters"] == TINY.quality_filters and r["finite"]
    with Image.open(tmp_path / "quality.png") as image:
        assert image.format == "PNG" and min(image.size) >= 32


def test_the_tests_stage_checks_the_engine_on_this_device(tmp_path, weights_path):
    ctx, parts = context(tmp_path, str(weights_path))
    r = child.BODIES["tests"](ctx)
    assert [name for name, _ in parts] == list(engine_checks.CHECKS)
    assert r["failed"] == 0, r["failures"]
    assert r["passed"] == len(engine_checks.CHECKS) - 1 and r["skipped"] == 1  # one CPU device: nothing to split
    assert dict(parts)["devices_give_same_images"]["skipped"].startswith("one cpu device")
    assert "status" not in r


def test_a_broken_promise_fails_its_check_alone(tmp_path):
    def broken(ctx):
        raise engine_checks.CheckFailed("off by 9")

    def crashing(ctx):
        raise ValueError("no device")

    def cannot(ctx):
        raise engine_checks.Skipped("one device")

    checks = {"broken": broken, "crashing": crashing, "cannot": cannot, "fine": lambda ctx: {"max": 0.0}}
    ctx, parts = context(tmp_path, "")
    r = engine_checks.run(ctx, checks)
    assert (r["passed"], r["failed"], r["skipped"], r["status"]) == (1, 2, 1, "failed")
    assert r["failures"] == {"broken": "CheckFailed: off by 9", "crashing": "ValueError: no device"}
    got = {name: data for name, data in parts}
    assert [got[n]["passed"] for n in checks] == [False, False, None, True] and got["fine"]["max"] == 0.0
    ctx, parts = context(tmp_path, "", deadline=time.time() - 1)  # past its deadline: stops before the first
    assert engine_checks.run(ctx, checks) == {"passed": 0, "failed": 0, "skipped": 0, "failures": {},
                                              "status": "stopped", "not_run": list(checks)}  # fmt: skip
    assert parts == []


def test_every_check_fails_where_its_promise_is_broken(tmp_path, weights_path, monkeypatch):
    """The checks can fail: an engine whose batch drifts from each filter alone breaks the first one."""
    from jaxviz import ascent

    call = ascent.LayerAscent.__call__

    def drifting(self, filters, chunk=None, on_step=None):
        r = call(self, filters, chunk, on_step)
        return r._replace(images=r.images + (len(filters) > 1) * 1.0)  # a batch differs by one grey level

    monkeypatch.setattr(ascent.LayerAscent, "__call__", drifting)
    ctx, _ = context(tmp_path, str(weights_path))
    with pytest.raises(engine_checks.CheckFailed, match="filter 0's images"):
        engine_checks.batched_equals_per_filter(ctx)


def test_the_command_prints_each_stage_and_exits_by_the_summary(tmp_path, weights_path, monkeypatch, capsys):
    from jaxviz.cli import device_check

    seen = {}

    def run(out, budget, plan, weights, described, only):
        seen.update(plan=plan, weights=weights, described=described, only=only, budget=budget)
        status = "ok" if "oom" not in only else "incomplete"
        return {"status": status, "seconds": 12.0, "result": {"stages": dict.fromkeys(only, "ok")}}

    monkeypatch.setattr(device_check, "run", run)
    for stages_flag, code in (("versions,tests", 0), ("oom", 1)):
        argv = ["--out", str(tmp_path / "out"), "--smoke", "--stages", stages_flag, "--weights", str(weights_path)]
        with pytest.raises(SystemExit) as e:
            device_check.main(argv)
        assert e.value.code == code
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("jaxviz: device check incomplete in 12 s") and out[-1].split() == ["oom", "ok"]
    assert seen["plan"] == plan_lib.SMOKE and seen["weights"] == str(weights_path.absolute())
    assert seen["described"] == f"file {weights_path.absolute()}" and seen["budget"] == 480.0


def test_without_weights_the_stages_run_on_random_ones(monkeypatch, tmp_path):
    monkeypatch.delenv("JAXVIZ_WEIGHTS", raising=False)  # and the caches are this test's empty home
    weights, described = runner.describe_weights("")
    assert weights == "" and described.startswith("random")
    ctx, _ = context(tmp_path, weights)
    assert ctx.params()["block1_conv1"]["kernel"].shape == (3, 3, 3, 64)
    path = ctx.weights_file(tmp_path)
    assert path.endswith(".msgpack") and Path(path).is_file()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--budget-s", "0"], "--budget-s must be a number of seconds more than 0, got 0"),
        (["--budget-s", "nan"], "--budget-s must be a number of seconds more than 0, got nan"),
        (["--stages", "versions,gpu"], "--stages: unknown stage 'gpu'; valid: versions, tests,"),
        (["--weights", "/nonexistent/vgg16.h5"], "weights file '/nonexistent/vgg16.h5' does not exist"),
    ],
)
def test_bad_input_is_one_line(tmp_path, args, needle, capsys):
    from jaxviz.cli.device_check import main

    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "out"), *args])
    assert_one_line_error(e.value.code, capsys.readouterr().err, needle)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_the_models_stage_times_each_model_and_skips_keras_where_it_is_missing(tmp_path, monkeypatch):
    plan = dataclasses.replace(TINY, models=(("vgg19", "block3_conv4"), ("resnet50", "conv2_block1_out")))
    ctx, parts = context(tmp_path, "", plan)
    from jaxviz.errors import JaxvizError
    from jaxviz.model import keras_network

    def missing() -> None:
        raise JaxvizError("Keras is not installed: pip install 'jaxviz[keras]'")

    monkeypatch.setattr(keras_network, "import_keras", missing)
    r = child.BODIES["models"](ctx)
    assert [name for name, _ in parts] == ["vgg19"] and r["models"]["vgg19"]["image_steps_per_s"] > 0
    assert r["models"]["vgg19"]["layer"] == "block3_conv4" and "jaxviz[keras]" in r["skipped"]["resnet50"]


class FakeMacoEngine:
    """An ascent.LayerAscent stand-in for the maco stage's checks (no compile): filter f's image is f everywhere and
    its map f + 1; MeanOfImage's map is its coverage-corrected one, from a coverage crowded into the top left (the
    bottom right corner never seen) and a gradient sum that follows it. `broken` names the one check whose promise
    it breaks: a trace per filter, a batch's maps 1% off each filter's alone, a negative map value, a MeanOfImage
    map left uncorrected (the gradient sum itself)."""

    broken = ""

    def __init__(self, params, spec, knobs=None, mesh=None, segment=0):
        self.spec, self.steps = spec, (knobs.steps if knobs else 1)

    def __call__(self, filters, chunk=None, on_step=None):
        import jax

        from jaxviz import ascent
        from jaxviz.ascent.engine import AscentResult

        side, n = self.spec.size, len(filters)
        if self.spec.network.name == "mean-of-image":
            yy, xx = np.mgrid[0:side, 0:side]
            cover = np.exp(-((yy - 9.0) ** 2 + (xx - 9.0) ** 2) / (2 * 8.0**2))
            cover[-6:, -6:] = 0.0
            grads = 0.7 * cover  # uniform importance: each pixel's gradient sum is how often it was seen
            self._state = (None, None, (grads[None, None], cover[None, None]))
            alpha = grads if self.broken == "maco_alpha_coverage_corrected" else np.where(cover > 0, 0.7, 0.0)
            alpha = alpha[None].astype(np.float32)
        else:
            alpha = np.stack([np.full((side, side), f + 1.0, np.float32) for f in filters])
            if self.broken == "maco_batched_equals_per_filter" and n > 1:
                alpha = alpha * 1.01
            if self.broken == "maco_alpha_finite" and 3 in filters:
                alpha[list(filters).index(3), 0, 0] = -1.0
            if self.broken == "maco_one_compile" and n > 1:
                for f in filters[:2]:  # a program traced per filter, under the step's name
                    fn = lambda x: x + 1  # noqa: E731
                    fn.__name__ = ascent.step_name(self.spec.layer, side)
                    jax.jit(fn)(np.zeros(f + 1))
        images = np.stack([np.full((side, side, 3), float(f), np.float32) for f in filters])
        history = np.zeros((n, self.steps + 1), np.float32)
        return AscentResult(images, history, np.full(n, -1), None, alpha)


@pytest.mark.parametrize(
    "broken, said",
    [
        ("", ""),
        ("maco_one_compile", "the whole layer's programs were traced {'step': 2"),
        ("maco_batched_equals_per_filter", "filter 1's alpha: 1024 of 1024 values off"),
        ("maco_alpha_finite", "negative values in the maps, down to -1"),
        ("maco_alpha_coverage_corrected", "the map of uniform importance varies by"),
    ],
)
def test_each_maco_check_fails_where_its_promise_is_broken(tmp_path, monkeypatch, broken, said):
    from jaxviz import ascent
    from jaxviz.devicecheck import maco_stage

    monkeypatch.setattr(FakeMacoEngine, "broken", broken)
    monkeypatch.setattr(ascent, "LayerAscent", FakeMacoEngine)
    monkeypatch.setattr(stages.Context, "params", lambda self: {})
    ctx, parts = context(tmp_path, "")
    r = engine_checks.run(ctx, maco_stage.MacoChecks(ctx).checks())
    assert [name for name, _ in parts] == list(maco_stage.MacoChecks(ctx).checks())
    assert list(r["failures"]) == ([broken] if broken else []), r["failures"]
    assert r["passed"] == 4 - bool(broken) and said in r["failures"].get(broken, "")


def fake_speed_benchmark(asked: list):
    """A stand-in for ascent_speed.benchmark (timed for real in test_benchmark.py): records its arguments."""

    def benchmark(settings, layer, filters, per_filter=True, keep=0, rounds=2):
        asked.append((settings, layer, filters, per_filter, rounds))
        return {"layer": layer, "size": settings.size, "filters": filters, "image_steps_per_s": 10.0,
                "compile_s": 1.0, "method": {"crops": settings.method.crops}, "peak": "left out"}  # fmt: skip

    return benchmark


def test_the_maco_stage_times_each_preset_at_its_size_on_a_whole_layer_chunk(tmp_path, monkeypatch):
    from jaxviz import ascent
    from jaxviz.bench import ascent_speed
    from jaxviz.devicecheck import maco_stage

    asked = []
    monkeypatch.setattr(ascent, "LayerAscent", FakeMacoEngine)
    monkeypatch.setattr(stages.Context, "params", lambda self: {})
    monkeypatch.setattr(ascent_speed, "benchmark", fake_speed_benchmark(asked))
    monkeypatch.setattr(maco_stage, "layer_chunk", lambda settings, layer: 8)
    plan = dataclasses.replace(TINY, maco_speed_layers=("block3_conv1", "block5_conv3"), maco_speed_size=0,
                               maco_speed_overrides=("method.crops=3",), maco_rounds=1)  # fmt: skip
    ctx, parts = context(tmp_path, "", plan)
    r = child.BODIES["maco"](ctx)
    items = [f"{layer} {preset}" for layer in ("block3_conv1", "block5_conv3") for preset in ("maco", "maco-fast")]
    assert [name for name, _ in parts][4:] == items and list(r["speed"]) == items and "status" not in r
    assert r["checks"]["passed"] == 4  # the fake engine keeps every promise
    sizes = {"maco": 512, "maco-fast": 128}  # each preset's own
    for (settings, layer, filters, per_filter, rounds), item in zip(asked, items):
        preset = item.split()[1]
        assert (settings.preset, settings.size, settings.steps, layer) == (preset, sizes[preset], 1, item.split()[0])
        assert settings.method.crops == 3 and (filters, per_filter, rounds) == (8, False, 1)
    want = {"preset": "maco", "layer": "block5_conv3", "size": 512, "filters": 8, "image_steps_per_s": 10.0}
    assert r["speed"]["block5_conv3 maco"] == want | {"compile_s": 1.0, "method": {"crops": 3}}  # "peak": not kept
    ctx, parts = context(tmp_path, "", plan, deadline=time.time() - 1)  # past: no check and no timing starts
    assert child.BODIES["maco"](ctx)["status"] == "stopped" and parts == []


def test_the_maco_stages_chunk_is_what_a_run_picks(weights_path):
    from jaxviz.bench.ascent_speed import Settings
    from jaxviz.devicecheck import maco_stage

    settings = Settings(128, 1, weights=str(weights_path), preset="maco-fast")
    assert maco_stage.layer_chunk(settings, "block3_conv1") == 1  # one filter per chunk on a CPU (CPU_CHUNK_CAP)


@pytest.mark.slow  # 50 s on the shared CPU: MACO compiles a whole layer's batch, a chunk of one and MeanOfImage's
def test_the_maco_stage_checks_maco_on_this_device(tmp_path, weights_path, real_weights, monkeypatch):
    if not real_weights:  # its batched = per filter check: see test_maco's, which skips on random weights too
        pytest.skip(depends_on_weights("MACO's batched = per filter needs gradients above NAdam's sign-like noise"))
    from jaxviz.bench import ascent_speed

    monkeypatch.setattr(ascent_speed, "benchmark", fake_speed_benchmark([]))
    monkeypatch.setattr("jaxviz.devicecheck.maco_stage.layer_chunk", lambda settings, layer: 1)
    ctx, parts = context(tmp_path, str(weights_path))
    r = child.BODIES["maco"](ctx)
    assert r["checks"]["failed"] == 0 and r["checks"]["passed"] == 4, r["checks"]["failures"]
    got = dict(parts)
    assert got["maco_one_compile"]["filters"] == 64 and max(got["maco_one_compile"]["traces"].values()) == 1
    assert got["maco_alpha_finite"]["filters_with_a_map"] > 0
    assert got["maco_alpha_coverage_corrected"]["spread"] < 1e-3
    assert list(r["speed"]) == ["block3_conv1 maco", "block3_conv1 maco-fast"] and "status" not in r
