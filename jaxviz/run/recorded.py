"""What a run directory records of itself: RUN/config.toml, the resolved config (rerunnable from anywhere; written
and read here), and whether a run with a given config is already complete there (so rerunning it writes nothing).
No JAX: the atlas reads config.toml through this module."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jaxviz import config as config_lib
from jaxviz.config import Config
from jaxviz.errors import JaxvizError
from jaxviz.model.network import layer_file
from jaxviz.run import metrics_file
from jaxviz.runtime.files import atomic_write
from jaxviz.runtime.paths import output_dir

if TYPE_CHECKING:  # only a type here: report imports the grids' and the live display's modules
    from jaxviz.run.report import LayerRecord

CONFIG = "config.toml"


def resolve(cfg: Config, weights: str | Path | None, fingerprint: str) -> Config:
    """`cfg` as a run directory records it: real absolute paths (output.dir, examples.images, method.spectrum), the
    weights actually used and their fingerprint, MACO's magnitude template's fingerprint, so `--config
    DIR/config.toml` reruns the same run from any working directory.

    Raises JaxvizError when `cfg` names a fingerprint the weights, or the template, do not have (changed since).
    """
    if cfg.model.fingerprint and cfg.model.fingerprint != fingerprint:
        raise JaxvizError(
            f"the weights {str(weights)!r} have fingerprint {fingerprint}, but model.fingerprint is "
            f"{cfg.model.fingerprint} (the weights this run used); pass the same weights, or set "
            f'model.fingerprint = "" to accept these'
        )
    # Real paths (links resolved): a directory or file reached through a link, then by its own path, is the same
    # one, so the recorded config (what "already complete" and every resume compare) does not change with it.
    # No file (a Keras model's own random initialisation): what was asked for stays, "random".
    path = os.path.realpath(weights) if weights is not None else cfg.model.weights
    updates = {"model.weights": path, "model.fingerprint": fingerprint}
    if cfg.examples.images:  # relative to the working directory, as output.dir is
        updates["examples.images"] = os.path.realpath(os.path.expanduser(cfg.examples.images))
    if cfg.param.kind == "maco":  # the magnitude template, as the weights: its real path and its fingerprint
        from jaxviz.run.translate import spectrum_of  # numpy and Pillow: only for a maco run

        updates["method.spectrum_fingerprint"] = spectrum_of(cfg).fingerprint  # refuses another than recorded
        if cfg.method.spectrum:
            updates["method.spectrum"] = os.path.realpath(os.path.expanduser(cfg.method.spectrum))
    return config_lib.apply(cfg, {**updates, "output.dir": str(output_dir(cfg.output.dir))})


# Settings that change nothing a complete run shows, so a rerun that changes only them writes nothing (config.toml
# included: docs/run-directory.md's "a complete run rerun writes nothing"): how the work is split and compiled
# (ascent.chunk: filters per compiled batch; the images are the same whatever it is, since a filter's start and
# transforms come from (seed, layer, filter, step); ascent.compile_cache), what is shown only while ascending
# (output.progress, output.snapshot_every's live grids), where weights may come from (model.download) and the
# processes' timeouts ([distributed]). Every other key changes the images (chunk_store.settings) or what a
# complete run writes of them (the grid's layout, quality numbers, PNGs, TensorBoard, the atlas).
NO_OUTPUT_KEYS = frozenset(
    {"ascent.chunk", "ascent.compile_cache", "output.progress", "output.snapshot_every", "model.download"}
)
NO_OUTPUT_SECTIONS = frozenset({"distributed"})
# Paths whose contents the config names by a fingerprint of their own (model.fingerprint, method.spectrum_
# fingerprint): the same weights or template found elsewhere make the same images. Only config.toml records them
# anew (`--config DIR/config.toml` must find them), as it does a changed [examples] table.
FINGERPRINTED_PATHS = frozenset({"model.weights", "method.spectrum"})


def _lines_without(text: str, dropped: Callable[[str, str], bool]) -> str:
    """A recorded config's text (config.to_toml: "[section]" lines, one "key = value" line per key) without the
    lines `dropped(section, key)` names, and without the sections it drops whole (`dropped(section, "")`)."""
    kept, section = [], ""
    for line in text.split("\n"):
        head = line.strip()
        if head.startswith("[") and head.endswith("]"):
            section = head[1:-1].strip()
        key = "" if head.startswith("[") else head.partition("=")[0].strip()
        if not dropped(section, "") and not (key and dropped(section, key)):
            kept.append(line)
    return "\n".join(kept)


def ascent_part(text: str) -> str:
    """A resolved config's text as far as the ascent's outputs go: without its [examples] table, without output.dir,
    NO_OUTPUT_KEYS and NO_OUTPUT_SECTIONS, and without FINGERPRINTED_PATHS. The examples keep their own state and
    refusals, so changing only them (a batch size, a save interval) leaves a complete ascent complete instead of
    rewriting its metrics, grids and events; the run directory is the one being compared, wherever it was when the
    text was recorded (a moved or copied run)."""

    def dropped(section: str, key: str) -> bool:
        name = f"{section}.{key}"
        if not key:
            return section == "examples" or section in NO_OUTPUT_SECTIONS
        return name == "output.dir" or name in NO_OUTPUT_KEYS or name in FINGERPRINTED_PATHS

    return _lines_without(text, dropped)


def recorded_part(text: str) -> str:
    """A resolved config's text without what changes nothing a run writes (NO_OUTPUT_KEYS, NO_OUTPUT_SECTIONS): two
    texts with the same recorded part are the same run, the same point of a sweep; config.toml is rewritten for a
    difference here only."""
    return _lines_without(
        text, lambda section, key: section in NO_OUTPUT_SECTIONS or f"{section}.{key}" in NO_OUTPUT_KEYS
    )


def no_output_differences(recorded: str, text: str) -> list[str]:
    """The NO_OUTPUT_KEYS (and NO_OUTPUT_SECTIONS' keys) whose values differ between two recorded configs' texts,
    as "section.key" ([] when neither is TOML)."""
    try:
        a, b = tomllib.loads(recorded), tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    names = set(NO_OUTPUT_KEYS)
    for section in NO_OUTPUT_SECTIONS:
        for table in (a, b):
            names.update(f"{section}.{k}" for k in table.get(section, {}))
    differ = []
    for name in sorted(names):
        section, key = name.split(".", 1)
        if a.get(section, {}).get(key) != b.get(section, {}).get(key):
            differ.append(name)
    return differ


def write_config(out: Path, text: str) -> None:
    """Replace OUT/config.toml by `text` (config.to_toml of the resolved config), atomically."""
    atomic_write(Path(out) / CONFIG, text.encode())


def read_config(out: Path) -> str | None:
    """OUT/config.toml's text, or None when it is missing or unreadable (not UTF-8 included)."""
    try:
        return (Path(out) / CONFIG).read_text()
    except (OSError, UnicodeDecodeError):
        return None


def ascent_table(text: str) -> dict[str, Any]:
    """The [ascent] table of a recorded config's text ({} when it has none or is not TOML): what a page says of
    how the images were made. Read as plain TOML, not checked as a config: an older release's keys still show."""
    try:
        table = tomllib.loads(text).get("ascent", {})
    except tomllib.TOMLDecodeError:
        return {}
    return table if isinstance(table, dict) else {}


def model_name(text: str) -> str:
    """The model a recorded config's text names ([model] name; "vgg16" when it names none: a run from before the
    model was a setting, or not TOML)."""
    try:
        table = tomllib.loads(text).get("model", {})
    except tomllib.TOMLDecodeError:
        return "vgg16"
    name = table.get("name") if isinstance(table, dict) else None
    return name if isinstance(name, str) and name else "vgg16"


def _without_target(text: str) -> str:
    return "\n\n".join(block for block in text.split("\n\n") if not block.lstrip().startswith("[target]"))


def up_to_date(out: Path, text: str, layers: dict[str, LayerRecord], atlas: bool) -> tuple[dict, bool] | None:
    """The metrics of a run that is already complete for this config, so that a rerun writes nothing, and
    whether its recorded config is this very one (False: it differs only in its [target] table, and this run's
    layers and filters are among those it shows, complete: asking again for fewer must not shrink its grids,
    metrics and atlas to them). None when there is something to do. `atlas`: whether its atlas belongs to it
    (an after-layer hook writes one)."""
    recorded = read_config(out)
    if recorded is None:
        return None
    same = ascent_part(recorded) == ascent_part(text)
    if not same and _without_target(ascent_part(recorded)) != _without_target(ascent_part(text)):
        return None
    try:
        found = metrics_file.read(out)
    except JaxvizError:  # unreadable or damaged: the rerun writes it again
        return None
    if found is None:
        return None
    summaries = found.get("layers", {})
    shown = {(m.get("layer"), m.get("filter")) for m in found.get("filters", []) if isinstance(m, dict)}
    for name, layer in layers.items():
        if not layer.target:
            continue
        if any(f not in layer.done for f in layer.filters) or summaries.get(name, {"partial": True}).get("partial"):
            return None
        if not same and any((name, f) not in shown for f in layer.filters):
            return None
        if not (out / f"{layer_file(name)}.png").is_file():
            return None
    if atlas and not (out / "atlas" / "index.html").is_file():
        return None
    return found, same
