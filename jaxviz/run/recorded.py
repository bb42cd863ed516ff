"""What a run directory records of itself: the resolved config (rerunnable from anywhere), and whether a run
with a given config is already complete there (so rerunning it writes nothing)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.run.report import LayerRecord
from jaxviz.runtime.paths import output_dir


def resolve(cfg: Config, weights: str | Path, fingerprint: str) -> Config:
    """`cfg` as a run directory records it: real absolute paths (output.dir, examples.images), the weights actually
    used and their fingerprint, so `--config DIR/config.toml` reruns the same run from any working directory.

    Raises JaxvizError when `cfg` names a fingerprint the weights do not have (the file changed since).
    """
    if cfg.model.fingerprint and cfg.model.fingerprint != fingerprint:
        raise JaxvizError(
            f"the weights {str(weights)!r} have fingerprint {fingerprint}, but model.fingerprint is "
            f"{cfg.model.fingerprint} (the weights this run used); pass the same weights, or set "
            f'model.fingerprint = "" to accept these'
        )
    # Real paths (links resolved): a directory or file reached through a link, then by its own path, is the same
    # one, so the recorded config (what "already complete" and every resume compare) does not change with it.
    updates = {"model.weights": os.path.realpath(weights), "model.fingerprint": fingerprint}
    if cfg.examples.images:  # relative to the working directory, as output.dir is
        updates["examples.images"] = os.path.realpath(os.path.expanduser(cfg.examples.images))
    return config_lib.apply(cfg, {**updates, "output.dir": str(output_dir(cfg.output.dir))})


def ascent_part(text: str) -> str:
    """A resolved config's text without its [examples] table (config.to_toml writes one table per blank-line
    separated block): the examples keep their own state and refusals, so changing only them (a batch size, a
    save interval) leaves a complete ascent complete instead of rewriting its metrics, grids and events."""
    return "\n\n".join(block for block in text.split("\n\n") if not block.lstrip().startswith("[examples]"))


def up_to_date(out: Path, text: str, layers: dict[str, LayerRecord], atlas: bool) -> dict | None:
    """The metrics of a run that is already complete with this very config (so a rerun writes nothing);
    `atlas`: whether its atlas belongs to it (an after-layer hook writes one)."""
    try:
        if ascent_part((out / "config.toml").read_text()) != ascent_part(text):
            return None
        found = json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    summaries = found.get("layers", {}) if isinstance(found, dict) else {}
    for name, layer in layers.items():
        if not layer.target:
            continue
        if any(f not in layer.done for f in layer.filters) or summaries.get(name, {"partial": True}).get("partial"):
            return None
        if not (out / f"{name}.png").is_file():
            return None
    if atlas and not (out / "atlas" / "index.html").is_file():
        return None
    return found
