"""Configs as text: the resolved TOML a run directory records, flat dotted keys, short names for people."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from jaxviz.config.parse import sections
from jaxviz.config.schema import Config


def toml_value(value: Any) -> str:
    """A TOML literal for a config value: booleans, numbers, strings, lists of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string, escapes and all


def to_toml(cfg: Config) -> str:
    """The whole resolved config as TOML (loadable again with `load`)."""
    lines = []
    for name in sections():
        lines.append(f"[{name}]")
        for key, value in dataclasses.asdict(getattr(cfg, name)).items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def as_flat_dict(cfg: Config) -> dict[str, Any]:
    """{"ascent.steps": 40, ...}, lists joined to strings (for TensorBoard hparams)."""
    out = {}
    for name in sections():
        for key, value in dataclasses.asdict(getattr(cfg, name)).items():
            out[f"{name}.{key}"] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
    return out
