"""What the atlas shows, read from a run directory or a sweep directory, checked before anything is written."""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jaxviz.errors import JaxvizError
from jaxviz.model.architecture import network_order  # no JAX: seconds the atlas does not need
from jaxviz.runtime.paths import explain

# Layer and point names become file names: anything else in a metrics or index file means it is damaged.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass
class Run:
    """One run directory, as its pages show it."""

    path: Path
    name: str
    config: str  # the resolved config.toml ("" when absent)
    settings: dict[str, Any]  # the parsed [ascent] table, for the subtitle
    layers: dict[str, dict]  # layer -> metrics.json's summary, in network order
    records: dict[str, list[dict]]  # layer -> its filter records, by filter number


@dataclass
class Point:
    """One point of a sweep: its swept values, its index.json entry and its run directory (DIR/<name>).

    Its run is not read here: a sweep's atlas reads only the points that changed since its last pass (`read_run`
    of `path`, when `has_run`), so that a pass costs the same at the 10th point and at the 160th.
    """

    name: str
    values: dict[str, Any]  # swept key -> value
    status: str
    entry: dict  # the index.json entry (error, seconds, per-layer stats)
    path: Path  # not entry["dir"]: the sweep directory may have been moved since

    @property
    def has_run(self) -> bool:
        """Whether its directory holds a run yet."""
        return self.path.is_dir() and _is_run(self.path)

    def entry_stats(self) -> dict[str, dict]:
        """Its index entry's per-layer numbers (what a point without a run yet shows)."""
        layers = self.entry.get("layers")
        return {la: s for la, s in layers.items() if isinstance(s, dict)} if isinstance(layers, dict) else {}


@dataclass
class Sweep:
    """A sweep directory: its axes, its resolved sweep.toml and its points."""

    path: Path
    name: str
    mode: str
    axes: dict[str, list]
    config: str  # sweep.toml ("" when absent)
    points: list[Point] = field(default_factory=list)


def _damaged(path: Path, why: str) -> JaxvizError:
    return JaxvizError(f"{path} is damaged ({why}); rerun the command that wrote it to write it again")


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise JaxvizError(f"cannot read {path}: {explain(e) if isinstance(e, OSError) else e}") from None
    except ValueError as e:
        raise _damaged(path, f"not JSON: {e}") from None


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _check_record(path: Path, r: Any) -> dict:
    if not isinstance(r, dict):
        raise _damaged(path, f"a filter record is {type(r).__name__}, not an object")
    if not isinstance(r.get("layer"), str) or not SAFE_NAME.fullmatch(r["layer"]):
        raise _damaged(path, f"a filter record has the layer {r.get('layer')!r}")
    f = r.get("filter")
    if not isinstance(f, int) or isinstance(f, bool) or f < 0:
        raise _damaged(path, f"{r['layer']} has the filter number {f!r}")
    history = r.get("history", [])
    if not isinstance(history, list) or not all(map(_number, history)):
        raise _damaged(path, f"{r['layer']} filter {f} has a history that is not a list of numbers")
    # Python's json reads NaN/Infinity; the pages treat them like the engine's None.
    return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in r.items()}


def read_run(path: Path) -> Run:
    """A run directory: metrics.json (absent before its first layer finishes) and config.toml."""
    metrics_path = path / "metrics.json"
    metrics = _json(metrics_path) if metrics_path.exists() else {"filters": [], "layers": {}}
    if not isinstance(metrics, dict) or not isinstance(metrics.get("filters"), list):
        raise _damaged(metrics_path, "no list of filters")
    summaries = metrics.get("layers", {})
    if not isinstance(summaries, dict) or not all(isinstance(s, dict) for s in summaries.values()):
        raise _damaged(metrics_path, "'layers' is not an object of objects")
    records: dict[str, dict[int, dict]] = {}
    for raw in metrics["filters"]:
        r = _check_record(metrics_path, raw)
        records.setdefault(r["layer"], {})[r["filter"]] = r
    rows = {layer: [records[layer][f] for f in sorted(records[layer])] for layer in network_order(records)}
    layers = {layer: summaries.get(layer) or _summary(rows[layer]) for layer in rows}
    config = _text(path / "config.toml")
    try:
        settings = tomllib.loads(config).get("ascent", {})
    except tomllib.TOMLDecodeError:
        settings = {}
    settings = settings if isinstance(settings, dict) else {}
    return Run(path, path.resolve().name, config, settings, layers, rows)


def _summary(rows: list[dict]) -> dict:
    finals = [r["activation"] for r in rows if isinstance(r.get("activation"), (int, float))]
    return {
        "filters": len(rows),
        "dead": sum(bool(r.get("dead")) for r in rows),
        "nan": sum(bool(r.get("nan")) for r in rows),
        "activation_mean": sum(finals) / len(finals) if finals else None,
    }


def _is_run(path: Path) -> bool:
    """A run: an ascent's files, or dataset examples alone (jaxviz-examples --out RUN writes only RUN/examples)."""
    return any((path / name).is_file() for name in ("metrics.json", "config.toml", "examples/images.json"))


def read_sweep(path: Path) -> Sweep:
    """A sweep directory: index.json, sweep.toml and its points (their runs are read by the caller, see Point)."""
    index_path = path / "index.json"
    index = _json(index_path)
    if not isinstance(index, dict) or not isinstance(index.get("points"), list):
        raise _damaged(index_path, "no list of points")
    sweep = index.get("sweep") if isinstance(index.get("sweep"), dict) else {}
    axes = sweep.get("axes", {})
    if not isinstance(axes, dict):
        raise _damaged(index_path, "'sweep.axes' is not an object")
    out = Sweep(path, path.resolve().name, str(sweep.get("mode", "")), axes, _text(path / "sweep.toml"))
    for e in index["points"]:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not SAFE_NAME.fullmatch(e["name"]):
            raise _damaged(index_path, f"a point is named {e.get('name') if isinstance(e, dict) else e!r}")
        values = e.get("values") if isinstance(e.get("values"), dict) else {}
        out.points.append(Point(e["name"], values, str(e.get("status", "")), e, path / e["name"]))
    return out


def read(path: str | Path) -> Run | Sweep:
    """The run or sweep in `path`, or a one-line JaxvizError when it is neither or is damaged."""
    path = Path(path)
    if not path.is_dir():
        raise JaxvizError(f"{str(path)!r} is not a directory; give a run directory or a sweep directory")
    if (path / "index.json").is_file():
        return read_sweep(path)
    if _is_run(path):
        return read_run(path)
    raise JaxvizError(
        f"{str(path)!r} is neither a run directory (metrics.json, config.toml, examples/images.json) nor a sweep "
        "directory (index.json)"
    )
