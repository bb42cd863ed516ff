"""The libraries import nothing from the app: the ascent and the dataset-examples engine know no configs, runs,
command lines or atlas (docs/design.md); read from the source, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "jaxviz"
APP = ("jaxviz.config", "jaxviz.run", "jaxviz.cli", "jaxviz.arguments", "jaxviz.atlas", "jaxviz.api")


def imported(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function (`from jaxviz import run` as jaxviz.run)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("library", ["ascent", "examples"])
def test_libraries_import_nothing_from_the_app(library):
    files = [p for p in sorted((PACKAGE / library).glob("*.py")) if p.name != "cli.py"]  # a command line may
    assert len(files) >= 5
    for path in files:
        wrong = sorted(m for m in imported(path) if m.startswith(APP))
        assert not wrong, f"{path.relative_to(PACKAGE.parent)} imports {wrong}"


def test_the_check_sees_a_lazy_import(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    from jaxviz.run import distributed\n    return distributed\n")
    assert "jaxviz.run.distributed" in imported(tmp_path / "m.py")
