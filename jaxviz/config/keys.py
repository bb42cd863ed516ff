"""Every config key's names for people, all read from the schema: the dotted key ("ascent.size"), a short name (the
notebook API's keyword arguments, a sweep point's directory name) and the flags each command sets it with
(`--size`). A new key, or a new flag for one, is written once, in config/schema.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import NamedTuple

from jaxviz.config.schema import Config


class Flag(NamedTuple):
    """One command-line flag that sets one config key."""

    name: str  # as typed, without the dashes: "size", "save-every"
    key: str  # the dotted config key it sets: "ascent.size"
    metavar: str
    help: str
    raw: bool  # the value is kept as the string given (a path, a layer list); else it is read as TOML (20, 0.5)


def _fields() -> Iterable[tuple[str, dataclasses.Field]]:
    for section in dataclasses.fields(Config):
        for f in dataclasses.fields(section.default_factory):
            yield f"{section.name}.{f.name}", f


def flags(command: str) -> dict[str, Flag]:
    """The config flags of `command` ("visualize", "examples", "convert"), by name, in the schema's order."""
    out = {}
    for key, f in _fields():
        name = f.metadata.get("flags", {}).get(command)
        if name:
            raw = isinstance(f.default, str)  # str fields (and str-or-list ones): what was typed, untouched
            out[name] = Flag(name, key, f.metadata["metavar"], f.metadata["help"], raw)
    return out


def short_keys(keys: Iterable[str]) -> dict[str, str]:
    """Dotted key -> its last part where no other key of `keys` shares it, else the key itself
    ({"ascent.steps": "steps", "ascent.seed": "seed"}): how keys are named for people and paths."""
    keys = list(keys)
    shorts = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: short if shorts.count(short) == 1 else key for key, short in zip(keys, shorts)}


def keyword_names(leave_out: tuple[str, ...] = ("examples",)) -> dict[str, list[str]]:
    """Short name -> the dotted keys that end in it, over every section but `leave_out` ("steps" -> ["ascent.steps"];
    an ambiguous name lists several): the notebook API's keyword settings. [examples] is left out by default, as
    jaxviz.find_examples takes its own arguments and `size=` is then the ascent's."""
    out: dict[str, list[str]] = {}
    for key, _ in _fields():
        if key.split(".", 1)[0] not in leave_out:
            out.setdefault(key.rsplit(".", 1)[1], []).append(key)
    return out
