"""scripts/device_check.py: the --smoke run end to end on CPU, stage caps, a failing stage, the bad-input contract."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, script
from PIL import Image

from jaxviz.devicecheck import runner
from jaxviz.devicecheck import stage_plan as plan_lib

PNGS = ("layer_float32.png", "layer_bfloat16.png", "quality.png")


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_smoke_runs_every_stage_and_writes_the_grids(tmp_path, weights_path):
    out = tmp_path / "check"
    p = script("device_check", "--out", str(out), "--smoke", env={"JAX_PLATFORMS": "cpu"}, timeout=280)
    assert p.returncode == 0, p.stdout + p.stderr
    lines = read_lines(out / "results.jsonl")
    finals = {line["stage"]: line for line in lines if "status" in line}
    assert list(finals) == [*plan_lib.STAGE_NAMES, "summary"]
    assert all(line["status"] == "ok" for line in finals.values()), {k: v.get("error") for k, v in finals.items()}
    assert all(line["device"] == "cpu:cpu" and line["devices"] == 1 for line in lines[1:])  # after versions
    for name in plan_lib.STAGE_NAMES:
        assert finals[name]["seconds"] > 0 and finals[name]["cap_s"] > finals[name]["seconds"]
    assert finals["summary"]["seconds"] < 480  # the budget (68-76 s measured on a 2-core CPU: BENCHMARKS.md)

    versions = finals["versions"]["result"]
    assert versions["backend"] == "cpu" and versions["jax"] and versions["weights"] == f"file {weights_path}"
    assert finals["tests"]["result"]["passed"] >= 1 and finals["tests"]["result"]["failed"] == 0
    layer = finals["layer_float32"]["result"]
    assert layer["layer"] == "block3_conv1" and layer["image_steps_per_s"] > 0 and layer["compile_s"] > 0
    assert finals["layer_bfloat16"]["result"]["precision"] == "bfloat16"
    for precision in ("float32", "bfloat16"):  # each layer streamed as it finished, then the total
        parts = [line["part"] for line in lines if line["stage"] == f"network_{precision}" and "part" in line]
        assert parts == list(plan_lib.SMOKE.network_layers)
        assert finals[f"network_{precision}"]["result"]["complete"]
    variants = [line["result"] for line in lines if line["stage"] == "choices" and "part" in line]
    assert [v["variant"] for v in variants] == ["auto", "loop=device", "target=layer", "conv=xla"]
    assert all(v["step_ms"] > 0 and v["program_ms"] > 0 and v["dispatch_ms"] > 0 for v in variants)
    oom = finals["oom"]["result"]
    assert oom["simulated"] and oom["retries"] == [8, 4, 2] and oom["done"] == oom["filters"] == 16
    assert finals["quality"]["result"]["finite"]
    ex = finals["examples"]["result"]
    assert ex["images"] == 18 and ex["images_per_s"] > 0 and ex["model_images_per_s"] > 0 and ex["size"] == 32
    assert [line["part"] for line in lines if line["stage"] == "examples" and "part" in line] == ["files", "step"]
    for name in PNGS:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and min(image.size) >= 32
    assert "[tests]" in (out / "log.txt").read_text()


def test_a_failing_stage_records_its_error_and_the_next_one_runs(tmp_path, weights_path):
    from jaxviz.devicecheck import run

    broken = dataclasses.replace(plan_lib.SMOKE, layer="block9_conv1")
    summary = run(tmp_path, 120, broken, str(weights_path), "file", ["layer_float32", "oom"])
    finals = {line["stage"]: line for line in read_lines(tmp_path / "results.jsonl")}
    assert finals["layer_float32"]["status"] == "failed" and "block9_conv1" in finals["layer_float32"]["error"]
    assert finals["oom"]["status"] == "ok" and summary["status"] == "incomplete"
    assert summary["result"]["stages"] == {"layer_float32": "failed", "oom": "ok"}


def test_a_stage_is_killed_at_its_cap_and_its_lines_are_kept(tmp_path):
    results = runner.Results(tmp_path, {"device": "test"})
    seen: list[str] = []
    slow = "import time; print('started', flush=True); time.sleep(60)"
    t = time.monotonic()
    try:
        code, _ = runner.launch([sys.executable, "-c", slow], dict(os.environ), 2.0, seen.append, results)
    finally:
        results.close()
    assert code is None and seen == ["started"] and time.monotonic() - t < 15


def test_stages_without_time_left_are_skipped(tmp_path, weights_path):
    from jaxviz.devicecheck import run

    summary = run(tmp_path, 1.0, plan_lib.SMOKE, str(weights_path), "file", list(plan_lib.STAGE_NAMES))
    assert set(summary["result"]["stages"].values()) == {"skipped"} and summary["status"] == "incomplete"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--budget-s", "0"], "--budget-s must be more than 0, got 0"),
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
