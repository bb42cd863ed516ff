"""Named presets: the TOML files in this package (data, not code), found by name.

They are package data, so an installed jaxviz (a wheel, not only this checkout) has them; they are read
through importlib.resources rather than a path next to the sources for the same reason.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
from importlib import resources
from pathlib import Path

from jaxviz.errors import JaxvizError

# as_file gives the file itself when the package is a directory; from a zip it extracts a temporary copy,
# which must outlive every caller holding the path: it is removed at exit.
_extracted = contextlib.ExitStack()
atexit.register(_extracted.close)


def names() -> list[str]:
    """Every preset shipped with jaxviz."""
    return sorted(r.name.removesuffix(".toml") for r in resources.files(__name__).iterdir() if r.name.endswith(".toml"))


@functools.cache
def _file(name: str) -> Path:
    return _extracted.enter_context(resources.as_file(resources.files(__name__) / f"{name}.toml"))


def path(name: str) -> Path:
    """The file of preset `name`, or a one-line error listing the valid names."""
    valid = names()
    if name not in valid:  # also keeps a name such as "../x" or a non-string from reaching the file system
        raise JaxvizError(f"unknown preset {name!r}; valid presets: {', '.join(valid)}")
    return _file(name)
