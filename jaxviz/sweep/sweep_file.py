"""A sweep file: a config plus [sweep] mode and axes, read into checked points (each an ordinary run's config)."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import output_dir
from jaxviz.sweep import sweep_index as index_lib

MODES = ("product", "zip")
SWEEP_KEYS = ("mode", "axes")
_EXAMPLE = '[sweep.axes] with a list of values per key, e.g. "ascent.steps" = [20, 40]'


@dataclass(frozen=True)
class Point:
    name: str  # its directory under the sweep directory
    values: dict[str, Any]  # swept key -> value as the config holds it (floats for floats, tuples for lists)
    cfg: Config
    layers: list[str]


@dataclass(frozen=True)
class Sweep:
    out: Path
    mode: str
    axes: dict[str, list[Any]]
    base: Config  # output.dir is the sweep directory
    points: list[Point]


@contextlib.contextmanager
def _where(prefix: str) -> Iterator[None]:
    try:
        yield
    except JaxvizError as e:
        raise JaxvizError(f"{prefix}: {e}") from None


def _read(path: str | Path) -> dict:
    return config_lib.read_toml(path, "sweep file")


def _dotted(tree: dict, where: str = "") -> dict[str, Any]:
    # Unquoted dotted keys (ascent.steps = [...]) arrive as nested tables.
    out = {}
    for name, value in tree.items():
        key = f"{where}.{name}" if where else name
        out.update(_dotted(value, key) if isinstance(value, dict) else {key: value})
    return out


def _get(cfg: Config, key: str) -> Any:
    section, _, attr = key.partition(".")
    return getattr(getattr(cfg, section), attr)


def _axis(base: Config, key: str, values: Any) -> list[Any]:
    """One axis' values as the config holds them, each validated; errors say they came from [sweep.axes]."""
    if key == "output.dir":
        raise JaxvizError("[sweep.axes] cannot sweep 'output.dir': each point runs in DIR/<name>, DIR from --out")
    if key not in config_lib.as_flat_dict(base):
        with _where("in [sweep.axes]"):
            config_lib.apply(base, {key: values})  # raises, naming the valid sections or keys
    if not isinstance(values, list):
        raise JaxvizError(f"[sweep.axes] {key!r} must be a list of values, got {values!r}")
    if not values:
        raise JaxvizError(f"[sweep.axes] {key!r} is an empty list; give at least one value")
    out = []
    for value in values:
        with _where(f"[sweep.axes] {key!r} element {value!r}"):
            out.append(_get(config_lib.apply(base, {key: value}), key))
    return out


def load_sweep(path: str | Path, out: str | Path | None = None, overrides: Sequence[str] = ()) -> Sweep:
    """Read and check a sweep file: every point's config is built and planned. Writes nothing."""
    from jaxviz.run.run_plan import plan

    tree = _read(path)
    if "sweep" not in tree:
        raise JaxvizError(f"{path} has no [sweep] table; a sweep file is a config plus [sweep] mode and {_EXAMPLE}")
    table = tree.pop("sweep")
    if not isinstance(table, dict):
        raise JaxvizError(f"[sweep] must be a table (mode, axes), got {table!r}")
    unknown = [key for key in table if key not in SWEEP_KEYS]
    if unknown:
        raise JaxvizError(f"unknown key {unknown[0]!r} in [sweep]; valid keys: {', '.join(SWEEP_KEYS)}")
    mode = table.get("mode", "product")
    if mode not in MODES:
        raise JaxvizError(f"[sweep] mode must be one of {', '.join(MODES)}; got {mode!r}")
    if not isinstance(table.get("axes"), dict) or not table["axes"]:
        raise JaxvizError(f"[sweep] has no axes; give {_EXAMPLE}")
    start = Config()
    if "preset" in tree:  # `preset = "quality"` at the top, as in a config: the points differ from it
        from jaxviz.config import presets

        start = config_lib.load(presets.path(tree.pop("preset")))
    base = config_lib.load(None, list(overrides), base=config_lib.apply(start, config_lib.flatten(tree)))
    given = base.output.dir if base.output.dir != Config().output.dir else None  # set in the file or by --set
    sweep_dir = output_dir(out or given or Path("runs") / Path(path).stem, "sweep directory")
    base = config_lib.apply(base, {"output.dir": str(sweep_dir)})
    axes = {key: _axis(base, key, values) for key, values in _dotted(table["axes"]).items()}
    if mode == "zip" and len({len(v) for v in axes.values()}) > 1:
        lengths = ", ".join(f"{key} has {len(v)}" for key, v in axes.items())
        raise JaxvizError(f'[sweep] mode = "zip" needs lists of one length; {lengths}')
    combos = itertools.product(*axes.values()) if mode == "product" else zip(*axes.values())
    values = [dict(zip(axes, combo)) for combo in combos]
    seen = Counter(json.dumps(v, sort_keys=True) for v in values)
    twice = [v for v in values if seen[json.dumps(v, sort_keys=True)] > 1]
    if twice:
        raise JaxvizError(f"[sweep.axes] gives the point {twice[0]} more than once; every point must differ")
    points = []
    for name, v in zip(index_lib.point_names(values), values):
        # One atlas for the whole sweep (it holds every point's pages), not one per point as well.
        cfg = config_lib.apply(base, {**v, "output.dir": str(sweep_dir / name), "output.atlas": False})
        with _where(f"sweep point {name}"):
            points.append(Point(name, v, cfg, list(plan(cfg))))
    return Sweep(sweep_dir, mode, axes, base, points)


def resolved_points(sw: Sweep) -> dict[str | None, Config]:
    """Point name -> its config with the weights it will use and absolute paths (None: the base config).

    Each distinct weights setting is found and fingerprinted once; a missing file fails before any point runs.
    """
    from jaxviz.model.model_registry import load_model
    from jaxviz.run.recorded import resolve

    found: dict[tuple, tuple[Path | None, str]] = {}
    out: dict[str | None, Config] = {}
    # With the model or its weights as an axis the base's own are never used (each point names its own): the base
    # is recorded as given, not loaded (its default VGG16 weights may not even be on this machine).
    base = [] if any(key.startswith("model.") for key in sw.axes) else [(None, sw.base)]
    if not base:
        out[None] = sw.base
    for name, cfg in base + [(p.name, p.cfg) for p in sw.points]:
        m = cfg.model
        key = (m.name, m.weights, m.download, m.preprocess)
        if key not in found:
            loaded = load_model(*key)  # each point's run finds them loaded
            found[key] = (loaded.path, loaded.fingerprint)
        out[name] = resolve(cfg, *found[key])
    return out
