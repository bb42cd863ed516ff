"""Named presets: the TOML files in configs/presets/ (data, not code), found by name."""

from __future__ import annotations

from pathlib import Path

from jaxviz.errors import JaxvizError

DIR = Path(__file__).resolve().parents[1] / "configs" / "presets"


def names() -> list[str]:
    """Every preset shipped in configs/presets/."""
    return sorted(p.stem for p in DIR.glob("*.toml"))


def path(name: str) -> Path:
    """The file of preset `name`, or a one-line error listing the valid names."""
    found = DIR / f"{name}.toml"
    if not isinstance(name, str) or not name or "/" in name or not found.is_file():
        raise JaxvizError(f"unknown preset {name!r}; valid presets: {', '.join(names())}")
    return found
