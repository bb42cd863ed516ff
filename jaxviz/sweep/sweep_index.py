"""A sweep directory's layout: point names, index.json and index.csv (one entry per point), sweep.toml."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.model.architecture import CONV_LAYERS
from jaxviz.runtime.files import atomic_write, write_json

LAYER_FIELDS = ("activation_mean", "activation_median", "dead", "nan")
POINT_FIELDS = ("name", "dir", "status", "error", "seconds")
MAX_NAME = 100


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value).replace("e+", "e")
    if isinstance(value, (list, tuple)):
        return ",".join(map(_label, value))
    return str(value)


def _digest(values: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(values, sort_keys=True).encode()).hexdigest()[:8]


def point_names(points: Sequence[dict[str, Any]]) -> list[str]:
    """Directory names from swept values: `steps-20_step-0.5`; a hash of the values where still ambiguous.

    Keys are shortened to their last dotted part unless two share it; characters outside [A-Za-z0-9._-]
    become `_`; a name that collides (ignoring case, for case-insensitive filesystems) or is longer than
    MAX_NAME is cut to fit and gets `_<8 hex digits>` (a hash of its values) appended.
    """
    labels = config_lib.short_keys(points[0] if points else [])
    keys = list(labels)
    labels = [labels[key] for key in keys]
    names = [
        re.sub(r"[^A-Za-z0-9._-]", "_", "_".join(f"{label}-{_label(p[key])}" for label, key in zip(labels, keys)))
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
    write_json(out / "index.json", index)
    atomic_write(out / "index.csv", to_csv(index, layers).encode())


def sweep_toml(base: Config, mode: str, axes: Mapping[str, Sequence[Any]]) -> str:
    """The resolved sweep as a sweep file: the base config and the [sweep] table."""
    lines = ["", "[sweep]", f"mode = {config_lib.toml_value(mode)}", "", "[sweep.axes]"]
    lines += [f"{json.dumps(key)} = {config_lib.toml_value(list(values))}" for key, values in axes.items()]
    return config_lib.to_toml(base) + "\n".join(lines) + "\n"


def write_sweep_toml(out: Path, base: Config, mode: str, axes: Mapping[str, Sequence[Any]]) -> None:
    header = f"# The resolved sweep; rerun it with: jaxviz-sweep --config {out / 'sweep.toml'} --out {out}\n"
    atomic_write(out / "sweep.toml", (header + sweep_toml(base, mode, axes)).encode())


def finished(out: Path, expected: Mapping[str, str]) -> dict[str, dict]:
    """Entries of OUT/index.json that are done and whose config.toml is still `expected[name]`."""
    same = set()
    for name, text in expected.items():
        try:
            if (out / name / "config.toml").read_text() == text:
                same.add(name)
        except (OSError, UnicodeDecodeError):
            pass
    try:
        points = json.loads((out / "index.json").read_text())["points"]
        recorded = {e["name"]: e for e in points if e["status"] == "done"}
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # no index yet, or a damaged one: every point runs (and resumes from its chunks)
    return {name: e for name, e in recorded.items() if name in same}
