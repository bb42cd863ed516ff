"""The layers of docs/design.md, enforced: every import of every module (lazy ones inside functions too) runs down
the layers or stays within its own package, never up. No exemptions.

Bottom to top: the exceptions; runtime; the model; the engines (the ascent, then the dataset examples and the
quality numbers over it); what is shown and written; the app (config, then a run, then sweeps); the faces (the
notebook API, the atlas, benchmarks, the device check, the command lines).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "jaxviz"

# Each entry is one step up; a module may import its own package and every package of a lower step. Within a
# step, the order says which may import which (the later the higher).
LAYERS: list[list[str]] = [
    ["jaxviz.errors"],
    ["jaxviz.runtime"],
    ["jaxviz.model"],
    ["jaxviz.ascent", "jaxviz.dataset_examples", "jaxviz.quality"],
    ["jaxviz.show"],
    ["jaxviz.config", "jaxviz.run", "jaxviz.sweep"],
    ["jaxviz.api", "jaxviz.atlas", "jaxviz.bench", "jaxviz.devicecheck", "jaxviz.cli", "jaxviz"],
]
RANK = {name: (step, place) for step, names in enumerate(LAYERS) for place, name in enumerate(names)}


def owner(module: str) -> str:
    """The layer entry a module belongs to: its longest listed prefix."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in RANK:
            return ".".join(parts[:n])
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def imported(path: Path) -> set[str]:
    """Every jaxviz module `path` imports, at the top or inside a function (`from jaxviz import run` as jaxviz.run)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            inner = {f"{node.module}.{a.name}" for a in node.names}
            names |= {n for n in inner if (PACKAGE.parent / n.replace(".", "/")).with_suffix(".py").exists()
                      or (PACKAGE.parent / n.replace(".", "/")).is_dir()} or {node.module}  # fmt: skip
    return {n for n in names if n == "jaxviz" or n.startswith("jaxviz.")}


def module_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_module_belongs_to_a_layer():
    for path in PACKAGE.rglob("*.py"):
        owner(module_of(path))


def test_no_import_runs_up_the_layers():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = owner(module_of(path))
        for target in sorted(imported(path)):
            there = owner(target)
            if there != here and RANK[there] > RANK[here]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)} imports {target} ({there} sits above {here})")
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_lazy_import(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    from jaxviz.run import visualization\n    return visualization\n")
    assert "jaxviz.run.visualization" in imported(tmp_path / "m.py")
    assert RANK[owner("jaxviz.run.visualization")] > RANK[owner("jaxviz.ascent.engine")]
