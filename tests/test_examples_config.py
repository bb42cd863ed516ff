"""The [examples] config table: parsed and checked, `jaxviz-examples --config`, visualize computing the examples
after its ascent (atlas panel, a rerun writing nothing), and the examples' TensorBoard scalars."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error, script
from PIL import Image

from jaxviz import config as config_lib
from jaxviz.cli import visualize as cli_visualize
from jaxviz.cli.examples import main as examples_main
from jaxviz.runtime.dir_lock import LOCK_NAME

IMAGES = 6


def _stamps(out: Path) -> dict[Path, int]:
    """Every file's time, but the lock file's (each run that holds the directory names itself there)."""
    return {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """6 small random PNGs."""
    root = tmp_path_factory.mktemp("exconfig") / "images"
    root.mkdir()
    rng = np.random.default_rng(3)
    for i in range(IMAGES):
        Image.fromarray(rng.integers(0, 256, (36 + 2 * i, 34, 3), dtype=np.uint8)).save(root / f"im{i}.png")
    return root


def write_config(path: Path, weights: Path, out: Path, examples: str, **extra: str) -> Path:
    """A small config: block1_conv1 and block2_conv1, filters 0:4, 32 px, 2 steps; `examples` the [examples]
    table's body; `extra` more tables by name."""
    tables = {
        "model": f'weights = "{weights}"',
        "target": 'layers = "block1_conv1,block2_conv1"\nfilters = "0:4"',
        "ascent": "size = 32\nsteps = 2",
        "output": f'dir = "{out}"\nquality = "off"\nprogress = false',
        "examples": examples,
        **extra,
    }
    path.write_text("".join(f"[{name}]\n{body}\n\n" for name, body in tables.items()))
    return path


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of `tag` in every event file of `run_dir`, as TensorBoard loads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return [(s.step, s.value) for s in acc.Scalars(tag)] if tag in acc.Tags()["scalars"] else []


def test_table_parses_checks_and_round_trips(tmp_path):
    cfg = config_lib.load(write_config(tmp_path / "c.toml", Path("w.h5"), tmp_path, 'images = "pics"\ntop = 9'))
    e = cfg.examples
    assert (e.images, e.top, e.size, e.batch, e.save_every) == ("pics", 9, 224, 0, 1024)  # the rest: defaults
    assert config_lib.Config().examples.images == ""  # off unless set
    text = config_lib.to_toml(cfg)
    assert '[examples]\nimages = "pics"\ntop = 9\n' in text
    (tmp_path / "again.toml").write_text(text)
    assert config_lib.load(tmp_path / "again.toml") == cfg


@pytest.mark.parametrize(
    "body, needles",
    [
        ("topk = 3", ["'examples.topk'", "images, top, size, batch, save_every"]),
        ("top = 0", ["examples.top must be a whole number >= 1, got 0"]),
        ("batch = -1", ["examples.batch must be a whole number >= 0"]),
        ('size = "big"', ["examples.size: expected an integer"]),
    ],
    ids=["unknown-key", "top", "batch", "type"],
)
def test_bad_table_is_one_line_exit_2(tmp_path, weights_path, body, needles):
    cfg = write_config(tmp_path / "c.toml", weights_path, tmp_path / "r", body)
    p = script("visualize", "--config", str(cfg))
    assert_one_line_error(p.returncode, p.stderr, *needles)
    assert not (tmp_path / "r").exists()


def test_examples_main_takes_the_config_and_flags_override_it(folder, tmp_path, weights_path, monkeypatch, capsys):
    monkeypatch.chdir(folder.parent)  # a relative examples.images is taken from the working directory
    cfg = write_config(tmp_path / "c.toml", weights_path, tmp_path / "r", 'images = "images"\ntop = 3\nsize = 32')
    with pytest.raises(SystemExit) as e:
        examples_main(["--config", str(cfg), "--quiet"])
    assert e.value.code == 0, capsys.readouterr().err
    for layer in ("block1_conv1", "block2_conv1"):  # [target]'s layers and filters, [examples]' top
        with np.load(tmp_path / "r" / "examples" / f"{layer}.npz") as z:
            assert z["image"].shape == (4, 3) and z["filters"].tolist() == [0, 1, 2, 3]
    assert scalars(tmp_path / "r", "examples/images")[-1] == (IMAGES, IMAGES)
    argv = ["--config", str(cfg), "--quiet", "--top", "2", "--layers", "block1_conv1", "--out", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as e:
        examples_main(argv)
    assert e.value.code == 0
    assert sorted(p.name for p in (tmp_path / "o" / "examples").glob("*.npz")) == ["block1_conv1.npz", "state.npz"]
    with np.load(tmp_path / "o" / "examples" / "block1_conv1.npz") as z:
        assert z["image"].shape == (4, 2)


def test_examples_main_needs_a_folder_from_somewhere(tmp_path, weights_path, capsys):
    cfg = write_config(tmp_path / "c.toml", weights_path, tmp_path / "r", "top = 3")
    with pytest.raises(SystemExit) as e:
        examples_main(["--config", str(cfg), "--quiet"])
    assert_one_line_error(e.value.code, capsys.readouterr().err, "--images DIR", "[examples]")


def test_scalars_resume_after_an_interruption(folder, tmp_path, weights_path, capsys):
    cfg = write_config(tmp_path / "c.toml", weights_path, tmp_path / "r", f'images = "{folder}"\nsize = 32')
    argv = ["--config", str(cfg), "--quiet", "--layers", "block1_conv1", "--batch", "2", "--save-every", "2"]
    with pytest.raises(SystemExit):
        examples_main([*argv, "--stop-after", "3"])
    assert "stopped after 3" in capsys.readouterr().out
    assert scalars(tmp_path / "r", "examples/images")[-1] == (3, 3)
    from jaxviz.show.writers import TensorBoardWriter

    crashed = TensorBoardWriter(tmp_path / "r")  # a timed report at 5 images, then a crash before the next save
    crashed.write_scalars(5, {"examples/images": 5})
    crashed.close()
    with pytest.raises(SystemExit):
        examples_main(argv)
    steps = [s for s, _ in scalars(tmp_path / "r", "examples/images")]
    assert steps == sorted(set(steps)) and steps[-1] == IMAGES  # never a step twice, never back
    assert scalars(tmp_path / "r", "examples/images_per_s")  # a rate once the first batch has compiled


def test_visualize_computes_the_examples_into_its_run_and_atlas(folder, tmp_path, weights_path, monkeypatch, capsys):

    out = tmp_path / "r"
    monkeypatch.chdir(folder.parent)
    cfg = write_config(tmp_path / "c.toml", weights_path, out, 'images = "images"\ntop = 2\nsize = 32')
    with pytest.raises(SystemExit) as e:
        cli_visualize.main(["--config", str(cfg)])
    said = capsys.readouterr().out
    assert e.value.code == 0 and "examples/ (2 layer(s), 6 image(s))" in said, said
    assert {p.name for p in (out / "examples").glob("*.npz")} == {"block1_conv1.npz", "block2_conv1.npz", "state.npz"}
    page = (out / "atlas" / "filters" / "block2_conv1" / "0001.html").read_text()
    assert 'class="ex-strip"' in page and "Dataset examples" in page  # the atlas came after the examples
    assert "Dataset examples from" in (out / "atlas" / "index.html").read_text()
    assert scalars(out, "examples/images")[-1] == (IMAGES, IMAGES)
    assert f'images = "{folder}"' in (out / "config.toml").read_text()  # recorded absolute: reruns from anywhere
    before = _stamps(out)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cli_visualize.main(["--config", str(out / "config.toml")])
    assert e.value.code == 0 and "wrote" not in capsys.readouterr().out
    assert _stamps(out) == before  # nothing new, nothing redone
    # A changed examples setting is refused before the ascent is redone: nothing of the run is touched.
    with pytest.raises(SystemExit) as e:
        cli_visualize.main(["--config", str(out / "config.toml"), "--set", "examples.top=3"])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "a different setting of top (2 then, 3 now)" in err[0], err
    assert _stamps(out) == before
    # A batch size changes no result: recorded in config.toml, and nothing else is written.
    with pytest.raises(SystemExit) as e:
        cli_visualize.main(["--config", str(out / "config.toml"), "--set", "examples.batch=2"])
    assert e.value.code == 0 and "wrote" not in capsys.readouterr().out
    after = _stamps(out)
    assert [p.name for p in after if after[p] != before.get(p)] == ["config.toml"]
    assert "batch = 2" in (out / "config.toml").read_text()


def test_the_same_names_in_another_folder_or_a_replaced_file_are_refused(folder, tmp_path, weights_path, capsys):
    from jaxviz.cli.examples import main as examples_main

    other = tmp_path / "other"
    shutil.copytree(folder, other)
    args = ["--layers", "block1_conv1", "--size", "32", "--top", "2", "--quiet", "--weights", str(weights_path)]
    out = ["--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit):
        examples_main(["--images", str(folder), *args, *out, "--stop-after", "2"])
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        examples_main(["--images", str(other), *args, *out])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and "a different setting of image folder" in err[0], err
    replaced = sorted(other.iterdir())[0]
    with pytest.raises(SystemExit):
        examples_main(["--images", str(other), *args, "--out", str(tmp_path / "run2"), "--stop-after", "2"])
    replaced.write_bytes(sorted(other.iterdir())[1].read_bytes())
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        examples_main(["--images", str(other), *args, "--out", str(tmp_path / "run2")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and f"{replaced.name!r} has changed since" in err[0], err


def test_a_run_and_its_examples_come_from_one_weight_set(folder, tmp_path, weights_path, params, capsys):
    from jaxviz.model.weights import fingerprint, random_params, save_params

    other = tmp_path / "other.msgpack"
    save_params(random_params(), other)
    real, fake = fingerprint(params), fingerprint(random_params())
    cfg = write_config(tmp_path / "c.toml", weights_path, tmp_path / "r", f'images = "{folder}"\nsize = 32')
    with pytest.raises(SystemExit) as e:
        examples_main(["--config", str(cfg), "--layers", "block1_conv1"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and f"weights: {weights_path} (given; fingerprint {real})" in out, out
    small = [
        "--layers",
        "block1_conv1",
        "--filters",
        "0:2",
        "--size",
        "16",
        "--steps",
        "1",
        "--set",
        "output.quality=false",
    ]
    with pytest.raises(SystemExit) as e:  # the run into the examples' directory, with other weights
        cli_visualize.main([*small, "--weights", str(other), "--out", str(tmp_path / "r")])
    assert_one_line_error(e.value.code, capsys.readouterr().err, "dataset examples made with other weights", real, fake)
    assert not (tmp_path / "r" / "state").exists()
    with pytest.raises(SystemExit) as e:  # and the other way round: examples into a run made with other weights
        cli_visualize.main([*small, "--weights", str(other), "--out", str(tmp_path / "s")])
    assert e.value.code == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        examples_main(["--config", str(cfg), "--layers", "block1_conv1", "--out", str(tmp_path / "s")])
    assert_one_line_error(e.value.code, capsys.readouterr().err, "optimised images made with other weights", fake)
    assert not (tmp_path / "s" / "examples").exists()
