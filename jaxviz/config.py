"""Typed defaults (frozen dataclasses), TOML files holding what differs, `key=value` overrides."""

from __future__ import annotations

import dataclasses
import functools
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from jaxviz.errors import JaxvizError


@dataclass(frozen=True)
class ModelConfig:
    weights: str = ""  # a Keras .h5 or converted .msgpack; "" searches (see README) and may download
    download: bool = True  # allow downloading Keras' file when nothing is found locally
    fingerprint: str = ""  # the weights' value hash a run used (its config.toml); set, other weights are refused


@dataclass(frozen=True)
class TargetConfig:
    layers: str | tuple[str, ...] = "all"  # "all", "block1_conv1,block3_conv1" or a list
    filters: str | tuple[int, ...] = "all"  # "all", "0:64" (a range), "3,5,9" or a list


@dataclass(frozen=True)
class AscentConfig:
    size: int = 150  # image side in pixels
    steps: int = 40
    step: float = 1.0  # step size (learning rate); in pixel units for pixels with the normalized optimizer
    normalize: str = "rms"  # normalized optimizer: g/(sqrt(mean g^2)+1e-5), g/|g|, g/max|g|, g/max(g)
    optimizer: str = "normalized"  # normalized (the seeds'), sgd, momentum, adam, rmsprop (optax)
    schedule: str = "constant"  # step size over the steps: constant, cosine, warmup_cosine, linear
    init_mean: float = 128.0  # initial image = init_mean + init_noise * U[0, 1)
    init_noise: float = 20.0
    seed: int = 0
    chunk: int = 0  # filters per compiled batch; 0 picks one that fits device memory
    precision: str = "float32"  # convolutions in float32 or bfloat16 (image and update stay float32)
    transforms: tuple[str, ...] = ()  # random per filter and step, e.g. ["pad:12", "jitter:8", "scale:0.9:1.1"]
    stages: int = 1  # ascent stages of `steps` steps each
    upscale: float = 1.0  # after each stage, resize the image by this (bicubic); the last ends at `size`


@dataclass(frozen=True)
class ParamConfig:
    kind: str = "pixels"  # pixels, or fourier (a 1/f-scaled spectrum)
    decorrelate: bool = False  # optimise in ImageNet's decorrelated colour space
    squash: str = "none"  # none, or sigmoid (pixels always valid)
    decay: float = 1.0  # fourier: spectrum scaled by 1/frequency^decay


@dataclass(frozen=True)
class ObjectiveConfig:
    expr: str = "channel"  # a weighted sum of channel, neuron (centre), layer_l2, e.g. "channel + 0.5*neuron"
    preactivation: bool = False  # score the layer before its ReLU
    revive: bool = True  # a silent filter follows its pre-activation's gradient until it fires
    tv: float = 0.0  # penalty weights: total variation, distance from grey, difference from a blur
    l2: float = 0.0
    blur: float = 0.0
    diversity: float = 0.0  # penalty on the similarity of a filter's images (needs images >= 2)
    images: int = 1  # images per filter


@dataclass(frozen=True)
class OutputConfig:
    dir: str = "runs/latest"
    columns: int = 0  # grid columns; 0 = ceil(sqrt(filters))
    margin: int = 5  # black pixels between tiles
    sort: bool = False  # order the grid by final activation, highest first
    deprocess_std: float = 0.1  # each tile is centred, scaled to this std, shifted by 0.5, clipped
    display: str = "std"  # std: centred, scaled to deprocess_std (the seeds'); minmax; clip (0-255 as is)
    grid: str = "all"  # all, or best_square: the n*n live filters with the highest activation (the Keras example)
    quality: bool = True  # measure displayed activation, robustness, selectivity (metrics.json)
    atlas: bool = True  # write DIR/atlas/ (a browsable site), refreshed as layers or sweep points finish
    filter_pngs: bool = False  # also write one PNG per filter
    tensorboard: bool = True
    snapshot_every: int = 10  # grid image to TensorBoard every N steps (0: only the final grid)
    progress: bool = True


@dataclass(frozen=True)
class DistributedConfig:
    """Multi-process settings (which process this is comes from --coordinator/--num-processes/--process-id)."""

    initialization_timeout: int = 300  # seconds to wait for every process to join
    heartbeat_timeout: int = 100  # seconds without a heartbeat before a process counts as dead
    barrier_timeout: int = 86400  # seconds process 0 waits for the others to finish a layer


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    target: TargetConfig = field(default_factory=TargetConfig)
    ascent: AscentConfig = field(default_factory=AscentConfig)
    param: ParamConfig = field(default_factory=ParamConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    distributed: DistributedConfig = field(default_factory=DistributedConfig)


@functools.cache
def choices() -> dict[str, tuple[str, ...]]:
    """Config key -> its valid values, read from the tables that define them (a new entry there is valid here)."""
    from jaxviz import display
    from jaxviz.ascent import PRECISIONS, optim, params

    return {
        "ascent.normalize": tuple(optim.NORMALIZERS),
        "ascent.precision": PRECISIONS,
        "ascent.optimizer": tuple(optim.OPTIMIZERS),
        "ascent.schedule": tuple(optim.SCHEDULES),
        "param.kind": tuple(params.PARAMS),
        "param.squash": params.SQUASHES,
        "output.display": tuple(display.DISPLAYS),
        "output.grid": tuple(display.GRIDS),
    }


_POSITIVE = {
    "ascent.size",
    "ascent.steps",
    "ascent.step",
    "output.deprocess_std",
    "distributed.initialization_timeout",
    "distributed.heartbeat_timeout",
    "distributed.barrier_timeout",
    "ascent.stages",
    "ascent.upscale",
    "param.decay",
    "objective.images",
}
_NON_NEGATIVE = {
    "ascent.chunk",
    "output.columns",
    "output.margin",
    "output.snapshot_every",
    "ascent.init_noise",
    "objective.tv",
    "objective.l2",
    "objective.blur",
    "objective.diversity",
}


def _sections() -> dict[str, type]:
    return {f.name: f.default_factory for f in dataclasses.fields(Config)}


def _fields(section: type) -> dict[str, Any]:
    hints = typing.get_type_hints(section)
    return {f.name: hints[f.name] for f in dataclasses.fields(section)}


def _describe(tp: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if typing.get_origin(tp) in (Union, types.UnionType):
        return " or ".join(_describe(t) for t in typing.get_args(tp))
    if typing.get_origin(tp) is tuple:
        return f"a list of {_describe(typing.get_args(tp)[0]).split(' ', 1)[-1]}s"
    return names[tp]


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """`value` as type `tp`, or a JaxvizError naming the key and the expected type."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(key, value, option)
            except JaxvizError:
                pass
    elif typing.get_origin(tp) is tuple and isinstance(value, (list, tuple)):
        item = typing.get_args(tp)[0]
        return tuple(_coerce(key, v, item) for v in value)
    elif tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif tp in (bool, str) and isinstance(value, tp):
        return value
    raise JaxvizError(f"{key}: expected {_describe(tp)}, got {value!r}")


def _check(key: str, value: Any) -> None:
    if key in _POSITIVE and not value > 0:
        raise JaxvizError(f"{key} must be greater than 0, got {value!r}")
    if key in _NON_NEGATIVE and value < 0:
        raise JaxvizError(f"{key} must be 0 or more, got {value!r}")
    valid = choices().get(key)
    if valid is not None and value not in valid:
        raise JaxvizError(f"{key} must be one of {', '.join(valid)}; got {value!r}")
    if key == "ascent.upscale" and value < 1:
        raise JaxvizError(f"ascent.upscale must be 1 or more, got {value!r}")


def apply(cfg: Config, updates: dict[str, Any]) -> Config:
    """A copy of `cfg` with dotted-key `updates` ({"ascent.steps": 10}) validated and applied."""
    sections = _sections()
    changed: dict[str, dict[str, Any]] = {}
    for key, value in updates.items():
        name, _, attr = key.partition(".")
        if name not in sections:
            raise JaxvizError(f"unknown config section {name!r} in {key!r}; valid sections: {', '.join(sections)}")
        fields = _fields(sections[name])
        if attr not in fields:
            raise JaxvizError(f"unknown config key {key!r}; valid keys in [{name}]: {', '.join(fields)}")
        value = _coerce(key, value, fields[attr])
        _check(key, value)
        changed.setdefault(name, {})[attr] = value
    return dataclasses.replace(
        cfg, **{name: dataclasses.replace(getattr(cfg, name), **kv) for name, kv in changed.items()}
    )


def flatten(tree: dict[str, Any], where: str = "") -> dict[str, Any]:
    """{"ascent": {"steps": 3}} -> {"ascent.steps": 3}; a non-table at the top is an error."""
    out = {}
    for name, value in tree.items():
        if not where and not isinstance(value, dict):
            raise JaxvizError(f"config key {name!r} must be inside a section: {', '.join(_sections())}")
        if isinstance(value, dict) and not where:
            out.update(flatten(value, name))
        else:
            out[f"{where}.{name}"] = value
    return out


def load(path: str | Path | None = None, overrides: list[str] = (), base: Config | None = None) -> Config:
    """Defaults <- TOML file <- `section.key=value` overrides (values in TOML syntax, or bare strings)."""
    cfg = base or Config()
    if path:
        try:
            tree = tomllib.loads(Path(path).read_text())
        except FileNotFoundError:
            raise JaxvizError(f"config file {str(path)!r} does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise JaxvizError(f"config file {str(path)!r} is not valid TOML: {e}") from None
        if "preset" in tree:  # `preset = "quality"` at the top: the file holds what differs from it
            from jaxviz import presets

            name = tree.pop("preset")
            cfg = load(presets.path(name), base=cfg)
        cfg = apply(cfg, flatten(tree))
    return apply(cfg, parse_overrides(overrides))


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        key, eq, raw = item.partition("=")
        if not eq or "." not in key:
            raise JaxvizError(f"override {item!r} is not of the form section.key=value")
        try:
            out[key.strip()] = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = raw  # a bare string such as runs/x or block1_conv1
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(cfg: Config) -> str:
    """The whole resolved config as TOML (loadable again with `load`)."""
    lines = []
    for name in _sections():
        lines.append(f"[{name}]")
        for key, value in dataclasses.asdict(getattr(cfg, name)).items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def as_flat_dict(cfg: Config) -> dict[str, Any]:
    """{"ascent.steps": 40, ...}, lists joined to strings (for TensorBoard hparams)."""
    out = {}
    for name in _sections():
        for key, value in dataclasses.asdict(getattr(cfg, name)).items():
            out[f"{name}.{key}"] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return out
