"""Sweeps: one ordinary run per point, the index, resuming, failed points, and the bad-input contract."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, assert_main_refuses, assert_one_line_error, script, traces

from jaxviz import config as config_lib
from jaxviz.cli import sweep as cli_sweep
from jaxviz.errors import Interrupted, JaxvizError
from jaxviz.run import visualization as job
from jaxviz.sweep.sweep_index import LAYER_FIELDS, point_names
from jaxviz.sweep.sweep_runner import load_sweep, resolved_points, sweep

PRODUCT = """
[sweep]
mode = "product"

[sweep.axes]
"ascent.steps" = [2, 3]
"ascent.step" = [0.5, 1.0]
"""
PRODUCT_NAMES = ["steps-2_step-0.5", "steps-2_step-1.0", "steps-3_step-0.5", "steps-3_step-1.0"]
POINT_KEYS = {"name", "dir", "values", "status", "error", "seconds", "layers"}


def write_sweep(path: Path, weights: Path, sweep_text: str, layers: str = "block1_conv1", extra: str = "") -> Path:
    """A small sweep file: the base (2 filters, 32 px, 2 steps, no progress bar) plus `sweep_text`."""
    path.write_text(
        f"[model]\nweights = {json.dumps(str(weights))}\n\n"
        f'[target]\nlayers = "{layers}"\nfilters = "0:2"\n\n'
        f"[ascent]\nsize = 32\nsteps = 2\n{extra}\n"
        "[output]\nprogress = false\nsnapshot_every = 0\n" + sweep_text
    )
    return path


def run_script(*args: str) -> subprocess.CompletedProcess:
    return script("sweep", *args)


def fake_run(calls: list, nan: bool = False):
    """A stand-in for job.run_visualization that records its configs and returns a well-formed result."""

    def run(cfg, hparams=None, metric_layers=None):
        calls.append((cfg, hparams))
        layer = job.plan(cfg)
        filters = [{"layer": la, "filter": f, "nan": nan} for la, fs in layer.items() for f in fs]
        stats = {"filters": 2, "dead": 0, "nan": 2 * nan, "activation_mean": 1.0, "activation_median": 1.0}
        return {"filters": filters, "layers": {la: {**stats, "activation_max": 1.0} for la in layer}}

    return run


@pytest.fixture(scope="module")
def product(tmp_path_factory, weights_path):
    """A 2 x 2 product sweep over two layers, run once through scripts/sweep.py."""
    root = tmp_path_factory.mktemp("sweep")
    path = write_sweep(root / "product.toml", weights_path, PRODUCT, layers="block1_conv1,block2_conv1")
    out = root / "out"
    p = run_script("--config", str(path), "--out", str(out))
    assert p.returncode == 0, p.stderr
    *_, summary, last = p.stdout.splitlines()
    assert summary == f"jaxviz: sweep {out}: 4 points done, 0 failed"
    # The last line names what to open, as a run's does: the sweep's atlas and TensorBoard over every point.
    assert last.startswith(f"jaxviz: open {out / 'atlas' / 'index.html'} in a browser, or run: "), last
    assert last.endswith(f"tensorboard --logdir {out}"), last
    return path, out


def test_product_sweep_makes_one_ordinary_run_per_point(product):
    path, out = product
    assert sorted(d.name for d in out.iterdir() if d.is_dir()) == ["atlas", *PRODUCT_NAMES]  # one atlas for all
    assert (out / "atlas" / "index.html").is_file() and not (out / PRODUCT_NAMES[0] / "atlas").exists()
    assert [p.name for p in load_sweep(path, out).points] == PRODUCT_NAMES  # the same names every time
    for name in PRODUCT_NAMES:
        run_dir = out / name
        files = {f.name for f in run_dir.iterdir()}
        assert {"config.toml", "metrics.json", "block1_conv1.png", "block2_conv1.png", "state"} <= files
        assert any(f.startswith("events.out.tfevents") for f in files)
        cfg = config_lib.load(run_dir / "config.toml")
        steps, step = name.split("_")
        assert (cfg.ascent.steps, cfg.ascent.step) == (int(steps[6:]), float(step[5:]))
        assert cfg.output.dir == str(run_dir) and cfg.ascent.size == 32  # the base holds for every point


def test_index_json_and_csv(product):
    path, out = product
    index = json.loads((out / "index.json").read_text())
    assert set(index) == {"sweep", "points"}
    assert index["sweep"]["mode"] == "product"
    assert index["sweep"]["axes"] == {"ascent.steps": [2, 3], "ascent.step": [0.5, 1.0]}
    base = index["sweep"]["base"]
    assert set(base) == set(config_lib.as_flat_dict(config_lib.Config()))
    assert (base["output.dir"], base["ascent.size"]) == (str(out), 32)
    assert base["target.layers"] == "block1_conv1,block2_conv1"
    assert [p["name"] for p in index["points"]] == PRODUCT_NAMES
    for point in index["points"]:
        assert set(point) == POINT_KEYS
        # Relative to the sweep directory, so a moved sweep's index stays right.
        assert (point["status"], point["error"], point["dir"]) == ("done", None, point["name"])
        assert point["seconds"] > 0
        metrics = json.loads((out / point["name"] / "metrics.json").read_text())
        assert list(point["layers"]) == ["block1_conv1", "block2_conv1"]
        for layer, stats in point["layers"].items():
            assert stats == {f: metrics["layers"][layer][f] for f in LAYER_FIELDS}
    assert [p["values"] for p in index["points"]] == [
        {"ascent.steps": s, "ascent.step": t} for s in (2, 3) for t in (0.5, 1.0)
    ]
    with open(out / "index.csv", newline="") as f:
        rows = list(csv.reader(f))
    stats = [f"{layer}/{f}" for layer in ("block1_conv1", "block2_conv1") for f in LAYER_FIELDS]
    assert rows[0] == ["name", "dir", "status", "error", "seconds", "ascent.steps", "ascent.step", *stats]
    assert len(rows) == 5
    for row, point in zip(rows[1:], index["points"]):
        cells = dict(zip(rows[0], row))
        assert (cells["name"], cells["status"], cells["error"]) == (point["name"], "done", "")
        assert (int(cells["ascent.steps"]), float(cells["ascent.step"])) == tuple(point["values"].values())
        mean = point["layers"]["block2_conv1"]["activation_mean"]
        assert float(cells["block2_conv1/activation_mean"]) == pytest.approx(mean)
    # The directory describes itself: its sweep.toml gives every point's config as its run recorded it.
    recorded = [(out / p["name"] / "config.toml").read_text() for p in index["points"]]
    for source in (out / "sweep.toml", path):
        configs = resolved_points(load_sweep(source, out))
        assert [config_lib.to_toml(configs[p["name"]]) for p in index["points"]] == recorded


def test_events_carry_the_swept_hparams(product):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    _, out = product
    for name in PRODUCT_NAMES:
        acc = EventAccumulator(str(out / name))
        acc.Reload()
        content = acc.PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hparams = start.session_start_info.hparams
        assert set(hparams) == {"ascent.steps", "ascent.step"}
        steps, step = name.split("_")
        assert (hparams["ascent.steps"].number_value, hparams["ascent.step"].number_value) == (
            int(steps[6:]),
            float(step[5:]),
        )
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        assert {m.name.tag for m in experiment.metric_infos} == {
            f"hparams/{layer}/activation_mean" for layer in ("block1_conv1", "block2_conv1")
        }


def test_zip_pairs_values(tmp_path, weights_path, monkeypatch):
    calls = []
    monkeypatch.setattr(job, "run_visualization", fake_run(calls))
    axes = '"ascent.normalize" = ["rms", "l2", "max"]\n"ascent.step" = [1.0, 20.0, 0.5]\n'
    path = write_sweep(tmp_path / "z.toml", weights_path, f'[sweep]\nmode = "zip"\n[sweep.axes]\n{axes}')
    index = sweep(path, tmp_path / "out")
    assert [(c.ascent.normalize, c.ascent.step) for c, _ in calls] == [("rms", 1.0), ("l2", 20.0), ("max", 0.5)]
    assert all(h == ["ascent.normalize", "ascent.step"] for _, h in calls)
    names = ["normalize-rms_step-1.0", "normalize-l2_step-20.0", "normalize-max_step-0.5"]
    assert [p["name"] for p in index["points"]] == names
    assert [c.output.dir for c, _ in calls] == [str(tmp_path / "out" / n) for n in names]


def _state(run_dir: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in (run_dir / "state").glob("*/*.npz")}  # the chunks


def test_rerun_skips_finished_points_and_resumes_changed_ones(tmp_path, weights_path, monkeypatch):
    path = write_sweep(tmp_path / "r.toml", weights_path, '[sweep.axes]\n"ascent.steps" = [2, 3]\n')
    out = tmp_path / "out"
    first = sweep(path, out)
    dirs = [out / "steps-2", out / "steps-3"]
    before = [(_state(d), (d / "metrics.json").read_bytes(), (d / "metrics.json").stat().st_mtime_ns) for d in dirs]
    assert all(len(s) == 2 for s, _, _ in before)

    calls = []
    monkeypatch.setattr(job, "run_visualization", fake_run(calls))
    assert sweep(path, out) == first  # every point kept as recorded
    kept = sweep(path, out, ["ascent.chunk=1", "ascent.compile_cache=off"])  # changes no output: every point kept
    assert kept["points"] == first["points"]
    assert calls == []
    after = [(_state(d), (d / "metrics.json").read_bytes(), (d / "metrics.json").stat().st_mtime_ns) for d in dirs]
    assert after == before
    monkeypatch.undo()

    index = sweep(path, out, ["target.filters=0:3"])  # a changed base: every point runs again, resuming
    for d, (state, _, _) in zip(dirs, before):
        now = _state(d)
        assert {p: now[p] for p in state} == state and len(now) == 3  # only filter 2 was computed
        assert [r["filter"] for r in json.loads((d / "metrics.json").read_text())["filters"]] == [0, 1, 2]
    assert [p["status"] for p in index["points"]] == ["done", "done"]


def test_failed_point_is_recorded_and_the_others_run(tmp_path, weights_path, monkeypatch):
    # A uniform random start (0..255) leaves no block1 filter dead, so 3e38 overflows every one of them.
    sweep_text = '[sweep.axes]\n"ascent.step" = [1.0, 3e38]\n'
    path = write_sweep(tmp_path / "f.toml", weights_path, sweep_text, extra="init_mean = 0.0\ninit_noise = 255.0\n")
    out = tmp_path / "out"
    p = run_script("--config", str(path), "--out", str(out))
    assert_one_line_error(p.returncode, p.stderr, f"1 of 2 sweep points failed: step-3e38 (see {out / 'index.json'})")
    points = json.loads((out / "index.json").read_text())["points"]
    assert [(e["name"], e["status"]) for e in points] == [("step-1.0", "done"), ("step-3e38", "failed")]
    assert "non-finite" in points[1]["error"] and points[0]["error"] is None
    assert points[1]["layers"]["block1_conv1"]["nan"] == 2
    rows = json.loads((out / "step-3e38" / "metrics.json").read_text())["filters"]
    assert [(r["nan"], r["dead"]) for r in rows] == [(True, False), (True, False)]
    assert (out / "step-1.0" / "block1_conv1.png").exists()
    with open(out / "index.csv", newline="") as f:
        assert [r["status"] for r in csv.DictReader(f)] == ["done", "failed"]

    calls = []  # a rerun runs the failed point again, not the finished one
    monkeypatch.setattr(job, "run_visualization", fake_run(calls, nan=True))
    with pytest.raises(JaxvizError, match="1 of 2 sweep points failed: step-3e38"):
        sweep(path, out)
    assert [c.ascent.step for c, _ in calls] == [3e38]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, Interrupted])
def test_interrupt_stops_the_sweep(tmp_path, weights_path, monkeypatch, interrupt):
    calls, done = [], fake_run([])

    def run(cfg, hparams=None, metric_layers=None):
        calls.append(cfg)
        if len(calls) == 2:
            if interrupt is KeyboardInterrupt:
                raise KeyboardInterrupt
            raise Interrupted("interrupted; rerun the same command to resume")  # what run() makes of Ctrl-C
        return done(cfg, hparams)

    monkeypatch.setattr(job, "run_visualization", run)
    path = write_sweep(tmp_path / "i.toml", weights_path, '[sweep.axes]\n"ascent.steps" = [2, 3, 4]\n')
    with pytest.raises(interrupt):
        sweep(path, tmp_path / "out")
    assert len(calls) == 2
    points = json.loads((tmp_path / "out" / "index.json").read_text())["points"]
    assert [e["status"] for e in points] == ["done", "interrupted", "pending"]


BAD = {
    "unknown axis key": ('[sweep.axes]\n"ascent.bogus" = [1]\n', ["[sweep.axes]", "ascent.bogus", "valid keys"]),
    "unknown section": ('[sweep.axes]\n"bogus.steps" = [1]\n', ["[sweep.axes]", "'bogus'", "valid sections"]),
    "wrong element type": ('[sweep.axes]\n"ascent.steps" = [2, "many"]\n', ["'ascent.steps'", "'many'", "integer"]),
    "element out of range": ('[sweep.axes]\n"ascent.size" = [32, 0]\n', ["'ascent.size'", "greater than 0"]),
    "not a list": ('[sweep.axes]\n"ascent.steps" = 3\n', ["'ascent.steps' must be a list", "got 3"]),
    "empty list": ('[sweep.axes]\n"ascent.steps" = []\n', ["'ascent.steps' is an empty list"]),
    "zip lengths": (
        '[sweep]\nmode = "zip"\n[sweep.axes]\n"ascent.steps" = [2, 3]\n"ascent.step" = [1.0, 2.0, 3.0]\n',
        ["zip", "ascent.steps has 2", "ascent.step has 3"],
    ),
    "no axes": ('[sweep]\nmode = "product"\n', ["[sweep] has no axes", '"ascent.steps" = [20, 40]']),
    "empty axes": ("[sweep]\n[sweep.axes]\n", ["[sweep] has no axes"]),
    "unknown mode": ('[sweep]\nmode = "grid"\n[sweep.axes]\n"ascent.steps" = [2]\n', ["'grid'", "product, zip"]),
    "unknown sweep key": ('[sweep]\nmodes = "zip"\n[sweep.axes]\n"ascent.steps" = [2]\n', ["'modes'", "mode, axes"]),
    "no sweep table": ("", ["no [sweep] table"]),
    "sweep not a table": ("", ["[sweep] must be a table"]),
    "output.dir axis": ('[sweep.axes]\n"output.dir" = ["a", "b"]\n', ["output.dir", "--out"]),
    "same point twice": ('[sweep.axes]\n"ascent.step" = [1, 1.0]\n', ["more than once"]),
    "filter out of range": ('[sweep.axes]\n"target.filters" = ["0:2", "70"]\n', ["sweep point filters-70", "0..63"]),
    "unknown layer": ('[sweep.axes]\n"target.layers" = ["block9_conv1"]\n', ["point layers-block9", "block5_conv3"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_sweep_files_fail_in_one_line_writing_nothing(tmp_path, weights_path, capsys, case):
    text, needles = BAD[case]
    path = write_sweep(tmp_path / "bad.toml", weights_path, text)
    if case == "sweep not a table":
        path.write_text("sweep = 3\n" + path.read_text())
    out = tmp_path / "out"
    assert_main_refuses(cli_sweep.main, ["--config", str(path), "--out", str(out)], capsys, *needles)
    assert not out.exists()


def test_bad_input_through_the_command(tmp_path, weights_path, capsys):
    path = write_sweep(tmp_path / "bad.toml", weights_path, '[sweep.axes]\n"ascent.bogus" = [1]\n')
    out = tmp_path / "out"
    assert_main_refuses(
        cli_sweep.main, ["--config", str(path), "--out", str(out)], capsys, "in [sweep.axes]", "ascent.bogus"
    )
    argv = ["--config", str(tmp_path / "none.toml"), "--out", str(out)]
    assert_main_refuses(cli_sweep.main, argv, capsys, "does not exist")
    argv = ["--config", str(path), "--set", "ascent.size=0"]
    assert_main_refuses(cli_sweep.main, argv, capsys, "ascent.size must be greater")
    assert not out.exists() and not (ROOT / "runs" / "bad").exists()


def test_point_names():
    assert point_names([{"ascent.steps": 20, "ascent.step": 0.5}]) == ["steps-20_step-0.5"]
    assert point_names([{"a.x": 1, "b.x": 2, "c.y": True}]) == ["a.x-1_b.x-2_y-true"]  # short keys collide
    assert point_names([{"t.f": "0:4"}, {"t.f": (1, 2)}]) == ["f-0_4", "f-1_2"]
    assert point_names([{"m.w": "/w/a b.h5"}]) == ["w-_w_a_b.h5"]
    assert point_names([{"a.s": 3e38}, {"a.s": 1e-05}]) == ["s-3e38", "s-1e-05"]
    clash = point_names([{"t.layers": "b1,b2"}, {"t.layers": ("b1", "b2")}, {"t.layers": "B1,B2"}])
    assert len(set(clash)) == 3 and all(n.startswith("layers-b1_b2_") or n.startswith("layers-B1_B2_") for n in clash)
    assert clash == point_names([{"t.layers": "b1,b2"}, {"t.layers": ("b1", "b2")}, {"t.layers": "B1,B2"}])
    # A path is named by its file's stem (finding 15), with its folders where two files share a name.
    w = "/work/shared/weights/vgg16_keras_imagenet_notop.h5"
    named = point_names(
        [{"model.name": "vgg16", "model.weights": w}, {"model.name": "keras", "model.weights": "s.keras"}]
    )
    assert named == ["name-vgg16_weights-vgg16_keras_imagenet_notop", "name-keras_weights-s"]
    same = point_names([{"model.weights": p} for p in ("/a/w.h5", "/b/w.h5", "/b/w.keras", "random")])
    assert same == ["weights-a_w.h5", "weights-b_w.h5", "weights-b_w.keras", "weights-random"]
    long = point_names([{"m.weights": "x" * 300}, {"m.weights": "x" * 299}])
    assert all(len(n) <= 100 for n in long) and long[0] != long[1]


def test_compile_is_reused_across_step_sizes(tmp_path, weights_path):
    from jaxviz import ascent

    if hasattr(ascent.compiled_step, "cache_clear"):
        ascent.compiled_step.cache_clear()  # a step compiled by another test must not hide a trace
    sweep_text = '[sweep.axes]\n"ascent.step" = [0.5, 1.0, 2.0]\n'
    path = write_sweep(tmp_path / "c.toml", weights_path, sweep_text)
    with traces() as seen:
        index = sweep(path, tmp_path / "out", ["ascent.size=36"])  # a size no other test compiles
    assert [p["status"] for p in index["points"]] == ["done"] * 3
    assert seen[ascent.step_name("block1_conv1", 36)] == 1, dict(seen)


def test_sweep_directory_is_out_then_the_files_output_dir_then_runs_stem(tmp_path, weights_path):
    plain = write_sweep(tmp_path / "plain.toml", weights_path, PRODUCT)
    assert load_sweep(plain).out == (Path("runs") / "plain").absolute()  # absolute: sweep.toml reruns from anywhere
    assert load_sweep(plain, tmp_path / "o").out == tmp_path / "o"
    assert load_sweep(plain, overrides=[f"output.dir={tmp_path / 's'}"]).out == tmp_path / "s"
    text = plain.read_text().replace("[output]\n", f"[output]\ndir = {json.dumps(str(tmp_path / 'f'))}\n")
    (tmp_path / "given.toml").write_text(text)
    assert load_sweep(tmp_path / "given.toml").out == tmp_path / "f"
    assert load_sweep(tmp_path / "given.toml", tmp_path / "o").out == tmp_path / "o"


def test_examples_are_computed_once_and_copied_into_the_other_points(tmp_path, weights_path, monkeypatch):
    import numpy as np
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((36, 40, 3), (60 * i, 30, 200 - 50 * i), np.uint8)).save(photos / f"{i}.png")
    extra = f'\n[examples]\nimages = "{photos}"\nsize = 32\ntop = 2\n'
    axes = '[sweep.axes]\n"ascent.step" = [0.5, 1.0]\n'
    path = write_sweep(tmp_path / "e.toml", weights_path, axes + extra)
    computed = []
    from jaxviz.run import examples_stage as run_examples

    real = run_examples.after_ascent
    monkeypatch.setattr(run_examples, "after_ascent", lambda cfg, j, *a: computed.append(j.out) or real(cfg, j, *a))
    monkeypatch.setattr(job, "run_visualization", fake_run([]))  # the ascent is not what is tested here
    out = tmp_path / "out"
    sweep(path, out)
    first, second = out / "step-0.5" / "examples", out / "step-1.0" / "examples"
    assert computed == [out / "step-0.5"]  # the folder was read once
    names = sorted(f.name for f in first.iterdir())
    assert names == ["block1_conv1.npz", "images.json", "state.npz"] == sorted(f.name for f in second.iterdir())
    assert all((first / n).read_bytes() == (second / n).read_bytes() for n in names)
    stamps = {f: f.stat().st_mtime_ns for f in [*first.iterdir(), *second.iterdir()]}
    (second / "images.json").unlink()  # as if cut off before its examples were written: a rerun mends it
    computed.clear()
    sweep(path, out)
    assert (second / "images.json").read_bytes() == (first / "images.json").read_bytes()
    assert {f: f.stat().st_mtime_ns for f in first.iterdir()} == {f: t for f, t in stamps.items() if f.parent == first}
    stamps = {f: f.stat().st_mtime_ns for f in [*first.iterdir(), *second.iterdir()]}
    sweep(path, out)  # nothing missing: nothing copied again
    assert {f: f.stat().st_mtime_ns for f in [*first.iterdir(), *second.iterdir()]} == stamps


def test_a_sweep_file_may_start_from_a_preset(tmp_path, weights_path):
    from jaxviz.config import presets

    path = write_sweep(tmp_path / "p.toml", weights_path, PRODUCT)
    path.write_text('preset = "quality"\n' + path.read_text())
    sw = load_sweep(path, tmp_path / "out")
    quality = config_lib.load(presets.path("quality"))
    assert sw.base.param == quality.param and sw.base.objective == quality.objective  # from the preset
    assert sw.base.ascent.size == 32 and [p.cfg.ascent.steps for p in sw.points] == [2, 2, 3, 3]  # the file's own
