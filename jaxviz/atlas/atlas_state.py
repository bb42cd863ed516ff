"""What an atlas remembers between passes (.atlas.json, in the atlas root and in each sweep point's folder): what
its pictures, crops and pages were made from, so that the next pass skips what did not change."""

from __future__ import annotations

import json
from pathlib import Path

STATE = ".atlas.json"  # a dot file: never pruned, never linked


def known(path: Path) -> dict:
    """The state file at `path`; {} when there is none yet or it is damaged (then everything is checked again)."""
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) else {}


def dumps(state: dict) -> str:
    """A state as its file holds it (compact: a sweep's lists every point)."""
    return json.dumps(state, separators=(",", ":"))
