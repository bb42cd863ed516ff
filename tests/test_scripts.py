"""Every script and console entry point runs: scripts/*.py answer --help, [project.scripts] names real commands,
and a script holds no logic of its own (it calls one entry point, as the installed command does)."""

from __future__ import annotations

import ast
import importlib
import json
import tomllib

import pytest
from conftest import ROOT, script

SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py"))
ENTRY_POINTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_answers_help(name):
    p = script(name, "--help")
    assert p.returncode == 0 and p.stdout.startswith("usage:") and not p.stderr, (p.stdout, p.stderr)


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_only_calls_its_entry_point(name):
    tree = ast.parse((ROOT / "scripts" / f"{name}.py").read_text())
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom)]
    assert len(imports) == 1 and imports[0].module.startswith("jaxviz."), name
    (alias,) = imports[0].names
    target = f"{imports[0].module}:{alias.name}"
    assert target in ENTRY_POINTS.values(), f"scripts/{name}.py calls {target}, which no installed command is"
    rest = [n for n in tree.body if not isinstance(n, (ast.ImportFrom, ast.If)) and not isinstance(n, ast.Expr)]
    assert not rest, f"scripts/{name}.py holds code of its own"


@pytest.mark.parametrize("command", sorted(ENTRY_POINTS))
def test_every_console_entry_point_is_a_guarded_command(command):
    module, _, name = ENTRY_POINTS[command].partition(":")
    main = getattr(importlib.import_module(module), name)
    assert callable(main) and main.__qualname__.startswith("guarded"), command  # the one-line error contract


def test_compare_costs_is_wired(monkeypatch, capsys, weights_path):
    """`compare.py --costs` loads the weights and measures the first layer (it once died on an import)."""
    from jaxviz.bench import preset_comparison as compare
    from jaxviz.cli.compare import main as compare_main

    seen = {}

    def costs(params, layer, size, steps):
        seen.update(layer=layer, size=size, layers=sorted(params))
        return {"pixels (book)": {"image_steps_per_s": 1.0, "relative": 1.0}}

    monkeypatch.setattr(compare, "method_costs", costs)
    with pytest.raises(SystemExit) as e:
        compare_main(
            ["--costs", "--layers", "block1_conv1,block2_conv1", "--size", "16", "--weights", str(weights_path)]
        )
    assert e.value.code == 0
    assert seen["layer"] == "block1_conv1" and seen["size"] == 16 and "block5_conv3" in seen["layers"]
    assert json.loads(capsys.readouterr().out)["pixels (book)"]["relative"] == 1.0
