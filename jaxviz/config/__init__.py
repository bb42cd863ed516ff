"""Configuration: typed defaults (schema), TOML files and overrides (parse), the resolved config as text (text)."""

from jaxviz.config.keys import short_keys
from jaxviz.config.parse import apply, choices, flatten, load, parse_overrides, read_toml, sections
from jaxviz.config.schema import (
    AscentConfig,
    Config,
    DistributedConfig,
    ExamplesConfig,
    MethodConfig,
    ModelConfig,
    ObjectiveConfig,
    OutputConfig,
    ParamConfig,
    TargetConfig,
)
from jaxviz.config.text import as_flat_dict, to_toml, toml_value

__all__ = [
    "AscentConfig",
    "Config",
    "DistributedConfig",
    "ExamplesConfig",
    "MethodConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "OutputConfig",
    "ParamConfig",
    "TargetConfig",
    "apply",
    "as_flat_dict",
    "choices",
    "flatten",
    "load",
    "parse_overrides",
    "read_toml",
    "sections",
    "short_keys",
    "to_toml",
    "toml_value",
]
