"""Configs from TOML files and `key=value` overrides, every key, type, range and name checked (one line each)."""

from __future__ import annotations

import dataclasses
import functools
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Union

from jaxviz.ascent.method import SMALLEST_CROP
from jaxviz.config.schema import Config
from jaxviz.dataset_examples import CONVS, LEAST, check_number
from jaxviz.errors import JaxvizError
from jaxviz.runtime.paths import BACKSLASH_HINT, check_text, explain, input_file


@functools.cache
def choices() -> dict[str, tuple[str, ...]]:
    """Config key -> its valid values, read from the tables that define them (a new entry there is valid here)."""
    from jaxviz.ascent import PRECISIONS, optim, params, spec
    from jaxviz.model import model_registry
    from jaxviz.show import display

    return {
        "model.name": model_registry.model_names(),
        "model.preprocess": model_registry.PREPROCESSES,
        "ascent.loop": spec.LOOPS,
        "ascent.target": spec.TARGETS,
        "ascent.conv": spec.CONVS,
        "ascent.normalize": tuple(optim.NORMALIZERS),
        "ascent.precision": PRECISIONS,
        "ascent.optimizer": tuple(optim.OPTIMIZERS),
        "ascent.schedule": tuple(optim.SCHEDULES),
        "param.kind": tuple(params.PARAMS),
        "param.squash": params.SQUASHES,
        "output.display": tuple(display.DISPLAYS),
        "output.grid": tuple(display.GRIDS),
        "output.quality": ("auto", "on", "off"),  # or true (on) / false (off)
        "method.alpha": ("auto", "on", "off"),  # or true (on) / false (off)
        "examples.conv": CONVS,
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
    "method.crops",
    "method.crop_side",
    "method.crop_spread",
    "method.noise",
}
_FRACTIONS = {"method.crop_start", "method.crop_end"}  # of the image side, from the smallest crop to the whole


def sections() -> dict[str, type]:
    """Section name -> its dataclass, in the order a config file lists them."""
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
    for text in value if isinstance(value, tuple) else (value,):
        if isinstance(text, str):
            check_text(text, key)  # "runs\new" in double quotes arrives with a newline: say so, never create it
    if isinstance(value, float) and not math.isfinite(value):  # inf and nan pass every range check below
        raise JaxvizError(f"{key} must be a finite number, got {value!r}")
    if key in _POSITIVE and not value > 0:
        raise JaxvizError(f"{key} must be greater than 0, got {value!r}")
    if key in _NON_NEGATIVE and value < 0:
        raise JaxvizError(f"{key} must be 0 or more, got {value!r}")
    valid = choices().get(key)
    if valid is not None and value not in valid and not isinstance(value, bool):
        raise JaxvizError(f"{key} must be one of {', '.join(valid)}; got {value!r}")
    if key in _FRACTIONS and not SMALLEST_CROP <= value <= 1:
        raise JaxvizError(f"{key} is a fraction of the image side: it must lie in {SMALLEST_CROP:g}..1, got {value!r}")
    if key == "ascent.upscale" and value < 1:
        raise JaxvizError(f"ascent.upscale must be 1 or more, got {value!r}")
    if key.startswith("examples.") and key.rsplit(".", 1)[-1] in LEAST:
        check_number(key, value)  # the examples' own ranges (make_job checks the same)


def apply(cfg: Config, updates: dict[str, Any]) -> Config:
    """A copy of `cfg` with dotted-key `updates` ({"ascent.steps": 10}) validated and applied."""
    known = sections()
    changed: dict[str, dict[str, Any]] = {}
    for key, value in updates.items():
        name, _, attr = key.partition(".")
        if name not in known:
            raise JaxvizError(f"unknown config section {name!r} in {key!r}; valid sections: {', '.join(known)}")
        fields = _fields(known[name])
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
            raise JaxvizError(f"config key {name!r} must be inside a section: {', '.join(sections())}")
        if isinstance(value, dict) and not where:
            out.update(flatten(value, name))
        else:
            out[f"{where}.{name}"] = value
    return out


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    """The TOML table in the file `path` (`what` names it in errors: "config file", "sweep file"). JaxvizError, one
    line: the real cause when it cannot be read (paths.input_file), or the parser's complaint, with the backslash hint
    when it is about an escape ("C:\\Users" in double quotes is an invalid escape, not a path)."""
    try:
        return tomllib.loads(input_file(path, what).read_text())
    except OSError as e:  # between the check and the read: the real cause all the same
        raise JaxvizError(f"cannot read {what} {str(path)!r}: {explain(e)}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        escape = any(word in str(e) for word in ("escape", "Unescaped", "hex value"))
        raise JaxvizError(
            f"{what} {str(path)!r} is not valid TOML: {e}" + (f"; {BACKSLASH_HINT}" if escape else "")
        ) from None


def load(path: str | Path | None = None, overrides: list[str] = (), base: Config | None = None) -> Config:
    """Defaults <- TOML file <- `section.key=value` overrides (values in TOML syntax, or bare strings)."""
    cfg = base or Config()
    if path:
        tree = read_toml(path, "config file")
        if "preset" in tree:  # `preset = "quality"` at the top: the file holds what differs from it
            from jaxviz.config import presets

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
