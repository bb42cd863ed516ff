"""RUN/metrics.json: every filter's record and every layer's summary, written after each layer and read back by
the next invocation (its per-layer seconds, "already complete") and by the atlas. No JAX.

The document: {"filters": [record, ...], "layers": {layer: summary, ...}} and "partial": true while a layer is
unfinished; a record is `jaxviz.ascent.records.filter_record`'s (with the quality numbers, and "label", the class a
logit scores, where the model names its filters: Network.labels), a summary `layer_summary`'s (with quality summaries
and seconds). `read` checks what its readers rely on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jaxviz.runtime.files import damaged, read_json, write_json
from jaxviz.runtime.paths import control_characters

NAME = "metrics.json"
MAX_LAYER = 1000  # characters: longer than any model's layer name (a module path of a deeply nested one included)


def safe_layer(name: object) -> bool:
    """Whether `name` is a layer name a model could have given: a non-empty string of at most MAX_LAYER characters
    without control characters or backslashes, whose "/"-separated parts (a nested model's "inner/c1", a Flax
    module path) are neither empty nor "." nor ".." (so no part of it reads as a way out of a folder). A record keeps
    the model's own name; where it becomes a file or URL that is jaxviz.model.network.layer_file's name for it, but
    a name no model gives ("../x") still means the file is damaged, not a layer."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_LAYER or "\\" in name or control_characters(name):
        return False
    return all(part not in ("", ".", "..") for part in name.split("/"))


def write(out: Path, doc: dict) -> None:
    """Replace OUT/metrics.json by `doc` (report.metrics' document), atomically."""
    write_json(Path(out) / NAME, doc)


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _check_record(path: Path, r: Any) -> None:
    if not isinstance(r, dict):
        raise damaged(path, f"a filter record is {type(r).__name__}, not an object")
    if not safe_layer(r.get("layer")):
        raise damaged(path, f"a filter record has the layer {r.get('layer')!r}")
    f = r.get("filter")
    if not isinstance(f, int) or isinstance(f, bool) or f < 0:
        raise damaged(path, f"{r['layer']} has the filter number {f!r}")
    history = r.get("history", [])
    if not isinstance(history, list) or not all(map(_number, history)):
        raise damaged(path, f"{r['layer']} filter {f} has a history that is not a list of numbers")


def read(out: Path) -> dict | None:
    """OUT/metrics.json as written (None when there is none yet: before a run's first layer finishes), checked:
    "filters" a list of records each with a layer name a model could have given (`safe_layer`), a filter number >= 0 and
    a list of numbers (or nulls) as its history; "layers", when present, an object of objects.

    Raises JaxvizError (one line naming the file): it cannot be read, or it is damaged (not JSON, or not that
    shape). Readers that can do without it (a resume's seconds, "already complete") treat that as no file.
    """
    path = Path(out) / NAME
    if not path.exists():
        return None
    doc = read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("filters"), list):
        raise damaged(path, "no list of filters")
    summaries = doc.get("layers", {})
    if not isinstance(summaries, dict) or not all(isinstance(s, dict) for s in summaries.values()):
        raise damaged(path, "'layers' is not an object of objects")
    for name in summaries:
        if not safe_layer(name):
            raise damaged(path, f"'layers' has the layer {name!r}")
    for r in doc["filters"]:
        _check_record(path, r)
    return doc
