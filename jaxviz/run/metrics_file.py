"""RUN/metrics.json: every filter's record and every layer's summary, written after each layer and read back by
the next invocation (its per-layer seconds, "already complete") and by the atlas. No JAX.

The document: {"filters": [record, ...], "layers": {layer: summary, ...}} and "partial": true while a layer is
unfinished; a record is `jaxviz.ascent.records.filter_record`'s (with the quality numbers), a summary
`layer_summary`'s (with quality summaries and seconds). `read` checks what its readers rely on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jaxviz.runtime.files import damaged, read_json, write_json

NAME = "metrics.json"
# Layer names become file names in the atlas (img/<layer>/...): anything else in the file means it is damaged.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def write(out: Path, doc: dict) -> None:
    """Replace OUT/metrics.json by `doc` (report.metrics' document), atomically."""
    write_json(Path(out) / NAME, doc)


def _number(v: Any) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _check_record(path: Path, r: Any) -> None:
    if not isinstance(r, dict):
        raise damaged(path, f"a filter record is {type(r).__name__}, not an object")
    if not isinstance(r.get("layer"), str) or not SAFE_NAME.fullmatch(r["layer"]):
        raise damaged(path, f"a filter record has the layer {r.get('layer')!r}")
    f = r.get("filter")
    if not isinstance(f, int) or isinstance(f, bool) or f < 0:
        raise damaged(path, f"{r['layer']} has the filter number {f!r}")
    history = r.get("history", [])
    if not isinstance(history, list) or not all(map(_number, history)):
        raise damaged(path, f"{r['layer']} filter {f} has a history that is not a list of numbers")


def read(out: Path) -> dict | None:
    """OUT/metrics.json as written (None when there is none yet: before a run's first layer finishes), checked:
    "filters" a list of records each with a safe layer name, a filter number >= 0 and a list of numbers (or
    nulls) as its history; "layers", when present, an object of objects.

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
    for r in doc["filters"]:
        _check_record(path, r)
    return doc
