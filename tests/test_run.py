"""The run loop in-process: out-of-memory backoff, cost-weighted progress, what start-up reads, metrics."""

from __future__ import annotations

import io
import json

import jax
import numpy as np
import pytest
from conftest import interrupt_chunk, small_cfg

from jaxviz import ascent
from jaxviz.cli import visualize as cli_visualize
from jaxviz.run.visualization import run_visualization
from jaxviz.show.progress import Progress, Work

OOM = jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate 123 bytes.")


def _cfg(tmp_path, weights_path, **extra):
    return small_cfg(tmp_path, weights_path, **{"target.filters": "0:8", "output.tensorboard": False, **extra})


def _chunks(out, layer="block1_conv1"):
    return sorted(p.name for p in (out / "state" / layer).glob("*.npz"))


def test_out_of_memory_halves_the_chunk_and_keeps_finished_chunks(tmp_path, weights_path, monkeypatch, capsys):
    original, calls = ascent.LayerAscent.__call__, []

    def flaky(self, filters, chunk=None, on_step=None):
        calls.append(chunk)
        if len(calls) >= 2 and chunk > 2:  # the first chunk fits; later ones only at 2 filters
            raise OOM
        return original(self, filters, chunk, on_step)

    monkeypatch.setattr(ascent.LayerAscent, "__call__", flaky)
    cfg = _cfg(tmp_path, weights_path, **{"ascent.chunk": 4})
    result = run_visualization(cfg)
    assert calls == [4, 4, 2, 2]
    assert _chunks(tmp_path / "r") == ["0000-0003.npz", "0004-0005.npz", "0006-0007.npz"]
    assert "out of device memory; retrying with chunks of 2" in capsys.readouterr().out
    monkeypatch.setattr(ascent.LayerAscent, "__call__", original)
    plain = run_visualization(_cfg(tmp_path / "plain", weights_path, **{"ascent.chunk": 4}))
    for a, b in zip(result["filters"], plain["filters"]):
        np.testing.assert_allclose(a["history"], b["history"], rtol=1e-5)


def test_out_of_memory_at_one_filter_is_a_one_line_error(tmp_path, weights_path, monkeypatch, capsys):
    def always(self, filters, chunk=None, on_step=None):
        raise OOM

    monkeypatch.setattr(ascent.LayerAscent, "__call__", always)
    argv = ["--weights", str(weights_path), "--layers", "block2_conv1", "--filters", "0:4", "--size", "32"]
    with pytest.raises(SystemExit) as e:
        cli_visualize.main([*argv, "--steps", "2", "--out", str(tmp_path / "r"), "--set", "ascent.chunk=4"])
    assert e.value.code == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and "out of device memory for block2_conv1 at 32 px" in err[0], err


def test_other_errors_are_not_taken_for_out_of_memory(tmp_path, weights_path, monkeypatch):
    def broken(self, filters, chunk=None, on_step=None):
        raise jax.errors.JaxRuntimeError("INTERNAL: something else")

    monkeypatch.setattr(ascent.LayerAscent, "__call__", broken)
    with pytest.raises(jax.errors.JaxRuntimeError, match="INTERNAL"):
        run_visualization(_cfg(tmp_path, weights_path, **{"ascent.chunk": 4}))


def test_time_left_is_weighted_by_cost():
    stream = io.StringIO()
    bar = Progress(Work("filters", total=20, total_cost=10 * 1.0 + 10 * 9.0), stream=stream, every=0)
    bar.start -= 10.0  # ten seconds ago
    bar.update("block1_conv1", done=3, cost_done=3.0, within=(3, 10), force=True)
    assert "left ?" in stream.getvalue()  # no estimate before a chunk was measured
    bar.measured()
    bar.update("block1_conv1", done=10, cost_done=10.0, within=(10, 10), force=True)
    line = stream.getvalue().splitlines()[-1]
    # Half the filters but a tenth of the cost are done: 90 cost units left at 1 per second.
    assert "left about 2 min" in line and "1.00 filters/s" in line and "10/20 filters" in line, line


def test_files_are_one_bar_with_filters_and_a_resume_counts_only_new_files():
    stream = io.StringIO()
    bar = Progress(Work("files", total=100_000, done=40_000), stream=stream, every=0)  # 40k read before
    bar.start -= 1000.0  # a thousand seconds ago
    bar.status("compiling")
    first = stream.getvalue()
    assert first.startswith("compiling") and "40000/100000 files" in first and "left ?" in first, first
    bar.measured()
    bar.update("examples", 50_000)  # rate-limited to `every` = 0: drawn
    line = stream.getvalue().splitlines()[-1]
    # 10k new files in 1000 s: 10 a second (not 50), and the 50k left take 5000 s.
    assert line.startswith("examples") and "50000/100000 files" in line and "10.00 files/s" in line, line
    assert "left about 1 h 20 min" in line and "(compiling 0.0 s)" in line, line
    assert Progress.over_files(10, 4).work == Work("files", 10, 10.0, 4, 4.0)


def test_metrics_list_every_layer_the_directory_holds(tmp_path, weights_path):
    from jaxviz import atlas

    run_visualization(
        _cfg(tmp_path, weights_path), after_layer=atlas.refresh
    )  # the command line's hook: the atlas kept current
    second_cfg = _cfg(tmp_path, weights_path, **{"target.layers": "block2_conv1", "target.filters": "0:3"})
    second = run_visualization(second_cfg, after_layer=atlas.refresh)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(second))
    assert list(metrics["layers"]) == ["block1_conv1", "block2_conv1"]
    assert metrics["layers"]["block1_conv1"]["filters"] == 8 and metrics["layers"]["block2_conv1"]["filters"] == 3
    assert "seconds" in metrics["layers"]["block1_conv1"]  # carried over from the first invocation
    assert [r["layer"] for r in metrics["filters"]].count("block1_conv1") == 8
    pages = tmp_path / "r" / "atlas" / "layers"
    assert {p.name for p in pages.glob("*.html")} == {"block1_conv1.html", "block2_conv1.html"}  # kept up to date


def test_asking_a_complete_run_for_fewer_filters_keeps_all_it_shows(tmp_path, weights_path, capsys):
    from jaxviz import atlas

    run_visualization(
        _cfg(tmp_path, weights_path, **{"target.layers": "block1_conv1,block1_conv2"}), after_layer=atlas.refresh
    )
    out = tmp_path / "r"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".jaxviz.lock"}
    capsys.readouterr()
    for fewer in ({"target.filters": "0:3"}, {"target.layers": "block1_conv2"}, {"target.filters": "2,7"}):
        again = run_visualization(_cfg(tmp_path, weights_path, **fewer), after_layer=atlas.refresh)
        assert again["up_to_date"] and "already holds these filters" in capsys.readouterr().out
        after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".jaxviz.lock"}
        assert after == before  # grids, metrics, config, atlas and events as they were: nothing shrank
    more = run_visualization(_cfg(tmp_path, weights_path, **{"target.filters": "0:10"}))
    assert (
        "up_to_date" not in more
        and json.loads((out / "metrics.json").read_text())["layers"]["block1_conv1"]["filters"] == 10
    )


def test_ctrl_c_becomes_interrupted_with_chunks_kept(tmp_path, weights_path, monkeypatch):
    from jaxviz.errors import Interrupted

    interrupt_chunk(monkeypatch, 2)
    with pytest.raises(Interrupted, match="rerun the same command to resume"):
        run_visualization(_cfg(tmp_path, weights_path, **{"ascent.chunk": 4}))
    assert _chunks(tmp_path / "r") == ["0000-0003.npz"]


def test_quality_numbers_reach_metrics_and_are_measured_once(tmp_path, weights_path):
    cfg = _cfg(tmp_path, weights_path, **{"target.filters": "0:3", "output.tensorboard": True, "output.quality": "on"})
    first = run_visualization(cfg)
    rows = first["filters"]
    assert all({"display_activation", "robustness", "selective"} <= set(r) for r in rows)
    assert all(isinstance(r["selective"], bool) and r["robustness"] >= 0 for r in rows)
    summary = first["layers"]["block1_conv1"]
    assert 0 <= summary["selectivity"] <= 1 and summary["robustness_mean"] >= 0
    cache = tmp_path / "r" / "state" / "block1_conv1.quality.npz"
    stamp = cache.stat().st_mtime_ns
    again = run_visualization(cfg)
    assert cache.stat().st_mtime_ns == stamp  # resuming measures nothing again
    assert again["filters"] == rows
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "r"))
    acc.Reload()
    assert {"block1_conv1/quality/robustness_mean", "block1_conv1/quality/selectivity"} <= set(acc.Tags()["scalars"])


def test_time_left_reads_as_a_duration_never_as_a_clock_time():
    from jaxviz.show.progress import duration

    said = {s: duration(s) for s in (0, 0.94, 3, 44, 700, 3599, 4800, 57621, 200000)}
    # 0 s only when nothing is left: 0.94 s for two filters of a resume once read "the rest should take 0 s".
    assert said == {0: "0 s", 0.94: "under a second", 3: "a few seconds", 44: "about 45 s", 700: "about 12 min",
                    3599: "about 1 h", 4800: "about 1 h 20 min", 57621: "about 16 h",
                    200000: "about 2 days"}  # fmt: skip
    assert not any(":" in text for text in said.values())


def test_settings_that_change_no_output_leave_a_complete_run_untouched(tmp_path, weights_path, capsys):
    """ascent.chunk, ascent.compile_cache, output.progress, output.snapshot_every, model.download and [distributed]
    change nothing a complete run shows: a rerun with only them changed writes nothing (no new TensorBoard event
    file, not even config.toml) and says it is complete and why; a setting that does change an output (the grid's
    columns) still rewrites it."""
    from jaxviz.run.recorded import NO_OUTPUT_KEYS

    base = {"target.filters": "0:2", "output.tensorboard": True}
    run_visualization(_cfg(tmp_path, weights_path, **base))
    out = tmp_path / "r"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".jaxviz.lock"}
    capsys.readouterr()
    unused = {"ascent.chunk": 1, "ascent.compile_cache": "off", "output.progress": False, "output.snapshot_every": 3,
              "model.download": False, "distributed.barrier_timeout": 5}  # fmt: skip
    assert set(unused) >= NO_OUTPUT_KEYS
    again = run_visualization(_cfg(tmp_path, weights_path, **base, **unused))
    said = capsys.readouterr().out
    assert again["up_to_date"] and "already complete with this config (ascent.chunk, " in said, said
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".jaxviz.lock"}
    assert after == before
    regrid = run_visualization(_cfg(tmp_path, weights_path, **base, **{"output.columns": 1}))
    assert "up_to_date" not in regrid and (out / "block1_conv1.png").read_bytes() != before[out / "block1_conv1.png"]
