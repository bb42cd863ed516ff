"""Typed config: TOML files, overrides, and one clear error for each kind of mistake."""

from __future__ import annotations

import pytest

from jaxviz import config
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS
from jaxviz.model.targets import resolve_filters, resolve_layers

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_defaults_follow_the_book():
    a = config.Config().ascent
    assert (a.size, a.steps, a.step, a.normalize, a.init_mean, a.init_noise) == (150, 40, 1.0, "rms", 128.0, 20.0)


def test_file_then_overrides(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[ascent]\nsteps = 7\n[target]\nlayers = ["block1_conv1"]\n')
    cfg = config.load(path, ["ascent.steps=9", "output.dir=runs/x", "ascent.step=2"])
    assert cfg.ascent.steps == 9 and cfg.ascent.step == 2.0 and cfg.output.dir == "runs/x"
    assert cfg.target.layers == ("block1_conv1",)


def test_resolved_config_roundtrips(tmp_path):
    cfg = config.load(None, ["target.filters=[1,2,3]", "output.sort=true", 'output.dir="a b"'])
    (tmp_path / "r.toml").write_text(config.to_toml(cfg))
    assert config.load(tmp_path / "r.toml") == cfg


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_configs_load(path):
    from jaxviz.run.run_plan import prepare

    cfg = config.load(path)
    p = prepare(cfg)  # every layer, filter, method and size checked, as a run checks them first
    assert list(p.targets) == resolve_layers(cfg.target.layers) and all(p.targets.values())
    assert all(p.targets[la] == resolve_filters(cfg.target.filters, la) for la in p.targets)


@pytest.mark.parametrize(
    "override, message",
    [
        ("ascent.stepz=3", "unknown config key 'ascent.stepz'; valid keys in [ascent]: size, steps"),
        ("nope.x=1", "unknown config section 'nope'"),
        ("ascent.steps=abc", "ascent.steps: expected an integer, got 'abc'"),
        ("ascent.steps=2.5", "expected an integer"),
        ("output.sort=1", "expected true or false"),
        ("ascent.size=0", "ascent.size must be greater than 0"),
        ("ascent.steps=-3", "ascent.steps must be greater than 0"),
        ("output.margin=-1", "output.margin must be 0 or more"),
        ("ascent.normalize=l1", "must be one of rms, l2, max"),
        ("ascent.steps", "not of the form section.key=value"),
    ],
)
def test_bad_overrides(override, message):
    with pytest.raises(JaxvizError, match=message.replace("[", r"\[").replace("]", r"\]")):
        config.load(None, [override])


def test_bad_files(tmp_path):
    (tmp_path / "a.toml").write_text("steps = 3\n")
    with pytest.raises(JaxvizError, match="must be inside a section"):
        config.load(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text("[ascent\n")
    with pytest.raises(JaxvizError, match="not valid TOML"):
        config.load(tmp_path / "b.toml")
    with pytest.raises(JaxvizError, match="does not exist"):
        config.load(tmp_path / "missing.toml")


def test_layer_and_filter_specs():
    assert resolve_layers("all") == list(CONV_LAYERS)
    assert resolve_layers("block3_conv1, block1_conv1") == ["block3_conv1", "block1_conv1"]
    assert resolve_filters("0:4", "block1_conv1") == [0, 1, 2, 3]
    assert resolve_filters("3,5,9", "block1_conv1") == [3, 5, 9]
    assert resolve_filters((2, 1), "block1_conv1") == [2, 1]
    assert resolve_filters("60:", "block1_conv1") == [60, 61, 62, 63]
    assert len(resolve_filters("all", "block5_conv1")) == 512
    with pytest.raises(JaxvizError, match="unknown layer 'block6_conv1'; valid layers: all, block1_conv1"):
        resolve_layers("block6_conv1")
    with pytest.raises(JaxvizError, match="filter 64 is out of range for block1_conv1, which has filters 0..63"):
        resolve_filters("60:65", "block1_conv1")
    with pytest.raises(JaxvizError, match="not 'all', a range"):
        resolve_filters("x:y", "block1_conv1")


def test_a_config_can_start_from_a_preset(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('preset = "quality"\n\n[ascent]\nsteps = 7\n')
    cfg = config.load(path)
    assert (cfg.param.kind, cfg.ascent.optimizer, cfg.ascent.steps) == ("fourier", "adam", 7)
    assert "preset" not in config.to_toml(cfg)  # the resolved file holds every value itself
    path.write_text('preset = "nope"\n')
    with pytest.raises(JaxvizError, match="unknown preset 'nope'; valid presets: book"):
        config.load(path)


def test_every_shipped_preset_and_config_loads_and_plans():
    from pathlib import Path

    from jaxviz.config import presets
    from jaxviz.run.translate import method_of
    from jaxviz.run.visualization import plan

    root = Path(__file__).resolve().parents[1] / "configs"
    assert presets.names()
    for path in [*root.glob("*.toml"), *map(presets.path, presets.names())]:
        cfg = config.load(path)
        method_of(cfg)
        assert plan(cfg), path


def test_valid_choices_and_the_readme_come_from_the_librarys_tables():
    from pathlib import Path

    from jaxviz.ascent import objectives, optim, params, transforms
    from jaxviz.show import display

    tables = {
        "ascent.optimizer": optim.OPTIMIZERS,
        "ascent.schedule": optim.SCHEDULES,
        "ascent.normalize": optim.NORMALIZERS,
        "param.kind": params.PARAMS,
        "output.display": display.DISPLAYS,
        "output.grid": display.GRIDS,
    }
    for key, table in tables.items():
        assert config.choices()[key] == tuple(table)  # a new entry is a valid config value at once
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    names = [*optim.OPTIMIZERS, *optim.SCHEDULES, *optim.NORMALIZERS, *params.PARAMS, *display.DISPLAYS]
    names += [*display.GRIDS, *objectives.TERMS, *(k.example for k in transforms.TRANSFORMS.values())]
    missing = [n for n in names if f"`{n}`" not in readme and f'"{n}"' not in readme]
    assert not missing, f"README does not list {missing}"


def test_non_finite_numbers_are_refused():
    for key in ("ascent.step", "ascent.init_noise", "objective.tv"):
        for value in ("inf", "nan", "-inf"):
            with pytest.raises(JaxvizError, match=f"{key} must be a finite number"):
                config.load(None, [f"{key}={value}"])


def test_an_invalid_escape_in_a_toml_path_gets_the_backslash_hint(tmp_path):
    for text in ('[output]\ndir = "C:\\Users\\me\\runs"\n', '[model]\nweights = "w\\x.h5"\n'):
        path = tmp_path / "c.toml"
        path.write_text(text)
        with pytest.raises(JaxvizError, match="is not valid TOML: .*single quotes") as e:
            config.load(path)
        assert "\n" not in str(e.value)


def test_the_flags_and_short_names_come_from_the_schema():
    """One table: a field's `flag` metadata makes the flag of each command named there, and --help lists it."""
    import subprocess
    import sys

    from conftest import ROOT

    from jaxviz.config.keys import flags, keyword_names, short_keys

    visualize, examples = flags("visualize"), flags("examples")
    assert visualize["size"].key == "ascent.size" and examples["size"].key == "examples.size"
    assert {f.name for f in visualize.values()} == {"model", "weights", "layers", "filters", "size", "steps", "out"}
    assert examples["save-every"].key == "examples.save_every" and not examples["save-every"].raw
    assert flags("convert") == {"weights": visualize["weights"]} and visualize["out"].raw
    for command, script in (("visualize", "visualize"), ("examples", "examples"), ("convert", "convert_weights")):
        text = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), "--help"], capture_output=True,
                              text=True).stdout  # fmt: skip
        assert all(f"--{name} " in text for name in flags(command)), (command, text)
    assert keyword_names()["size"] == ["ascent.size"] and "top" not in keyword_names()  # [examples] left out
    assert short_keys(["ascent.steps", "ascent.size", "examples.size"]) == {
        "ascent.steps": "steps", "ascent.size": "ascent.size", "examples.size": "examples.size"}  # fmt: skip
