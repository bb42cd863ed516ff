"""The documents name only what exists, and docs/design.md's picture of the layers is the layering that
tests/test_layering.py enforces. Read as text: nothing here imports jaxviz."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxviz"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# A path or dotted name starts a token: not inside a longer path (~/.cache/jaxviz/xla), a file name (.jaxviz.lock)
# or a word.
START = r"(?<![\w./-])"
PACKAGE_PATH = re.compile(START + r"jaxviz/[\w/.-]*\w")
MODULE_PATH = re.compile(START + r"(?!jaxviz/)((?:\w+/)+\w+\.py)\b")  # relative to the root or to jaxviz/
BARE_FILE = re.compile(START + r"(\w+\.py)\b")
DOTTED = re.compile(START + r"jaxviz(?:\.\w+)+")


def top_level_names(module: Path) -> set[str]:
    """What `module` defines or re-exports at its top: functions, classes, assignments, imports, `__all__` and a
    lazy export table's keys (a dict of strings, as jaxviz/__init__.py's)."""
    names = set()
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
            value = node.value
            if isinstance(value, ast.List | ast.Tuple | ast.Set):
                names |= {e.value for e in value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            elif isinstance(value, ast.Dict):
                names |= {k.value for k in value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return names


@functools.cache
def python_files() -> frozenset[str]:
    """The names of the repository's Python files."""
    return frozenset(p.name for folder in ("jaxviz", "scripts", "tests") for p in (ROOT / folder).rglob("*.py"))


def dotted_name_exists(name: str) -> bool:
    """Whether `name` ("jaxviz.run.measure", "jaxviz.quality.passes.Executables") is a module, or a module and one
    name it defines."""
    parts = name.split(".")
    for n in range(len(parts), 0, -1):
        where = ROOT.joinpath(*parts[:n])
        module = where / "__init__.py" if where.is_dir() else where.with_suffix(".py")
        if module.is_file():
            rest = parts[n:]
            return not rest or (len(rest) == 1 and rest[0] in top_level_names(module))
    return False


def named_paths(text: str) -> list[str]:
    """Every module path, package path and dotted jaxviz name `text` holds that does not exist."""
    missing = []
    for path in PACKAGE_PATH.findall(text):
        kept = [p for p in path.split("/") if not re.fullmatch(r"[A-Z_]+(\.\w+)?", p)]  # NAME.toml: a placeholder
        if not ROOT.joinpath(*kept).exists():
            missing.append(path)
    for path in MODULE_PATH.findall(text):
        if not (ROOT / path).is_file() and not (PACKAGE / path).is_file():
            missing.append(path)
    for name in BARE_FILE.findall(text):
        if name not in python_files() and f"../{name}" not in text and not re.search(rf"\.\./[\w/.-]*/{name}", text):
            missing.append(name)  # neither the repository's nor a file outside it named by its path too
    missing += [name for name in DOTTED.findall(text) if not dotted_name_exists(name)]
    return missing


def test_every_module_path_the_documents_name_exists():
    stale = {doc.name: named_paths(doc.read_text()) for doc in DOCS}
    assert not {k: v for k, v in stale.items() if v}, stale


def test_the_check_finds_a_stale_name():
    text = "`jaxviz/chunks.py`, `run/state.py`, `chunks.py`, `jaxviz.examples.run` and `jaxviz.run.measure.nothing`"
    assert named_paths(text) == [
        "jaxviz/chunks.py",
        "run/state.py",
        "chunks.py",
        "jaxviz.examples.run",
        "jaxviz.run.measure.nothing",
    ]
    fine = "`jaxviz/config/presets/NAME.toml`, `run/measure.py`, `~/.cache/jaxviz/xla`, `.jaxviz.lock`, `jaxviz.crops`"
    assert named_paths(fine) == []


def layers_enforced() -> list[list[str]]:
    """tests/test_layering.py's LAYERS, read from its text (test modules do not import each other)."""
    for node in ast.parse((ROOT / "tests" / "test_layering.py").read_text()).body:
        if isinstance(node, ast.AnnAssign | ast.Assign):
            target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
            if isinstance(target, ast.Name) and target.id == "LAYERS":
                return ast.literal_eval(node.value)
    raise AssertionError("tests/test_layering.py defines no LAYERS")


def layers_drawn() -> list[list[str]]:
    """docs/design.md's first picture, bottom row first, each row's jaxviz entries left to right as module names
    ("run/" -> jaxviz.run, "api.py" -> jaxviz.api, "__init__.py" -> jaxviz)."""
    text = (ROOT / "docs" / "design.md").read_text()
    picture = re.search(r"^```text\n(.*?)^```", text, re.S | re.M).group(1)
    rows = []
    for line in picture.splitlines():
        row = []
        for entry in re.findall(r"(?<![\w/*])(\w+/|\w+\.py)(?!\w)", line):
            if (PACKAGE / entry).exists():
                name = "jaxviz" if entry == "__init__.py" else "jaxviz." + entry.removesuffix("/").removesuffix(".py")
                if name not in row:
                    row.append(name)
        if row:
            rows.append(row)
    return rows[::-1]


def test_the_picture_of_the_layers_is_the_layering_enforced():
    drawn = layers_drawn()
    assert drawn == layers_enforced()
    entries = {p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").is_file()}
    shown = {"__init__.py" if m == "jaxviz" else m.split(".")[1] for row in drawn for m in row}
    assert shown == {e.removesuffix(".py") if e != "__init__.py" else e for e in entries}
