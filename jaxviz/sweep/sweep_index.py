"""A sweep directory's layout: point names, index.json and index.csv (one entry per point), sweep.toml. Its files
are written and read here only (the sweep resumes from `finished`, the atlas reads `read` and `read_sweep_toml`).
No JAX: the atlas imports this.

index.json: {"sweep": {"mode", "axes": {key: [value, ...]}, "base": flat config}, "points": [entry, ...]}, an entry
as `entry` makes it, in sweep order. index.csv: the same, one row a point (`to_csv`), for people and spreadsheets.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import CONV_LAYERS
from jaxviz.run.recorded import read_config, recorded_part
from jaxviz.runtime.files import atomic_write, damaged, read_json, write_json

LAYER_FIELDS = ("activation_mean", "activation_median", "dead", "nan")
POINT_FIELDS = ("name", "dir", "status", "error", "seconds")
MAX_NAME = 100
INDEX, TABLE, SWEEP_FILE = "index.json", "index.csv", "sweep.toml"
# A point's name is its folder's (point_names makes them of these characters): anything else in index.json means it
# is damaged, and must not become a path (a name like "../x" would reach outside the sweep).
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).replace("e+", "e")
    if isinstance(value, (list, tuple)):
        return ",".join(map(_label, value))
    return str(value)


# Keys whose values are paths: a point is named by the file's (or folder's) name, not its whole path
# ("weights-vgg16_keras_imagenet_notop", not "weights-_work_shared_weights_vgg16_keras_imagenet_notop.h5").
PATH_KEYS = ("model.weights", "method.spectrum", "examples.images")


def _path_labels(values: Iterable[Any]) -> dict[str, str]:
    """Each distinct path of `values` -> the shortest readable name that tells it from the others: its stem (the
    file's name without its extension), else its whole file name, else with as many parent folders as it takes
    (`a/w.h5`, `b/w.h5`); the whole path where even that does not (point_names then adds a hash)."""
    paths = sorted({str(v) for v in values})
    parts = {p: [x for x in p.replace("\\", "/").split("/") if x] or [p] for p in paths}

    def stem(name: str) -> str:
        return name.rsplit(".", 1)[0] or name  # one extension: "vgg16.weights.h5" -> "vgg16.weights"

    tries = [lambda p: stem(parts[p][-1]), lambda p: parts[p][-1]]
    tries += [lambda p, k=k: "/".join(parts[p][-k:]) for k in range(2, max(map(len, parts.values()), default=1) + 1)]
    for name_of in tries:
        names = {p: name_of(p) for p in paths}
        if len({n.lower() for n in names.values()}) == len(paths):
            return names
    return {p: p for p in paths}


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:8]


def point_names(points: Sequence[dict[str, Any]]) -> list[str]:
    """Directory names from swept values: `steps-20_step-0.5`; a hash of the values where still ambiguous.

    Keys are shortened to their last dotted part unless two share it; a path (PATH_KEYS) is named by its file's
    stem, with its folders only where two points' files share a name (`_path_labels`); characters outside [A-Za-z0-9._-]
    become `_`; a name that collides (ignoring case, for case-insensitive filesystems) or is longer than
    MAX_NAME is cut to fit and gets `_<8 hex digits>` (a hash of its values) appended.
    """
    labels = config_lib.short_keys(points[0] if points else [])
    keys = list(labels)
    labels = [labels[key] for key in keys]
    # A path's value by its file's name (disambiguated by its folders where two share it).
    shown = {key: _path_labels(p[key] for p in points) for key in keys if key in PATH_KEYS}

    def value(key: str, v: Any) -> str:
        return shown[key][str(v)] if key in shown else _label(v)

    names = [
        re.sub(r"[^A-Za-z0-9._-]", "_", "_".join(f"{label}-{value(key, p[key])}" for label, key in zip(labels, keys)))
        for p in points
    ]
    counts = Counter(name.lower() for name in names)
    return [
        name if counts[name.lower()] == 1 and len(name) <= MAX_NAME else f"{name[: MAX_NAME - 9]}_{_digest(p)}"
        for name, p in zip(names, points)
    ]


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def entry(
    name: str,
    run_dir: str,
    values: Mapping[str, Any],
    status: str,
    error: str | None = None,
    seconds: float | None = None,
    layers: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict:
    """One point's index entry; `layers` is run()'s per-layer summary (absent for a point that never ran)."""
    return {
        "name": name,
        "dir": run_dir,
        "values": {key: _plain(v) for key, v in values.items()},
        "status": status,
        "error": error,
        "seconds": None if seconds is None else round(seconds, 3),
        "layers": {layer: {f: s[f] for f in LAYER_FIELDS} for layer, s in (layers or {}).items()},
    }


def document(mode: str, axes: Mapping[str, Sequence[Any]], base: Config, entries: Sequence[dict]) -> dict:
    """The whole index: the sweep (mode, axes, base config as a flat dict) and its points in sweep order."""
    return {
        "sweep": {
            "mode": mode,
            "axes": {key: [_plain(v) for v in values] for key, values in axes.items()},
            "base": config_lib.as_flat_dict(base),
        },
        "points": list(entries),
    }


def layer_columns(planned: Iterable[Iterable[str]]) -> list[str]:
    """Every layer any point visualises, in network order (the CSV's layer columns)."""
    found = {layer for layers in planned for layer in layers}
    return [layer for layer in CONV_LAYERS if layer in found]


def _cell(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "" if value is None else value


def to_csv(index: dict, layers: Sequence[str]) -> str:
    """One row per point: name, dir, status, error, seconds, each swept key, then <layer>/<field> columns."""
    keys = list(index["sweep"]["axes"])
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow([*POINT_FIELDS, *keys, *(f"{layer}/{f}" for layer in layers for f in LAYER_FIELDS)])
    for e in index["points"]:
        stats = [e["layers"].get(layer, {}).get(f) for layer in layers for f in LAYER_FIELDS]
        out.writerow(map(_cell, [*(e[f] for f in POINT_FIELDS), *(e["values"].get(k) for k in keys), *stats]))
    return buf.getvalue()


def write(out: Path, index: dict, layers: Sequence[str]) -> None:
    """OUT/index.json and OUT/index.csv, each replaced atomically."""
    write_json(out / INDEX, index)
    atomic_write(out / TABLE, to_csv(index, layers).encode())


def sweep_toml(base: Config, mode: str, axes: Mapping[str, Sequence[Any]]) -> str:
    """The resolved sweep as a sweep file: the base config and the [sweep] table."""
    lines = ["", "[sweep]", f"mode = {config_lib.toml_value(mode)}", "", "[sweep.axes]"]
    lines += [f"{json.dumps(key)} = {config_lib.toml_value(list(values))}" for key, values in axes.items()]
    return config_lib.to_toml(base) + "\n".join(lines) + "\n"


def write_sweep_toml(out: Path, base: Config, mode: str, axes: Mapping[str, Sequence[Any]]) -> None:
    """OUT/sweep.toml: the resolved sweep, with the command that reruns it, replaced atomically."""
    header = f"# The resolved sweep; rerun it with: jaxviz-sweep --config {out / SWEEP_FILE} --out {out}\n"
    atomic_write(out / SWEEP_FILE, (header + sweep_toml(base, mode, axes)).encode())


def read_sweep_toml(out: Path) -> str:
    """OUT/sweep.toml's text ("" when it is missing or unreadable: what shows it has nothing to show)."""
    try:
        return (Path(out) / SWEEP_FILE).read_text()
    except (OSError, UnicodeDecodeError):
        return ""


@dataclass
class Index:
    """OUT/index.json as `read` found it, checked: the sweep's mode and axes, and its entries in sweep order, each
    an object with a safe `name` and `values` an object (set to {} when it was not)."""

    mode: str
    axes: dict[str, Any]
    points: list[dict] = field(default_factory=list)


def read(out: Path) -> Index | None:
    """OUT/index.json, checked (None when there is none yet).

    Raises JaxvizError (one line naming the file) when it cannot be read or is damaged: not JSON, no list of
    points, axes that are not an object, a point without an object or a safe name.
    """
    path = Path(out) / INDEX
    if not path.exists():
        return None
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("points"), list):
        raise damaged(path, "no list of points")
    sweep = doc.get("sweep") if isinstance(doc.get("sweep"), dict) else {}
    axes = sweep.get("axes", {})
    if not isinstance(axes, dict):
        raise damaged(path, "'sweep.axes' is not an object")
    found = Index(str(sweep.get("mode", "")), axes)
    for e in doc["points"]:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not NAME.fullmatch(e["name"]):
            raise damaged(path, f"a point is named {(e.get('name') if isinstance(e, dict) else e)!r}")
        found.points.append({**e, "values": e.get("values") if isinstance(e.get("values"), dict) else {}})
    return found


def finished(out: Path, expected: Mapping[str, str]) -> dict[str, dict]:
    """Entries of OUT/index.json that are done and whose config.toml is still `expected[name]`, but for settings that
    change nothing a run writes (recorded.recorded_part: a chunk size, the progress bar)."""
    same = {
        name for name, text in expected.items() if recorded_part(read_config(out / name) or "") == recorded_part(text)
    }
    try:
        index = read(out)
    except JaxvizError:
        index = None  # damaged or unreadable, like no index yet: every point runs (and resumes from its chunks)
    recorded = {e["name"]: e for e in index.points if e.get("status") == "done"} if index else {}
    return {name: e for name, e in recorded.items() if name in same}
