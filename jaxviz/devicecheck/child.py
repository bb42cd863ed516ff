"""One stage of the device check in its own process: `python -m jaxviz.devicecheck.child STAGE ARGS_JSON`.

Own process, so that the runner can stop it at its time cap, a crash or a poisoned device ends only this stage,
and device memory is whole again for the next. It speaks JSON lines on stdout, flushed at once:
{"part": NAME, ...} for each piece as it finishes, then {"result": {...}} or {"error": "Type: message"};
everything else (warnings, tracebacks) goes to stderr, which the runner keeps in log.txt.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jaxviz.devicecheck import engine_checks, maco_stage, probes, stages
from jaxviz.devicecheck.stage_plan import Plan

BODIES: dict[str, Callable[[stages.Context], dict]] = {
    "versions": stages.versions,
    "tests": engine_checks.run,
    "layer_float32": lambda ctx: stages.layer(ctx, "float32"),
    "layer_bfloat16": lambda ctx: stages.layer(ctx, "bfloat16"),
    "network_float32": lambda ctx: stages.network(ctx, "float32"),
    "network_bfloat16": lambda ctx: stages.network(ctx, "bfloat16"),
    "choices": probes.choices,
    "examples": stages.examples,
    "oom": probes.oom,
    "quality": stages.quality,
    "maco": maco_stage.run,
    "models": stages.models,
}


def _plain(value: object) -> object:
    """JSON for what json cannot write itself: NumPy scalars and arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def emit(line: dict) -> None:
    """One JSON line on stdout, flushed (the runner streams it into results.jsonl)."""
    sys.stdout.write(json.dumps(line, default=_plain) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    """Run stage argv[0] with the JSON arguments argv[1] ({"plan", "weights", "out", "deadline"})."""
    name, raw = argv
    args = json.loads(raw)
    plan = Plan(**{k: tuple(v) if isinstance(v, list) else v for k, v in args["plan"].items()})
    ctx = stages.Context(
        plan, args["weights"], Path(args["out"]), args["deadline"], lambda part, data: emit({"part": part, **data})
    )
    try:
        emit({"result": BODIES[name](ctx)})
    except Exception as e:  # any failure is this stage's result; the runner goes on with the next
        traceback.print_exc()
        emit({"error": f"{type(e).__name__}: {e}"[:2000]})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
