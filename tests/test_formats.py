"""One module per run-directory format, which both writes and reads it: each round trip, each damaged file refused
or ignored as its readers expect, the atlas reading only through them (and importing no JAX), and the chunk store
refusing to mix images the step choices (ascent.loop, target, conv) made differently."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxviz import config as config_lib
from jaxviz.atlas.atlas_state import dumps, known
from jaxviz.dataset_examples import examples_store
from jaxviz.errors import JaxvizError
from jaxviz.run import chunk_store, filter_pngs, metrics_file, recorded, report
from jaxviz.run.chunk_store import FilterResult, Store
from jaxviz.sweep import sweep_index

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxviz"
LAYER = "block1_conv1"
CPU = {"backend": "cpu"}  # the part of numerics.environment() the step choices depend on


def _results(n: int, size: int = 8, seed: int = 0) -> list[FilterResult]:
    rng = np.random.default_rng(seed)
    return [
        FilterResult(rng.integers(0, 256, (size, size, 3), np.uint8), rng.random(3).astype(np.float32), -1)
        for _ in range(n)
    ]


def _wanted(**ascent) -> dict:
    cfg = config_lib.apply(config_lib.Config(), {f"ascent.{k}": v for k, v in ascent.items()})
    return chunk_store.settings(cfg, "fingerprint")


# --- RUN/state/: chunks and settings.json (run/chunk_store.py) -------------------------------------------------


def test_chunks_round_trip_through_the_store_and_the_atlas_reader(tmp_path):
    made = _results(5)
    store = Store(tmp_path, _wanted(), CPU)
    store.save(LAYER, [0, 1, 2], made[:3])
    store.save(LAYER, [3, 4], made[3:])
    again = Store(tmp_path, _wanted(), CPU).load(LAYER)
    assert sorted(again) == [0, 1, 2, 3, 4] and store.layers() == [LAYER]
    for f, r in again.items():
        assert np.array_equal(r.tile, made[f].tile) and np.array_equal(r.history, made[f].history)
        assert r.nan_step == -1
    tiles = chunk_store.read_tiles(tmp_path, LAYER, {1, 4, 7})
    assert sorted(tiles) == [1, 4] and np.array_equal(tiles[4], made[4].tile)
    assert [p.name for p in chunk_store.chunk_files(tmp_path, LAYER)] == ["0000-0002.npz", "0003-0004.npz"]


def test_a_damaged_chunk_is_set_aside_by_the_run_and_left_alone_by_the_atlas(tmp_path):
    store = Store(tmp_path, _wanted(), CPU)
    store.save(LAYER, [0, 1], _results(2))
    store.save(LAYER, [2, 3], _results(2, seed=1))
    first = chunk_store.chunk_files(tmp_path, LAYER)[0]
    first.write_bytes(b"not a zip")
    assert sorted(chunk_store.read_tiles(tmp_path, LAYER, {0, 1, 2, 3})) == [2, 3]
    assert first.exists()  # the atlas reads, never moves
    assert sorted(store.load(LAYER)) == [2, 3]
    assert not first.exists() and first.with_suffix(".damaged").exists()  # kept for inspection, redone


def test_a_damaged_settings_file_is_refused_and_the_advice_is_the_run_directory(tmp_path):
    Store(tmp_path, _wanted(), CPU)
    (tmp_path / "state" / "settings.json").write_text('{"size": ')
    with pytest.raises(JaxvizError, match="settings.json is damaged") as e:
        Store(tmp_path, _wanted(), CPU)
    assert str(e.value).endswith(f"delete {tmp_path} to start this run afresh")


def test_the_refusals_advise_deleting_the_run_directory_not_its_state(tmp_path):
    """Deleting only DIR/state left the old grids and event files beside the new results."""
    Store(tmp_path, _wanted(steps=2), CPU)
    with pytest.raises(JaxvizError, match=r"steps: 2 -> 3") as e:
        Store(tmp_path, _wanted(steps=3), CPU)
    assert f"delete {tmp_path} to redo them" in str(e.value) and str(tmp_path / "state") not in str(e.value)
    Store(tmp_path, _wanted(steps=2), {"backend": "cpu", "jax": "0.4"})  # not recorded then: recorded now
    with pytest.raises(JaxvizError, match="other numerics") as e:
        Store(tmp_path, _wanted(steps=2), {"backend": "cpu", "jax": "0.5"})
    assert str(e.value).endswith(f"(or delete {tmp_path})")


def test_the_step_choices_are_recorded_and_a_resume_that_changes_them_is_refused_by_name(tmp_path):
    wanted = _wanted()
    assert {k: wanted[k] for k in ("loop", "target", "conv")} == {"loop": "auto", "target": "auto", "conv": "auto"}
    Store(tmp_path, wanted, CPU)
    assert json.loads((tmp_path / "state" / "settings.json").read_text())["conv"] == "auto"
    with pytest.raises(JaxvizError, match=re.escape("conv: 'auto' (patches on cpu) -> 'xla'")):
        Store(tmp_path, _wanted(conv="xla"), CPU)
    with pytest.raises(JaxvizError, match=re.escape("loop: 'auto' (host on cpu) -> 'device'")):
        Store(tmp_path, _wanted(loop="device"), CPU)
    with pytest.raises(JaxvizError, match=re.escape("target: 'auto' (channel on cpu) -> 'layer'")):
        Store(tmp_path, _wanted(target="layer"), CPU)
    # What "auto" is made as on this backend computes the same images: accepted.
    Store(tmp_path, _wanted(loop="host", target="channel", conv="patches"), CPU)
    # On an accelerator "auto" is xla: there, the directory made on it takes conv = "xla" and refuses "patches".
    gpu = tmp_path / "gpu"
    Store(gpu, wanted, {"backend": "gpu"})
    Store(gpu, _wanted(conv="xla"), {"backend": "gpu"})
    with pytest.raises(JaxvizError, match=re.escape("conv: 'auto' (xla on gpu) -> 'patches'")):
        Store(gpu, _wanted(conv="patches"), {"backend": "gpu"})


def test_a_directory_from_before_the_step_choices_were_recorded_counts_as_auto(tmp_path):
    Store(tmp_path, _wanted(), CPU)
    path = tmp_path / "state" / "settings.json"
    old = json.loads(path.read_text())
    for key in ("loop", "target", "conv"):
        del old[key]
    path.write_text(json.dumps(old))
    Store(tmp_path, _wanted(), CPU)
    with pytest.raises(JaxvizError, match=re.escape("conv: 'auto' (patches on cpu) -> 'xla'")):
        Store(tmp_path, _wanted(conv="xla"), CPU)


def test_extending_a_run_with_another_conv_is_refused_before_anything_is_written(tmp_path, weights_path):
    """The new user's repro, in process: conv = auto, then conv = xla with more filters into the same directory."""
    import jax
    from conftest import small_cfg

    from jaxviz.run.visualization import run_visualization

    # A choice other than what "auto" is made as on this backend (on CPU: patches, else xla).
    other, made = ("xla", "patches") if jax.default_backend() == "cpu" else ("patches", "xla")
    first = small_cfg(tmp_path, weights_path, **{"target.filters": "0:2", "output.tensorboard": False})
    run_visualization(first)
    out = tmp_path / "r"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".jaxviz.lock"}
    more = config_lib.apply(first, {"target.filters": "0:4", "ascent.conv": other})
    with pytest.raises(JaxvizError, match=re.escape(f"other settings (conv: 'auto' ({made} on ")):
        run_visualization(more)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".jaxviz.lock"}
    assert after == before


# --- RUN/metrics.json (run/metrics_file.py) ---------------------------------------------------------------------

RECORD = {"layer": LAYER, "filter": 3, "activation": 1.5, "dead": False, "nan": False, "history": [0.0, None, 1.5]}


def test_metrics_round_trip_and_its_readers(tmp_path):
    assert metrics_file.read(tmp_path) is None  # before the first layer finishes
    doc = {"filters": [RECORD], "layers": {LAYER: {"filters": 1, "seconds": 2.5, "compile_seconds": 1.0}}}
    metrics_file.write(tmp_path, doc)
    assert metrics_file.read(tmp_path) == doc
    assert report.previous_times(tmp_path) == {LAYER: {"seconds": 2.5, "compile_seconds": 1.0}}


@pytest.mark.parametrize(
    "text, why",
    [
        ('{"filters": [', "not JSON"),
        ('{"layers": {}}', "no list of filters"),
        ('{"filters": [], "layers": {"a": 1}}', "'layers' is not an object of objects"),
        (json.dumps({"filters": [{**RECORD, "layer": "../x"}]}), "a filter record has the layer '../x'"),
        (json.dumps({"filters": [{**RECORD, "filter": -1}]}), "has the filter number -1"),
        (json.dumps({"filters": [{**RECORD, "history": ["a"]}]}), "a history that is not a list of numbers"),
    ],
)
def test_damaged_metrics_are_refused_by_the_atlas_and_ignored_by_a_resume(tmp_path, text, why):
    (tmp_path / "metrics.json").write_text(text)
    with pytest.raises(JaxvizError, match=r"metrics\.json is damaged \(.*" + re.escape(why)):
        metrics_file.read(tmp_path)
    assert report.previous_times(tmp_path) == {}
    recorded.write_config(tmp_path, "[ascent]\n")
    assert recorded.up_to_date(tmp_path, "[ascent]\n", {}, atlas=False) is None  # the rerun writes it again


# --- RUN/config.toml (run/recorded.py) and RUN/filters/ (run/filter_pngs.py) ------------------------------------


def test_the_recorded_config_round_trips_and_a_damaged_one_shows_no_settings(tmp_path):
    assert recorded.read_config(tmp_path) is None
    text = config_lib.to_toml(config_lib.apply(config_lib.Config(), {"ascent.size": 48, "ascent.steps": 7}))
    recorded.write_config(tmp_path, text)
    assert recorded.read_config(tmp_path) == text
    assert {k: recorded.ascent_table(text)[k] for k in ("size", "steps")} == {"size": 48, "steps": 7}
    (tmp_path / "config.toml").write_bytes(b"[ascent\nsize = \xff")
    assert recorded.read_config(tmp_path) is None and recorded.ascent_table("[ascent\nsize = ") == {}


def test_per_filter_pngs_round_trip_and_a_damaged_one_is_absent(tmp_path):
    tile = _results(1, size=12)[0].tile
    filter_pngs.write(tmp_path, LAYER, 7, tile)
    assert np.array_equal(filter_pngs.read(tmp_path, LAYER, 7), tile)
    assert [p.name for p in filter_pngs.files(tmp_path, LAYER)] == ["0007.png"]
    filter_pngs.path(tmp_path, LAYER, 7).write_bytes(b"not a png")
    assert filter_pngs.read(tmp_path, LAYER, 7) is None and filter_pngs.read(tmp_path, LAYER, 8) is None


# --- a sweep's index.json, index.csv and sweep.toml (sweep/sweep_index.py) --------------------------------------


def _index(tmp_path: Path) -> dict:
    base = config_lib.Config()
    summary = {LAYER: {"activation_mean": 1.0, "activation_median": 1.0, "dead": 0, "nan": 0, "filters": 2}}
    entries = [
        sweep_index.entry("step-0.5", "step-0.5", {"ascent.step": 0.5}, "done", None, 1.25, summary),
        sweep_index.entry("step-1.0", "step-1.0", {"ascent.step": 1.0}, "pending"),
    ]
    index = sweep_index.document("grid", {"ascent.step": [0.5, 1.0]}, base, entries)
    sweep_index.write(tmp_path, index, [LAYER])
    sweep_index.write_sweep_toml(tmp_path, base, "grid", {"ascent.step": [0.5, 1.0]})
    return index


def test_the_sweep_index_round_trips(tmp_path):
    assert sweep_index.read(tmp_path) is None
    index = _index(tmp_path)
    found = sweep_index.read(tmp_path)
    assert (found.mode, found.axes, found.points) == ("grid", {"ascent.step": [0.5, 1.0]}, index["points"])
    assert "[sweep.axes]" in sweep_index.read_sweep_toml(tmp_path)
    assert (tmp_path / "index.csv").read_text().splitlines()[1].startswith("step-0.5,step-0.5,done,,1.25,0.5,")
    text = "[ascent]\nstep = 0.5\n"
    recorded.write_config(tmp_path / "step-0.5", text)
    assert list(sweep_index.finished(tmp_path, {"step-0.5": text, "step-1.0": text})) == ["step-0.5"]
    assert sweep_index.finished(tmp_path, {"step-0.5": text + "\n"}) == {}  # its config changed: it runs again


@pytest.mark.parametrize(
    "doc, why",
    [
        ('{"points": [', "not JSON"),
        ({"sweep": {}}, "no list of points"),
        ({"sweep": {"axes": []}, "points": []}, "'sweep.axes' is not an object"),
        ({"points": [{"name": "a/../../b"}]}, "a point is named 'a/../../b'"),
        ({"points": ["x"]}, "a point is named 'x'"),
    ],
)
def test_a_damaged_sweep_index_is_refused_by_the_atlas_and_ignored_by_a_resume(tmp_path, doc, why):
    _index(tmp_path)
    recorded.write_config(tmp_path / "step-0.5", "x")
    assert list(sweep_index.finished(tmp_path, {"step-0.5": "x"})) == ["step-0.5"]
    (tmp_path / "index.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(JaxvizError, match=re.escape(f"index.json is damaged ({why}")):
        sweep_index.read(tmp_path)
    assert sweep_index.finished(tmp_path, {"step-0.5": "x"}) == {}  # every point runs (resuming from its chunks)


# --- RUN/examples/ (dataset_examples/examples_store.py) -----------------------------------------------------------


def _examples(tmp_path: Path) -> examples_store.Examples:
    rng = np.random.default_rng(3)
    layer = examples_store.LayerExamples(
        scores=np.sort(rng.random((3, 2), dtype=np.float32))[:, ::-1],
        image=rng.integers(0, 4, (3, 2)).astype(np.int32),
        position=rng.integers(0, 8, (3, 2, 2)).astype(np.int32),
        box=np.asarray(rng.integers(0, 20, (3, 2, 4)), np.int32),
        mean=rng.random(3, dtype=np.float32),
        fires=rng.random(3, dtype=np.float32),
        filters=np.asarray([0, 5, 9], np.int32),
    )
    images = [{"path": f"im{i}.png", "width": 40, "height": 30} for i in range(3)] + [{"path": "../up.png"}]
    result = examples_store.Examples(tmp_path / "photos", 16, images, {LAYER: layer})
    examples_store.write(tmp_path, result)
    return result


def test_examples_round_trip(tmp_path):
    written = _examples(tmp_path)
    assert examples_store.read_stored(tmp_path, [LAYER]) is not None
    stored = examples_store.read_stored(tmp_path, [LAYER, "block2_conv1"])
    assert (stored.root, stored.size) == (str(tmp_path / "photos"), 16)
    assert stored.images == ["im0.png", "im1.png", "im2.png", ""]  # not a safe relative path: a vanished image
    assert list(stored.layers) == [LAYER] and examples_store.stored_layers(tmp_path) == [LAYER]
    ours, theirs = stored.layers[LAYER], written.layers[LAYER]
    assert ours.filters == [0, 5, 9]
    for key in ("scores", "image", "mean", "fires"):
        assert np.array_equal(getattr(ours, key), getattr(theirs, key)), key
    assert np.array_equal(ours.box, np.clip(theirs.box, 0, 16))  # within the 16 px image


def test_damaged_examples_are_left_out(tmp_path):
    _examples(tmp_path)
    (tmp_path / "examples" / f"{LAYER}.npz").write_bytes(b"damaged")
    assert examples_store.read_stored(tmp_path, [LAYER]).layers == {}  # the layer left out, not an error
    (tmp_path / "examples" / "images.json").write_text('{"root": ')
    assert examples_store.read_stored(tmp_path, [LAYER]) is None  # no panel


# --- the atlas's own state, ATLAS/.atlas.json (atlas/atlas_state.py) ---------------------------------------------


def test_the_atlas_state_round_trips_and_a_damaged_one_is_forgotten(tmp_path):
    state = {"": {"pictures": {"encoding": 1, "layers": {}}, "pages": {LAYER: "abc"}}}
    (tmp_path / ".atlas.json").write_text(dumps(state))
    assert known(tmp_path / ".atlas.json") == state
    for damaged in ('{"": ', "[1, 2]"):
        (tmp_path / ".atlas.json").write_text(damaged)
        assert known(tmp_path / ".atlas.json") == {}  # everything is checked again
    assert known(tmp_path / "missing.json") == {}


# --- the atlas reads only through the formats' modules, and imports no JAX ---------------------------------------

READERS = {"np.load", "numpy.load", "read_npz", "json.loads", "json.load", "tomllib.loads", "tomllib.load", "read_json"}


def _calls(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else ast.unparse(f) if isinstance(f, ast.Attribute) else ""
            found.add(name)
    return found


def test_the_atlas_parses_no_file_of_a_run_or_sweep_itself():
    """Only its own state file (atlas_state.py) is parsed in the atlas; a run's and a sweep's files are read by
    their formats' modules."""
    wrong = {
        f"{path.relative_to(ROOT)}: {sorted(_calls(path) & READERS)}"
        for path in sorted((PACKAGE / "atlas").glob("*.py"))
        if path.name != "atlas_state.py" and _calls(path) & READERS
    }
    assert not wrong, wrong


def test_the_atlas_imports_no_jax_and_the_app_packages_import_nothing():
    code = (
        "import sys, jaxviz.atlas.build; "
        "print('jax' in sys.modules, sorted(m for m in sys.modules if m.startswith(('jaxviz.run.', 'jaxviz.sweep.'))))"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    jax, modules = p.stdout.split(" ", 1)
    assert jax == "False", p.stdout
    for fmt in ("jaxviz.run.chunk_store", "jaxviz.run.metrics_file", "jaxviz.sweep.sweep_index"):
        assert fmt in modules, modules  # read through them, and still no JAX
    for package in ("run", "sweep"):
        tree = ast.parse((PACKAGE / package / "__init__.py").read_text())
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], package


def test_markupsafe_is_neither_imported_nor_declared():
    """What the atlas showed unescaped through markupsafe.Markup is text of its own: it belongs in the templates."""
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "markupsafe" for n in names), path
    assert "markupsafe" not in (ROOT / "pyproject.toml").read_text()
