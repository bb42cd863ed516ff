"""TensorBoard stays readable across resumes, extensions and sweeps: read back with TensorBoard's own loader."""

from __future__ import annotations

import pytest
from conftest import interrupt_chunk, small_cfg
from PIL import Image

from jaxviz import ascent
from jaxviz import config as config_lib
from jaxviz.errors import Interrupted
from jaxviz.run import session
from jaxviz.run.visualization import run_visualization

pytest.importorskip("tensorboard")


def _events(run_dir):
    """Every event of every file in `run_dir`, files in the order they were started."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    files = [list(EventFileLoader(str(p)).Load()) for p in run_dir.glob("*tfevents*")]
    return [e for events in sorted(files, key=lambda evs: evs[0].wall_time) for e in events]


def _steps_by_tag(run_dir) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for e in _events(run_dir):
        for v in e.summary.value:
            out.setdefault(v.tag, []).append(e.step)
    return out


def assert_every_tag_increases(run_dir) -> dict[str, list[int]]:
    steps = _steps_by_tag(run_dir)
    for tag, seq in steps.items():
        assert all(a < b for a, b in zip(seq, seq[1:])), (tag, seq)
    return steps


def _cfg(tmp_path, weights_path, **extra):
    quiet = {"output.quality": False, "output.atlas": False, "output.snapshot_every": 1}
    return small_cfg(tmp_path, weights_path, **{"target.filters": "0:4", "ascent.chunk": 2, **quiet, **extra})


@pytest.mark.parametrize(
    "method",
    [
        {"ascent.stages": 2},  # stages count as steps: 2 x 2 per chunk
        {"ascent.stages": 3, "ascent.upscale": 1.2, "ascent.size": 40},  # upscaling stages
        {"objective.images": 2, "objective.diversity": 0.1},  # several images per filter
    ],
    ids=["stages", "upscale", "images"],
)
def test_steps_keep_increasing_across_a_resume_and_an_extension(tmp_path, weights_path, monkeypatch, method):
    monkeypatch.setattr(session, "SNAPSHOT_SECONDS", 0.0)  # a live grid at every step
    original = interrupt_chunk(monkeypatch, 2)
    with pytest.raises(Interrupted):
        run_visualization(_cfg(tmp_path, weights_path, **method))
    first = _steps_by_tag(tmp_path / "r")
    monkeypatch.setattr(ascent.LayerAscent, "__call__", original)
    run_visualization(_cfg(tmp_path, weights_path, **method))  # the resume
    run_visualization(
        _cfg(tmp_path, weights_path, **method, **{"target.filters": "0:6"})
    )  # the extension: 2 more filters
    steps = assert_every_tag_increases(tmp_path / "r")
    live = steps["live/block1_conv1/activation_mean"]
    per_chunk = 2 * method.get("ascent.stages", 1)
    assert len(live) == 3 * per_chunk and max(first["live/block1_conv1/activation_mean"]) < live[per_chunk]
    assert len(steps["block1_conv1/grid"]) > 3  # live snapshots and the partial, resumed and extended grids
    # The grid TensorBoard shows last is the extension's final one, as written to disk (and none was purged).
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "r"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    shown = acc.Images("block1_conv1/grid")
    assert [i.step for i in shown] == steps["block1_conv1/grid"]
    with Image.open(tmp_path / "r" / "block1_conv1.png") as png:
        assert (shown[-1].width, shown[-1].height) == png.size
    assert max(steps["block1_conv1/grid"]) == max(steps["block1_conv1/dead_filters"])


def test_a_rerun_of_a_finished_layer_writes_after_what_is_there(tmp_path, weights_path):
    cfg = _cfg(tmp_path, weights_path, **{"ascent.stages": 2})
    run_visualization(cfg)
    run_visualization(
        config_lib.apply(cfg, {"output.sort": True})
    )  # a changed display: grids redrawn, nothing recomputed
    steps = assert_every_tag_increases(tmp_path / "r")
    assert len(steps["block1_conv1/grid"]) >= 2 and steps["block1_conv1/activation_mean"][:5] == [0, 1, 2, 3, 4]


def test_every_sweep_point_declares_the_same_hparams_metrics(tmp_path, weights_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    from jaxviz.sweep.sweep_runner import sweep

    path = tmp_path / "layers.toml"
    path.write_text(
        f'[model]\nweights = "{weights_path}"\n[target]\nfilters = "0:2"\n[ascent]\nsize = 32\nsteps = 2\n'
        "[output]\nprogress = false\nquality = false\natlas = false\n"
        '[sweep]\nmode = "product"\n[sweep.axes]\n"target.layers" = ["block1_conv1", "block2_conv1"]\n'
    )
    index = sweep(path, tmp_path / "sw")
    wanted = {"hparams/block1_conv1/activation_mean", "hparams/block2_conv1/activation_mean"}
    for point in index["points"]:
        acc = EventAccumulator(str(tmp_path / "sw" / point["dir"]))
        acc.Reload()
        content = acc.PluginTagToContent("hparams")
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        assert {m.name.tag for m in experiment.metric_infos} == wanted, point["name"]
        own = f"hparams/{point['values']['target.layers']}/activation_mean"
        assert own in acc.Tags()["scalars"]  # its own layer has a value; the other is declared, left empty


def test_a_slow_tensorboard_writer_never_stalls_the_ascent(tmp_path, weights_path, monkeypatch):
    import time

    from jaxviz.show.writers import TensorBoardWriter

    delay, original = 1.5, TensorBoardWriter.write_images
    written = []

    def slow(self, step, images):
        time.sleep(delay)  # a grid of 512 tiles, PNG-encoded, on a busy CPU
        written.append(step)
        return original(self, step, images)

    monkeypatch.setattr(TensorBoardWriter, "write_images", slow)
    monkeypatch.setattr(session, "SNAPSHOT_SECONDS", 0.0)  # a live grid wanted at every step
    cfg = _cfg(tmp_path, weights_path, **{"target.filters": "0:2", "ascent.steps": 8, "ascent.chunk": 1})
    run_visualization(cfg)  # compile first, so the timing below is the ascent's
    cfg = config_lib.apply(cfg, {"output.dir": str(tmp_path / "timed")})
    written.clear()
    t = time.perf_counter()
    run_visualization(cfg)
    seconds = time.perf_counter() - t
    steps = 2 * 8  # two chunks of one filter, 8 steps each: 16 snapshots wanted
    assert seconds < steps * delay / 2, seconds  # inline, the snapshots alone would take 24 s
    assert 2 <= len(written) < steps + 2  # some live grids (and the final one) made, the rest skipped
    assert_every_tag_increases(tmp_path / "timed")
