"""The first hour: the API and the command line say what they do (plan, estimate, what to open, Ctrl-C)."""

from __future__ import annotations

import io
import json

import pytest
from conftest import interrupt_chunk

from jaxviz import ascent
from jaxviz import config as config_lib
from jaxviz.cli import visualize as cli_visualize
from jaxviz.errors import JaxvizError
from jaxviz.run.run_plan import describe, plan
from jaxviz.show.progress import Progress, Work

QUALITY_ON = ["--set", 'output.quality="on"']
ARGS = ["--layers", "block1_conv1,block2_conv1", "--filters", "0:4", "--size", "32", "--steps", "2"]


def _main(*args: str) -> int:
    with pytest.raises(SystemExit) as e:
        cli_visualize.main(list(args))
    return e.value.code


@pytest.mark.parametrize("layers", ["block2_conv1,block1_conv1", "all", ("block1_conv1", "block2_conv1")])
def test_the_api_refuses_several_layers_instead_of_dropping_them(layers, weights_path):
    import jaxviz

    with pytest.raises(JaxvizError, match="visualize takes one layer") as e:
        jaxviz.visualize(layers, [0], weights=str(weights_path))
    assert "\n" not in str(e.value) and "block1_conv1" in str(e.value)


def test_the_whole_network_is_said_on_the_first_line():
    lines = describe(config_lib.Config(), plan(config_lib.Config()))
    assert "4,224 filters" in lines[0] and "13 layers" in lines[0]
    some = config_lib.apply(config_lib.Config(), {"target.layers": "block1_conv1", "target.filters": "0:4"})
    lines = describe(some, plan(some))
    assert len(lines) == 1 and "plan: 4 filter(s) of 1 layer(s) (block1_conv1), 150 px x 40 steps" in lines[0]


def test_the_whole_network_warning_is_the_first_line_and_comes_before_any_compile(
    tmp_path, weights_path, capsys, monkeypatch
):
    from jaxviz.run import visualization as job

    def stop(self):  # where the run would start compiling and ascending
        raise JaxvizError("stopped here by the test")

    monkeypatch.setattr(job._Visualization, "start", stop)
    assert _main("--weights", str(weights_path), "--out", str(tmp_path / "r")) == 2
    out = capsys.readouterr().out.splitlines()
    assert "4,224 filters" in out[0], out


def test_bad_weights_are_one_line_even_before_the_plan(tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    for weights in (tmp_path / "missing.h5", tmp_path / "dir"):
        assert _main("--layers", "block1_conv1", "--weights", str(weights), "--out", str(tmp_path / "r")) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1, captured


def test_a_run_prints_its_plan_an_estimate_and_what_to_open(tmp_path, weights_path, capsys):
    out = tmp_path / "r"
    assert _main(*ARGS, "--weights", str(weights_path), "--out", str(out), "--set", "ascent.chunk=2", *QUALITY_ON) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("jaxviz: plan: 8 filter(s) of 2 layer(s)") and str(out) in lines[0], lines
    assert any("first chunk of block1_conv1 took" in ln and "the rest should take" in ln for ln in lines)
    assert lines[-1].startswith("jaxviz: open ") and f"{out}/atlas/index.html" in lines[-1], lines[-1]
    assert f"--logdir {out}" in lines[-1]
    layers = json.loads((out / "metrics.json").read_text())["layers"]
    assert all(s["quality_seconds"] >= 0 and s["seconds"] > 0 for s in layers.values())  # phases timed apart


def test_ctrl_c_exits_130_and_leaves_something_to_look_at(tmp_path, weights_path, monkeypatch, capsys):
    original = interrupt_chunk(monkeypatch, 4)  # block2_conv1's second chunk: block1_conv1 done, block2 half
    out = tmp_path / "r"
    code = _main(*ARGS, "--weights", str(weights_path), "--out", str(out), "--set", "ascent.chunk=2")
    assert code == 130
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert err[-1].startswith("jaxviz: interrupted: ") and "error" not in err[-1] and "resume" in err[-1], err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["partial"] is True
    assert metrics["layers"]["block2_conv1"]["partial"] is True and metrics["layers"]["block2_conv1"]["filters"] == 2
    assert "partial" not in metrics["layers"]["block1_conv1"]
    ascent_seconds = metrics["layers"]["block1_conv1"]["seconds"]
    assert (out / "block2_conv1.png").is_file() and (out / "atlas" / "layers" / "block2_conv1.html").is_file()
    assert "partial: 2 of 4 filters" in (out / "atlas" / "index.html").read_text()
    monkeypatch.setattr(ascent.LayerAscent, "__call__", original)
    assert _main(*ARGS, "--weights", str(weights_path), "--out", str(out), "--set", "ascent.chunk=2") == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert "partial" not in metrics and metrics["layers"]["block2_conv1"]["filters"] == 4
    # Resumed with nothing to do: the seconds its ascent took are kept, not replaced by the resume's ~0.
    assert metrics["layers"]["block1_conv1"]["seconds"] == ascent_seconds


def test_ctrl_c_before_a_layers_first_chunk_still_says_partial(tmp_path, weights_path, monkeypatch, capsys):
    interrupt_chunk(monkeypatch, 3)  # block2_conv1's first chunk: block1_conv1 finished, block2_conv1 nothing yet
    out = tmp_path / "r"
    code = _main(*ARGS, "--weights", str(weights_path), "--out", str(out), "--set", "ascent.chunk=2")
    assert code == 130
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["partial"] is True
    assert metrics["layers"]["block2_conv1"]["partial"] is True
    assert metrics["layers"]["block2_conv1"]["filters"] == 0 and metrics["layers"]["block2_conv1"]["planned"] == 4


def test_progress_counts_whole_filters_shows_phases_and_ends_full():
    stream = io.StringIO()
    bar = Progress(Work("filters", total=8, total_cost=8.0), stream=stream, every=0)
    bar.update("block1_conv1", done=2.6, cost_done=2.6, within=(2.6, 4), force=True)
    assert "2/4 | 2/8 filters" in stream.getvalue() and "left ?" in stream.getvalue()
    with bar.phase("quality numbers"):
        assert stream.getvalue().splitlines()[-1].startswith("quality numbers")
    bar.measured()
    bar.update("block2_conv1", done=8, cost_done=8.0, within=(4, 4), force=True)
    bar.close()
    last = stream.getvalue().splitlines()[-1]
    assert "8/8 filters" in last and "━" * 24 in last and "left 0 s" in last, last


def test_quality_numbers_are_skipped_where_they_would_dominate(tmp_path, weights_path, monkeypatch, capsys):
    from jaxviz.run import measure

    monkeypatch.setattr(measure, "estimate_seconds", lambda *args: 1e4)  # far more than the ascent takes
    out = tmp_path / "r"
    assert _main(*ARGS, "--weights", str(weights_path), "--out", str(out), "--set", "output.atlas=false") == 0
    said = capsys.readouterr().out
    assert "quality numbers of block1_conv1 skipped: about 10000 s" in said and 'output.quality = "on"' in said
    metrics = json.loads((out / "metrics.json").read_text())
    assert all("robustness" not in r for r in metrics["filters"])
    assert all(s["quality_skipped_estimate_seconds"] == 1e4 for s in metrics["layers"].values())
    monkeypatch.setattr(measure, "estimate_seconds", lambda *args: 0.1)  # cheap: measured
    out2 = tmp_path / "r2"
    assert _main(*ARGS, "--weights", str(weights_path), "--out", str(out2), "--set", "output.atlas=false") == 0
    assert all("robustness" in r for r in json.loads((out2 / "metrics.json").read_text())["filters"])


def test_a_light_first_layer_does_not_make_an_absurd_estimate(monkeypatch):
    from jaxviz.show import progress

    monkeypatch.setattr(progress, "PRIOR_GFLOPS", {"cpu": 60.0, "gpu": 60.0, "tpu": 60.0})
    stream = io.StringIO()
    work = Work("filters", total=20, total_cost=10 * 1.0 + 10 * 500.0, heaviest=500.0)
    bar = Progress(work, stream=stream, every=0)
    bar.start -= 10.0  # a dispatch-bound first layer: 10 cheap filters in 10 s, "1 GFLOP/s"
    bar.measured(1.0)
    bar.update("block1_conv1", done=10, cost_done=10.0, within=(10, 10), force=True)
    line = stream.getvalue().splitlines()[-1]
    assert "left about 1 min" in line, line  # 5000 left at the prior 60/s, not 1 h 23 min at the light layer's rate
    bar.measured(500.0)  # a heavy layer measured: its own rate from now on
    bar.update("block3_conv1", done=10, cost_done=10.0, within=(0, 10), force=True)
    assert "left about 1 h 20 min" in stream.getvalue().splitlines()[-1], stream.getvalue()  # 4990 at 1 per second
